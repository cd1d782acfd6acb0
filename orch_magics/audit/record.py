"""What an audit record says about a run: who, where, what; then how it ended and what came back.

Commands are masked like every other text that leaves a run; the output's bytes and sha256 come
from the OutputDigest sink (digest.py).
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import os
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import OutputFileError
from ..plan import RunPlan
from ..process.events import Exit
from ..result import RunResult
from ..secrets.masking import mask_text
from .digest import OutputDigest


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def account() -> str:
    """Who this process runs as: the account of its effective uid, not $USER or $LOGNAME
    (a `su` without `-`, or any caller, sets those), else the uid (containers)."""
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def start_record(plan: RunPlan, chain: str, *, origin: Mapping[str, str] | None = None,
                 confirmation: Mapping[str, str] | None = None,
                 target: str | None = None) -> dict[str, Any]:
    """The record written before a run starts (its `id` joins it to its end record)."""
    return {
        "event": "start",
        "id": os.urandom(8).hex(),  # not uuid: it imports platform, ~3 ms of every start-up
        "time": _now(),
        "user": account(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        **{k: mask_text(v) for k, v in (origin or {}).items()},
        "environment": plan.environment.name,
        "chain": mask_text(chain),
        "target": target,
        "service": plan.service.name if plan.service else None,
        "command": mask_text(plan.command.display()),
        # what the caller changed of it: the variables' names (values may be secrets)
        "given_env": list(plan.given_env),
        "given_cwd": mask_text(plan.given_cwd) if plan.given_cwd else None,
        "confirmation": dict(confirmation) if confirmation else None,
    }


def refused_record(plan: RunPlan, reason: str, *,
                   origin: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The one record of a run a protected environment's confirmation refused (a wrong
    answer, nobody to ask, interrupted at the question): who tried what, where, and why not."""
    return {**start_record(plan, plan.hops, origin=origin), "event": "refused",
            "reason": mask_text(reason)}


def end_record(run_id: str, result: RunResult | None, digest: OutputDigest,
               error: BaseException | None = None,
               steps: Sequence[OutputDigest] = (), tried: float = 0.0) -> dict[str, Any]:
    """The record written when the run has ended (or failed to start: `error`, after trying
    for `tried` seconds: magics20, a hop that hung 60 s had no duration); `steps`: the
    digests of its pre and post commands, in the order they ran (under `steps`, with each
    one's name and exit status from the result)."""
    record: dict[str, Any] = {"event": "end", "id": run_id, "time": _now(), **_output(digest)}
    if steps:
        ran = result.steps if result is not None else []
        record["steps"] = [{"step": r.step if r else None,
                            "command": mask_text(r.command) if r else None,
                            "exit_code": r.exit.code if r else None,
                            "signal": r.exit.signal if r else None, **_output(d)}
                           for d, r in itertools.zip_longest(steps, ran[:len(steps)])
                           if d is not None]
    written = (result.output_file or result.partial_file) if result is not None else \
        error.partial_file if isinstance(error, OutputFileError) else None
    if written is not None:  # what the bytes counted went to (a failed run's, kept)
        record["stdout_file"] = mask_text(written)
    if result is None:
        return {**record, "ok": False, "duration": round(tried, 3),
                "error": mask_text(str(error) or type(error).__name__)}
    return {**record, "ok": result.ok, "outcome": result.outcome(), "exit_code": result.exit.code,
            "signal": result.exit.signal, "timed_out": result.timed_out,
            "interrupted": result.interrupted, "duration": round(result.duration, 3),
            "error": mask_text(str(result.exit.error)) if result.exit.error else None}


def _output(digest: OutputDigest) -> dict[str, Any]:
    """Bytes and sha256 (None: not hashed) of the stdout and stderr a digest saw."""
    out, err = digest.finish()
    return {"stdout_bytes": out[0], "stdout_sha256": out[1],
            "stderr_bytes": err[0], "stderr_sha256": err[1]}


def cut_short_record(run_id: str, why: str) -> dict[str, Any]:
    """The end record of a run whose end this process will not see: it is ending first (a
    TERM whose stop ran out of time), and says so rather than leave the run `running?`."""
    return {"event": "end", "id": run_id, "time": _now(), "ok": False, "interrupted": True,
            "error": why}


def failed_after_record(run_id: str, why: str) -> dict[str, Any]:
    """A second end record of a run whose own end said ok, or interrupted, while what it was
    for failed on this side after (a copy whose sha256 did not match, whose far end could not
    read a file, or whose local disk was full): the newest end is the one the trail shows."""
    return {"event": "end", "id": run_id, "time": _now(), "ok": False, "interrupted": False,
            "error": mask_text(why), "outcome": mask_text(f"failed: {why}")}


def closed_record(session_id: str, duration: float, error: BaseException | None = None,
                  exit: Exit | None = None) -> dict[str, Any]:
    """The end record of something audited that is not a run of the engine: a port forward (no
    exit status, no output: how long it was open and why it ended, if not by a close), or a
    process `Orchestrator.launch` handed over (its `exit`; its output went to the caller, not
    through a digest)."""
    record: dict[str, Any] = {"event": "end", "id": session_id, "time": _now(),
                              "duration": round(duration, 3)}
    if exit is not None:
        error = error or exit.error
        record.update(exit_code=exit.code, signal=exit.signal)
    ok = error is None and (exit is None or exit.code == 0)
    if isinstance(error, (asyncio.CancelledError, KeyboardInterrupt)):  # magics21: it was
        return {**record, "ok": False, "interrupted": True, "error": None,  # 'error:
                "outcome": "interrupted"}  # CancelledError', as if something broke
    return {**record, "ok": ok,
            "error": mask_text(str(error) or type(error).__name__) if error else None}
