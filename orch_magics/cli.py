"""The `orch` command line: run services and commands through layers from a terminal.

stdin is streamed to the process as it arrives, stdout and stderr are written byte for byte as
they arrive, and the exit status is the process's (128+N after signal N). Ctrl-C stops the chain.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Sequence

from .config.loader import demo_config_files, load_config
from .config.model import Config
from .engine import Run, RunOptions
from .errors import ConfigError, OrchError
from .orchestrator import Orchestrator
from .plan import RunPlan, parse_env_pairs
from .process.events import Event, Stderr, Stdout

EXIT_USAGE = 2


class _FdWriter:
    """A sink writing stdout/stderr chunks straight to fds 1 and 2 (blocking: back-pressure).

    When the reader of our stdout goes away (`orch run … | head`), the run is stopped, as a
    shell pipeline's producer would be by SIGPIPE, instead of running on into the capture.
    """

    def __init__(self, on_broken_stdout: Callable[[], None] = lambda: None) -> None:
        self._on_broken = on_broken_stdout
        self.stdout_broken = False

    def feed(self, event: Event) -> None:
        if isinstance(event, Stdout) and not self.stdout_broken:
            if not _write_all(1, event.data):
                self.stdout_broken = True
                self._on_broken()
        elif isinstance(event, Stderr):
            _write_all(2, event.data)

    def close(self) -> None:
        pass


def _write_all(fd: int, data: bytes) -> bool:
    """Write everything; False when the reader has gone (broken pipe)."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            import select

            select.select([], [fd], [])
            continue
        except BrokenPipeError:
            return False
        view = view[n:]
    return True


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="orch", description="Run services through composed execution layers.")
    p.add_argument("-c", "--config", action="append", default=[], metavar="FILE",
                   help="config file (repeatable); default: $ORCH_CONFIG, ./orch.yaml, or "
                        "./environments.yaml + ./services.yaml")
    p.add_argument("--demo", action="store_true", help="use the built-in local demo config")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run a service (orch run ENV SERVICE) or a command "
                                     "(orch run ENV -- CMD ARGS…)")
    run.add_argument("environment")
    run.add_argument("service", nargs="?")
    run.add_argument("--timeout", type=float, default=None, help="stop after S seconds")
    run.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VAL",
                     help="extra variable for the command (repeatable)")
    run.add_argument("--dry-run", action="store_true", help="show the plan, run nothing")
    run.add_argument("--json", action="store_true",
                     help="print the RunResult as JSON instead of streaming output")
    sub.add_parser("check", help="validate the config and list what it defines")
    sub.add_parser("ls", help="list environments and services")
    sub.add_parser("schema", help="print the JSON Schema of the config files")
    return p


def _load(args: argparse.Namespace) -> Config:
    files = list(args.config)
    if args.demo:
        files = [str(p) for p in demo_config_files()] + files
    return load_config(*files)


def _listing(config: Config) -> str:
    out = ["environments:"]
    for name, env in config.environments.items():
        desc = f"  — {env.description}" if env.description else ""
        out.append(f"  {name:<20} {env.describe()}{desc}")
    out.append("services:")
    for name, svc in config.services.items():
        desc = svc.description or (svc.command if isinstance(svc.command, str)
                                   else " ".join(svc.command))
        desc = desc.strip().splitlines()[0] if desc.strip() else ""
        out.append(f"  {name:<20} {desc}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "run" in argv and "--" in argv[argv.index("run"):]:
        cut = argv.index("--", argv.index("run"))
        argv, command = argv[:cut], argv[cut + 1:]
        if not command:
            print("orch: nothing to run after --", file=sys.stderr)
            return EXIT_USAGE
    args = _parser().parse_args(argv)
    if args.cmd == "run":
        args.argv = command
    try:
        if args.cmd == "schema":
            from .config.schema import schema_json

            sys.stdout.write(schema_json())
            return 0
        config = _load(args)
        if args.cmd in ("check", "ls"):
            if args.cmd == "check":
                print(f"ok: {', '.join(config.files)}")
            print(_listing(config))
            return 0
        return _run(config, args)
    except ConfigError as exc:
        print(f"orch: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OrchError as exc:
        print(f"orch: {exc}", file=sys.stderr)
        return 1


def _run(config: Config, args: argparse.Namespace) -> int:
    argv = list(args.argv)
    service = args.service
    if service is not None and argv:
        raise ConfigError("give a service or a command after --, not both")
    if service is None and not argv:
        raise ConfigError("nothing to run: give a SERVICE, or -- CMD ARGS…")
    orch = Orchestrator(config)
    plan = orch.plan(args.environment, service, command=argv or None,
                     env=parse_env_pairs(args.env) or None)
    if args.dry_run:
        print(plan.describe())
        return 0
    return asyncio.run(_stream(orch, plan, args))


async def _stream(orch: Orchestrator, plan: RunPlan, args: argparse.Namespace) -> int:
    """Run with stdin from fd 0 and output to fds 1 and 2; Ctrl-C stops, a second one kills."""
    run: Run | None = None

    def stop() -> None:
        if run is not None:
            run.stop()

    writer = _FdWriter(on_broken_stdout=stop)
    sinks = [] if args.json else [writer]
    stdin = _stdin_source(asyncio.get_running_loop()) if plan.stdin_mode != "none" else None
    run = orch.begin(plan, RunOptions(sinks=sinks, step_sinks=lambda step, kind: sinks,
                                      stdin=stdin, timeout=args.timeout, capture=args.json))
    _on_interrupt(run)
    try:
        result = await run.wait()
    finally:
        await orch.aclose()
    if writer.stdout_broken:
        return 128 + signal.SIGPIPE  # what a shell reports for a producer whose reader left
    if args.json:
        print(result.json(indent=2))
    if result.timed_out or result.exit.error is not None and result.exit.code is None:
        print(f"orch: {result.describe_failure()}", file=sys.stderr)
    return result.exit_status


def _on_interrupt(run: Run) -> None:
    """SIGINT/SIGTERM: the first stops the chain (INT → TERM → KILL), the next kills at once."""
    loop = asyncio.get_running_loop()
    interrupts = 0

    def on_signal() -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            run.stop()
        else:
            asyncio.ensure_future(run.kill())

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)


def _stdin_source(loop: asyncio.AbstractEventLoop) -> AsyncIterator[bytes]:
    """Our stdin as it arrives, read by a thread (a blocking read never stalls the loop)."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(4)

    def reader() -> None:
        try:
            while True:
                chunk = os.read(0, 1 << 20)
                asyncio.run_coroutine_threadsafe(queue.put(chunk or None), loop).result()
                if not chunk:
                    return
        except (OSError, RuntimeError, ValueError):
            try:
                asyncio.run_coroutine_threadsafe(queue.put(None), loop)
            except RuntimeError:
                pass

    async def chunks() -> AsyncIterator[bytes]:
        while (chunk := await queue.get()) is not None:
            yield chunk

    threading.Thread(target=reader, name="orch-stdin", daemon=True).start()
    return chunks()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
