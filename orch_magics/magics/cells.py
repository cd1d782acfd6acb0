"""The live run each notebook cell started last, so that running the cell again deals with it.

Running a cell again clears its output. A run (or fleet) the cell opened for its stdin box would go on
with no view, no box and no message anywhere, so it is stopped first (INT → TERM → KILL at the
end of the chain), as re-running a cell replaces what it did. A run started with `--bg` or
`--name` is meant to outlive its cell: it keeps running, and the cell says so in one line,
with how to stop it; the run the cell starts then has a name of its own (`NAME-1`), which the
cell says too (`announce`).

Cells are told apart by the id JupyterLab sends with each execute request (`current_cell`);
where none is sent (nbclient, papermill, terminal IPython) every run blocks anyway.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..fleet import LiveFleet
from ..lifecycle import NamedRun
from ..live import LiveRun
from .frontend import current_cell


@dataclass(frozen=True)
class _Started:
    request: str  # the execute request that started it
    live: LiveRun | LiveFleet
    deliberate: bool  # --bg / --name: meant to outlive the cell


class CellRuns:
    """Per cell id, the live run its last execution started (forgotten when the run ends)."""

    def __init__(self) -> None:
        self._last: dict[str, _Started] = {}
        self._lock = threading.Lock()

    def started(self, shell: Any, live: LiveRun | LiveFleet, *, deliberate: bool) -> None:
        """The cell running now started `live`, a run or a fleet (`deliberate`: with --bg or
        --name)."""
        cell = current_cell(shell)
        if cell is None:
            return
        entry = _Started(cell[1], live, deliberate)
        with self._lock:
            self._last[cell[0]] = entry

        def forget(*_: object) -> None:  # a run's end gives (result, error); a fleet's, none
            with self._lock:
                if self._last.get(cell[0]) is entry:
                    del self._last[cell[0]]

        if isinstance(live, NamedRun):  # over with its last attempt, restarts included
            live.supervisor.follow(_AtTheEnd(forget), live)
        else:
            live.when_done(forget)

    def rerun(self, shell: Any, stop: Callable[[str], object]) -> None:
        """If an earlier execution of the cell running now left a run going: `stop(name)` it
        (the cell's own stdin run), or say in one line that it still runs (--bg / --name)."""
        cell = current_cell(shell)
        if cell is None:
            return
        with self._lock:
            entry = self._last.get(cell[0])
            if entry is None or entry.request == cell[1]:  # none, or this very execution's
                return
            del self._last[cell[0]]
        name = entry.live.name  # a named run still here has not ended (restarts included)
        if name is None or entry.live.done and not isinstance(entry.live, NamedRun):
            return
        if entry.deliberate:
            print(f"{name}, started when this cell last ran, is still running "
                  f"(--bg and --name runs outlive their cell): %orch stop {name} stops it")
            return
        stop(name)
        print(f"stopped {name}, the run this cell started when it last ran")


class _AtTheEnd:
    """A lifecycle.Follower calling `ended()` once a named run is over."""

    def __init__(self, ended: Callable[[], None]) -> None:
        self._ended = ended

    def attempt_started(self, attempt: NamedRun) -> None:
        pass

    def noted(self, text: str) -> None:
        pass

    def run_ended(self, last: NamedRun | None) -> None:
        self._ended()


def announce(live: LiveRun | LiveFleet, *, logs: bool) -> None:
    """One line naming the run a cell started in the background (`logs`: its output is not
    in the cell): `%orch stop` needs that name, and a cell run again starts `NAME-1`."""
    name = live.name
    where = f"%orch logs {name} shows its output, " if logs else ""
    stops = "stops every target" if isinstance(live, LiveFleet) else "stops it"
    print(f"started in the background as {name}: {where}%orch stop {name} {stops}")
