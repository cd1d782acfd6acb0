"""How a finished run ended, in words: the short outcome every view shows, and the sentence
an error or the CLI says for a failure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .secrets.masking import mask_text
from .sinks.ansi import ESCAPE
from .text import printable

if TYPE_CHECKING:
    from .result import RunResult


def outcome(result: RunResult) -> str:
    """`exit 0, post command failed (exit 5)`, `pre command failed (exit 4), not run`,
    `timed out, killed by SIGTERM`, `interrupted: stopped before the process started`."""
    state = result.exit.describe()
    why = "timed out" if result.timed_out else "interrupted" if result.interrupted else None
    step, stop = result.failed_step, post_stop(result)
    if stop is not None and result.exit.code == 0 and not result.timed_out:
        return mask_text(f"interrupted during the post command ({stop.exit.describe()}), "
                         f"after {state}")  # the command had ended by itself, and well
    if why is not None and (stop is None or result.exit.code is None):  # the command's stop
        said = str(result.exit.error)  # `interrupted: stopped before the process started`
        state = (said if said.startswith(why) else f"{why}: {said}") if result.never_ran \
            else f"{why}, {state}"
    post = post_failed(result)
    if stop is not None:  # after a command that failed (or was stopped) by itself
        state += f", then interrupted during the post command ({stop.exit.describe()})"
    elif step is not None and step.step == "pre":  # the command never ran: a stop in its
        ended = f"{why} during the pre command" if why else "pre command failed"  # pre step
        state = f"{ended} ({step.exit.describe()}), not run"  # is no failure
    if post is not None and stop is None:  # after the command, whatever its end (chains20)
        state += f", post command failed ({post.exit.describe()})"
    return mask_text(state)


def post_stop(result: RunResult) -> RunResult | None:
    """The post step a stop ended, if one did (chains15, basics13)."""
    return next((s for s in result.steps if s.step == "post" and s.interrupted), None)


def post_failed(result: RunResult) -> RunResult | None:
    """The first post step that failed by itself (a clean-up after a failed or stopped
    command too: chains20 found it said nowhere but in `steps`)."""
    return next((s for s in result.steps if s.step == "post" and not s.ok
                 and not s.interrupted), None)


def describe_failure(result: RunResult) -> str:
    """`local/app failed (exit 3): the last line of stderr`, `… timed out after 5.0s …`;
    of a run that succeeded, `local/app succeeded (exit 0)`."""
    kept = f"; its stdout so far is in {result.partial_file}" if result.partial_file else ""
    post = post_failed(result)
    then = (f"; then post command {post.command!r} failed ({post.exit.describe()})"
            if post is not None and post is not result.failed_step else "")
    return mask_text(_failure(result) + then + kept)


def _failure(result: RunResult) -> str:
    what = f"{result.environment}/{result.label(60)}"
    if result.ok:  # asked of every result alike (an alert's text): not "failed (exit 0)"
        return f"{what} succeeded ({result.outcome()})"
    step = result.failed_step
    if step is not None and step.step == "pre" and (result.timed_out or result.interrupted):
        return f"{what} {_stopped_during(result, step)}"
    # A stop that could not end the process says what is left (a paused container).
    left = f"; {result.exit.error}" if result.exit.error is not None else ""
    if result.timed_out:  # a stop of its clean-up after that said too (chains27)
        stop = post_stop(result)
        return (f"{what} {timed_out_after(result)}{left or ' and was stopped'}" + (
            f"; then post command {stop.command!r} was interrupted ({stop.exit.describe()})"
            if stop is not None else ""))
    if (stop := post_stop(result)) is not None and result.exit.returncode is not None:
        return (f"{what} was interrupted during post command {stop.command!r} "
                f"({stop.exit.describe()}), after the command ended ({result.exit.describe()})")
    if result.interrupted:
        return f"{what} was interrupted after {result.duration:.1f}s{left}"
    if step is not None and step.step == "pre":
        return f"{what}: pre command {step.command!r} failed ({step.exit.describe()})"
    if result.exit.error is not None:
        return f"{what} failed: {result.exit.error}"
    if step is not None:
        return f"{what}: post command {step.command!r} failed ({step.exit.describe()})"
    said = "" if result.stderr_buffer.closed else \
        printable(final_line(result.stderr_buffer.tail(400).decode("utf-8", "replace")))
    return f"{what} failed ({result.exit.describe()})" + (f": {said}" if said else "")


def timed_out_after(result: RunResult) -> str:
    """`timed out after 2.5s, 1.6s of it in pre commands (limit 2.5s)`: the limit counts the
    pre commands too, so their time is said (fleets22: a fleet's row said "after 0.9s")."""
    pre = sum(s.duration for s in result.steps if s.step == "pre")
    limit = f" (limit {result.timeout:g}s)" if result.timeout is not None else ""
    took = f"{pre + result.duration:.1f}s, {pre:.1f}s of it in pre commands" if pre \
        else f"{result.duration:.1f}s"
    return f"timed out after {took}{limit}"


def final_line(text: str) -> str:
    """The last line of `text` as a one-line reason: its terminal sequences taken out, cut at
    newlines only (a `\\r` inside is the line's: `disk full\\rretrying` is not `retrying`,
    fleets15, chains21). Where it is printed, `printable` shows its controls escaped."""
    line = ESCAPE.sub("", text).rstrip().rpartition("\n")[2]
    return line.removesuffix("\r").strip()


def _stopped_during(result: RunResult, step: RunResult) -> str:
    """A stop or timeout that came while a pre command ran (the command never did)."""
    limit = f" (limit {result.timeout:g}s)" if result.timed_out and result.timeout else ""
    how = "timed out" if result.timed_out else "was interrupted"
    return (f"{how} after {result.duration:.1f}s{limit} during pre command {step.command!r} "
            f"({step.exit.describe()}); not run")
