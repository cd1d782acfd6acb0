"""%orch get / put / forward / forwards: files and ports through the chain, in a notebook.

A copy shows an ipywidgets progress bar under a kernel with a front end, a terminal bar in
terminal IPython, nothing under nbclient; it blocks like a cell should and Ctrl-C (interrupt
the kernel) stops it: nothing is kept but copies already in place (a CopyInterrupted says
which).
"""

from __future__ import annotations

import argparse
import html
import shlex
import sys
import time
import uuid
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from ..argtypes import Once
from ..config.suggest import did_you_mean
from ..orchestrator import Orchestrator
from ..transfer import (
    Copying,
    CopyInterrupted,
    FleetCopied,
    Forward,
    ForwardError,
    NoProgress,
    Progress,
    TransferError,
    Transferred,
    for_stream,
    measure,
    prepare_get,
    prepare_put,
    run_blocking,
)
from ..transfer.forward_target import check_host, check_port
from ..transfer.model import human
from .cells import CellForwards
from .frontend import close_widgets, quiet, set_last, shows_live, update_publisher

#: The forwards each cell opened when it last ran (closed when it runs again).
CELL_FORWARDS = CellForwards()

if TYPE_CHECKING:
    from .parser import MagicParser

HELP = {
    "get": "copy a file or directory from an environment (%orch get ENV REMOTE [LOCAL])",
    "put": "copy a file or directory into an environment (%orch put ENV LOCAL REMOTE)",
    "forward": "forward a local port to a port behind the chain, or stop one (forward stop ID)",
    "forwards": "list open port forwards",
}


#: `--yes` of get and put, as `orch cp --help` says it.
YES_HELP = "copy in protected environment ENV without asking"


def get_args(p: MagicParser) -> None:
    p.usage = "%(prog)s ENV REMOTE [LOCAL] [--limit PATTERN] [--yes ENV]"
    p.add_argument("environment", metavar="ENV", help="the environment to copy from")
    p.add_argument("remote", metavar="REMOTE",
                   help="file or directory there (a relative path starts at the environment's "
                        "working directory)")
    p.add_argument("local", metavar="LOCAL", nargs="?",
                   help="where to put it here (default: its name, in this folder; an existing "
                        "folder takes it inside; a fleet's land in LOCAL/<label>/)")
    p.add_argument("--yes", action="append", default=[], metavar="ENV", help=YES_HELP)
    p.add_argument("--limit", action=Once, metavar="PATTERN", help="fleet targets to copy from")


def put_args(p: MagicParser) -> None:
    p.usage = "%(prog)s ENV LOCAL REMOTE [--limit PATTERN] [--yes ENV]"
    p.add_argument("environment", metavar="ENV", help="the environment to copy into")
    p.add_argument("local", metavar="LOCAL", help="file or directory here")
    p.add_argument("remote", metavar="REMOTE",
                   help="where to put it there (an existing folder takes it inside)")
    p.add_argument("--yes", action="append", default=[], metavar="ENV", help=YES_HELP)
    p.add_argument("--limit", action=Once, metavar="PATTERN", help="fleet targets to copy to")


def forward_args(p: MagicParser) -> None:
    p.usage = "%(prog)s ENV PORT [--local P] [--host H] [--limit TARGET] | %(prog)s stop ID"
    p.add_argument("environment", metavar="ENV", help="environment (or `stop`)")
    p.add_argument("port", metavar="PORT", nargs="?",
                   help="remote port (or, after stop, the forward id)")
    p.add_argument("--local", type=int, default=0, metavar="P",
                   help="local port on 127.0.0.1 (default: any free one)")
    p.add_argument("--host", default="localhost", metavar="H",
                   help="target as seen from the last ssh host (default: localhost)")
    p.add_argument("--yes", action="append", default=[], metavar="ENV",
                   help="forward in protected environment ENV without asking")
    p.add_argument("--limit", action=Once, metavar="TARGET", help="the fleet target to forward to")


