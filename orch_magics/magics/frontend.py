"""What the magic needs to know about where it runs, and how it talks back to the cell."""

from __future__ import annotations

import asyncio
import builtins
import functools
import os
import threading
from collections.abc import Callable
from typing import Any

from ..kernel_input import has_frontend_stdin
from ..sinks.display import Bundle


def shows_live(shell: Any) -> bool:
    """True where a run is shown live: a front end with stdin whose displays reach it.

    nbclient and papermill send `allow_stdin: false`; terminal IPython has no kernel; under
    `%%capture` / `capture_output()` displays go to IPython's capturing publisher, which keeps
    outputs and takes no updates. There every run blocks and a bounded head and tail of its
    output is written to the cell as ordinary stdout/stderr (headless.py): what is captured.
    """
    pub = getattr(shell, "display_pub", None)
    kernel_pub = all(hasattr(pub, name) for name in ("session", "pub_socket", "parent_header"))
    return kernel_pub and has_frontend_stdin(shell)


def update_publisher(shell: Any, display_id: str, message: str = "update_display_data"
                     ) -> Callable[[Bundle], None]:
    """A thread-safe callable that updates display `display_id` of the current cell (or, with
    `message="display_data"`, shows it there first).

    The parent header is taken now, on the main thread while the cell runs, so updates sent
    later from the background loop thread still belong to this cell (the front end routes
    `update_display_data` by display id to the output that showed it).
    """
    pub = shell.display_pub
    session, socket, parent = pub.session, pub.pub_socket, dict(pub.parent_header)
    topic = getattr(pub, "topic", None)

    def publish(bundle: Bundle) -> None:
        content = {"data": bundle, "metadata": {}, "transient": {"display_id": display_id}}
        session.send(socket, message, content, parent=parent, ident=topic)

    return publish


def main_thread_caller(shell: Any) -> Callable[[Callable[[], None]], None]:
    """Run a callable on the kernel's own loop (widget changes), or at once without one."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is None or getattr(shell, "kernel", None) is None:
        return lambda fn: fn()

    def call(fn: Callable[[], None]) -> None:
        try:
            loop.call_soon_threadsafe(fn)
        except RuntimeError:  # the kernel's loop is gone (shutdown)
            pass

    return call


def set_last(shell: Any, value: object) -> None:
    """Make `_` (and `__`, `___`), `Out[N]` and `_N` of this cell refer to `value`, the way
    IPython's display hook does for a cell's output.

    Cell magics do not return their result (its repr would repeat the status line), so `_` is
    moved here; IPython's rule is kept: names the user assigned are left alone.
    """
    hook = shell.displayhook
    if "_" in builtins.__dict__ or not getattr(hook, "do_full_cache", True):
        return
    count, out = getattr(hook, "prompt_count", None), shell.user_ns.get("_oh")
    if isinstance(count, int) and isinstance(out, dict):  # `Out`: each cell's output, as `_N`
        out[count] = value
        shell.push({f"_{count}": value}, interactive=False)
    ns = shell.user_ns
    for name in ("_", "__", "___"):
        if name in ns and getattr(hook, name, None) is not ns[name]:
            return
    hook.___, hook.__, hook._ = hook.__, hook._, value
    shell.push({"_": hook._, "__": hook.__, "___": hook.___}, interactive=False)


def close_widgets(*widgets: Any) -> None:
    """Close widgets, their children, and their layout and style models: `close()` leaves
    those open, and the kernel (and the page) would keep a comm for each for their life."""
    for widget in widgets:
        close_widgets(*getattr(widget, "children", ()))
        for part in (getattr(widget, "layout", None), getattr(widget, "style", None)):
            if part is not None:
                part.close()
        widget.close()


#: What a ■ in the wait for a named run's stop did (`Supervisor.stop`), after "…was interrupted; ".
AGAIN = ("it is still being stopped (INT, TERM, KILL; a clean-up post command that runs is "
         "ended too)")


def quiet(exc: BaseException) -> BaseException:
    """Mark an exception so IPython shows `Type: message` without a traceback. The mark is a
    partial, not a lambda: the error still pickles (review38: it broke a process pool)."""
    text = f"{type(exc).__name__}: {exc}"
    exc._render_traceback_ = functools.partial(str.splitlines, text)  # type: ignore[attr-defined]
    return exc


def kernel_origin(shell: Any) -> dict[str, str]:
    """Where a run comes from, for the audit log: the magic, the notebook and the cell.

    jupyter_server tells the kernel its notebook in `JPY_SESSION_NAME`; the cell is
    `current_cell`'s.
    """
    origin = {"front_end": "magic"}
    notebook = os.environ.get("JPY_SESSION_NAME")
    if notebook:
        origin["notebook"] = notebook
    cell = current_cell(shell)
    if cell is not None:  # JupyterLab sends it; nbclient and papermill do not
        origin["cell"] = cell[2]
    return origin


def current_cell(shell: Any) -> tuple[str, str, str] | None:
    """(the cell's key, this execution's request id, the cell's id) for the cell running
    now, else None.

    JupyterLab sends the cell's id in the execute request's metadata (`cellId`): unique in
    its notebook, not across notebooks (a copy keeps them: browser23, a duplicate notebook
    on the same kernel stopped the other's run), so the key adds the connection that sent it
    (the header's `session`, one per notebook page). The request id tells a second run of the
    same cell from a second magic within one execution. Another thread belongs to no cell:
    the request there is whatever cell runs now, or ran last (magics16: running that cell
    again stopped the thread's run).
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    kernel = getattr(shell, "kernel", None)
    try:
        parent = (kernel.get_parent() if kernel is not None else None) or {}
    except Exception:
        return None
    cell = (parent.get("metadata") or {}).get("cellId")
    if not cell:
        return None
    header = parent.get("header") or {}
    return f"{cell} {header.get('session', '')}", str(header.get("msg_id", "")), str(cell)


#: How many cells run now, nested ones included (IPython's pre_run_cell / post_run_cell):
#: what a stdin box drawn now is held for (widget.StdinBox.hold).
_CELLS_RUNNING = [0]


def stop_runs_on_shutdown(shell: Any) -> None:
    """Have the kernel's shutdown request stop every run at once: a cell that waits on one
    then ends saying the kernel shut down (before: jupyter_client's interrupt made it read
    as a person's, or the kernel was killed mid-stop and the cell's last status was neutral)."""
    kernel = getattr(shell, "kernel", None)
    original = getattr(kernel, "do_shutdown", None)
    if kernel is None or original is None or getattr(original, "orch_stops_runs", False):
        return

    def do_shutdown(restart: bool) -> Any:
        from ..shutdown import begin_exit

        begin_exit()
        return original(restart)

    do_shutdown.orch_stops_runs = True  # type: ignore[attr-defined]
    kernel.do_shutdown = do_shutdown


def count_cell(starting: bool) -> int:
    """A cell starts (True) or ends (False); how many run now."""
    _CELLS_RUNNING[0] = max(0, _CELLS_RUNNING[0] + (1 if starting else -1))
    return _CELLS_RUNNING[0]


def cells_running() -> int:
    """How many cells run now (0: the kernel is free to take a box's clicks at once)."""
    return _CELLS_RUNNING[0]
