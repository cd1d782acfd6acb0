"""The `orch` command line: parse, load the config, dispatch; errors are one line, never a trace.

Exit statuses: the process's own (128+N after signal N, 124 after --timeout), 2 for a usage or
config mistake, 1 for any other refusal (a protected environment not confirmed, an unreachable
hop before anything ran), 70 for a defect of ours (`ORCH_DEBUG=1` shows its traceback).
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import sys
import warnings
from collections.abc import Sequence
from typing import TextIO

from .._loop import quiet_lost_writes_everywhere
from ..config.chain import here_problem, unseen_setting
from ..config.files import NoConfig, demo_config_files
from ..config.loader import load_config
from ..config.model import Config
from ..errors import ConfigError, OrchError
from ..layers.registry import passed_over
from ..secrets import ShortSecretWarning
from ..text import columns, first_line, printable, reads_as_written, shell_line
from . import output
from .audit import audit_command
from .grammar import Parser, orch_parser
from .interrupts import exit_status, raising_on_stop_signals
from .output import EXIT_PIPE, EXIT_USAGE, OutputError, discard, is_output_error, say
from .run import run_subcommand, said_in_json
from .transfer import cp_command, forward_command
from .words import split_command

#: A defect of ours (sysexits' EX_SOFTWARE), said in one line.
EXIT_INTERNAL = 70

def _load(args: argparse.Namespace) -> Config:
    files = [*args.config, *args.config_after]
    if args.demo or args.demo_after:
        files = [str(p) for p in demo_config_files()] + files
    try:
        return load_config(*files)
    except NoConfig as exc:  # in this front end's words, not the API's
        raise exc.said("give files with -c FILE (orch --demo … runs the built-in demo)") \
            from None


def _listing(config: Config) -> str:
    from ..fleet.targets import describe, expand  # fleets only: `orch run` starts without it

    def row(name: str, text: str) -> str:  # padded by columns: a wide name takes two each
        lines = text.strip().splitlines()  # one line a name; a command's other lines said
        first = lines[0] if lines else ""
        return f"  {name}{' ' * max(1, 21 - columns(name))}{first}"

    out = ["environments:"]
    for name, env in config.environments.items():
        out.append(row(name, env.describe() + (f"  — {env.description.strip()}"
                                               if env.description else "")))
        if env.is_fleet:
            out.append(row("", describe(expand(env.layers))))
    out.append("services:")
    for name, svc in config.services.items():  # a list as the shell line it runs (basics12)
        out.append(row(name, (svc.description or "").strip() or (
            first_line(svc.command) if isinstance(svc.command, str)
            and reads_as_written(svc.command) else shell_line(
                ("/bin/sh", "-c", svc.command) if isinstance(svc.command, str) else svc.command))))
    return printable("\n".join(out), lines=True)  # a config's escapes cannot repaint it


def _reserve_std_fds() -> None:
    """Hold a closed stdin, stdout or stderr (`orch … >&-`) on /dev/null: else the next file
    or socket opened takes its number, and output meant for it goes there. Stdout is held
    read-only, so output written there fails as on a closed fd ("Bad file descriptor", exit
    1, as a shell's `echo hi >&-`) instead of vanishing."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDONLY if fd == 1 else os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            if fd == 1:
                output.stdout_closed_at_start = True
                if sys.stdout is None:  # what print and `orch schema` write to
                    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115  # as long as we


def warnings_in_one_line() -> None:
    """orch's own warnings (a secret too short to mask) as `orch: warning: …`, one line, not
    Python's `file:line: Category: …` with a line of our source under it. Set once per
    process, by the entry point."""
    show = warnings.showwarning

    def shown(message: Warning | str, category: type[Warning], filename: str, lineno: int,
              file: TextIO | None = None, line: str | None = None) -> None:
        if issubclass(category, ShortSecretWarning):
            print(f"orch: warning: {message}", file=file or sys.stderr)
        else:
            show(message, category, filename, lineno, file, line)

    warnings.showwarning = shown


def main(argv: Sequence[str] | None = None) -> int:
    _reserve_std_fds()
    _escaping_what_cannot_be_encoded()
    quiet_lost_writes_everywhere()  # its loop runs on this thread
    # What start-up imported lives as long as the process: collections need not walk it (a
    # cold 100-target fleet run spent 55–99 ms in one full collection of it).
    gc.freeze()
    words = list(sys.argv[1:] if argv is None else argv)
    argv, command = split_command(words)
    if len(argv) < len(words) and not command:
        print("orch: nothing to run after --", file=sys.stderr)
        return EXIT_USAGE
    Parser.words = tuple(argv)  # every parser, subcommands' too, names what was mistyped
    try:
        args = orch_parser().parse_args(argv)
        with raising_on_stop_signals():
            status = _dispatch(args, command)
            if sys.stdout is not None:  # None: started with stdout closed (`>&-`)
                sys.stdout.flush()  # a write error shows here, not at exit as a traceback
            return status
    except Exception as exc:
        return _failed(exc)
    except KeyboardInterrupt as exc:  # before anything ran (a run stops through on_interrupt)
        say("orch: interrupted")
        return exit_status(exc)


def _escaping_what_cannot_be_encoded() -> None:
    """orch's own text (help, listings, messages) in a locale that cannot encode a character
    of it (Latin-1 and `→`) is written escaped (`\\u2192`), not a crash; run output is bytes."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")


def _failed(exc: Exception) -> int:
    """Say in one line why orch stopped, and return its exit status."""
    if isinstance(exc, OSError) and is_output_error(exc):  # `orch ls > /dev/full`
        exc = OutputError(exc)
    if isinstance(exc, (BrokenPipeError, OutputError)):
        discard(1)
    if isinstance(exc, BrokenPipeError):  # `orch audit | head`: the reader left, as it may
        return EXIT_PIPE
    if isinstance(exc, ConfigError):
        say(f"orch: config error: {exc}")
        return EXIT_USAGE
    if isinstance(exc, OrchError):
        say(f"orch: {printable(str(exc))}")
        return 1
    if os.environ.get("ORCH_DEBUG"):  # a defect of ours: one line, unless asked for the trace
        raise exc
    say(f"orch: internal error: {type(exc).__name__}: {exc} (a bug in orch_magics: "
        f"ORCH_DEBUG=1 shows where; please report it)")
    return EXIT_INTERNAL


def _dispatch(args: argparse.Namespace, command: list[str]) -> int:
    if args.cmd == "schema":
        from ..config.schema import schema_json

        sys.stdout.write(schema_json())
        return 0
    if args.cmd == "audit":
        return audit_command(args, lambda: _load(args))
    if args.cmd == "run":
        with said_in_json(None, args, command):  # no configuration: --json says so too
            config = _load(args)
        return run_subcommand(config, args, command)
    config = _load(args)
    if args.cmd in ("cp", "forward"):
        return (cp_command if args.cmd == "cp" else forward_command)(config, args)
    if args.cmd == "check":
        return _check(config)
    if args.cmd == "ls":
        print(_listing(config))
        return 0
    raise AssertionError(f"no subcommand {args.cmd!r}")  # argparse knows only these


def _check(config: Config) -> int:
    """`ok` and the listing; or, when an environment's first hop would fail on this machine
    (seen without connecting: a socket that is not there), the listing and that failure in
    its run's words, with the run's exit status."""
    problems = [(name, found) for name, env in config.environments.items()
                if (found := here_problem(env.layers)) is not None]
    unseen = [error for name, env in config.environments.items()
              if (error := unseen_setting(name, env.layers)) is not None]
    if not problems and not unseen:
        print(f"ok: {', '.join(config.files)}")
    print(_listing(config))
    for why in passed_over():
        say(f"orch: note: {why}")
    status = EXIT_USAGE if unseen else 0
    for error in unseen:
        say(f"orch: config error: {printable(str(error))}")
    for name, (layer, exc) in problems:
        where = f"{layer.location}: " if layer.location else ""
        config_error = isinstance(exc, ConfigError)
        say(f"orch: {'config error: ' if config_error else ''}{where}environment {name!r}: "
            f"{printable(str(exc))}")
        status = max(status, EXIT_USAGE if config_error else 1)
    return status
