"""What users feel: 1 GB through the orch CLI and orch.run(), side by side with the raw pipe.

    .venv/bin/python benchmarks/bench_frontends.py [--size BYTES] [--tree DIR]

Each row runs `head -c SIZE /dev/zero` and counts the bytes, in one run on this machine:
the raw shell pipe, `orch run local -- head …` piped to `wc -c`, and `Orchestrator.run()` (the
RunResult holds every byte). It also times a cold `orch run local -- true` against `sh -c true`.
`--tree DIR` imports orch_magics from another checkout (DIR holding `orch_magics/`, or its
`src/`), to put a before/after of a change side by side. Ratios are raw time ÷ orch time
(higher is better; 1.0× = as fast as the raw tool).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

API = """
import sys, time
from orch_magics import Orchestrator, load_config_text
orch = Orchestrator(load_config_text("environments: {local: {layers: []}}"))
t = time.monotonic()
r = orch.run("local", command=["head", "-c", sys.argv[1], "/dev/zero"])
took = time.monotonic() - t
assert len(r.stdout_buffer.getvalue()) == int(sys.argv[1]) if int(sys.argv[1]) < 1 << 28 else r.stdout_buffer.size == int(sys.argv[1])
print(took)
"""
CLI = "import sys; from orch_magics.cli import main; sys.exit(main(sys.argv[1:]))"
CONFIG = "environments: {local: {layers: []}}\n"


def timed(argv: list[str] | str, env: dict[str, str], shell: bool = False) -> float:
    t = time.monotonic()
    subprocess.run(argv, shell=shell, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000_000)
    parser.add_argument("--tree", default=None)
    args = parser.parse_args()
    env = dict(os.environ)
    if args.tree:
        src = os.path.join(args.tree, "src")
        env["PYTHONPATH"] = src if os.path.isdir(src) else args.tree
    cfg = "/tmp/orch-bench-frontends.yaml"
    with open(cfg, "w") as f:
        f.write(CONFIG)
    py, n = sys.executable, str(args.size)
    raw = timed(f"head -c {n} /dev/zero | wc -c", env, shell=True)
    cli = timed(f"{py} -c '{CLI}' -c {cfg} run local -- head -c {n} /dev/zero | wc -c", env,
                shell=True)
    api = float(subprocess.run([py, "-c", API, n], env=env, check=True, capture_output=True,
                               text=True).stdout)
    cold_sh = min(timed(["sh", "-c", "true"], env) for _ in range(5))
    cold = min(timed([py, "-c", CLI, "-c", cfg, "run", "local", "--", "true"], env)
               for _ in range(5))
    print(f"{'path':<34} {'seconds':>8} {'ratio':>7}")
    print(f"{'raw: head | wc -c':<34} {raw:8.2f} {'1.00x':>7}")
    print(f"{'orch run local -- head | wc -c':<34} {cli:8.2f} {raw / cli:6.2f}x")
    print(f"{'Orchestrator.run() (captured)':<34} {api:8.2f} {raw / api:6.2f}x")
    print(f"{'cold: sh -c true':<34} {cold_sh:8.3f}")
    print(f"{'cold: orch run local -- true':<34} {cold:8.3f}")


if __name__ == "__main__":
    main()
