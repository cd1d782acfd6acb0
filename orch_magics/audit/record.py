"""What an audit record says about a run: who, where, what; then how it ended and what came back.

Commands are masked like every other text that leaves a run. The output digest hashes stdout and
stderr in a worker thread (hashlib releases the GIL on large chunks), so a gigabyte through the
CLI costs the relay little: the hashing runs on the other core.
"""

from __future__ import annotations

import collections
import concurrent.futures
import datetime
import getpass
import hashlib
import os
import socket
import uuid
from collections.abc import Mapping
from typing import Any

from ..plan import RunPlan
from ..process.events import Event, Stderr, Stdout
from ..result import RunResult
from ..secrets.masking import mask_text

#: Chunks handed to the hashing thread and not yet hashed, at most.
MAX_PENDING = 32
#: Chunks up to this size are hashed on the spot (~20 µs) when none is waiting in the thread:
#: handing them over cost more, and a thread per run, which a fleet of 100 paid 100 times.
INLINE_MAX = 16 << 10


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no name for this uid (containers): say the uid
        return str(os.getuid())


def start_record(plan: RunPlan, chain: str, *, origin: Mapping[str, str] | None = None,
                 confirmation: Mapping[str, str] | None = None,
                 target: str | None = None) -> dict[str, Any]:
    """The record written before a run starts (its `id` joins it to its end record)."""
    return {
        "event": "start",
        "id": uuid.uuid4().hex[:16],
        "time": _now(),
        "user": _user(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        **{k: mask_text(v) for k, v in (origin or {}).items()},
        "environment": plan.environment.name,
        "chain": mask_text(chain),
        "target": target,
        "service": plan.service.name if plan.service else None,
        "command": mask_text(plan.command.display()),
        "confirmation": dict(confirmation) if confirmation else None,
    }


def end_record(run_id: str, result: RunResult | None, digest: OutputDigest,
               error: BaseException | None = None) -> dict[str, Any]:
    """The record written when the run has ended (or failed to start: `error`)."""
    out, err = digest.finish()
    record: dict[str, Any] = {"event": "end", "id": run_id, "time": _now(),
                              "stdout_bytes": out[0], "stdout_sha256": out[1],
                              "stderr_bytes": err[0], "stderr_sha256": err[1]}
    if result is None:
        return {**record, "ok": False, "error": mask_text(str(error) or type(error).__name__)}
    return {**record, "ok": result.ok, "exit_code": result.exit.code,
            "signal": result.exit.signal, "timed_out": result.timed_out,
            "interrupted": result.interrupted, "duration": round(result.duration, 3),
            "error": mask_text(str(result.exit.error)) if result.exit.error else None}


class OutputDigest:
    """A sink counting and hashing the (masked, filtered) stdout and stderr a run shows."""

    def __init__(self) -> None:
        self._hashes = {Stdout: hashlib.sha256(), Stderr: hashlib.sha256()}
        self._sizes = {Stdout: 0, Stderr: 0}
        self._worker: concurrent.futures.ThreadPoolExecutor | None = None  # made on demand
        self._pending: collections.deque[concurrent.futures.Future[None]] = collections.deque()

    def feed(self, event: Event) -> None:
        kind = type(event)
        if kind is Stdout or kind is Stderr:
            data: bytes = event.data  # type: ignore[union-attr]
            self._sizes[kind] += len(data)
            while self._pending and self._pending[0].done():
                self._pending.popleft()
            if len(data) <= INLINE_MAX and not self._pending:  # a thread hop costs more
                self._hashes[kind].update(data)
                return
            if self._worker is None:
                self._worker = concurrent.futures.ThreadPoolExecutor(
                    1, thread_name_prefix="orch-audit")
            self._pending.append(self._worker.submit(self._hashes[kind].update, data))
            if len(self._pending) > MAX_PENDING:  # hashing fell behind: wait, bounding memory
                self._pending.popleft().result()

    def close(self) -> None:
        pass

    def finish(self) -> tuple[tuple[int, str], tuple[int, str]]:
        """(bytes, sha256) of stdout and of stderr, once every chunk is hashed."""
        if self._worker is not None:
            self._worker.shutdown(wait=True)
        return ((self._sizes[Stdout], self._hashes[Stdout].hexdigest()),
                (self._sizes[Stderr], self._hashes[Stderr].hexdigest()))
