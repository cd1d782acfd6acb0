"""Copies as an unprivileged user at the far end (sudo here, and ssh → ssh → sudo, with GNU
tar; ssh → a busybox container as its user `app`), with the trees and names people really
have: every mode kept (group-writable, sticky, read-only folders), an entry the user cannot
read, names as long as a file system allows, `~`, a link to a folder, and paths given as
`Path` objects. Every other copy test runs as root, which hid each of these."""

from __future__ import annotations

import io
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from orch_magics import Orchestrator
from orch_magics.config.loader import load_config_text
from orch_magics.transfer import TransferError
from orch_magics.transfer.scripts import end_line, frame_header, get_command, put_command
from transfers import remote

pytestmark = [pytest.mark.ssh]

ENVS = ["here", "there"]


@pytest.fixture
async def orch(ssh_lab, sudo_lab, podman) -> AsyncIterator[Orchestrator]:  # type: ignore[no-untyped-def]
    sudo_lab.authorize(ssh_lab.root / "id_ed25519.pub")
    there = [ssh_lab.layer("orch-bastion"), ssh_lab.layer("orch-inner", user=sudo_lab.login),
             sudo_lab.layer(sudo_lab.free)]
    envs = {"here": [sudo_lab.layer(sudo_lab.free)], "there": there, "login": there[:2],
            "box": [ssh_lab.layer("orch-loop"), podman.layer(user="app")]}
    o = Orchestrator(load_config_text(ssh_lab.config_yaml(extra_envs=envs)))
    yield o
    await o.aclose()


def make_tree(root: Path) -> Path:
    """Folders and files with the modes a shared project has, read-only folders among them
    (a setgid one in another)."""
    (root / "shared").mkdir(parents=True)
    (root / "shared" / "notes").write_text("rw for the group\n")
    (root / "drop").mkdir()
    (root / "drop" / "open").write_text("anyone writes\n")
    (root / "frozen").mkdir()
    (root / "frozen" / "kept").write_text("in a read-only folder\n")
    (root / "frozen" / "deeper").mkdir()
    (root / "frozen" / "deeper" / "f").write_text("two levels down\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    modes = {"shared": 0o775, "shared/notes": 0o664, "drop": 0o1777,
             "drop/open": 0o666, "run.sh": 0o750, "frozen/kept": 0o600,
             "frozen/deeper": 0o2555, "frozen": 0o555}
    for name, mode in modes.items():  # the read-only folders last: their files first
        (root / name).chmod(mode)
    return root


def modes(root: Path) -> list[str]:
    found = []
    for folder, subfolders, files in os.walk(root):
        for name in sorted(subfolders + files):
            path = Path(folder) / name
            found.append(f"{stat.S_IMODE(path.lstat().st_mode):o} {path.relative_to(root)}")
    return sorted(found)


@pytest.mark.parametrize("env", [*ENVS, "box"])
async def test_a_directory_round_trips_with_every_mode(orch, far, tmp_path, env) -> None:  # type: ignore[no-untyped-def]
    """A get through sudo failed for every directory (`tee /dev/fd/3` cannot open another
    user's pipe again); group and other write bits and the sticky bit were lost both ways.
    A put into busybox failed on the read-only folder: its tar makes a folder read-only
    before it writes the files inside (`can't open './frozen/kept': Permission denied`)."""
    src = make_tree(tmp_path / "src")
    folder = await far.folder(env, "as-user-tree")
    sent = await orch.aput(env, src, f"{folder}/tree")
    assert sent.source == str(src)  # a Path in, a str out
    listing = await remote(orch, env, f"cd {folder}/tree && find . -mindepth 1 -exec "
                                      f"stat -c '%a %n' {{}} + | sed 's, \\./, ,'")
    assert sorted(listing.splitlines()) == modes(src)
    got = await orch.aget(env, f"{folder}/tree", tmp_path / "back")
    assert got.kind == "directory"
    landed = sorted(line.replace("2555 ", "555 ") for line in modes(src))  # setgid: dropped
    assert modes(tmp_path / "back") == landed, (modes(tmp_path / "back"), landed)
    assert (tmp_path / "back" / "frozen" / "kept").read_text() == "in a read-only folder\n"


