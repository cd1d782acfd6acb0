"""The %orch / %%orch magics: run a service (or a script) in an environment from a cell.

How a run behaves depends on where the cell runs:

- In a front end with stdin (JupyterLab, Notebook, VS Code): output streams into the cell as a
  bounded tail updated ~10×/s. Runs that take stdin (stdin_mode streaming/interactive, or
  --stdin) return at once with a live handle and a stdin box, because widget callbacks never
  run while a cell executes; `--bg` backgrounds any run; other runs block like %%bash.
- Under nbclient/papermill (allow_stdin false) and terminal IPython: every run blocks and its
  whole output is written to the cell as stdout/stderr, so an executed notebook keeps it.
"""

from __future__ import annotations

import concurrent.futures
import shlex
import sys
import threading
import uuid
from collections.abc import Sequence
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from ..config.loader import demo_config_files
from ..errors import OrchError, RunError, RunInterrupted, RunTimeout
from ..live import LiveRun
from ..orchestrator import Orchestrator
from ..plan import RunPlan, parse_env_pairs
from ..result import RunResult
from ..sinks.display import DisplaySink, describe_end, render_html
from .frontend import (
    has_frontend_stdin,
    main_thread_caller,
    quiet,
    set_last,
    update_publisher,
)
from .settings import Orch

SUBCOMMANDS = ("load", "start", "ps", "logs", "stop", "restart", "status", "envs", "services")
RUN_SUBCOMMANDS = ("logs", "stop", "restart", "status")
VALUE_OPTIONS = ("--out", "--timeout", "--tail", "-e", "--env", "--name")
OPTIONS = ("--out", "--bg", "--stdin", "--no-stdin", "--timeout", "--tail", "--no-raise-error",
           "--dry-run", "-e", "--name")


