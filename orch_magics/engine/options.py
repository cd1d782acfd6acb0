"""RunOptions: everything a front end chooses about one run, in one typed object."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ..limits import seconds
from ..plan import PlannedStep
from ..process.handle import STOP_GRACE
from ..sinks.base import Sink, check_sinks, steps_apart
from ..sinks.buffer import MemoryBudget
from ..stdin import StdinSource, check_stdin

#: Sinks for a pre/post step's own output, given the step and its kind ("pre" / "post").
StepSinks = Callable[[PlannedStep, str], Sequence[Sink]]


@dataclass(frozen=True)
class RunOptions:
    """Where output goes, what stdin gets, and how long a run may take.

    `capture=False` keeps no copy of the output for the RunResult (the CLI streams and returns
    only the exit status); `capture_limit` keeps only the last N bytes of each stream in the
    RunResult, as whole lines (named runs that may print for days), and `log_file` names the
    file the output also goes to (the RunResult says where to look). `close_stdin=None` means: EOF after the
    `stdin` source when one is given or the service takes no input, else keep stdin open.
    """

    sinks: Sequence[Sink] = ()
    step_sinks: StepSinks | None = None
    stdin: StdinSource = None
    close_stdin: bool | None = True
    timeout: float | None = None
    capture: bool = True
    capture_limit: int | None = None
    #: Memory the captured output may take, shared with other runs (a fleet's targets): past
    #: it, the RunResult's buffers spill to disk as one run's do past 16 MiB.
    memory: MemoryBudget | None = None
    log_file: str | None = None
    #: Files a stdout_file may not replace (path → what it is): the config's own, the secrets
    #: file, the audit log (config16: a run's output was renamed over the whole audit trail).
    kept: Mapping[str, str] = field(default_factory=dict)
    #: stdout reaches the sinks byte for byte, unmasked (a file being copied must not change);
    #: stderr is still masked.
    raw_stdout: bool = False
    #: Seconds between INT and TERM, and between TERM and KILL, when the run is stopped.
    grace: tuple[float, float] = STOP_GRACE
    #: The label of the fleet target this run is: its output file goes in a folder of that
    #: name (`sinks.file.per_target`).
    target: str | None = None

    def __post_init__(self) -> None:
        """A time limit is a positive, finite number of seconds (`--timeout nan` is a mistake);
        stdin is something that can be sent."""
        check_stdin(self.stdin)
        object.__setattr__(self, "sinks", check_sinks(self.sinks))  # an iterator: read once
        object.__setattr__(self, "timeout", check_timeout(self.timeout))

    def sinks_of_step(self, step: PlannedStep, kind: str) -> Sequence[Sink]:
        """A pre/post command's own sinks: `step_sinks`' when given, else `steps_apart`'s."""
        return self.step_sinks(step, kind) if self.step_sinks else steps_apart(self.sinks)

    def closes_stdin(self, stdin_mode: str) -> bool:
        """Whether EOF comes without a `close_stdin` call: at once, or after the `stdin`
        source (`close_stdin=None` with a source, or a service that takes no input)."""
        return stdin_mode == "none" or self.close_stdin is True or (
            self.close_stdin is None and self.stdin is not None)


def check_timeout(timeout: object) -> float | None:
    """A time limit: None or a positive, finite number of seconds, as a float (ConfigError
    otherwise): one check, so a fleet refuses `--timeout 0` before it starts, in a single
    run's words; a NumPy number too (fleets21)."""
    return seconds(timeout)
