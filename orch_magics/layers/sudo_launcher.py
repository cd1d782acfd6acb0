"""Sudo hops: each command starts through `sudo -S` on the place before (see sudo_handshake.py).

A sudo hop is a place of its own (another user at the same host), one hop beyond the previous
place, with no capability to carry connections. Signals go the same way as the command: a
short `sudo … kill -SIG -PGID` with the same credentials, since the user before sudo may not
signal the user after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Hashable
from typing import TYPE_CHECKING

from ..config.suggest import did_you_mean
from ..errors import AuthError
from ..process.command import Command
from ..process.handle import ProcessHandle
from .base import Launcher, ungated
from .lookup import output_at
from .remote import kill_group_line
from .remote_limits import too_long
from .sudo_handshake import Conversation, Refused, Started, build
from .sudo_process import END_GRACE, SudoBackend
from .sudo_refusal import unknown_user

if TYPE_CHECKING:  # the kind module imports this one inside wrap()
    from .sudo import SudoConfig


class SudoLauncher(Launcher):
    """Runs commands as `config.user` through sudo at the previous place."""

    def __init__(self, config: SudoConfig, inner: Launcher, label: str) -> None:
        self.adopt(inner, label)
        self.config = config

    @property
    def key(self) -> Hashable:
        assert self.inner is not None
        return ("sudo", self.inner.key, self.config.user, self.config.login)

    def options(self, login: bool) -> list[str]:
        """sudo's options for this layer (before `--`); `login`: HOME the target's, as `sudo
        -i` sets it, for the gate to enter (review24: a sudoers keeping HOME gave the
        caller's, and the caller's profile ran)."""
        cfg = self.config
        opts = ["-u", cfg.user, *(["-H"] if login else [])]
        if cfg.preserve_env:
            opts.append("--preserve-env=" + ",".join(cfg.preserve_env))
        return opts

    async def start(self, command: Command, *, login: bool | None = None) -> Started:
        """Start `command` through sudo at the previous place; it runs when this returns.
        `login` (default: the layer's) runs it through the user's login shell and profile."""
        login = self.config.login if login is None else login
        if self._password_breaks_a_line():
            raise self.error(f"the sudo password (to run commands as {self.config.user!r}) "
                             f"holds a line break, which sudo cannot read: sudo -S takes one "
                             f"line (at {self.where})", AuthError)
        if (why := too_long(command)) is not None:  # as every layer: refused before it is sent
            raise self.error(f"the command is too long to run as {self.config.user!r} ({why}) "
                             f"(at {self.where}): pass large data on stdin or in a file")
        script = build(command, self.options(login), login)
        assert self.inner is not None
        handle = await self.inner.launch(Command(  # the prompt on no argv (sudo_handshake)
            tuple(script.argv), env={"SUDO_PROMPT": script.prompt.decode()}, tty=command.tty,
            size=command.size))
        talk = Conversation(handle, script, self.config.password, self.config.user)
        try:
            return await _answered(talk, self.config.timeout)
        except Refused as exc:
            await _end(handle)
            hint = await self._users_near() if exc.message == unknown_user(
                self.config.user) else ""
            raise self.error(f"{exc.message}{hint} (at {self.where})", exc.cls) from None
        except asyncio.TimeoutError:
            await self._end_profile(handle, login)
            await _end(handle)
            said = talk.heard().last()  # sudo may wait on a prompt of PAM's (an OTP code)
            profile = (f"; with login: true, {self.config.user}'s login shell runs its profile "
                       f"first: one that waits (reads stdin, asks something) holds the command"
                       ) if login else ""
            raise self.error(f"sudo did not start the command within "
                             f"{self.config.timeout:g} s (at {self.where})"
                             + (f" (it said: {said})" if said else "") + profile) from None
        except BaseException:  # an interrupt or a stop while sudo starts
            await self._end_profile(handle, login)
            await _end(handle)
            raise

    def _password_breaks_a_line(self) -> bool:
        """Whether the password holds a line break (sudo -S reads one line). Asked here, so
        that no frame of `start` holds the password in a local: a traceback printed with
        its locals showed it (safety21)."""
        password = self.config.password
        return password is not None and ("\n" in password or "\r" in password)

    async def _users_near(self) -> str:
        """` (did you mean 'k12target'?)` when an account at the place before is spelt near
        the layer's unknown user (kinds12: a misspelt container got one, a user none)."""
        if self.config.user.isdecimal():  # kinds13: sudo takes a uid as '#65534'
            return f" (a uid is written '#{self.config.user}')"
        assert self.inner is not None
        out = await output_at(self.inner, "getent passwd 2>/dev/null || cat /etc/passwd")
        names = [line.split(":", 1)[0] for line in (out or b"").decode(
            "utf-8", "replace").splitlines()]
        hint = did_you_mean(self.config.user, names)
        return f" (did you mean {hint!r}?)" if hint else ""

    async def _end_profile(self, handle: ProcessHandle, login: bool) -> None:
        """A start given up while the target user's login shell may run its profile: the user
        before sudo may not signal that user's processes (layers7: a profile's `sleep` outlived
        every stop behind an ssh hop), so a short sudo run without login KILLs what the target
        user runs in the sudo's process group and session."""
        if not login or handle.pid is None:
            return
        with contextlib.suppress(Exception), ungated():  # best effort: the start's error counts
            await asyncio.wait_for(self.signal_group(handle.pid, signal.SIGKILL, handle.tty),
                                   self.config.timeout)

    async def launch(self, command: Command) -> ProcessHandle:
        started = await self.start(command)
        backend = SudoBackend(started, tty=started.tty, signal_group=self.signal_group,
                              error=self.error)
        return ProcessHandle(backend, command, chain=self.chain)

    async def signal_group(self, pgid: int, sig: int, tty: bool = False) -> None:
        """`kill -SIG -PGID` as the target user (a second, short sudo run, through no login
        shell: a profile that waits would hold the signal); with `tty`, on a terminal as the
        run it stops has one (kinds14: under sudoers `requiretty` each was refused)."""
        kill = Command(("sh", "-c", kill_group_line(pgid, sig)), tty=tty)
        started = await self.start(kill, login=False)  # not held by a slow profile
        async for _ in started.events:
            pass


#: Seconds sudo may take past the layer's timeout to answer a password it was sent: PAM
#: delays a refusal by about 2 s (pam_unix's fail delay), which a short `timeout` turned into
#: "did not start", the wrong password unsaid and never forgotten (kinds18).
REFUSAL_DELAY = 5.0


async def _answered(talk: Conversation, timeout: float) -> Started:
    """`talk.run()` within `timeout`, and, once a password is sent and sudo has not let the
    command in yet, for up to REFUSAL_DELAY more: its answer to the password."""
    task = asyncio.ensure_future(talk.run())
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done and talk.prompts and not talk.let_in:
            await asyncio.wait({task}, timeout=REFUSAL_DELAY)
        if not task.done():
            raise asyncio.TimeoutError
        return task.result()
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _end(handle: ProcessHandle) -> None:
    """Let a sudo that will not run the command end; what it still says is not read."""
    handle.discard_output()
    await handle.end(END_GRACE)
