"""A run from a %orch / %%orch line: plan it, present it, block or return a live handle.

- In a front end with stdin, runs opened with nothing to send yet (the line form of a
  streaming/interactive service) or given --stdin return at once with a live handle and a stdin
  box, because widget callbacks never run while a cell executes; --bg backgrounds any run.
- Every other run blocks like %%bash, so "Run all" keeps a runbook in order; Ctrl-C / a kernel
  interrupt stops the whole chain and keeps the output so far.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from IPython.core.error import UsageError
from IPython.display import display

from ..admission import Ticket
from ..arguments import parse_env_pairs
from ..config.model import StdinMode
from ..engine import RunOptions
from ..errors import ConfigError, OrchError, RunError, RunInterrupted, RunTimeout
from ..fleet import FleetOptions, LiveFleet
from ..fleet.select import read_limit
from ..fleet.targets import planned
from ..guard import ConfirmationRefused, check_allowed
from ..lifecycle import NamedRun
from ..live import LiveRun
from ..orchestrator import Orchestrator
from ..plan import RunPlan
from ..result import RunResult
from ..run_names import check_name, choose
from ..secrets.masking import mask_text
from ..shutdown import exiting
from ..sinks.display import DisplaySink
from . import fleet_view
from .bounded import Limit
from .cells import CellRuns, announce
from .dry_run import dry_run_text
from .frontend import main_thread_caller, quiet, set_last, shows_live, update_publisher
from .handles import HandleDisplay
from .headless import HeadlessOutput
from .out_name import check_out_name
from .parser import doubled
from .presenters import KERNEL_GONE, HeadlessPresenter, LivePresenter, Presenter
from .settings import Orch


@dataclass(frozen=True)
class Context:
    """What every run of one shell shares."""

    shell: Any
    settings: Orch
    orchestrator: Orchestrator
    handles: HandleDisplay
    cells: CellRuns
    returns: bool  # the value goes back to the calling code, not to `_` (see _deliver)


def run(ctx: Context, args: argparse.Namespace, cell: str | None) -> Any:
    """Run what the parsed line asks for; returns the magic's value."""
    _check(args)
    ctx.orchestrator.config.run_environment(args.environment)  # said before anything else
    script = _script(args, cell)
    body = cell if script is None and cell else None
    plan, plan_of = _unresolved(ctx.orchestrator, args, script)
    takes_stdin, frontend, background = _modes(ctx, args, plan, body or script)
    with_box = frontend and takes_stdin and ctx.settings.stdin_widget
    args.limit = read_limit(args.limit)  # once: what is confirmed runs (fleets14)
    fleet = FleetOptions.of(args.limit, args.parallel, args.max_fail).for_plan(plan) is not None
    if args.dry_run:
        ctx.cells.left_alone(ctx.shell)
        return print(dry_run_text(plan, body, background or args.bg, with_box, frontend,
                                  planned(plan.layers_to_run, args.limit) if fleet else None))
    # Orch.timeout bounds what a cell waits for: a --bg or stdin-box run goes on, as one of
    # `%orch start` does (notebook5: the default killed one and not the other)
    timeout = args.timeout if args.timeout is not None else \
        None if background or args.bg else ctx.settings.timeout
    # Admitted before anything is shown: a protected environment asks first. Then the runs
    # this cell started when it last ran are stopped (a refused answer leaves them running).
    try:
        ticket = ctx.orchestrator.fleets.admit(plan, fleet_view.options(ctx, args, timeout),
                                               args.yes, "magic") if fleet else \
            ctx.orchestrator.admit(plan, yes=args.yes, front_end="magic")
    except ConfirmationRefused:
        ctx.cells.left_alone(ctx.shell)
        raise
    outlived = ctx.cells.rerun(ctx.shell, ctx.orchestrator.stop)
    if args.name and any(n == args.name or n.startswith(f"{args.name}-") for n in outlived):
        # its --name run from last time (NAME, or NAME-1 after two: magics14) goes on
        args.name = choose(None, args.name, lambda taken: ctx.orchestrator.runs.running(taken)
                           or ctx.orchestrator.fleets.running(taken))
    resolved = ctx.orchestrator.gate.resolved(plan, ticket, plan_of)
    if fleet:
        many = fleet_view.run(ctx, args, resolved, ticket, body, timeout, lambda failed: _deliver(
            ctx, args, failed, raised=True), background=background,
            keep_stdin=background and takes_stdin, with_box=with_box, in_cell=not ctx.returns)
        return _deliver(ctx, args, many)
    plan = resolved
    if args.bg and not frontend:  # headless: a named run whose output stays out of the cells
        return _deliver(ctx, args, _headless_bg(ctx, args, plan, body, timeout, ticket, takes_stdin))
    # A background run is a named run: its result keeps the end of the output, not all of it.
    keeps = ctx.orchestrator.capture_limit if background else None
    presenter = _presenter(ctx, args, plan, frontend, keeps)
    kw: dict[str, Any] = dict(command=script, sinks=presenter.sinks, plan=plan, stdin=body,
                              close_stdin=not (background and takes_stdin), timeout=timeout,
                              ticket=ticket)
    live = _started(ctx, args, presenter, lambda: ctx.orchestrator.start(
        plan.environment.name, args.service, name=args.name, **kw) if background
        else ctx.orchestrator.spawn(plan.environment.name, args.service, **kw))
    presenter.view.follow(live)
    if background:
        try:
            _shown(ctx, args, live, presenter, with_box)
        except KeyboardInterrupt:  # the cell has not returned yet: stopped, as while it starts
            live.interrupt()
            _interrupted(ctx, args, presenter, RunInterrupted(live.wait()))
        return _deliver(ctx, args, live)
    return _blocking(ctx, live, presenter, args)


