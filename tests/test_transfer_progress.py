"""A directory put knows its total: the size of the tar stream it will send, walked first,
exactly as tarfile writes it (long names, links, hard links, padding, the modes of read-only
folders); a device file, a fifo or a socket in it is refused before anything is sent."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from orch_magics import Orchestrator
from orch_magics.config.loader import load_config_text
from orch_magics.transfer.model import TransferError
from orch_magics.transfer.send import TarStream, tar_size
from transfers import Recorded


def tricky_tree(root: Path) -> Path:
    """Every kind of entry whose tar size differs: see the module docstring."""
    tree = root / "tree"
    (tree / "a" / "b" / "empty").mkdir(parents=True)
    (tree / "a" / "f513").write_bytes(b"x" * 513)
    (tree / "a" / "zero").write_bytes(b"")
    (tree / "a" / "with space ünï").write_text("hi\n")
    os.link(tree / "a" / "f513", tree / "a" / "b" / "hard")
    os.symlink("f513", tree / "a" / "short")
    os.symlink("t" * 150, tree / "a" / "long-target")
    deep = tree / "a" / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    (deep / "file").write_bytes(os.urandom(100_000))
    (tree / "a" / "read-only\nand \\n").mkdir(mode=0o555)  # a line of the folder modes
    return tree


def test_the_walked_size_is_what_the_tar_stream_sends(tmp_path: Path) -> None:
    tree = tricky_tree(tmp_path)
    stream = TarStream(str(tree))
    sent = 0
    while data := stream.read(1 << 20):
        sent += len(data)
    stream.close()
    assert tar_size(str(tree)) == sent


def test_a_folder_holding_a_fifo_a_socket_or_a_device_is_refused_before_any_byte(
        tmp_path: Path) -> None:
    """tarfile dropped sockets silently and sent fifos and device nodes (made again at the
    far end, as root), which a get of the same folder then refused (transfer tester)."""
    orch = Orchestrator(load_config_text("environments:\n  here: {layers: []}\n"))
    try:
        for name, make in (("fifo", os.mkfifo), ("sock", _socket),
                           ("null", lambda path: os.mknod(path, 0o600 | stat.S_IFCHR,
                                                          os.makedev(1, 3)))):
            tree = tmp_path / f"tree-{name}"
            (tree / "a").mkdir(parents=True)
            (tree / "a" / "ok").write_text("ok\n")
            make(tree / "a" / name)
            with pytest.raises(TransferError) as err:
                orch.put("here", str(tree), str(tmp_path / f"copy-{name}"))
            assert str(err.value) == (f"{tree}/a/{name} is a device file, a fifo or a socket: "
                                      f"a put copies files, folders and links")
            assert not (tmp_path / f"copy-{name}").exists()
    finally:
        orch.close()


def _socket(path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))


def test_a_directory_put_reports_a_total_it_reaches(tmp_path: Path) -> None:
    tree = tricky_tree(tmp_path)
    orch = Orchestrator(load_config_text("environments:\n  here: {layers: []}\n"))
    progress = Recorded()
    try:
        orch.put("here", str(tree), str(tmp_path / "copy"), progress=progress)
    finally:
        orch.close()
    assert progress.total is not None and progress.total == progress.done
    assert (tmp_path / "copy" / "a" / "f513").read_bytes() == b"x" * 513


def test_the_terminal_bar_shows_a_names_control_characters_escaped() -> None:
    """A file name's newline broke the bar's line; its escape sequence reached the terminal."""
    import io

    from orch_magics.transfer.progress import TerminalBar

    out = io.StringIO()
    bar = TerminalBar(out)
    bar.start("get odd\nname\x1b[2K → here", 10)
    bar.update(10)
    bar.finish(True)
    text = out.getvalue()
    assert "odd\\nname\\x1b[2K" in text and text.count("\n") == 1 and "\x1b[2K" not in text


def test_the_terminal_bar_fits_a_narrow_terminal() -> None:
    """A line wider than the terminal wraps, and `\\r` returns to its last row only: in an
    80-column pane a long remote path left 19 copies of the bar (held-out tester). Every
    redraw now fits the terminal's width, the label's end (the file name) kept."""
    import fcntl
    import pty
    import struct
    import termios

    from orch_magics.transfer.progress import TerminalBar

    for cols, ok in ((80, True), (40, True), (12, True), (80, False), (40, False), (40, None)):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
        with os.fdopen(slave, "w", encoding="utf-8") as tty:
            bar = TerminalBar(tty)
            bar.start("put mid.bin → loop:/tmp/quarterly-report-2024-final-version-for-review.bin"
                      " 日本語", 1 << 30)
            for done in (0, 1 << 20, 1 << 29, 1 << 30):
                bar.last = 0.0  # draw every update
                bar.update(done)
            bar.finish(ok)  # files13: a failed copy's "(failed)" came past the last column
        shown = _read_all(master).decode()
        # no escape sequence at all: a dumb terminal (TERM=dumb, an Emacs shell) showed
        # `ESC[K` on every redraw (held-out tester cli3); each draw is padded over the last
        draws = [d for d in shown.split("\r") if d.strip()]
        assert "\x1b" not in shown, shown
        assert len(draws) >= 3 and all(_columns(d) < cols for d in draws), (cols, draws)
        if cols == 80:
            assert "日本語" in draws[-1] and "100%" in draws[-1]
        assert draws[-1].rstrip("\n").endswith(  # browser21: an interrupted one said failed
            "" if ok else "  (failed)" if ok is False else "  (interrupted)"), draws[-1]


def test_a_put_the_far_end_refuses_shows_no_progress(tmp_path: Path) -> None:
    """files13: a put refused before any byte (no such folder) showed `0 B / 5.2 MB ✗ not
    copied` in a cell and a 0% bar on a terminal, where a refused get shows none."""
    (tmp_path / "f").write_bytes(b"x" * 1000)
    orch = Orchestrator(load_config_text("environments:\n  here: {layers: []}\n"))
    progress = Recorded()
    try:
        with pytest.raises(TransferError, match="no such directory"):
            orch.put("here", str(tmp_path / "f"), str(tmp_path / "none") + "/",
                     progress=progress)
        assert progress.total is None  # never started
        orch.put("here", str(tmp_path / "f"), str(tmp_path / "g"), progress=progress)
        assert progress.total == progress.done == 1000
    finally:
        orch.close()


def _read_all(master: int) -> bytes:
    """What the terminal got: a pty hands it over in pieces; the writer's side is closed."""
    import select

    got = b""
    while select.select([master], [], [], 5)[0]:
        try:
            piece = os.read(master, 65536)
        except OSError:  # EIO: the other side is closed and everything was read
            break
        if not piece:
            break
        got += piece
    os.close(master)
    return got