@pytest.mark.parametrize("env", [*ENVS, "box"])
async def test_a_read_only_folder_itself_is_put(orch, far, tmp_path, env) -> None:  # type: ignore[no-untyped-def]
    """Its mode was set before the rename, and an ordinary user cannot move a folder it
    cannot write into another folder (its `..` changes): "cannot rename into …"."""
    src = tmp_path / "ro"
    src.mkdir()
    (src / "f").write_text("kept\n")
    src.chmod(0o555)
    folder = await far.folder(env, "as-user-read-only")
    await orch.aput(env, src, f"{folder}/ro")
    assert await remote(orch, env, f"stat -c %a {folder}/ro && cat {folder}/ro/f") == \
        "555\nkept\n"


@pytest.mark.parametrize("env", ENVS)
async def test_an_entry_the_user_cannot_read_fails_the_get(orch, far, tmp_path, env) -> None:  # type: ignore[no-untyped-def]
    """tar skipped it and the get was kept without it (the far end's hash was of the same
    short stream); the reason is tar's own."""
    folder = await far.folder(env, "as-user-unreadable")
    await remote(orch, env, f"mkdir {folder}/d && echo ok > {folder}/d/a && "
                            f"echo no > {folder}/d/secret && chmod 000 {folder}/d/secret")
    with pytest.raises(TransferError, match=r"reading .*/d failed: \./secret: Cannot open: "
                                            r"Permission denied; nothing was kept$"):
        await orch.aget(env, f"{folder}/d", tmp_path / "d")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def closed_folder() -> Iterator[Path]:
    """A folder only root may search (0700), holding open folders `a/b` and `a/b/f.txt`: the
    lab's hosts share this file system, so every ENV's user sees it, and cannot look in."""
    closed = Path(tempfile.mkdtemp(prefix="orch-closed-"))
    (closed / "a" / "b").mkdir(parents=True)
    (closed / "a" / "b" / "f.txt").write_text("behind a closed folder\n")
    for path in (closed / "a", closed / "a" / "b"):
        path.chmod(0o777)
    (closed / "a" / "b" / "f.txt").chmod(0o644)
    yield closed
    shutil.rmtree(closed)


@pytest.mark.parametrize("env", ENVS)
async def test_a_path_behind_a_folder_the_user_may_not_search_is_not_called_missing(
        orch, closed_folder, tmp_path, env) -> None:  # type: ignore[no-untyped-def]
    """The scripts looked only at the path or its parent, which a closed grandparent hides:
    a get said "no such file or directory", a put "no such directory" (a run's working
    directory says "permission denied" here, and so do they now)."""
    inner, denied = closed_folder / "a" / "b", f"permission denied: cannot look inside {closed_folder}"
    src = tmp_path / "s.txt"
    src.write_text("sent\n")
    for copy in (lambda: orch.aget(env, inner / "f.txt", tmp_path / "got.txt"),
                 lambda: orch.aget(env, inner / "nothing", tmp_path / "got.txt"),
                 lambda: orch.aput(env, src, f"{inner}/"),
                 lambda: orch.aput(env, src, inner / "new.txt")):
        with pytest.raises(TransferError, match=re.escape(denied)):
            await copy()
    assert list(tmp_path.iterdir()) == [src]
    with pytest.raises(TransferError, match="no such file or directory: /tmp/orch-none-here/f; "):
        await orch.aget(env, "/tmp/orch-none-here/f", tmp_path / "got.txt")  # missing: said so
    with pytest.raises(TransferError, match="no such directory: /tmp/orch-none-here/; "):
        await orch.aput(env, src, "/tmp/orch-none-here/")


@pytest.mark.parametrize("env", ENVS)
async def test_a_failed_put_leaves_no_read_only_folder_behind(orch, far, env) -> None:  # type: ignore[no-untyped-def]
    """The temporary tree holds a read-only folder once unpacked: `rm -rf` alone could not
    remove it, and "nothing was kept" was not true."""
    folder = await far.folder(env, "as-user-failed-put")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, kind, mode in (("data", tarfile.DIRTYPE, 0o755),
                                 ("data/ro", tarfile.DIRTYPE, 0o555),
                                 ("data/ro/f", tarfile.REGTYPE, 0o644)):
            info = tarfile.TarInfo(name)
            info.type, info.mode = kind, mode
            tar.addfile(info, io.BytesIO(b"") if kind == tarfile.REGTYPE else None)
    data = archive.getvalue()
    stream = frame_header(len(data)) + data + end_line(len(data), "0" * 64)  # a wrong digest
    command = put_command(f"{folder}/t", "t", "directory", 0o755)
    result = await orch.arun(env, command=list(command.argv), stdin=stream)
    assert not result.ok and "sha256 mismatch" in result.stderr
    assert await remote(orch, env, f"ls -A {folder}") == ""