@magics_class
class OrchMagics(Magics):
    """Holds one Orchestrator per shell: its config, and its named (background) runs."""

    def __init__(self, shell: Any, settings: Orch,
                 orchestrator: Orchestrator | None = None) -> None:
        super().__init__(shell)
        self.settings = settings
        self.orchestrator = orchestrator or Orchestrator()

    # ---- the magic --------------------------------------------------------------------------
    @magic_arguments()
    @argument("environment", nargs="?", help="Environment to run in (see %%orch envs).")
    @argument("service", nargs="?",
              help="Service to run (see %%orch services). Without it, %%%%orch runs the cell "
                   "body as a shell script in the environment.")
    @argument("--out", metavar="VAR",
              help="Store the RunResult in VAR (the live handle for runs that return at once).")
    @argument("--bg", action="store_true",
              help="Return at once with a live handle; output keeps streaming into the cell.")
    @argument("--stdin", dest="stdin", action="store_const", const=True, default=None,
              help="Keep stdin open for the stdin box / handle.send(), whatever the service's "
                   "stdin_mode.")
    @argument("--no-stdin", dest="stdin", action="store_const", const=False,
              help="Send the cell body (if any), then EOF, and block like %%%%bash.")
    @argument("--timeout", type=float, metavar="S", help="Stop the run after S seconds.")
    @argument("--tail", type=int, metavar="N", help="Lines shown in the cell (default: "
                                                    "Orch.tail).")
    @argument("--no-raise-error", action="store_true",
              help="Do not raise RunError when the run fails (the result says how it ended).")
    @argument("--dry-run", action="store_true",
              help="Show the composed layers and command without running anything.")
    @argument("-e", "--env", dest="env", action="append", default=[], metavar="KEY=VAL",
              help="Set a variable for the command (repeatable).")
    @argument("--name", metavar="NAME", help="Name of a background run (for ps/logs/stop).")
    @line_cell_magic
    def orch(self, line: str, cell: str | None = None) -> Any:
        """Run a service, or a cell of shell script, in an environment.

        %%orch ENV SERVICE [options]   the cell body is the service's stdin
        %%orch ENV [options]           the cell body is a shell script run in ENV
        %orch ENV SERVICE [options]    line form; `r = %orch ENV SERVICE` keeps the result

        Management:
        %orch load FILE [FILE ...]     load environments/services (--demo: the built-in demo)
        %orch envs | %orch services    list what is configured
        %orch start ENV SERVICE [--name N]  run in the background under a name (any front end)
        %orch ps                       named runs (started with start, --bg or taking stdin)
        %orch logs NAME [-n N] [-f]    kept output of a named run (-f/--follow: until it ends)
        %orch stop NAME | restart NAME | status NAME
        """
        line = _strip_comment(line)  # `%orch load --demo  # note` is fine
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"cannot parse the magic line: {exc}") from None
        try:
            if words and words[0] in SUBCOMMANDS:
                if cell is not None:
                    raise UsageError(f"%orch {words[0]} is a line magic; use one % sign")
                return getattr(self, f"_cmd_{words[0]}")(words[1:])
            args = parse_argstring(self.orch, line)
            return self._run(args, cell)
        except OrchError as exc:
            if isinstance(exc, RunError) or hasattr(exc, "_render_traceback_"):
                raise  # already shown without a traceback
            raise UsageError(str(exc)) from None  # config, names: user mistakes

    # ---- runs -------------------------------------------------------------------------------
    def _run(self, args: Any, cell: str | None) -> Any:
        shell, settings, orch = self.shell, self.settings, self.orchestrator
        if not args.environment:
            raise UsageError("usage: %orch ENV SERVICE [options] or %%orch ENV [SERVICE] "
                             "[options]; see %orch? (environments: %orch envs)")
        if args.out is not None and not args.out.isidentifier():
            raise UsageError(f"--out needs a Python variable name, not {args.out!r}")
        script = None
        if args.service is None:
            if cell is None or not cell.strip():
                raise UsageError(f"%orch {args.environment} needs a SERVICE; to run a script, "
                                 f"use %%orch {args.environment} with the script as the cell "
                                 "body")
            script = cell.strip("\n")
        body = cell if script is None and cell else None
        plan = self._plan(args, script)
        # A live stdin (box + handle) is for runs opened with nothing to send yet (the line
        # form) or asked for with --stdin; a cell body is the input: sent, then EOF, and the
        # cell blocks, so "Run all" keeps a runbook in order.
        takes_stdin = plan.stdin_mode in ("streaming", "interactive") and (
            args.stdin is True or not (body or script))
        frontend = has_frontend_stdin(shell)
        background = frontend and (args.bg or takes_stdin)
        with_box = frontend and takes_stdin and settings.stdin_widget
        if args.dry_run:
            return self._dry_run(plan, body, background, with_box, frontend)

        timeout = args.timeout if args.timeout is not None else settings.timeout
        tail = args.tail if args.tail is not None else settings.tail
        if tail < 0:
            raise UsageError("--tail needs a number of lines >= 0")
        raise_error = settings.raise_error and not args.no_raise_error
        close_stdin = not (background and takes_stdin)
        what = plan.service.name if plan.service else _short(plan.command.display())
        sink = DisplaySink(environment=plan.environment.name,
                           layers=plan.environment.describe(), what=what, tail=tail,
                           stdout_mode=plan.stdout_mode, interval=settings.update_interval,
                           keep_pending=not frontend)
        if frontend:
            display_id = uuid.uuid4().hex
            display(sink.render(), raw=True, display_id=display_id)
            sink.set_publisher(update_publisher(shell, display_id))

        kw: dict[str, Any] = dict(command=script, sinks=[sink], plan=plan, stdin=body,
                                  close_stdin=close_stdin, timeout=timeout)
        if background:
            live = orch.start(plan.environment.name, args.service, name=args.name, **kw)
            return self._background(live, sink, args, cell, with_box)
        live = orch.spawn(plan.environment.name, args.service, **kw)
        return self._blocking(live, sink, args, cell, frontend, raise_error)

    def _plan(self, args: Any, script: str | None) -> RunPlan:
        extra = parse_env_pairs(args.env)  # its ConfigError is shown as a UsageError
        mode: str | None
        if args.stdin is True:
            mode = "streaming"
            if args.service:
                service_mode = self.orchestrator.config.service(args.service).stdin_mode
                mode = service_mode if service_mode != "none" else "streaming"
        elif args.stdin is False:
            mode = "none"
        else:
            mode = "none" if script is not None else None
        return self.orchestrator.plan(args.environment, args.service, command=script,
                                      env=extra or None, stdin_mode=mode)

    def _dry_run(self, plan: RunPlan, body: str | None, background: bool, with_box: bool,
                 frontend: bool) -> None:
        lines = [plan.describe()]
        if body:
            lines.append(f"stdin data:  {len(body.encode())} bytes from the cell body")
        if background:
            how = "returns at once with a live handle" + (" and a stdin box" if with_box else "")
        else:
            how = "blocks until the run ends" + ("" if frontend else " (no front-end stdin)")
        lines.append(f"in this cell: {how}")
        print("\n".join(lines))
        return None

    def _background(self, live: LiveRun, sink: DisplaySink, args: Any, cell: str | None,
                    with_box: bool) -> Any:
        from .widget import StdinBox  # ipywidgets only when a box is shown

        box = StdinBox(live, sink) if with_box else None
        if box is not None:
            display(box.widget)
        on_main = main_thread_caller(self.shell)

        def watch() -> None:
            result = None
            try:
                result = live.wait()
            except RunInterrupted as exc:
                result = exc.result
            except BaseException as exc:  # the chain broke before a result existed
                sink.finish(f"failed: {exc}", False)
            if result is not None:
                sink.finish(*describe_end(result))
            if box is not None:
                on_main(box.finish)

        threading.Thread(target=watch, name=f"orch-watch-{live.name}", daemon=True).start()
        return self._deliver(args, live, cell)

    def _blocking(self, live: LiveRun, sink: DisplaySink, args: Any, cell: str | None,
                  frontend: bool, raise_error: bool) -> Any:
        try:
            result = self._wait(live, sink, frontend)
        except RunInterrupted as exc:
            self._end(sink, exc.result, frontend)
            self._deliver(args, exc.result, cell)
            raise quiet(exc) from None
        except OrchError as exc:
            self._end(sink, None, frontend, f"failed: {exc}")
            raise quiet(exc) from None
        self._end(sink, result, frontend)
        value = self._deliver(args, result, cell)
        if raise_error and not result.ok:
            error = RunTimeout(result) if result.timed_out else RunError(result)
            raise quiet(error) from None
        return value

    def _wait(self, live: LiveRun, sink: DisplaySink, frontend: bool) -> RunResult:
        """Block until the run ends; Ctrl-C / kernel interrupt stops the whole chain."""
        try:
            while True:
                try:
                    return live.wait(0.1)
                except concurrent.futures.TimeoutError:
                    pass
                if not frontend:
                    _pump(sink)
        except RunInterrupted:
            raise
        except KeyboardInterrupt:  # arrived outside LiveRun.wait
            live.interrupt()
            raise RunInterrupted(live.wait()) from None

    def _end(self, sink: DisplaySink, result: RunResult | None, frontend: bool,
             verdict: str | None = None) -> None:
        state, ok = describe_end(result) if verdict is None else (verdict, False)
        sink.finish(state, ok)
        if not frontend:
            _pump(sink, final=True)
            snap = sink.snapshot()
            display({"text/plain": f"[{snap.status}]",
                     "text/html": render_html(_status_only(snap))}, raw=True)

    def _deliver(self, args: Any, value: object, cell: str | None) -> Any:
        """--out VAR and `_`; the line form returns the value (so `r = %orch …` works)."""
        if args.out:
            assert self.shell is not None
            self.shell.user_ns[args.out] = value
        if cell is not None:
            set_last(self.shell, value)
            return None
        return value

    # ---- management subcommands ---------------------------------------------------------
    def _cmd_load(self, words: Sequence[str]) -> None:
        files = [w for w in words if w != "--demo"]
        if "--demo" in words:
            files = [*map(str, demo_config_files()), *files]
        config = self.orchestrator.load(*files)
        print(f"loaded {len(config.environments)} environment(s) "
              f"({', '.join(config.environments) or 'none'}) and {len(config.services)} "
              f"service(s) ({', '.join(config.services) or 'none'}) from "
              f"{', '.join(config.files)}")

    def _cmd_envs(self, words: Sequence[str]) -> None:
        _no_args("envs", words)
        config = self.orchestrator.config
        print(_table(("ENVIRONMENT", "LAYERS", "DESCRIPTION"),
                     [(e.name, e.describe(), e.description or "")
                      for e in config.environments.values()]))

    def _cmd_services(self, words: Sequence[str]) -> None:
        _no_args("services", words)
        config = self.orchestrator.config
        print(_table(("SERVICE", "STDIN", "STDOUT", "DESCRIPTION"),
                     [(s.name, s.stdin_mode, s.stdout_mode, s.description or "")
                      for s in config.services.values()]))

    def _cmd_ps(self, words: Sequence[str]) -> None:
        _no_args("ps", words)
        rows = [info.as_row() for info in self.orchestrator.ps()]
        if not rows:
            print("no named runs (runs started with --bg or taking stdin are listed here)")
            return
        print(_table(("NAME", "ENV", "SERVICE", "STATE", "PID", "ELAPSED", "EXIT"), rows))

    def _cmd_start(self, words: Sequence[str]) -> LiveRun:
        """A named background run, in every front end (also nbclient): output goes to the
        run's ring buffer and log file, read with %orch logs."""
        words = list(words)
        name = None
        if "--name" in words:
            i = words.index("--name")
            if i + 1 >= len(words):
                raise UsageError("--name needs a NAME")
            name = words[i + 1]
            del words[i:i + 2]
        if len(words) != 2 or any(w.startswith("-") for w in words):
            raise UsageError("usage: %orch start ENV SERVICE [--name NAME]")
        environment, service = words
        live = self.orchestrator.start(environment, service, name=name)
        print(f"started {live.name} ({environment}/{service}); see %orch ps, "
              f"%orch logs {live.name}, %orch stop {live.name}")
        return live

    def _cmd_logs(self, words: Sequence[str]) -> None:
        words = list(words)
        follow = False
        for flag in ("-f", "--follow"):
            while flag in words:
                words.remove(flag)
                follow = True
        name, tail = _name_and_tail("logs", words)
        if not follow:
            print(self.orchestrator.logs(name, tail))
            return
        try:
            for line in self.orchestrator.logs(name, tail, follow=True):
                print(line, flush=True)
        except KeyboardInterrupt:
            print("(stopped following; the run goes on)")

    def _cmd_stop(self, words: Sequence[str]) -> RunResult | None:
        name, _ = _name_and_tail("stop", words)
        return self.orchestrator.stop(name)

    def _cmd_restart(self, words: Sequence[str]) -> LiveRun:
        name, _ = _name_and_tail("restart", words)
        return self.orchestrator.restart(name)

    def _cmd_status(self, words: Sequence[str]) -> LiveRun:
        name, _ = _name_and_tail("status", words)
        return self.orchestrator.status(name)

    # ---- tab completion -----------------------------------------------------------------
    def completions(self, line: str) -> list[str]:
        """Candidates for the word being typed on a %orch / %%orch line."""
        words = line.split()
        typing = "" if line.endswith((" ", "\t")) else (words.pop() if words else "")
        positional: list[str] = []
        skip = False
        for word in words[1:]:
            if skip:
                skip = False
            elif word in VALUE_OPTIONS:
                skip = True
            elif not word.startswith("-"):
                positional.append(word)
        if skip:
            return []
        if typing.startswith("-"):
            return list(OPTIONS) + (["--demo"] if positional[:1] == ["load"] else [])
        try:
            config = self.orchestrator.config
        except OrchError:
            config = None
        if not positional:
            return [*(config.environments if config else ()), *SUBCOMMANDS]
        if positional[0] in SUBCOMMANDS:
            if positional[0] in RUN_SUBCOMMANDS and len(positional) == 1:
                return self.orchestrator.runs.names()
            if positional[0] == "start" and config is not None:
                if len(positional) == 1:
                    return list(config.environments)
                if len(positional) == 2:
                    return list(config.services)
            return []
        if len(positional) == 1 and config is not None:
            return list(config.services)
        return []


