"""One docker exec as a ProcessBackend: the hijacked stream, exec inspect, signals by exec."""

from __future__ import annotations

import asyncio
import contextlib
import signal as _signal
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

from ..errors import LayerError, ProcessLeft, StreamError
from ..process.command import escaped
from ..process.environ import unpassable
from ..process.events import Exit
from ..process.handle import retrieved
from .docker_engine import Engine, connection_reason
from .docker_stream import ExecStream
from .failed_start import FailedStart
from .remote import decode_status

#: How long an exec given up on during its launch is waited for to say its pid.
PID_WAIT = 5.0
#: How long the stream may stay open after the wrapper's status line, which is the run's,
#: before the run ends without waiting for it to close.
LINGER = 0.2
#: The signals the wrapper takes for a stop: after one, a command a signal ended has its group
#: and session swept by the wrapper (`remote.left_line`) before the status line.
_STOPS = frozenset({_signal.SIGHUP, _signal.SIGINT, _signal.SIGQUIT, _signal.SIGTERM})
#: Seconds between looks at the container while an exec runs: an engine never closes the
#: exec of a container whose runtime shim was killed (chains11: the container had exited 137,
#: and the run waited for ever). One inspect per running exec this often.
CONTAINER_CHECK = 15.0


class ContainerPaused(ProcessLeft):
    """A signal for a command in a paused container was not sent: the engine runs no exec
    there (it refuses to create or start one), and unpausing is the container owner's call."""


def paused_message(tool: str, name: str, pgid: int) -> str:
    """What is left when a paused container cannot be signalled, and how to end it later."""
    return (f"container {name!r} is paused: the engine runs no exec in it, so process group "
            f"{pgid} was not signalled and may still run once it is unpaused, until orch lets "
            f"go of the container and its warden there ends it (sooner: "
            f"{tool} exec {name} kill -KILL -{pgid})")


#: The detach keys of a TTY exec: a sequence nobody types. orch never detaches, and docker's
#: default, Ctrl-P Ctrl-Q (Ctrl-P: a shell's previous line), killed the command with exit 126
#: (chains18). A key of it typed alone is held by the engine until the next key comes.
NO_DETACH = ",".join(["ctrl-@", "ctrl-^"] * 4)


def tty_create(tty: bool, cwd: str | None, env: Mapping[str, str]) -> dict[str, Any]:
    """exec_create's arguments for a TTY exec alone: its directory and variables (it runs no
    wrapper to set them) and detach keys nobody types."""
    if not tty:
        return {}
    return {"workdir": cwd, "environment": [f"{k}={v}" for k, v in env.items()] or None,
            "detach_keys": NO_DETACH}


def sized(argv: tuple[str, ...], size: tuple[int, int] | None) -> tuple[str, ...]:
    """`argv` started in a terminal of the user's window `size` (columns, rows): the engine
    sets an exec's size only after it started (API < 1.42), so the command would see 0 0."""
    if size is None:
        return argv
    return ("/bin/sh", "-c", f"stty cols {size[0]} rows {size[1]} 2>/dev/null; exec \"$@\"",
            "sh", *argv)


class ExecPlace(Protocol):
    """What an exec needs from its launcher: naming errors, signalling, cleaning up."""

    @property
    def where(self) -> str: ...
    engine_name: str
    tool: str
    def error(self, message: str, cls: type[LayerError] = LayerError) -> LayerError: ...
    def carrier_lost(self) -> Callable[[str], LayerError] | None: ...
    async def signal_group(self, engine: Engine, container: tuple[str, str], pgid: int,
                           sig: int) -> bool: ...
    async def kill_after_loss(self, container: tuple[str, str], pgid: int,
                              lost: Engine) -> str | None: ...
    async def cut_if_silent(self) -> str | None: ...


async def abandon(place: ExecPlace, engine: Engine, container: tuple[str, str],
                  opening: asyncio.Future[ExecStream]) -> None:
    """An exec being started, given up on (a stop or a timeout during its launch) before it
    had a handle to stop it with: the engine cannot end an exec, so once the wrapper says its
    pid, its group is killed, else the command ran on in the container with nobody's handle."""
    try:
        stream = await asyncio.wait_for(asyncio.shield(opening), PID_WAIT)
    except BaseException:  # never opened (or failed to): nothing was started
        opening.cancel()
        return
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.shield(stream.started), PID_WAIT)
        if stream.pid is not None:
            await place.signal_group(engine, container, stream.pid, _signal.SIGKILL)
    stream.close()


