"""A fleet's labelled lines follow the one line model of a single run, on real sshd: a `\\r\\n`
ending is not part of the line, and a line that never ends is bounded where output is kept
(a named fleet's `logs`) and goes out whole, in labelled pieces, from `orch run`.

Before, both splitters were their own: `ERROR\\r\\n` came out of `logs` as `ERROR\\r`, a named
fleet held a line without newline whole (all of it, for days), and each chunk re-copied the
line so far (50 MiB without newline: 12 s in the notebook view, 27 s in `orch run`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures.fleet import SSHFleet
from orch_magics import Orchestrator, load_config_text
from orch_magics.process.events import Stdout
from orch_magics.sinks.lines import CutLine

LONG = 300_000
#: `ERROR` with a CRLF ending, a line of LONG `x` without newline for a while, then `end`.
COMMAND = (f"printf 'ERROR\\r\\n'; head -c {LONG} /dev/zero | tr '\\0' x; sleep 0.5; "
           f"printf '\\nend\\n'")
TARGETS = "127.0.1.[1:2]"


def config(fleet: SSHFleet) -> str:
    return (f"environments:\n  web:\n    layers:\n"
            f"      - {{type: ssh, config: {{host: \"{TARGETS}\", {fleet.ssh_config()}}}}}\n")


def test_a_named_fleets_logs_end_lines_and_bound_a_long_one_as_a_single_run_does(
        ssh_fleet: SSHFleet) -> None:
    orch = Orchestrator(load_config_text(config(ssh_fleet)))
    try:
        orch.start("web", command=COMMAND, name="long")
        deadline = time.monotonic() + 60
        while "127.0.1.2 | orch: exit 0" not in (logs := orch.logs("long")) or \
                "127.0.1.1 | orch: exit 0" not in logs:  # each target's end line, said last
            assert time.monotonic() < deadline, logs[-300:]
            time.sleep(0.1)
    finally:
        orch.close()
    for target in ("127.0.1.1", "127.0.1.2"):
        mine = [line[len(target) + 3:] for line in logs.split("\n")
                if line.startswith(f"{target} | ")]
        assert mine[0] == "ERROR" and mine[-2:] == ["end", "orch: exit 0"], mine[:1] + mine[-2:]
        [long] = mine[1:-2]
        head, note, tail = long.partition(" … (")
        dropped, _, tail = tail.partition(" chars not kept) … ")
        assert set(head) == set(tail) == {"x"} and int(dropped) > 0, long[:80]
        assert len(head) + int(dropped) + len(tail) == LONG  # every character counted
        assert len(head) + len(tail) <= 64 * 1024


def test_orch_run_writes_a_line_that_never_ends_whole_in_labelled_pieces(
        ssh_fleet: SSHFleet, tmp_path: Path) -> None:
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(config(ssh_fleet))
    done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run", "web",
                           "--", "sh", "-c", COMMAND], capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    assert done.returncode == 0, done.stderr
    for target in (b"127.0.1.1", b"127.0.1.2"):
        mine = [line[len(target) + 3:] for line in done.stdout.split(b"\n")
                if line.startswith(target + b" | ")]
        assert mine[0] == b"ERROR\r" and mine[-1] == b"end", mine[:1] + mine[-1:]
        pieces = mine[1:-1]  # the bytes as they came, nothing lost, in pieces of 64 KiB
        assert b"".join(pieces) == b"x" * LONG, [len(p) for p in pieces]
        assert len(pieces) == -(-LONG // 65536) and max(map(len, pieces)) == 65536


class _Written:
    """The fds an `orch run` fleet writes, as bytes per write."""

    def __init__(self) -> None:
        self.writes: list[tuple[int, bytes]] = []

    def write(self, fd: int, data: bytes, *, own: bool = False) -> bool:
        self.writes.append((fd, data))
        return True


def test_pieces_of_a_line_that_never_ends_cut_no_character_and_no_crlf() -> None:
    """Each piece is written as a line of its own: a 3-byte character or a `\\r\\n` ending
    cut between two pieces would show as garbage, or as an empty extra line."""
    from orch_magics.cli.fleet import LabelledWriter

    out = _Written()
    lines = LabelledWriter("web", 3, out)  # type: ignore[arg-type]
    sent = ("€" * 100_000).encode() + b"\r"
    for i in range(0, len(sent), 4099):  # chunks that end anywhere inside a character
        lines.feed(Stdout(sent[i:i + 4099]))
    lines.feed(Stdout(b"\nend\n"))
    lines.close()
    written = b"".join(data for _, data in out.writes).split(b"\n")
    assert written.pop() == b"" and all(line.startswith(b"web | ") for line in written), written
    *pieces, last = [line.removeprefix(b"web | ") for line in written]
    assert last == b"end" and len(pieces) > 2
    assert b"".join(pieces) == sent  # nothing lost, nothing added
    for piece in pieces[:-1]:
        assert not piece.endswith(b"\r")  # a `\r` waits for its `\n`
        piece.decode()  # whole characters only (UnicodeDecodeError otherwise)
    assert pieces[-1].endswith("€\r".encode())


def _cli_lines(*chunks: bytes) -> list[bytes]:
    """What `orch run FLEET` writes for target `web` given these stdout chunks, as lines."""
    from orch_magics.cli.fleet import LabelledWriter

    out = _Written()
    lines = LabelledWriter("web", 3, out)  # type: ignore[arg-type]
    for chunk in chunks:
        lines.feed(Stdout(chunk))
    lines.close()
    written = b"".join(data for _, data in out.writes).split(b"\n")
    assert written.pop() == b""
    return written


@pytest.mark.parametrize("chunks", [
    [b"a" * 200_000 + b"\n"],  # a long line and its end in one read
    [b"a" * 60_000, b"a" * 140_000 + b"\nshort\n"],  # held under the limit, then the rest
    [b"s\n" * 1000 + b"L" * 150_000 + b"\nt\n"],  # in the middle of many short ones
    ["€".encode() * 50_000 + b"\n"],
])
def test_a_long_line_goes_out_in_pieces_of_at_most_64_kib(chunks: list[bytes]) -> None:
    """Only a line held without its end was cut: one whose newline came in the same read went
    out whole, 134,464 bytes after a 65,536 piece (tester cli3; docs/fleets.md: at most 64 KiB)."""
    from orch_magics.sinks.lines import MAX_PARTIAL

    written = [line.removeprefix(b"web | ") for line in _cli_lines(*chunks)]
    assert max(map(len, written)) <= MAX_PARTIAL
    assert b"".join(written) == b"".join(chunks).replace(b"\n", b"")  # nothing lost
    for piece in written:
        piece.decode()  # whole characters only


def test_a_line_ended_just_after_a_piece_adds_no_empty_labelled_line() -> None:
    """A 70,000-byte line, then its newline a moment later: it showed as three labelled lines,
    one of them empty (`web | `, or `web | \\r` for a CRLF ending): one line too many for a
    `grep -c` (testers fleets5, review6)."""
    assert _cli_lines(b"x" * 70_000, b"\n", b"next\n") == [
        b"web | " + b"x" * 65536, b"web | " + b"x" * 4464, b"web | next"]
    assert _cli_lines(b"x" * 65537 + b"\r", b"\n", b"next\n") == [
        b"web | " + b"x" * 65536, b"web | x\r", b"web | next"]
    assert _cli_lines(b"x" * 65536 + b"\r", b"\nnext\n") == [  # its \r\n ends the last piece
        b"web | " + b"x" * 65536, b"web | next"]


def test_pieces_of_a_coloured_line_that_never_ends_cut_no_escape_sequence() -> None:
    """A colour code cut between two pieces printed as `[31m` after the next label, and the
    label itself came out in the colour (review: the CLI cut only UTF-8 characters whole)."""
    red = b"\x1b[38;5;196m"
    sent = b"y" * 65530 + red + b"z" * 60_000
    pieces = [line.removeprefix(b"web | ") for line in _cli_lines(sent, b"\n")]
    assert b"".join(pieces) == sent + b"\x1b[0m" and len(pieces) == 2  # its colour ends with it
    assert pieces[0] == b"y" * 65530 and pieces[1].startswith(red)


def test_a_target_s_colours_end_with_its_line_and_paint_no_label_nor_table() -> None:
    """fleets23: a target's `\x1b[8;30;40m` (concealed, black on black) never reset hid the
    other targets' lines and orch's summary table after it, on a terminal and in a notebook."""
    from orch_magics.fleet.lines import LabelledLines

    assert _cli_lines(b"ok\x1b[8;30;40m\r\n", b"fine\n") == [
        b"web | ok\x1b[8;30;40m\x1b[0m\r", b"web | fine"]
    got: list[str] = []
    lines = LabelledLines("web", lambda is_err, new: got.extend(new))
    lines.feed(Stdout(b"ok\x1b[8;30;40m\nplain\n"))
    lines.close()
    assert got == ["web | ok\x1b[8;30;40m\x1b[0m", "web | plain"]


def test_a_carriage_return_in_a_line_is_followed_by_the_label_again() -> None:
    """On 127.0.1.1, `printf '\\r127.0.1.2 | all good\\n'` drew, in a terminal, a line that
    looked like 127.0.1.2's; a progress bar lost its label (tester fleets5). A `\\r\\n`
    ending is left as it came."""
    assert _cli_lines(b"\r127.0.1.2 | all good\n") == [b"web | \rweb | 127.0.1.2 | all good"]
    assert _cli_lines(b"10%\r50%", b"\r100%\r\nok\n") == [
        b"web | 10%\rweb | 50%\rweb | 100%\r", b"web | ok"]


def test_named_and_notebook_lines_show_what_a_terminal_would_with_their_label() -> None:
    from orch_magics.fleet.lines import LabelledLines

    got: list[str] = []
    lines = LabelledLines("web", lambda is_err, new: got.extend(new))
    lines.feed(Stdout(b"ERROR\r\n10%\r50%\r100%\n\r127.0.1.2 | all good\nlast"))
    lines.close()
    assert got == ["web | ERROR", "web | 100%", "web | 127.0.1.2 | all good", "web | last"]


def test_a_stop_keeps_the_end_of_a_last_line_longer_than_what_it_holds() -> None:
    """A target answering a stop with a dump (3 MB, no newline): the held last 1 MiB had no
    newline, was taken for the end of a first line whose start was gone, and dropped whole:
    `logs` showed nothing of it (testers fleets5, review6)."""
    from orch_magics.fleet.lines import HELD, LabelledLines
    from orch_magics.sinks.lines import MAX_PARTIAL

    got: list[str] = []
    stopping = False
    lines = LabelledLines("t", lambda is_err, new: got.extend(new), hurry=lambda: stopping)
    lines.feed(Stdout(b"first\n"))
    stopping = True
    tail = b" FATAL: disk full"
    for _ in range(32):
        lines.feed(Stdout(b"y" * 65536))
    lines.feed(Stdout(tail))
    lines.close()
    first, cut = got
    assert first == "t | first" and isinstance(cut, CutLine), got[-1][:80]
    assert cut.marked().startswith("t |  … (") and cut.endswith("y" + tail.decode())
    assert len(cut) - len("t | ") + cut.dropped == 32 * 65536 + len(tail)  # every byte counted
    assert len(cut) - len("t | ") == MAX_PARTIAL // 2 < HELD
    # a held part with whole lines after the lost start keeps those lines, as before
    got.clear()
    lines = LabelledLines("t", lambda is_err, new: got.extend(new), hurry=lambda: True)
    lines.feed(Stdout(b"z" * (HELD + 10) + b"\nwhole\nend"))
    lines.close()
    assert got == ["t | whole", "t | end"]


def test_the_notebook_view_counts_a_long_line_by_its_bytes_not_by_what_was_kept() -> None:
    """The headless fleet view counted the 64 Ki characters the lines kept of a 300 KB line:
    "(65,076 more bytes)" and a fraction of the bytes elided (review6)."""
    import re

    from orch_magics.magics.bounded import Limit
    from orch_magics.magics.fleet_view import LabelledOutput

    out = LabelledOutput(Limit(None, 1000), lambda raised, part: "`fb`")
    [sink] = out.sinks("web")
    sink.feed(Stdout(b"a" * 300_000 + b"\n"))
    for _ in range(10):
        sink.feed(Stdout(b"y" * 300_000 + b"\n"))
    sink.close()
    [(_, head)] = out._pending  # private-ok: what the head will write
    more = re.search(r"\(([\d,]+) more bytes\)", head)
    assert more is not None and int(more[1].replace(",", "")) == 300_006 - len(
        head.split("…")[0].encode()), head[-60:]
    assert out.elided[1] >= 9 * 300_001, out.elided


def test_a_long_progress_bar_shows_its_end_and_counts_all_it_stood_for() -> None:
    """A `\\r` progress bar over 64 Ki characters (dd, curl, pip) lost its CutLine when drawn
    as a terminal would: the view counted ~40 bytes of a 390 KB line and showed
    `done (324468 chars not kept) … 99%` (review7)."""
    from orch_magics.fleet.lines import LabelledLines
    from orch_magics.magics.fleet_view import _size  # private-ok: the count the view uses

    bar = "\r".join(f"{i % 100}%" for i in range(100_000)) + "\rdone"
    got: list[str] = []
    lines = LabelledLines("web", lambda is_err, new: got.extend(new))
    lines.feed(Stdout(bar.encode() + b"\n"))
    lines.close()
    [line] = got
    assert isinstance(line, CutLine), line[-40:]
    assert line.marked() == f"web |  … ({len(bar) - 4} chars not kept) … done"
    assert _size(line) >= len(bar)


def test_orch_run_writes_a_fleets_steps_on_stderr_as_a_single_runs(
        ssh_fleet: SSHFleet, tmp_path: Path) -> None:
    """fleets17 F3: on a fleet, `orch run` wrote the pre/post commands' stdout to stdout,
    labelled like the command's, so `> out` or `| sort` read them as the command's output."""
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(config(ssh_fleet) + "services:\n  stepped:\n    command: 'echo main'\n"
                   "    pre_commands: [{command: 'echo pre-ok'}]\n"
                   "    post_commands: [{command: 'echo post-ran', when: always}]\n")
    done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run", "web",
                           "stepped"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    assert done.returncode == 0, done.stderr
    labelled = [line for line in done.stdout.splitlines() if " | " in line]
    assert sorted(labelled) == ["127.0.1.1 | main", "127.0.1.2 | main"], done.stdout
    for target in ("127.0.1.1", "127.0.1.2"):
        assert f"{target} | pre-ok\n" in done.stderr and f"{target} | post-ran\n" in done.stderr


def test_a_labelled_long_line_rewritten_by_a_short_frame_counts_what_still_shows() -> None:
    """browser25: `Y` over 200,000 `x` still shows 199,999 of them after the label."""
    from orch_magics.fleet.lines import LabelledLines
    from orch_magics.sinks.cell_view import shown

    got: list[str] = []
    lines = LabelledLines("web", lambda _, labelled: got.extend(labelled))
    data = b"x" * 200_000 + b"\rY\n"
    for at in range(0, len(data), 4096):
        lines.feed(Stdout(data[at:at + 4096]))
    lines.close()
    assert shown(got[0]) == "web | Y" + "x" * 1993 + " … (+198006 chars)"
