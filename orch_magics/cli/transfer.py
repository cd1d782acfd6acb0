"""`orch cp ENV:REMOTE LOCAL` / `orch cp LOCAL ENV:REMOTE` and `orch forward ENV PORT`."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable

from ..argtypes import Once
from ..config.model import Config, canonical_name
from ..config.suggest import did_you_mean
from ..errors import ConfigError, OrchError
from ..orchestrator import Orchestrator
from ..text import printable
from ..tty_prompt import ask_on_terminal
from .interrupts import exit_status, stop_signals
from .words import as_typed


def add_transfer_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]  # private-ok: argparse's type
    cp = sub.add_parser("cp", help="copy a file or directory: orch cp ENV:REMOTE LOCAL, "
                                   "orch cp LOCAL ENV:REMOTE")
    cp.add_argument("source")
    cp.add_argument("destination")
    cp.add_argument("--yes", action="append", default=[], metavar="ENV",
                    help="copy in protected environment ENV without asking")
    cp.add_argument("--limit", action=Once, metavar="PATTERN",
                    help="fleet targets to copy from or to (a get from a fleet lands in "
                         "LOCAL/<label>/ per target)")
    fw = sub.add_parser("forward", help="forward a local port to HOST:PORT as seen from the "
                                        "chain's last ssh host (until Ctrl-C)")
    fw.add_argument("environment")
    fw.add_argument("port", type=_port(1))
    fw.add_argument("--local", type=_port(0), default=0, metavar="PORT",
                    help="local port on 127.0.0.1 (default: any free one)")
    fw.add_argument("--host", type=_host, default="localhost",
                    help="target host (default: localhost)")
    fw.add_argument("--yes", action="append", default=[], metavar="ENV",
                    help="forward in protected environment ENV without asking")
    fw.add_argument("--limit", action=Once, metavar="PATTERN", help="the fleet target to forward to")


def _port(lowest: int) -> Callable[[str], int]:
    """An argparse type: a TCP port number (a usage error otherwise, as for any option)."""
    def port(text: str) -> int:
        if not text.strip().isdigit() or not lowest <= int(text) <= 65535:
            free = ", 0 for any free one" if lowest == 0 else ""
            raise argparse.ArgumentTypeError(f"a TCP port ({lowest or 1}-65535{free}), "
                                             f"not {text!r}")
        return int(text)
    return port


def _host(text: str) -> str:
    """An argparse type: a host a forward may reach (a typing mistake is a usage error)."""
    from ..transfer.forward_target import check_host

    try:
        check_host(text)
    except OrchError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("--host must be ", "", 1)) from None
    return text


def _side(config: Config, word: str) -> tuple[str | None, str]:
    """`ENV:PATH` → (ENV, PATH) when ENV is configured (the longest such ENV: a name may hold
    `:` itself); anything else is a local path. A remote PATH goes out as the bytes typed."""
    ends = [at for at, char in enumerate(word) if char == ":"]
    for at in reversed(ends):
        if canonical_name(word[:at]) in config.environments:
            return canonical_name(word[:at]), as_typed(word[at + 1:])
    return None, word


def _not_a_misspelt_side(config: Config, local: str) -> None:
    """Refuse a local side written `WORD:PATH` whose WORD is near an environment and which is
    no path here (files9: `orch cp two:/etc/hostname lop:x` made a local file `lop:x`, and
    `lop:/tmp/x` said "no such local directory"): `./lop:x` writes such a name."""
    word, colon, _ = local.partition(":")
    if not colon or not word or "/" in word or os.path.lexists(local):
        return
    guess = did_you_mean(word, config.environments)
    if guess is not None:
        raise ConfigError(f"{word!r} in {local!r} is no environment (did you mean {guess!r}?); "
                          f"a local path with a colon is written ./{local}")


def cp_command(config: Config, args: argparse.Namespace) -> int:
    from ..transfer import (
        CopyInterrupted,
        FleetCopied,
        for_stream,
        measure,
        prepare_get,
        prepare_put,
        run_blocking,
    )

    src_env, src = _side(config, args.source)
    dst_env, dst = _side(config, args.destination)
    if src_env and dst_env:
        raise ConfigError("copy between two environments is not supported: get to a local "
                          "path, then put")
    if not src_env and not dst_env:
        words = [w.partition(":")[0] for w in (args.source, args.destination) if ":" in w]
        guess = next(filter(None, (did_you_mean(w, config.environments) for w in words)), None)
        hint = f" (did you mean {guess!r}?)" if guess else ""
        raise ConfigError(f"one side must be ENV:PATH with a configured environment{hint}; "
                          f"environments: {', '.join(config.environments)}")
    _not_a_misspelt_side(config, dst if src_env else src)
    if (dst if src_env else src) == "-":  # config18: a file named `-` was written
        raise ConfigError("orch cp copies files, not standard input or output ('-'): to read "
                          "a remote file into a pipe use `orch run ENV -- cat PATH`, to write "
                          "one from a pipe `orch run ENV -- sh -c 'cat > PATH'`; a local file "
                          "named - is ./-")
    for side, path in ((src_env, src), (dst_env, dst)):  # typing mistakes, said as such
        if not path:
            raise ConfigError(f"the remote path after {side}: is empty: give a file or a folder"
                              if side else "the local path is empty: give a file or a folder "
                              "('.' for here)")
    orch = Orchestrator(config)
    orch.gate.ask = ask_on_terminal
    if src_env:
        copy = prepare_get(orch, src_env, src, dst, yes=args.yes, front_end="cli",
                           limit=args.limit)
    else:
        assert dst_env is not None
        copy = prepare_put(orch, dst_env, measure(src), dst, yes=args.yes, front_end="cli",
                           limit=args.limit)
    try:
        done = run_blocking(orch.loop, copy, for_stream(sys.stderr))
        # said before closing: a signal then ends orch, not the copy
        print(printable(str(done), lines=isinstance(done, FleetCopied)), flush=True)
    except CopyInterrupted as exc:
        print(f"orch: {printable(str(exc))}", file=sys.stderr)
        cause = exc.__cause__  # Ctrl-C, or TERM / HUP: the exit status says which
        return exit_status(cause if isinstance(cause, KeyboardInterrupt) else exc)
    finally:
        orch.close()
    return 1 if isinstance(done, FleetCopied) and not done.ok else 0


def forward_command(config: Config, args: argparse.Namespace) -> int:
    orch = Orchestrator(config)
    orch.gate.ask = ask_on_terminal
    forward = None
    try:
        forward = orch.forward(args.environment, args.port, local=args.local, host=args.host,
                               yes=args.yes, limit=args.limit, front_end="cli")
        forward.watch(lambda notice: print(f"orch: {printable(notice)}", file=sys.stderr,
                                           flush=True))
        print(f"{forward}; Ctrl-C stops it", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt as exc:
        if forward is None:  # still connecting: say so, with the status a stopped cp has
            print("orch: interrupted; the forward was not opened", file=sys.stderr)
            return exit_status(exc)
        # Told to end: later stop signals change nothing (`timeout` signals orch, then its
        # process group; a double-tapped Ctrl-C sends two): one cut the close short, exit
        # 130/143 and an audit end saying the stop ran out of time (ports7).
        for sig in stop_signals():
            signal.signal(sig, signal.SIG_IGN)
    finally:
        orch.close()
    return 0
