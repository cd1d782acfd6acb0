"""SSH hops over asyncssh (placeholder until the SSH layer lands: config is validated already)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..errors import LayerError
from .base import Launcher


@dataclass(frozen=True)
class SSHConfig:
    """One SSH hop, reached through the previous hop when there is one."""

    host: str = field(metadata={"doc": "Host name, address, or a Host alias from ~/.ssh/config."})
    user: str | None = field(default=None, metadata={"doc": "Login user."})
    port: int | None = field(default=None, metadata={"doc": "Port (default 22 or ssh_config)."})
    identity_file: str | None = field(default=None, metadata={"doc": "Private key file."})
    known_hosts: str | None = field(default=None, metadata={"doc": "known_hosts file."})
    password: str | None = field(
        default=None, metadata={"doc": "Only as a {{secret:NAME}} placeholder."})
    connect_timeout: float = field(default=15.0, metadata={"doc": "Seconds to connect."})
    keepalive: float = field(default=30.0, metadata={"doc": "Keepalive interval in seconds."})
    insecure_accept_host_key: bool = field(
        default=False, metadata={"doc": "Skip host key verification for this hop (unsafe)."})


class SSHKind:
    name: ClassVar[str] = "ssh"
    Config: ClassVar[type] = SSHConfig

    def label(self, config: SSHConfig) -> str:
        return f"ssh {config.host}"

    def wrap(self, config: SSHConfig, inner: Launcher, label: str) -> Launcher:
        raise LayerError("the ssh layer is not available yet", layer=label)


KIND = SSHKind()
