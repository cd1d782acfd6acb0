"""A terminal run through sudo ends when its command does, with the command's status.

sudo 1.9.13 (Debian 12's) relays a terminal's input to the command's own pty; when the command
ends while sudo still holds input it read for it (the command left it unread, or typing and the
end crossed: an EOF's ^D sent as `echo hi` ends), sudo's last flush waits on the terminal for
more, forever (fixed upstream in 1.9.14, sudo-project/sudo PR #247). The wrapper's status line
tells the layer the command is over; a sudo that does not end then is stopped, and the run
reports the status the wrapper said. Each case runs on the real sudo lab, here and behind ssh.
"""

from __future__ import annotations

import asyncio
from typing import Any

from orch_magics.layers.exec_tail import ExecTail
from orch_magics.process.command import Command
from orch_magics.process.events import Exit
from processes import gone
from streams import collect
from test_sudo_layer import chain, executor

#: More input than the command's pty and sudo's buffer between them hold: sudo keeps some.
UNREAD = b"x" * 200_000 + b"\n"


async def _run(ex: Any, command: Command, stdin: bytes) -> tuple[bytes, bytes, Exit]:
    handle = await ex.launch(command)
    handle.stdin.write(stdin)
    handle.stdin.close()
    return await asyncio.wait_for(collect(handle), 60)


async def test_input_left_unread_does_not_hold_the_run(base, sudo_lab, where) -> None:  # type: ignore[no-untyped-def]
    """The command reads a little of a large input on a raw terminal, then exits 3."""
    ex = executor(base, chain(sudo_lab, where, sudo_lab.layer(sudo_lab.free)))
    script = "stty raw -echo; head -c 10 >/dev/null; echo unread-left; exit 3"
    out, err, end = await _run(ex, Command(("sh", "-c", script), tty=True), UNREAD)
    assert (end, err) == (Exit(code=3), b"")
    assert b"unread-left\n" in out.replace(b"\r", b""), out[-200:]
    # After it, only the terminal's echo of input that was still arriving once sudo gave the
    # terminal its echo back (a race of the terminal's, as through `ssh -t`): no other byte.
    after = out.replace(b"\r", b"").split(b"unread-left\n", 1)[1]
    assert set(after) <= set(b"x\n"), after[-200:]
    assert b"\x1eorch" not in out  # the wrapper's lines are the layer's, never output


async def test_each_run_ends_with_its_own_status(base, sudo_lab, where) -> None:  # type: ignore[no-untyped-def]
    """Short commands whose end meets the EOF's ^D, one after another, as a runbook does."""
    ex = executor(base, chain(sudo_lab, where, sudo_lab.layer(sudo_lab.free)))
    for n in range(12):
        out, _, end = await _run(ex, Command(("sh", "-c", f"echo run-{n}; exit {n}"),
                                             tty=True), b"")
        assert (end, out.replace(b"\r", b"").splitlines()[-1:]) == (Exit(code=n),
                                                                    [f"run-{n}".encode()])


async def test_a_status_line_the_command_prints_is_output(base, sudo_lab) -> None:  # type: ignore[no-untyped-def]
    """A line shaped like the wrapper's (another nonce) is the command's, on either stream."""
    ex = executor(base, [sudo_lab.layer(sudo_lab.free)])
    fake = r"printf '\036orch-exit 0123456789abcdef 7\n'"
    for tty in (True, False):
        out, err, end = await _run(ex, Command(("sh", "-c", f"{fake}; {fake} >&2; exit 5"),
                                               tty=tty), b"")
        assert end == Exit(code=5)
        said = (out + err).replace(b"\r", b"")
        assert said.count(b"\x1eorch-exit 0123456789abcdef 7\n") == 2, said


async def test_a_stuck_sudo_leaves_nothing_behind(base, sudo_lab, where) -> None:  # type: ignore[no-untyped-def]
    """The sudo that was stopped is gone (its argv holds its prompt), and so is what it ran."""
    ex = executor(base, chain(sudo_lab, where, sudo_lab.layer(sudo_lab.free)))
    mark = "left-unread-mark"
    script = f"stty raw -echo; head -c 10 >/dev/null; : {mark}"
    _, _, end = await _run(ex, Command(("sh", "-c", script), tty=True), UNREAD)
    assert end == Exit(code=0)
    assert (await gone(mark), await gone("orch-sudo-prompt-")) == ([], [])


def test_the_status_line_is_kept_when_output_follows_it() -> None:
    """A process the command left may print after the wrapper's status line (in the same chunk
    or a later one): the status stands, the line is never output, and what follows is, all of
    it (no line is taken for an engine's, as in a docker exec's stream)."""
    nonce = "00112233aabbccdd"
    for chunks in ([b"out\r\n\x1eorch-exit " + nonce.encode() + b" 4\r\nlate\r\n"],
                   [b"out\r\n\x1eorch-ex", b"it " + nonce.encode() + b" 4\r", b"\nlate\r\n",
                    b"Error: write unixpacket x\n"],
                   # two terminals' `onlcr` in a row (StatusTail reads it; this one did not:
                   # the status was lost, review5)
                   [b"out\r\n\x1eorch-exit " + nonce.encode() + b" 4\r\r", b"\nlate\r\n"]):
        tail = ExecTail(nonce, engine=False)
        said = b"".join(tail.feed(c) for c in chunks) + tail.flush()
        assert tail.status == 4
        assert said == b"out\r\nlate\r\n" + (b"Error: write unixpacket x\n" if len(chunks) > 2
                                              else b"")
