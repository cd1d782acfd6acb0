"""The end-to-end sha256 check of get / put through real chains (ssh → ssh → docker with
busybox, one ssh hop with coreutils and openssl, this machine): bytes that change between the
sender's read and the receiver's write are refused and nothing is kept on either side; a put
reads its source once; the framed stream of a put also passes a sudo layer that reads its
password from the same stdin. Transport corruption cannot be produced by real ssh or docker (both
frame and check their streams), so it is injected at the seam where the bytes leave or arrive.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from orch_magics import Orchestrator
from orch_magics.config.loader import load_config_text
from orch_magics.transfer import TransferError
from orch_magics.transfer.receive import Spool
from orch_magics.transfer.send import FRAME, PutSource, Readable, Sending
from test_sudo_layer import chain as sudo_chain
from test_sudo_layer import config_text as sudo_config
from test_transfer_chain import leftovers
from transfers import lab_config, remote

pytestmark = [pytest.mark.docker, pytest.mark.ssh]

#: Three frames, the last one short: every frame boundary is crossed.
SIZE = 2 * FRAME + 12_345
ENVS = ["deep", "loop", "here"]


@pytest.fixture
async def orch(ssh_lab, dockerd) -> AsyncIterator[Orchestrator]:  # type: ignore[no-untyped-def]
    o = Orchestrator(load_config_text(lab_config(ssh_lab, dockerd, here=[])))
    yield o
    await o.aclose()


def flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 0x01]) + data[1:]


def big_file(path: Path) -> Path:
    path.write_bytes(os.urandom(SIZE))
    return path


@pytest.fixture
async def folder(orch, env) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    """An empty folder at the far end of `env`, removed afterwards (the lab shares this disk)."""
    path = f"/tmp/orch-integrity-{env}-{uuid.uuid4().hex[:12]}"
    await remote(orch, env, f"mkdir -p {path}")
    yield path
    await remote(orch, env, f"rm -rf {path}")


@pytest.mark.parametrize("env", ENVS)
async def test_put_changed_after_it_was_read_is_refused_and_nothing_kept(  # type: ignore[no-untyped-def]
        orch, tmp_path, env, folder, monkeypatch) -> None:
    original: Callable[[Sending], Iterator[bytes]] = Sending.__iter__

    def corrupted(self: Sending) -> Iterator[bytes]:
        for i, item in enumerate(original(self)):
            yield flip(item) if i == 3 else item  # the second frame's bytes, hashed intact

    monkeypatch.setattr(Sending, "__iter__", corrupted)
    with pytest.raises(TransferError, match="sha256 mismatch") as err:
        await orch.aput(env, str(big_file(tmp_path / "src")), f"{folder}/dst")
    assert "nothing was kept" in str(err.value) and "\n" not in str(err.value)
    assert (await remote(orch, env, f"ls -A {folder}")).split() == []


@pytest.mark.parametrize("env", ENVS)
async def test_get_changed_on_the_way_is_refused_and_nothing_kept(  # type: ignore[no-untyped-def]
        orch, tmp_path, env, folder, monkeypatch) -> None:
    await orch.aput(env, str(big_file(tmp_path / "src")), f"{folder}/src")
    original = Spool.put
    seen: list[int] = []

    def corrupted(self: Spool, data: bytes) -> None:
        seen.append(len(data))
        original(self, flip(data) if len(seen) == 2 else data)

    monkeypatch.setattr(Spool, "put", corrupted)
    with pytest.raises(TransferError, match="sha256 mismatch"):
        await orch.aget(env, f"{folder}/src", str(tmp_path / "back"))
    assert not (tmp_path / "back").exists() and leftovers(tmp_path) == []


class FailingRead:
    """A file whose second read fails, as a disk error would."""

    def __init__(self, stream: Readable) -> None:
        self.stream = stream
        self.reads = 0

    def read(self, n: int) -> bytes:
        self.reads += 1
        if self.reads == 2:
            raise OSError(5, "Input/output error")
        return self.stream.read(n)

    def close(self) -> None:
        self.stream.close()


@pytest.mark.parametrize("env", ["deep", "loop"])
async def test_put_whose_source_fails_part_way_keeps_nothing(  # type: ignore[no-untyped-def]
        orch, tmp_path, env, folder, monkeypatch) -> None:
    original = PutSource.open
    monkeypatch.setattr(PutSource, "open", lambda self: FailingRead(original(self)))
    with pytest.raises(TransferError, match="reading .*src failed.*Input/output error") as err:
        await orch.aput(env, str(big_file(tmp_path / "src")), f"{folder}/dst")
    assert "nothing was kept" in str(err.value)
    assert (await remote(orch, env, f"ls -A {folder}")).split() == []


@pytest.mark.parametrize("env", ["deep", "loop"])
async def test_put_of_a_directory_whose_walk_fails_keeps_nothing(  # type: ignore[no-untyped-def]
        orch, tmp_path, env, folder, monkeypatch, capfd) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(5):
        (tree / f"f{i}").write_bytes(os.urandom(100_000))
    added: list[str] = []
    original = tarfile.TarFile.addfile

    def unreadable(self: tarfile.TarFile, info: tarfile.TarInfo, fileobj: object = None) -> None:
        added.append(info.name)
        if len(added) == 4:  # root cannot be refused a read: the fault is injected
            raise PermissionError(13, "Permission denied", info.name)
        original(self, info, fileobj)  # type: ignore[arg-type]

    monkeypatch.setattr(tarfile.TarFile, "addfile", unreadable)
    with pytest.raises(TransferError, match="reading .*tree failed.*Permission denied") as err:
        await orch.aput(env, str(tree), f"{folder}/copy")
    assert "nothing was kept" in str(err.value) and "\n" not in str(err.value)
    assert (await remote(orch, env, f"ls -A {folder}")).split() == []
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("size", [0, 1, FRAME])
async def test_sizes_at_frame_edges_round_trip(orch, tmp_path, env, folder, size) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "src"
    src.write_bytes(os.urandom(size))
    sent = await orch.aput(env, str(src), f"{folder}/dst")
    got = await orch.aget(env, f"{folder}/dst", str(tmp_path / "back"))
    assert sent.bytes == got.bytes == size
    assert (tmp_path / "back").read_bytes() == src.read_bytes()
    assert (await remote(orch, env, f"ls -A {folder}")).split() == ["dst"]


@pytest.mark.parametrize("env", ["loop"])
async def test_put_reads_its_source_once_and_reports_what_it_read(  # type: ignore[no-untyped-def]
        orch, tmp_path, env, folder, monkeypatch) -> None:
    original = PutSource.open
    opened: list[str] = []

    def counted(self: PutSource) -> Readable:
        opened.append(self.path)
        return original(self)

    monkeypatch.setattr(PutSource, "open", counted)
    src = big_file(tmp_path / "src")
    sent = await orch.aput("loop", str(src), f"{folder}/dst")
    assert opened == [str(src)]
    assert sent.bytes == SIZE and sent.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    assert sent.sha256 in await remote(orch, "loop", f"sha256sum {folder}/dst")


@pytest.mark.parametrize("where", ["local", "ssh"])
async def test_put_and_get_through_sudo_as_another_user(  # type: ignore[no-untyped-def]
        sudo_lab, ssh_lab, tmp_path, monkeypatch, where) -> None:
    monkeypatch.setenv("ORCH_SECRET_SUDO_PW", sudo_lab.password)  # the password goes first
    layers = sudo_chain(sudo_lab, ssh_lab if where == "ssh" else None,
                        sudo_lab.layer(sudo_lab.target, password=True))
    o = Orchestrator(load_config_text(sudo_config({"it": layers})))
    folder = f"/tmp/orch-integrity-sudo-{uuid.uuid4().hex[:12]}"
    try:
        await remote(o, "it", f"mkdir -p {folder}")
        src = big_file(tmp_path / "src")
        sent = await o.aput("it", str(src), f"{folder}/dst")
        seen = await remote(o, "it", f"stat -c %U {folder}/dst; sha256sum {folder}/dst")
        assert seen.split()[:2] == [sudo_lab.target, sent.sha256]
        got = await o.aget("it", f"{folder}/dst", str(tmp_path / "back"))
        assert got.sha256 == sent.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
        assert (tmp_path / "back").read_bytes() == src.read_bytes()
    finally:
        await remote(o, "it", f"rm -rf {folder}")
        await o.aclose()


@pytest.mark.parametrize("noise", [65_530, 65_537])
def test_a_logins_words_before_a_get_are_skipped_up_to_the_budget_however_they_arrive(
        tmp_path: Path, noise: int) -> None:
    """The 64 KiB of a login's words skipped before a get's header: the same stream passed or
    failed by where the pipe split it (the start of the header line counted as words), and
    each skipped line re-copied all that had come (65,000 lines: 3.9 s on the loop; review6)."""
    from orch_magics.process.events import Stdout
    from orch_magics.transfer.model import NoProgress
    from orch_magics.transfer.receive import NOISE_MAX, Receiver

    words = b"\n" * (noise - 4) + b"hey\n"
    stream = words + b"ORCH-TRANSFER 1 f 644 3\nabc"
    for cut in (len(words) - 1, len(words) + 10, len(stream)):
        receiver = Receiver(str(tmp_path / f"f{cut}"), NoProgress(), lambda: None)
        receiver.feed(Stdout(stream[:cut]))
        receiver.feed(Stdout(stream[cut:]))
        assert (receiver.error is None) == (noise <= NOISE_MAX), (cut, receiver.error)
        if receiver.error is None:
            receiver.close()
            assert receiver.received == 3 and receiver.header is not None
        else:
            assert receiver.error.startswith("unexpected output before the data ('\\n\\n\\n")
