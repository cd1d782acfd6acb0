"""The Orchestrator's files and ports: get, put and forward through an environment's chain.

The transfer package loads on first use, so a run that copies nothing never imports it
(docs/files.md; on a fleet environment a copy is a FleetCopied).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Protocol

from .keywords import keywords_checked
from .shutdown import close_at_exit

if TYPE_CHECKING:
    from ._loop import BackgroundLoop
    from .transfer import FleetCopied, Forward, Forwards, PathArg, Progress, Transferred
    from .transfer.copy import Runs
    from .transfer.forward import Places

    class _Host(Runs, Places, Protocol):
        """What these methods need of their Orchestrator."""

        @property
        def loop(self) -> BackgroundLoop: ...

        @property
        def forwards(self) -> Forwards: ...

        def close(self) -> None: ...

        def after_fork(self) -> None: ...


@keywords_checked
class FilesAndPorts:
    """Copies and port forwards of an Orchestrator (its `loop` runs the blocking ones)."""

    @functools.cached_property
    def forwards(self) -> Forwards:
        """Open port forwards: `.list()`, `.stop(id)`."""
        from .transfer import Forwards
        return Forwards()

    def get(self: _Host, environment: str, remote: PathArg, local: PathArg | None = None, *,
            progress: Progress | None = None, yes: str | Collection[str] = (),
            limit: str | None = None) -> Transferred | FleetCopied:
        """Copy REMOTE (a file or directory) to LOCAL; blocks (a fleet: to LOCAL/<label>/)."""
        from .transfer import prepare_get, run_blocking
        copy = prepare_get(self, environment, remote, local, yes=yes, limit=limit)
        return run_blocking(self.loop, copy, progress)

    def put(self: _Host, environment: str, local: PathArg, remote: PathArg, *,
            progress: Progress | None = None, yes: str | Collection[str] = (),
            limit: str | None = None) -> Transferred | FleetCopied:
        """Copy LOCAL (a file or directory) to REMOTE; blocks (a fleet: to every target)."""
        from .transfer import measure, prepare_put, run_blocking
        copy = prepare_put(self, environment, measure(local), remote, yes=yes, limit=limit)
        return run_blocking(self.loop, copy, progress)

    async def aget(self: _Host, environment: str, remote: PathArg, local: PathArg | None = None, *,
                   progress: Progress | None = None, yes: str | Collection[str] = (),
                   limit: str | None = None) -> Transferred | FleetCopied:
        from .transfer import prepare_get
        copy = prepare_get(self, environment, remote, local, yes=yes, limit=limit)
        return await copy.run(progress)

    async def aput(self: _Host, environment: str, local: PathArg, remote: PathArg, *,
                   progress: Progress | None = None, yes: str | Collection[str] = (),
                   limit: str | None = None) -> Transferred | FleetCopied:
        from .transfer import measure, prepare_put
        source = await asyncio.to_thread(measure, local)
        return await prepare_put(self, environment, source, remote, yes=yes,
                                 limit=limit).run(progress)

    def forward(self: _Host, environment: str, port: int, *, local: int = 0, host: str = "localhost",
                yes: str | Collection[str] = (), limit: str | None = None,
                front_end: str = "api", on_admitted: Callable[[], object] = lambda: None
                ) -> Forward:
        """127.0.0.1:`local` (0: a free port, see `.port`) → host:port from the chain's last
        SSH host (of the one fleet target `limit` names); closed by `.close()`,
        `forwards.stop(id)`, `close()` and interpreter exit. `on_admitted()` is called once
        it may open (confirmed), before it listens."""
        from .transfer import open_forward
        close_at_exit(self)
        return open_forward(self, self.loop, self.forwards, environment, port, local=local,
                            host=host, yes=yes, front_end=front_end, limit=limit,
                            admitted=on_admitted)
