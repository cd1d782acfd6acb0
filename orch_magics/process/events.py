"""Events a running process emits, in the order they happen: output chunks, then one Exit."""

from __future__ import annotations

import signal as _signal
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Stdout:
    """A chunk of the process's stdout, exactly as received (any size, any bytes)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Stderr:
    """A chunk of the process's stderr."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Exit:
    """The last event: how the process ended.

    `code` is the exit status, `signal` the number of the signal that killed it (one of the two is
    set when the end is known). `error` is set when the chain broke and the real end is unknown.
    """

    code: int | None = None
    signal: int | None = None
    error: BaseException | None = None

    @property
    def returncode(self) -> int | None:
        """subprocess-style: the code, or -N after signal N, or None when unknown."""
        if self.signal is not None:
            return -self.signal
        return self.code

    @property
    def shell_status(self) -> int:
        """The status a shell would report: the code, 128+N after signal N, 255 when unknown."""
        if self.signal is not None:
            return 128 + self.signal
        if self.code is not None:
            return self.code
        return 255

    def failing(self, problem: BaseException) -> Exit:
        """This end with `problem` as its error: a run that did not give what was asked though
        its process ended (stdin broke, output not kept); an error already said stays."""
        return self if self.error is not None else Exit(self.code, self.signal, problem)

    def describe(self) -> str:
        if self.signal is not None:
            try:
                name = _signal.Signals(self.signal).name
            except ValueError:
                name = f"signal {self.signal}"
            # a stop orch made for a reason (its stdin source failed) says it (basics12)
            return f"killed by {name}" + (f"; {self.error}" if self.error else "")
        if self.code is not None:  # exit 0 and yet failed (output not kept): it says why
            return f"exit {self.code}" + (f"; {self.error}" if self.error else "")
        return f"failed: {self.error}" if self.error else "unknown end"


Event = Stdout | Stderr | Exit
