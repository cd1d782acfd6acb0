"""The conversation with sudo before the command runs: prompt, password, start, pid.

The previous place runs ``sudo -S -u USER -- sh -c BOOT`` with PROMPT in its ``SUDO_PROMPT``
(with `login: true`, ``sh -c GATE`` first: see 2). On the stream where sudo talks (stderr; the
one stream when the handle it got is a terminal's, whether the command asked for one or the
place gives every process one, as a docker layer with `tty: true` does):

1. each PROMPT (unique per run, never shown) is answered with the password on stdin; a second
   one means the password was wrong, a prompt without a configured password is an error.
   PROMPT is on no argv, and by sudo's default rules reaches no command (`preserve_env` may
   not name it);
2. with `login: true`, GATE says ``GATE_TOKEN`` as soon as sudo has let it run, drops
   SUDO_PROMPT and execs the target's login shell (``$SHELL -l``, in its home, as `sudo -i`
   would), which runs its profile and then BOOT. From GATE_TOKEN on no prompt is answered: a
   profile is the target's code, and one that printed PROMPT (handed over by a sudoers that
   keeps SUDO_PROMPT, review23) was sent the login user's password while it ran under `sudo -i`
   (kinds11). The login shell gets no SUDO_PROMPT, and nothing is sent while the profile runs;
3. BOOT prints ``OUTMARK`` on stdout and ``TOKEN`` once it runs, then reads the script from
   stdin (so no user text crosses a login shell's parsing, which expands `$NAME` and drops
   newlines: BOOT itself holds neither). The script starts `remote.py`'s wrapper as a process
   group of its own (`setsid`, as sshd and runc do), and its preamble follows;
4. the wrapper reports its pid (and, under a TTY, that the terminal is cooked again): the
   command runs. It says its status last (the run's nonce is the prompt's): sudo_process.py
   reads it, since sudo itself may not end (see `SudoBackend`).

Anything else said before the command ran (the login shell and its profile, on either stream)
is not the command's output but is kept: without a terminal it goes to the run's stderr, in the
order it arrived (stdout's part is what came before ``OUTMARK``, see `Heading`), so stdout is
the command's alone; under a terminal there is one stream, and it stays there.

sudo exiting first (refused, unknown user, no sudo there) is a one-line error in our words.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ..errors import AuthError, LayerError, PasswordRejected
from ..process.command import Command
from ..process.events import Event, Exit, Stderr, Stdout
from ..process.handle import ProcessHandle
from ..redaction import masked_repr
from .base import go_ahead
from .remote import PID_MARK, pid_said, preamble, split_ready, wrapped_argv
from .sudo_refusal import NOEXEC, Heard, explain, must_change_password, no_password, wrong_password

#: Starts the wrapper in a process group of its own unless sudo made one (`use_pty`). The
#: terminal state BOOT saved (none without a terminal) goes along for the preamble.
LEAD = ("export _orch_tty0\n_orch_s=\nif read -r _ _ _ _ _orch_g _ 2>/dev/null </proc/$$/stat && "
        "[ \"$_orch_g\" != \"$$\" ] && command -v setsid >/dev/null 2>&1; then "
        "_orch_s=setsid; fi\nexec $_orch_s ")
#: With `login: true`, what sudo runs first (see 2): the gate said before anything of the
#: target's runs, then its login shell as `sudo -i` starts one (shell, home), without PROMPT.
GATE = ("echo {gate} >&2; unset SUDO_PROMPT; cd \"$HOME\" 2>/dev/null && unset OLDPWD || "
        "printf 'orch: login: true: cannot enter the home directory %s\\n' \"$HOME\" >&2; "
        "exec \"${{SHELL:-/bin/sh}}\" -l -c {boot}")
#: The preamble's first line: the terminal as it was before BOOT made it raw (if it did).
RESTORE = b'[ -z "$_orch_tty0" ] || stty "$_orch_tty0" 2>/dev/null; unset _orch_tty0\n'


@masked_repr  # its body carries the command's variables
@dataclass
class Script:
    """One sudo invocation: its argv, and what is sent once sudo lets it run."""

    argv: list[str]
    prompt: bytes  # sudo's, through SUDO_PROMPT (see 1)
    gate: bytes | None  # GATE's line with `login`: sudo let it run, no prompt is answered after
    token: bytes
    outmark: bytes  # BOOT's line on stdout: what came before it there is not the command's
    body: bytes  # the script BOOT reads, then the wrapper's preamble
    login: bool  # the target's login shell runs BOOT (see 2)
    nonce: str  # the wrapper's status line carries it (`StatusTail`)


def build(command: Command, sudo_options: list[str], login: bool) -> Script:
    """The sudo argv for `command` (options such as -u USER before `--`; `login`: through the
    target's login shell, see 2) and its stdin parts.

    Whether the place gives sudo a terminal is not the command's to say (a docker layer's
    `tty: true` gives every exec one), so BOOT asks its stdin: on a terminal it makes it raw
    to read the script, and the preamble restores it."""
    nonce = os.urandom(8).hex()  # seen on argvs: the prompt's own is not (see 1)
    prompt, token = f"orch-sudo-prompt-{os.urandom(16).hex()}:", f"orch-sudo-ok-{nonce}"
    outmark = f"orch-sudo-out-{nonce}"
    pre = RESTORE + preamble(command, always=True)  # RESTORE makes it never empty
    body = (LEAD + shlex.join(wrapped_argv(command.argv, len(pre), nonce=nonce))).encode(
        "utf-8", "surrogateescape")  # argv bytes that are not UTF-8 pass as they are
    read = (f'_orch_s="$(dd bs=1 count={len(body)} 2>/dev/null)" || {{ echo {NOEXEC} >&2; '
            f'exit 126; }}; eval "$_orch_s"')  # dd not started: sudoers noexec (kinds14)
    boot = (f'_orch_tty0="$(stty -g 2>/dev/null)" && stty raw -echo; '
            f"echo {outmark}; echo {token} >&2; {read}")
    gate = f"orch-sudo-in-{nonce}" if login else None
    first = boot if gate is None else GATE.format(gate=gate, boot=shlex.quote(
        "exec sh -c " + shlex.quote(boot)))  # the login shell would wait for BOOT and say
    # `Killed` when a stop ends it with KILL, as if the command had said it: it execs BOOT
    argv = ["sudo", "-S", *sudo_options, "--", "sh", "-c", first]
    return Script(argv, prompt.encode(), None if gate is None else gate.encode(), token.encode(),
                  outmark.encode(), body + pre, login, nonce)


async def _ended(end: Exit) -> AsyncIterator[Event]:
    """The rest of a handle's events once its end was read: that end."""
    yield end


