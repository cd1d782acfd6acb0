"""Waiting for an answer on an SSH connection that is busy, not silent (`while_heard`): a
stop's fallback kill over a slow link. Against the loopback sshd (MaxSessions 10)."""

from __future__ import annotations

import asyncio
import time

import asyncssh
import pytest

from orch_magics.layers.ssh_liveness import listen, while_heard

pytestmark = pytest.mark.ssh


async def _connect(ssh_lab) -> asyncssh.SSHClientConnection:  # type: ignore[no-untyped-def]
    return await asyncssh.connect("orch-loop", config=[str(ssh_lab.ssh_config)],
                                  known_hosts=str(ssh_lab.known_hosts))


async def test_an_answer_given_up_on_leaves_no_session_taken(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    """Before: the kill's `conn.run` was cancelled while its channel opened; the opening's
    answer came later and the channel stayed open for good, holding one of sshd's 10 sessions:
    the one the pool keeps free for kills, so the next kill on a full connection was refused
    and the command orphaned. Now the kill is left to finish: it lands, and its channel closes."""
    conn = await _connect(ssh_lab)  # not listened to: nothing is heard, quiet ends it at once
    try:
        kill = asyncio.ensure_future(conn.run("echo landed", check=False))
        with pytest.raises(asyncio.TimeoutError):
            await while_heard(conn, kill, 0.0, time.monotonic())
        assert (await asyncio.wait_for(kill, 10)).stdout == "landed\n"
        sessions = [await asyncio.wait_for(conn.create_process("sleep 5"), 10) for _ in range(10)]
        for session in sessions:
            session.kill()
    finally:
        conn.close()


async def test_it_gives_up_quiet_seconds_after_the_last_byte(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    """Before: silence was checked once per `quiet` s, so it was given up after up to twice
    that (3.8 s of silence with quiet=2)."""
    conn = await _connect(ssh_lab)
    listen(conn)
    try:
        talk = await conn.create_process("i=0; while [ $i -lt 22 ]; do echo x; sleep 0.1; "
                                         "i=$((i+1)); done; sleep 30")
        last = time.monotonic()

        async def track() -> None:
            nonlocal last
            while await talk.stdout.readline():
                last = time.monotonic()

        tracking = asyncio.ensure_future(track())
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        started = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            await while_heard(conn, never, 2.0, started + 30)
        silent, took = time.monotonic() - last, time.monotonic() - started
        tracking.cancel()
        talk.kill()
        assert took > 3.5 and silent < 2.6, (took, silent)  # waited while it talked, not after
    finally:
        conn.close()
