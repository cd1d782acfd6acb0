"""The management subcommands: %orch load / envs / services / start / ps / logs / stop / …

Each takes the parsed arguments (see parser.py) and prints or returns what the user sees.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from ..config.loader import demo_config_files
from ..live import LiveRun
from ..orchestrator import Orchestrator
from ..result import RunResult
from . import transfer

Subcommand = Callable[[Orchestrator, argparse.Namespace], Any]


def load(orch: Orchestrator, args: argparse.Namespace) -> None:
    files = [*(map(str, demo_config_files()) if args.demo else ()), *args.files]
    config = orch.load(*files)
    print(f"loaded {len(config.environments)} environment(s) "
          f"({', '.join(config.environments) or 'none'}) and {len(config.services)} "
          f"service(s) ({', '.join(config.services) or 'none'}) from {', '.join(config.files)}")


def envs(orch: Orchestrator, args: argparse.Namespace) -> None:
    print(table(("ENVIRONMENT", "LAYERS", "DESCRIPTION"),
                [(e.name, e.describe(), e.description or "")
                 for e in orch.config.environments.values()]))


def services(orch: Orchestrator, args: argparse.Namespace) -> None:
    print(table(("SERVICE", "STDIN", "STDOUT", "DESCRIPTION"),
                [(s.name, s.stdin_mode, s.stdout_mode, s.description or "")
                 for s in orch.config.services.values()]))


def ps(orch: Orchestrator, args: argparse.Namespace) -> None:
    rows = [info.as_row() for info in orch.ps()]
    if not rows:
        print("no named runs (runs started with --bg or taking stdin are listed here)")
        return
    print(table(("NAME", "ENV", "SERVICE", "STATE", "PID", "ELAPSED", "EXIT"), rows))


def start(orch: Orchestrator, args: argparse.Namespace) -> LiveRun:
    """A named background run in every front end (also nbclient): output goes to the run's
    ring buffer and log file, read with %orch logs."""
    live = orch.start(args.environment, args.service, name=args.name, yes=args.yes)
    print(f"started {live.name} ({args.environment}/{args.service}); see %orch ps, "
          f"%orch logs {live.name}, %orch stop {live.name}")
    return live


def logs(orch: Orchestrator, args: argparse.Namespace) -> None:
    if not args.follow:
        print(orch.logs(args.name, args.tail))
        return
    try:
        for line in orch.logs(args.name, args.tail, follow=True):
            print(line, flush=True)
    except KeyboardInterrupt:
        print("(stopped following; the run goes on)")


def stop(orch: Orchestrator, args: argparse.Namespace) -> RunResult | None:
    return orch.stop(args.name)


def restart(orch: Orchestrator, args: argparse.Namespace) -> LiveRun:
    return orch.restart(args.name)


def status(orch: Orchestrator, args: argparse.Namespace) -> LiveRun:
    return orch.status(args.name)


def forwards(orch: Orchestrator, args: argparse.Namespace) -> None:
    rows = [f.as_row() for f in orch.forwards.list()]
    print(table(("ID", "ENV", "LOCAL", "TARGET", "VIA"), rows) if rows
          else "no open forwards (%orch forward ENV PORT opens one)")


SUBCOMMANDS: dict[str, Subcommand] = {
    "load": load, "envs": envs, "services": services, "start": start, "ps": ps,
    "logs": logs, "stop": stop, "restart": restart, "status": status,
    "get": transfer.get, "put": transfer.put, "forward": transfer.forward, "forwards": forwards,
}


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns, two spaces apart."""
    cells = [tuple(str(c) for c in row) for row in rows]
    widths = [max([len(header[i]), *(len(r[i]) for r in cells)]) for i in range(len(header))]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(out)
