"""Expand `{{secret:NAME}}`, `{{env:VAR}}` and `{{env:VAR:-default}}` in config values.

Resolution happens while planning, before anything runs, so a missing secret never starts a
half-configured process. Every resolved secret value is recorded so sinks can mask it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..errors import ConfigError
from ..process.environ import PLACEHOLDER, SECRET_ENV_PREFIX


def secret_env_name(name: str) -> str:
    """`db_password` → `ORCH_SECRET_DB_PASSWORD` (letters and digits kept, the rest `_`)."""
    return SECRET_ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


class SecretValues:
    """The secret values a plan uses; never shown by repr."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: list[str] = []
        for v in values:
            self.add(v)

    def add(self, value: str) -> None:
        if value and value not in self._values:
            self._values.append(value)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"<{len(self._values)} secret value(s)>"


SecretLookup = Callable[[str], "str | None"]


def env_provider(name: str) -> str | None:
    return os.environ.get(secret_env_name(name))


class _FunctionProvider:
    """Adapts a `(label, lookup)` pair to the provider interface."""

    def __init__(self, label: str, lookup: SecretLookup) -> None:
        self.label = label
        self.lookup = lookup

    def describe(self, name: str) -> str:
        return f"env {secret_env_name(name)}" if self.lookup is env_provider else self.label


class Resolver:
    """Resolves placeholders with a chain of secret providers (first answer wins).

    `providers` are provider objects (`label`, `lookup(name)`, `describe(name)`, see
    `secrets.providers`) or `(label, lookup)` pairs. Every value found is recorded in `used`
    and registered for masking everywhere (`secrets.masking`).
    """

    def __init__(self, providers: Iterable[Any] | None = None) -> None:
        chain = list(providers) if providers is not None else [("env", env_provider)]
        self.providers: list[Any] = [
            _FunctionProvider(*p) if isinstance(p, tuple) else p for p in chain]
        self.used = SecretValues()
        self._cache: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: Any = None, *,
                      prompt: Callable[[str], str | None] | None = None) -> Resolver:
        """The chain configured by a `SecretsSettings` (default: env, keyring, file, prompt)."""
        from ..config.model import SecretsSettings
        from .providers import providers_from_settings

        return cls(providers_from_settings(settings or SecretsSettings(), prompt=prompt))

    def secret(self, name: str) -> str | None:
        if name in self._cache:
            return self._cache[name]
        for provider in self.providers:
            value = provider.lookup(name)
            if value is not None:
                from .masking import register

                register(value)
                self.used.add(value)
                self._cache[name] = value
                return value
        return None

    def tried(self, name: str) -> str:
        return ", ".join(p.describe(name) for p in self.providers) or "no providers"

    def expand(self, text: str, where: Callable[[str], ConfigError]) -> str:
        """Expand the placeholders in `text`; `where(msg)` builds the error for a missing one."""

        def sub(m: re.Match[str]) -> str:
            kind, body = m.group(1), m.group(2)
            if kind == "env":
                var, sep, default = body.partition(":-")
                value = os.environ.get(var)
                if value is None or (sep and value == ""):
                    if sep:
                        return default
                    raise where(f"variable {var!r} is not set (write {{{{env:{var}:-default}}}} "
                                f"to give a default)")
                return value
            value = self.secret(body)
            if value is None:
                raise where(f"secret {body!r} is not available (tried: {self.tried(body)}; "
                            f"e.g. set {secret_env_name(body)})")
            return value

        return PLACEHOLDER.sub(sub, text)


def resolve_mapping(values: Mapping[str, str], resolver: Resolver,
                    where: Callable[[str, str], ConfigError]) -> dict[str, str]:
    """Expand every value; `where(key, msg)` builds the error naming the key."""
    def error_for(key: str) -> Callable[[str], ConfigError]:
        return lambda msg: where(key, msg)

    return {k: resolver.expand(v, error_for(k)) for k, v in values.items()}


def has_placeholder(value: Any) -> bool:
    return isinstance(value, str) and bool(PLACEHOLDER.search(value))
