"""get / put of one big file against the OpenSSH and docker tools, side by side in one run.

    sudo .venv/bin/python benchmarks/bench_files.py [--size BYTES] [--chains 1hop,2hop,docker]

Run as root: it starts the test lab (loopback sshd; bastion and inner host in network
namespaces) and, for `docker`, the test dockerd (whose socket the inner host sees: the lab
shares this filesystem). A file of SIZE random-looking bytes (default 1 GB) goes each way:

| chain | orch | tools |
| --- | --- | --- |
| 1hop | `orch.put/get("one", …)` | `scp`; `ssh orch-loop 'cat > F' < F` / `ssh … 'cat F' > F` |
| 2hop | `orch.put/get("two", …)` | `scp -J orch-bastion`; `ssh -J orch-bastion orch-inner 'cat …'` |
| docker | `orch.put/get("deep", …)` | `ssh -J … 'docker cp - orch-test:DIR'` (tar); `ssh -J … 'docker exec -i orch-test sh -c "cat > F"'` |

Ratio = tool time ÷ orch time (≥ 1.00× is at least as fast as the tool; the goal). orch also
checks sha256 on both ends, which the tools do not; every path checks the size that arrived.
Pairs run back to back so both sides see the same machine load.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fixtures.dockerd import Engine, start_engine, stop_engine  # noqa: E402
from fixtures.sshd import SSHLab  # noqa: E402
from orch_magics import Orchestrator, load_config_text  # noqa: E402

CHAINS = ("1hop", "2hop", "docker")
BLOCK = 16 << 20
REMOTE = "/tmp/orch-bench-files"


def make_file(path: Path, size: int) -> None:
    """SIZE incompressible bytes (one random block, its first byte varied per block)."""
    block = os.urandom(BLOCK)
    with open(path, "wb") as f:
        for i in range(0, size, BLOCK):
            n = min(BLOCK, size - i)
            f.write((bytes([i // BLOCK % 256]) + block[1:])[:n])


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def sh(line: str) -> None:
    subprocess.run(["sh", "-c", line], check=True, stdout=subprocess.DEVNULL)


class Tools:
    """The OpenSSH / docker command lines of each chain."""

    def __init__(self, lab: SSHLab, engine: Engine | None) -> None:
        self.ssh = f"ssh -F {shlex.quote(str(lab.ssh_config))} -o BatchMode=yes"
        self.scp = f"scp -q -F {shlex.quote(str(lab.ssh_config))} -o BatchMode=yes"
        self.engine = engine

    def hosts(self, chain: str) -> tuple[str, str]:
        """(jump options, host) of the last ssh hop."""
        return ("", "orch-loop") if chain == "1hop" else ("-J orch-bastion", "orch-inner")

    def remote(self, chain: str, line: str) -> str:
        jump, host = self.hosts(chain)
        return f"{self.ssh} {jump} {host} {shlex.quote(line)}"

    def put_lines(self, chain: str, src: Path) -> dict[str, str]:
        jump, host = self.hosts(chain)
        if chain == "docker":
            assert self.engine is not None
            docker = f"docker -H {self.engine.host}"
            tar = f"tar -C {shlex.quote(str(src.parent))} -cf - {shlex.quote(src.name)}"
            return {
                "docker cp": f"{tar} | " + self.remote(chain, f"{docker} cp - orch-test:{REMOTE}"),
                "ssh … docker exec cat": f"{self.remote(chain, f'{docker} exec -i orch-test sh -c ' + shlex.quote(f'cat > {REMOTE}/cat'))} < {shlex.quote(str(src))}",
            }
        return {
            "scp": f"{self.scp} {jump} {shlex.quote(str(src))} {host}:{REMOTE}/scp",
            "ssh … cat": f"{self.remote(chain, f'cat > {REMOTE}/cat')} < {shlex.quote(str(src))}",
        }

    def get_lines(self, chain: str, name: str, dest: Path) -> dict[str, str]:
        jump, host = self.hosts(chain)
        q = shlex.quote(str(dest))
        if chain == "docker":
            assert self.engine is not None
            docker = f"docker -H {self.engine.host}"
            return {
                "docker cp": self.remote(chain, f"{docker} cp orch-test:{REMOTE}/{name} -")
                + f" | tar -C {shlex.quote(str(dest.parent))} -xf -",
                "ssh … docker exec cat": self.remote(
                    chain, f"{docker} exec orch-test cat {REMOTE}/{name}") + f" > {q}",
            }
        return {
            "scp": f"{self.scp} {jump} {host}:{REMOTE}/{name} {q}",
            "ssh … cat": f"{self.remote(chain, f'cat {REMOTE}/{name}')} > {q}",
        }


def row(chain: str, way: str, size: int, mine: float, tool: str, theirs: float) -> str:
    mb = size / 1e6
    return (f"| {chain} | {way} | {mine:.2f} s ({mb / mine:.0f} MB/s) | {tool} | "
            f"{theirs:.2f} s ({mb / theirs:.0f} MB/s) | {theirs / mine:.2f}× |")


def bench_chain(orch: Orchestrator, tools: Tools, env: str, chain: str, src: Path,
                work: Path, size: int) -> list[str]:
    rows = []
    orch.run(env, command=f"rm -rf {REMOTE}; mkdir -p {REMOTE}")
    try:
        mine = timed(lambda: orch.put(env, str(src), f"{REMOTE}/orch"))
        for tool, line in tools.put_lines(chain, src).items():
            rows.append(row(chain, "put", size, mine, tool, timed(functools.partial(sh, line))))
        sizes = orch.run(env, command=f"wc -c < {REMOTE}/orch").stdout.split()
        assert sizes == [str(size)], sizes
        for tool, line in tools.get_lines(chain, "orch", work / "orch").items():
            back = work / "orch"
            mine = timed(lambda: orch.get(env, f"{REMOTE}/orch", str(work / "mine")))
            theirs = timed(functools.partial(sh, line))
            assert os.path.getsize(work / "mine") == os.path.getsize(back) == size
            os.unlink(work / "mine")
            os.unlink(back)
            rows.append(row(chain, "get", size, mine, tool, theirs))
    finally:  # the far ends share this machine's disk: leave nothing there
        orch.run(env, command=f"rm -rf {REMOTE}")
    return rows


def config(lab: SSHLab, engine: Engine | None) -> str:
    envs = {"one": [lab.layer("orch-loop")],
            "two": [lab.layer("orch-bastion"), lab.layer("orch-inner")]}
    if engine is not None:
        docker = f'{{type: docker, config: {{container: orch-test, docker_host: "{engine.host}"}}}}'
        envs["deep"] = [*envs["two"], docker]
    return str(lab.config_yaml(extra_envs=envs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000_000)
    parser.add_argument("--chains", default=",".join(CHAINS))
    parser.add_argument("--no-digests", action="store_true",
                        help="orch's runs audited with `digests: false` (output not hashed)")
    args = parser.parse_args()
    chains = [c for c in args.chains.split(",") if c]
    unknown = set(chains) - set(CHAINS)
    if unknown:
        parser.error(f"unknown chains {sorted(unknown)}; choose from {', '.join(CHAINS)}")
    rows: list[str] = []
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        lab = stack.enter_context(SSHLab(with_netns=True))
        engine = start_engine("orch-dockerd-files-") if "docker" in chains else None
        if engine is not None:
            stack.callback(stop_engine, engine)
        src = work / "src.bin"
        make_file(src, args.size)
        text = config(lab, engine) + ("audit: {digests: false}\n" if args.no_digests else "")
        orch = Orchestrator(load_config_text(text))
        stack.callback(orch.close)
        envs = {"1hop": "one", "2hop": "two", "docker": "deep"}
        for chain in chains:
            orch.run(envs[chain], command="true")  # connect first: the pool is warm
            rows += bench_chain(orch, Tools(lab, engine), envs[chain], chain, src, work,
                                args.size)
            print(rows[-1], flush=True)
    print(f"\n{args.size:,} bytes each way\n")
    print("| chain | way | orch | tool | tool time | ratio (tool time ÷ orch time) |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
