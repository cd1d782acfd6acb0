"""This machine: processes run as real subprocesses in their own process group.

`LocalLauncher` is the base of every chain. The `local` layer kind adds variables and a working
directory to the commands that pass through it (it does not start anything itself). How a child
is started and read is in `local_process.py` (pipes) and `local_pty.py` (a terminal).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from ..frozen import FrozenMap
from ..process.command import Command, check_directory
from ..process.environ import variable_names
from ..process.handle import ProcessBackend, ProcessHandle
from ..redaction import masked_repr
from . import forward_folders
from .base import LaunchContext, Launcher, SeeThrough, go_ahead
from .failed_start import start_error
from .local_process import SubprocessBackend, spawn
from .local_pty import launch_pty


class LocalLauncher(Launcher):
    """Runs commands on this machine: the innermost layer of the empty environment.

    It carries connections (directly: `tunnel()` is None) and its unix sockets are reachable
    as they are.
    """

    def __init__(self, context: LaunchContext | None = None) -> None:
        self.context = context or LaunchContext()
        self.label = "local"
        self.depth = 0
        self.parent = None
        self.inner = None

    async def launch(self, command: Command) -> ProcessHandle:
        go_ahead()
        backend = await (launch_pty(command) if command.tty else self._launch_pipes(command))
        return ProcessHandle(backend, command, chain=self.chain)

    async def _launch_pipes(self, command: Command) -> ProcessBackend:
        pipe = asyncio.subprocess.PIPE
        try:
            proc, protocol = await spawn(command, stdin=pipe, stdout=pipe, stderr=pipe)
        except OSError as exc:
            return start_error(exc, command)
        return SubprocessBackend(proc, protocol)

    async def tunnel(self) -> object | None:
        return None  # connect directly from this machine

    async def forward_unix(self, path: str) -> str:
        """`path` itself, or, when it holds what a URL reads otherwise (`#`, `?`: the docker
        SDK takes a socket as a URL and refuses both), a link to it in a private folder
        (kinds18: `/tmp/k18#hash/podman.sock` was tried as /tmp/k18)."""
        if not any(c in path for c in "#?"):
            return path
        link = forward_folders.made_socket()
        os.symlink(path, link)
        return link

    async def connect_unix(self, path: str, protocol: asyncio.BaseProtocol) -> None:
        await asyncio.get_running_loop().create_unix_connection(lambda: protocol, path)


# ---- the `local` layer kind: variables and working directory ------------------------------

_EMPTY: Mapping[str, str] = FrozenMap()


@masked_repr  # resolved placeholders may be secrets
@dataclass(frozen=True)
class LocalConfig:
    """Variables and working directory for commands that pass through this layer."""

    environment: Mapping[str, str] = field(
        default_factory=lambda: _EMPTY, metadata={
            "doc": "Variables added for every command (service values win).",
            "check": variable_names})
    working_dir: str | None = field(
        default=None, metadata={"doc": "Default directory (a service's working_dir wins).",
                                "check": check_directory})


class EnvLauncher(SeeThrough):
    """Adds the layer's variables and directory to each command; otherwise it is `inner`."""

    def __init__(self, config: LocalConfig, inner: Launcher) -> None:
        super().__init__(inner)
        self._config = config

    async def launch(self, command: Command) -> ProcessHandle:
        cmd = command.with_env(self._config.environment, override=False)
        cmd = cmd.with_cwd(self._config.working_dir, override=False)
        assert self.inner is not None
        return await self.inner.launch(cmd)


class LocalKind:
    """`local`: variables and a working directory for the commands that pass through."""

    name: ClassVar[str] = "local"
    Config: ClassVar[type] = LocalConfig
    carries: ClassVar[frozenset[str] | None] = None  # variables only: the place stays the same

    def needs(self, config: LocalConfig) -> str | None:
        return None

    def sets_for_commands(self, config: LocalConfig) -> bool:
        """Whether it sets anything: before a hop reached from here (ssh, a container's
        engine) nothing is started through it, and the config says so (`config.chain`)."""
        return bool(config.environment or config.working_dir)

    def label(self, config: LocalConfig) -> str:
        parts = [f"cwd={config.working_dir}"] if config.working_dir else []
        parts += sorted(config.environment)
        return f"env({', '.join(parts)})" if parts else "env"

    def wrap(self, config: LocalConfig, inner: Launcher, label: str) -> Launcher:
        return EnvLauncher(config, inner)


KIND = LocalKind()
