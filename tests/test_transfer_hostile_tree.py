"""A get of a folder unpacks a tar stream the far end made: a far end that lies (a compromised
host, a hostile container) must not reach outside the destination. tarfile's "tar" filter of
this Python let a hard link to any absolute path through (then a member of the same name wrote
into that file, and tarfile chmod-ed and, as root, chown-ed it), and made device files.

The far end here is this machine (`local`) with a `tar` on PATH that writes the stream below:
the receiving code is the same for every chain.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from orch_magics import Orchestrator
from orch_magics.config.loader import load_config_text
from orch_magics.transfer import TransferError

Member = tuple[tarfile.TarInfo, bytes]


def _dir(name: str) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    return info, b""


def _file(name: str, data: bytes, **attrs: object) -> Member:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def _link(name: str, kind: bytes, target: str, **attrs: object) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, target, 0o666
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, b""


def _special(name: str, kind: bytes) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.devmajor, info.devminor, info.mode = kind, 7, 0, 0o666
    return info, b""


@pytest.fixture
async def far_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                  ) -> AsyncIterator[Callable[[list[Member]], None]]:
    """Makes `tar` on this machine's PATH write the given members as a stream."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stream = tmp_path / "stream.tar"
    (bin_dir / "tar").write_text(f"#!/bin/sh\nexec cat {stream}\n")
    (bin_dir / "tar").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")

    def make(members: list[Member]) -> None:
        with tarfile.open(stream, "w") as tar:
            for info, data in [_dir("."), *members]:
                tar.addfile(info, io.BytesIO(data))

    yield make


@pytest.fixture
async def orch() -> AsyncIterator[Orchestrator]:
    o = Orchestrator(load_config_text("environments:\n  local: {layers: []}\n"
                                      "audit: {enabled: false}\n"))
    yield o
    await o.aclose()


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim.txt"
    path.write_text("precious\n")
    path.chmod(0o600)
    return path


def _untouched(victim: Path) -> None:
    assert victim.read_text() == "precious\n"
    info = victim.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_nlink) == (0o600, os.getuid(), 1)


def _hostile(victim: Path) -> dict[str, list[Member]]:
    outside = str(victim.parent)
    return {
        "hard link to an absolute path, then written": [
            _link("./x", tarfile.LNKTYPE, str(victim), uid=65534, uname="nobody"),
            _file("./x", b"PWNED\n")],
        "hard link out by ..": [_link("./x", tarfile.LNKTYPE, f"../{victim.name}")],
        "hard link to a member never sent": [_link("./x", tarfile.LNKTYPE, "./nothing")],
        "file through a symlink to a folder outside": [
            _link("./out", tarfile.SYMTYPE, outside), _file(f"./out/{victim.name}", b"PWNED\n")],
        "file over a symlink to a file outside": [
            _link("./v", tarfile.SYMTYPE, str(victim)), _file("./v", b"PWNED\n")],
        "hard link over a symlink": [
            _file("./a", b"a\n"), _link("./v", tarfile.SYMTYPE, str(victim)),
            _link("./v", tarfile.LNKTYPE, "./a")],
        # review31: a decoy at the victim's path inside the tree, then a hard link by the
        # absolute path (the check stripped its `/`, tarfile did not), then a write through it
        "hard link by an absolute name a decoy holds": [
            _file(f"./{str(victim).lstrip('/')}", b"decoy\n"),
            _link("./h", tarfile.LNKTYPE, str(victim)), _file("./h", b"PWNED\n")],
        "hard link to a file re-sent as a folder": [
            _file("./f", b"innocent\n"), _dir("./f"), _link("./h", tarfile.LNKTYPE, "./f")],
        "block device": [_special("./disk", tarfile.BLKTYPE)],
        "character device": [_special("./tty", tarfile.CHRTYPE)],
        "fifo": [_special("./pipe", tarfile.FIFOTYPE)],
    }


@pytest.mark.parametrize("case", list(_hostile(Path("/v"))))
async def test_a_stream_reaching_outside_or_making_devices_is_refused_and_nothing_kept(
        orch: Orchestrator, far_end: Callable[[list[Member]], None], victim: Path,
        tmp_path: Path, case: str) -> None:
    (tmp_path / "src").mkdir()
    far_end(_hostile(victim)[case])
    with pytest.raises(TransferError, match="unpacking into .* failed: .*"):
        await orch.aget("local", str(tmp_path / "src"), str(tmp_path / "got"))
    _untouched(victim)
    assert sorted(os.listdir(tmp_path)) == ["bin", "src", "stream.tar", "victim.txt"]


