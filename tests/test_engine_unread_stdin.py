"""A command that leaves its stdin unread, through podman (also behind ssh) and docker.

`true`, `head -c 10`, `grep -q`: the command ends while input is still being sent. Podman then
writes its own "Error: write unixpacket …" after the wrapper's status line and resets the
connection: that was a broken stream (rc 255), a leaked status line and podman's raw line on
stderr, or the output lost (chains finding 1). Now the run ends with the command's status and
its output, and stderr is clean; when podman itself dropped the end of the output (it gives up
when its attach socket is reset with output still queued), one line says so in our words.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from orch_magics import Command, Exit, LayeredExecutor, LocalLauncher
from orch_magics.config.loader import layer_spec, load_config_text
from orch_magics.layers.docker import DockerConfig
from orch_magics.layers.podman import PodmanConfig
from streams import collect

#: (command, its stdout, bytes offered on its stdin): 64 KiB failed every time on podman.
CASES = [(["true"], b"", 64 << 10), (["head", "-c", "10"], b"x" * 10, 200_000),
         (["head", "-c", "10"], b"x" * 10, 100 << 20)]
#: The line in place of podman's when podman dropped the end of the output.
CUT = re.compile(rb"orch: podman cut the exec stream of container 'orch-test' short \((write|read)"
                 rb" unixpacket [^\n]*(connection reset by peer|broken pipe)\), as it does when a command ends "
                 rb"leaving input unread: the command's output may be incomplete\n")


async def unread(ex: LayeredExecutor, argv: list[str], size: int) -> tuple[bytes, bytes, Exit]:
    """Run `argv` with `size` bytes offered on stdin; what it printed and how it ended."""
    handle = await ex.launch(Command.of(argv))
    chunk = b"x" * (1 << 20)
    for start in range(0, size, len(chunk)):
        handle.stdin.write(chunk[:size - start])
    handle.stdin.close()
    return await asyncio.wait_for(collect(handle), 120)


async def check_podman(ex: LayeredExecutor, argv: list[str], out: bytes, size: int) -> None:
    for _ in range(5):  # it varied from run to run
        got_out, err, end = await unread(ex, argv, size)
        assert end == Exit(code=0)
        if err:  # podman lost the end of the output (and the status line), and said so
            assert CUT.fullmatch(err), err
            assert out.startswith(got_out)
        else:
            assert got_out == out


def engine(base: LocalLauncher, kind: str, host: str) -> LayeredExecutor:
    config: Any = (PodmanConfig(container="orch-test", podman_host=host) if kind == "podman"
                   else DockerConfig(container="orch-test", docker_host=host))
    return LayeredExecutor(base, [layer_spec(kind, config)])


@pytest.mark.parametrize(("argv", "out", "size"), CASES)
async def test_podman(base, podman, argv, out, size) -> None:
    await check_podman(engine(base, "podman", podman.host), argv, out, size)


@pytest.mark.parametrize(("argv", "out", "size"), CASES[:2])
async def test_podman_behind_ssh(base, podman, ssh_lab, argv, out, size) -> None:
    text = ("environments:\n  it:\n    layers:\n"
            f"      - {ssh_lab.layer('orch-loop')}\n"
            f"      - {{type: podman, config: {{container: orch-test, "
            f"podman_host: '{podman.host}'}}}}\n")
    await check_podman(LayeredExecutor(base, load_config_text(text).environments["it"].layers),
                       argv, out, size)


@pytest.mark.docker
@pytest.mark.parametrize(("argv", "out", "size"), CASES)
async def test_docker_is_unchanged(base, dockerd, argv, out, size) -> None:
    ex = engine(base, "docker", dockerd.host)
    for _ in range(3):
        assert await unread(ex, argv, size) == (out, b"", Exit(code=0))

