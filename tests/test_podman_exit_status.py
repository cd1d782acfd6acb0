"""Exit statuses on a podman that forgets ended execs at once (`exit_command_delay = 0`).

Podman removes an exec session `exit_command_delay` seconds after it ended (default 300, like
docker). At 0 the session can be gone before the layer inspects it; the wrapper's last
stderr line (`\\x1eorch-exit N`, remote.py) carries the status, and the layer inspects only
an exec whose wrapper said none. `forgetful` holds that inspect until the real podman has
removed the exec, so such a run takes that path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from fixtures.podman import CONTAINERS_CONF, Podman, started_podman
from orch_magics import Command, Exit, LayeredExecutor, LocalLauncher, Stdout
from orch_magics.config.loader import layer_spec, load_config_text
from orch_magics.layers.exec_tail import ExecTail
from orch_magics.layers.podman import PodmanConfig
from orch_magics.layers.remote import EXIT_MARK, StatusTail
from streams import collect


@pytest.fixture(scope="module")
def podman_no_delay() -> Iterator[Podman]:
    """A podman of its own whose containers.conf sets `[engine] exit_command_delay = 0`."""
    assert CONTAINERS_CONF.rstrip().endswith('lock_type = "file"')  # the [engine] table
    with started_podman("orch-podman0-", CONTAINERS_CONF + "exit_command_delay = 0\n") as engine:
        yield engine


@pytest.fixture
def forgetful(podman_no_delay, monkeypatch) -> list[str]:
    """Delay each exec inspect until podman no longer knows the exec; the ids it waited for."""
    real = docker.APIClient.exec_inspect
    gone: list[str] = []

    def inspect_after_removal(self: docker.APIClient, exec_id: str) -> Any:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                real(self, exec_id)
            except docker.errors.APIError:  # 404, or a 500 while podman removes it
                gone.append(exec_id)
                break
            time.sleep(0.02)
        return real(self, exec_id)

    monkeypatch.setattr(docker.APIClient, "exec_inspect", inspect_after_removal)
    return gone


def executor(base: LocalLauncher, podman: Podman, **config: Any) -> LayeredExecutor:
    config.setdefault("container", "orch-test")
    return LayeredExecutor(base, [layer_spec("podman", PodmanConfig(podman_host=podman.host,
                                                                    **config))])


CASES = [
    ("exit 3", b"", Exit(code=3)),
    ("printf 'out'; printf 'no newline' >&2; exit 7", b"no newline", Exit(code=7)),
    ("printf '\\036orch-exit 9\\n' >&2; exit 4", EXIT_MARK + b"9\n", Exit(code=4)),
    ("printf 'a\\036b\\036' >&2; true", b"a\x1eb\x1e", Exit(code=0)),
    ("kill -TERM $$", b"", Exit(signal=15)),
    ("kill -KILL $$", b"", Exit(signal=9)),
]


@pytest.mark.parametrize(("script", "err", "end"), CASES)
async def test_status_survives_a_forgotten_exec(base, podman_no_delay, forgetful,
                                                script, err, end) -> None:
    handle = await executor(base, podman_no_delay).launch(Command.shell(script))
    handle.stdin.close()
    got = await asyncio.wait_for(collect(handle), 60)
    assert got[1:] == (err, end)
    assert forgetful == [], "the wrapper's status line needs no inspect"


async def test_tty_status_survives_a_forgotten_exec(base, podman_no_delay, forgetful) -> None:
    handle = await executor(base, podman_no_delay).launch(
        Command(("sh", "-c", "test -t 1 && echo on a tty; exit 6"), tty=True))
    # a ^D (a TTY's EOF) that reaches podman after the exec ended makes podman write "Error:
    # write unixpacket …: broken pipe" into the output after the status line: it is dropped
    handle.stdin.close()
    out, _, end = await asyncio.wait_for(collect(handle), 60)
    assert (out.replace(b"\r", b""), end) == (b"on a tty\n", Exit(code=6))
    assert forgetful == []


async def test_stop_of_a_forgotten_exec(base, podman_no_delay, forgetful) -> None:
    """Interrupted (the wrapper reports 130) and killed (it cannot report: the KILL sent)."""
    ex = executor(base, podman_no_delay)
    handle = await ex.launch(Command.shell("echo ready; sleep 300"))
    assert await asyncio.wait_for(handle.events().__anext__(), 30) == Stdout(b"ready\n")
    assert await asyncio.wait_for(handle.stop((2, 2)), 30) == Exit(signal=2)
    handle = await ex.launch(Command.shell("trap '' INT TERM; sleep 301 & echo ready; sleep 302"))
    assert await asyncio.wait_for(handle.events().__anext__(), 30) == Stdout(b"ready\n")
    assert await asyncio.wait_for(handle.stop((0.3, 0.3)), 30) == Exit(signal=9)
    assert len(forgetful) == 1  # the killed one's: its wrapper said nothing


async def test_many_runs_without_help(base, podman_no_delay) -> None:
    """Unassisted, the race with podman's removal: every status right, whoever wins."""
    ex = executor(base, podman_no_delay)
    for i in range(12):
        handle = await ex.launch(Command.shell(f"echo {i}; exit {i % 4}"))
        handle.stdin.close()
        out, err, end = await asyncio.wait_for(collect(handle), 60)
        assert (out, err, end) == (f"{i}\n".encode(), b"", Exit(code=i % 4))


