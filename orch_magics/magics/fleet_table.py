"""The live table of a fleet in a front end: widgets while it runs, static HTML at its end.

Re-publishing the table as HTML ~10×/s replaced its elements each time, so a row opened to
read its target's output closed again within 0.1 s: no target's output could be read while
the fleet ran. The live view is therefore widgets the front end keeps: a title (the counts by
state) and an Accordion with one section per shown target, titled by its row (label, state,
time, bytes, and why it failed or its last line) and holding its last lines (`--tail`, else
`Orch.tail`, after a note of how many came before). Updates change
only those titles and texts, so the section a person opened stays open (the front end keeps
which one is; its click needs no kernel, which is busy while a blocking fleet runs).

Sections are slots: with more targets than `MAX_ROWS`, a slot keeps its target as long as it
is among the `MAX_ROWS` most worth showing (running, failed, stopped, …; the counts cover
every target), so the open section changes hands only when its target is no longer among them.

Under the widgets, one line of text says what the fleet is doing (its environment, what it
runs, the counts by state, the time): a notebook saved while the fleet runs keeps a widget
view only as "model not found", and that line says what the cell was showing.
When the fleet ends, the display becomes static HTML: the same rows as a table with a cause
column, each row expandable to its target's last lines, and the line goes (the table says
it); a saved notebook holds no widget.
"""

from __future__ import annotations

import contextlib
import html
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from IPython.display import display

from ..fleet import FleetResult, LiveFleet, TargetRow
from ..fleet.result import HTML_SHORT, HTML_TABLE, HTML_TABLE_END, HTML_WIDE, cause, files_said
from ..shutdown import exiting
from ..sinks.ansi import ESCAPE
from ..sinks.cell_view import NO_MATH, lines_html, shown
from ..sinks.display import QUIET_TICK, Bundle
from ..text import cut, human_size, plural, printable
from .frontend import close_widgets, main_thread_caller, update_publisher
from .presenters import KERNEL_GONE

#: Rows the table shows at most (the counts cover every target).
MAX_ROWS = 50
_ORDER = {"running": 0, "starting": 0, "failed": 1, "stopped": 2, "skipped": 3, "queued": 4, "ok": 5}
_ENDED = ("ok", "failed", "stopped", "skipped")
#: The first column holds a row's label, why it failed or its last line, and, opened, its
#: output: the width the short columns leave (browser11: output in the label's narrow column
#: broke lines every 30 characters; browser12: laid over the row, it was overprinted by a
#: cause that wrapped, and long labels pushed the table off-screen). The other cells are
#: short, each column as wide as its longest value (`fleet.result.HTML_TABLE`).
_WIDTHS = {"state": "4.5em", "time": "3.5em", "exit": "2.5em", "output": "5.5em", "audit": "10em"}


