"""A command stopped (SIGSTOP, or by itself) behind sudo: sudo stops itself too, as job control
would have it, so a CONT or a KILL that reached the command alone left sudo stopped and the run
waiting for ever; a stop then took 12 s and said the process "may still be there" (layers2
tester). The layer wakes sudo after a CONT or a KILL."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from orch_magics.errors import AuthError
from orch_magics.process.command import Command
from orch_magics.process.events import Exit, Stdout
from processes import processes_with
from test_sudo_layer import chain, executor


@pytest.mark.parametrize("hops", ["sudo", "ssh→ssh→sudo"])
async def test_a_command_stopped_and_continued_ends_as_it_would(base, sudo_lab, request,  # type: ignore[no-untyped-def]
                                                               hops: str) -> None:
    ssh_lab = request.getfixturevalue("ssh_lab") if "ssh" in hops else None
    ex = executor(base, chain(sudo_lab, ssh_lab, sudo_lab.layer(sudo_lab.free)))
    handle = await ex.launch(Command.shell("echo ready; sleep 1; echo after; exit 7"))
    handle.stdin.close()
    events = handle.events()
    assert await asyncio.wait_for(events.__anext__(), 20) == Stdout(b"ready\n")
    await handle.send_signal("STOP")
    await asyncio.sleep(0.5)
    await handle.send_signal("CONT")
    rest = await asyncio.wait_for(_rest(events), 20)
    assert (rest[0], rest[-1]) == (Stdout(b"after\n"), Exit(code=7))


async def test_a_stopped_command_is_stopped_at_once(base, sudo_lab) -> None:  # type: ignore[no-untyped-def]
    ex = executor(base, chain(sudo_lab, None, sudo_lab.layer(sudo_lab.free)))
    token = f"6173.{os.getpid()}"
    handle = await ex.launch(Command.shell(f"echo ready; sleep {token}"))
    assert await asyncio.wait_for(handle.events().__anext__(), 20) == Stdout(b"ready\n")
    await handle.send_signal("STOP")
    await asyncio.sleep(0.5)
    began = time.monotonic()
    end = await asyncio.wait_for(handle.stop((0.5, 0.5)), 40)
    assert (end.signal, end.error) == (9, None) and time.monotonic() - began < 8
    assert processes_with(token) == []


@pytest.mark.parametrize("password", [True, False])
async def test_a_stop_whose_kill_sudo_refuses_ends_the_sudo_instead(  # type: ignore[no-untyped-def]
        base, sudo_lab, monkeypatch, password: bool) -> None:
    """kinds12: the login user's account expired during the run (or its password changed):
    each `sudo … kill` of the stop was refused, the stop held 16 s and then said the command
    "may still be there (a paused container, or a process stuck in the kernel)". The sudo the
    command runs under is ended instead, and the command's group with it."""
    monkeypatch.setenv("ORCH_SECRET_SUDO_PW", sudo_lab.password)
    user = sudo_lab.target if password else sudo_lab.free
    ex = executor(base, chain(sudo_lab, None, sudo_lab.layer(user, password=password)))
    token = f"6174.{os.getpid()}{int(password)}"
    handle = await ex.launch(Command.shell(f"echo ready; sleep {token}"))
    assert await asyncio.wait_for(handle.events().__anext__(), 20) == Stdout(b"ready\n")
    with sudo_lab.expired("account"):
        end = await asyncio.wait_for(handle.stop((0.5, 0.5)), 40)
        for _ in range(100):
            if not processes_with(token):
                break
            await asyncio.sleep(0.1)
    assert end.error is None and end.returncode != 0, end
    assert processes_with(token) == []


async def test_a_signal_sudo_refuses_is_said_and_the_command_goes_on(  # type: ignore[no-untyped-def]
        base, sudo_lab) -> None:
    """review25: the refused kill's fallback (end the sudo) is the stop's alone: a USR1 that
    sudo refuses to send is an error, and the command that handles USR1 goes on."""
    ex = executor(base, chain(sudo_lab, None, sudo_lab.layer(sudo_lab.free)))
    token = f"6175.{os.getpid()}"
    handle = await ex.launch(Command.shell(f"trap 'echo usr1' USR1; echo ready; "
                                           f"sleep {token} & wait; wait"))
    events = handle.events()
    assert await asyncio.wait_for(events.__anext__(), 20) == Stdout(b"ready\n")
    with sudo_lab.expired("account"):
        with pytest.raises(AuthError):
            await handle.send_signal("USR1")
    await asyncio.sleep(0.5)
    assert processes_with(token) != [] and handle.running
    end = await asyncio.wait_for(handle.stop((0.5, 0.5)), 40)
    assert end.error is None and processes_with(token) == []


async def _rest(events):  # type: ignore[no-untyped-def]
    return [event async for event in events]


async def test_a_dropped_bastion_under_sudo_is_said_by_the_bastion(base, sudo_lab, ssh_lab  # type: ignore[no-untyped-def]
                                                                   ) -> None:
    """files10: the bastion's session killed under ssh → ssh → sudo read `hop 3 (sudo …):
    connection lost`; the hop whose connection dropped says it, as behind docker."""
    from orch_magics.errors import StreamError

    ex = executor(base, chain(sudo_lab, ssh_lab, sudo_lab.layer(sudo_lab.free)))
    token = f"6174.{os.getpid()}"
    handle = await ex.launch(Command.shell(f"echo ready; sleep {token}"))
    events = handle.events()
    assert await asyncio.wait_for(events.__anext__(), 20) == Stdout(b"ready\n")
    assert ssh_lab.servers["bastion"].kill_sessions()
    rest = await asyncio.wait_for(_rest(events), 60)
    end = rest[-1]
    assert isinstance(end, Exit) and isinstance(end.error, StreamError), rest
    assert str(end.error).startswith("hop 1 (ssh orch-bastion): connection lost while the "
                                     "command ran;"), end.error
    assert "through a new sudo run" in str(end.error)
