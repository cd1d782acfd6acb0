"""Expand `{{secret:NAME}}`, `{{env:VAR}}` and `{{env:VAR:-default}}` in config values.

Resolution happens while planning, before anything runs, so a missing secret never starts a
half-configured process. Every resolved secret value is recorded so sinks can mask it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from ..errors import ConfigError
from ..process.environ import PLACEHOLDER, SECRET_ENV_PREFIX
from .masking import REGISTRY, register
from .providers import (
    EnvProvider,
    MissingSecretsFile,
    SecretProvider,
    providers_from_settings,
    secret_env_name,
)

if TYPE_CHECKING:
    from ..config.model import SecretsSettings


T = TypeVar("T")


class Resolver:
    """Resolves placeholders with a chain of secret providers (first answer wins).

    An empty value is no answer (a missing secret is never an empty string): it is what
    `export ORCH_SECRET_X=$(pass show x)` leaves when `pass` failed, so the next provider is
    asked, and the error says which provider had it empty.

    `providers` follow `secrets.providers.SecretProvider` (default: the env provider alone).
    Every value found is registered for masking everywhere (`secrets.masking`).
    """

    def __init__(self, providers: Iterable[SecretProvider] | None = None) -> None:
        self.providers: list[SecretProvider] = (
            list(providers) if providers is not None else [EnvProvider()])
        self._cache: dict[str, str] = {}
        self._empty: set[tuple[str, int]] = set()  # (name, provider index) that gave ""

    @classmethod
    def from_settings(cls, settings: SecretsSettings, *,
                      prompt: Callable[[str], str | None] | None = None,
                      scope: tuple[str, ...] = ()) -> Resolver:
        """The chain a config's `secrets:` section gives (default: env, keyring, file, prompt);
        `scope`: the config's files (an answer typed at the prompt is theirs only)."""
        return cls(providers_from_settings(settings, prompt=prompt, scope=scope))

    def secret(self, name: str) -> str | None:
        """The value of secret `name` from the first provider that has it (None: none has)."""
        if name in self._cache:
            return self._cache[name]
        for i, provider in enumerate(self.providers):
            try:
                value = provider.lookup(name)
            except MissingSecretsFile as exc:  # said with what the providers before it said
                exc.tried = self.tried(name, upto=i) if i else ""
                exc.env_before = any(isinstance(p, EnvProvider) for p in self.providers[:i])
                raise
            if value == "":
                self._empty.add((name, i))
            elif value is not None:
                register(value)
                self._cache[name] = value
                return value
        return None

    def ready(self, plan: T) -> T:
        """`plan`, the masks of the secrets resolved for it compiled here, in the thread that
        planned the run: compiled on first use, that was the run loop's, and a big secret's
        compile held every run on it (review20)."""
        REGISTRY.forms  # noqa: B018  (compiled when read)
        return plan

    def tried(self, name: str, upto: int | None = None) -> str:
        """Where the providers (before the `upto`th) looked for `name`, for the "not
        available" error."""
        return ", ".join(p.describe(name) + (" (set but empty)" if (name, i) in self._empty else "")
                         for i, p in enumerate(self.providers[:upto])) or "no providers"

    def expand(self, text: str, where: Callable[[str], ConfigError]) -> str:
        """Expand the placeholders in `text`; `where(msg)` builds the error for a missing one."""

        def sub(m: re.Match[str]) -> str:
            kind, body = m.group(1), m.group(2)
            if kind == "env":
                var, sep, default = body.partition(":-")
                var = var.strip()  # `{{env:HOST :-x}}` reads HOST, as `{{env: HOST }}` does
                value = os.environ.get(var)
                if value is None or (sep and value == ""):
                    if sep:
                        return default
                    raise where(f"variable {var!r} is not set{_near(var)} (write "
                                f"{{{{env:{var}:-default}}}} to give a default)")
                if var.startswith(SECRET_ENV_PREFIX):  # a secret however it is asked (safety20)
                    register(value)
                return value
            return self.secret_text(body, m.group(0), where)

        return PLACEHOLDER.sub(sub, text)

    def secret_text(self, name: str, written: str, where: Callable[[str], ConfigError]) -> str:
        """What `{{secret:NAME}}` (`written`) becomes: its value, else the error."""
        try:
            value = self.secret(name)
        except MissingSecretsFile as exc:  # said with the secret and where it is asked
            before = f" (tried before it: {exc.tried})" if exc.tried else ""
            hint = self._hint(name) if exc.env_before else ""  # none after it is asked
            raise where(f"secret {name!r} is not available: {exc.message}{before} "
                        f"({hint}create the file)") from None
        if value is None:
            raise where(f"secret {name!r} is not available (tried: {self.tried(name)}; "
                        f"{self._hint(name).removesuffix(', or ') or self._no_env(name)})")
        return value

    def _hint(self, name: str) -> str:
        """`e.g. set ORCH_SECRET_X, or ` when the env provider is asked (basics11: the hint
        was given when it was not, and following it changed nothing); else ""."""
        if not any(isinstance(p, EnvProvider) for p in self.providers):
            return ""
        return f"e.g. set {secret_env_name(name)}, or "

    @staticmethod
    def _no_env(name: str) -> str:
        return f"add env to secrets.providers to take it from {secret_env_name(name)}"

    def checkable(self, expanded: str) -> str:
        """The part of `expanded` (what `expand` gave) a check of the value can judge: all of it."""
        return expanded


class DryRunResolver(Resolver):
    """The resolver of a plan made only to be shown (`--dry-run`): `{{secret:NAME}}` stays as
    written and no provider is asked (no password manager runs, nobody is prompted, a secret
    this machine lacks is no error); `{{env:…}}` expands as usual."""

    def __init__(self) -> None:
        super().__init__(())

    def secret_text(self, name: str, written: str, where: Callable[[str], ConfigError]) -> str:
        return written

    def checkable(self, expanded: str) -> str:
        """Without the `{{secret:…}}` left as written: what a secret gives is checked when the
        run's own plan reads it (basics8 F1: a dry pass judged `{{secret:u}}` as a user name)."""
        return PLACEHOLDER.sub(lambda m: "" if m.group(1) == "secret" else m.group(0), expanded)


def _near(name: str) -> str:
    """A set variable spelt near `name` (`HOM` → HOME), as a did-you-mean; secrets' own
    variables are not offered."""
    import difflib

    names = [k for k in os.environ if not k.startswith(SECRET_ENV_PREFIX)]
    found = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
    return f" (did you mean {found[0]!r}?)" if found else ""
