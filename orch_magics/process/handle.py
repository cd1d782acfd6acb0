"""The live process handle every layer returns, built on a small per-layer backend.

A layer implements `ProcessBackend` (raw reads, writes, EOF, signals, exit status); the handle
adds everything the caller sees the same way at every depth: a stdin writer that never blocks
its caller, an ordered event stream with back-pressure, `wait()`, and the INT → TERM → KILL ladder.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal as _signal
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from ..errors import ProcessLeft
from .command import Command
from .events import Event, Exit, Stderr, Stdout
from .made import note_made
from .output_follow import follow
from .output_queue import OutputQueue
from .stdin_writer import StdinWriter

#: Default waits between the steps of the stop ladder (seconds).
STOP_GRACE = (2.0, 2.0)
#: Seconds a process has to end after SIGKILL before the handle gives up (a paused one cannot).
KILL_WAIT = 10.0
#: Seconds a stop waits past KILL_WAIT while the process's output still arrives.
FLOWING_WAIT = 60.0
#: Seconds without a chunk after which that output has gone quiet (a slow link's lost
#: packets leave gaps of seconds: its retransmissions wait for its round trips).
QUIET_AFTER = 6.0
#: Seconds a stop waits, after the ladder, for signals still being delivered.
SEND_WAIT = 2.0
#: Seconds a stop's first signal may take before the layer is asked whether the way to the
#: process went silent (`ProcessBackend.cut_if_silent`).
SIGNAL_CHECK = 2.0
#: Seconds the end of a process whose silent way was cut may take (its layer reconnects to
#: say what is left, within its own bounds) before the stop gives up on it.
LOST_WAIT = 30.0


def signal_number(sig: int | str) -> int:
    """The number of a signal given as a number or a name (`INT`, `SIGINT`, `int`)."""
    try:
        if isinstance(sig, str):
            name = sig.upper()
            return int(_signal.Signals[name if name.startswith("SIG") else "SIG" + name])
        if not isinstance(sig, bool) and sig in _signal.valid_signals():
            return int(sig)
    except KeyError:
        pass
    raise ValueError(f"unknown signal {sig!r}: give a number or a name such as 'INT', 'TERM', "
                     f"'KILL', 'HUP', 'USR1'")


class ProcessBackend(Protocol):
    """What one layer must provide for a process it started.

    `stdout` / `stderr` yield raw chunks until EOF (stderr is None under a PTY, where both
    streams are one). `wait` returns the Exit once the process is gone. `signal` delivers a
    signal to the process *and its children* at the end of the chain. `close` frees the channel.
    """

    pid: int | None

    def stdout(self) -> AsyncIterator[bytes]: ...
    def stderr(self) -> AsyncIterator[bytes] | None: ...
    async def write(self, data: bytes) -> None: ...
    async def write_eof(self) -> None: ...
    def stdin_gone(self) -> bool: ...
    async def wait(self) -> Exit: ...
    async def signal(self, sig: int) -> None: ...
    async def close(self) -> None: ...

    async def cut_if_silent(self) -> bool:
        """Asked when a stop's signal is not delivered within SIGNAL_CHECK s: whether the way
        to the process went silent (a connection that answers nothing); such a way is closed
        now, so the process's end comes as a lost connection. False where nothing can be."""
        ...


@runtime_checkable
class Resizable(Protocol):
    """A backend whose terminal can change size (a `tty` run's: the user's window did)."""

    async def resize(self, size: tuple[int, int]) -> None: ...  # (columns, rows): SIGWINCH