def _shown(ctx: Context, args: argparse.Namespace, live: LiveRun, presenter: Presenter,
           with_box: bool) -> None:
    """A background run's cell: said, tracked, and followed (with its box) after it returns."""
    deliberate = args.bg or args.name is not None
    ctx.cells.started(ctx.shell, live, deliberate=deliberate)
    if deliberate:  # a box run is the cell's own: running the cell again stops it
        announce(live, logs=False)
    elif not with_box:  # browser19: no box (Orch.stdin_widget off), and the cell said nothing
        print(f"started in the background as {live.name}, waiting for its stdin: "
              f"h = %orch status {live.name}, then h.send_line(…) and h.close_stdin(); "
              f"%orch stop {live.name} stops it")
    _background(ctx, live, presenter, with_box)


def _started(ctx: Context, args: argparse.Namespace, presenter: Presenter,
             start: Callable[[], LiveRun | LiveFleet]) -> LiveRun:
    """The run `start()` began; the status line ends when it was refused (e.g. --name taken),
    and a kernel interrupt while it started stopped it: said as once it runs."""
    try:
        live = start()
    except OrchError as exc:
        presenter.finish(None, str(exc))
        raise
    except RunInterrupted as exc:
        _interrupted(ctx, args, presenter, exc)
    assert isinstance(live, LiveRun)  # fleets went to fleet_view
    return live


def _interrupted(ctx: Context, args: argparse.Namespace, presenter: Presenter,
                 exc: RunInterrupted) -> NoReturn:
    """Say a run a kernel interrupt stopped as one line (no traceback), its result kept."""
    if exiting():  # jupyter_client interrupts a kernel it shuts down: not a person's stop
        exc.at_shutdown()
    _deliver(ctx, args, exc.result, raised=True)  # first, as _blocking does
    with contextlib.suppress(KeyboardInterrupt):  # a second ■ in the last flush: one line
        presenter.finish(exc.result, raised=True)
    raise quiet(exc) from None


def _modes(ctx: Context, args: argparse.Namespace, plan: RunPlan, given: str | None
           ) -> tuple[bool, bool, bool]:
    """Whether the run takes a live stdin, is shown live (a front end), and runs in the
    background; a --name on a run that blocks the cell is refused (it would name nothing)."""
    # A live stdin (box + handle) is for runs opened with nothing to send yet (the line form)
    # or asked for with --stdin; a cell body is the input: sent, then EOF, and the cell blocks.
    takes_stdin = plan.stdin_mode in ("streaming", "interactive") and (
        args.stdin is True or not given)
    frontend = shows_live(ctx.shell)
    if not frontend and args.stdin is True and takes_stdin:  # magics19: papermill, %%capture:
        args.bg = True  # an explicit --stdin keeps stdin open for the handle, as with --bg
    background = frontend and (args.bg or takes_stdin)
    if args.name is not None and not (background or args.bg):
        raise UsageError(f"--name names a run in the background, and this one blocks the cell:"
                         f" add --bg, or %orch start {args.environment} SERVICE --name "
                         f"{args.name}")
    return takes_stdin, frontend, background


