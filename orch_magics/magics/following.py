"""A background named run's cell follows the run, not only its first attempt.

Under `restart: on-failure` (or `%orch restart NAME`) a run goes on as a new attempt: the
cell's view says how the last one ended and shows the next one's output, and the stdin box
writes to whichever attempt runs now, until the run as a whole is over.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import OrchError
from ..lifecycle import NamedRun
from ..plan import RunPlan
from ..text import plural
from .presenters import Presenter

if TYPE_CHECKING:  # ipywidgets only when a box is shown
    from .widget import StdinBox

#: How the cell ends once its run is over: the last attempt, and why it has no result.
Ended = Callable[[NamedRun | None, BaseException | None], None]


class FollowedRun:
    """What the stdin box drives: the attempt of a named run running now. Input typed while
    an attempt has ended and the next is on its way is held for that next one (nothing typed
    is lost), and dropped only when no attempt follows."""

    def __init__(self, attempt: NamedRun) -> None:
        self.attempt = attempt
        self.over = False  # the run has ended, no attempt follows
        self._held: list[tuple[Callable[[NamedRun], None], int]] = []
        self._lock = threading.Lock()

    @property
    def plan(self) -> RunPlan:
        return self.attempt.plan

    @property
    def done(self) -> bool:
        return self.over

    def send(self, data: str | bytes, *, wait: bool = True) -> None:
        lines = max(1, data.count("\n") if isinstance(data, str) else data.count(b"\n"))
        self._to_attempt(lambda attempt: attempt.send(data, wait=wait), lines)

    def close_stdin(self) -> None:
        with self._lock:  # between two attempts the ended one takes EOF without a word: it
            if not self.over and self.attempt.done:  # is the next one's (browser17)
                self._held.append((_eof, 0))
                return
        self._to_attempt(_eof, 0)

    def interrupt(self, *, again: bool = False) -> None:
        """Stop the run: this attempt, and no restart after it."""
        self.attempt.supervisor.request_stop(again=again)

    def next(self, attempt: NamedRun) -> bool:
        """`attempt` runs now: what was held for it goes to it, in order (loop thread);
        whether that ended its stdin (EOF was asked for between the attempts)."""
        with self._lock:
            self.attempt, self.over = attempt, False
            held, self._held = self._held, []
        for send, _lines in held:
            with contextlib.suppress(OrchError):  # it ended at once: as if sent, then ended
                send(attempt)
        return any(send is _eof for send, _lines in held)

    def end(self) -> int:
        """No attempt follows: how many lines held for one are dropped."""
        with self._lock:
            self.over = True
            dropped, self._held = sum(lines for _send, lines in self._held), []
        return dropped

    def _to_attempt(self, send: Callable[[NamedRun], None], lines: int) -> None:
        """`send` to the attempt running, or held for the next one (`lines`: how many lines
        it carries, said if none follows)."""
        attempt = self.attempt
        try:
            send(attempt)
        except OrchError:
            with self._lock:
                if self.over or not attempt.done:  # over, or the process closed its stdin
                    raise
                if self.attempt is attempt:  # between two attempts: for the next one
                    self._held.append((send, lines))
                    return
            send(self.attempt)  # the next one started meanwhile


def _eof(attempt: NamedRun) -> None:
    attempt.close_stdin()


class CellFollower:
    """The lifecycle.Follower of one cell: its view, its box (if any) and its end."""

    def __init__(self, run: FollowedRun, presenter: Presenter, box: StdinBox | None,
                 on_main: Callable[[Callable[[], None]], None], ended: Ended) -> None:
        self.run, self.presenter, self.box = run, presenter, box
        self._on_main, self._ended = on_main, ended
        self._stdin_before = 0  # bytes the attempts that ended took on stdin

    def attempt_started(self, attempt: NamedRun) -> None:
        previous = self.run.attempt
        ended = previous.result() if previous is not attempt else None
        self._stdin_before += ended.stdin_bytes if ended is not None else 0
        closed = self.run.next(attempt)
        self.presenter.view.next_attempt(self._stdin_before)
        self.presenter.view.follow(attempt)  # its stdin count, not the first one's again
        if self.box is not None and not closed:
            self._on_main(self.box.reopen)

    def noted(self, text: str) -> None:
        self.presenter.view.note(text)
        if self.run.attempt.supervisor.waiting:  # the back-off before a restart (browser21)
            self.presenter.view.note_restarting()

    def run_ended(self, last: NamedRun | None) -> None:
        dropped = self.run.end()
        if dropped:
            self.noted(f"orch: {plural(dropped, 'line')} typed after the last attempt ended "
                       f"were not sent: no attempt followed")
            if self.box is not None:  # the box's own count said them sent
                self._on_main(functools.partial(self.box.not_sent, dropped))
        if last is None:
            self._ended(None, OrchError("the restart could not start"))
        else:
            last.when_done(lambda _result, error: self._ended(last, error))
