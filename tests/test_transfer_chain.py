"""get / put through real chains: ssh → ssh → docker (the lab's inner host behind the bastion,
then a container), one ssh hop, and this machine. sha256 equal on both ends, modes kept,
directories, odd names, errors in one line, and nothing left behind after an interrupt."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orch_magics import Orchestrator
from orch_magics.config.loader import load_config_text
from orch_magics.transfer import TransferError
from transfers import cancelled_at, lab_config, remote, sparse

pytestmark = [pytest.mark.docker, pytest.mark.ssh]

ODD = "odd name é ü 文件 $x `y` 'q'\nORCH-DONE x"  # the put's own last words too
CHUNK = 16 << 20


@pytest.fixture
async def orch(ssh_lab, dockerd) -> AsyncIterator[Orchestrator]:  # type: ignore[no-untyped-def]
    o = Orchestrator(load_config_text(lab_config(ssh_lab, dockerd, here=[])))
    yield o
    await o.aclose()


def sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".orch-" in p.name]


@pytest.mark.parametrize("env", ["deep", "here"])
async def test_a_name_that_is_not_utf8_goes_both_ways(orch, far, tmp_path, env) -> None:  # type: ignore[no-untyped-def]
    """Before, through a container a name in another encoding was refused ("the engine's API
    carries commands as text"), although the same name inside a copied folder passed: the
    scripts get their paths as printf %b text now, through every layer."""
    name = os.fsdecode(b"caf\xe9 \xff\\n-1.log")  # Latin-1, a byte no encoding has, \\n
    (tmp_path / name).write_bytes(b"latin-1 named\n")
    folder = await far.folder(env, f"enc-{env}")
    await orch.aput(env, str(tmp_path / name), folder + "/")
    await orch.aput(env, str(tmp_path / name), f"{folder}/{name}.2")
    back = tmp_path / "back"
    back.mkdir()
    for far_name in (name, f"{name}.2"):
        await orch.aget(env, f"{folder}/{far_name}", str(back))
        assert (back / far_name).read_bytes() == b"latin-1 named\n"


@pytest.mark.parametrize("env", ["deep", "loop", "here"])
async def test_file_round_trip_keeps_bytes_mode_and_odd_names(orch, far, tmp_path, env) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / f"{ODD}.bin"
    src.write_bytes(os.urandom(3_000_000) + b"\x00\xff ORCH-SHA256 \n" * 10)
    src.chmod(0o751)
    folder = await far.folder(env, f"t-{env}")
    sent = await orch.aput(env, str(src), folder + "/")
    assert sent.destination == f"{folder}/{ODD}.bin" and sent.sha256 == sha(src)
    seen = await remote(orch, env, f"cd {folder} && sha256sum -- * && stat -c %a -- *")
    assert sha(src) in seen and "751" in seen
    back = tmp_path / "back"
    back.mkdir()
    got = await orch.aget(env, f"{folder}/{ODD}.bin", str(back))
    assert Path(got.destination) == back / f"{ODD}.bin"
    assert sha(back / f"{ODD}.bin") == sha(src) == got.sha256
    assert (back / f"{ODD}.bin").stat().st_mode & 0o7777 == 0o751
    count = f"n=0; for f in {folder}/* {folder}/.[!.]*; do [ -e \"$f\" ] && n=$((n+1)); done; echo $n"
    assert (await remote(orch, env, count)).strip() == "1"  # no temp left


async def test_directory_round_trip_with_many_files(orch, far, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tree = tmp_path / "tree"
    for i in range(100):
        sub = tree / f"d{i:02d} é"
        sub.mkdir(parents=True)
        for j in range(100):  # 10,000 files
            (sub / f"f {j}.txt").write_text(f"{i}/{j}\n")
    (tree / "d00 é" / "run.sh").write_text("#!/bin/sh\n")
    (tree / "d00 é" / "run.sh").chmod(0o700)
    folder = await far.folder("deep", "tree")
    await orch.aput("deep", str(tree), f"{folder}/copy")
    count = await remote(orch, "deep", f"find {folder}/copy -type f | wc -l; "
                                       f"stat -c %a '{folder}/copy/d00 é/run.sh'")
    assert count.split() == ["10001", "700"]
    got = await orch.aget("deep", f"{folder}/copy", str(tmp_path / "again"))
    assert got.kind == "directory"
    files = sorted(p.relative_to(tmp_path / "again") for p in (tmp_path / "again").rglob("*")
                   if p.is_file())
    assert len(files) == 10001
    assert (tmp_path / "again" / "d42 é" / "f 7.txt").read_text() == "42/7\n"
    assert (tmp_path / "again" / "d00 é" / "run.sh").stat().st_mode & 0o777 == 0o700
    assert leftovers(tmp_path) == []


async def test_missing_remote_file_is_one_clear_line(orch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TransferError) as err:
        await orch.aget("deep", "/no/such/file.txt", str(tmp_path / "x"))
    text = str(err.value)
    assert "no such file or directory: /no/such/file.txt" in text and "\n" not in text
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(TransferError, match="no such directory: /no/such"):
        await orch.aput("deep", __file__, "/no/such/dir/x.py")
    with pytest.raises(TransferError, match="cannot read .*nothing-here"):
        await orch.aput("deep", str(tmp_path / "nothing-here"), "/tmp/x")
    with pytest.raises(TransferError, match="no such local directory"):
        await orch.aget("deep", "/etc/passwd", str(tmp_path / "a" / "b"))


async def test_an_existing_directory_is_never_merged(orch, far, tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = await far.folder("deep", "merge")
    await remote(orch, "deep", f"mkdir -p {folder}/d && echo 1 > {folder}/d/a")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b").write_text("2")
    with pytest.raises(TransferError, match="already exists"):
        await orch.aput("deep", str(tmp_path / "d"), folder)  # would be {folder}/d: exists
    assert (await remote(orch, "deep", f"ls -A {folder} {folder}/d")).split() == [
        f"{folder}:", "d", f"{folder}/d:", "a"]
    with pytest.raises(TransferError, match="already exists"):
        await orch.aget("deep", f"{folder}/d", str(tmp_path))  # would be tmp_path/d: exists
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["b"]


@pytest.mark.parametrize("env", ["deep", "loop"])
async def test_interrupt_half_way_leaves_nothing_either_way(orch, far, tmp_path, env) -> None:  # type: ignore[no-untyped-def]
    size = 200_000_000
    folder = await far.folder(env, f"int-{env}", big=size)
    cancel = await cancelled_at(size // 2, lambda p: orch.aget(env, f"{folder}/big",
                                                               str(tmp_path / "big"), progress=p))
    assert size // 2 <= cancel.seen < size
    assert list(tmp_path.iterdir()) == []

    src = sparse(tmp_path / "up", size)
    cancel = await cancelled_at(size // 2, lambda p: orch.aput(env, str(src), f"{folder}/up",
                                                               progress=p))
    assert size // 2 <= cancel.seen < size
    assert (await remote(orch, env, f"ls -a {folder}")).split() == [".", "..", "big"]


def rss() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class Peak:
    """A progress that records the controller's peak RSS while bytes flow."""

    def __init__(self) -> None:
        self.peak = 0

    def start(self, label: str, total: int | None) -> None:
        pass

    def update(self, done: int) -> None:
        if done % (32 << 20) < (1 << 20):
            self.peak = max(self.peak, rss())

    def finish(self, ok: bool) -> None:
        pass


async def test_one_gigabyte_each_way_through_ssh_ssh_docker(orch, far, tmp_path) -> None:  # type: ignore[no-untyped-def]
    size, block = 1 << 30, os.urandom(CHUNK)
    src = tmp_path / "gig"
    with open(src, "wb") as f:
        for i in range(size // CHUNK):
            f.write(bytes([i % 256]) + block[1:])
    folder = await far.folder("deep", "gig")
    warm = tmp_path / "warm"  # buffers, threads and arenas a copy makes whatever its size,
    with open(warm, "wb") as f:  # made first: what is measured is growth with the size
        f.write(block * ((256 << 20) // CHUNK))
    await orch.aput("deep", str(warm), f"{folder}/warm")
    await orch.aget("deep", f"{folder}/warm", str(tmp_path / "warm-back"))
    base, peak = rss(), Peak()
    sent = await orch.aput("deep", str(src), f"{folder}/gig", progress=peak)
    back = await orch.aget("deep", f"{folder}/gig", str(tmp_path / "back"), progress=peak)
    assert sent.sha256 == back.sha256 == sha(src) == sha(tmp_path / "back")
    assert back.bytes == size
    assert peak.peak - base < 150 << 20, f"controller RSS grew by {(peak.peak - base) >> 20} MiB"


@pytest.mark.parametrize("env", ["deep", "loop", "here"])
async def test_a_proc_file_is_copied_whole(orch, tmp_path, env) -> None:  # type: ignore[no-untyped-def]
    """/proc and /sys files say they hold 0 bytes: a get failed with 'received 1503 of 0
    bytes'. Such a file is now read to its end (its size is said at the end)."""
    got = await orch.aget(env, "/proc/version", str(tmp_path / "version"))
    there = await remote(orch, env, "cat /proc/version")
    assert (tmp_path / "version").read_text() == there and got.bytes == len(there.encode())


@pytest.mark.parametrize("env", ["deep", "loop", "here"])
async def test_a_sysfs_file_is_got_whole_though_it_claims_more(orch, tmp_path, env) -> None:  # type: ignore[no-untyped-def]
    """A sysfs file says it holds 4096 bytes and holds 18: a get failed with 'received 18 of
    4096 bytes' (found beside ports7 P4). Such a file is read to its end, as /proc's are."""
    got = await orch.aget(env, "/sys/class/net/lo/address", str(tmp_path / "address"))
    there = await remote(orch, env, "cat /sys/class/net/lo/address")
    assert (tmp_path / "address").read_text() == there and got.bytes == len(there.encode())


@pytest.mark.parametrize("env", ["loop", "here"])  # their far end is this machine's disk
async def test_a_file_that_shrinks_during_a_get_is_said_to_have_shrunk(  # type: ignore[no-untyped-def]
        orch, far, tmp_path, env) -> None:
    """ports7 P4: a get of a log truncated meanwhile said 'received N of M bytes', which reads
    like a dropped link; the far end now says the file shrank, as a put's reader does."""
    log = Path(await far.folder(env, "shrinking-get")) / "app.log"
    log.write_bytes(os.urandom(100_000_000))
    with pytest.raises(TransferError) as err:
        await orch.aget(env, str(log), str(tmp_path / "copy.log"),
                        progress=_TruncatesAtFirstUpdate(log, 20_000_000))
    assert f"{log} shrank while it was read (from 100000000 to 20000000 bytes)" in str(err.value)
    assert "nothing was kept" in str(err.value) and not (tmp_path / "copy.log").exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("env", ["loop", "here"])  # their far end is this machine's disk
async def test_a_log_being_written_is_copied_as_it_was_when_the_copy_began(  # type: ignore[no-untyped-def]
        orch, far, tmp_path, env) -> None:
    """Before, a file that grew during a get failed ('received X of Y bytes' or a sha256
    mismatch): a busy log could not be copied at all. Now its first Y bytes come, as scp does."""
    import asyncio
    import threading

    log = Path(await far.folder(env, "growing")) / "app.log"
    log.write_bytes(os.urandom(30_000_000))
    stop = threading.Event()

    def writer() -> None:
        with open(log, "ab") as f:
            while not stop.is_set():
                f.write(os.urandom(50_000))
                f.flush()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        await asyncio.sleep(0.1)
        got = await orch.aget(env, str(log), str(tmp_path / "copy.log"))
    finally:
        stop.set()
        thread.join()
    copied = (tmp_path / "copy.log").read_bytes()
    assert len(copied) == got.bytes >= 30_000_000
    with open(log, "rb") as f:
        assert f.read(len(copied)) == copied  # what was there when the copy began


class _RotatesAtFirstUpdate:
    """A progress that renames the file being got and makes a new one in its place once the
    first bytes have come, as logrotate's `create` mode does."""

    def __init__(self, path: Path) -> None:
        self.path, self.done = path, False

    def start(self, label: str, total: int | None) -> None:
        pass

    def update(self, done: int) -> None:
        if not self.done:
            self.done = True
            self.path.rename(self.path.with_suffix(".log.1"))
            self.path.write_bytes(b"the new log\n")

    def finish(self, ok: bool) -> None:
        pass


def test_a_log_rotated_while_it_is_got_is_copied_as_it_was(tmp_path: Path) -> None:
    """files17: a log renamed away and made anew meanwhile (logrotate `create`) failed as
    "sha256 mismatch", the hash sent being the new file's: the hash read the name again.
    (Its hasher starts a second late here, so the rotation always comes first.)"""
    slow = tmp_path / "bin"
    slow.mkdir()
    (slow / "openssl").write_text("#!/bin/sh\nsleep 1\nexec /usr/bin/openssl \"$@\"\n")
    (slow / "openssl").chmod(0o755)
    log = tmp_path / "app.log"
    log.write_bytes(os.urandom(20_000_000))
    before = log.read_bytes()
    text = ("environments:\n  here: [{type: local, config: {environment: {PATH: "
            f"'{slow}:/usr/bin:/bin'}}}}}}]\naudit: {{enabled: false}}\n")
    with Orchestrator(load_config_text(text)) as orch:
        got = orch.get("here", str(log), str(tmp_path / "copy.log"),
                       progress=_RotatesAtFirstUpdate(log))
    assert got.bytes == 20_000_000 and (tmp_path / "copy.log").read_bytes() == before
    assert log.read_bytes() == b"the new log\n"


class _TruncatesAtFirstUpdate:
    """A progress that truncates the file being put once the first bytes have gone out, as
    logrotate's copytruncate does to a log in the middle of a copy."""

    def __init__(self, path: Path, size: int) -> None:
        self.path, self.size, self.done = path, size, False

    def start(self, label: str, total: int | None) -> None:
        pass

    def update(self, done: int) -> None:
        if not self.done:
            self.done = True
            os.truncate(self.path, self.size)

    def finish(self, ok: bool) -> None:
        pass


@pytest.mark.parametrize("env", ["loop", "here"])
async def test_a_file_that_shrinks_during_a_put_fails_and_leaves_nothing(  # type: ignore[no-untyped-def]
        orch, far, tmp_path, env) -> None:
    """Before, the bytes read before the end came early were put, checked against their own
    sha256 and kept (exit 0): 64 MiB of a 400 MB file. A get of a file that shrinks fails;
    a put now does too, and the destination is not made."""
    source = tmp_path / "app.log"
    source.write_bytes(os.urandom(100_000_000))  # > the frames a put reads ahead
    folder = Path(await far.folder(env, "shrinking"))
    with pytest.raises(TransferError) as err:
        await orch.aput(env, str(source), str(folder / "app.log"),
                        progress=_TruncatesAtFirstUpdate(source, 20_000_000))
    assert "of 100000000 bytes of" in str(err.value) and "shrank while it was read" in str(err.value)
    assert "nothing was kept" in str(err.value)
    assert list(folder.iterdir()) == []


class _ChangesAtFirstUpdate(_TruncatesAtFirstUpdate):
    """A progress that changes the file being put once the first bytes have gone out: rewrites
    its start in place (already read), appends to it, touches it, or replaces it by rename."""

    def __init__(self, path: Path, how: str) -> None:
        super().__init__(path, 0)
        self.how = how

    def update(self, done: int) -> None:
        if self.done:
            return
        self.done = True
        if self.how == "in place":
            with open(self.path, "r+b") as f:
                f.write(b"X" * 16)
        elif self.how == "appended":
            with open(self.path, "ab") as f:
                f.write(b"more\n")
        elif self.how == "touched":
            os.utime(self.path, ns=(time.time_ns(), time.time_ns() + 10**9))
        else:  # replaced, as an editor or a config tool saves
            (self.path.parent / "new").write_bytes(b"the new version\n")
            os.rename(self.path.parent / "new", self.path)


@pytest.mark.parametrize("env", ["loop", "here"])
@pytest.mark.parametrize("kind", ["file", "folder"])
async def test_a_file_written_in_place_during_a_put_fails_and_leaves_nothing(  # type: ignore[no-untyped-def]
        orch, far, tmp_path, env, kind) -> None:
    """files9: a put of a file rewritten while it was read kept the old start and the new end,
    a copy of no version of it, and said ok (a folder's put too)."""
    source = tmp_path / "src"
    source.mkdir()
    data = source / "db.bin"
    data.write_bytes(os.urandom(100_000_000))  # > the frames a put reads ahead
    put = data if kind == "file" else source
    folder = Path(await far.folder(env, "in-place"))
    with pytest.raises(TransferError) as err:
        await orch.aput(env, str(put), str(folder / "copy"),
                        progress=_ChangesAtFirstUpdate(data, "in place"))
    assert f"{data} changed while it was read" in str(err.value), err.value
    assert "nothing was kept" in str(err.value)
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("kind", ["file", "folder"])
@pytest.mark.parametrize("how", ["appended", "touched", "replaced"])
async def test_a_file_only_grown_touched_or_replaced_during_a_put_is_sent_as_it_was_read(  # type: ignore[no-untyped-def]
        orch, far, tmp_path, kind, how) -> None:
    """review19: the in-place check refused these too: a live log in a folder could not be
    put, nor a file an editor saved (by rename) meanwhile. What was read is one version of
    the file, as it was when its read began, and that is what arrives."""
    source = tmp_path / "src"
    source.mkdir()
    data = source / "db.bin"
    before = os.urandom(100_000_000)
    data.write_bytes(before)
    folder = Path(await far.folder("here", "grown"))
    await orch.aput("here", str(data if kind == "file" else source), str(folder / "copy"),
                    progress=_ChangesAtFirstUpdate(data, how))
    copy = folder / "copy" if kind == "file" else folder / "copy" / "db.bin"
    assert copy.read_bytes() == before


@pytest.mark.parametrize("env", ["loop", "here"])
async def test_a_sysfs_file_is_put_whole_though_it_claims_more(orch, far, env) -> None:  # type: ignore[no-untyped-def]
    """A sysfs file says it holds 4096 bytes and holds fewer: it must not count as one that
    shrank while it was read (review of the shrink check)."""
    folder = Path(await far.folder(env, "sysfs"))
    sent = await orch.aput(env, "/sys/class/net/lo/address", str(folder / "address"))
    assert (folder / "address").read_text() == Path("/sys/class/net/lo/address").read_text()
    assert sent.bytes == len(Path("/sys/class/net/lo/address").read_bytes())