async def test_an_honest_tree_keeps_its_links_and_modes_but_not_the_senders_owners(
        orch: Orchestrator, far_end: Callable[[list[Member]], None], victim: Path,
        tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    nobody = {"uid": 65534, "gid": 65534, "uname": "nobody", "gname": "nogroup"}
    far_end([_file("./a", b"shared\n", mode=0o640, **nobody),
             _link("./b", tarfile.LNKTYPE, "./a", mode=0o640, **nobody), _dir("./d"),
             _link("./d/abs", tarfile.SYMTYPE, str(victim)),
             _link("./d/rel", tarfile.SYMTYPE, "../a")])
    done = await orch.aget("local", str(tmp_path / "src"), str(tmp_path / "got"))
    got = tmp_path / "got"
    assert done.kind == "directory"
    a, b = (got / "a").stat(), (got / "b").stat()
    assert (a.st_ino, a.st_nlink, stat.S_IMODE(a.st_mode)) == (b.st_ino, 2, 0o640)
    assert (a.st_uid, a.st_gid) == (os.getuid(), os.getgid())
    assert os.readlink(got / "d" / "abs") == str(victim)
    assert (got / "d" / "rel").read_text() == "shared\n"
    _untouched(victim)



async def test_names_apart_on_this_disk_land_apart_and_a_linked_symlink_as_a_symlink(
        orch: Orchestrator, far_end: Callable[[list[Member]], None], victim: Path,
        tmp_path: Path) -> None:
    """files15: names told apart by case or Unicode form only (`Docs -> docs` beside `docs/`,
    a file `F` and a link `f` out) were refused as written "through the link", every tree on
    a disk that keeps them apart; and a hard link to a symlink (`cp -al`, rsnapshot) was
    "not a file sent before it". Whether a name is under a link is asked of the disk it lands
    on (lstat), which on a file system that ignores case (review24) sees the link under
    either name; a hard link to a symlink the stream sent lands as that symlink."""
    (tmp_path / "src").mkdir()
    far_end([_link("./Docs", tarfile.SYMTYPE, "docs"), _dir("./docs"),
             _file("./docs/index.md", b"# docs\n"),
             _file("./F", b"innocent\n"), _link("./f", tarfile.SYMTYPE, str(victim)),
             _link("./h", tarfile.LNKTYPE, "./F", mode=0o755, mtime=0),
             _link("./out", tarfile.SYMTYPE, str(tmp_path / "src")), _dir("./OUT"),
             _file(f"./OUT/{victim.name}", b"mine\n"),
             _link("./caf\u00e9", tarfile.SYMTYPE, "docs"), _dir("./cafe\u0301"),
             _file("./cafe\u0301/x", b"x\n"),
             _file("./app.conf", b"conf\n"), _link("./current", tarfile.SYMTYPE, "app.conf"),
             _link("./current.bak", tarfile.LNKTYPE, "./current"),
             # files11: a file's name sent again as a symlink out, then a hard link to it:
             # tarfile's chmod and utime of the hard link followed the symlink out
             _file("./g", b"innocent\n"), _link("./g", tarfile.SYMTYPE, str(victim)),
             _link("./g2", tarfile.LNKTYPE, "./g", mode=0o755, mtime=0)])
    await orch.aget("local", str(tmp_path / "src"), str(tmp_path / "got"))
    got = tmp_path / "got"
    assert os.readlink(got / "Docs") == "docs" and (got / "Docs" / "index.md").read_text() == \
        "# docs\n"
    assert (got / "h").read_text() == "innocent\n" and (got / "F").stat().st_nlink == 2
    assert (got / "OUT" / victim.name).read_text() == "mine\n"
    assert (got / "cafe\u0301" / "x").read_text() == "x\n"
    assert os.readlink(got / "current.bak") == "app.conf" == os.readlink(got / "current")
    assert os.readlink(got / "g2") == str(victim)  # a symlink as sent, victim's mode kept
    _untouched(victim)
    assert sorted(os.listdir(tmp_path / "src")) == []
