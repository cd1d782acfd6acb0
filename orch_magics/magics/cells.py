"""The live runs each notebook cell started last, so that running the cell again deals with them.

Running a cell again clears its output. A run (or fleet) the cell opened for its stdin box would go on
with no view, no box and no message anywhere, so it is stopped (INT → TERM → KILL at the end of
the chain), as re-running a cell replaces what it did: once the run the cell starts now is
admitted, or, when the cell holds no run any more (edited to other code, or a mistyped line),
when it ends. A run the new execution tried to start but that was refused (a protected
environment's question answered no) leaves the old one going, and the cell says so. A run
started with `--bg` or `--name` is meant to outlive its cell: it keeps running, and the cell
says so in one line, with how to stop it; the run the cell starts then has a name of its own
(`NAME-1`), which the cell says too (`announce`).

Cells are told apart by the id JupyterLab sends with each execute request and the page that
sent it (`current_cell`); where none is sent (nbclient, papermill, terminal IPython) every run
blocks anyway.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..fleet import LiveFleet
from ..lifecycle import NamedRun
from ..live import LiveRun
from .frontend import AGAIN, current_cell, quiet

if TYPE_CHECKING:  # transfer/ loads on first use
    from ..transfer import Forward


@dataclass(frozen=True)
class _Started:
    request: str  # the execute request that started it
    live: LiveRun | LiveFleet
    deliberate: bool  # --bg / --name: meant to outlive the cell


class CellRuns:
    """Per cell id, the live runs its last execution started (each forgotten when it ends)."""

    def __init__(self) -> None:
        self._last: dict[str, list[_Started]] = {}
        self._refused: dict[str, str] = {}  # cell id: the execution whose run a person refused
        self._told: dict[str, str] = {}  # cell key: the execution told of other pages' runs
        self._lock = threading.Lock()

    def left_alone(self, shell: Any) -> None:
        """The cell executing now starts nothing and stops nothing: a person refused the run
        it asked for (a protected environment's question), or it shows a dry run or help
        (magics17: adding --dry-run stopped the cell's live stdin run). Its runs from when it
        last ran go on."""
        cell = current_cell(shell)
        if cell is not None:
            with self._lock:
                self._refused[cell[0]] = cell[1]

    def started(self, shell: Any, live: LiveRun | LiveFleet, *, deliberate: bool) -> None:
        """The cell running now started `live`, a run or a fleet (`deliberate`: with --bg or
        --name); one execution may start several (`a = %orch …` then `b = %orch …`)."""
        cell = current_cell(shell)
        if cell is None:
            return
        entry = _Started(cell[1], live, deliberate)
        with self._lock:
            kept = [e for e in self._last.get(cell[0], []) if e.request == cell[1]]
            self._last[cell[0]] = [*kept, entry]

        def forget(*_: object) -> None:  # a run's end gives (result, error); a fleet's, none
            with self._lock:
                entries = self._last.get(cell[0], [])
                if entry in entries:
                    entries.remove(entry)
                if not entries:
                    self._last.pop(cell[0], None)

        if isinstance(live, NamedRun):  # over with its last attempt, restarts included
            live.supervisor.follow(_AtTheEnd(forget), live)
        else:
            live.when_done(forget)

    def rerun(self, shell: Any, stop: Callable[[str], object], *,
              starting: bool = True) -> set[str]:
        """When the cell executing now (whatever it holds now) left runs going when it last
        ran: `stop(name)` each of its own stdin runs, whose box the new execution wipes, and
        say in one line that each --bg / --name run still runs. Returns those names: the
        run the cell starts now takes another (`NAME-1`). A run a cell of the same id started
        from another page is said only when this one starts a run (`starting`: magics23, a
        plain `x = 1` in such a cell said it at every execution)."""
        cell = current_cell(shell)
        if cell is None:
            return set()
        with self._lock:
            entries = self._last.get(cell[0], [])
            earlier = [e for e in entries if e.request != cell[1]]
            self._last[cell[0]] = [e for e in entries if e.request == cell[1]]
            told, self._told[cell[0]] = self._told.get(cell[0]) == cell[1], cell[1]
            elsewhere = [] if told or not starting else [
                e for key, kept in self._last.items()
                if key != cell[0] and key.split(" ", 1)[0] == cell[2] for e in kept]
        outlived = {name for entry in elsewhere if (name := _left_to_run(entry)) is not None}
        for i, entry in enumerate(earlier):
            try:
                if (name := _replaced(entry, stop)) is not None:
                    outlived.add(name)
            except KeyboardInterrupt:  # the rest stay the cell's: its next run stops them
                with self._lock:
                    self._last.setdefault(cell[0], [])[:0] = earlier[i + 1:]
                raise
        return outlived

    def ended(self, shell: Any, stop: Callable[[str], object]) -> None:
        """IPython's post_run_cell: runs the cell left going when it last ran, and did not
        replace now, are stopped if it started no run (it holds other code now, or a
        mistyped line), or named in one line if a person refused the run it asked for."""
        cell = current_cell(shell)
        if cell is None:
            return
        with self._lock:
            refused = self._refused.pop(cell[0], None) == cell[1]
            entries = self._last.get(cell[0], [])
            earlier = [e for e in entries if e.request != cell[1]]
        if not refused:
            try:
                self.rerun(shell, stop, starting=False)
            except KeyboardInterrupt as exc:  # a hook cannot fail the cell: IPython would
                print(f"KeyboardInterrupt: {exc}", file=sys.stderr)  # show its arguments
            return
        for entry in earlier:
            if entry.live.name is not None and not entry.live.done:
                print(f"{entry.live.name}, started when this cell last ran, is still running "
                      f"(this run did not start): %orch stop {entry.live.name} stops it")


def _replaced(entry: _Started, stop: Callable[[str], object]) -> str | None:
    """Stop a run the cell started when it last ran, or say that it outlives the cell (its
    name returned)."""
    name = entry.live.name  # a named run still here has not ended (restarts included)
    if name is None or entry.live.done and not isinstance(entry.live, NamedRun):
        return None
    if entry.deliberate:
        print(f"{name}, started when this cell last ran, is still running "
              f"(--bg and --name runs outlive their cell): %orch stop {name} stops it")
        return name
    try:
        stop(name)
    except KeyboardInterrupt:  # the wait was stopped, not the stop: one line, as %orch stop's
        raise quiet(KeyboardInterrupt(
            f"waiting for {name!r}, the run this cell started when it last ran, to stop was "
            f"interrupted; {AGAIN}, and the cell started nothing: %orch ps shows when it has "
            f"ended")) from None
    print(f"stopped {name}, the run this cell started when it last ran")
    return None


def _left_to_run(entry: _Started) -> str | None:
    """Say that a run a cell of the same id started from another page goes on (a copied
    notebook on this kernel, or this one before its page was reloaded): that page's cell was
    not run again, and still stops it when it is. Its name, when it still runs."""
    name = entry.live.name
    if name is None or entry.live.done and not isinstance(entry.live, NamedRun):
        return None
    print(f"{name}, started by a cell with this id in another notebook on this kernel (or "
          f"before this page was reloaded), goes on: %orch stop {name} stops it")
    return name


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
    in the cell): `%orch stop` needs that name, and a cell run again starts `NAME-1`; one
    that already ended is said so."""
    name = live.name
    if live.done:  # a quick one ended first: nothing to stop (magics24)
        print(f"ran in the background as {name}, and has ended ({live.state}): %orch logs "
              f"{name} shows its output")
        return
    where = f"%orch logs {name} shows its output, " if logs else ""
    stops = "stops every target" if isinstance(live, LiveFleet) else "stops it"
    print(f"started in the background as {name}: {where}%orch stop {name} {stops}")


class CellForwards:
    """Per cell id, the forwards its last execution opened: running the cell again closes
    them first, as it stops its stdin-box runs (magics16: a `--local P` cell run again found
    its own port taken, and each run of a plain one left one more listener open)."""

    def __init__(self) -> None:
        self._opened: dict[str, tuple[str, list[Forward]]] = {}
        self._lock = threading.Lock()

    def replacing(self, shell: Any) -> list[Forward]:
        """Close what this cell opened when it last ran (not in this execution): those."""
        cell = current_cell(shell)
        if cell is None:
            return []
        with self._lock:  # by the cell's id alone: after a page reload its own `--local P`
            request, forwards = self._opened.get(cell[2], (cell[1], []))  # is taken again
            if request == cell[1]:  # (magics23); a copied notebook's cell of that id, too
                return []
            del self._opened[cell[2]]
        closing = [forward for forward in forwards if not forward.closed]
        for forward in closing:
            forward.close()
        return closing

    def opened(self, shell: Any, forward: Forward) -> None:
        """The cell running now opened `forward`."""
        cell = current_cell(shell)
        if cell is not None:
            with self._lock:
                request, forwards = self._opened.get(cell[2], (cell[1], []))
                earlier = forwards if request == cell[1] else []  # this execution's others
                self._opened[cell[2]] = (cell[1], [*earlier, forward])
