"""`orch run` on a fleet: `label | line` as lines arrive (stderr on stderr), then a summary.

Exit status 0 when every target succeeded, 1 otherwise; `--json` prints the FleetResult as
JSON instead. Ctrl-C (TERM, HUP) stops every target (INT → TERM → KILL), a second one kills
them, and the status is then 128 + that signal.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import TYPE_CHECKING, Any, TextIO

from ..admission import Ticket
from ..argtypes import Once
from ..errors import OrchError
from ..fleet.options import FleetOptions
from ..orchestrator import Orchestrator
from ..plan import RunPlan
from ..process.events import Event, Stderr, Stdout
from ..sinks.lines import MAX_PARTIAL
from ..text import clean_cut, columns, padded, printable
from .interrupts import on_interrupt
from .output import Output, print_json
from .stream import StepsToStderr, stdin_source, takes_stdin
from .terminal import for_run

if TYPE_CHECKING:  # the fleet's runner, result and targets load when a fleet runs (start-up)
    from ..fleet.runner import FleetRun


def add_fleet_options(run: argparse.ArgumentParser) -> None:
    """The fleet options of `orch run` (they are errors on a single-target environment)."""
    run.add_argument("--limit", action=Once, metavar="PATTERN",
                     help="fleets: only targets matching (globs, groups, comma lists, !exclude)")
    run.add_argument("--parallel", action=Once, type=int, default=None, metavar="N",
                     help="fleets: targets run at once (default 32)")
    run.add_argument("--max-fail", action=Once, default=None, metavar="N|N%",
                     help="fleets: start no new target once more than N have failed")


def options(args: argparse.Namespace) -> FleetOptions:
    return FleetOptions.of(args.limit, args.parallel, args.max_fail, args.timeout)


def dry_run(plan: RunPlan, limit: str | None) -> str:
    from ..fleet.targets import planned

    return f"{plan.describe()}\ntargets:     {printable(planned(plan.layers_to_run, limit))}"


#: A `\r` that does not end a line (a progress bar's): the label is written again after it.
_BARE_CR = re.compile(rb"\r(?!\n)")


def _has_long_line(joined: bytes) -> bool:
    """Whether a line of `joined` may be longer than MAX_PARTIAL: one is only if some aligned
    window of half that size holds no newline (a few searches per MiB, not one per line)."""
    half = MAX_PARTIAL // 2
    return any(joined.find(b"\n", at, at + half) < 0
               for at in range(0, len(joined) - half + 1, half))


def _pieces(line: bytes) -> list[bytes]:
    """`line` cut into pieces of at most MAX_PARTIAL bytes, never inside a UTF-8 character."""
    pieces, at = [], 0
    while len(line) - at > MAX_PARTIAL:
        cut = clean_cut(line, at + MAX_PARTIAL, forward=False)  # ≥ 64 bytes on
        pieces.append(line[at:cut])
        at = cut
    return [*pieces, line[at:]]


def _reset(line: bytes) -> bytes:
    """`line` with every colour and attribute it set turned off at its end (before the `\r`
    of a `\r\n`): a target's black on black paints neither the next label nor the table."""
    body = line.removesuffix(b"\r")
    return body + b"\x1b[0m" + line[len(body):]


