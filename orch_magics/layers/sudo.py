"""The `sudo` layer kind: run as another user at the previous place. Imports no runtime.

A sudo hop rewrites each command to start through `sudo -S` on the place before it (this
machine, an ssh host, a container that has sudo). The password, when sudo asks, goes to its
stdin prompt, never on an argv. The runtime is in `sudo_launcher.py`, `sudo_handshake.py` and
`sudo_process.py`, imported by `wrap` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..limits import MAX_SECONDS
from ..process.environ import secret_only, variable_names
from ..redaction import masked_repr
from .base import Launcher
from .names import shown_user


def _user_name(value: str) -> None:
    shown_user(value)  # `sudo -u` is on an argv
    if not value or value.startswith("-") or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} is not a user name (or #uid)")


def _kept_names(names: tuple[str, ...]) -> None:
    variable_names(names)
    if "SUDO_PROMPT" in names:  # the prompt is answered with the password: never the target's
        raise ValueError("SUDO_PROMPT holds the prompt orch answers with the password: the "
                         "target user must not see it")


@masked_repr  # its password is a resolved secret
@dataclass(frozen=True)
class SudoConfig:
    """Run commands as another user through sudo, at the place of the previous layer."""

    user: str = field(default="root", metadata={"doc": "Target user: a name, or a uid "
                                                "quoted as '#1000' (unquoted, # starts a "
                                                "YAML comment).",
                                                "check": _user_name})
    password: str | None = field(
        default=None, metadata={"doc": "The sudo password of the login user, only as a "
                                       "{{secret:NAME}} placeholder (none for NOPASSWD rules).",
                                "check": secret_only("sudo password")})
    login: bool = field(default=False, metadata={
        "doc": "Run the target's login shell first, as `sudo -i` (its profile and home)."})
    preserve_env: tuple[str, ...] = field(default=(), metadata={
        "doc": "Variables of the previous place that sudo keeps (`--preserve-env=…`).",
        "check": _kept_names})
    timeout: float = field(default=15.0, metadata={
        "doc": "Seconds for sudo to authenticate and start the command.", "gt": 0,
        "le": MAX_SECONDS})


class SudoKind:
    """`sudo`: another user at the previous place (the command passes through `sudo -S`)."""

    name: ClassVar[str] = "sudo"
    Config: ClassVar[type] = SudoConfig
    carries: ClassVar[frozenset[str] | None] = frozenset()
    target: ClassVar[str] = "user"  # the short form `sudo NAME` sets it

    def needs(self, config: SudoConfig) -> str | None:
        return None

    def label(self, config: SudoConfig) -> str:
        return f"sudo {config.user}"

    def wrap(self, config: SudoConfig, inner: Launcher, label: str) -> Launcher:
        from .sudo_launcher import SudoLauncher

        return SudoLauncher(config, inner, label)


KIND = SudoKind()
