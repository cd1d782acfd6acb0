"""A fleet in a cell: one bounded live table in front ends, labelled lines under nbclient.

- Front ends (JupyterLab, Notebook, VS Code): one display, updated at most 10 times a second,
  showing the counts by state and at most `fleet_table.MAX_ROWS` rows (running and failed ones
  first), each expandable to the last lines of its target's output while the fleet runs —
  bounded for 1,000 targets (fleet_table.py). Its end is the FleetResult's table, so the
  result returned to the cell shows nothing more there.
- nbclient / papermill / terminal IPython: `label | line` as lines arrive, bounded as a single
  run's output (a head, then the last lines; the FleetResult keeps every byte), then the
  summary as text.
"""

from __future__ import annotations

import argparse
import collections
import functools
import sys
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from IPython.display import display

from ..admission import Ticket
from ..errors import FleetError, OrchError
from ..fleet import FleetInterrupted, FleetOptions, FleetResult, LiveFleet
from ..fleet.lines import LabelledLines
from ..plan import RunPlan
from ..shutdown import exiting
from ..sinks.lines import CutLine
from ..text import human_size, plural
from .bounded import Limit
from .cells import announce
from .fleet_table import FleetTable
from .frontend import main_thread_caller, quiet, shows_live, update_publisher
from .presenters import KERNEL_GONE

if TYPE_CHECKING:  # runs.py imports this module
    from .runs import Context

#: Seconds between two updates of the live table, at least.
INTERVAL = 0.1


def options(ctx: Context, args: argparse.Namespace, timeout: float | None) -> FleetOptions:
    """The fleet's options from the magic line (a row shows `--tail` lines, else `Orch.tail`)."""
    tail = args.tail if args.tail is not None else ctx.settings.tail
    return FleetOptions.of(args.limit, args.parallel, args.max_fail, timeout, tail)


def run(ctx: Context, args: argparse.Namespace, plan: RunPlan, ticket: Ticket, body: str | None,
        timeout: float | None, deliver: Callable[[FleetResult], object], *,
        background: bool = False, keep_stdin: bool = False,
        with_box: bool = False, in_cell: bool = False) -> FleetResult | LiveFleet:
    """Run a fleet from a magic line: block with a live view, or (`background`: --bg, or a
    streaming service opened with nothing to send) return a named LiveFleet at once, with a
    stdin box writing to every running target when `with_box` (`keep_stdin`: stdin stays
    open for `LiveFleet.send`). A blocking fleet that fails or is interrupted is handed to
    `deliver` (--out, `_`) before the cell raises (`in_cell`: a `%%orch` cell, whose value
    is `_`)."""
    frontend = shows_live(ctx.shell)
    if background or args.bg:
        return _named(ctx, args, plan, ticket, body, timeout, frontend=frontend,
                      keep_stdin=keep_stdin, with_box=with_box)
    headless = None if frontend else LabelledOutput(
        Limit(ctx.settings.headless_lines, ctx.settings.headless_bytes),
        lambda raised, part: f"`{args.out}` (`{args.out}[LABEL].{part}`)" if args.out
        else f"`_` (`_[LABEL].{part}`)" if in_cell or raised  # as runs._deliver puts it
        else f"the returned FleetResult (`[LABEL].{part}`)")
    try:
        live = ctx.orchestrator.fleets.start(  # a --limit matching nothing raises here: no view
            plan, options(ctx, args, timeout), stdin=body, ticket=ticket, front_end="magic",
            close_stdin=not keep_stdin, sinks=headless.sinks if headless else ())
    except FleetInterrupted as exc:  # while its containers were looked up
        deliver(exc.result)
        raise quiet(exc) from None
    view: FleetTable | LabelledOutput = FleetTable(ctx.shell, live) if headless is None \
        else headless
    try:
        result = _wait(live, view)
    except OrchError as exc:  # no container has its label: said by the cell, not the table
        view.failed(live, exc, say=False)
        raise
    except FleetInterrupted as exc:
        view.finish(live, exc.result, raised=True)
        deliver(exc.result)
        if exiting():  # jupyter_client interrupts a kernel it shuts down: not a person's stop
            exc.args = (f"{exc.result.summary()}: {KERNEL_GONE}",)
        raise quiet(exc) from None
    raises = ctx.settings.raise_error and not args.no_raise_error and not result.ok
    view.finish(live, result, raised=raises)
    # the table above is its display: the live one, or the summary as text under nbclient
    # (whose cell showed the HTML table again as its value: fleets10)
    ctx.handles.shown_live(result)
    if raises:
        deliver(result)
        raise quiet(FleetError(result, f"{result.summary()} (the FleetResult has each "
                                       f"target's output; .failed.rerun() runs them again)")
                    ) from None
    return result


