"""What a lost connection leaves behind: the process group it carried, killed over a new one.

Every remote kind ends the same way when the connection under a running command dies: it
reconnects, kills the command's process group, and says what happened, or what may still run
and where. The kind supplies one try; trying twice (a pooled connection may not know yet that
it is dying) and the words are here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

#: Seconds one reconnection, or one kill over it, may take after a connection was lost.
CLEANUP_TIMEOUT = 5.0


class TryAgain(Exception):
    """One try failed (`str`: why, as the message says it); the next may not."""


class GiveUp(TryAgain):
    """One try failed and no other is worth making (the time for it is spent)."""


async def kill_after_loss(place: str, kill_once: Callable[[], Awaitable[str | None]]
                          ) -> str | None:
    """What became of `place` (`process group N on HOST`): `kill_once` reconnects, kills it and
    says so (None: nothing of it was running), or raises TryAgain / GiveUp saying why not."""
    why = "killing it failed: no answer"
    for _ in range(2):
        try:
            return await kill_once()
        except GiveUp as exc:
            why = str(exc)
            break
        except TryAgain as exc:
            why = str(exc)
    return f"it may still be running as {place} ({why})"
