"""`orch audit [verify]`: read the audit log as a table or JSON, or check its chain."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from collections.abc import Callable
from typing import Any

from ..argtypes import count
from ..audit import default_audit_path, verify
from ..audit.placement import not_yours
from ..config.files import NoConfig
from ..config.model import AuditSettings, Config
from ..errors import ConfigError, OrchError
from ..text import table
from .output import EXIT_USAGE, say


def add_audit_parser(sub: Any) -> None:
    audit = sub.add_parser("audit", help="show the audit log (orch audit verify: check it)")
    audit.add_argument("action", nargs="?", choices=["verify"],
                       help="verify: check that no line was edited, deleted or reordered")
    audit.add_argument("--env", help="only runs in this environment")
    audit.add_argument("--since", type=_since,
                       help="only runs since: 30m, 1h, 2d, or an ISO date")
    audit.add_argument("--failed", action="store_true", help="only runs that failed")
    audit.add_argument("-n", "--tail", type=count, metavar="N", help="the last N runs")
    audit.add_argument("--json", action="store_true", help="one JSON object per run")
    audit.add_argument("--file", help="the audit log (default: the config's audit.path, else "
                                      "$XDG_STATE_HOME/orch_magics/audit.jsonl)")


def _since(text: str) -> str:
    """An argparse type: a span or a date `parse_since` reads (a usage error otherwise)."""
    from ..audit.query import parse_since  # only when --since is given

    try:
        parse_since(text)
    except OrchError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--since {text!r}: ")) from None
    return text


def _path(args: argparse.Namespace, load: Callable[[], Config]) -> str:
    if args.file:
        return str(args.file)
    try:
        settings = load().audit
    except NoConfig:  # none here: the log is the user's own
        return default_audit_path()
    return settings.path or default_audit_path()


def _not_audited(load: Callable[[], Config]) -> str | None:
    """Why runs of the config here are not in the trail (it turns auditing off), or None."""
    from ..audit.query import not_recorded

    try:
        return not_recorded(load())
    except NoConfig:
        return None


def audit_command(args: argparse.Namespace, load: Callable[[], Config]) -> int:
    from ..audit.query import HEADER, audited_runs  # only `orch audit` reads the log

    if args.action == "verify" and (given := [option for option, value in (
            ("--env", args.env), ("--since", args.since), ("--failed", args.failed),
            ("-n", args.tail is not None)) if value]):
        say(f"orch: audit verify checks the whole log: {', '.join(given)} "
            f"{'does' if len(given) == 1 else 'do'} not apply to it")
        return EXIT_USAGE  # a check that looked as if it read one hour, and read all
    path = _path(args, load)
    if not args.file and (off := _not_audited(load)):  # safety18: "no run was audited yet"
        say(f"orch: note: {off}")
    if (args.file or args.action == "verify") and not os.path.exists(path):
        if args.action == "verify" and args.json:  # the verdict a script reads, as ever
            print(json.dumps({"ok": False, "file": path, "error": "there is no audit log"}))
        say(f"orch: there is no audit log at {path}")
        return 1
    if args.action == "verify":
        return _verify(args, path)
    if not os.path.exists(path):  # nothing audited yet: an empty table, and why it is
        say(f"orch: no run was audited yet: there is no audit log at {path}")
    found = audited_runs(AuditSettings(path=path), env=args.env, since=args.since,
                         failed=args.failed, last=args.tail)
    if args.json:
        for run in found:
            print(json.dumps(run.as_dict(), sort_keys=True))
    else:
        print(table(HEADER, [run.row() for run in found]))
    if not found and os.path.exists(path):
        _none_matched(args, path, load)
    return 0


def _none_matched(args: argparse.Namespace, path: str, load: Callable[[], Config]) -> None:
    """A filter left no run: say which (a header alone said nothing), and when `--env` looks
    like a typo of an environment we know, which one was meant."""
    from ..audit.query import environment_hint

    if args.env:
        known: list[str] = []
        with contextlib.suppress(ConfigError):
            known = list(load().environments)
        hint = environment_hint(args.env, AuditSettings(path=path), known)
        if hint:
            say(f"orch: no run of environment {args.env!r} in {path} (did you mean "
                f"{hint!r}?)")
            return
    filters = [f"--env {args.env}" if args.env else "", "--failed" if args.failed else "",
               f"--since {args.since}" if args.since else ""]
    if any(filters):
        say(f"orch: no run in {path} matches {' '.join(f for f in filters if f)}")


def _verify(args: argparse.Namespace, path: str) -> int:
    """`orch audit verify [--json]`: 0 when the chain is intact, 1 naming the first bad line."""
    checked, problem = verify(path)
    if problem is None and (why := not_yours(path)) is not None:  # safety20: "intact" misled
        checked, problem = 0, (f"the chain is intact, but the log {why}: whoever could write "
                               f"it could have rewritten the chain so that it still verifies")
    if args.json:  # a verdict a script can read, whatever it is
        print(json.dumps({"ok": problem is None, "file": path, "records": checked}
                         if problem is None else
                         {"ok": False, "file": path, "line": checked or None, "error": problem}))
    if problem is None:
        if not args.json:
            print(f"ok: {checked} records in {path}, chain intact")
        return 0
    say(f"orch: {path}{f':{checked}' if checked else ''}: {problem}")
    return 1
