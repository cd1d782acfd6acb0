"""Docker layer throughput against the docker CLI, side by side in one run (run as root).

    .venv/bin/python benchmarks/bench_docker.py [--size BYTES] [--no-ssh]

Starts the same dockerd (and, unless --no-ssh, the same loopback sshd) as the tests, then:
- stdout: `head -c SIZE /dev/zero` through local → docker, versus
  `docker exec orch-test head -c SIZE /dev/zero | wc -c` (DOCKER_HOST = the test engine);
  and local → ssh → docker versus `ssh orch-loop docker exec orch-test head … | wc -c`;
- stdin: SIZE bytes into `wc -c` the other way, versus `head -c SIZE /dev/zero | docker exec -i
  orch-test wc -c` (and the same through ssh).
Ratios are orch throughput / CLI throughput (≥ 1 is as fast). Each pair runs back to back so
both sides see the same machine load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from orch_io import orch_stdin, orch_stdout  # noqa: E402

from fixtures.dockerd import start_engine, stop_engine  # noqa: E402
from orch_magics.config.loader import load_config_text  # noqa: E402
from orch_magics.executor import LayeredExecutor  # noqa: E402
from orch_magics.layers.local import LocalLauncher  # noqa: E402


def cli(line: str, docker_host: str) -> tuple[float, int]:
    """Wall time and the byte count printed by the pipeline's final `wc -c`."""
    t0 = time.perf_counter()
    out = subprocess.run(["sh", "-c", line], check=True, capture_output=True, text=True,
                         env={**os.environ, "DOCKER_HOST": docker_host}).stdout
    return time.perf_counter() - t0, int(out.split()[-1])


def row(name: str, size: int, mine: tuple[float, int], theirs: tuple[float, int]) -> str:
    assert mine[1] == size and theirs[1] == size, (name, mine, theirs)
    mb = size / 1e6
    return (f"| {name} | {mine[0]:.2f} s ({mb / mine[0]:.0f} MB/s) | "
            f"{theirs[0]:.2f} s ({mb / theirs[0]:.0f} MB/s) | {theirs[0] / mine[0]:.2f}× |")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000_000)
    parser.add_argument("--no-ssh", action="store_true")
    args = parser.parse_args()
    size = args.size
    engine = await asyncio.to_thread(start_engine, "orch-dockerd-bench-")
    lab = None
    base = LocalLauncher()
    rows = []
    try:
        print(f"engine started in {engine.started_in:.2f} s; {size:,} bytes each way", flush=True)
        layer = ('{type: docker, config: {container: orch-test, docker_host: "'
                 + engine.host + '"}}')
        local = LayeredExecutor(base, load_config_text(
            f"environments:\n  d:\n    layers:\n      - {layer}\n").environments["d"].layers)
        await orch_stdout(local, 1000)  # connect and warm the pool
        c = "orch-test"
        rows.append(row("stdout local → docker", size, await orch_stdout(local, size),
                        cli(f"docker exec {c} head -c {size} /dev/zero | wc -c", engine.host)))
        rows.append(row("stdin local → docker", size, await orch_stdin(local, size),
                        cli(f"head -c {size} /dev/zero | docker exec -i {c} wc -c", engine.host)))
        if not args.no_ssh:
            from fixtures.sshd import SSHLab

            lab = SSHLab(with_netns=False)
            lab.__enter__()
            text = lab.config_yaml(extra_envs={"d": [lab.layer("orch-loop"), layer]})
            remote = LayeredExecutor(base, load_config_text(text).environments["d"].layers)
            await orch_stdout(remote, 1000)
            ssh = (f"ssh -F {shlex.quote(str(lab.ssh_config))} -o BatchMode=yes orch-loop "
                   f"DOCKER_HOST={engine.host} docker exec")
            rows.append(row("stdout local → ssh → docker", size, await orch_stdout(remote, size),
                            cli(f"{ssh} {c} head -c {size} /dev/zero | wc -c", engine.host)))
            rows.append(row("stdin local → ssh → docker", size, await orch_stdin(remote, size),
                            cli(f"head -c {size} /dev/zero | {ssh} -i {c} wc -c", engine.host)))
    finally:
        await base.context.aclose()
        if lab is not None:
            lab.__exit__(None, None, None)
        await asyncio.to_thread(stop_engine, engine)
    print("| direction and chain | orch | CLI | ratio (orch speed / CLI speed) |")
    print("| --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    asyncio.run(main())