def _named(ctx: Context, args: argparse.Namespace, plan: RunPlan, ticket: Ticket, body: str | None,
           timeout: float | None, *, frontend: bool, keep_stdin: bool,
           with_box: bool) -> LiveFleet:
    """A fleet that returns at once is a named run (`--name`, else the service's name): one
    `%orch ps` row with counts by state, `logs` its labelled lines, `stop` stops every target.
    A front end follows it in a live table; without one, one line says so."""
    fleet = options(ctx, args, timeout)
    live = ctx.orchestrator.start(
        plan.environment.name, args.service, plan=plan, name=args.name, stdin=body,
        close_stdin=not keep_stdin, timeout=timeout, ticket=ticket, limit=fleet.limit,
        parallel=fleet.parallel, max_fail=fleet.max_fail, tail=fleet.tail)
    assert isinstance(live, LiveFleet)  # the plan is a fleet's
    deliberate = args.bg or args.name is not None
    ctx.handles.shown_live(live)  # the table, or the one line, is its display in this cell
    if not frontend:  # (basics13: also a `<LiveFleet … running as of …>`, stale once saved)
        announce(live, logs=True)
        return live
    if deliberate:  # a box fleet is the cell's own: running the cell again stops it
        announce(live, logs=False)
    ctx.cells.started(ctx.shell, live, deliberate=deliberate)
    _follow(FleetTable(ctx.shell, live), live, ctx.orchestrator.loop.loop)
    if with_box:
        _stdin_box(ctx, live)
    return live


def _follow(table: FleetTable, live: LiveFleet, loop: Any) -> None:
    """Keep a returned fleet's table up to date from the background loop until it ends."""
    def tick() -> None:
        result, error = live.result(), live.error()
        if result is not None:
            table.finish(live, result)
        elif error is not None:  # no container has its label: the table says so
            table.failed(live, error, say=True)
        else:
            table.refresh(live)
            loop.call_later(INTERVAL, tick)
    loop.call_soon_threadsafe(tick)

    def ended() -> None:  # at a kernel's shutdown its loop closes before the next tick
        result = live.result() if exiting() else None
        if result is not None:
            table.finish(live, result)
    live.when_done(ended)


def _stdin_box(ctx: Context, live: LiveFleet) -> None:
    """A stdin box whose lines go to every running target; static text once all have ended."""
    from .widget import StdinBox  # ipywidgets only when a box is shown

    box = StdinBox(live, whom=f"every running target of {live.plan.name}",
                   echoed=lambda data, lines: live.send(data, echo=lines, wait=False),
                   asks=live.fleet.asking)
    display_id = uuid.uuid4().hex
    display(box.widget, display_id=display_id)
    box.replace_with(update_publisher(ctx.shell, display_id))
    on_main = main_thread_caller(ctx.shell)

    def ended() -> None:
        if exiting():  # said from here, as a single run's box says it: no main loop to ask
            box.leave_text("closed when the kernel shut down")
        else:
            on_main(box.finish)
    live.when_done(ended)


def _wait(live: LiveFleet, view: FleetTable | LabelledOutput) -> FleetResult:
    """Block until every target has ended; Ctrl-C / a kernel interrupt stops them all."""
    try:
        return live.wait(tick=lambda: view.refresh(live))
    except FleetInterrupted:
        raise
    except KeyboardInterrupt:  # arrived while the view was drawn, outside LiveFleet.wait
        live.stop()
        raise FleetInterrupted(live.wait(tick=lambda: view.refresh(live))) from None


#: Targets whose first stderr line a headless fleet keeps aside at most (`LabelledOutput`).
FIRST_LINES = 50