def _unresolved(orch: Orchestrator, args: argparse.Namespace, script: str | None
                ) -> tuple[RunPlan, Callable[[], RunPlan]]:
    """The run's plan unresolved, to be shown and admitted before any secret provider is
    asked (the allow lists first, before the cell stops anything), and how to resolve it."""
    plan_of = functools.partial(_plan, orch, args, script)
    plan = plan_of(dry_run=True)
    if not args.dry_run:
        check_allowed(plan)
    return plan, plan_of


def _check(args: argparse.Namespace) -> None:
    if not args.environment:
        raise UsageError("usage: %orch ENV SERVICE [options] or %%orch ENV [SERVICE] "
                         "[options]; see %orch --help (environments: %orch envs)")
    if args.out is not None:
        check_out_name(args.out)
    try:  # before anything is shown (a status line of a run that never started)
        if args.name is not None:  # in every mode (headless, --bg blocks and names none)
            check_name(args.name)
        if args.timeout is not None:
            RunOptions(timeout=args.timeout)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if args.tail is not None and args.tail < 0:
        raise UsageError("--tail needs a number of lines >= 0")


def _script(args: argparse.Namespace, cell: str | None) -> str | None:
    """The cell body as a script when no service is named (then a body is required)."""
    if args.service is not None:
        return None
    if cell is not None and not cell.strip():
        raise UsageError(f"the cell is empty: write the script to run below "
                         f"%%orch {args.environment}, or name a SERVICE")
    if cell is None:
        raise UsageError(f"%orch {args.environment} needs a SERVICE; to run a script, use "
                         f"%%orch {args.environment} with the script as the cell body")
    return cell.strip("\n")


def _plan(orch: Orchestrator, args: argparse.Namespace, script: str | None, *,
          dry_run: bool = False) -> RunPlan:
    extra = {key: doubled(value)  # its ConfigError is shown as a UsageError
             for key, value in parse_env_pairs(args.env).items()}
    mode: StdinMode | None
    if args.stdin is True:
        mode = "streaming"
        if args.service:
            service_mode = orch.config.service(args.service).stdin_mode
            mode = service_mode if service_mode != "none" else "streaming"
    elif args.stdin is False:
        mode = "none"
    else:
        mode = "none" if script is not None else None
    try:
        return orch.plan(args.environment, args.service, command=script, env=extra or None,
                         stdin_mode=mode, dry_run=dry_run)
    except KeyboardInterrupt as exc:  # at a secret's prompt or command (browser13: 60 lines
        raise UsageError(str(exc) or "not run: interrupted at the secret prompt") from None


def _presenter(ctx: Context, args: argparse.Namespace, plan: RunPlan, frontend: bool,
               result_keeps: int | None) -> Presenter:
    settings = ctx.settings
    what = plan.service.name if plan.service else _short(plan.command.display())
    tail = args.tail if args.tail is not None else settings.tail
    sink = DisplaySink(environment=plan.environment.name, layers=plan.environment.describe(),
                       what=what, tail=tail if frontend else 0, stdout_mode=plan.stdout_mode,
                       interval=settings.update_interval, result_keeps=result_keeps)
    sink.starting()  # until `run` hands it the run
    if frontend:
        return LivePresenter(ctx.shell, sink, ctx.orchestrator.loop.loop)
    output = HeadlessOutput(Limit(settings.headless_lines, settings.headless_bytes),
                            show_stdout=plan.stdout_mode not in ("capture", "file"))
    return HeadlessPresenter(sink, output, lambda raised: (
        f"`{args.out}.stdout` / `.stderr`" if args.out
        else "`_.stdout` / `_.stderr`" if not ctx.returns or raised  # see _deliver
        else "the returned RunResult (`.stdout` / `.stderr`)"))


