"""SSH layer throughput and latency against OpenSSH, side by side in one run (run as root).

    .venv/bin/python benchmarks/bench_ssh.py [--size BYTES] [--repeat N]

Starts the same sshd lab as the tests (loopback sshd + bastion/inner network namespaces), then:
- stdout: `head -c SIZE /dev/zero` through local → ssh and local → ssh → ssh, versus
  `ssh host 'head -c SIZE /dev/zero' | wc -c` and the same with `ssh -J bastion inner`;
- stdin: SIZE bytes into `wc -c` the other way, versus `head -c SIZE /dev/zero | ssh host wc -c`;
- latency: first output byte of a second run over the pooled two-hop chain, versus a cold
  `ssh -J bastion inner true`.
Ratios are orch throughput / OpenSSH throughput (≥ 1 is as fast) and cold / pooled latency.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from orch_io import orch_stdin, orch_stdout  # noqa: E402

from fixtures.sshd import SSHLab  # noqa: E402
from orch_magics.config.loader import load_config_text  # noqa: E402
from orch_magics.executor import LayeredExecutor  # noqa: E402
from orch_magics.layers.base import LaunchContext, Launcher  # noqa: E402
from orch_magics.layers.local import LocalLauncher  # noqa: E402
from orch_magics.process.command import Command  # noqa: E402
from orch_magics.process.events import Stdout  # noqa: E402


def openssh(lab: SSHLab, argv: list[str], *, stdin_size: int = 0) -> tuple[float, int]:
    """Wall time and byte count of an OpenSSH pipeline (`| wc -c` counts the output)."""
    ssh = ["ssh", "-F", str(lab.ssh_config), "-o", "BatchMode=yes", *argv]
    line = " ".join(_q(a) for a in ssh) + " | wc -c"
    if stdin_size:
        line = f"head -c {stdin_size} /dev/zero | " + line
    t0 = time.perf_counter()
    out = subprocess.run(["sh", "-c", line], check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - t0, int(out.split()[0])


def _q(s: str) -> str:
    import shlex

    return shlex.quote(s)


async def first_byte(launcher: Launcher) -> float:
    t0 = time.perf_counter()
    handle = await launcher.launch(Command(("echo", "x")))
    handle.stdin.close()
    async for event in handle.events():
        if isinstance(event, Stdout):
            elapsed = time.perf_counter() - t0
            await handle.wait()
            return elapsed
    raise RuntimeError("no output")


async def main(size: int, repeat: int) -> None:
    with SSHLab() as lab:
        config = load_config_text(lab.config_yaml())
        context = LaunchContext()

        def build(env: str) -> Launcher:
            return LayeredExecutor(LocalLauncher(context), config.environment(env).layers).build()

        one, two = build("loop"), build("two")
        await first_byte(one)
        await first_byte(two)  # connect both pools before timing throughput
        rows: list[tuple[str, float, float]] = []

        def best(samples: list[tuple[float, int]]) -> float:
            assert all(n == size for _, n in samples), samples
            return min(t for t, _ in samples)

        cases = [
            ("stdout, local → ssh", lambda: orch_stdout(one, size),
             ["orch-loop", f"head -c {size} /dev/zero"], 0),
            ("stdout, local → ssh → ssh", lambda: orch_stdout(two, size),
             ["-J", "orch-bastion", "orch-inner", f"head -c {size} /dev/zero"], 0),
            ("stdin, local → ssh", lambda: orch_stdin(one, size),
             ["orch-loop", "cat >/dev/null; printf %s " + str(size)], size),
            ("stdin, local → ssh → ssh", lambda: orch_stdin(two, size),
             ["-J", "orch-bastion", "orch-inner", "cat >/dev/null; printf %s " + str(size)],
             size),
        ]
        for name, ours, theirs, stdin_size in cases:
            o_samples, s_samples = [], []
            for _ in range(repeat):
                s_samples.append(openssh(lab, theirs, stdin_size=stdin_size))
                o_samples.append(await ours())
            if stdin_size:  # OpenSSH's count is printed by the remote side, not by wc here
                s_samples = [(t, size) for t, _ in s_samples]
            rows.append((name, best(o_samples), best(s_samples)))

        pooled = min([await first_byte(two) for _ in range(5)])
        cold = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run(["ssh", "-F", str(lab.ssh_config), "-o", "BatchMode=yes", "-J",
                            "orch-bastion", "orch-inner", "true"], check=True)
            cold.append(time.perf_counter() - t0)
        await context.aclose()

    mb = size / 1e6
    print(f"\n{size:,} bytes, best of {repeat}")
    print(f"{'case':28} {'orch MB/s':>10} {'OpenSSH MB/s':>13} {'ratio':>7}")
    for name, t_orch, t_ssh in rows:
        print(f"{name:28} {mb / t_orch:10.0f} {mb / t_ssh:13.0f} {t_ssh / t_orch:7.2f}")
    print(f"{'first byte, pooled 2 hops':28} {pooled * 1000:8.1f} ms "
          f"{'cold ssh -J':>13}: {min(cold) * 1000:.0f} ms   pooled/cold = "
          f"{pooled / min(cold):.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(main(args.size, args.repeat))
