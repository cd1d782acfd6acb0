"""A service with secrets, through the CLI, against the pipe a user would otherwise run.

    .venv/bin/python benchmarks/bench_masking.py [--size BYTES] [--secrets 0,1,30]
                                                [--repeat N] [--tree DIR]

The service prints SIZE bytes of base64 text (`head -c … /dev/urandom | base64`) with N secrets
in its environment (each 40 characters, from ORCH_SECRET_*): every byte of its output is
masked. The raw tool is the same pipe piped to `cat`. Printed: seconds (best of `--repeat`)
and the ratio raw ÷ orch for each N, measured side by side in one run. `--tree DIR` runs the
orch of another checkout (a `git archive` of an older commit) for a before/after.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(argv: list[str], env: dict[str, str], cwd: Path, repeat: int, size: int) -> float:
    """Best wall time of `argv`, its stdout counted (it must carry the whole output)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False)
        best = min(best, time.perf_counter() - t0)
        if done.returncode != 0 or len(done.stdout) < size:
            raise SystemExit(f"{argv[:4]} failed: {done.returncode} {done.stderr[-300:]!r}")
    return best


def config(count: int, size: int) -> str:
    variables = ", ".join(f"S{i}: '{{{{secret:s{i}}}}}'" for i in range(count))
    return (f"environments:\n  here: {{layers: []}}\nservices:\n  out:\n"
            f"    command: 'head -c {size * 3 // 4} /dev/urandom | base64'\n"
            f"    environment: {{{variables}}}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000_000)
    parser.add_argument("--secrets", default="0,1,30")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tree", default=None, help="the orch_magics of another checkout")
    args = parser.parse_args()
    tree = Path(args.tree).resolve() if args.tree else REPO
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.update({f"ORCH_SECRET_S{i}": secrets.token_urlsafe(30)[:40] for i in range(30)})
    raw = ["sh", "-c", f"head -c {args.size * 3 // 4} /dev/urandom | base64 | cat"]
    with tempfile.TemporaryDirectory() as tmp:
        here = Path(tmp)
        print(f"{args.size / 1e6:.0f} MB of base64 text, best of {args.repeat}, orch from {tree}")
        base = timed(raw, env, here, args.repeat, args.size * 99 // 100)
        print(f"raw pipe (| cat): {base:.2f} s")
        for count in (int(n) for n in args.secrets.split(",")):
            cfg = here / f"orch-{count}.yaml"
            cfg.write_text(config(count, args.size))
            took = timed([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run", "here",
                          "out"], env, here, args.repeat, args.size * 99 // 100)
            print(f"orch run, {count:>2} secrets: {took:.2f} s ({base / took:.2f}× the pipe)")


if __name__ == "__main__":
    main()
