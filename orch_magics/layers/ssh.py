"""The `ssh` layer kind: its Config and how it wraps. Importing this never imports asyncssh.

The runtime (connecting, pooled connections and their liveness, the launcher, the remote
process) lives in `ssh_connect.py` (with `ssh_unresolved.py`), `ssh_pool.py`,
`ssh_liveness.py`, `ssh_launcher.py` and `ssh_process.py`, imported by `wrap` when a chain is built, so loading or checking a config
with ssh layers stays free of the SDK.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..importing import importing_sdk
from ..limits import MAX_SECONDS
from ..process.command import check_path
from ..process.environ import secret_only
from ..redaction import masked_repr
from .base import Launcher
from .names import check_given_login, check_login_name, check_target_name


@masked_repr  # its password is a resolved secret
@dataclass(frozen=True)
class SSHConfig:
    """One SSH hop, reached through the previous hop when there is one."""

    host: str = field(metadata={"doc": "Host name, address, or a Host alias from ~/.ssh/config.",
                                "check": check_target_name})
    user: str | None = field(default=None, metadata={"doc": "Login user.",
                                                      "check": check_login_name,
                                                      "check_expanded": check_given_login})
    port: int | None = field(default=None, metadata={"doc": "Port (default 22 or ssh_config).",
                                                     "ge": 1, "le": 65535})
    identity_file: str | None = field(default=None, metadata={
        "doc": "Private key file (relative: to the config file).", "check": check_path,
        "beside_config": True})
    known_hosts: str | None = field(
        default=None, metadata={"doc": "known_hosts file (default ~/.ssh/known_hosts; "
                                       "relative: to the config file).",
                                "check": check_path, "beside_config": True})
    password: str | None = field(
        default=None, metadata={"doc": "Only as a {{secret:NAME}} placeholder.",
                                "check": secret_only("password")})
    connect_timeout: float = field(default=15.0, metadata={"doc": "Seconds to connect.", "gt": 0,
                                                           "le": MAX_SECONDS})
    keepalive: float = field(default=30.0, metadata={"doc": "Keepalive interval in seconds.",
                                                     "ge": 0, "le": MAX_SECONDS})
    insecure_accept_host_key: bool = field(
        default=False, metadata={"doc": "Skip host key verification for this hop (unsafe)."})
    ssh_config: str | None = field(
        default=None, metadata={"doc": "OpenSSH client config file (default ~/.ssh/config; "
                                       "relative: to the config file).",
                                "check": check_path, "beside_config": True})
    #: Its config was found in the working folder, not named: what its ssh_config includes
    #: and names is judged when it is read (set by the loader, as its files are judged).
    found: bool = field(default=False, metadata={"internal": True})


class SSHKind:
    """`ssh`: a host reached directly or through the previous ssh hop's connection."""

    name: ClassVar[str] = "ssh"
    Config: ClassVar[type] = SSHConfig
    carries: ClassVar[frozenset[str] | None] = frozenset({"tcp", "unix"})
    target: ClassVar[str] = "host"  # the short form `ssh NAME` sets it
    fans_out: ClassVar[bool] = True  # host: [a, b], "web-[01:12]", "group:web"

    def needs(self, config: SSHConfig) -> str | None:
        return "tcp"

    def label(self, config: SSHConfig) -> str:
        return f"ssh {config.host}"

    def wrap(self, config: SSHConfig, inner: Launcher, label: str) -> Launcher:
        # asyncssh: ~0.1 s; its import would start helper processes
        with importing_sdk(f"{__package__}.ssh_launcher"):
            from .ssh_launcher import SSHLauncher

        return SSHLauncher(config, inner, label)


KIND = SSHKind()
