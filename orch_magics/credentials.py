"""A password the target refused is forgotten for the session, and the error says so.

The prompt and command providers remember a value for the whole session (asked or fetched
once). When a sudo or ssh layer raises `PasswordRejected`, re-sending that value on every later
run would fail again (one more failed login each time, towards a lockout) with no way to type
it anew. `ForgetsRejected` stands in front of the layer chain a plan builds, seeing through to
it as a variables-only layer does; a launch that ends in PasswordRejected drops the refused
value from those caches (`secrets.providers.forget`), so the next run asks or fetches it again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from .config.model import LayerSpec
from .errors import PasswordRejected
from .layers.base import Launcher, SeeThrough
from .process.command import Command
from .process.handle import ProcessHandle
from .secrets.providers import forget


class ForgetsRejected(SeeThrough):
    """`inner` (a built chain), forgetting a password one of `layers` was given and refused."""

    def __init__(self, inner: Launcher, layers: Sequence[LayerSpec]) -> None:
        super().__init__(inner)
        self._layers = tuple(layers)

    async def launch(self, command: Command) -> ProcessHandle:
        assert self.inner is not None
        try:
            return await self.inner.launch(command)
        except PasswordRejected as exc:
            raise forgotten(exc, self._layers) from None


#: What forgetting a refused value said, by the value's digest: every target of a fleet that
#: was refused it says the same, not only the first one to fail (kinds18: 1 row in 29 did).
_SAID: dict[str, list[str]] = {}


def forgotten(exc: PasswordRejected, layers: Sequence[LayerSpec]) -> PasswordRejected:
    """Forget the password of the layer that refused it (`exc.layer` is its label); the error
    then also says what was forgotten (nothing is, for a value read anew each run: env, file,
    keyring), as the error of every other run refused the same value says it."""
    values = {getattr(spec.config, "password", None) for spec in layers
              if spec.label == exc.layer}
    notes: list[str] = []
    for value in values:
        if isinstance(value, str):
            key = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
            said = _SAID[key] = forget(value) or _SAID.get(key, [])
            notes += said
    if not notes:
        return exc
    return PasswordRejected(f"{exc.reason}; {'; '.join(notes)}", hop=exc.hop, layer=exc.layer)
