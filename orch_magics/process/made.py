"""Which process handles were made while something ran, for whoever must stop them if it gives
up: a plugin's launch that fails or is cancelled after its inner launch started the command
(kinds16: the command ran on, an orphan)."""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .handle import ProcessHandle

#: The handles made in this context (None: nobody keeps them).
MADE: contextvars.ContextVar[list[ProcessHandle] | None] = contextvars.ContextVar(
    "orch_handles_made", default=None)


def note_made(handle: ProcessHandle) -> None:
    """`handle` was just made: kept for whoever set MADE in this context."""
    if (made := MADE.get()) is not None:
        made.append(handle)
