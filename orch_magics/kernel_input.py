"""Asking a person from inside IPython: through the kernel's stdin request (what `input()`
uses: JupyterLab shows a field), or at the terminal of a running `ipython`. Shared by the
magic, which sets it as its Orchestrator's asker, and by any Orchestrator a notebook's own
Python makes (`asker_here`): a protected environment asks the person in front of it.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from .asking import interrupt_raises
from .guard import ConfirmationRefused
from .tty_prompt import IN_A_KERNEL, ask_on_terminal


def has_frontend_stdin(shell: Any) -> bool:
    """True under a kernel whose current request allows stdin (JupyterLab, Notebook, VS Code):
    a person can be asked (nbclient and papermill send `allow_stdin: false`)."""
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return False
    try:
        parent = kernel.get_parent() or {}
    except Exception:
        return False
    return bool((parent.get("content") or {}).get("allow_stdin", False))


def kernel_asker(shell: Any) -> Callable[[str], str | None]:
    """Ask through the kernel's stdin request (the mechanism of input()): JupyterLab shows an
    input field while the cell blocks. None where the front end allows no stdin (nbclient); a
    kernel interrupt while the field is shown refuses, in one line, what was asked about.
    Terminal IPython has no kernel but a person at the terminal: asked there, as the CLI asks.
    Outside a cell (a widget's callback runs under its comm message), or from another thread
    than the kernel's own, nobody can be asked: where a person is at the notebook, the run is
    refused, not left to ORCH_CONFIRM."""
    watch_cells(shell)

    def ask(question: str) -> str | None:
        from IPython.core.error import StdinNotImplementedError  # IPython is running

        kernel = getattr(shell, "kernel", None)
        if kernel is not None and threading.current_thread() is not threading.main_thread():
            # magics21: `%orch` from a thread asked through the kernel; the question stayed
            # open after its cell and took the answer typed for a later cell's own
            return None if _PERSON.get(id(shell)) is False else _refuse_off_main(question)
        if kernel is None and _at_a_terminal(shell):
            try:
                return ask_on_terminal(question)
            except KeyboardInterrupt:
                raise ConfirmationRefused("not run: interrupted at the confirmation") from None
        if kernel is None or not has_frontend_stdin(shell):
            # safety14: a button's on_click ran in prod on an inherited ORCH_CONFIRM
            if kernel is not None and not _in_a_cell(shell) and _PERSON.get(id(shell)) is not False:
                raise ConfirmationRefused(_NOT_FROM_A_CALLBACK)
            return None
        try:
            with interrupt_raises():  # a password field (safety19): a password typed at the
                return str(kernel.getpass(question))  # wrong prompt is not saved in the notebook
        except StdinNotImplementedError:
            return None
        except EOFError:  # Ctrl-D in the field: nothing typed
            return ""
        except KeyboardInterrupt:
            raise ConfirmationRefused("not run: interrupted at the confirmation") from None

    return ask


_NOT_FROM_A_CALLBACK = ("not run: a person is at this notebook, and cannot be asked from a "
                        "widget's callback (only a cell can ask): run it from a cell, or pass "
                        "yes='ENV'")


def _in_a_cell(shell: Any) -> bool:
    """Whether the kernel's current request is a cell's (not a widget's comm message)."""
    try:
        parent = shell.kernel.get_parent() or {}
    except Exception:
        return False
    return bool((parent.get("header") or {}).get("msg_type") == "execute_request")


def _at_a_terminal(shell: Any) -> bool:
    """Whether `shell` is the one of a running `ipython` (a person at its prompt), not a test
    shell (IPython's globalipapp is a TerminalInteractiveShell too) nor an embedded one."""
    from IPython.terminal.ipapp import TerminalIPythonApp  # only where there is no kernel

    return bool(TerminalIPythonApp.initialized()
                and getattr(TerminalIPythonApp.instance(), "shell", None) is shell)


def asker_here() -> Callable[[str], str | None] | None:
    """The asker of the IPython this code runs in (safety12: an Orchestrator made in a
    notebook asked nobody, so an inherited ORCH_CONFIRM let it into a protected environment);
    None outside IPython. From another thread nobody can be asked; where a person is there
    (the front end takes input) the run is refused, not left to the variable (notebook14)."""
    ipython = sys.modules.get("IPython")  # never imported here: a script has none
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return None
    if threading.current_thread() is threading.main_thread():
        watch_cells(shell)
        return kernel_asker(shell)
    return None if _PERSON.get(id(shell)) is False else _refuse_off_main


#: Per shell: whether the cell that ran last was sent by a front end that takes input (a
#: person is there), recorded as each cell starts. Off the main thread the kernel's current
#: request is any message's (a completion, a widget's: review22), not the cell's.
_PERSON: dict[int, bool] = {}
_WATCHED: set[int] = set()  # the shells whose cells are recorded


def watch_here() -> None:
    """`watch_cells` of the IPython this runs in, if any, from its main thread (an
    Orchestrator made in a cell: a thread it starts then knows whether a person is there)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None and threading.current_thread() is threading.main_thread():
        watch_cells(shell)


def watch_cells(shell: Any) -> None:
    """Record, from now on, whether each cell's front end takes input (on the main thread,
    where the current request is the cell's)."""
    if id(shell) in _WATCHED or getattr(shell, "kernel", None) is None:
        return
    _WATCHED.add(id(shell))
    os.environ[IN_A_KERNEL] = "1"  # its children's terminal (`!orch`) is nobody's
    _INHERITED.setdefault("ORCH_CONFIRM", os.environ.get("ORCH_CONFIRM"))
    if _in_a_cell(shell):  # else unknown (a widget's callback) until the next cell
        _cell_starts(shell)
    shell.events.register("pre_run_cell", lambda *_: _cell_starts(shell))


#: ORCH_CONFIRM as the kernel got it (None: unset).
_INHERITED: dict[str, str | None] = {}


def _cell_starts(shell: Any) -> None:
    """A cell starts: whether a person runs it; while one does, the CLI its commands start
    (`%%bash orch run`, subprocess) does not get ORCH_CONFIRM, which would answer for them
    (safety16: it went into prod unasked, where `%orch` asked); a headless cell's does."""
    person = _PERSON[id(shell)] = has_frontend_stdin(shell)
    if person:
        os.environ.pop("ORCH_CONFIRM", None)
    elif (value := _INHERITED.get("ORCH_CONFIRM")) is not None:
        os.environ["ORCH_CONFIRM"] = value


def _refuse_off_main(question: str) -> str | None:
    raise ConfirmationRefused("not run: a person is at this notebook, and cannot be asked from "
                              "this thread: run it from the notebook's own thread, or pass "
                              "yes='ENV'")