class FleetTable:
    """One fleet's live view in a front end (`refresh` from any one thread at a time)."""

    def __init__(self, shell: Any, live: LiveFleet) -> None:
        import ipywidgets as widgets  # only where a front end shows widgets

        rows = list(live.fleet.rows.values())  # none yet while containers are found by label
        self._slots: list[str | None] = [r.label for r in _ranked(rows)[:MAX_ROWS]]
        self._title = widgets.HTML()
        self._outputs = [widgets.HTML() for _ in self._slots]
        self._sections = widgets.Accordion(children=self._outputs)
        self._growing = False
        self._sections.add_class("orch-fleet-rows")
        self.widget = widgets.VBox([self._title, self._sections])
        self.widget.add_class("orch-fleet")
        self._lock = threading.Lock()
        self._done = False
        self._on_main = main_thread_caller(shell)
        self._started = time.monotonic()
        self._publish_status: Callable[[Bundle], None] = lambda bundle: None  # until shown
        self._said = ("", self._started)  # the state last said under the widgets, and when
        display_id = uuid.uuid4().hex
        self.refresh(live)
        bundle = self.widget._repr_mimebundle_() or {}
        bundle["text/plain"] = (f"[live table of the fleet {live.name or live.plan.name}: "
                                f"needs the kernel that ran this cell]")  # saved while live
        display(bundle, raw=True, display_id=display_id)
        self._publish = update_publisher(shell, display_id)
        status_id = uuid.uuid4().hex
        display(self._status(live), raw=True, display_id=status_id)
        self._publish_status = update_publisher(shell, status_id)

    def refresh(self, live: LiveFleet) -> None:
        """Show the rows as they are now (only what changed reaches the front end)."""
        grow = False
        with self._lock:
            if self._done:
                return
            rows = live.fleet.rows
            if len(self._slots) < min(len(rows), MAX_ROWS):
                grow = not self._grow(live)
            self._place(_ranked(list(rows.values()))[:len(self._slots)])
            titles = []
            for slot, output in zip(self._slots, self._outputs, strict=True):
                row = rows[slot] if slot is not None else None
                titles.append("" if row is None else _title(row))
                output.value = "" if row is None else _cause_html(row) + lines_html(*row.view())
            self._sections.titles = tuple(titles)
            self._title.value = _heading(f"{plural(len(rows), 'target')}: {live.state}",
                                         len(rows), len(self._slots))
            self._say(live)
        if grow and not self._growing:  # asked of the kernel's thread once the lock is free
            self._growing = True  # (review21: a caller that runs it at once took it again)
            self._on_main(lambda: self._grown(live))

    def _grow(self, live: LiveFleet, here: bool = False) -> bool:
        """Sections for the rows that came once the containers were found (under the lock),
        made on the kernel's thread, as widgets are (until then the heading shows the
        counts); whether it could be done here (`here`: where `_on_main` runs, which is the
        caller's thread when there is no kernel loop: review22, nothing grew then)."""
        if not here and threading.current_thread() is not threading.main_thread():
            return False
        import ipywidgets as widgets

        wanted = min(len(live.fleet.rows), MAX_ROWS)
        added = [widgets.HTML() for _ in range(wanted - len(self._slots))]
        self._slots += [None] * len(added)
        self._outputs += added
        self._sections.children = tuple(self._outputs)
        return True

    def _grown(self, live: LiveFleet) -> None:
        with self._lock:
            self._growing = False
            if not self._done:
                self._grow(live, here=True)

    def _say(self, live: LiveFleet) -> None:
        """Update the line under the widgets when the counts change, else as the clock of a
        quiet single run moves (every `QUIET_TICK`)."""
        state, now = live.state, time.monotonic()
        if state != self._said[0] or now - self._said[1] >= QUIET_TICK:
            self._said = (state, now)
            self._publish_status(self._status(live))

    def _status(self, live: LiveFleet) -> Bundle:
        """The line under the widgets, as text (it is what a saved notebook can show)."""
        what = live.name or live.plan.name
        line = (f"[{live.plan.environment.name} · {what} · {plural(len(live.fleet.rows), 'target')}: "
                f"{live.state} · {time.monotonic() - self._started:.1f}s]")
        return {"text/plain": line, "text/html": f"<pre class='orch-fleet-status {NO_MATH}' "
                                                 f"style='margin:0'>{html.escape(line)}</pre>"}

    def _place(self, wanted: list[TargetRow]) -> None:
        """Give each wanted row a slot; a row keeps its slot while it is wanted."""
        labels = {row.label for row in wanted}
        self._slots = [s if s in labels else None for s in self._slots]
        placed = set(self._slots)
        for row in wanted:
            if row.label not in placed:
                self._slots[self._slots.index(None)] = row.label

    def finish(self, live: LiveFleet, result: FleetResult, raised: bool = False) -> None:
        """Replace the widgets by the final table (static HTML, rows expandable); `raised`
        changes nothing here (a headless view's note names where the result went)."""
        with self._lock:
            if self._done:  # the kernel's shutdown said it already
                return
            self._done = True
        self._publish(final_bundle(live, result))
        self._publish_status({"text/plain": ""})  # the table says it all now
        self._on_main(self._close)

    def failed(self, live: LiveFleet, error: BaseException, *, say: bool) -> None:
        """The fleet failed as a whole (no container has its label): the widgets go, and the
        display says why when nothing else will (`say`: a cell that raises says it itself)."""
        with self._lock:
            if self._done:
                return
            self._done = True
        line = f"✗ {live.name or live.plan.name}: {error}" if say else ""
        self._publish({"text/plain": line, "text/html": f"<pre class='{NO_MATH}' style='margin:0'>"
                                                        f"{html.escape(line)}</pre>" if say else ""})
        self._publish_status({"text/plain": ""})
        self._on_main(self._close)

    def _close(self) -> None:
        close_widgets(*self._outputs, self._title, self._sections, self.widget)


def _ranked(rows: list[TargetRow]) -> list[TargetRow]:
    return sorted(rows, key=lambda r: _ORDER.get(r.state, 9))


