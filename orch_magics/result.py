"""RunResult: a finished run as a value — exit status, every byte of output, timing."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from . import result_json, result_words
from .errors import OrchError
from .keywords import keywords_checked
from .process.events import Exit
from .secrets.masking import mask_text
from .sinks.buffer import Dropped, OutputBuffer
from .text import bytes_shown, cut, human_size, plural

if TYPE_CHECKING:
    from .plan import RunPlan


@keywords_checked
@dataclass(eq=False)
class RunResult:
    """What a run produced. Output is kept whole (on disk past a threshold) and decoded lazily.

    `stdout` / `stderr` are text (UTF-8, undecodable bytes replaced); `stdout_bytes` /
    `stderr_bytes` are the bytes received, except that any secret value this process has
    resolved is masked wherever it appears. With filters, `stdout` is the filtered text and `raw_stdout` the
    unfiltered one. `steps` holds the results of pre and post commands. With stdout_mode: file,
    stdout went to `output_file` and is not kept here; a run that failed has no output file,
    and what it wrote is kept in `partial_file` (`NAME.partial`).

    A named run (`Orchestrator.start`, the magic's `--bg` and stdin-box runs) keeps only the
    last `capture_limit` bytes of each stream, as whole lines: `truncated` is then True,
    `stdout_dropped` / `stderr_dropped` say how much came before, and `log_file` names the
    file that also got the output (rotated past `log_max_bytes`).

    Secret values never show: output was masked as it streamed, `command` and `chain` when
    the result is made (a secret typed into an ad-hoc command), and the texts built here
    (repr, json, failure messages) are masked again, for a secret resolved since.
    """

    environment: str
    service: str | None
    command: str
    chain: str
    exit: Exit
    duration: float
    started_at: float
    stdout_buffer: OutputBuffer = field(repr=False)
    stderr_buffer: OutputBuffer = field(repr=False)
    raw_stdout_buffer: OutputBuffer | None = field(default=None, repr=False)
    timed_out: bool = False
    interrupted: bool = False
    steps: list[RunResult] = field(default_factory=list, repr=False)
    step: str | None = None  # "pre" / "post" for step results
    output_file: str | None = None
    #: With stdout_mode: file, where a failed run's stdout so far is kept (`NAME.partial`).
    partial_file: str | None = None
    stdin_bytes: int = 0
    #: The time limit the run had (seconds), from the call or the service's config.
    timeout: float | None = None
    #: The id of the run's records in the audit log (`orch audit`), when it was audited.
    audit_id: str | None = None
    #: Why the end of its audit record could not be written (a full disk): the log shows the
    #: run without an end (`running?`), and this says so (None: recorded, or not audited).
    audit_error: str | None = None
    #: The log file a named run's output was also written to (None for other runs).
    log_file: str | None = None

    def __post_init__(self) -> None:
        self.command = mask_text(self.command)
        self.chain = mask_text(self.chain)

    # ---- status -------------------------------------------------------------------------
    @property
    def returncode(self) -> int | None:
        """Exit code, -N after signal N (subprocess style), None when the end is unknown."""
        return self.exit.returncode

    @property
    def signal(self) -> int | None:
        return self.exit.signal

    @property
    def error(self) -> BaseException | None:
        """Why the chain broke (connection lost, …) when it did; output before it is kept."""
        return self.exit.error

    @property
    def ok(self) -> bool:
        """True when the command and every step that ran exited 0."""
        return (self.exit.code == 0 and self.exit.error is None and not self.timed_out
                and not self.interrupted and self.failed_step is None)

    @property
    def never_ran(self) -> bool:
        """Whether the command never started (a stop, a timeout or a failure came first)."""
        return self.exit.code is None and self.exit.signal is None and self.exit.error is not None

    @property
    def failed_step(self) -> RunResult | None:
        """The pre or post step that decides the verdict, if one failed.

        A failed pre command (the main command then never ran) always decides; a failed post
        command decides only when the main command itself succeeded.
        """
        for step in self.steps:
            if step.step == "pre" and not step.ok:
                return step
        if self.exit.code == 0 and self.exit.error is None:
            for step in self.steps:
                if step.step == "post" and not step.ok:
                    return step
        return None

    @property
    def exit_status(self) -> int:
        """The status a shell would report for this run: 124 after a timeout (as `timeout(1)`),
        a failed step's status, 128+N after signal N, 255 when the end is unknown, 1 when
        the command exited 0 but the run failed, or orch stopped it because it failed."""
        if self.timed_out:
            return 124
        step = self.failed_step
        stopped_before = self.interrupted and (step is not None and step.step == "pre" or (
            self.exit.code is None and self.exit.signal is None))
        if stopped_before or result_words.post_stop(self) is not None:  # before the command
            return 128 + 2  # ran, or in a post step: whatever the step made of the stop (it
            # may trap INT and exit 0), as `orch run` says SIGINT
        if step is not None:
            return step.exit_status
        if self.exit.error is not None and (self.exit.shell_status == 0 or (
                self.exit.signal is not None and not self.interrupted)):
            return 1  # the command succeeded, or orch stopped it for its reason (a stdin
        return self.exit.shell_status  # source broke: review42, not 130 as for a Ctrl-C)

    # ---- output ---------------------------------------------------------------------------
    @property
    def stdout_dropped(self) -> Dropped:
        """What a named run's bounded capture did not keep of stdout (its start): bytes, lines."""
        return self.stdout_buffer.dropped

    @property
    def stderr_dropped(self) -> Dropped:
        """The same for stderr."""
        return self.stderr_buffer.dropped

    @property
    def truncated(self) -> bool:
        """True when stdout or stderr here is only the end of what the run printed."""
        return bool(self.stdout_dropped or self.stderr_dropped)

    def kept(self) -> str:
        """How much output is here when some was dropped ("" when all of it is):
        `stdout: last 4.0 MiB of 152.6 MiB kept (…); more in the log file PATH`."""
        parts = [f"{name}: last {human_size(buf.size)} of "
                 f"{human_size(buf.size + buf.dropped.size)} kept "
                 f"({plural(buf.dropped.lines, 'earlier line')} dropped)"
                 for name, buf in (("stdout", self.stdout_buffer), ("stderr", self.stderr_buffer))
                 if buf.dropped]
        if parts and self.log_file:
            parts.append(f"more in the log file {self.log_file}")
        return "; ".join(parts)

    @property
    def stdout_bytes(self) -> bytes:
        return self.stdout_buffer.getvalue()

    @property
    def stderr_bytes(self) -> bytes:
        return self.stderr_buffer.getvalue()

    @cached_property
    def stdout(self) -> str:
        return self.stdout_bytes.decode("utf-8", "replace")

    @cached_property
    def stderr(self) -> str:
        return self.stderr_bytes.decode("utf-8", "replace")

    @property
    def raw_stdout(self) -> str:
        """stdout before filters (the same as `stdout` when the service has none)."""
        buf = self.raw_stdout_buffer or self.stdout_buffer
        return buf.getvalue().decode("utf-8", "replace")

    @cached_property
    def lines(self) -> list[str]:
        """stdout split into lines by the one line rule of `sinks.lines` (`a\r\n` is `a`)."""
        return list(self.stdout_buffer.iter_lines())

    def iter_lines(self) -> Iterator[str]:
        """stdout lines read incrementally (for outputs too large to hold as one list)."""
        return self.stdout_buffer.iter_lines()

    def json_lines(self) -> list[Any]:
        """stdout lines parsed as JSON (lines that are not JSON, or nest deeper than Python's
        parser goes, are skipped)."""
        out = []
        for line in self.iter_lines():
            try:
                out.append(json.loads(line))
            except (ValueError, RecursionError):
                continue
        return out

    # ---- presentation -----------------------------------------------------------------------
    def label(self, width: int = 60) -> str:
        """The service name, or the command's first line cut to `width` characters, masked
        before the cut (safety22: a cut secret matched none of its forms, in a repr)."""
        if self.service:
            return self.service
        lines = mask_text(self.command).strip().splitlines() or [""]
        return cut(lines[0] + (" …" if len(lines) > 1 else ""), width)

    def outcome(self) -> str:
        """How the run ended, in the few words every view says it with (a cell's status,
        `ps`, a named run's notes, the audit table): `exit 0, post command failed (exit 5)`."""
        return result_words.outcome(self)

    def describe_failure(self) -> str:
        """Why the run failed, in one sentence naming it (errors, the CLI's last line)."""
        return result_words.describe_failure(self)

    def close(self) -> None:
        """Give the memory and disk space of its output back now, not when it is collected (a
        notebook keeps results in `_` and `Out`); its output cannot be read after."""
        for buffer in (self.stdout_buffer, self.stderr_buffer, self.raw_stdout_buffer):
            if buffer is not None:
                buffer.close()
        for text in ("stdout", "stderr", "raw_stdout", "lines"):  # decoded copies, if made
            vars(self).pop(text, None)
        for step in self.steps:
            step.close()

    def check(self) -> RunResult:
        """Return self when ok; raise RunError (RunTimeout after a timeout) carrying self."""
        from .errors import RunError, RunTimeout

        if self.timed_out:
            raise RunTimeout(self)
        if not self.ok:
            raise RunError(self)
        return self

    def to_dict(self) -> dict[str, Any]:
        """The result as plain data; output that is not UTF-8 also comes whole, as
        `stdout_base64` / `stderr_base64` (its text has replacement characters)."""
        return _as_data(self, lambda buf: buf.getvalue().decode("utf-8", "replace"),
                        lambda buf: base64.b64encode(buf.getvalue()).decode("ascii"))

    def json(self, **kw: Any) -> str:
        """The result as JSON (output decoded as text): `to_dict()` in `json.dumps(**kw)`."""
        result_json.check_options(kw, "json")
        text = io.StringIO()
        self.write_json(text, **kw)
        return text.getvalue()

    def write_json(self, out: result_json.JsonTarget, **kw: Any) -> None:
        """Write what `json()` returns to `out` (a path or an open file), reading the output a
        chunk at a time: memory stays bounded however large it is (`orch run --json`)."""
        result_json.write(self.json_data(), out, **kw)

    def json_data(self) -> dict[str, Any]:
        """`to_dict()` with each output a `result_json.Streamed`, for `result_json.dump`."""
        return _as_data(self, result_json.text_of, result_json.base64_of)

    def __repr__(self) -> str:
        name = self.label(40)
        state = self.outcome()  # the words every view says its end with
        out = self.stdout_buffer
        # Counting lines reads a spilled buffer back from disk: a repr never does that.
        lines = "" if out.spilled or out.closed else f" ({plural(out.line_count, 'line')})"
        kept = self.kept()
        if self.audit_error:
            kept = f"{kept}; " * bool(kept) + "its end is not in the audit log"
        return mask_text(
            f"<RunResult {self.environment}/{name} {state} in {self.duration:.2f}s, "
            f"stdout {human_size(out.size)}{lines}, stderr {human_size(self.stderr_buffer.size)}"
            + (f"; {kept}>" if kept else ">"))

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))