class DockerExec:
    """ProcessBackend of one exec started through the wrapper (its pid is its process group)."""

    def __init__(self, launcher: ExecPlace, engine: Engine, stream: ExecStream,
                 exec_id: str, container: tuple[str, str], tty: bool) -> None:
        self._launcher = launcher
        self._engine = engine
        self._stream = stream
        self._exec_id = exec_id
        self._container = container  # (id, name)
        self._tty = tty
        self._signals: list[int] = []
        self._cut: str | None = None  # why the way here was cut as silent, by a stop
        self._exit: Exit | None = None
        #: Set when a KILL could not be sent (a paused container): the end of this run.
        self._unkillable: asyncio.Future[LayerError] = asyncio.get_running_loop().create_future()
        self.pid: int | None = stream.pid

    async def resize(self, size: tuple[int, int]) -> None:
        """The engine's exec resize (`docker exec -t` follows the window so)."""
        columns, rows = size
        await self._engine.call(self._engine.api.exec_resize, self._exec_id, height=rows,
                                width=columns)

    def stdout(self) -> AsyncIterator[bytes]:
        return self._stream.output(0)

    def stderr(self) -> AsyncIterator[bytes] | None:
        return None if self._tty else self._stream.output(1)

    async def write(self, data: bytes) -> None:
        await self._stream.write(data)

    def stdin_gone(self) -> bool:
        return False  # dockerd takes input and drops it, as `docker exec -i` does

    async def write_eof(self) -> None:
        if self._tty:  # a TTY's end of input is its EOF character, as for ssh and a local PTY
            await self._stream.write(b"\x04")
            return
        await self._stream.write_eof()

    async def wait(self) -> Exit:
        stopped = asyncio.ensure_future(self._container_stopped())
        try:
            await asyncio.wait((self._stream.closed, self._stream.reported, self._unkillable,
                                stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if stopped.done() and not stopped.cancelled() and not self._stream.closed.done() \
                and self._stream.status is None:  # its processes are gone with it
            self._exit = await self._died_with_container()
            return self._exit
        if not self._stream.closed.done() and self._stream.status is not None:
            with contextlib.suppress(asyncio.TimeoutError):  # the engine ends it as a rule
                await asyncio.wait_for(asyncio.shield(self._stream.closed), LINGER)
        if not self._stream.closed.done() and self._stream.status is not None:
            # A process the command left (one that ignores TERM) holds the stream open, and
            # the engine may keep it for seconds: the wrapper's status is the run's, and the
            # handle follows that output only while it is not silent, as for every kind
            # (chains8: docker kept such runs 4-6 s).
            self._exit = decode_status(self._stream.status)
            return self._exit
        if not self._stream.closed.done():  # KILL refused: the stop ends, saying what is left
            self._exit = Exit(error=self._unkillable.result())
            return self._exit
        if self._stream.error is not None:
            return await self._lost(str(self._stream.error))
        if self._stream.status is not None:  # the wrapper's word, after its own sweep: no
            # inspect, which a shim busy with a hundred exits at once held for seconds
            self._exit = decode_status(self._stream.status)
            return self._exit
        api, delay = self._engine.api, 0.002
        while True:
            try:
                info = await self._engine.call(api.exec_inspect, self._exec_id)
            except Exception as exc:  # any docker-py error: the engine forgot it, or is gone
                return await self._uninspected(exc)
            if not info.get("Running") and info.get("ExitCode") is not None:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)
        code = int(info["ExitCode"])
        if code < 0:  # podman's "unknown": its conmon died
            self._exit = Exit(error=self._launcher.error(
                f"{self._launcher.engine_name} lost the exec before its exit status was known "
                f"(the process that held it ended: podman's conmon)", StreamError))
        else:
            self._exit = decode_status(code)
        await self._stop_what_is_left()
        return self._exit

    async def _container_stopped(self) -> None:
        """Return once the container is seen not running (every CONTAINER_CHECK s); an engine
        that cannot say is asked again later (the stream says what became of it), once its
        last look has answered: one look at a time, whatever the engine does."""
        look: asyncio.Future[dict[str, Any]] | None = None
        while True:
            await asyncio.sleep(CONTAINER_CHECK)
            if look is None or look.done():
                look = asyncio.ensure_future(self._engine.look(
                    self._engine.api.inspect_container, self._container[0]))
                look.add_done_callback(retrieved)  # its error: the next look asks again
            await asyncio.wait({look}, timeout=CONTAINER_CHECK)
            if look.done() and not look.cancelled() and look.exception() is None \
                    and not (look.result().get("State") or {}).get("Running", True):
                return

    async def _stop_what_is_left(self) -> None:
        """The wrapper ended without its status line, which it prints whenever it can: it was
        killed from outside (SIGKILL: `docker top`, the OOM killer), and its command runs on in
        its group, orphaned (chains10): that group is killed, as a stop would."""
        if self.pid is None or self._signals:
            return
        with contextlib.suppress(Exception):
            await self._launcher.signal_group(self._engine, self._container, self.pid,
                                              _signal.SIGKILL)

    async def _uninspected(self, exc: Exception) -> Exit:
        """No status from the engine, nor from the wrapper (`wait` takes its line without
        asking): say why (podman with `exit_command_delay = 0` forgets an ended exec at once)."""
        if getattr(exc, "status_code", None) is None:  # no answer: the engine is gone
            return await self._lost(f"{self._launcher.engine_name} on {self._launcher.where} "
                                    f"went away before reporting the exit status "
                                    f"({connection_reason(exc)})")
        elif _signal.SIGKILL in self._signals or not await self._container_running():
            self._exit = Exit(signal=_signal.SIGKILL)  # our KILL left the wrapper no time to
        else:  # print, or the container was removed under it, taking its exec (kinds17)
            self._exit = Exit(error=self._launcher.error(
                "the engine removed the exec before its exit status was read, and the command "
                "reported none (its shell was killed by a signal it cannot catch?)", StreamError))
            await self._stop_what_is_left()
        return self._exit

    async def _container_running(self) -> bool:
        """Whether the container still runs: podman forgets an exec with its container (a
        `podman rm -f` under a run), which then ends as a stopped container's processes do."""
        try:
            info = await asyncio.wait_for(self._engine.call(
                self._engine.api.inspect_container, self._container[0]), 5.0)
        except Exception as exc:  # gone (404); no answer: the stream says what it can
            return getattr(exc, "status_code", None) != 404
        return bool((info.get("State") or {}).get("Running", True))

    async def _lost(self, what: str) -> Exit:
        assert self.pid is not None
        # A hop's connection that carried the engine dropped: that hop says it, as it does for
        # its own commands (asked before the reconnect below replaces the connection).
        # (not when a stop cut a silent one: `_cut` names that hop already)
        blame = None if self._cut else self._launcher.carrier_lost()
        if blame is not None:
            what = "connection lost while the command ran"
        what = self._cut or what  # cut by a stop: why it is closed says more than how it ended
        outcome = await self._launcher.kill_after_loss(self._container, self.pid, self._engine)
        if outcome is None:  # the container stopped (breaking the stream): the run died with it
            self._exit = await self._died_with_container()
        elif blame is not None:
            self._exit = Exit(error=blame(f"{what}; {outcome}"))
        else:
            self._exit = Exit(error=self._launcher.error(f"{what}; {outcome}", StreamError))
        return self._exit

    async def _died_with_container(self) -> Exit:
        """The end of a run whose container stopped under it: the status the engine kept, else
        SIGKILL (what a stopped container's processes get), as when no stream was broken."""
        with contextlib.suppress(Exception):
            info = await asyncio.wait_for(
                self._engine.call(self._engine.api.exec_inspect, self._exec_id), 5.0)
            if not info.get("Running") and info.get("ExitCode") is not None:
                return decode_status(int(info["ExitCode"]))
        return Exit(signal=_signal.SIGKILL)

    async def signal(self, sig: int) -> None:
        if self.pid is None or self._stream.closed.done() and self._exit is not None:
            return
        self._signals.append(sig)
        try:
            await self._launcher.signal_group(self._engine, self._container, self.pid, sig)
        except ContainerPaused as exc:
            if sig == _signal.SIGKILL and not self._unkillable.done():
                self._unkillable.set_result(exc)
            raise

    def _swept(self) -> bool:
        """Whether the wrapper swept the run's group and session itself (`left_line`): a
        stop signal reached it, and it said its command's status, a death by a signal."""
        status = self._stream.status
        return status is not None and decode_status(status).signal is not None and \
            not _STOPS.isdisjoint(self._signals)

    async def cut_if_silent(self) -> bool:
        self._cut = self._cut or await self._launcher.cut_if_silent()  # the hop carrying it
        return self._cut is not None

    async def close(self) -> None:
        self._stream.close()
        # Stopped or abandoned: make sure nothing of the run's process group stays, unless
        # the wrapper swept it (an exec per run, as a hundred stopped runs end at once, held
        # containerd's shim for seconds).
        if self.pid is not None and not self._swept() and (self._signals or self._exit is None):
            with contextlib.suppress(Exception):
                await self._launcher.signal_group(self._engine, self._container, self.pid,
                                                  _signal.SIGKILL)


async def start_failure(launcher: ExecPlace, stream: ExecStream, name: str,
                        cwd: str | None, user: str | None, tty: bool) -> LayerError | FailedStart:
    """The wrapper never ran: say why in our words (the engine's text as the detail). A
    working directory it cannot enter is a failed run (status 126), as in every layer."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.shield(stream.closed), 2.0)
    stream.abort()
    refused = stream.refused.message if stream.refused is not None else None
    text = refused if refused is not None else "" if stream.error is not None \
        else stream.drain_text()
    low = text.lower()
    if "unable to find user" in low or "no matching entries in passwd" in low:  # podman says
        return launcher.error(f"user {user!r} does not exist in container {name!r}")  # it at
    if refused is not None:  # the exec's start, docker in its stream (kinds18: two wordings)
        return launcher.error(f"the engine refused to start the exec in {name!r}: {refused}")
    if stream.error is not None:
        return stream.error
    if "chdir" in low or ("cwd" in low and "no such file" in low):
        return FailedStart(126, f"orch: {_cwd_problem(low, cwd, user)}\n", tty=tty)
    if "argument list too long" in low:
        return launcher.error(f"the command is too long for container {name!r} ({text.strip()}):"
                              f" pass large data on stdin or in a file")
    if "exceed maximum message size" in low:  # the engine's gRPC limit (4 MiB) on its request
        return launcher.error(f"the command is too long for container {name!r} (its arguments "
                              f"and variables pass the engine's 4 MiB message limit): pass large "
                              f"data on stdin or in a file")
    if "/bin/sh" in low and ("no such file" in low or "not found" in low):
        return launcher.error(f"container {name!r} has no /bin/sh: the {launcher.tool} layer "
                              f"starts commands through a POSIX shell (to deliver signals)")
    return launcher.error(f"the engine could not start the command in {name!r}: "
                          f"{'; '.join(text.splitlines()) or 'no reason given'}")


def _cwd_problem(low: str, cwd: str | None, user: str | None) -> str:
    """The runtime's refusal to enter `cwd` in the remote wrapper's words (`remote.preamble`)."""
    if "not a directory" in low:
        return f"not a directory: {cwd}"
    if "permission denied" in low:
        return f"cannot enter working directory {cwd} as {user or 'the container user'}: " \
               f"permission denied"
    return f"working directory not found: {cwd}"


def not_text(words: tuple[str, ...]) -> bool:
    """Whether a word holds bytes that are not UTF-8 (kept as surrogates): the engine's JSON
    cannot carry it."""
    return any(escaped(word) != word for word in words)


def text_only(words: list[str], error: Callable[[str], LayerError], tty: bool,
              environ: Mapping[str, str]) -> None:
    """Refuse NUL, which no argument or variable can hold (the runtime said only "invalid
    argument"), and under a TTY bytes that are not UTF-8 (Python keeps them as surrogates):
    the engine's API carries a command as JSON text and would turn them into U+FFFD, another
    name. Without a TTY such words go on stdin, byte for byte (`remote.preamble`), which
    checks the variables; `environ`, those that go in the exec's environment instead, are
    checked here as it would (chains17: `_orch_stop` arrived empty under a TTY)."""
    for key, value in environ.items():
        if (why := unpassable(key, value, environ=True)) is not None:
            raise error(why)
    for word in words:
        if "\x00" in word:
            shown = escaped(word).replace("\x00", "\\x00")
            raise error(f"'{shown}' holds a NUL byte: no program can receive one in an "
                        f"argument or a variable")
        if tty and (shown := escaped(word)) != word:
            raise error(f"'{shown}' holds bytes that are not UTF-8: under a TTY (tty: true) the "
                        f"engine's API carries the command as text and would change them "
                        f"(run it without a TTY, or match such a name with a glob in sh -c)")