class LabelledWriter:
    """A sink writing each complete line as `label | line` to fd 1 (stdout) or 2 (stderr),
    paced by their reader (`Paced`); bytes as they came (a terminal shows `\\r\\n` as one
    ending), but after a `\\r` that does not end the line its label is written again, so a
    progress bar keeps it (other controls pass as they came: docs/fleets.md). A line
    that never ends goes out in labelled pieces of at most MAX_PARTIAL bytes, never inside a
    UTF-8 character: its memory is bounded and nothing is lost."""

    def __init__(self, label: str, width: int, output: Output) -> None:
        self.prefix = f"{padded(label, width)} | ".encode()
        self._output = output
        self._partial: dict[int, list[bytes]] = {1: [], 2: []}  # the line not ended yet
        self._held = {1: 0, 2: 0}
        self._pieced = {1: False, 2: False}  # the line not ended yet went out in pieces

    def feed(self, event: Event) -> None:
        if isinstance(event, (Stdout, Stderr)):
            fd = 1 if isinstance(event, Stdout) else 2
            data = event.data
            end = data.rfind(b"\n")
            if end >= 0:  # one join per chunk, not a concatenation per line (`yes` floods)
                joined = b"".join([*self._partial[fd], data[:end]])
                lines = joined.split(b"\n")
                if _has_long_line(joined):
                    lines = [piece for line in lines for piece in _pieces(line)]
                if self._pieced[fd] and lines[0] == b"\r":
                    del lines[0]  # only the ending of a line already written in pieces
                self._partial[fd], self._held[fd], self._pieced[fd] = [], 0, False
                self._write(fd, lines)
            self._hold(fd, data[end + 1:])

    def _write(self, fd: int, lines: list[bytes]) -> None:
        if lines:
            text = self.prefix + (b"\n" + self.prefix).join(lines) + b"\n"
            if b"\x1b" in text:  # one search per chunk; its colours end with it (fleets23)
                text = self.prefix + (b"\n" + self.prefix).join(
                    _reset(line) if b"\x1b" in line else line for line in lines) + b"\n"
            self._output.write(fd, _BARE_CR.sub(b"\r" + self.prefix, text) if b"\r" in text
                               else text)

    def _hold(self, fd: int, data: bytes) -> None:
        if not data:
            return
        self._partial[fd].append(data)
        self._held[fd] += len(data)
        if self._held[fd] > MAX_PARTIAL:
            *pieces, rest = _pieces(b"".join(self._partial[fd]))
            self._write(fd, pieces)
            self._partial[fd], self._held[fd], self._pieced[fd] = [rest], len(rest), True

    def behind(self) -> bool:
        return self._output.behind()

    async def drain(self) -> None:
        await self._output.drain()

    def for_steps(self) -> StepsToStderr:
        """The pre/post commands' sink: labelled on stderr, as a single run's are."""
        return StepsToStderr(self)

    def close(self) -> None:
        for fd, rest in self._partial.items():
            if rest:
                self._write(fd, [b"".join(rest)])
        self._partial, self._held = {1: [], 2: []}, {1: 0, 2: 0}


class NoTargets:
    """`--json` of a fleet that found no target to run (no running container has its label):
    a FleetResult's keys, not ok, and `error` saying why (a `| jq .ok` reads false)."""

    def __init__(self, environment: str, error: str, audit_id: str | None = None) -> None:
        """`audit_id`: the `refused` record a protected fleet's refusal wrote."""
        from ..fleet.result import FleetResult

        self.data = FleetResult.none_found(environment, error)
        if audit_id is not None:
            self.data["audit_id"] = audit_id

    def write_json(self, out: TextIO, **kw: Any) -> None:
        json.dump(self.data, out, **kw)


async def stream_fleet(orch: Orchestrator, plan: RunPlan, ticket: Ticket,
                       args: argparse.Namespace) -> int:
    """Run every target with labelled output; print the summary (or JSON); 0 iff all ok."""
    from ..fleet.targets import expand

    width = max([0, *(columns(t.label) for t in expand(plan.layers_to_run))])
    quiet = bool(args.json)
    stdin = stdin_source() if takes_stdin(plan) else None  # to every target, as a run reads it
    fleet: FleetRun | None = None
    # tty: each target's terminal has our window's size, and ours is raw while it reads the
    # keys, sent to every target as typed (fleets19: a hidden prompt's answer was echoed here)
    plan, terminal = for_run(plan, stdin is not None, lambda: fleet)
    interrupts = on_interrupt(lambda: fleet)
    output = Output(on_failure=lambda: fleet.stop() if fleet is not None else None)
    fleet = orch.fleets.begin(
        plan, options(args), ticket, stdin=stdin,
        sinks=lambda label: () if quiet else (LabelledWriter(label, width, output),))
    output.stopping = lambda: interrupts.arrived.is_set() or fleet.stopping
    try:
        with terminal:
            result = await fleet.wait()
    except Exception as exc:
        await output.finish(None)  # what the targets printed still goes out (bounded)
        if quiet and isinstance(exc, OrchError) and not fleet.rows:  # no target: still JSON
            print_json(NoTargets(plan.environment.name, str(exc)))
        raise
    finally:
        await orch.aclose()
    if not quiet:  # the table after the lines, by the same writer: a reader that stopped
        await output.finish(interrupts.arrived)  # reading cannot hold orch after a stop
        output.write(1, f"{result.table()}\n".encode("utf-8", "backslashreplace"), own=True)
    await output.finish(interrupts.arrived)
    failed = output.status()
    if failed is not None:
        interrupts.over()
        return failed
    interrupts.settled()
    if quiet:
        print_json(result)
    interrupts.over()
    return interrupts.exit_status(result.exit_status)
