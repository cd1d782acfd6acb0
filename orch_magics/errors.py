"""The package's exceptions: every failure a user can cause or meet has its own class and message."""

from __future__ import annotations

import asyncio
import unicodedata
from typing import TYPE_CHECKING, Any

from .redaction import redact
from .text import printable

if TYPE_CHECKING:
    from .fleet.result import FleetResult
    from .result import RunResult


class OneLine:
    """IPython shows our errors and interruptions as `Type: message`: each says what went
    wrong and what to do, and a traceback into the library would bury that (`c.send_line` on
    a run that has ended showed 15 lines of one, an interrupted `h.wait()` 11)."""

    def _render_traceback_(self) -> list[str]:
        return f"{type(self).__name__}: {self}".splitlines()

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as it is, whatever its constructor takes: a process pool's job that raised
        one gives it back (safety20: a RunError's result came back as its message text, and
        the pool broke)."""
        return _unpickled, (type(self), getattr(self, "args", ()), vars(self))


def _unpickled(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]
               ) -> BaseException:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class OrchError(OneLine, Exception):
    """Base class of every error orch_magics raises on purpose."""

    def __str__(self) -> str:
        return redact(super().__str__())  # a message built from a resolved value never shows it

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class ConfigError(OrchError):
    """Bad configuration: names the file, line and column, shows the line, suggests a fix."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        source_line: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.source_line = source_line
        self.suggestion = suggestion
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.file:  # a path holding a newline, an escape or bytes not UTF-8: one line
            where = printable(self.file.encode("utf-8", "surrogateescape")
                              .decode("utf-8", "backslashreplace"))
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        text = f"{where}{self.message}"
        if self.suggestion:
            text += f" (did you mean {self.suggestion!r}?)"
        if self.source_line is not None:
            shown, caret = _excerpt(self.source_line, self.column)
            text += f"\n    {shown}"
            if caret is not None:
                text += "\n    " + _pad(shown[:caret]) + "^"
        return text


#: How much of a source line an error shows (a generated or minified line can be megabytes).
EXCERPT = 100


