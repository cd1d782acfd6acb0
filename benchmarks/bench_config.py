"""Config loading time against size: a generated config with N services, loaded through `orch check`'s path.

    .venv/bin/python benchmarks/bench_config.py [SERVICES ...]

Writes a config of N services (each with a command, a variable and a grep filter: ~100 bytes of
YAML a service, so 105,000 services is ~10 MB, the size of issue 11 #12) and an environment of
three layers, then times `load_config` on it. Linear loading shows as a constant µs per service
across sizes. Exit status 1 when the largest size takes more than 5 s.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orch_magics.config.loader import load_config  # noqa: E402

LIMIT_S = 5.0
HEAD = """\
environments:
  production:
    layers:
      - {type: ssh, config: {host: bastion.example.com, user: ops, port: 2222}}
      - {type: ssh, config: {host: prod-internal}}
      - {type: docker, config: {container: prod-app, workdir: /app}}
services:
"""
SERVICE = """\
  svc-{i}:
    command: tail -n 100 /var/log/app-{i}.log
    environment: {{LEVEL: info}}
    filters: [{{type: grep, pattern: ERROR}}]
"""


def write_config(path: Path, services: int) -> int:
    """Write a config of `services` services to `path`; returns its size in bytes."""
    with path.open("w") as f:
        f.write(HEAD)
        for i in range(services):
            f.write(SERVICE.format(i=i))
    return path.stat().st_size


def main(argv: list[str]) -> int:
    sizes = [int(a) for a in argv] or [10_000, 35_000, 105_000]
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'services':>9} {'MB':>6} {'load s':>7} {'µs/service':>10}")
        for n in sizes:
            path = Path(tmp) / f"orch-{n}.yaml"
            size = write_config(path, n)
            t0 = time.perf_counter()
            config = load_config(path)
            elapsed = time.perf_counter() - t0
            assert len(config.services) == n
            worst = elapsed
            print(f"{n:>9} {size / 1e6:>6.1f} {elapsed:>7.2f} {elapsed / n * 1e6:>10.1f}")
    return 0 if worst <= LIMIT_S else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
