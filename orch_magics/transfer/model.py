"""What a copy returns and raises, and the progress contract its front ends implement."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, Union

from ..errors import OneLine, OrchError
from ..process.command import escaped
from ..redaction import masked_repr, redact
from ..secrets.masking import get_logger
from ..text import printable

#: A path given to a copy: a str or an os.PathLike (checked by `prepare.path_of`).
PathArg = Union[str, "os.PathLike[str]"]


class TransferError(OrchError):
    """A copy did not happen: nothing was left at the destination (one-line reason)."""


class CopyInterrupted(OneLine, KeyboardInterrupt):
    """Ctrl-C (or the CLI's TERM / HUP) stopped a copy. Nothing was kept but `.kept`: copies
    already in place when the stop came (a fleet's finished targets; a copy that completed as
    the interrupt arrived), each whole and checked."""

    def __init__(self, kept: list[Transferred], left: Sequence[str] = ()) -> None:
        """`left`: what a stopped run said may still be there (a silent link: files10)."""
        self.kept = kept
        super().__init__("; ".join([_kept_line(kept), *left]))


class ForwardInterrupted(OneLine, KeyboardInterrupt):
    """Ctrl-C stopped a forward while it opened (a hop still connecting): nothing was left
    open. One line, as an interrupted run or copy says it (magics15: a 77-line traceback)."""

    def __init__(self) -> None:
        super().__init__("interrupted while the forward opened; nothing was left open")


def _kept_line(kept: list[Transferred]) -> str:
    if not kept:
        return "interrupted; nothing was kept"
    if len(kept) == 1 and kept[0].target is None:
        return f"interrupted as the copy completed; it was kept: {kept[0]}"
    labels = [str(t.target) for t in kept]
    named = ", ".join(labels[:5]) + (f" and {len(labels) - 5} more" if len(labels) > 5 else "")
    copies = "the copy on 1 target" if len(kept) == 1 else f"the copies on {len(kept)} targets"
    return (f"interrupted; {copies} had completed and {'was' if len(kept) == 1 else 'were'} "
            f"kept ({named}); nothing else was kept")


class Progress(Protocol):
    """Told how a copy advances; called from any thread, must be quick."""

    def start(self, label: str, total: int | None) -> None: ...

    def update(self, done: int) -> None: ...

    def finish(self, ok: bool | None) -> None:
        """The copy ended: succeeded, failed, or (None, falsy too) was interrupted."""
        ...


def progress_of(value: object) -> Progress:
    """`progress=` as given (None: NoProgress), or a one-line error before anything starts."""
    if value is None:
        return NoProgress()
    missing = [m for m in ("start", "update", "finish") if not callable(getattr(value, m, None))]
    if missing:
        raise TransferError(f"progress= takes an object with start, update and finish methods; "
                            f"{type(value).__name__} has no {', '.join(missing)}")
    return _Guarded(value)  # type: ignore[arg-type]  # checked just above


class _Guarded:
    """A caller's progress object that raises is told no more of the copy, which goes on (a
    warning names the error), as a run's sink is: files5 saw its error reported as bytes lost
    on the way, and a copy kept whole said only `RuntimeError`."""

    def __init__(self, progress: Progress) -> None:
        self._progress: Progress | None = progress
        self._started = False

    def start(self, label: str, total: int | None) -> None:
        self._started = True
        self._call(lambda p: p.start(label, total))

    def update(self, done: int) -> None:
        self._call(lambda p: p.update(done))

    def finish(self, ok: bool | None) -> None:
        """Said only of a copy it was told began (review44: a copy that failed before it
        began, a missing file, called a bar's `finish` with no `start`, which it had not made)."""
        if self._started:
            self._call(lambda p: p.finish(ok), "which has ended")

    def _call(self, method: Callable[[Progress], None], then: str = "which goes on") -> None:
        progress = self._progress
        if progress is None:
            return
        try:
            method(progress)
        except Exception as exc:
            self._progress = None
            get_logger(__name__).warning(
                "the progress= object raised %s: %s; it is told no more of this copy, %s",
                type(exc).__name__, exc, then)


class NoProgress:
    """Shows nothing (piped output, plain Python)."""

    def start(self, label: str, total: int | None) -> None:
        pass

    def update(self, done: int) -> None:
        pass

    def finish(self, ok: bool | None) -> None:
        pass


@masked_repr  # a file name may hold a secret: shown masked, as the copy's errors are
@dataclass(frozen=True)
class Transferred:
    """A finished copy: what went where, how many bytes, their sha256 (checked both ends)."""

    direction: Literal["get", "put"]
    environment: str
    source: str
    destination: str
    kind: Literal["file", "directory"]
    bytes: int
    sha256: str
    duration: float
    audit_id: str | None = None
    target: str | None = None  # the fleet target's label

    def __str__(self) -> str:
        verb = "got" if self.direction == "get" else "put"
        # names as one line: a newline or a terminal escape in one is shown escaped, a byte
        # that is no UTF-8 as \xNN (the magic printed them raw: ports7)
        src, dst = printable(escaped(self.source)), printable(escaped(self.destination))
        if self.direction == "get":
            src = f"{self.environment}:{src}"
        else:
            dst = f"{self.environment}:{dst}"
        # in the unit that says it (browser15: a small copy's rate read `0 MB/s`)
        rate = human(self.bytes / self.duration) if self.duration > 0 else human(0)
        audit = f" · audit {self.audit_id}" if self.audit_id else ""  # a runbook names it
        return redact(f"{verb} {self.kind} {src} → {dst}: {human(self.bytes)} in "
                      f"{self.duration:.1f} s ({rate}/s), sha256 {self.sha256[:16]}…"
                      f"{audit}")


def human(n: float) -> str:
    """1234567 → '1.2 MB' (decimal units, as transfer tools print them)."""
    if n < 1000:
        return f"{n:.0f} B"
    for unit in ("kB", "MB"):
        n /= 1000
        if n < 1000:
            return f"{n:.1f} {unit}"
    return f"{n / 1000:.1f} GB"
