"""What an audit record says about a run: who, where, what; then how it ended and what came back.

Commands are masked like every other text that leaves a run. The output digest hashes stdout and
stderr in a worker thread (hashlib releases the GIL on large chunks), so a gigabyte through the
CLI costs the relay little: the hashing runs on the other core. Chunks go over in batches, one
wake-up per few MiB rather than one per chunk, and output smaller than a batch is hashed at the
end without a thread.
"""

from __future__ import annotations

import datetime
import getpass
import hashlib
import os
import queue
import socket
import threading
from collections.abc import Mapping
from typing import Any

from ..plan import RunPlan
from ..process.events import Event, Stderr, Stdout
from ..result import RunResult
from ..secrets.masking import mask_text

#: Bytes gathered before they are handed to the hashing thread.
BATCH = 4 << 20
#: Batches handed over and not yet hashed, at most: bounds the memory held for hashing.
MAX_PENDING = 4

_Batch = list[tuple["hashlib._Hash", bytes]]


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
        "id": os.urandom(8).hex(),  # not uuid: it imports platform, ~3 ms of every start-up
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


def closed_record(session_id: str, duration: float,
                  error: BaseException | None = None) -> dict[str, Any]:
    """The end record of something audited that is not a run (a port forward): no exit
    status and no output, only how long it was open and why it ended, if not by a close."""
    return {"event": "end", "id": session_id, "time": _now(), "ok": error is None,
            "duration": round(duration, 3),
            "error": mask_text(str(error) or type(error).__name__) if error else None}


class OutputDigest:
    """A sink counting and hashing the (masked, filtered) stdout and stderr a run shows."""

    def __init__(self, *, hashing: bool = True) -> None:
        self._hashing = hashing  # False: count bytes only (`audit: {digests: false}`)
        self._hashes = {Stdout: hashlib.sha256(), Stderr: hashlib.sha256()}
        self._sizes = {Stdout: 0, Stderr: 0}
        self._batch: _Batch = []
        self._batch_size = 0
        self._queue: queue.Queue[_Batch | None] = queue.Queue(MAX_PENDING)
        self._worker: threading.Thread | None = None

    def feed(self, event: Event) -> None:
        kind = type(event)
        if kind is Stdout or kind is Stderr:
            data: bytes = event.data  # type: ignore[union-attr]
            self._sizes[kind] += len(data)
            if not self._hashing:
                return
            self._batch.append((self._hashes[kind], data))
            self._batch_size += len(data)
            if self._batch_size >= BATCH:
                self._hand_over()

    def _hand_over(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._hash, name="orch-audit", daemon=True)
            self._worker.start()
        self._queue.put(self._batch)  # blocks when hashing fell behind: bounded memory
        self._batch, self._batch_size = [], 0

    def _hash(self) -> None:
        while (batch := self._queue.get()) is not None:
            for hasher, data in batch:
                hasher.update(data)

    def close(self) -> None:
        pass

    def finish(self) -> tuple[tuple[int, str | None], tuple[int, str | None]]:
        """(bytes, sha256 or None when not hashing) of stdout and of stderr, once every chunk
        is hashed."""
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join()
            self._worker = None
        for hasher, data in self._batch:  # the last, partial batch: after the worker's, in order
            hasher.update(data)
        self._batch = []
        out, err = ((self._sizes[kind], self._hashes[kind].hexdigest() if self._hashing else None)
                    for kind in (Stdout, Stderr))
        return out, err