class WidgetBar:
    """An ipywidgets progress bar (updated at most 10 times a second), shown once the copy
    starts and replaced by a line of text when it ends: a saved notebook then reads what
    happened, not `HBox(…)`; a copy refused before it started leaves no output at all."""

    def __init__(self, shell: Any) -> None:
        self.total: int | None = None
        self.done = 0
        self.last = 0.0
        display_id = uuid.uuid4().hex
        self._display = update_publisher(shell, display_id, "display_data")
        self._replace = update_publisher(shell, display_id)

    def start(self, label: str, total: int | None) -> None:
        """Made and shown now: `finish` comes only after this (`progress_of`), and a copy
        refused before it starts makes no widget at all."""
        import ipywidgets

        self.label, self.total = label, total
        self.bar = ipywidgets.IntProgress(value=0, min=0, max=max(total or 1, 1),
                                          description="copy")
        self.text = ipywidgets.Label(label)
        self.box = ipywidgets.HBox([self.bar, self.text])
        self._display(self.box._repr_mimebundle_())

    def update(self, done: int) -> None:
        self.done = done
        now = time.monotonic()
        if now - self.last >= 0.1:
            self.last = now
            self._show()

    def _show(self) -> None:
        self.bar.value = min(self.done, self.bar.max) if self.total else 0
        self.text.value = f"{self.label}: {self._amount()}"  # browser18: the label went

    def _amount(self) -> str:
        return human(self.done) + (f" / {human(self.total)}" if self.total else "")

    def finish(self, ok: bool | None) -> None:
        """The final amount (updates are throttled), then the bar gives way to one line."""
        self._show()
        self.bar.bar_style = "success" if ok else "danger"
        if ok and self.total:
            self.bar.value = self.bar.max
        # browser16: `✗ not copied` read as if no target of a fleet had the file, above `29
        # ok, 1 failed`; a copy that failed somewhere failed, its summary says where
        text = f"{self.label}: {self._amount()} " + (  # browser21: an interrupted one too
            "✓" if ok else "✗ failed" if ok is False else "✗ interrupted")
        self._replace({"text/plain": text, "text/html": f"<pre>{html.escape(text)}</pre>"})
        close_widgets(self.box)  # the line above is what stays


def _progress() -> Progress:
    from IPython import get_ipython

    shell = get_ipython()
    if getattr(shell, "kernel", None) is None:
        return for_stream(sys.stderr)
    return WidgetBar(shell) if shows_live(shell) else NoProgress()


def _typed(args: argparse.Namespace) -> None:
    """An empty path is a mistake on the line, said as `orch cp` says it."""
    if args.remote == "":
        raise UsageError(f"the remote path after {args.environment} is empty: give a file or "
                         f"a folder")
    if args.local == "":
        raise UsageError("the local path is empty: give a file or a folder ('.' for here)")
    env = args.environment
    if args.remote.startswith(f"{env}:"):  # config18: `orch cp`'s ENV:PATH, typed here
        raise UsageError(f"%orch get and put name the environment as a word of its own: "
                         f"%orch get ENV REMOTE [LOCAL], %orch put ENV LOCAL REMOTE (ENV:PATH "
                         f"is orch cp's form in a terminal); a remote path starting {env}: is "
                         f"written ./{args.remote}")


def cp_form(sub: str, words: Sequence[str], environments: Collection[str]) -> None:
    """`%orch get prod:/x ./x` or `%orch put ./f prod:/x`, orch cp's ENV:PATH typed here
    with no environment word first: said as such, the words in their places (review34: an
    unknown environment; review35: put's "REMOTE is required"), before they are parsed."""
    plain, options = [], iter(words)
    for word in options:
        if word in ("--limit", "--yes"):  # their values are no paths
            next(options, None)
        elif not word.startswith("-"):
            plain.append(word)
    if not plain or plain[0] in environments:
        return
    for at, word in enumerate(plain):
        env, colon, path = word.partition(":")
        if colon and env in environments and word not in environments:
            rest = [*plain[:at], *plain[at + 1:]]
            order = " ".join(shlex.quote(w) for w in ([path, *rest] if sub == "get" else
                                                      [*rest, path]))
            raise UsageError(f"%orch {sub} names the environment as a word of its own: "
                             f"%orch {sub} {env} {order} ({env}:PATH is orch cp's form in a "
                             f"terminal)")


