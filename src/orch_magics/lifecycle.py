"""Named background runs: start, list, read logs, stop, restart."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import OrchError
from .config.suggest import did_you_mean
from .live import LiveRun
from .sinks.ring import RingBuffer


@dataclass(frozen=True)
class RunInfo:
    """One row of `ps`."""

    name: str
    environment: str
    service: str
    state: str
    pid: int | None
    elapsed: float
    exit: str

    def as_row(self) -> tuple[str, ...]:
        return (self.name, self.environment, self.service, self.state,
                "" if self.pid is None else str(self.pid), f"{self.elapsed:.1f}s", self.exit)


@dataclass
class Entry:
    run: LiveRun
    logs: RingBuffer
    restart: Callable[[], LiveRun]
    restarts: int = 0


class RunRegistry:
    """The named runs of one Orchestrator."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}
        self._counter = 0

    def new_name(self, base: str) -> str:
        name = base
        while name in self._entries and not self._entries[name].run.done:
            self._counter += 1
            name = f"{base}-{self._counter}"
        return name

    def add(self, name: str, entry: Entry) -> None:
        old = self._entries.get(name)
        if old is not None and not old.run.done:
            raise OrchError(f"a run named {name!r} is still running; stop it first or pick "
                            "another name")
        self._entries[name] = entry

    def get(self, name: str) -> Entry:
        entry = self._entries.get(name)
        if entry is None:
            known = ", ".join(self._entries) or "none"
            hint = did_you_mean(name, self._entries)
            extra = f" (did you mean {hint!r}?)" if hint else ""
            raise OrchError(f"no run named {name!r}{extra}; runs: {known}")
        return entry

    def names(self) -> list[str]:
        return list(self._entries)

    def ps(self) -> list[RunInfo]:
        rows = []
        for name, entry in self._entries.items():
            run = entry.run
            result = run.result()
            elapsed = result.duration if result else time.time() - run.started_at
            exit_text = result.exit.describe() if result else ""
            rows.append(RunInfo(name, run.plan.environment.name, run.plan.name, run.state,
                                run.pid, elapsed, exit_text))
        return rows
