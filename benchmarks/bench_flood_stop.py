"""How long stopping a flooding named run takes, through every chain (run as root).

    .venv/bin/python benchmarks/bench_flood_stop.py [--repeat N] [--flood SECONDS] [--load N]

Starts the same test dockerd and sshd lab (bastion + inner host in network namespaces) as the
tests, then, for local, local → ssh → ssh and local → ssh → ssh → docker: starts `exec yes
TOKEN` as a named run, lets it flood for --flood seconds, and times `orch.stop`. It prints, per
chain, the stop times and the rate at which the named run took output in (MB/s, from the
lines its ring buffer counted): after a stop, the output already in flight along the chain
(ssh windows, socket buffers: tens of MB) is still relayed, so the stop takes about that much
at that rate. --load N runs N `yes > /dev/null` beside it, as a busy CI machine would.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fixtures.dockerd import start_engine, stop_engine  # noqa: E402
from fixtures.sshd import SSHLab  # noqa: E402
from orch_magics import Orchestrator, load_config_text  # noqa: E402


def flood_once(orch: Orchestrator, env: str, seconds: float) -> tuple[float, float]:
    """(seconds `stop` took, MB/s taken in while flooding) of one named `yes`."""
    token = f"flood{os.getpid()}{env}"
    orch.start(env, command=f"exec yes {token}", name="y")
    time.sleep(seconds)
    lines = orch.runs.get("y").logs.total_lines
    started = time.monotonic()
    result = orch.stop("y", timeout=60)
    took = time.monotonic() - started
    assert result.interrupted, result
    return took, lines * (len(token) + 1) / seconds / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--flood", type=float, default=3.0)
    parser.add_argument("--load", type=int, default=0)
    args = parser.parse_args()
    engine = start_engine("orch-dockerd-bench-")
    hogs: list[subprocess.Popen[bytes]] = []
    try:
        with SSHLab() as lab, tempfile.TemporaryDirectory() as logs:
            hops = [lab.layer("orch-bastion"), lab.layer("orch-inner")]
            text = lab.config_yaml(extra_envs={"local": [], "deep": [*hops, engine.layer()]})
            orch = Orchestrator(load_config_text(text), log_dir=logs)
            hogs = [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL)
                    for _ in range(args.load)]
            print(f"| chain (load {args.load}) | stop s: median | max | intake MB/s |")
            print("| --- | --- | --- | --- |")
            try:
                for env in ("local", "two", "deep"):
                    runs = [flood_once(orch, env, args.flood) for _ in range(args.repeat)]
                    stops = [s for s, _ in runs]
                    print(f"| {env} | {statistics.median(stops):.2f} | {max(stops):.2f} | "
                          f"{statistics.median(r for _, r in runs):.0f} |", flush=True)
            finally:
                orch.close()
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        stop_engine(engine)


if __name__ == "__main__":
    main()