def _background(ctx: Context, live: LiveRun, presenter: Presenter, with_box: bool) -> None:
    """The cell returns; the display (and the box) keep following the run until it ends, a
    named run's restarts included (following.py)."""
    from .following import CellFollower, FollowedRun
    from .widget import StdinBox  # ipywidgets only when a box is shown

    assert isinstance(live, NamedRun)  # a background run is a named run
    ctx.handles.shown_live(live)
    followed = FollowedRun(live)
    box = StdinBox(followed, presenter.view) if with_box else None
    if box is not None:
        display_id = uuid.uuid4().hex
        display(box.widget, display_id=display_id)
        box.replace_with(update_publisher(ctx.shell, display_id))
    on_main = main_thread_caller(ctx.shell)

    def ended(last: NamedRun | None, error: BaseException | None) -> None:
        if exiting():  # said while IOPub still sends; the widgets' loop is gone
            presenter.view.finish(KERNEL_GONE, False)
            if box is not None:
                box.leave_text("closed when the kernel shut down")
            return
        result = None
        if last is not None and error is None:
            result = last.result()
        elif isinstance(error, OrchError):  # nothing started: say its id too
            result, error = (last or live).unstarted(error), None
        if box and result and result.never_ran and (last or live).attempt == 1:  # a stop or
            box.never_started()  # a timeout first too (browser24: it said "1 line sent")
        presenter.finish(result, None if error is None else str(error))
        if box is not None:
            on_main(box.finish)

    live.supervisor.follow(CellFollower(followed, presenter, box, on_main, ended), live)


def _headless_bg(ctx: Context, args: argparse.Namespace, plan: RunPlan, body: str | None,
                 timeout: float | None, ticket: Ticket, keep_stdin: bool) -> LiveRun:
    """`--bg` without a front end (nbclient, papermill): a named run said in one line, its
    output `%orch logs NAME`'s, its stdin open if it takes one, as in a front end."""
    live = ctx.orchestrator.start(plan.environment.name, args.service, name=args.name,
                                  plan=plan, stdin=body, close_stdin=not keep_stdin,
                                  timeout=timeout, ticket=ticket)
    assert isinstance(live, LiveRun)  # fleets went to fleet_view
    announce(live, logs=True)
    ctx.handles.shown_live(live)  # as the cell's value, no stale second line (magics12)
    return live


def _blocking(ctx: Context, live: LiveRun, presenter: Presenter, args: argparse.Namespace) -> Any:
    try:
        result = _wait(live, presenter)
    except RunInterrupted as exc:
        _interrupted(ctx, args, presenter, exc)
    except OrchError as exc:  # nothing started (a hop unreachable): a result all the same,
        result, error = live.unstarted(exc), exc  # and that error is the one raised
    else:
        if result.interrupted and exiting():  # a shutdown request alone stopped it (magics25:
            _interrupted(ctx, args, presenter, RunInterrupted(result))  # "RunError: …")
        error = RunTimeout(result) if result.timed_out else RunError(result)
    raised = ctx.settings.raise_error and not args.no_raise_error and not result.ok
    value = _deliver(ctx, args, result, raised=raised)  # first: `--out` holds it whatever comes
    try:
        presenter.finish(result, raised=raised)
    except KeyboardInterrupt:  # magics21: an interrupt as the run ended, in the view's last
        _deliver(ctx, args, result, raised=True)  # flush, was a 40-line traceback
        raise quiet(RunInterrupted(result)) from None
    if raised:
        raise quiet(error) from None
    return value


def _wait(live: LiveRun, presenter: Presenter) -> RunResult:
    """Block until the run ends; Ctrl-C / kernel interrupt stops the whole chain, and the
    view says `stopping…` while INT → TERM → KILL goes on, as after its Stop button."""
    def tick() -> None:
        if live.stopping and not presenter.view.stopping:
            presenter.view.note_stopping()
        presenter.poll()

    try:
        return live.wait(tick=tick)
    except RunInterrupted:
        raise
    except KeyboardInterrupt:  # arrived in a tick, outside LiveRun.wait's own slices
        live.interrupt()
        raise RunInterrupted(live.wait(tick=tick)) from None


def _deliver(ctx: Context, args: argparse.Namespace, value: object, raised: bool = False) -> Any:
    """--out VAR and `_`; the line form (and a cell magic code calls) returns the value (so
    `r = %orch …` works), or, when the magic raises instead, moves `_` to it too."""
    if args.out:
        ctx.shell.user_ns[args.out] = value
    if not ctx.returns or raised:
        set_last(ctx.shell, value)
        return None
    return value


def _short(text: str, width: int = 40) -> str:
    """The first line of a cell's script, cut to `width`, for its status line: masked before
    it is cut (safety21: a secret the cut fell inside showed in part, as review36's was)."""
    text = mask_text(text)
    first = text.strip().splitlines()[0] if text.strip() else text
    if len(first) > width or len(text.strip().splitlines()) > 1:
        return first[:width - 1].rstrip() + "…"
    return first