@pytest.mark.parametrize("env", ENVS)
async def test_names_as_long_as_the_file_system_allows(orch, far, tmp_path, env) -> None:  # type: ignore[no-untyped-def]
    """A temporary name made of a 238-255 byte name plus a suffix was too long to create."""
    folder = await far.folder(env, "as-user-long")
    for name in ("n" * 255, "é" * 120 + "x" * 15):
        assert len(name.encode()) == 255
        src = tmp_path / name
        src.write_text(name)
        sent = await orch.aput(env, src, folder + "/")
        assert sent.destination == f"{folder}/{name}"
        back = tmp_path / "back"
        back.mkdir(exist_ok=True)
        await orch.aget(env, f"{folder}/{name}", back)
        assert (back / name).read_text() == name
        assert [p.name for p in back.iterdir()] == [name]  # no temporary file left
        (back / name).unlink()


@pytest.mark.parametrize("env", ["loop", "login"])  # root's home, and an ordinary user's
async def test_tilde_is_the_users_home(orch, tmp_path, env) -> None:  # type: ignore[no-untyped-def]
    """`~/x` was a folder named `~`, and `ENV:~` a file named `~` in the home folder."""
    name = f"orch-home-{os.getpid()}-{env}"
    src = tmp_path / "h"
    src.write_text("home\n")
    try:
        await orch.aput(env, src, f"~/{name}")
        assert await remote(orch, env, f'cat "$HOME/{name}"') == "home\n"
        await orch.aget(env, f"~/{name}", tmp_path / "back")
        assert (tmp_path / "back").read_text() == "home\n"
        with pytest.raises(TransferError, match="cannot name a local copy of '~'"):
            await orch.aget(env, "~")
        assert not await remote(orch, env, 'ls -A "$HOME" | grep -x "~" || true')
        homeless = await orch.arun(env, command=["env", "HOME=", *get_command("~/x").argv])
        assert (homeless.returncode, homeless.stderr) == (
            1, "orch-transfer: HOME is not set: cannot expand ~/x\n")  # it landed in /x
        rooted = await orch.arun(env, command=["env", "HOME=/", *get_command(  # kinds19: `//x`
            f"~/{name}-none").argv])
        assert rooted.stderr.endswith(f": /{name}-none\n"), rooted.stderr
    finally:
        await orch.arun(env, command=f'rm -f "$HOME/{name}"')


