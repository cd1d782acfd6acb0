"""This machine: processes run as real subprocesses in their own process group.

`LocalLauncher` is the base of every chain. The `local` layer kind adds variables and a working
directory to the commands that pass through it (it does not start anything itself).
"""

from __future__ import annotations

import asyncio
import os
import signal as _signal
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from ..errors import LayerError
from ..process.command import Command
from ..process.events import Exit
from ..process.handle import ProcessHandle
from .base import LaunchContext, Launcher

#: Read size for pipes; large reads keep the per-chunk Python cost out of the throughput.
READ_CHUNK = 1 << 20


async def _read_stream(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while True:
        chunk = await reader.read(READ_CHUNK)
        if not chunk:
            return
        yield chunk


class SubprocessBackend:
    """A local child process started with start_new_session=True (pgid == pid)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        self.pid: int | None = proc.pid

    def stdout(self) -> AsyncIterator[bytes]:
        assert self._proc.stdout is not None
        return _read_stream(self._proc.stdout)

    def stderr(self) -> AsyncIterator[bytes] | None:
        assert self._proc.stderr is not None
        return _read_stream(self._proc.stderr)

    async def write(self, data: bytes) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(data)
        await self._proc.stdin.drain()

    async def write_eof(self) -> None:
        assert self._proc.stdin is not None
        if not self._proc.stdin.is_closing():
            self._proc.stdin.close()
            try:
                await self._proc.stdin.wait_closed()
            except (BrokenPipeError, ConnectionResetError):
                pass

    async def wait(self) -> Exit:
        rc = await self._proc.wait()
        return Exit(signal=-rc) if rc < 0 else Exit(code=rc)

    async def signal(self, sig: int) -> None:
        """Signal the whole process group, so children stop too."""
        try:
            os.killpg(self._proc.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            try:
                self._proc.send_signal(sig)
            except ProcessLookupError:
                pass

    async def close(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.is_closing():
            self._proc.stdin.close()
        if self._proc.returncode is None:
            return
        # The leader is gone; make sure nothing of its group outlives it when it was stopped.
        if self._proc.returncode < 0:
            try:
                os.killpg(self._proc.pid, _signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


class LocalLauncher(Launcher):
    """Runs commands on this machine: the innermost layer of the empty environment."""

    def __init__(self, context: LaunchContext | None = None) -> None:
        self.context = context or LaunchContext()
        self.label = "local"
        self.depth = 0
        self.parent = None

    async def launch(self, command: Command) -> ProcessHandle:
        env = {**os.environ, **command.env} if command.env else None
        try:
            if command.tty:
                from .local_pty import launch_pty

                return await launch_pty(command, env, self.chain)
            proc = await asyncio.create_subprocess_exec(
                *command.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                cwd=command.cwd,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            missing = command.cwd if command.cwd and not os.path.isdir(command.cwd) else exc.filename
            what = "working directory" if missing == command.cwd else "program"
            raise LayerError(f"{what} not found: {missing}", layer="local") from None
        except PermissionError as exc:
            raise LayerError(f"permission denied: {exc.filename}", layer="local") from None
        except NotADirectoryError:
            raise LayerError(f"not a directory: {command.cwd}", layer="local") from None
        return ProcessHandle(SubprocessBackend(proc), command, chain=self.chain)

    async def tunnel(self) -> Any | None:
        return None  # connect directly from this machine

    async def forward_unix(self, path: str) -> str:
        return path


# ---- the `local` layer kind: variables and working directory ------------------------------

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class LocalConfig:
    """Variables and working directory for commands that pass through this layer."""

    environment: Mapping[str, str] = field(
        default_factory=lambda: _EMPTY, metadata={"doc": "Variables added for every command (service values win)."})
    working_dir: str | None = field(
        default=None, metadata={"doc": "Default directory (a service's working_dir wins)."})


class _EnvLauncher(Launcher):
    def __init__(self, config: LocalConfig, inner: Launcher) -> None:
        self._config = config
        self._inner = inner
        self.label = inner.label
        self.depth = inner.depth
        self.context = inner.context
        self.parent = inner.parent

    async def launch(self, command: Command) -> ProcessHandle:
        cmd = command.with_env(self._config.environment, override=False)
        cmd = cmd.with_cwd(self._config.working_dir, override=False)
        return await self._inner.launch(cmd)

    async def tunnel(self) -> Any | None:
        return await self._inner.tunnel()

    async def forward_unix(self, path: str) -> str:
        return await self._inner.forward_unix(path)


class LocalKind:
    name: ClassVar[str] = "local"
    Config: ClassVar[type] = LocalConfig

    def label(self, config: LocalConfig) -> str:
        parts = [f"cwd={config.working_dir}"] if config.working_dir else []
        parts += sorted(config.environment)
        return f"env({', '.join(parts)})" if parts else "env"

    def wrap(self, config: LocalConfig, inner: Launcher, label: str) -> Launcher:
        return _EnvLauncher(config, inner)


KIND = LocalKind()