# ---- helpers --------------------------------------------------------------------------------
def _strip_comment(line: str) -> str:
    """Drop a trailing `# comment`: a # that starts a word outside quotes (KEY=#fff stays)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line


def _pump(sink: DisplaySink, final: bool = False) -> None:
    """Write the text received so far to this cell's stdout/stderr (no front end)."""
    pending = sink.take_pending()
    merged: list[tuple[str, str]] = []
    for stream, text in pending:
        if merged and merged[-1][0] == stream:
            merged[-1] = (stream, merged[-1][1] + text)
        else:
            merged.append((stream, text))
    for name, text in merged:
        out = sys.stdout if name == "stdout" else sys.stderr
        out.write(text)
        sink.last_written = text[-1:]
    if final:
        if sink.last_written not in ("\n", ""):
            sys.stdout.write("\n")
        sys.stdout.flush()
        sys.stderr.flush()


def _status_only(snap: Any) -> Any:
    from dataclasses import replace

    return replace(snap, lines=[], hidden=0)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    rows = [tuple(str(c) for c in row) for row in rows]
    widths = [max([len(header[i]), *(len(r[i]) for r in rows)]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _no_args(cmd: str, words: Sequence[str]) -> None:
    if words:
        raise UsageError(f"%orch {cmd} takes no arguments (got {' '.join(words)!r})")


def _name_and_tail(cmd: str, words: Sequence[str]) -> tuple[str, int | None]:
    words = list(words)
    tail = None
    for flag in ("-n", "--tail"):
        if flag in words:
            i = words.index(flag)
            try:
                tail = int(words[i + 1])
            except (IndexError, ValueError):
                raise UsageError(f"{flag} needs a number of lines") from None
            del words[i:i + 2]
    if len(words) != 1:
        raise UsageError(f"usage: %orch {cmd} NAME" + (" [-n N]" if cmd == "logs" else "")
                         + " (names: %orch ps)")
    return words[0], tail


def _short(text: str, width: int = 40) -> str:
    first = text.strip().splitlines()[0] if text.strip() else text
    more = len(text.strip().splitlines()) > 1
    if len(first) > width or more:
        return first[:width - 1].rstrip() + "…"
    return first
