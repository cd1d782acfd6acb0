"""A background named run's cell follows the run, not only its first attempt.

Under `restart: on-failure` (or `%orch restart NAME`) a run goes on as a new attempt: the
cell's view says how the last one ended and shows the next one's output, and the stdin box
writes to whichever attempt runs now, until the run as a whole is over.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import OrchError
from ..lifecycle import NamedRun
from ..plan import RunPlan
from .presenters import Presenter
from .widget import StdinBox

#: How the cell ends once its run is over: the last attempt, and why it has no result.
Ended = Callable[[NamedRun | None, BaseException | None], None]


class FollowedRun:
    """What the stdin box drives: the attempt of a named run running now."""

    def __init__(self, attempt: NamedRun) -> None:
        self.attempt = attempt
        self.over = False  # the run has ended, no attempt follows

    @property
    def plan(self) -> RunPlan:
        return self.attempt.plan

    @property
    def done(self) -> bool:
        return self.over

    def send(self, data: str | bytes) -> None:
        self.attempt.send(data)

    def send_line(self, line: str) -> None:
        self.attempt.send_line(line)

    def close_stdin(self) -> None:
        self.attempt.close_stdin()

    def interrupt(self) -> None:
        """Stop the run: this attempt, and no restart after it."""
        self.attempt.supervisor.request_stop()


class CellFollower:
    """The lifecycle.Follower of one cell: its view, its box (if any) and its end."""

    def __init__(self, run: FollowedRun, presenter: Presenter, box: StdinBox | None,
                 on_main: Callable[[Callable[[], None]], None], ended: Ended) -> None:
        self.run, self.presenter, self.box = run, presenter, box
        self._on_main, self._ended = on_main, ended

    def attempt_started(self, attempt: NamedRun) -> None:
        self.run.attempt, self.run.over = attempt, False
        self.presenter.view.next_attempt()
        if self.box is not None:
            self._on_main(self.box.reopen)

    def noted(self, text: str) -> None:
        self.presenter.view.note(text)

    def run_ended(self, last: NamedRun | None) -> None:
        self.run.over = True
        if last is None:
            self._ended(None, OrchError("the restart could not start"))
        else:
            last.when_done(lambda _result, error: self._ended(last, error))
