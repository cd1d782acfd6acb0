"""Reading the audit log back: runs (start joined with end), filtered, as rows or JSON."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..config.model import AuditSettings
from ..config.suggest import did_you_mean
from ..errors import OrchError
from .log import AuditLog, default_audit_path

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


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


@dataclass(frozen=True)
class AuditedRun:
    """One run as the log tells it: its start record and, once it ended, its end record."""

    start: dict[str, Any]
    end: dict[str, Any] | None

    @property
    def failed(self) -> bool:
        return self.end is not None and not self.end.get("ok", False)

    def as_dict(self) -> dict[str, Any]:
        return {**self.start, "end": self.end}

    def row(self) -> tuple[str, ...]:
        s, e = self.start, self.end or {}
        where = s.get("environment", "")
        if s.get("target"):
            where += f"/{s['target']}"
        if self.end is None:
            outcome = "running?"
        elif e.get("signal") is not None:
            outcome = f"signal {e['signal']}"
        elif e.get("exit_code") is not None:
            outcome = f"exit {e['exit_code']}"
        elif e.get("ok"):
            outcome = "closed"  # a port forward: no exit status
        else:
            outcome = "error"
        duration = f"{e['duration']:.1f}s" if e.get("duration") is not None else ""
        return (s.get("time", "")[:19].replace("T", " "), s.get("user", ""), where,
                s.get("service") or s.get("command", "")[:40], outcome, duration,
                s.get("id", ""))


HEADER = ("time (UTC)", "who", "env/target", "service or command", "exit", "duration", "id")


def runs(records: Iterable[dict[str, Any]]) -> Iterator[AuditedRun]:
    """Join start and end records by id, in start order."""
    starts: dict[str, dict[str, Any]] = {}
    ends: dict[str, dict[str, Any]] = {}
    for record in records:
        (starts if record.get("event") == "start" else ends)[str(record.get("id"))] = record
    for run_id, start in starts.items():
        yield AuditedRun(start, ends.get(run_id))


def select(found: Iterable[AuditedRun], *, env: str | None = None,
           since: datetime.datetime | None = None, failed: bool = False) -> list[AuditedRun]:
    out = []
    for run in found:
        if env is not None and run.start.get("environment") != env:
            continue
        if failed and not run.failed:
            continue
        if since is not None:
            try:
                when = datetime.datetime.fromisoformat(run.start.get("time", ""))
            except ValueError:
                continue
            if when < since:
                continue
        out.append(run)
    return out


def environment_hint(name: str, settings: AuditSettings, known: Iterable[str] = ()) -> str | None:
    """When no run of environment `name` is in the log: the environment (of the log, or
    `known` from the config) it is likely a typo of, else None."""
    seen = {run.start.get("environment", "") for run in audited_runs(settings)} | set(known)
    return did_you_mean(name, sorted(e for e in seen if e))


def audited_runs(settings: AuditSettings, *, env: str | None = None, since: str | None = None,
                 failed: bool = False) -> list[AuditedRun]:
    """The runs the configured log holds, filtered as `orch audit` / `%orch history` ask."""
    path = settings.path or default_audit_path()
    return select(runs(AuditLog(path).records()), env=env,
                  since=parse_since(since) if since else None, failed=failed)