def not_started(plan: RunPlan, failed: RunResult, steps: list[RunResult], *,
                timed_out: bool = False, interrupted: bool = False,
                timeout: float | None = None) -> RunResult:
    """The result of a main command that never started because a pre command did not
    succeed: it failed, or the run was stopped (`interrupted`) or ran out of time
    (`timed_out`) while it ran, and then the run reads as stopped, not as a failed step."""
    pre = f"pre command {failed.command!r}"
    said = (f"timed out during {pre}" if timed_out else f"stopped during {pre}" if interrupted
            else f"{pre} failed")
    return RunResult(
        environment=plan.environment.name,
        service=plan.service.name if plan.service else None,
        command=plan.command.display(),
        chain=failed.chain,
        exit=Exit(error=OrchError(f"not started: {said}")),
        duration=sum(step.duration for step in steps),  # what the run took before it ended
        started_at=time.time(),
        stdout_buffer=OutputBuffer(),
        stderr_buffer=OutputBuffer(),
        steps=steps,
        timed_out=timed_out,
        interrupted=interrupted and not timed_out,
        timeout=timeout,
    )


def unstarted(plan: RunPlan, error: BaseException, *, duration: float = 0.0,
              interrupted: bool = False, timeout: float | None = None) -> RunResult:
    """The result of a run whose process never started (a hop refused or unreachable, stopped
    while connecting): `error` says why, and there is no exit status; a refusal written in
    the audit log carries its record's id (`audit_id`)."""
    return RunResult(environment=plan.environment.name,
                     service=plan.service.name if plan.service else None,
                     command=plan.command.display(), chain=plan.hops,
                     exit=Exit(error=error), duration=duration, started_at=time.time(),
                     stdout_buffer=OutputBuffer(), stderr_buffer=OutputBuffer(),
                     interrupted=interrupted, timeout=timeout,
                     audit_id=getattr(error, "audit_id", None))


