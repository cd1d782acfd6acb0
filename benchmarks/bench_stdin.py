"""Input piped through: SIZE bytes into `wc -c` at the far end, orch CLI vs the raw tools.

    .venv/bin/python benchmarks/bench_stdin.py [--size BYTES] [--chains local,1hop,2hop,docker]
        [--repeat N] [--tree DIR]

The other direction of bench_frontends.py (same lab, engine and config; run as root): for each
chain, back to back, `head -c SIZE /dev/zero` is piped into
- the raw tool: `wc -c`, `ssh orch-loop 'wc -c'`, `ssh -J orch-bastion orch-inner 'wc -c'`,
  `ssh -J orch-bastion orch-inner 'docker -H unix://SOCK exec -i orch-test wc -c'`;
- `orch -c CONFIG run ENV -- wc -c` (a fresh interpreter), audited as by default, and with
  `audit: {digests: false}`.
Ratio = raw time ÷ orch time (higher is better). With `--repeat N`, each is the median of N
rounds' ratios (each round's orch runs against that round's raw run).
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys

from bench_frontends import CHAINS, CLI, ENV_OF, Setup, checked, counted, no_digest_config, started


def raw_line(setup: Setup, chain: str, size: int) -> str:
    """The raw tool's pipeline for `chain`: zeros piped into `wc -c` at the far end."""
    return f"head -c {size} /dev/zero | {setup.at_far_end(chain, 'wc -c', stdin=True)}"


def orch_line(setup: Setup, chain: str, size: int, cfg: str) -> str:
    cli = f"{shlex.quote(sys.executable)} -c {shlex.quote(CLI)} -c {shlex.quote(cfg)}"
    return f"head -c {size} /dev/zero | {cli} run {ENV_OF[chain]} -- wc -c"


def one_round(setup: Setup, chain: str, size: int) -> dict[str, tuple[float, float]]:
    """(time, ratio) of the raw tool and both orch runs, back to back."""
    raw, n = counted(raw_line(setup, chain, size), setup)
    checked(f"raw {chain}", size, n)
    times = {"raw": (raw, 1.0)}
    for path, cfg in (("cli", setup.cfg), ("cli-nd", no_digest_config(setup))):
        took, n = counted(orch_line(setup, chain, size, cfg), setup)
        checked(f"orch run {ENV_OF[chain]}", size, n)
        times[path] = (took, raw / took)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000_000)
    parser.add_argument("--chains", default="local,1hop,2hop,docker")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--tree", default=None)
    args = parser.parse_args()
    chains = [c for c in args.chains.split(",") if c]
    if not chains or any(c not in CHAINS for c in chains):
        parser.error(f"--chains: choose from {','.join(CHAINS)}")
    with started(chains, args.tree) as setup:
        rounds = [{c: one_round(setup, c, args.size) for c in chains}
                  for _ in range(max(1, args.repeat))]
    medians = f"; medians of {args.repeat} rounds" if args.repeat > 1 else ""
    print(f"\n{args.size:,} bytes piped into `wc -c` at the far end; ratio = raw time ÷ orch "
          f"time (higher is better){medians}\n")
    print("| chain | raw tool | orch CLI | orch CLI, digests off |\n| --- | --- | --- | --- |")
    for c in chains:
        cells = []
        for path in ("raw", "cli", "cli-nd"):
            took = statistics.median(r[c][path][0] for r in rounds)
            ratio = statistics.median(r[c][path][1] for r in rounds)
            cells.append(f"{took:.2f} s" if path == "raw" else f"{took:.2f} s ({ratio:.2f}×)")
        print(f"| {c} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