def _columns(text: str) -> int:
    from orch_magics.text import columns

    return columns(text.strip("\n"))


def test_a_file_that_shrinks_while_its_folder_is_read_is_named(tmp_path: Path) -> None:
    """files6: the folder put failed with tarfile's words alone, `reading ./grow failed:
    unexpected end of data`, where a put of the file and a get of the folder name it."""
    folder = tmp_path / "grow"
    folder.mkdir()
    log = folder / "log"
    with open(log, "wb") as f:  # 256 MiB, sparse: quick to make, read at disk speed
        f.truncate(256 << 20)

    class Truncating(Recorded):
        def update(self, done: int) -> None:  # the file is cut once reading is under way
            if done > 16 << 20 and log.stat().st_size > (1 << 20):
                os.truncate(log, 1 << 20)
            super().update(done)

    with Orchestrator(load_config_text("environments: {local: {layers: []}}")) as orch:
        with pytest.raises(TransferError, match=rf"reading {folder} failed: {log} shrank while "
                                                 rf"it was read; nothing was kept"):
            orch.put("local", str(folder), str(tmp_path / "out"), progress=Truncating())
    assert not (tmp_path / "out").exists()


def test_a_gets_progress_names_both_ends_and_a_small_copy_its_rate(tmp_path: Path) -> None:
    """browser15: a get's bar named its destination alone (an interrupted get never said
    where it copied from), and a copy under 0.5 MB/s said `(0 MB/s)`."""
    (tmp_path / "f").write_bytes(b"x" * 1000)
    orch = Orchestrator(load_config_text("environments:\n  here: {layers: []}\n"))
    progress = Recorded()
    try:
        done = orch.get("here", str(tmp_path / "f"), str(tmp_path / "g"), progress=progress)
    finally:
        orch.close()
    assert progress.label == f"here:{tmp_path / 'f'} → {tmp_path / 'g'}"
    rate = str(done).split(" s (")[1].split("/s)")[0]
    assert rate.endswith("B") and not rate.startswith("0 "), str(done)  # 1000 B: not 0 MB
