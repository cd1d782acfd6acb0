"""The sink contract: something that receives a run's events as they happen."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Literal, Protocol, cast, runtime_checkable

from ..errors import ConfigError
from ..process.events import Event, Stdout

if TYPE_CHECKING:
    from ..result import RunResult

#: Which command of a run a step boundary is about.
StepKind = Literal["pre", "main", "post"]


class Sink(Protocol):
    """Receives every event of a run in order; must be quick (it runs on the event loop)."""

    def feed(self, event: Event) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class Hears(Protocol):
    """A sink that also hears the output as the program wrote it (masked), before filters
    and a stdout file take it: a prompt for a secret is in that (sinks.display)."""

    def hear(self, event: Event) -> None: ...


#: A fleet's sinks: each target's own, made from its label (one sink cannot serve many runs).
SinkFactory = Callable[[str], Sequence[Sink]]
#: What a caller may give as a run's sinks (a factory only on a fleet environment).
Sinks = Sequence[Sink] | SinkFactory


def check_sinks(sinks: object) -> tuple[Sink, ...]:
    """The sinks as a tuple (an iterator given is read once, here), refused before anything
    starts when they cannot be sinks (a callback such as `print` given as `sinks=[print]`
    ran the command, then failed on its first line). None is no sinks."""
    if sinks is None:
        return ()
    if isinstance(sinks, (str, bytes)) or not isinstance(sinks, Iterable):
        raise ConfigError(f"sinks must be a list of sinks, not {type(sinks).__name__}"
                          + (" (a callable label → sinks is for a fleet environment)"
                             if callable(sinks) else ""))
    given = tuple(sinks)
    for sink in given:
        if not all(callable(getattr(sink, name, None)) for name in ("feed", "close")):
            raise ConfigError(f"sinks: {sink!r} is no sink: a sink has feed(event) and close() "
                              f"(orch_magics.sinks.base.Sink; see docs/api.md)")
    return given


def check_given_sinks(sinks: object) -> Sinks:
    """`check_sinks`, where a fleet's callable label → sinks is also taken, as it is."""
    return sinks if callable(sinks) else check_sinks(sinks)  # type: ignore[return-value]


@runtime_checkable
class StepAware(Protocol):
    """A sink that wants to know where the pre/post commands of a run start and end.

    Told only for plans that have pre or post commands; a step's own output goes to the
    `step_sinks` of the run, its result comes here when it ends.
    """

    def step_started(self, kind: StepKind, label: str) -> None: ...

    def step_finished(self, kind: StepKind, label: str, result: RunResult) -> None: ...


@runtime_checkable
class StepsApart(Protocol):
    """A sink that shows a run's pre/post commands apart from its command: `for_steps()` is
    the sink their output goes to instead (the CLI's: their stdout on stderr, as fd 1 is
    where the command's output, or a result, goes)."""

    def for_steps(self) -> Sink: ...


def steps_apart(sinks: Sequence[Sink]) -> list[Sink]:
    """Where a pre/post command's output goes when a front end names nothing else: the
    `for_steps()` of each sink that shows steps apart (a cell's view, the CLI's output)."""
    return [sink.for_steps() for sink in sinks if isinstance(sink, StepsApart)]


@runtime_checkable
class Paced(Protocol):
    """A sink whose writes can fall behind (a pipe read slowly, or not at all): while it is
    `behind`, the output pump awaits `drain` before it takes more, so a slow reader slows the
    process as in a shell pipeline. Never once the run is stopping: a stop waits for no reader.
    """

    def behind(self) -> bool: ...

    async def drain(self) -> None: ...


@runtime_checkable
class FileTap(Sink, Protocol):
    """A sink that also takes the stdout a file-mode run wrote to its file (which no other
    sink gets): the audit digest, so a record says what the run wrote, wherever it went."""

    def file_output(self, event: Stdout) -> None: ...


def file_taps(sinks: Iterable[Sink]) -> list[FileTap]:
    """The sinks that are `FileTap`s (as `paced`)."""
    return cast("list[FileTap]", _those(sinks, FileTap))


def paced(sinks: Iterable[Sink]) -> list[Paced]:
    """The sinks that are `Paced`, each class asked once: a Protocol's isinstance walks its
    members at every call (~4 % of the CPU of a warm run on a fleet, sinks per target)."""
    return cast("list[Paced]", _those(sinks, Paced))


#: Whether each (class of sink, protocol) is one (sinks are made from a few classes).
_KNOWN: dict[tuple[type, type], bool] = {}


def _those(sinks: Iterable[Sink], protocol: type) -> list[Sink]:
    found = []
    for sink in sinks:
        key = (type(sink), protocol)
        known = _KNOWN.get(key)
        if known is None:
            known = _KNOWN[key] = issubclass(type(sink), protocol)
        if known:
            found.append(sink)
    return found