async def test_a_link_to_a_folder_puts_the_folder(orch, far, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """It was checked through the link (a directory) and archived as the link."""
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("through the link\n")
    (tmp_path / "link").symlink_to("real")
    folder = await far.folder("here", "as-user-link")
    sent = await orch.aput("here", tmp_path / "link", f"{folder}/copy")
    assert sent.kind == "directory"
    assert await remote(orch, "here", f"cat {folder}/copy/f") == "through the link\n"


async def test_path_arguments_are_checked(orch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TransferError, match="the remote path must be a path .*not int"):
        await orch.aget("here", 5)
    with pytest.raises(TransferError, match=r"the remote path '/tmp/a\\x00b' holds a NUL"):
        await orch.aget("here", "/tmp/a\0b", tmp_path / "x")
    with pytest.raises(TransferError, match="the local path .* holds a NUL"):
        await orch.aput("here", str(tmp_path / "a\0b"), "/tmp/")
    # review13: a surrogate that stands for no byte was a UnicodeEncodeError
    for copy, what in ((lambda: orch.aget("here", "/tmp/\ud800x", tmp_path / "x"), "remote"),
                       (lambda: orch.aget("here", "/etc/hostname", "/tmp/\ud800"), "local"),
                       (lambda: orch.aput("here", tmp_path, "/tmp/\ud800y"), "remote")):
        with pytest.raises(TransferError, match=f"the {what} path .* holds '\\\\ud800', a "
                                                f"surrogate that stands for no byte"):
            await copy()
    # an empty local path: a get sent every byte, then failed "cannot write : No such file"
    for copy in (lambda: orch.aget("here", "/etc/hostname", ""), lambda: orch.aput("here", "", "/tmp/")):
        with pytest.raises(TransferError) as err:
            await copy()
        assert str(err.value) == "the local path is empty: give a file or a folder ('.' for here)"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("stderr", "problems"), [
    # a folder of live logs: GNU tar sends what it saw at the start and exits 1
    ("tar: ./app.log: file changed as we read it\norch-transfer: reading /srv/logs failed\n"
     "ORCH-SHA256 " + "0" * 64 + "\n", []),
    ("tar: ./app.log: File shrank by 267591424 bytes; padding with zeros\n"
     "orch-transfer: reading /srv/logs failed\n",
     ["reading /srv/logs failed: ./app.log: File shrank by 267591424 bytes; padding with zeros"]),
    ("tar: ./a: file changed as we read it\ntar: ./s: Cannot open: Permission denied\n"
     "tar: Exiting with failure status due to previous errors\n"
     "orch-transfer: reading /srv/logs failed\n",
     ["reading /srv/logs failed: ./a: file changed as we read it; ./s: Cannot open: Permission "
      "denied"]),
])
def test_what_fails_a_directory_get(stderr: str, problems: list[str]) -> None:
    from orch_magics.transfer.scripts import get_problems

    assert get_problems(stderr) == problems


def test_a_failed_tree_is_removed_with_its_links_and_read_only_folders(tmp_path: Path) -> None:
    """A link to a folder inside made the clean-up raise NotImplementedError (a chmod of the
    link itself), which ended `orch cp` as an internal error and left the tree."""
    from orch_magics.transfer.landing import _remove_tree

    tree = tmp_path / "tree"
    (tree / "ro" / "deep").mkdir(parents=True)
    (tree / "ro" / "deep" / "f").write_text("x")
    (tree / "to-ro").symlink_to("ro")
    (tree / "ro" / "deep").chmod(0o500)
    (tree / "ro").chmod(0o500)
    _remove_tree(str(tree))
    assert not tree.exists()


@pytest.fixture
def shared_folder(sudo_lab) -> Iterator[Callable[[str, int, int, int], Path]]:  # type: ignore[no-untyped-def]
    """Folders made here as root (the lab's hosts share this disk), removed after the test:
    `shared_folder(name, uid, gid, mode)`."""
    made: list[Path] = []

    def make(name: str, uid: int, gid: int, mode: int) -> Path:
        folder = Path(f"/tmp/orch-{name}-{os.getpid()}")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        made.append(folder)
        os.chown(folder, uid, gid)
        folder.chmod(mode)
        return folder

    yield make
    for folder in made:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("env", ["here", "there", "login"])  # sudo, ssh → ssh → sudo, and ssh
async def test_another_users_file_is_never_handed_to_the_receiver(  # type: ignore[no-untyped-def]
        orch, sudo_lab, shared_folder, tmp_path, env) -> None:
    """A put as an ordinary user over a file it may write but does not own (root's, writable
    for its group) renamed its own file over it: the owner silently became that user. In a
    sticky folder the rename failed: "cannot rename into …", with no why. Both are refused
    before any data, saying why and what to do; the file stays as it was, nothing is left."""
    who = pwd.getpwnam(sudo_lab.login if env == "login" else sudo_lab.free)
    src = tmp_path / "new"
    src.write_text("new\n")
    mine = shared_folder(f"owner-{env}", who.pw_uid, who.pw_gid, 0o755)
    sticky = shared_folder(f"sticky-{env}", 0, 0, 0o1777)
    cases = [(mine / "app.conf", 0, who.pw_gid, "is owned by root", "owner", 0o666),
             (sticky / "app.conf", 0, 0, "is owned by root", "owner", 0o666),
             (mine / "grp.conf", who.pw_uid, 0, "belongs to group root", "group", 0o666),
             # kinds22: root's everyday 0644 file was said to be "read-only"
             (mine / "root.conf", 0, 0, "is owned by root", "owner", 0o644)]
    for path, uid, gid, is_, what, mode in cases:
        path.write_text("old\n")
        os.chown(path, uid, gid)
        path.chmod(mode)
        with pytest.raises(TransferError, match=re.escape(
                f"{path} {is_}: as user {who.pw_name} a copy cannot keep its {what} (it "
                f"replaces a file by renaming a new one over it); copy as root (e.g. a sudo "
                f"layer with user: root) or remove {path} first; nothing was kept")):
            await orch.aput(env, src, path)
        info = path.stat()
        assert (path.read_text(), info.st_uid, info.st_gid) == ("old\n", uid, gid)
    assert [sorted(p.name for p in f.iterdir()) for f in (mine, sticky)] == [
        ["app.conf", "grp.conf", "root.conf"], ["app.conf"]]  # no temporary file left
    mine_too = mine / "mine.conf"  # its own file is replaced as before, its mode kept
    mine_too.write_text("old\n")
    os.chown(mine_too, who.pw_uid, who.pw_gid)
    mine_too.chmod(0o640)
    await orch.aput(env, src, mine_too)
    info = mine_too.stat()
    assert (mine_too.read_text(), info.st_uid, stat.S_IMODE(info.st_mode)) == (
        "new\n", who.pw_uid, 0o640)