def _excerpt(line: str, column: int | None) -> tuple[str, int | None]:
    """At most EXCERPT characters of `line` around `column` (1-based), and the caret's offset."""
    at = (column - 1) if column is not None else 0
    if len(line) <= EXCERPT:
        return line, None if column is None else at
    start = max(0, min(at - EXCERPT // 2, len(line) - EXCERPT))
    shown = ("…" if start else "") + line[start:start + EXCERPT] + (
        "…" if start + EXCERPT < len(line) else "")
    return shown, None if column is None else at - start + (1 if start else 0)


def _pad(before: str) -> str:
    """Blank space as wide on a terminal as `before`: its tabs kept, a wide character two
    columns, a combining mark none, so the caret stands under the column it names."""
    return "".join(
        "\t" if ch == "\t" else "" if unicodedata.combining(ch)
        else "  " if unicodedata.east_asian_width(ch) in "WF" else " " for ch in before)


class UnknownArgument(ConfigError, TypeError):
    """A keyword a method does not take (`servce=`), said with the one meant; a TypeError
    too, as Python's own would be."""


class LayerError(OrchError):
    """A layer could not do its part: names the hop (1 = outermost) and the layer. Raised by
    a run that could not start, `.result` is that run's RunResult (no exit status, its audit
    id, `json()`), as a fleet's row has one."""

    def __init__(self, message: str, *, hop: int | None = None, layer: str | None = None) -> None:
        self.reason = message
        self.hop = hop
        self.layer = layer
        self.result: RunResult | None = None
        prefix = ""
        if hop is not None and layer:
            prefix = f"hop {hop} ({layer}): "
        elif layer:
            prefix = f"{layer}: "
        super().__init__(prefix + message)

    def said_at(self, hop: int) -> str:
        """The message as quoted by hop `hop`'s own error: without the hop's name when it is
        that hop's."""
        return self.reason if self.hop == hop else str(self)


class ProcessLeft(LayerError):
    """A stop could not end the process (a paused container refused its KILL, a process stuck
    in the kernel): it may still be there, and the message says where."""


class ConnectError(LayerError):
    """The layer's target could not be reached (network, socket, engine)."""


class AuthError(LayerError):
    """The target refused our credentials."""


class PasswordRejected(AuthError):
    """The target refused the layer's `password` (sudo's, an ssh login's): the launcher a plan
    builds forgets that value for the session, so the next run asks (or fetches) it again."""


class HostKeyError(LayerError):
    """The target's host key is unknown or changed."""


class StreamError(LayerError):
    """The connection broke while the process ran; output received before is kept."""


class OutputFileError(OrchError):
    """A run's output file could not be written (a full disk): `partial_file` keeps what was."""

    def __init__(self, message: str, partial_file: str) -> None:
        super().__init__(message)
        self.partial_file = partial_file


class RunError(OrchError):
    """A run ended unsuccessfully; `.result` holds everything it printed."""

    def __init__(self, result: RunResult, message: str | None = None) -> None:
        self.result = result
        super().__init__(message or result.describe_failure())


class FleetError(RunError):
    """Targets of a fleet did not succeed (`FleetResult.check()`); `.result` is the
    FleetResult (`.failed`, `.causes`), so `except RunError` catches one run's and a fleet's."""

    def __init__(self, result: FleetResult, message: str) -> None:  # type: ignore[override]
        self.result = result  # type: ignore[assignment]
        OrchError.__init__(self, message)


class RunTimeout(RunError):
    """The run exceeded its timeout and was stopped; `.result` keeps the partial output."""


class StillRunning(OrchError, TimeoutError):
    """A wait ran out of time; what it waited for was not stopped and goes on. A TimeoutError,
    as Python's own would be, and shown in a notebook as one line like every OrchError."""


class PromptInterrupted(OneLine, KeyboardInterrupt):
    """Ctrl-C / a kernel interrupt at a secret's prompt: nothing ran (a KeyboardInterrupt,
    said in one line, as one at a protected environment's question: notebook15). `signum`:
    the signal the interrupt was (the CLI's TERM or HUP: its exit status says which)."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.signum: int | None = getattr(cause, "signum", None)


class SendInterrupted(OneLine, KeyboardInterrupt):
    """Ctrl-C / a kernel interrupt while `send` waited for the process to read: the wait
    ends, not the run, and what was sent stays queued (said in one line: magics25)."""


class RunInterrupted(OneLine, KeyboardInterrupt):
    """Ctrl-C / kernel interrupt stopped the run; `.result` keeps the partial output."""

    def __init__(self, result: RunResult) -> None:
        self.result = result
        if result.interrupted:
            super().__init__(result.describe_failure())
        else:  # magics18: it ended on its own just before: "RunInterrupted: … succeeded"
            super().__init__(f"{result.environment}/{result.label(60)} had ended "
                             f"({result.outcome()}) when the interrupt came: nothing was "
                             f"stopped, and its result is kept")

    def at_shutdown(self) -> RunInterrupted:
        """Said as stopped by the kernel's shutdown, not by a person: jupyter_client interrupts
        a kernel it shuts down, and a shutdown request alone stops its runs too (magics25)."""
        self.args = (f"{self.result.environment}/{self.result.label(60)} was stopped after "
                     f"{self.result.duration:.1f}s: the kernel shut down",)
        return self


class RunCancelled(OneLine, asyncio.CancelledError):
    """■ in a notebook cell stopped an awaited run (`arun`, a fleet's too): a CancelledError,
    as asyncio expects of an await that is cancelled (review38: a KeyboardInterrupt raised in
    a task of `gather` left the event loop, and the kernel died), said in one line; `.result`
    keeps what the run (every target of a fleet) did until then."""

    def __init__(self, result: RunResult | FleetResult, message: str) -> None:
        self.result = result
        super().__init__(message)  # one run's why, or a fleet's counts