class LabelledOutput:
    """Without a front end: `label | line` written from the cell's thread, bounded as one
    run's output is (`Orch.headless_lines` / `headless_bytes`, counted in UTF-8 bytes): the
    head's share as lines arrive, the tail's at the end (`Limit.split`: together the limit), a
    note of what was elided between and `where(raised)` every byte is (the FleetResult:
    `--out`'s name, `_`, or the magic's value). A line longer than the share it goes to is
    cut."""

    def __init__(self, limit: Limit, where: Callable[[bool, str], str]) -> None:
        self.head, self.tail = limit.split()
        self.where = where
        self._lock = threading.Lock()
        self._pending: list[tuple[bool, str]] = []
        self._last: collections.deque[tuple[bool, str, int]] = collections.deque()
        self._in_tail = False
        self.shown = [0, 0]  # lines, bytes of the head
        self.kept = [0, 0]  # of the tail, as kept (cut lines count what is shown)
        self.elided = [0, 0]  # of what was dropped, as it came
        self.steps_shown, self.steps_elided = [0, 0], [0, 0]  # the pre/post commands' lines
        #: Each target's first stderr line that came once the head was full: written at the
        #: head's end if the tail lost it, as one run's is (fleets23: an error was elided).
        self._firsts: list[tuple[bool, str, int]] = []
        self._erred: set[str] = set()  # the targets whose first stderr line came

    def sinks(self, label: str) -> tuple[LabelledLines]:
        return (LabelledLines(label, functools.partial(self._add_lines, label),
                              steps=self._add_step_lines),)

    def _add_step_lines(self, is_err: bool, lines: list[str]) -> None:
        """A pre/post command's lines: bounded on their own (the head's share of the limit,
        then counted), so a noisy step never pushes the command's lines out (fleets23)."""
        with self._lock:
            for line in lines:
                size = _size(line) + 1
                if _room(self.head, self.steps_shown, size):
                    self._to_head(is_err, line, self.steps_shown)
                else:
                    self.steps_elided[0] += 1
                    self.steps_elided[1] += size

    def _add_lines(self, label: str, is_err: bool, lines: list[str]) -> None:
        for line in lines:
            self._add(label, is_err, line)

    def _add(self, label: str, is_err: bool, line: str) -> None:
        size = _size(line) + 1
        with self._lock:
            first = is_err and label not in self._erred  # its first error line
            if first:
                self._erred.add(label)
            if not self._in_tail and _room(self.head, self.shown, size):
                self._to_head(is_err, line, self.shown)
                return
            self._in_tail = True
            kept = _cut(line, self.tail)
            self._last.append(entry := (is_err, kept, size))
            if first and len(self._firsts) < FIRST_LINES:
                self._firsts.append(entry)
            self.kept[0] += 1
            self.kept[1] += len(kept.encode("utf-8", "replace")) + 1
            while len(self._last) > 1 and not _room(self.tail, self.kept):
                _, dropped, came = self._last.popleft()
                self.kept[0] -= 1
                self.kept[1] -= len(dropped.encode("utf-8", "replace")) + 1
                self.elided[0] += 1
                self.elided[1] += came

    def _to_head(self, is_err: bool, line: str, used: list[int]) -> None:
        """Write `line` (cut to the head's share) with the next refresh, counted in `used`
        (lines, bytes: the command's, or the steps'). Under the lock."""
        shown = _cut(line, self.head)
        self._pending.append((is_err, shown))
        used[0] += 1
        used[1] += len(shown.encode("utf-8", "replace")) + 1

    def refresh(self, live: LiveFleet | None = None) -> None:
        """Write the lines that came since the last time (on the cell's thread)."""
        with self._lock:
            pending, self._pending = self._pending, []
        _print(pending)

    def failed(self, live: LiveFleet, error: BaseException, *, say: bool) -> None:
        """No target ran (no container has its label): the cell says why."""
        self.refresh()

    def finish(self, live: LiveFleet, result: FleetResult, raised: bool = False) -> None:
        """The rest, each target's first error line the tail lost, the note, the tail and the
        table (`raised`: the magic raises next)."""
        self.refresh()
        with self._lock:
            kept = {id(entry) for entry in self._last}
            rescued = [entry for entry in self._firsts if id(entry) not in kept]
            for _, _, came in rescued:
                self.elided[0] -= 1
                self.elided[1] -= came
        _print([(is_err, line) for is_err, line, _ in rescued])
        if self.steps_elided[0]:
            print(f"… {plural(self.steps_elided[0], 'line')} / "
                  f"{human_size(self.steps_elided[1])} of pre/post commands elided; full "
                  f"output in {self.where(raised, 'steps')}")
        if self.elided[0]:
            print(f"… {self.elided[0]} line{'' if self.elided[0] == 1 else 's'} / "
                  f"{human_size(self.elided[1])} elided; full output in "
                  f"{self.where(raised, 'stdout')} "
                  f"(limit: %config Orch.headless_lines / headless_bytes)")
        with self._lock:
            last, self._last = [(e, line) for e, line, _ in self._last], collections.deque()
        _print(last)
        if exiting():
            print(f"✗ {KERNEL_GONE}")
        print(result.table())


def _room(limit: Limit, used: list[int], size: int = 0) -> bool:
    """Whether `used` (lines, bytes) leaves room for one more line of `size` bytes (0: is
    within the limit); the first line always has room (it is cut if it must be)."""
    lines = 1 if size else 0
    return ((limit.lines is None or used[0] + lines <= limit.lines)
            and (limit.size is None or used[1] + size <= limit.size or used[1] == 0))


def _size(line: str) -> int:
    """The bytes of `line` as it came: a CutLine counts what it did not keep (as characters,
    one byte each)."""
    return len(line.encode("utf-8", "replace")) + (line.dropped if isinstance(line, CutLine) else 0)


def _cut(line: str, limit: Limit) -> str:
    """`line` (a CutLine marked), cut to `limit`'s bytes when it alone is longer, saying how
    many more bytes the line had."""
    text = line.marked() if isinstance(line, CutLine) else line
    data = text.encode("utf-8", "replace")
    if limit.size is None or len(data) < limit.size:
        return text
    kept = data[:max(limit.size - 1, 0)].decode("utf-8", "ignore")  # not half a character
    return f"{kept}… ({_size(line) - len(kept.encode()):,} more bytes)"


def _print(lines: list[tuple[bool, str]]) -> None:
    """Write `(is_err, line)` pairs to the cell's stderr or stdout, in order: a kernel sends
    each stream's buffer on its own, so one is flushed before the other is written to, and
    both before what follows (the summary table came before the last stderr lines)."""
    last = None
    for is_err, line in lines:
        stream = sys.stderr if is_err else sys.stdout
        if last is not None and stream is not last:
            last.flush()
        print(line, file=stream)
        last = stream
    if last is not None:
        last.flush()