class Heading:
    """Splits a run's stdout (without a terminal) at BOOT's `OUTMARK` line: what came before
    is the login shell's and its profile's, what follows the command's. Output is passed on at
    once, but for a tail that may be the start of the mark."""

    def __init__(self, mark: bytes) -> None:
        self._mark = mark + b"\n"
        self._held = b""
        self.done = False

    def feed(self, data: bytes) -> tuple[bytes, bytes]:
        """(the shell's part, the command's part) of `data`, with anything held before."""
        if self.done:
            return b"", data
        buf = self._held + data
        i = buf.find(self._mark)
        if i >= 0:
            self.done, self._held = True, b""
            return buf[:i], buf[i + len(self._mark):]
        n = next((k for k in range(min(len(buf), len(self._mark) - 1), 0, -1)
                  if self._mark.startswith(buf[-k:])), 0)
        self._held = buf[len(buf) - n:]
        return buf[:len(buf) - n], b""

    def flush(self) -> bytes:
        """At the end of the stream: what was held (the mark never came whole: the shell's)."""
        held, self._held = self._held, b""
        return held


@dataclass
class Started:
    """sudo let the command run: its pid (a process group), and output to pass on first."""

    handle: ProcessHandle  # sudo's, at the previous place
    events: AsyncIterator[Event]  # the handle's, read past the pid line
    pid: int
    nonce: str  # of the wrapper's status line
    tty: bool  # one output stream, a terminal's
    early: list[Event] = field(default_factory=list)
    heading: Heading | None = None  # stdout's split, until the mark came (no terminal)


class Refused(Exception):
    """sudo did not run the command: `message` says why (in our words), `cls` how to raise it."""

    def __init__(self, message: str, cls: type[LayerError] = LayerError) -> None:
        super().__init__(message)
        self.message = message
        self.cls = cls