def test_a_get_as_an_ordinary_user_never_takes_another_users_file(  # type: ignore[no-untyped-def]
        sudo_lab, shared_folder) -> None:
    """The same on this side: `orch cp` run by an ordinary user over a root file it may write
    (0664 for its group) gave the file to that user (the chown back failed silently)."""
    who = pwd.getpwnam(sudo_lab.free)
    folder = shared_folder("get-owner", who.pw_uid, who.pw_gid, 0o755)
    (folder / "orch.yaml").write_text("environments: {local: {layers: []}}\n")
    (folder / "src").write_text("new\n")
    dest = folder / "app.conf"
    dest.write_text("old\n")
    os.chown(dest, 0, who.pw_gid)
    dest.chmod(0o664)
    as_free = ("import concurrent.futures.thread, importlib, os, pkgutil, sys, orch_magics\n"
               "for m in pkgutil.walk_packages(orch_magics.__path__, 'orch_magics.'):\n"
               "    m.name.endswith('__main__') or importlib.import_module(m.name)\n"
               f"os.setgroups([]); os.setgid({who.pw_gid}); os.setuid({who.pw_uid})\n"
               "sys.exit(orch_magics.cli.main())")
    done = subprocess.run(  # this python is under /root (0700): it starts as root, then drops
        [sys.executable, "-c", as_free, "-c", str(folder / "orch.yaml"), "cp",
         f"local:{folder}/src", str(dest)], cwd=folder, capture_output=True, text=True,
        timeout=120, check=False, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]),
                                        "XDG_STATE_HOME": str(folder / "state")})
    assert (done.returncode, done.stderr.strip().splitlines()[-1:]) == (1, [
        f"orch: get local:{folder}/src → {dest} failed: {dest} is owned by root: as user "
        f"{who.pw_name} a copy cannot keep its owner (it replaces a file by renaming a new one "
        f"over it); copy as root or remove {dest} first; nothing was kept"]), done.stderr
    info = dest.stat()
    assert (dest.read_text(), info.st_uid) == ("old\n", 0)
    assert sorted(p.name for p in folder.iterdir()) == ["app.conf", "orch.yaml", "src", "state"]


