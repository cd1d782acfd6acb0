"""Reading the audit log back: runs (start joined with end), filtered, as rows or JSON."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..config.model import AuditSettings, Config
from ..config.suggest import did_you_mean
from ..errors import OrchError
from ..redaction import redact
from ..text import cut, first_line, printable
from .log import AuditLog, default_audit_path

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def not_recorded(config: Config) -> str | None:
    """What a listing of the trail says first when the config turns auditing off (safety18,
    safety19: "no run was audited yet" read as if none ran), or None."""
    if config.audit.enabled:
        return None
    files = ", ".join(config.files) or "this config"
    return (f"auditing is off in {files} (audit: {{enabled: false}}): runs of this config are "
            f"not recorded")


def parse_since(text: str, now: datetime.datetime | None = None) -> datetime.datetime:
    """`90s`, `15m`, `1h`, `2d`, `1w` ago, or an ISO date/time; anything else is an OrchError."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    m = _SPAN.match(text)
    if m:
        try:
            return now - datetime.timedelta(seconds=float(m.group(1)) * _UNIT[m.group(2)])
        except OverflowError:
            raise OrchError(f"--since {text!r} reaches back before the year 1") from None
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise OrchError(f"--since {text!r}: give a span like 30m, 1h, 2d, or an ISO date "
                        f"such as 2026-11-30T08:00") from None
    return when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc)


def _opens(record: dict[str, Any]) -> bool:
    """Whether `record` begins a run's story: its start, or the refusal that is all of it."""
    return record.get("event") in ("start", "refused")


@dataclass(frozen=True)
class AuditedRun:
    """One run as the log tells it: its start record and, once it ended, its end record (a
    refused run: its `refused` record, and no end)."""

    start: dict[str, Any]
    end: dict[str, Any] | None

    @property
    def refused(self) -> bool:
        """Whether a protected environment turned it away: its one record is `refused`."""
        return self.start.get("event") == "refused"

    @property
    def failed(self) -> bool:
        return self.refused or self.end is not None and not self.end.get("ok", False)

    def as_dict(self) -> dict[str, Any]:
        return {**self.start, "end": self.end}

    def row(self) -> tuple[str, ...]:
        """The table row: one line per run whatever the records hold (a command's newlines and
        terminal escapes are shown escaped; a damaged field shows as it is, never a crash)."""
        s, e = self.start, self.end or {}
        where = _cell(s.get("environment"))
        if s.get("target"):
            where += f"/{_cell(s['target'])}"
        if self.refused:
            outcome = "refused"
        elif self.end is None:
            outcome = "running?"
        elif isinstance(e.get("outcome"), str):  # the words the run's own views said
            outcome = _cell(e["outcome"], 60)
        elif e.get("timed_out"):
            outcome = "timed out"
        elif e.get("signal") is not None:
            outcome = f"signal {_cell(e['signal'])}"
        elif e.get("exit_code") is not None:
            outcome = f"exit {_cell(e['exit_code'])}"
        elif e.get("ok"):
            outcome = "closed"  # a port forward: no exit status
        else:  # safety13: a run that never reached its target read a bare `error`
            outcome = f"error: {_cell(e['error'], 53)}" if e.get("error") else "error"
        duration = e.get("duration")
        shown = f"{duration:.1f}s" if isinstance(duration, (int, float)) else _cell(duration)
        return (_cell(s.get("time"))[:19].replace("T", " "), _cell(s.get("user")), where,
                _cell(s.get("service") or first_line(str(s.get("command") or "")), 40),
                outcome, shown,
                _cell(s.get("id")))


def _cell(value: object, width: int | None = None) -> str:
    """A table cell: text on one line, control characters escaped (`\\n`, `\\x1b`), the
    secrets known masked before it is cut (safety22: a cut one matched none of its forms, and
    29 of its 32 characters showed in `%orch history`)."""
    text = "" if value is None else value if isinstance(value, str) else str(value)
    text = printable(redact(text)[:4 * (width or 200)])
    return text if width is None else cut(text, width)


HEADER = ("time (UTC)", "who", "env/target", "service or command", "exit", "duration", "id")


def runs(records: Iterable[dict[str, Any]]) -> Iterator[AuditedRun]:
    """Join start and end records by id, in start order (a refusal stands alone); a run's
    later end record updates its first (review22: a copy's kept no duration or exit)."""
    starts: dict[str, dict[str, Any]] = {}
    ends: dict[str, dict[str, Any]] = {}
    for record in records:
        run_id = str(record.get("id"))
        if _opens(record):
            starts[run_id] = record
        else:  # a second end (a copy that failed after its run) says what the first did not
            ends[run_id] = {**ends.get(run_id, {}), **record}
    for run_id, start in starts.items():
        yield AuditedRun(start, ends.get(run_id))


def select(found: Iterable[AuditedRun], *, env: str | None = None,
           since: datetime.datetime | None = None, failed: bool = False) -> list[AuditedRun]:
    out = []
    for run in found:
        start = run.start
        if env is not None and env not in (start.get("environment"),  # or `env/target`
                                           f"{start.get('environment')}/{start.get('target')}"):
            continue
        if failed and not run.failed:
            continue
        if since is not None and not _since(run.start.get("time"), since):
            continue
        out.append(run)
    return out


def _since(time: object, since: datetime.datetime) -> bool:
    """Whether a record's `time` is at or after `since` (a time it cannot hold is not)."""
    try:
        when = datetime.datetime.fromisoformat(time)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return (when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc)) >= since


def environment_hint(name: str, settings: AuditSettings, known: Iterable[str] = ()) -> str | None:
    """When no run of environment `name` is in the log: the environment (of the log, or
    `known` from the config) it is likely a typo of, else None: not when `name` is one of
    them (another filter, `--failed` or `--since`, left nothing)."""
    logged = audited_runs(settings)
    if name in known or select(logged, env=name):
        return None
    for run in logged:  # a fleet target's label: the table shows it as `env/target`
        if run.start.get("target") == name:
            return f"{run.start.get('environment')}/{name}"
    seen = {str(run.start.get("environment") or "") for run in logged} | set(known)
    return did_you_mean(name, sorted(e for e in seen if e))


def audited_runs(settings: AuditSettings, *, env: str | None = None, since: str | None = None,
                 failed: bool = False, last: int | None = None) -> list[AuditedRun]:
    """The runs the configured log holds, filtered as `orch audit` / `%orch history` ask;
    with `last`, only the last that many, found reading from the log's end (a log of 300,000
    lines took 822 MB to show 3 runs, every record held)."""
    path = settings.path or default_audit_path()
    when = parse_since(since) if since is not None else None  # `--since ""`: an error (magics22)
    if last is None:
        return select(runs(AuditLog(path).records()), env=env, since=when, failed=failed)
    if last == 0:
        return []
    found: list[AuditedRun] = []
    ends: dict[str, dict[str, Any]] = {}  # of runs whose start is further back
    seen = False
    for record in AuditLog(path).newest_first():
        seen = True
        run_id = str(record.get("id"))
        if not _opens(record):
            ends[run_id] = {**record, **ends.get(run_id, {})}  # newer fields win, as in `runs`
            continue
        found += select([AuditedRun(record, ends.pop(run_id, None))], env=env, since=when,
                        failed=failed)
        if len(found) == last:
            break
    if seen:
        return found[::-1]
    return select(runs(AuditLog(path).records()), env=env, failed=failed)  # none: said why
