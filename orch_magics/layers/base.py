"""The layer contract: a Launcher starts processes somewhere; a layer kind wraps one in another.

A launcher is "a place that can start processes": this machine, an SSH host reached through the
previous launcher, a container on that host's engine. A layer kind is plain data (its frozen
`Config`) plus `wrap(config, inner, label)` returning the launcher one hop further in. Adding a
kind never touches the executor: it is a module and one entry point (see `registry.py`).
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, ClassVar, Protocol

from ..process.command import Command
from ..process.handle import ProcessHandle


class LaunchContext:
    """Resources shared by the launchers of one Orchestrator on one event loop.

    Layers keep pooled connections in `pools` under keys of their choosing (for SSH: the chain
    prefix) and register how to close them with `on_close`; `aclose()` closes them all.
    """

    def __init__(self) -> None:
        self.pools: dict[Hashable, Any] = {}
        self._closers: list[Callable[[], Awaitable[None]]] = []

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        self._closers.append(closer)

    async def aclose(self) -> None:
        closers, self._closers = self._closers[::-1], []
        for closer in closers:
            try:
                await closer()
            except Exception:
                pass
        self.pools.clear()


class Launcher(abc.ABC):
    """A place that can start processes. `depth` 0 is this machine; each hop adds one."""

    label: str = "local"
    depth: int = 0
    context: LaunchContext
    parent: Launcher | None = None

    @abc.abstractmethod
    async def launch(self, command: Command) -> ProcessHandle:
        """Start `command` here and return its live handle."""

    async def tunnel(self) -> Any | None:
        """An object usable as asyncssh's `tunnel=` to reach TCP hosts from here.

        None means "connect directly from this machine".
        """
        raise NotImplementedError(f"{self.label} cannot carry a connection to another host")

    async def forward_unix(self, path: str) -> str:
        """A local unix socket path whose connections reach `path` at this place."""
        raise NotImplementedError(f"{self.label} cannot forward a unix socket")

    @property
    def chain(self) -> str:
        """`local → ssh bastion → docker app`: the hops from this machine to here."""
        parts: list[str] = []
        node: Launcher | None = self
        while node is not None:
            parts.append(node.label)
            node = node.parent
        return " → ".join(reversed(parts))

    def child(self, label: str) -> dict[str, Any]:
        """Attributes for a launcher one hop further in (depth, context, parent)."""
        return {"label": label, "depth": self.depth + 1, "context": self.context, "parent": self}


class LayerKind(Protocol):
    """One kind of layer (`local`, `ssh`, `docker`): its config class and how it wraps."""

    name: ClassVar[str]
    Config: ClassVar[type]

    def label(self, config: Any) -> str:
        """A short name for the hop, used in status lines and errors (`ssh bastion`)."""

    def wrap(self, config: Any, inner: Launcher, label: str) -> Launcher:
        """The launcher that runs processes one hop beyond `inner`."""
