"""The conversation with sudo before the command runs: prompt, password, start, pid.

The previous place runs ``sudo -S -p PROMPT -u USER [-i] -- [exec] sh -c BOOT`` (`exec` with
`-i`: the login shell hands over to BOOT). On the stream where sudo talks (stderr; the one
terminal stream under a TTY):

1. each PROMPT (unique per run, never shown) is answered with the password on stdin; a second
   one means the password was wrong, a prompt without a configured password is an error;
2. BOOT prints ``TOKEN`` once sudo has let it run, then reads the script from stdin (so no
   user text crosses `sudo -i`'s re-quoting by a login shell, which expands `$NAME` and drops
   newlines: BOOT itself holds neither). The script starts `remote.py`'s wrapper as a process
   group of its own (`setsid`, as sshd and runc do), and its preamble follows;
3. the wrapper reports its pid (and, under a TTY, that the terminal is cooked again): the
   command runs. Anything else said before is kept as output.

sudo exiting first (refused, unknown user, no sudo there) is a one-line error in our words.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ..errors import AuthError, LayerError, PasswordRejected
from ..process.command import Command
from ..process.events import Event, Exit, Stderr, Stdout
from ..process.handle import ProcessHandle, StdinWriter
from ..redaction import masked_repr
from .remote import PID_MARK, preamble, split_ready, wrapped_argv

#: Starts the wrapper in a process group of its own unless sudo made one (`use_pty`).
LEAD = ("_orch_s=\nif read -r _ _ _ _ _orch_g _ 2>/dev/null </proc/$$/stat && "
        "[ \"$_orch_g\" != \"$$\" ] && command -v setsid >/dev/null 2>&1; then "
        "_orch_s=setsid; fi\nexec $_orch_s ")


@masked_repr  # its body carries the command's variables
@dataclass
class Script:
    """One sudo invocation: its argv, and what is sent once sudo lets it run."""

    argv: list[str]
    prompt: bytes
    token: bytes
    tty: bool
    body: bytes  # the script BOOT reads
    pre: bytes  # the wrapper's preamble (variables, directory)


def build(command: Command, sudo_options: list[str], login: bool) -> Script:
    """The sudo argv for `command` (options such as -u USER before `--`; `login`: they hold
    `-i`) and its stdin parts."""
    nonce = os.urandom(8).hex()
    prompt, token = f"orch-sudo-prompt-{nonce}:", f"orch-sudo-ok-{nonce}"
    pre = preamble(command)
    lead = LEAD
    if command.tty:  # BOOT made the terminal raw to read the script: the preamble restores it
        pre += b'stty "$_orch_tty0" 2>/dev/null; unset _orch_tty0\n'
        lead = "export _orch_tty0\n" + lead
    body = (lead + shlex.join(wrapped_argv(command.argv, len(pre)))).encode()
    read = f'eval "$(dd bs=1 count={len(body)} 2>/dev/null)"'
    boot = f"echo {token} >&2; {read}"
    if command.tty:
        boot = f'_orch_tty0="$(stty -g)"; stty raw -echo; {boot}'
    # the login shell of `sudo -i` would wait for BOOT and say `Killed` when a stop ends it
    # with KILL, as if the command had said it: it execs BOOT, its environment kept
    handover = ["exec"] if login else []
    argv = ["sudo", "-S", "-p", prompt, *sudo_options, "--", *handover, "sh", "-c", boot]
    return Script(argv, prompt.encode(), token.encode(), command.tty, body, pre)


@dataclass
class Started:
    """sudo let the command run: its pid (a process group), and output to pass on first."""

    events: AsyncIterator[Event]
    pid: int
    stdin: StdinWriter
    early: list[Event] = field(default_factory=list)


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
        self.script = script
        self.password = password
        self.user = user
        self.raw = b""  # the talking stream, not yet understood
        self.said = b""  # what sudo said besides its prompts (for errors)
        self.early: list[Event] = []  # the other stream's output, kept for later
        self.prompts = 0
        self.let_in = False
        self.pid: int | None = None  # the wrapper's, once it said it

    def talking(self, event: Stdout | Stderr) -> bool:
        """Is this chunk from the stream sudo and the wrapper talk on?"""
        return isinstance(event, Stdout) if self.script.tty else isinstance(event, Stderr)

    async def run(self) -> Started:
        events = self.handle.events()
        async for event in events:
            if isinstance(event, Exit):
                raise self.refusal(event)
            if not self.talking(event):
                self.early.append(event)
                continue
            self.raw += event.data
            pid = self.advance()
            if pid is not None:
                return Started(events, pid, self.handle.stdin, self.early)
        raise Refused("sudo ended without an exit status")

    def advance(self) -> int | None:
        """Act on what `raw` holds now; the pid once the wrapper reported it."""
        s = self.script
        while not self.let_in and s.prompt in self.raw:
            before, _, self.raw = self.raw.partition(s.prompt)
            self.said += before
            self.answer()
        if not self.let_in:
            i = self.raw.find(s.token + b"\n")
            if i < 0:
                return None
            before = self.raw[:i]
            if s.tty and self.prompts:  # the newline sudo echoes after reading the password
                before = before.removeprefix(b"\r\n") if before.startswith(b"\r\n") \
                    else before.removeprefix(b"\n")
            self.keep(before)
            self.raw = self.raw[i + len(s.token) + 1:]
            self.let_in = True
            self.handle.stdin.write(s.body + s.pre)
        if self.pid is None:
            i = self.raw.find(PID_MARK)
            j = self.raw.find(b"\n", i)
            if i < 0 or j < 0:
                return None
            self.pid = int(self.raw[i + len(PID_MARK):j].rstrip(b"\r") or b"0")
            self.keep(self.raw[:i])
            self.raw = self.raw[j + 1:]
        if s.tty:  # input waits until the terminal is cooked again (an EOF's ^D above all)
            self.raw, ready = split_ready(self.raw)
            if not ready:
                return None
        self.keep(self.raw)
        self.raw = b""
        return self.pid or None

    def answer(self) -> None:
        self.prompts += 1
        if self.password is None:
            raise Refused(f"sudo asks for a password to run commands as {self.user!r} and the "
                          f"sudo layer has none: add password: \"{{{{secret:NAME}}}}\" (or use "
                          f"a NOPASSWD rule)", AuthError)
        if self.prompts > 1:
            raise Refused(f"sudo did not accept the password (to run commands as "
                          f"{self.user!r}): check the secret given as the layer's password",
                          PasswordRejected)
        self.handle.stdin.write(self.password.encode("utf-8") + b"\n")

    def keep(self, data: bytes) -> None:
        if data:
            self.early.append(Stdout(data) if self.script.tty else Stderr(data))

    def refusal(self, end: Exit) -> Refused:
        """sudo (or the place) ended before the command ran: why, in one line."""
        if end.error is not None:
            return Refused(str(getattr(end.error, "reason", end.error)), type(end.error)
                           if isinstance(end.error, LayerError) else LayerError)
        text = (self.said + self.raw).decode("utf-8", "replace")
        return Refused(*explain(text, end, self.user, self.prompts))


_EXECUTE = re.compile(r"to execute '.*' as ")
#: sudo's words when its setuid bit has no effect (container flag, nosuid mount, lost bit).
_NO_SETUID = re.compile(r"no new privileges|effective uid is not 0|must be owned by uid 0")


def _setuid_cause(low: str) -> str:
    """Why sudo runs without root rights, from its (lower-cased) words."""
    if "no new privileges" in low:
        return ("the \"no new privileges\" flag is set (a container started with "
                "--security-opt no-new-privileges)")
    return "sudo is not setuid root or its file system is mounted nosuid"


def explain(text: str, end: Exit, user: str, prompts: int) -> tuple[str, type[LayerError]]:
    """sudo's own words (its last line, without the command it quotes) as our error."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    said = _EXECUTE.sub("to run commands as ", lines[-1] if lines else "")
    said = said.removeprefix("sudo: ")
    low = text.lower()
    if end.code == 127 and "sudo" in low and "not found" in low:
        return "sudo is not installed there (command not found)", LayerError
    if "incorrect password" in low or (prompts and "sorry, try again" in low):
        return ("sudo did not accept the password (to run commands as "
                f"{user!r}): check the secret given as the layer's password"), PasswordRejected
    if "not allowed" in low or "not in the sudoers" in low or "may not run" in low:
        return f"sudo refused: {said}", AuthError
    if "unknown user" in low:
        return f"sudo: unknown user {user!r}", LayerError
    if _NO_SETUID.search(low):
        return (f"sudo cannot change user there: {_setuid_cause(low)} "
                f"(sudo said: {said})"), LayerError
    status = f"exit {end.code}" if end.code is not None else f"signal {end.signal}"
    return f"sudo failed ({status}){': ' + said if said else ''}", LayerError