class ProcessHandle:
    """A running process at the end of a layer chain.

    Read `async for event in handle.events()`: Stdout / Stderr chunks as they arrive, then one
    Exit. Only one reader may iterate; if nobody does, `wait()` drains (and discards) the output
    so the process never stalls on a full pipe.
    """

    def __init__(self, backend: ProcessBackend, command: Command, *, chain: str = "local") -> None:
        self._backend = backend
        self.command = command
        self.chain = chain
        note_made(self)
        self.stdin = StdinWriter(backend, tty=command.tty)
        self._err_stream = backend.stderr()
        #: One output stream, a terminal's: the layer gave one (a TTY asked by the command, or
        #: by a layer's own `tty: true`), so what the process writes to stderr comes as Stdout.
        self.tty = self._err_stream is None
        self._queue = OutputQueue()
        self._exit: asyncio.Future[Exit] = asyncio.get_running_loop().create_future()
        self._reading = False
        self._discarding = False
        self._stopping: asyncio.Task[Exit] | None = None
        self._waiter: asyncio.Future[Exit] | None = None  # the layer's wait for the end
        self._abandoned: str | None = None  # why the handle gave up on a process KILL missed
        self._due = False  # the run's deadline passed after the process had ended
        # Per output stream: bytes received so far, and whether a chunk waits for the reader.
        self._received: dict[type[Event], int] = {}
        self._handing: set[type[Event]] = set()
        self._last_chunk = 0.0  # when the last chunk of either stream came (loop time)
        self._closing: asyncio.Future[None] | None = None  # the backend's close, once begun
        self.signals_sent: list[int] = []
        self._task = asyncio.ensure_future(self._run())

    @property
    def pid(self) -> int | None:
        """The process id where the layer knows it (at the end of the chain)."""
        return self._backend.pid

    @property
    def exit(self) -> Exit | None:
        """The Exit once the process has ended, else None."""
        return self._exit.result() if self._exit.done() else None

    @property
    def running(self) -> bool:
        return not self._exit.done()

    @property
    def exited(self) -> bool:
        """The process has ended on its own account (its status is known), though its
        output may still be arriving: a deadline passing now has nothing left to stop."""
        return self._waiter is not None and self._waiter.done()

    def deadline_passed(self) -> None:
        """The run's time is up after the process ended on its own: output still coming from
        what it left behind is followed no longer than after a stop (chains28: a chatty
        daemon kept a `--timeout 5` run open for a minute)."""
        self._due = True

    def when_done(self, callback: Callable[[Exit], object]) -> None:
        """Call `callback(exit)` on the loop once the process has ended (the audit's end
        record of a launched process), whoever reads its events."""
        self._exit.add_done_callback(lambda done: callback(done.result()))

    async def _pump(self, stream: AsyncIterator[bytes], kind: type[Stdout] | type[Stderr]) -> None:
        received, handing = self._received, self._handing
        received[kind], clock = 0, asyncio.get_running_loop().time
        async for chunk in stream:
            received[kind] += len(chunk)
            self._last_chunk = clock()
            if self._discarding:
                await asyncio.sleep(0)  # a read of buffered data never yields: let others run
            elif chunk:
                handing.add(kind)
                await self._queue.put(kind(chunk))
                handing.discard(kind)

    async def _run(self) -> None:
        error: BaseException | None = None
        pumps: dict[type[Event], asyncio.Future[None]] = {
            Stdout: asyncio.ensure_future(self._pump(self._backend.stdout(), Stdout))}
        if self._err_stream is not None:
            pumps[Stderr] = asyncio.ensure_future(self._pump(self._err_stream, Stderr))
        # Waited for alongside the output: a layer learns of the main process's end while a
        # grandchild may still hold the streams open, and then stops what it left behind.
        waiter = self._waiter = asyncio.ensure_future(self._backend.wait())
        try:
            await follow(pumps, waiter, self._received, self._handing,
                         lambda: self._stopping is not None or self._due)
            error = _first_error(pumps.values())
            try:
                exit_event = await waiter
            except Exception as exc:
                exit_event = Exit(error=error or exc)
            if error is not None:
                exit_event = exit_event.failing(error)
        except asyncio.CancelledError:
            waiter.cancel()
            for p in pumps.values():
                p.cancel()
            ended: list[asyncio.Future[Any]] = [waiter, *pumps.values()]
            _first_error(f for f in ended if f.done())
            why = ProcessLeft(self._abandoned) if self._abandoned else asyncio.CancelledError(
                "reader cancelled")
            exit_event = Exit(error=error or why)
        finally:
            # A process given up on gets one more KILL on the way out, which may queue as
            # long behind a busy link: it lands on its own time, the stop does not wait.
            self._closing = asyncio.ensure_future(self._backend.close())
            self._closing.add_done_callback(retrieved)
            await asyncio.wait([self._closing], timeout=SEND_WAIT if self._abandoned else None)
        self.stdin.cancel()
        if not self._exit.done():
            self._exit.set_result(exit_event)
        await self._queue.put(exit_event)

    async def events(self) -> AsyncIterator[Event]:
        """Output chunks as they happen, then the Exit; each event is delivered once."""
        if self._reading:
            raise RuntimeError("events() is already being read")
        self._reading = True
        while True:
            event = await self._queue.get()
            yield event
            if isinstance(event, Exit):
                return

    def discard_output(self) -> None:
        """The reader has gone: drop output from now on so the process can still end.

        Without a reader the bounded queue fills, the pumps block, and not even SIGKILL would
        let the handle see the end.
        """
        self._discarding = True
        self._queue.drop_all()

    async def wait(self) -> Exit:
        """Wait for the end; drains unread output (it is discarded) if nobody reads events()."""
        if not self._reading:
            async for _ in self.events():
                pass
        return await asyncio.shield(self._exit)

    async def send_signal(self, sig: int | str) -> None:
        """Deliver a signal (number or name such as 'INT', 'sigterm') to the process and its
        children; ValueError for one this system does not have."""
        sig = signal_number(sig)
        if self._exit.done():
            return
        self.signals_sent.append(int(sig))
        await self._backend.signal(int(sig))

    async def interrupt(self) -> None:
        await self.send_signal(_signal.SIGINT)

    async def terminate(self) -> None:
        await self.send_signal(_signal.SIGTERM)

    async def kill(self) -> None:
        await self.send_signal(_signal.SIGKILL)

    async def stop(self, grace: tuple[float, float] = STOP_GRACE) -> Exit:
        """The interrupt ladder: INT, then TERM after grace[0] s, then KILL after grace[1] s
        (stdin is no longer fed from the first step)."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._ladder(grace))
        return await asyncio.shield(self._stopping)

    async def _ladder(self, grace: tuple[float, float]) -> Exit:
        # A stop wins over input as it wins over output: what is still queued for stdin is
        # dropped, so no layer's buffers keep filling behind the signals. Each signal is sent
        # while its step's time runs: a layer that cannot deliver one quickly (a silent link)
        # does not stretch the ladder past its grace times.
        self.stdin.cancel()
        sending: list[asyncio.Future[None]] = []
        silence: asyncio.Future[bool] | None = None  # the check of the way, once begun
        busy: str | None = None  # what still came when the last step's wait ran out
        for sig, wait_for in ((_signal.SIGINT, grace[0]), (_signal.SIGTERM, grace[1]),
                              (_signal.SIGKILL, KILL_WAIT)):
            if self._exit.done():
                break
            sending.append(asyncio.ensure_future(self.send_signal(sig)))
            sending[-1].add_done_callback(retrieved)  # best effort: a failure is no answer
            silence = silence or asyncio.ensure_future(self._cut_if_unanswered(sending[-1]))
            busy = await self._still_busy(
                wait_for, FLOWING_WAIT if sig == _signal.SIGKILL else 0.0, sending)
        if silence is not None and not self._exit.done() and await silence:
            with contextlib.suppress(asyncio.TimeoutError):  # it ends as a lost connection
                await asyncio.wait_for(asyncio.shield(self._exit), LOST_WAIT)
        elif silence is not None:
            silence.cancel()
        # Signals under way finish (a KILL of the process group as well as of the process),
        # waited for a little: each layer bounds its own.
        if sending:
            await asyncio.wait(sending, timeout=SEND_WAIT)
        if self._waiter is not None and not self._waiter.done():  # KILL did not end it
            failed = _first_error(s for s in sending if s.done())
            self._abandoned = f"{_left_because(busy, failed)}: it may still be there"
            self._task.cancel()
        if not self._reading:
            return await self.wait()
        return await asyncio.shield(self._exit)

    async def _still_busy(self, seconds: float, flowing: float,
                          sending: list[asyncio.Future[None]]) -> str | None:
        """Wait for the end for `seconds`, and `flowing` s more while its way is busy (on a
        slow link the end queues behind the output in flight, its own or another run's on the
        same connection): what still came when the time ran out, `output` (its own) or
        `signals` (one still on its way), else None (it ended, or all went quiet: no chunk for
        QUIET_AFTER s, or during all of a shorter `seconds`, and no signal under way)."""
        clock = asyncio.get_running_loop().time
        start = clock()
        until, step = start + seconds + flowing, seconds
        while True:
            try:
                await asyncio.wait_for(asyncio.shield(self._exit),
                                       max(0.0, min(step, until - clock())))
                return None
            except asyncio.TimeoutError:
                quiet = clock() - max(start, self._last_chunk) >= min(seconds, QUIET_AFTER)
                if quiet and all(s.done() for s in sending):
                    return None
                if clock() >= until:
                    return "signals" if quiet else "output"
            step = SIGNAL_CHECK

    async def _cut_if_unanswered(self, sent: asyncio.Future[None]) -> bool:
        """Whether the way to the process went silent and was cut: asked of the layer when
        `sent` (the stop's first signal) is not delivered within SIGNAL_CHECK s."""
        done, _ = await asyncio.wait([sent], timeout=SIGNAL_CHECK)
        if done:
            return False
        try:
            return await self.cut_if_silent()
        except Exception:  # best effort, as the signals themselves
            return False

    async def cut_if_silent(self) -> bool:
        """See `ProcessBackend.cut_if_silent` (a sudo asks the handle it rides on)."""
        return await self._backend.cut_if_silent()

    async def resize(self, size: tuple[int, int]) -> None:
        """Give a `tty` run's terminal `size` (columns, rows), as `ssh -t` passes it on."""
        if self.tty and not self.exited and isinstance(self._backend, Resizable):
            with contextlib.suppress(Exception):  # best effort: the window is cosmetic
                await self._backend.resize(size)

    async def end(self, wait: float, *, eof: bool = True) -> None:
        """Let the process end on its own: EOF first (if `eof`), then, if it is still there
        `wait` s later, the stop ladder with half a second per step (a sudo done with its
        command, a container's warden told to end)."""
        if eof:
            self.stdin.close()
        try:
            await asyncio.wait_for(asyncio.shield(self.wait()), wait)
        except asyncio.TimeoutError:
            with contextlib.suppress(Exception):  # best effort, as the ladder's own signals
                await self.stop((0.5, 0.5))

    async def aclose(self) -> None:
        """Stop the process if it still runs and free the channel."""
        if self.running:
            await self.stop()


def _left_because(busy: str | None, failed: BaseException | None = None) -> str:
    """Why a stop gave up on a process that SIGKILL did not end (see `_still_busy`); `failed`:
    a signal's error (review47: an engine that did not answer was said as a paused one)."""
    if busy is None and failed is not None:
        return f"its signals were not delivered ({failed})"
    waited = f"{KILL_WAIT + FLOWING_WAIT:g} s after SIGKILL"
    if busy == "output":
        return (f"its output was still arriving {waited} (a slow link: its signals queue "
                f"behind the output in flight)")
    if busy == "signals":
        return (f"its signals were still on their way {waited} (a slow or busy link: they "
                f"queue behind the output in flight)")
    return (f"it did not end within {KILL_WAIT:g} s of SIGKILL (a paused container, or a "
            f"process stuck in the kernel)")


def retrieved(done: asyncio.Future[Any]) -> None:
    """Take a background step's outcome, so a failure is not reported as never retrieved."""
    _first_error([done])


def _first_error(done: Iterable[asyncio.Future[Any]]) -> BaseException | None:
    """The first error of these ended futures, every one's retrieved: when a connection drops,
    both streams fail, and an error left in a task is printed with a traceback at exit."""
    errors = [f.exception() for f in done if not f.cancelled()]
    return next((e for e in errors if e is not None), None)