async def test_a_login_whose_bashrc_speaks_still_gets_and_puts(orch, sudo_lab,  # type: ignore[no-untyped-def]
                                                               tmp_path: Path) -> None:
    """bash started by sshd reads ~/.bashrc for every command, and many print there (`echo
    Welcome`): a get failed "unexpected output before the data ('Welcome to the box\\n')",
    every time (tester transfer2). Lines before the copy's header are skipped: the sha256
    checks the data, whatever came before it."""
    bashrc = sudo_lab.home / ".bashrc"
    subprocess.run(["usermod", "-s", "/bin/bash", sudo_lab.login], check=True)
    bashrc.write_text("echo Welcome to the box\nprintf 'no newline at the end'\n"
                      "printf 'nor on stderr' >&2\n")
    try:
        words = "Welcome to the box\nno newline at the end"
        said = await remote(orch, "login", "echo hi")
        assert said == f"{words}hi\n", said  # it does speak
        folder = (await remote(orch, "login", "mktemp -d")).removeprefix(words).strip()
        (tmp_path / "f").write_bytes(b"payload\n" * 1000)
        make_tree(tmp_path / "tree")
        sent = await orch.aput("login", str(tmp_path / "f"), f"{folder}/")
        assert sent.destination == f"{folder}/f"  # its ORCH-DONE line, after the words
        await orch.aput("login", str(tmp_path / "tree"), f"{folder}/tree")
        got = await orch.aget("login", f"{folder}/f", str(tmp_path / "back"))
        assert (tmp_path / "back").read_bytes() == b"payload\n" * 1000 and got.bytes == 8000
        await orch.aget("login", f"{folder}/tree", str(tmp_path / "tree-back"))
        assert sorted(p.relative_to(tmp_path / "tree-back").as_posix()
                      for p in (tmp_path / "tree-back").rglob("*")) == \
            sorted(p.relative_to(tmp_path / "tree").as_posix()
                   for p in (tmp_path / "tree").rglob("*"))
    finally:
        bashrc.unlink()
        subprocess.run(["usermod", "-s", "/bin/sh", sudo_lab.login], check=True)


@pytest.mark.parametrize("env", ["here"])
async def test_a_relative_path_in_a_working_folder_the_user_may_not_search_says_so(
        orch, closed_folder, tmp_path, monkeypatch, env) -> None:  # type: ignore[no-untyped-def]
    """files6: with the working folder closed to the far user (ssh's /root, then sudo to
    another user), a relative name was 'no such file or directory: .' (`[ -d . ]` itself
    fails there), where a closed folder on an absolute path says 'permission denied'."""
    monkeypatch.chdir(closed_folder)  # the sudo layer's user works in this folder
    src = tmp_path / "s.txt"
    src.write_text("sent\n")
    denied = f"permission denied: cannot look inside the working directory {closed_folder}"
    for copy in (lambda: orch.aget(env, "a/b/f.txt", tmp_path / "got.txt"),
                 lambda: orch.aget(env, ".", tmp_path / "got"),
                 lambda: orch.aput(env, src, "./")):
        with pytest.raises(TransferError, match=re.escape(denied)):
            await copy()
    assert list(tmp_path.iterdir()) == [src]


@pytest.mark.parametrize("env", ENVS)
async def test_a_get_of_a_folder_holding_a_socket_is_refused_as_a_put_is(
        orch, tmp_path, env) -> None:  # type: ignore[no-untyped-def]
    """files6: tar skipped the socket with a warning alone and the get reported success,
    while a put of the same folder is refused."""
    import socket

    folder = Path(tempfile.mkdtemp(prefix="orch-sock-"))
    try:
        (folder / "a").write_text("a\n")
        listening = socket.socket(socket.AF_UNIX)
        listening.bind(str(folder / "s"))
        folder.chmod(0o755)
        with pytest.raises(TransferError, match=re.escape(
                f"{folder}/s is a socket: a get copies files, folders and links")):
            await orch.aget(env, str(folder), tmp_path / "got")
        assert not (tmp_path / "got").exists()
        listening.close()
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize("env", [*ENVS, "box"])
async def test_a_file_its_user_made_read_only_is_not_replaced(orch, far, tmp_path, env) -> None:  # type: ignore[no-untyped-def]
    """A put renamed a new file over one mode 0444 of the receiving user's own, where `cp` and
    `scp` refuse (ports7); a rename that fails says why (it said only "cannot rename")."""
    folder = await far.folder(env, "as-user-read-only")
    await remote(orch, env, f"echo pinned > {folder}/conf && chmod 0444 {folder}/conf")
    source = tmp_path / "conf"
    source.write_text("new\n")
    with pytest.raises(TransferError) as err:
        await orch.aput(env, source, f"{folder}/conf")
    assert str(err.value) == (f"put {source} → {env}:{folder}/conf failed: is read-only: "
                              f"{folder}/conf (its user may not write it, so a put does not "
                              f"replace it, as cp does not); nothing was kept")
    assert await remote(orch, env, f"cat {folder}/conf; ls -A {folder}") == "pinned\nconf\n"