def _as_data(result: RunResult, text: Callable[[OutputBuffer], Any],
             base64_of: Callable[[OutputBuffer], Any]) -> dict[str, Any]:
    """`to_dict()`, with each output given by `text` (and `base64_of`, when not UTF-8)."""
    data = _masked({
        "environment": bytes_shown(result.environment),  # one typed that was not UTF-8
        "service": result.service,
        "step": result.step,  # "pre" / "post" in `steps`; null for the run itself
        "command": result.command or None,  # none: a run whose plan could not be made
        "chain": result.chain or None,
        "returncode": result.returncode,
        "exit_code": result.exit.code,
        "signal": result.exit.signal,
        "error": bytes_shown(str(result.exit.error)) if result.exit.error else None,  # a
        # word that was not UTF-8 as its bytes, as on stderr (basics13), not a lone surrogate
        "ok": result.ok,
        "timed_out": result.timed_out,
        "interrupted": result.interrupted,
        "duration": round(result.duration, 6),
        "started_at": result.started_at,
        "stdout": text(result.stdout_buffer),
        "stderr": text(result.stderr_buffer),
        "output_file": result.output_file,
        "partial_file": result.partial_file,
        "audit_id": result.audit_id,
        "audit_error": result.audit_error,
        "truncated": result.truncated,
        "stdout_dropped": {"bytes": result.stdout_dropped.size,
                           "lines": result.stdout_dropped.lines},
        "stderr_dropped": {"bytes": result.stderr_dropped.size,
                           "lines": result.stderr_dropped.lines},
        "log_file": result.log_file,
        "steps": [_as_data(s, text, base64_of) for s in result.steps],
    })
    # JSON cannot carry bytes that are not UTF-8: those streams come whole in base64 too
    for name, buf in (("stdout", result.stdout_buffer), ("stderr", result.stderr_buffer)):
        if not result_json.is_utf8(buf):
            data[f"{name}_base64"] = base64_of(buf)
    return data


def _masked(data: dict[str, Any]) -> dict[str, Any]:
    """Mask the short texts of a result dict (stdout/stderr were masked as they streamed)."""
    for key in ("command", "chain", "error"):
        if isinstance(data.get(key), str):
            data[key] = mask_text(data[key])
    return data