def _heading(title: str, total: int, shown: int) -> str:
    more = f" (… {plural(total - shown, 'more target')}, all in the result)" if total > shown else ""
    return f"<b>{html.escape(title)}</b>{html.escape(more)}"


def _info(row: TargetRow) -> str:
    """Why a target that ended did not succeed, else its last line (plain, one line; a tab
    is whitespace there, not `\\t`: browser26, `du -sh`'s `4.0K\\t/var/log`)."""
    if row.result is not None and row.state in _ENDED and row.state != "ok":
        return cause(row.result, row.state).expandtabs()
    return ESCAPE.sub("", shown(row.last_line)).expandtabs()


def _title(row: TargetRow) -> str:
    """A section's title: its row as text (a title is never markup)."""
    parts = [row.label, row.state, f"{row.duration:.1f}s", human_size(row.bytes)]
    info = cut(printable(_info(row)), 160)
    return " · ".join(parts + ([info] if info else []))


def _cause_html(row: TargetRow) -> str:
    """Why a target that ended did not succeed, whole, above its lines: a cause cut in its
    row (a changed host key's fix, `ssh-keygen -R …`, is at its end: browser9) is read here."""
    if row.result is None or row.state not in _ENDED or row.state == "ok":
        return ""
    return f"<div class='{NO_MATH}'><b>{html.escape(printable(_info(row)))}</b></div>"


def _said(row: TargetRow) -> str:
    """After a row's label: why it failed, or its last line (plain, cut: whole in its
    section, `_cause_html`)."""
    info = cut(printable(_info(row)), 200)
    return (f" · <span class='orch-info {NO_MATH}' style='opacity:0.8'>{html.escape(info)}</span>"
            if info else "")


def _exit(row: TargetRow) -> str:
    """The exit status of a process that exited by itself (a timeout or stop says its cause)."""
    result = row.result
    if result is None or result.returncode is None or result.timed_out or result.interrupted:
        return ""
    return str(result.returncode)


def _audit(row: TargetRow) -> str:
    """The id of the target's audit record ("" before its run or unaudited)."""
    return (row.result.audit_id or "") if row.result is not None else ""


def _output(row: TargetRow) -> str:
    """What a target wrote: to its file in file mode (browser18: every row said 0 B)."""
    result = row.result
    path = result.output_file or result.partial_file if result is not None else None
    if path is not None:
        with contextlib.suppress(OSError):
            return human_size(os.path.getsize(path))
    return human_size(row.bytes)


def final_bundle(live: LiveFleet, result: FleetResult) -> dict[str, str]:
    """The fleet's end: its table, a row per target (at most MAX_ROWS), each expandable."""
    rows = _ranked(list(live.fleet.rows.values()))
    audited = any(_audit(r) for r in rows)  # each row names its record, as `res` does
    body = "".join(
        f"<tr>{HTML_WIDE}<details><summary><span class='orch-label'>{html.escape(r.label)}"
        f"</span>{_said(r)}</summary>"
        f"{_cause_html(r)}{lines_html(*r.view())}</details></td>"
        f"{HTML_SHORT}{r.state}</td>{HTML_SHORT}{r.duration:.1f}s</td>{HTML_SHORT}{_exit(r)}</td>"
        f"{HTML_SHORT}{_output(r)}</td>"
        + (f"{HTML_SHORT}{html.escape(_audit(r) or '-')}</td>" if audited else "") + "</tr>"
        for r in rows[:MAX_ROWS])
    head = "<th style='text-align:left'>target · cause / last line</th>" + "".join(
        f"<th style='width:{_WIDTHS[h]}'>{h}</th>" for h in ("state", "time", "exit", "output",
                                                              *(["audit"] if audited else [])))
    files = "".join(f"<p>{html.escape(line)}</p>" for line in files_said(result))  # browser18
    gone = f"✗ {KERNEL_GONE}" if exiting() else ""  # whatever the rows say, that stopped them
    title = _heading(f"{result.summary()}{' · ' if gone else ''}{gone}", len(rows),
                     min(len(rows), MAX_ROWS))
    return {"text/plain": f"{gone}\n{result.table()}" if gone else result.table(),
            "text/html": f"<div class='orch-fleet'>{title}"
                         f"{HTML_TABLE}<thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
                         f"{HTML_TABLE_END}{files}"
                         f"</div>"}
