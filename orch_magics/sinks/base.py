"""The sink contract: something that receives a run's events as they happen."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from ..process.events import Event

if TYPE_CHECKING:
    from ..result import RunResult

#: Which command of a run a step boundary is about.
StepKind = Literal["pre", "main", "post"]


class Sink(Protocol):
    """Receives every event of a run in order; must be quick (it runs on the event loop)."""

    def feed(self, event: Event) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class StepAware(Protocol):
    """A sink that wants to know where the pre/post commands of a run start and end.

    Told only for plans that have pre or post commands; a step's own output goes to the
    `step_sinks` of the run, its result comes here when it ends.
    """

    def step_started(self, kind: StepKind, label: str) -> None: ...

    def step_finished(self, kind: StepKind, label: str, result: RunResult) -> None: ...


@runtime_checkable
class Paced(Protocol):
    """A sink whose writes can fall behind (a pipe read slowly, or not at all): while it is
    `behind`, the output pump awaits `drain` before it takes more, so a slow reader slows the
    process as in a shell pipeline. Never once the run is stopping: a stop waits for no reader.
    """

    def behind(self) -> bool: ...

    async def drain(self) -> None: ...