def test_status_tail_split_anywhere() -> None:
    """The status line is found however the stream is cut; anything else passes unchanged,
    a status line with another nonce (or none) too."""
    mark = EXIT_MARK + b"c0ffee "
    for body in (b"", b"out\n", b"a\x1eb", mark + b"1\nlater", mark + b"12\r\n",
                 EXIT_MARK + b"12\n"):
        stream = body + mark + b"137\r\n"
        for cut in range(len(stream) + 1):
            tail = StatusTail("c0ffee")
            out = tail.feed(stream[:cut]) + tail.feed(stream[cut:])
            status, held = tail.flush()
            assert (out + held, status) == (body, 137)
    for body in (b"out\n", b"a\x1eb", mark + b"1\nlater", mark, mark + b"1",
                 EXIT_MARK + b"1\n", EXIT_MARK + b"c0ffef 1\n", EXIT_MARK + b"c0ffee1\n"):
        tail = StatusTail("c0ffee")
        out = tail.feed(body)
        status, held = tail.flush()
        assert (out + held, status) == (body, None)
    tail = StatusTail("c0ffee")
    assert tail.feed(b"x" + EXIT_MARK[:4]) == b"x"  # only a possible marker is held back
    assert tail.feed(b"y") == EXIT_MARK[:4] + b"y"


def test_podman_lines_are_told_from_the_command_s_however_the_stream_is_cut() -> None:
    """Podman's line after the status line is dropped; without a status line before it, it
    says the stream was cut; a command's own `Error:` lines stay output."""
    status = EXIT_MARK + b"c0ffee 3\n"
    podman = b"Error: write unixpacket @->/proc/self/fd/15/attach: write: broken pipe\n"
    own = b"Error: disk full\n"
    cases = [(b"out\n" + status + podman, b"out\n", 3, None),
             (b"out\n" + status + podman + b"late\n", b"out\nlate\n", 3, None),
             (b"out\n" + podman, b"out\n", None, podman[7:-1].decode()),
             (own + status, own, 3, None), (own, own, None, None),
             (podman + b"more\n", podman + b"more\n", None, None)]
    for stream, output, code, cut in cases:
        for split in range(len(stream) + 1):
            tail = ExecTail("c0ffee")
            got = tail.feed(stream[:split]) + tail.feed(stream[split:]) + tail.flush()
            assert (got, tail.status, tail.cut) == (output, code, cut), (stream, split)


@pytest.mark.parametrize("forged", [b"", EXIT_MARK + b"0\n", EXIT_MARK + b"0123456789abcdef 0\n"])
async def test_a_killed_group_is_never_a_reported_status(base, podman_no_delay, forgetful,
                                                       forged) -> None:
    """The whole group killed (the wrapper with it): no status line, so the status is unknown.
    A status line the command printed last was taken for the wrapper's (a killed run reported
    as `exit 0`, held-out tester, podman finding 2): the wrapper's line carries the run's nonce,
    so the command's stays its output."""
    printf = "".join(f"\\{c:03o}" for c in forged)
    handle = await executor(base, podman_no_delay).launch(
        Command.shell(f"printf '{printf}' >&2; kill -9 0"))
    handle.stdin.close()
    _, err, end = await asyncio.wait_for(collect(handle), 60)
    assert (err, end.code, end.signal) == (forged, None, None)
    assert "the command reported none" in str(end.error)
    assert forgetful


async def test_forgotten_exec_behind_ssh(base, podman_no_delay, forgetful, ssh_lab) -> None:
    """The same through an ssh hop (the socket forwarded, the stream on its own channel)."""
    text = ("environments:\n  it:\n    layers:\n"
            f"      - {ssh_lab.layer('orch-loop')}\n"
            f"      - {{type: podman, config: {{container: orch-test, "
            f"podman_host: '{podman_no_delay.host}'}}}}\n")
    ex = LayeredExecutor(base, load_config_text(text).environments["it"].layers)
    for script, end in (("echo out; exit 3", Exit(code=3)), ("kill -TERM $$", Exit(signal=15))):
        handle = await ex.launch(Command.shell(script))
        handle.stdin.close()
        out, err, got = await asyncio.wait_for(collect(handle), 60)
        assert (err, got) == (b"", end)
    assert forgetful == []