class Conversation:
    """Reads the talking stream until the wrapper's pid line, answering sudo on the way."""

    def __init__(self, handle: ProcessHandle, script: Script, password: str | None,
                 user: str) -> None:
        self.handle = handle
        self.tty = handle.tty  # the handle's, whatever the command asked
        self.script = script
        self.password = password
        self.user = user
        self.raw = b""  # the talking stream, not yet understood
        self.said = b""  # what sudo said besides its prompts (for errors)
        self.early: list[Event] = []  # output to pass on once the command runs
        self.shell = b""  # the other stream before BOOT ran: the target's side (for errors)
        self.heading = None if self.tty else Heading(script.outmark)
        self.prompts = 0
        self.let_in = False  # sudo let its command run: no prompt is answered from now on
        self.sent = False  # BOOT ran and was sent the script
        self.pid: int | None = None  # the wrapper's, once it said it

    def talking(self, event: Stdout | Stderr) -> bool:
        """Is this chunk from the stream sudo and the wrapper talk on?"""
        return isinstance(event, Stdout) if self.tty else isinstance(event, Stderr)

    async def run(self) -> Started:
        events = self.handle.events()
        async for event in events:
            if isinstance(event, Exit):
                if self.pid:  # the command's wrapper ran and ended before the terminal was
                    # ready (a working_dir it could not enter): its end, not a refusal
                    self.keep(self.raw)  # (kinds11: blamed on the layer before sudo)
                    self.raw = b""
                    return Started(self.handle, _ended(event), self.pid, self.script.nonce,
                                   self.tty, self.early, self.heading)
                raise self.refusal(event)
            if not self.talking(event):
                self.other(event)
            else:
                self.raw += event.data
                pid = self.advance()
                if pid is not None:
                    return Started(self.handle, events, pid, self.script.nonce, self.tty,
                                   self.early, self.heading)
            if not self.let_in and (why := must_change_password(self.heard())) is not None:
                raise Refused(why, AuthError)  # PAM waits for a new password: not ours to give
        raise Refused("sudo ended without an exit status")

    def heard(self) -> Heard:
        """What was said so far, for errors (the other stream's part only before BOOT ran)."""
        out = b"" if self.sent else self.shell
        text = (self.said + self.raw).decode("utf-8", "replace")
        return Heard(text, out.decode("utf-8", "replace"), self.user, self.prompts,
                     self.script.login, self.sent, self.let_in)

    def other(self, event: Stdout | Stderr) -> None:
        """A chunk of the stream sudo does not talk on: without a terminal, stdout; what the
        login shell said there goes to stderr, after what it said on stderr so far (the
        complete lines: a prompt or the token may still be arriving)."""
        if self.heading is None or not isinstance(event, Stdout):
            self.shell += b"" if self.sent else event.data
            self.early.append(event)
            return
        shell, out = self.heading.feed(event.data)
        if shell:
            if not self.sent:
                self.shell += shell
                said, n, self.raw = self.raw.rpartition(b"\n")
                self.said += said + n
                self.keep(said + n)
            self.early.append(Stderr(shell))
        if out:
            self.early.append(Stdout(out))

    def advance(self) -> int | None:
        """Act on what `raw` holds now; the pid once the wrapper reported it."""
        s = self.script
        while not self.let_in and 0 <= self.raw.find(s.prompt) < self.line_at(s.gate or s.token):
            before, _, self.raw = self.raw.partition(s.prompt)  # only sudo's: before its mark
            self.said += before
            self.keep(before)  # sudo's lecture, a notice of PAM's: said, not lost (kinds11)
            self.answer()
        if not self.let_in:
            if not self.passed(s.gate or s.token):
                return None
            self.let_in = True
        if not self.sent:
            if s.gate is not None and not self.passed(s.token):
                return None
            go_ahead()  # the command starts once its script is sent
            self.sent = True
            self.handle.stdin.write(s.body)
        if self.pid is None:
            i = self.raw.find(PID_MARK)
            j = self.raw.find(b"\n", i)
            if i < 0 or j < 0:
                return None
            self.pid = pid_said(self.raw[i + len(PID_MARK):j]) or 0
            self.keep(self.raw[:i])
            self.raw = self.raw[j + 1:]
        if self.tty:  # input waits until the terminal is cooked again (an EOF's ^D above all)
            self.raw, ready = split_ready(self.raw)
            if not ready:
                return None
        self.keep(self.raw)
        self.raw = b""
        return self.pid or None

    def line_at(self, mark: bytes) -> int:
        """Where `mark`'s line starts in `raw` (its length while it was not said)."""
        found = [i for i in (self.raw.find(mark + b"\n"), self.raw.find(mark + b"\r\n")) if i >= 0]
        return min(found, default=len(self.raw))

    def passed(self, mark: bytes) -> bool:
        """Has `mark`'s line been said? Then what came before it is kept, the line dropped.
        (A terminal not made raw yet ends it with CR LF: GATE's.)"""
        i = self.line_at(mark)
        if i == len(self.raw):
            return False
        if self.raw.startswith(b"\r\n", i + len(mark)):
            mark += b"\r"
        before = self.raw[:i]
        if self.tty and self.prompts and not self.let_in:  # sudo's newline after the password
            before = before.removeprefix(b"\r\n") if before.startswith(b"\r\n") \
                else before.removeprefix(b"\n")
        if self.tty and (k := before.rfind(self.script.outmark)) >= 0:
            before = before[:k]  # BOOT's line on the one stream, just before the token
        self.keep(before)
        self.raw = self.raw[i + len(mark) + 1:]
        return True

    def answer(self) -> None:
        self.prompts += 1
        if self.password is None:
            raise Refused(no_password(self.user), AuthError)
        if self.prompts > 1:
            raise Refused(wrong_password(self.user), PasswordRejected)
        self.handle.stdin.write(self.password.encode("utf-8") + b"\n")

    def keep(self, data: bytes) -> None:
        if data:
            self.early.append(Stdout(data) if self.tty else Stderr(data))

    def refusal(self, end: Exit) -> Refused:
        """sudo (or the place) ended before the command ran: why, in one line."""
        if end.error is not None:
            return Refused(str(getattr(end.error, "reason", end.error)), type(end.error)
                           if isinstance(end.error, LayerError) else LayerError)
        return Refused(*explain(self.heard(), end))
