"""What a cell run again does with the runs it left, when Interrupt comes while it stops one
(review14). The stop itself is provoked: a real stubborn run is what test_magics_cells.py
interrupts in a real kernel; here the bookkeeping around it is checked run by run."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from orch_magics.magics.cells import CellRuns, _Started
from orch_magics.magics.frontend import current_cell


def key(shell: SimpleNamespace) -> str:
    """The cell's key in CellRuns: its id and its page's session (none here)."""
    cell = current_cell(shell)
    assert cell is not None
    return cell[0]


class Kernel:
    """The kernel as the cell code sees it: which cell, which execution."""

    def __init__(self) -> None:
        self.msg = "req1"

    def get_parent(self) -> dict[str, object]:
        return {"metadata": {"cellId": "c1"}, "header": {"msg_id": self.msg}}


class Live:
    def __init__(self, name: str) -> None:
        self.name, self.done = name, False


def test_runs_not_yet_stopped_when_interrupted_stay_the_cells_to_stop_next_time(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Two stdin runs from one execution; Interrupt while the first is being stopped: the
    second was dropped from the cell's runs, never stopped by any later run of the cell."""
    shell = SimpleNamespace(kernel=Kernel())
    runs = CellRuns()
    runs._last[key(shell)] = [_Started("req1", Live("a"), False),
                              _Started("req1", Live("b"), False)]
    stopped: list[str] = []

    def stop(name: str) -> None:
        if name == "a":
            raise KeyboardInterrupt
        stopped.append(name)
    shell.kernel.msg = "req2"
    with pytest.raises(KeyboardInterrupt, match="waiting for 'a'"):
        runs.rerun(shell, stop)
    shell.kernel.msg = "req3"
    runs.rerun(shell, stopped.append)
    assert stopped == ["b"]


def test_an_interrupt_in_the_cell_end_hook_is_one_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A cell edited to other code stops its runs from IPython's post_run_cell hook, which
    printed 'Error in callback … ExecutionResult …' (the cell's source) above the line."""
    shell = SimpleNamespace(kernel=Kernel())
    runs = CellRuns()
    runs._last[key(shell)] = [_Started("req1", Live("stubborn"), False)]

    def stop(name: str) -> None:
        raise KeyboardInterrupt
    shell.kernel.msg = "req2"
    runs.ended(shell, stop)  # no raise: a hook cannot fail the cell
    assert capsys.readouterr().err == (
        "KeyboardInterrupt: waiting for 'stubborn', the run this cell started when it last "
        "ran, to stop was interrupted; it is still being stopped (INT, TERM, KILL; a clean-up "
        "post command that runs is ended too), and the cell started nothing: %orch ps shows "
        "when it has ended\n")
    assert sys.exc_info() == (None, None, None)
