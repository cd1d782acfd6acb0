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

from fixtures.fleet import SSHFleet
from orch_magics import Orchestrator, load_config_text
from orch_magics.process.events import Stdout

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
        while "127.0.1.2 | end" not in (logs := orch.logs("long")) or \
                "127.0.1.1 | end" not in logs:
            assert time.monotonic() < deadline, logs[-300:]
            time.sleep(0.1)
    finally:
        orch.close()
    for target in ("127.0.1.1", "127.0.1.2"):
        mine = [line[len(target) + 3:] for line in logs.split("\n")
                if line.startswith(f"{target} | ")]
        assert mine[0] == "ERROR" and mine[-1] == "end", mine[:1] + mine[-1:]
        [long] = mine[1:-1]
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
        pieces = mine[1:-1]  # the bytes as they came, nothing lost, in pieces
        assert b"".join(pieces) == b"x" * LONG and len(pieces) > 1, [len(p) for p in pieces]


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
    from orch_magics.cli.fleet import LabelledLines

    out = _Written()
    lines = LabelledLines("web", 3, out)  # type: ignore[arg-type]
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
