"""The management subcommands: %orch load / envs / services / start / ps / logs / stop / …

Each takes the parsed arguments (see parser.py) and prints or returns what the user sees.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from IPython import get_ipython

from ..audit.query import HEADER, audited_runs, environment_hint, not_recorded
from ..config.files import NoConfig, demo_config_files
from ..config.model import AuditSettings
from ..fleet import FleetResult, LiveFleet, describe, expand
from ..lifecycle import NamedRun
from ..live import LiveRun
from ..named_runs import Followed
from ..orchestrator import Orchestrator
from ..result import RunResult
from ..secrets.masking import mask_data, mask_text
from ..shutdown import exiting
from ..text import some_of, table
from . import transfer
from .follow_view import FollowedInCell, line_size
from .frontend import AGAIN, quiet, shows_live
from .parser import takes_words

Subcommand = Callable[[Orchestrator, argparse.Namespace], Any]


def load(orch: Orchestrator, args: argparse.Namespace) -> None:
    files = [*(map(str, demo_config_files()) if args.demo else ()), *args.files]
    config = orch.load(*files)
    print(f"loaded {len(config.environments)} environment(s) "
          f"({some_of(list(config.environments)) or 'none'}) and {len(config.services)} "
          f"service(s) ({some_of(list(config.services)) or 'none'}) from "
          f"{', '.join(config.files)}")
    for name in sorted(SUBCOMMANDS.keys() & config.environments.keys()):
        if takes_words(name):
            print(f"note: environment {name!r} shares its name with %orch {name}, which a "
                  f"line means: run in it with a cell, %%orch {name} [SERVICE] and a body")
        else:  # `%orch ps SERVICE` cannot be the subcommand: a run there (as parse() reads it)
            print(f"note: environment {name!r} shares its name with %orch {name}: the line "
                  f"%orch {name} alone is the subcommand; %orch {name} SERVICE, and a cell "
                  f"%%orch {name}, run in the environment")


def envs(orch: Orchestrator, args: argparse.Namespace) -> None:
    print(table(("ENVIRONMENT", "LAYERS", "TARGETS", "DESCRIPTION"),
                [(e.name, e.describe(), describe(expand(e.layers)) if e.is_fleet else "1",
                  e.description or "") for e in orch.config.environments.values()]))


def services(orch: Orchestrator, args: argparse.Namespace) -> None:
    print(table(("SERVICE", "STDIN", "STDOUT", "DESCRIPTION"),
                [(s.name, s.stdin_mode, s.stdout_mode, s.description or "")
                 for s in orch.config.services.values()]))


#: How many runs `%orch history` shows without `-n` (magics22: a year's log went whole into
#: the cell, and so into the saved notebook).
HISTORY_SHOWN = 50


def history(orch: Orchestrator, args: argparse.Namespace) -> None:
    """The audit log's last runs (who, where, what, how it ended), newest last: the
    configured log, or the user's own when no configuration can be loaded (as `orch audit`
    reads it)."""
    try:
        settings, known = orch.config.audit, list(orch.config.environments)
        if off := not_recorded(orch.config):  # safety19: as `orch audit` says it
            print(f"note: {off}")
    except NoConfig:  # none found: the log is the user's own (a found file with a mistake is
        settings, known = AuditSettings(), []  # said: it may set audit.path; config14)
    found = audited_runs(settings, env=args.env, since=args.since, failed=args.failed,
                         last=HISTORY_SHOWN + 1 if args.tail is None else args.tail)
    if args.tail is None and len(found) > HISTORY_SHOWN:  # a saved notebook is no log store
        found = found[1:]
        print(f"… earlier runs not shown (the last {HISTORY_SHOWN} are: %orch history -n N "
              f"shows the last N, orch audit lists them all)", file=sys.stderr if args.json
              else sys.stdout)  # --json's lines stay JSON
    if args.json:  # masked with what this kernel knows now: a record written before a value
        for run in found:  # was a secret here goes into the cell, and the notebook (safety21)
            print(json.dumps(mask_data(run.as_dict()), sort_keys=True))
    elif not found:
        hint = args.env and environment_hint(args.env, settings, known)
        print("no audited runs match" + (f" (did you mean --env {hint}?)" if hint else ""))
    else:
        print(mask_text(table(HEADER, [run.row() for run in found])))


def _fits(lines: list[str]) -> int:
    """How many of the last `lines` fit in LOGS_LINES and LOGS_BYTES (one at least)."""
    kept, size = 0, 0
    for line in reversed(lines[-LOGS_LINES:]):
        size += line_size(line)
        if size > LOGS_BYTES and kept:
            break
        kept += 1
    return kept


def _left_out(orch: Orchestrator, name: str) -> str:
    """The line saying that `%orch logs` left earlier kept lines out, and where they are."""
    run = orch.status(name) if orch.fleets.get(name) is None else None
    path = run.log_file if isinstance(run, NamedRun) else None
    where = f"; its log file {path} has the output ({path}.1 once rotated)" if path else ""
    return f"… earlier kept lines not shown (%orch logs {name} -n N shows the last N{where})"


def ps(orch: Orchestrator, args: argparse.Namespace) -> None:
    rows = [info.as_row() for info in orch.ps()]
    if not rows:
        print("no named runs (runs started with --bg or taking stdin are listed here)")
        return
    print(table(("NAME", "ENV", "SERVICE", "STATE", "PID", "ELAPSED", "EXIT"), rows))


def start(orch: Orchestrator, args: argparse.Namespace) -> LiveRun | LiveFleet:
    """A named background run in every front end (also nbclient): output goes to the run's
    ring buffer and log file, read with %orch logs."""
    live = orch.start(args.environment, args.service, name=args.name, yes=args.yes,
                      timeout=args.timeout, limit=args.limit, parallel=args.parallel,
                      max_fail=args.max_fail, front_end="magic")
    print(f"started {live.name} ({args.environment}/{args.service}); see %orch ps, "
          f"%orch logs {live.name}, %orch stop {live.name}")
    return live


#: What `%orch logs NAME` shows without `-n`: the last lines, as many as a headless run's
#: cell takes by default (Orch.headless_lines / headless_bytes): a run keeps up to 10,000
#: lines of up to ~52 KiB each, and a saved notebook is not a log store.
LOGS_LINES = 1000
LOGS_BYTES = 256 * 1024


def logs(orch: Orchestrator, args: argparse.Namespace) -> None:
    """A named run's kept lines: the last N with -n, else the end that fits LOGS_LINES and
    LOGS_BYTES after a line saying where the rest is; -f then follows the run."""
    tail = args.tail
    if tail is None:  # read one line more than is shown: enough to tell whether any is left
        text = orch.logs(args.name, LOGS_LINES + 1)
        assert isinstance(text, str)
        lines = text.split("\n")
        tail = _fits(lines)
        if tail < len(lines):
            print(_left_out(orch, args.name))
        if not args.follow:
            print("\n".join(lines[len(lines) - tail:]))
            return
    if not args.follow:
        text = orch.logs(args.name, tail)
        if tail:  # `-n 0`: nothing, not a blank line (magics12); a last line may be blank
            print(text)
        return
    followed = orch.logs(args.name, tail, follow=True)
    assert isinstance(followed, Followed)
    view = FollowedInCell(args.name, live=shows_live(get_ipython()), shown=args.tail,
                          lines=LOGS_LINES, size=LOGS_BYTES)
    try:
        for batch in followed.batches():  # one look at a time, not one message a line
            view.add(batch)
    except KeyboardInterrupt:
        view.finish()
        # magics18: a kernel shutting down stops the run: "the run goes on" was untrue then
        print(FOLLOW_CUT if exiting() else "(stopped following; the run goes on)")
    else:
        view.finish()
        if exiting():  # the run ended because the kernel shuts down (its interrupt came later)
            print(FOLLOW_CUT)


#: How following a log ends when the kernel shuts down, which stops the run (no test: the
#: kernel is gone before this line reaches the notebook in most runs, c6fe6a4).
FOLLOW_CUT = "(stopped following: the kernel shut down, which stops the run)"


def stop(orch: Orchestrator, args: argparse.Namespace) -> RunResult | FleetResult | None:
    try:
        return orch.stop(args.name)
    except KeyboardInterrupt:  # the wait was stopped, not the stop: say so in one line
        raise quiet(KeyboardInterrupt(
            f"waiting for {args.name!r} to stop was interrupted; {AGAIN}: %orch ps shows when "
            f"it has ended")) from None


def restart(orch: Orchestrator, args: argparse.Namespace) -> NamedRun:
    try:
        live = orch.restart(args.name, yes=args.yes, front_end="magic")
    except KeyboardInterrupt:  # while its run was being stopped, or the new one started
        raise quiet(KeyboardInterrupt(
            f"the restart of {args.name!r} was interrupted: %orch ps shows where its run "
            f"is")) from None
    print(f"restarted {live.name} (attempt {live.attempt}); see %orch logs {live.name}, "
          f"%orch stop {live.name}")
    return live


def status(orch: Orchestrator, args: argparse.Namespace) -> LiveRun:
    return orch.status(args.name)


def forwards(orch: Orchestrator, args: argparse.Namespace) -> None:
    rows = [f.as_row() for f in orch.forwards.list()]
    print(table(("ID", "ENV", "LOCAL", "TARGET", "VIA"), rows) if rows
          else "no open forwards (%orch forward ENV PORT opens one)")


SUBCOMMANDS: dict[str, Subcommand] = {
    "load": load, "envs": envs, "services": services, "start": start, "ps": ps,
    "logs": logs, "stop": stop, "restart": restart, "status": status, "history": history,
    "get": transfer.get, "put": transfer.put, "forward": transfer.forward, "forwards": forwards,
}