def get(orch: Orchestrator, args: argparse.Namespace) -> Transferred | FleetCopied:
    _typed(args)
    try:
        copy = prepare_get(orch, args.environment, args.remote, args.local, yes=args.yes,
                           front_end="magic", limit=args.limit)
        return _run(orch, copy)
    except TransferError as exc:
        raise quiet(exc) from None  # shown as what it is, as api.md and the CLI name it


def put(orch: Orchestrator, args: argparse.Namespace) -> Transferred | FleetCopied:
    _typed(args)
    try:
        copy = prepare_put(orch, args.environment, measure(args.local), args.remote,
                           yes=args.yes, front_end="magic", limit=args.limit)
        return _run(orch, copy)
    except TransferError as exc:
        raise quiet(exc) from None


def _run(orch: Orchestrator, copy: Copying[Transferred | FleetCopied]) -> Transferred | FleetCopied:
    """Run the copy with a progress bar and print it; an interrupt is one line, no traceback.
    A fleet copy that failed on a target fails the cell as a one-target copy does (a runbook
    run with Run All or papermill stops there), `_` holding what it did."""
    for stream in (sys.stdout, sys.stderr):  # what the cell printed before the copy shows
        stream.flush()  # above its progress, not below it (magics14)
    try:
        done = run_blocking(orch.loop, copy, _progress())
    except CopyInterrupted as exc:
        raise quiet(exc) from None
    print(done)
    if isinstance(done, FleetCopied) and not done.ok:
        from IPython import get_ipython

        set_last(get_ipython(), done)
        raise TransferError(f"{done.summary()} (`_` is the FleetCopied: .failed says why, "
                            f"target by target)")
    return done


def forward(orch: Orchestrator, args: argparse.Namespace) -> Forward | None:
    if args.environment == "stop":
        if args.port is None:
            raise UsageError("give the forward's id: %orch forward stop ID "
                             "(%orch forwards lists them)")
        stopped = orch.forwards.stop(args.port)
        print(f"closed {stopped}")
        return None
    known = orch.config.environments
    if args.environment not in known and did_you_mean(args.environment, ["stop", *known]) \
            == "stop":  # `forward stp f1`
        raise UsageError(f"unknown environment {args.environment!r} (did you mean 'stop'?)")
    if args.port is None:
        raise UsageError(f"give the remote port: %orch forward {args.environment} PORT")
    try:
        port = int(args.port)
    except ValueError:
        raise UsageError(f"PORT must be a number, got {args.port!r}") from None
    try:  # the line's numbers and host, as `orch forward`'s argument types check them
        check_port(port, "the remote port")
        check_port(args.local, "--local", zero=True)
        check_host(args.host)
    except ForwardError as exc:
        raise UsageError(str(exc)) from None
    from IPython import get_ipython

    shell = get_ipython()
    def replacing() -> None:  # this cell run again, and the new one admitted (magics17: a
        for closed in CELL_FORWARDS.replacing(shell):  # refused answer closed the old one)
            print(f"closed {closed} (this cell opened it when it last ran, or the same cell "
                  f"of a copy of this notebook did)")

    try:
        opened = orch.forward(args.environment, port, local=args.local, host=args.host,
                              yes=args.yes, limit=args.limit, front_end="magic",
                              on_admitted=replacing)
    except ForwardError as exc:
        raise quiet(exc) from None  # the port met, not the line typed: ForwardError
    CELL_FORWARDS.opened(shell, opened)
    print(f"{opened}; use it as {opened.url} (`.port` of the returned object), "
          f"%orch forward stop {opened.id} closes it")
    return opened
