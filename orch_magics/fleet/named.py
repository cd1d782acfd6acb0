"""Named fleets: `start` under a name, one `ps` row with counts by state, labelled `logs`,
and `stop` that stops every target."""

from __future__ import annotations

import collections
import time
from typing import TYPE_CHECKING

from ..named_runs import RunInfo
from ..sinks.lines import CutLine
from ..sinks.ring import RingBuffer
from .lines import LabelledLines
from .result import LIVE_STATES, STATES, cause

if TYPE_CHECKING:  # api.py imports this module
    from ..result import RunResult
    from .api import LiveFleet
    from .result import FleetResult
    from .rows import TargetRow


class NamedFleet:
    """A fleet started under a name, with the last lines of every target (labelled)."""

    #: Set once started (the sinks exist before the fleet does).
    live: LiveFleet

    def __init__(self, logs: RingBuffer) -> None:
        self.logs = logs
        self.started = time.monotonic()
        #: Each ended target's end line (`web-3 | orch: exit 3: disk full`), kept apart from
        #: the ring its busy neighbours' lines push it out of (fleets21).
        self.ends: dict[str, str] = {}
        self._sinks: dict[str, LabelledLines] = {}  # each target's (its last attempt's)

    @property
    def done(self) -> bool:
        """Whether every target has ended (what `logs NAME -f` follows until)."""
        return self.live.done

    def sinks(self, label: str) -> tuple[LabelledLines]:
        sink = self._sinks[label] = LabelledLines(label, self.add, keep=self.logs.max_lines,
                                                  hurry=self.stopping)
        return (sink,)

    def pending(self) -> list[str]:
        """The line each target is writing (a prompt waiting for its answer), labelled: what
        `logs` gives after the kept lines, as a single run's (fleets24: never shown)."""
        return [line for sink in list(self._sinks.values()) for line in sink.pending()]

    def stopping(self) -> bool:
        """Whether a stop of this fleet is on (its output is then only held until the end)."""
        live = getattr(self, "live", None)  # output may come before `start` has returned
        return live is not None and live.fleet.stopping

    def row_changed(self, row: TargetRow) -> None:
        """A target that ended says how, labelled, as a single named run's log says it
        (fleets16: a host that never started, or exit 3, left no line in `logs NAME`)."""
        if row.result is not None and row.state not in LIVE_STATES:
            line = self.ends[row.label] = (f"{row.label} | orch: "
                                           f"{_end_words(row.result, row.state)}")
            self.logs.add("stderr", [line])

    def lost_ends(self, lines: list[str]) -> list[str]:
        """The end lines of ended targets that `lines` (what `logs` gives) no longer hold:
        which target failed, and why, is never lost to a busy fleet's output."""
        shown = set(lines)
        return [line for line in list(self.ends.values()) if line not in shown]

    def add(self, is_err: bool, lines: list[str]) -> None:
        self.logs.add("stderr" if is_err else "stdout",
                      [line.marked() if isinstance(line, CutLine) else line for line in lines])

    def info(self) -> RunInfo:
        """Its `ps` row: the state is the count of targets in each state."""
        live = self.live
        result = live.result()
        ended = "failed" if live.error() is not None else "" if result is None else _ended(result)
        return RunInfo(live.name or "", live.plan.environment.name, live.plan.name,
                       f"fleet: {live.state}", None, self.elapsed(), ended)

    def elapsed(self) -> float:
        """Seconds from its start to now, or to its last target's end once it has ended (as a
        single run's time stops at its end)."""
        ends = [row.ended for row in list(self.live.fleet.rows.values())] if self.done else []
        last = max((end for end in ends if end is not None), default=self.live.ended_at)
        return (last if last is not None else time.monotonic()) - self.started


def _end_words(result: RunResult, state: str) -> str:
    """`exit 0`, or why it did not succeed as the fleet's table says it (`exit 3: oops`,
    `hop 1 (ssh h): host key … CHANGED`, `stopped before it started`, `skipped: …`)."""
    return result.outcome() if state == "ok" else cause(result, state)


def _ended(result: FleetResult) -> str:
    """How a fleet ended, in its targets' words: `ok`, `stopped` (a stopped fleet read
    `failed` here, where its result said `3 stopped`: basics10), or `1 failed, 2 stopped`."""
    if result.ok:
        return "ok"
    states = collections.Counter(state for state in result.states.values() if state != "ok")
    if len(states) == 1 and sum(states.values()) == len(result):
        return next(iter(states))
    return ", ".join(f"{states[state]} {state}" for state in STATES if states[state])
