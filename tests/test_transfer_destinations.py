"""Where a copy may land. A copy is written under a temporary name and renamed over its
destination, so a device, pipe or socket there is refused, never replaced (as root, `orch cp
ENV:F /dev/null` used to turn this machine's /dev/null into a regular file); a destination
ending in / must be an existing folder, checked before any byte moves; a full disk is named as
such on either side, and nothing is kept."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from orch_magics import Orchestrator
from orch_magics.config.loader import load_config_text
from orch_magics.transfer import TransferError
from orch_magics.transfer.landing import FileLanding
from transfers import Recorded, lab_config, remote, sparse

pytestmark = [pytest.mark.docker, pytest.mark.ssh]


@pytest.fixture
async def orch(ssh_lab, dockerd) -> AsyncIterator[Orchestrator]:  # type: ignore[no-untyped-def]
    nobody = [ssh_lab.layer("orch-bastion"), ssh_lab.layer("orch-inner"),
              dockerd.layer(user="65534:65534")]
    o = Orchestrator(load_config_text(lab_config(ssh_lab, dockerd, here=[], nobody=nobody)))
    yield o
    await o.aclose()


@pytest.mark.parametrize("env", ["loop", "deep"])
async def test_a_put_the_far_end_refuses_sends_no_byte_and_says_why(
        orch: Orchestrator, tmp_path: Path, env: str) -> None:
    """files12: the frames went out before the far end had checked the destination; podman
    then reset the stream the refusing script had left unread, and 1 put in 10 said only
    "podman cut the exec stream", not "no such directory". The data waits for the far
    end's word that every check passed."""
    big = sparse(tmp_path / "big", 64 << 20)
    progress = Recorded()
    with pytest.raises(TransferError) as err:
        await orch.aput(env, str(big), "/tmp/orch-no-such-folder/x", progress=progress)
    assert "no such directory: /tmp/orch-no-such-folder" in str(err.value), err.value
    assert progress.done == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs: a full disk that fills at once (this machine's, so loop's far end too)."""
    path = tmp_path / "small"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)], check=True)
    yield path
    subprocess.run(["umount", str(path)], check=True)


@pytest.fixture
def few_inodes(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs with room for 8 files or folders, whatever their size."""
    path = tmp_path / "few"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=10m,nr_inodes=8", "tmpfs", str(path)],
                   check=True)
    yield path
    subprocess.run(["umount", str(path)], check=True)


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


async def test_a_get_never_replaces_a_device_or_a_pipe(orch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for dest, kind in ((Path("/dev/null"), stat.S_ISCHR), (fifo(tmp_path / "pipe"), stat.S_ISFIFO)):
        with pytest.raises(TransferError) as err:
            await orch.aget("loop", "/etc/hostname", str(dest))
        assert str(err.value) == (f"not a regular file: {dest} (a get replaces a file; it "
                                  f"never writes into a device, pipe or socket)")
        assert kind(dest.stat().st_mode), f"{dest} was replaced"
    assert os.listdir(tmp_path) == ["pipe"]


async def test_a_put_never_replaces_a_device_or_a_pipe_at_the_far_end(orch, far, tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "f"
    src.write_bytes(b"data\n")
    folder = await far.folder("loop", "fifo")  # loop's far end shares this disk
    for env, dest in (("deep", "/dev/null"), ("loop", str(fifo(Path(folder) / "pipe")))):
        with pytest.raises(TransferError) as err:
            await orch.aput(env, str(src), dest)
        assert (f"failed: not a regular file: {dest} (a put replaces a file; it never writes "
                f"into a device, pipe or socket); nothing was kept") in str(err.value)
    assert await remote(orch, "deep", "[ -c /dev/null ] && echo device") == "device\n"
    assert [(p.name, stat.S_ISFIFO(p.stat().st_mode)) for p in Path(folder).iterdir()] == [
        ("pipe", True)]


async def test_a_get_into_a_folder_that_is_not_there_is_refused_before_any_byte(  # type: ignore[no-untyped-def]
        orch, tmp_path) -> None:
    dest = f"{tmp_path}/not-there/"
    with pytest.raises(TransferError) as err:  # a remote path that does not exist either:
        await orch.aget("deep", "/nonexistent", dest)  # the local check came first
    assert str(err.value) == (f"no such local directory: {dest} (a destination ending in / "
                              f"is a folder to copy into)")
    assert os.listdir(tmp_path) == []


async def test_a_full_disk_is_named_on_either_side_and_nothing_is_kept(  # type: ignore[no-untyped-def]
        orch, far, tmp_path, small_disk) -> None:
    src = tmp_path / "big"
    src.write_bytes(os.urandom(3_000_000))
    with pytest.raises(TransferError) as err:
        await orch.aput("loop", str(src), f"{small_disk}/")
    assert str(err.value) == (f"put {src} → loop:{small_disk}/ failed: cannot write "
                              f"{small_disk}/big: No space left on device; nothing was kept")
    folder = await far.folder("loop", "full")
    Path(folder, "big").write_bytes(src.read_bytes())
    with pytest.raises(TransferError) as err:
        await orch.aget("loop", f"{folder}/big", str(small_disk))
    assert str(err.value) == (f"get loop:{folder}/big → {small_disk}/big failed: cannot write "
                              f"{small_disk}/big: No space left on device; nothing was kept")
    assert os.listdir(small_disk) == []


async def test_a_directory_to_a_full_disk_says_so_on_either_side(  # type: ignore[no-untyped-def]
        orch, far, tmp_path, small_disk) -> None:
    """tar's reason reaches the user (GNU tar's "Wrote only N of M bytes" gets the disk's
    state added); before, a put said only "unpacking … failed" and a get "[Errno 28] …"."""
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    for name in ("a", "sub/b"):
        (tree / name).write_bytes(os.urandom(700_000))
    for env in ("here", "loop"):  # the far end of both is this machine's disk
        with pytest.raises(TransferError) as err:
            await orch.aput(env, str(tree), f"{small_disk}/")
        message = str(err.value)
        assert message.startswith(f"put {tree} → {env}:{small_disk}/ failed: unpacking into "
                                  f"{small_disk}/tree failed: ./"), message
        assert message.endswith("No space left on device); nothing was kept"), message
        assert os.listdir(small_disk) == []
    folder = await far.folder("loop", "full-tree")
    subprocess.run(["cp", "-r", str(tree), folder], check=True)
    with pytest.raises(TransferError) as err:
        await orch.aget("loop", f"{folder}/tree", f"{small_disk}/")
    assert str(err.value) == (f"get loop:{folder}/tree → {small_disk}/tree failed: unpacking "
                              f"into {small_disk}/tree failed: No space left on device; "
                              f"nothing was kept")
    assert os.listdir(small_disk) == []


async def test_a_directory_that_does_not_fit_is_never_reported_copied(  # type: ignore[no-untyped-def]
        orch, tmp_path, few_inodes) -> None:
    """Out of inodes, tar fails on the 7th file; the put script's "it failed" marker could not
    be created either, so a partial tree was renamed into place and reported as copied."""
    tree = tmp_path / "many"
    tree.mkdir()
    for i in range(20):
        (tree / f"f{i:02d}").write_text(f"{i}\n")
    for env in ("here", "loop"):
        with pytest.raises(TransferError) as err:
            await orch.aput(env, str(tree), f"{few_inodes}/")
        assert str(err.value).startswith(f"put {tree} → {env}:{few_inodes}/ failed: unpacking "
                                         f"into {few_inodes}/many failed: ./f"), err.value
        assert "Cannot open: No space left on device; nothing was kept" in str(err.value)
        assert os.listdir(few_inodes) == []


def test_a_get_stopped_by_a_full_disk_with_bytes_still_buffered_leaves_nothing(small_disk) -> None:  # type: ignore[no-untyped-def]
    """Removing the temporary file flushed what was buffered first: onto the full disk, which
    failed again, so the file stayed and an OSError escaped instead of the copy's error."""
    target = FileLanding(str(small_disk / "got"))
    with pytest.raises(TransferError, match="No space left on device"):
        while True:
            target.write(b"x" * 1000)  # small chunks stay in the file's buffer a while
    target.abort()
    assert os.listdir(small_disk) == []


async def test_a_chain_that_allocates_a_tty_is_refused_before_anything_runs(  # type: ignore[no-untyped-def]
        dockerd, tmp_path) -> None:
    """A put through `tty: true` failed as a garbled `… /bin/sh -c '…' failed (exit 126)`."""
    layer = dockerd.layer(tty=True)
    o = Orchestrator(load_config_text(f"environments:\n  t:\n    layers:\n      - {layer}\n"))
    src = tmp_path / "f"
    src.write_text("x")
    try:
        for copy in (o.aput("t", src, "/tmp/"), o.aget("t", "/etc/hostname", tmp_path / "g")):
            with pytest.raises(TransferError, match=r"^t: layer docker orch-test allocates a "
                                                    r"TTY \(tty: true\), which changes binary "
                                                    r"data; copy through an environment "
                                                    r"without it$"):
                await copy
        assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]
    finally:
        await o.aclose()


async def test_a_link_to_a_file_is_written_through_on_either_side(orch, far, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The link was replaced by a regular file (cp and scp write through it)."""
    (tmp_path / "real").write_text("old\n")
    (tmp_path / "link").symlink_to("real")
    folder = await far.folder("loop", "through-link")  # loop's far end shares this disk
    (Path(folder) / "data").write_text("from far\n")
    await orch.aget("loop", f"{folder}/data", str(tmp_path / "link"))
    assert (tmp_path / "link").is_symlink() and (tmp_path / "real").read_text() == "from far\n"
    (Path(folder) / "target").write_text("old\n")
    (Path(folder) / "alias").symlink_to("target")
    sent = await orch.aput("loop", str(tmp_path / "real"), f"{folder}/alias")
    assert sent.destination == f"{folder}/target"
    assert (Path(folder) / "alias").is_symlink()
    assert (Path(folder) / "target").read_text() == "from far\n"


async def test_a_path_behind_a_folder_one_cannot_enter_is_not_called_missing(  # type: ignore[no-untyped-def]
        orch, far, tmp_path) -> None:
    """It said 'no such file or directory' of a file that is there (as a user who may not
    look inside its folder)."""
    folder = await far.folder("deep", "closed")
    await remote(orch, "deep", f"mkdir {folder}/shut && echo x > {folder}/shut/f && "
                               f"chmod 700 {folder}/shut")
    with pytest.raises(TransferError, match=rf"permission denied: cannot look inside "
                                             rf"{folder}/shut; nothing was kept"):
        await orch.aget("nobody", f"{folder}/shut/f", str(tmp_path / "f"))
    with pytest.raises(TransferError, match=rf"no such file or directory: {folder}/none"):
        await orch.aget("nobody", f"{folder}/none", str(tmp_path / "f"))
    assert os.listdir(tmp_path) == []



async def test_a_put_onto_a_read_only_mount_says_so(orch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A put said only `cannot write in DIR` (mktemp's reason was thrown away), which points
    root at permissions, where a get says `Read-only file system` (held-out tester transfer2)."""
    ro = tmp_path / "ro"  # loop's far end shares this disk
    ro.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(ro)], check=True)
    try:
        (tmp_path / "s.txt").write_text("s\n")
        with pytest.raises(TransferError, match=f"cannot write in {ro}: Read-only file system; "):
            await orch.aput("loop", str(tmp_path / "s.txt"), f"{ro}/")
        # files10: a relative destination said "cannot write in .": which folder is that?
        with Orchestrator(load_config_text(
                f"environments:\n  there: {{layers: [{{type: local, config: {{working_dir: "
                f"'{ro}'}}}}]}}\n")) as local:
            with pytest.raises(TransferError, match=f"cannot write in {ro} \\(the working "
                                                    f"directory\\): Read-only file system"):
                await local.aput("there", str(tmp_path / "s.txt"), "s.txt")
    finally:
        subprocess.run(["umount", str(ro)], check=True)

async def test_a_put_over_a_setuid_file_as_root_keeps_its_mode(orch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """files14: a put replacing a setuid or setgid file as root dropped the bit (4755 became
    755, 2750 became 750), where cp as root keeps it and the docs say the mode is kept."""
    for name, mode in (("tool", 0o4755), ("g", 0o2750)):
        far = tmp_path / f"far-{name}"
        far.write_text("old\n")
        far.chmod(mode)
        (tmp_path / name).write_text("new\n")
        await orch.aput("loop", str(tmp_path / name), str(far))
        assert (far.read_text(), oct(far.stat().st_mode & 0o7777)) == ("new\n", oct(mode))


async def test_a_put_over_a_file_on_a_read_only_mount_says_the_mount(orch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """files14: a put over an existing file on a read-only mount said the file "is read-only
    … its user may not write it", blaming a 0644 file's mode, where cp says `Read-only file
    system`."""
    ro = tmp_path / "ro"
    ro.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(ro)], check=True)
    try:
        (ro / "app.conf").write_text("old\n")
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        (tmp_path / "app.conf").write_text("new\n")
        with pytest.raises(TransferError, match=f"cannot write in {ro}: Read-only file system "
                                                f"\\(a put replaces app.conf"):
            await orch.aput("loop", str(tmp_path / "app.conf"), f"{ro}/app.conf")
    finally:
        subprocess.run(["umount", str(ro)], check=True)


async def test_a_file_one_may_write_in_a_folder_one_may_not_is_refused_saying_why(  # type: ignore[no-untyped-def]
        orch, far, tmp_path) -> None:
    """`/etc/app/app.conf` owned by the service user, its folder by root: scp overwrites it in
    place; a put writes beside and renames, so it said only "cannot write in /etc/app"
    (tester transfer2), leaving the user, who may write the file, guessing."""
    folder = await far.folder("deep", "app")
    await remote(orch, "deep", f"echo old > {folder}/app.conf && chown 65534 {folder}/app.conf"
                               f" && chmod 755 {folder}")
    (tmp_path / "app.conf").write_text("new\n")
    with pytest.raises(TransferError, match=rf"cannot write in {folder}: Permission denied "
                                             rf"\(a put replaces "
                                             rf"app.conf by writing a new file beside it and "
                                             rf"renaming it over: the folder must be writable\)"):
        await orch.aput("nobody", str(tmp_path / "app.conf"), f"{folder}/app.conf")
    assert await remote(orch, "deep", f"cat {folder}/app.conf; ls -a {folder}") == \
        "old\n.\n..\napp.conf\n"


def test_orch_cp_shows_a_name_with_a_newline_or_an_escape_on_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The name went raw to the terminal: a newline broke the one-line message and an escape
    sequence could repaint the screen."""
    import sys

    cfg = tmp_path / "orch.yaml"
    cfg.write_text(f"environments:\n  local: {{layers: []}}\naudit: {{path: {tmp_path}/a.jsonl}}\n")
    name = "odd\nname\x1b[2K"
    (tmp_path / name).write_text("x")

    def cp(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "cp",
                               *args], capture_output=True, text=True, timeout=60)

    done = cp(f"local:{tmp_path}/{name}", str(tmp_path / "copy"))
    assert done.returncode == 0 and done.stdout.count("\n") == 1
    assert "odd\\nname\\x1b[2K" in done.stdout and "\x1b" not in done.stdout
    failed = cp(f"local:{tmp_path}/{name}-none", str(tmp_path / "other"))
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1
    assert "\x1b" not in failed.stderr and "odd\\nname" in failed.stderr
    # files5: the far end's reason was cut at the name's newline ("…: /tmp/odd")
    assert failed.stderr.endswith(f"failed: no such file or directory: {tmp_path}/odd\\nname"
                                  f"\\x1b[2K-none; nothing was kept\n"), failed.stderr


def test_a_name_that_is_no_utf8_is_shown_one_way_on_both_sides(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A local name's bytes showed as `\\udcff`, the far end's as `��` (two names alike), and
    the magic's line printed a newline or an escape raw (ports7): each side `\\xNN`, one line."""
    raw = os.fsdecode(b"bad\xff\xfe\nname\x1b[2K")
    shown = "bad\\xff\\xfe\\nname\\x1b[2K"
    (tmp_path / raw).write_text("x")
    with Orchestrator(load_config_text("environments:\n  local: []\naudit: {enabled: false}\n"
                                       )) as orch:
        (tmp_path / "into").mkdir()
        done = orch.put("local", str(tmp_path / raw), str(tmp_path / "into") + "/")
        assert done.destination == f"{tmp_path}/into/{raw}"  # the name itself, as data
        assert str(done).startswith(f"put file {tmp_path}/{shown} → local:{tmp_path}/into/"
                                    f"{shown}: ")
        assert "\n" not in str(done) and "\x1b" not in str(done)
        with pytest.raises(TransferError) as err:
            orch.get("local", str(tmp_path / raw) + "-none", str(tmp_path / "got"))
    assert str(err.value) == (f"get local:{tmp_path}/{shown}-none → {tmp_path}/got failed: no "
                              f"such file or directory: {tmp_path}/{shown}-none; nothing was "
                              f"kept")


@pytest.mark.parametrize("where", ["start", "update", "finish"])
def test_a_progress_object_that_raises_is_told_no_more_and_the_copy_goes_on(  # type: ignore[no-untyped-def]
        tmp_path, caplog, where) -> None:
    """files5: a get whose progress raised said "received 0 of 400000000 bytes" (bytes lost on
    the way, it read), a put the bare RuntimeError, and one raising in finish kept the copy
    with only that RuntimeError said."""
    class Raising:
        def start(self, label: str, total: int | None) -> None:
            if where == "start":
                raise RuntimeError("boom")

        def update(self, done: int) -> None:
            if where == "update":
                raise RuntimeError("boom")

        def finish(self, ok: bool) -> None:
            if where == "finish":
                raise RuntimeError("boom")

    (tmp_path / "src").write_bytes(os.urandom(3_000_000))
    with Orchestrator(load_config_text("environments:\n  local: []\naudit: {enabled: false}\n"
                                       )) as orch:
        got = orch.get("local", str(tmp_path / "src"), str(tmp_path / "got"), progress=Raising())
        sent = orch.put("local", str(tmp_path / "src"), str(tmp_path / "sent"),
                        progress=Raising())
    assert got.bytes == sent.bytes == 3_000_000
    assert (tmp_path / "got").read_bytes() == (tmp_path / "sent").read_bytes() == \
        (tmp_path / "src").read_bytes()
    then = "which has ended" if where == "finish" else "which goes on"  # (review44)
    assert [r.getMessage() for r in caplog.records if "progress" in r.getMessage()] == [
        f"the progress= object raised RuntimeError: boom; it is told no more of this copy, "
        f"{then}"] * 2


def test_a_copy_that_fails_before_it_begins_tells_its_progress_nothing(tmp_path: Path) -> None:
    """review44: a get of a missing file, a put into a missing folder called `finish(False)`
    with no `start`: a bar made in `start` raised, and the warning said the failed copy went on."""
    calls: list[str] = []

    class Told:
        def start(self, label: str, total: int | None) -> None:
            calls.append("start")

        def update(self, done: int) -> None:
            calls.append("update")

        def finish(self, ok: bool | None) -> None:
            calls.append(f"finish {ok}")

    (tmp_path / "src").write_bytes(b"x" * 1000)
    with Orchestrator(load_config_text("environments:\n  local: []\naudit: {enabled: false}\n"
                                       )) as orch:
        with pytest.raises(TransferError, match="no such file or directory"):
            orch.get("local", str(tmp_path / "none"), str(tmp_path / "got"), progress=Told())
        with pytest.raises(TransferError):
            orch.put("local", str(tmp_path / "src"), str(tmp_path / "no" / "dir" / "x"),
                     progress=Told())
        assert calls == []
        orch.get("local", str(tmp_path / "src"), str(tmp_path / "got"), progress=Told())
    assert calls[0] == "start" and calls[-1] == "finish True", calls


@pytest.mark.parametrize("dest", ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1", "OUT", "."])
def test_a_get_into_the_file_its_own_output_goes_to_is_refused(tmp_path, dest) -> None:  # type: ignore[no-untyped-def]
    """api4: `{ orch cp ENV:F /dev/stdout; echo end; } > out` renamed the copy over `out`:
    "end" went to the deleted file the shell still held, and was lost."""
    import sys

    cfg = tmp_path / "orch.yaml"
    cfg.write_text(f"environments:\n  local: {{layers: []}}\naudit: {{path: {tmp_path}/a.jsonl}}\n")
    (tmp_path / "far").mkdir()
    (tmp_path / "far" / "out").write_text("remote\n")
    out = tmp_path / "out"  # `.`: the copy of far/out would land on it (review13)
    script = (f"echo start; {sys.executable} -m orch_magics.cli -c {cfg} cp "
              f"local:{tmp_path}/far/out {out if dest == 'OUT' else dest}; echo rc=$? end")
    subprocess.run(["sh", "-c", f"{{ {script}; }} > {out} 2>&1"], check=True, timeout=60,
                   cwd=tmp_path)
    said = out.read_text().splitlines()
    assert said[0] == "start" and said[-1] == "rc=1 end", said
    assert said[1].endswith("is this process's standard input, output or error (a redirect's "
                            "file): a get would replace it, and what is written there after it "
                            "would be lost; to read a remote file into it, use `orch run ENV -- "
                            "cat PATH`"), said


@pytest.mark.parametrize("folder_owner", [0, 65534])
async def test_a_link_another_user_left_in_a_shared_folder_is_never_followed(  # type: ignore[no-untyped-def]
        orch, far, tmp_path, folder_owner) -> None:
    """Written through, a link that user `nobody` left in a folder like /tmp aimed a copy by
    root at any file (the kernel's protected_symlinks rule, which cp obeys, never applied:
    the link was resolved to a path and renamed onto). files5: also in a shared folder
    `nobody` owns, which that rule exempts."""
    folder = Path(await far.folder("loop", f"shared-links-{folder_owner}"))  # shares this disk
    shared = folder / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    os.chown(shared, folder_owner, folder_owner)
    victim = folder / "victim.conf"
    victim.write_text("precious\n")
    for name in ("report", "got"):
        os.symlink(victim, shared / name)
        os.lchown(shared / name, 65534, 65534)
    src = tmp_path / "report"
    src.write_text("sent\n")
    sent = await orch.aput("loop", str(src), f"{shared}/report")
    assert sent.destination == f"{shared}/report"
    await orch.aget("loop", str(src), str(shared / "got"))
    assert victim.read_text() == "precious\n"
    assert [(p.name, p.is_symlink(), p.read_text()) for p in sorted(shared.iterdir())] == [
        ("got", False, "sent\n"), ("report", False, "sent\n")]



async def test_a_folder_link_another_user_left_in_a_shared_folder_is_never_copied_into(  # type: ignore[no-untyped-def]
        orch, far, tmp_path) -> None:
    """A link to a folder that `nobody` left in /tmp-like folders took a get or put by root
    into the folder it names (held-out tester transfer2); so did such a link on the way."""
    folder = Path(await far.folder("loop", "shared-folder-links"))  # shares this disk
    shared = folder / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    victim = folder / "victim"
    victim.mkdir()
    (victim / "app.conf").write_text("precious\n")
    (victim / "sub").mkdir()
    os.symlink(victim, shared / "report")
    os.lchown(shared / "report", 65534, 65534)
    src = tmp_path / "app.conf"
    src.write_text("sent\n")
    said = f"not copying through {shared}/report: a link another user left in the shared folder"
    with pytest.raises(TransferError, match=said):
        await orch.aput("loop", str(src), f"{shared}/report")
    said = (f"not copying through {shared}/report: a link to {victim} that user nobody left in "
            f"the shared folder {shared}")
    for local in (f"{shared}/report", f"{shared}/report/", f"{shared}/report/app.conf"):
        with pytest.raises(TransferError, match=said):
            await orch.aget("loop", str(src), local)
    said = f"not copying through {shared}/report: a link another user left in the shared folder"
    for remote_path in (f"{shared}/report/new.conf", f"{shared}/report/sub/"):  # review11
        with pytest.raises(TransferError, match=said):
            await orch.aput("loop", str(src), remote_path)
    assert sorted(p.name for p in victim.rglob("*")) == ["app.conf", "sub"]
    assert (victim / "app.conf").read_text() == "precious\n"
    os.lchown(shared / "report", os.geteuid(), os.getegid())  # one's own link is followed
    await orch.aget("loop", str(src), f"{shared}/report")
    assert (victim / "app.conf").read_text() == "sent\n"

async def test_a_replaced_file_keeps_its_owner_and_mode_on_either_side(  # type: ignore[no-untyped-def]
        orch, far, tmp_path) -> None:
    """A config pushed over a 0600 secret became root's and world-readable (0644): the
    rename put the new file's owner and mode in its place. cp and scp keep the old ones;
    a new file still gets the source's mode."""
    src = tmp_path / "new.conf"
    src.write_text("new secret\n")
    src.chmod(0o644)
    folder = Path(await far.folder("loop", "replaced"))  # loop's far end shares this disk
    for existing in (folder / "app.conf", tmp_path / "here.conf"):
        existing.write_text("old secret\n")
        os.chown(existing, 65534, 65534)
        existing.chmod(0o600)
    await orch.aput("loop", str(src), f"{folder}/app.conf")
    await orch.aget("loop", str(src), str(tmp_path / "here.conf"))
    await orch.aput("loop", str(src), f"{folder}/fresh.conf")
    for path in (folder / "app.conf", tmp_path / "here.conf"):
        info = path.stat()
        assert path.read_text() == "new secret\n"
        assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o600, 65534, 65534)
    assert stat.S_IMODE((folder / "fresh.conf").stat().st_mode) == 0o644


async def test_a_dangling_link_is_never_replaced_on_either_side(orch, far, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """It was silently replaced by a regular file; cp refuses to write through it."""
    src = tmp_path / "f"
    src.write_text("data\n")
    folder = Path(await far.folder("loop", "dangling"))
    (folder / "dangle").symlink_to("/nonexistent/zz")
    (tmp_path / "dangle").symlink_to("/nonexistent/zz")
    with pytest.raises(TransferError, match=f"not writing through the dangling link "
                                            f"{folder}/dangle; nothing was kept"):
        await orch.aput("loop", str(src), f"{folder}/dangle")
    with pytest.raises(TransferError, match=f"not writing through the dangling link "
                                            f"{tmp_path}/dangle"):
        await orch.aget("loop", str(src), str(tmp_path / "dangle"))
    for link in (folder / "dangle", tmp_path / "dangle"):
        assert os.readlink(link) == "/nonexistent/zz"
    assert sorted(os.listdir(folder)) == ["dangle"]
    assert sorted(os.listdir(tmp_path)) == ["dangle", "f"]


async def test_a_local_path_with_a_tilde_is_this_users_home(  # type: ignore[no-untyped-def]
        orch, tmp_path, monkeypatch) -> None:
    """A notebook has no shell to expand `~`: `put ~/f` said no such file and `get … ~/x`
    made a folder named `~` in the working directory."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f").write_text("home\n")
    sent = await orch.aput("loop", "~/f", f"{tmp_path}/sent")
    got = await orch.aget("loop", f"{tmp_path}/sent", "~/got")
    assert (sent.source, got.destination) == (f"{tmp_path}/f", f"{tmp_path}/got")
    assert (tmp_path / "got").read_text() == "home\n" and not (tmp_path / "~").exists()


async def test_a_progress_that_is_not_one_is_refused_before_anything_runs(  # type: ignore[no-untyped-def]
        orch, tmp_path) -> None:
    with pytest.raises(TransferError) as err:
        await orch.aget("loop", "/etc/hostname", str(tmp_path / "h"), progress=5)
    assert str(err.value) == ("progress= takes an object with start, update and finish "
                              "methods; int has no start, update, finish")
    assert os.listdir(tmp_path) == []


async def test_far_names_that_start_with_a_dash_are_names_not_options(  # type: ignore[no-untyped-def]
        orch, tmp_path, monkeypatch) -> None:
    """A relative far path starts at the far working directory (here: this test's). Before,
    a put into `-dd/` failed with "cannot write in -dd": mktemp took the name for options."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-dd").mkdir()
    (tmp_path / "f.txt").write_text("one\n")
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "-x").write_text("two\n")
    await orch.aput("here", str(tmp_path / "f.txt"), "-dd/")
    await orch.aput("here", str(tmp_path / "f.txt"), "-dd/-g.txt")
    await orch.aput("here", str(tmp_path / "tree"), "-dd/-tree")
    assert (tmp_path / "-dd" / "f.txt").read_text() == "one\n"
    assert (tmp_path / "-dd" / "-g.txt").read_text() == "one\n"
    assert (tmp_path / "-dd" / "-tree" / "-x").read_text() == "two\n"
    await orch.aget("here", "-dd/-tree", str(tmp_path / "back"))
    assert (tmp_path / "back" / "-x").read_text() == "two\n"
    assert sorted(p.name for p in (tmp_path / "-dd").iterdir()) == ["-g.txt", "-tree", "f.txt"]


class Total:
    """A progress that keeps the total a copy announced."""

    total: int | None = None

    def start(self, label: str, total: int | None) -> None:
        self.total = total

    def update(self, done: int) -> None:
        pass

    def finish(self, ok: bool) -> None:
        pass


async def test_a_put_of_a_file_being_written_sends_it_as_it_was_when_it_began(  # type: ignore[no-untyped-def]
        orch, far, tmp_path) -> None:
    """Before, a put read to the end of file: a log written to meanwhile kept the copy
    going, past its announced total ("100% 630 MB/130 MB"), for as long as its writer kept
    up, and over a slow hop for ever. A get already sent the size the file had (as scp)."""
    log = tmp_path / "busy.log"
    log.write_bytes(os.urandom(4 << 20))
    stop = threading.Event()

    def writer() -> None:
        with open(log, "ab") as f:
            while not stop.is_set():
                f.write(os.urandom(256 << 10))
                f.flush()
                time.sleep(0.005)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    folder = await far.folder("loop", "busy")  # loop's far end shares this disk
    progress = Total()
    try:
        sent = await orch.aput("loop", str(log), f"{folder}/busy.log", progress=progress)
    finally:
        stop.set()
        thread.join()
    got = (Path(folder) / "busy.log").read_bytes()
    assert progress.total is not None and len(got) == sent.bytes == progress.total
    assert got == log.read_bytes()[:len(got)]


async def test_folder_puts_racing_to_one_destination_never_nest(orch: Orchestrator,
                                                                tmp_path: Path) -> None:
    """Six puts of one folder at once (a retry, two notebooks): each checked that the
    destination was absent, then `mv -f TEMP/data DEST` moved a later copy *into* the folder
    an earlier one had just made (DEST/data), and both said they copied to DEST (tester
    transfer2: within a few rounds). Now exactly one lands at DEST; the others say it exists,
    or (started after it had landed, on a loaded machine) copy into it, as `cp -r` does."""
    src = tmp_path / "tree"
    src.mkdir()
    (src / "f").write_text("x\n")
    for round_ in range(10):
        dest = tmp_path / f"dest{round_}"
        results = await asyncio.gather(*(orch.aput("here", str(src), str(dest))
                                         for _ in range(6)), return_exceptions=True)
        found = sorted(str(p.relative_to(dest)) for p in dest.rglob("*"))
        assert found in (["f"], ["f", "tree", "tree/f"]), (round_, found)
        refused = [str(r) for r in results if isinstance(r, TransferError)]
        assert all(f"already exists: {dest}" in r for r in refused), results
        landed = [r.destination for r in results if not isinstance(r, BaseException)]
        assert landed.count(str(dest)) == 1 and len(landed) + len(refused) == 6, results
    assert not [p for p in tmp_path.iterdir() if ".orch-" in p.name]


async def test_a_folder_got_into_itself_never_carries_the_copy_in_progress(
        orch: Orchestrator, tmp_path: Path) -> None:
    """`orch cp here:/x/d /x/d/` (a far end sharing this disk): tar read the folder while the
    get unpacked beside its destination, inside it, and the copy kept an empty
    `.d.orch-get-…` folder for good (tester transfer2). Through this machine's own chain it
    is refused before anything runs, as `cp -r` refuses it (files13: it was copied, nested);
    through ssh to this machine, whether tar lists the folder before or after the copy's
    temporary one is made is a race: the copy is whole, or refused."""
    d = tmp_path / "d"
    d.mkdir()
    (d / "big").write_bytes(os.urandom(3_000_000))
    (d / "small").write_text("s\n")
    for how in ("get", "put"):
        with pytest.raises(TransferError, match=f"the folder would be copied into itself: "
                                                f"{d}/d is inside {d}; nothing was copied"):
            await getattr(orch, "a" + how)("here", str(d), f"{d}/")
    for _ in range(6):
        try:
            await orch.aget("loop", str(d), f"{d}/")
            assert sorted(p.name for p in (d / "d").iterdir()) == ["big", "small"]
            shutil.rmtree(d / "d")
        except TransferError as exc:
            assert "the folder would be copied into itself" in str(exc), exc
        assert sorted(p.name for p in d.iterdir()) == ["big", "small"]  # nothing left behind


def test_a_missing_name_with_a_carriage_return_is_said_whole(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The far end's reason was cut at the \\r: `no such file or directory: …/missing-cr`
    (notebook7)."""
    with Orchestrator(load_config_text("environments:\n  local: []\naudit: {enabled: false}\n"
                                       )) as orch, pytest.raises(TransferError) as err:
        orch.get("local", f"{tmp_path}/missing-cr\rret", str(tmp_path / "got"))
    assert str(err.value).endswith(f"no such file or directory: {tmp_path}/missing-cr\\rret; "
                                   f"nothing was kept"), str(err.value)


def test_a_gets_progress_is_told_its_destination_on_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The bar of a get was labelled with the raw local name: a newline split it, an escape
    reached the terminal (notebook7); a put's label was escaped already. It names both ends,
    as a put's does (browser15)."""
    labels: list[str] = []

    class Seen:
        def start(self, label: str, total: int | None) -> None:
            labels.append(label)

        def update(self, done: int) -> None:
            pass

        def finish(self) -> None:
            pass

    (tmp_path / "src").write_text("x")
    dest = tmp_path / "got\nname\x1b[2K"
    with Orchestrator(load_config_text("environments:\n  local: []\naudit: {enabled: false}\n"
                                       )) as orch:
        orch.get("local", str(tmp_path / "src"), str(dest), progress=Seen())
    assert labels == [f"local:{tmp_path}/src → {tmp_path}/got\\nname\\x1b[2K"]


def test_a_proc_path_that_is_no_open_file_gets_its_own_error(tmp_path: Path) -> None:
    """basics10: `/proc/1/x` was refused as "this process's standard input, output or error":
    any /proc path was taken for one. It is a folder nothing can be written in."""
    import sys

    cfg = tmp_path / "orch.yaml"
    cfg.write_text(f"environments:\n  local: {{layers: []}}\naudit: {{path: {tmp_path}/a.jsonl}}\n")
    done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "cp",
                           "local:/etc/hostname", "/proc/1/x"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "standard input" not in done.stderr, done.stderr
    assert "cannot write in /proc/1" in done.stderr and "nothing was kept" in done.stderr


@pytest.mark.parametrize("env", ["loop", "here"])
async def test_a_file_where_a_folder_is_needed_is_said_to_be_one(orch, far, tmp_path,  # type: ignore[no-untyped-def]
                                                                 env) -> None:
    """files9: `F/` and `F/x`, F a file, were "no such file or directory" / "no such
    directory" (a path the user can see, said to be missing), on either side."""
    folder = Path(await far.folder(env, "not-a-dir"))
    (folder / "f").write_text("far\n")  # both far ends share this disk
    (tmp_path / "here").write_text("here\n")
    for far_path in (f"{folder}/f/", f"{folder}/f/x"):
        with pytest.raises(TransferError, match=f"not a directory: {folder}/f; nothing was kept"):
            await orch.aget(env, far_path, str(tmp_path / "got"))
        with pytest.raises(TransferError, match=f"not a directory: {folder}/f; nothing was kept"):
            await orch.aput(env, str(tmp_path / "here"), far_path)
    for local in ("here/", "here/x"):
        with pytest.raises(TransferError, match=f"not a directory: {tmp_path / 'here'}$"):
            await orch.aget(env, f"{folder}/f", f"{tmp_path}/{local}")
    assert sorted(p.name for p in folder.iterdir()) == ["f"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here"]


def test_the_audit_trail_says_a_copy_failed_on_this_side(tmp_path: Path, small_disk: Path
                                                         ) -> None:
    """files10: a get that failed here (a full disk, a sha256 mismatch) was recorded as the far
    end's script ended, `exit 0`, or `interrupted` when the copy stopped it for its error, and
    `orch audit --failed` did not list it."""
    from orch_magics.audit import AuditLog, verify
    from orch_magics.audit.query import audited_runs, runs
    from orch_magics.config.model import AuditSettings

    log = tmp_path / "audit.jsonl"
    src = tmp_path / "big"
    src.write_bytes(os.urandom(3_000_000))
    with Orchestrator(load_config_text(f"environments:\n  here: {{layers: []}}\n"
                                       f"audit: {{path: {log}}}\n")) as orch:
        with pytest.raises(TransferError, match="No space left on device"):
            orch.get("here", str(src), str(small_disk))
    (run,) = runs(AuditLog(str(log)).records())
    assert run.failed and run.end is not None and "No space left on device" in run.end["error"]
    assert run.row()[4].startswith("failed: cannot write"), run.row()
    assert verify(str(log)) == (3, None)  # start, the script's end, the copy's: a whole chain
    # review22: the later end updates the first, read from either end of the log: the row
    # keeps the script's duration, `--json` its exit and output digest
    (newest,) = audited_runs(AuditSettings(path=str(log)), last=1)
    for read in (run, newest):
        assert read.row()[5].endswith("s") and read.row()[4] == run.row()[4], read.row()
        assert read.end is not None and "exit_code" in read.end and read.end["stdout_bytes"] > 0


def test_a_relative_far_path_is_read_from_the_layers_working_dir(tmp_path: Path) -> None:
    """review27: the check of a folder copied into itself read `d/` from this process's
    working directory, and refused a put the layer's working_dir sends elsewhere."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_text("a\n")
    (tmp_path / "w" / "d").mkdir(parents=True)
    orch = Orchestrator(load_config_text(
        f"environments:\n  w: [{{type: local, config: {{working_dir: '{tmp_path / 'w'}'}}}}]\n"
        "audit: {enabled: false}\n"))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        orch.put("w", "d", "d/")
    finally:
        os.chdir(cwd)
        orch.close()
    assert (tmp_path / "w" / "d" / "d" / "a").read_text() == "a\n"


def test_a_missing_relative_far_path_says_the_folder_it_was_looked_for_in(
        tmp_path: Path) -> None:
    """kinds18: a get of a relative path that is missing said 'no such file or directory:
    k18.txt', though the folder it is read from is not always the one the user thinks (through
    sudo without login: orch's own); a put's error names it."""
    orch = Orchestrator(load_config_text(
        f"environments:\n  w: [{{type: local, config: {{working_dir: '{tmp_path}'}}}}]\n"
        "audit: {enabled: false}\n"))
    try:
        with pytest.raises(TransferError) as err:
            orch.get("w", "k18.txt", str(tmp_path / "got"))
    finally:
        orch.close()
    assert f"no such file or directory: k18.txt (in {tmp_path}, the working directory)" in \
        str(err.value), err.value


class MovesAway(Recorded):
    """A progress that changes the process's folder once bytes have come (as a `%cd` in the
    next cell does while a background get runs)."""

    def __init__(self, to: Path) -> None:
        super().__init__()
        self.to = to

    def update(self, done: int) -> None:
        super().update(done)
        os.chdir(self.to)


@pytest.mark.parametrize("folder", [False, True], ids=["file", "folder"])
def test_a_relative_get_lands_where_it_was_asked_if_the_folder_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: bool) -> None:
    """files15: a get to `report.csv` landed in the folder the process was in when the copy
    ended: a `%cd` during a background get replaced the other folder's `report.csv` (the
    checks had been made against the first). It lands in the folder it was asked from."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "report.csv").write_text("precious\n")
    source = tmp_path / "src"
    if folder:
        source.mkdir()
        (source / "report.csv").write_bytes(b"x" * 3_000_000)
    else:
        source.write_bytes(b"x" * 3_000_000)
    monkeypatch.chdir(tmp_path / "a")
    with Orchestrator(load_config_text("environments:\n  here: {layers: []}\n")) as orch:
        got = orch.get("here", str(source), "report.csv" if not folder else "copy",
                       progress=MovesAway(tmp_path / "b"))
    landed = tmp_path / "a" / ("copy/report.csv" if folder else "report.csv")
    assert landed.stat().st_size == 3_000_000 and str(tmp_path / "a") in str(got)
    assert (tmp_path / "b" / "report.csv").read_text() == "precious\n"
    assert sorted(os.listdir(tmp_path / "b")) == ["report.csv"]


def test_a_get_never_replaces_the_files_orch_itself_keeps(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """review30: `get` (and `orch cp`) to the audit log's path replaced the whole audit trail,
    and every later run was refused, as a stdout_file naming it did (config16). Refused, as
    for the secrets file and the config, before anything is copied."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "src.txt").write_text("not a log\n")
    (tmp_path / "sec.yaml").write_text("tok: x\n")
    (tmp_path / "sec.yaml").chmod(0o600)
    (tmp_path / "orch.yaml").write_text(
        "environments: {here: []}\nsecrets: {providers: [file], file: sec.yaml}\n"
        "audit: {path: audit.jsonl}\n")
    from orch_magics import load_config
    with Orchestrator(load_config(tmp_path / "orch.yaml")) as orch:
        orch.run("here", command="true")
        trail = (tmp_path / "audit.jsonl").read_bytes()
        for name, what in (("audit.jsonl", "the audit log"), ("sec.yaml", "the secrets file"),
                           ("orch.yaml", "a config file")):
            with pytest.raises(TransferError) as err:
                orch.get("here", str(tmp_path / "src.txt"), name)
            assert str(err.value) == (f"{tmp_path / name} is {what}: the copy would replace "
                                      f"it; name another file")
        with pytest.raises(TransferError) as err:  # review31: a put on this disk too
            orch.put("here", str(tmp_path / "src.txt"), str(tmp_path / "orch.yaml"))
        assert str(err.value) == (f"{tmp_path / 'orch.yaml'} is a config file: the copy would "
                                  f"replace it; name another file")
    cli = subprocess.run([sys.executable, "-m", "orch_magics.cli", "cp",
                          f"here:{tmp_path / 'src.txt'}", "audit.jsonl"],
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode != 0 and "is the audit log: the copy would replace it" in cli.stderr
    assert (tmp_path / "audit.jsonl").read_bytes().startswith(trail)
    assert (tmp_path / "sec.yaml").read_text() == "tok: x\n"


def test_a_relative_get_from_a_folder_that_is_gone_says_so(tmp_path: Path) -> None:
    """magics16: with the working directory removed, `get ENV REMOTE ./x` (or no LOCAL) was
    a FileNotFoundError traceback in a cell, "internal error" from `orch cp`."""
    gone = tmp_path / "gone"
    gone.mkdir()
    (tmp_path / "src.txt").write_text("x\n")
    (tmp_path / "orch.yaml").write_text("environments: {here: []}\naudit: {enabled: false}\n")
    said = "the working directory no longer exists, so a relative local path names nothing"
    for args in (["./x"], ["."]):
        cli = subprocess.run(
            ["sh", "-c", 'd=$1; shift; cd "$d" && rmdir "$d" && exec "$@"', "sh", str(gone), sys.executable,
             "-m", "orch_magics.cli", "-c", str(tmp_path / "orch.yaml"), "cp",
             f"here:{tmp_path / 'src.txt'}", *args], capture_output=True, text=True, timeout=60)
        gone.mkdir()
        assert cli.returncode == 1 and said in cli.stderr, cli.stderr
        assert "internal error" not in cli.stderr and "Traceback" not in cli.stderr


def test_a_put_named_relative_or_by_home_never_replaces_orchs_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """files16: the put's check read absolute paths only: `orch cp other.yaml here:orch.yaml`
    from the config's folder replaced it, so did a relative path through a local layer's
    working_dir, and `here:~/…/audit.jsonl` replaced the whole trail; `orch cp d here:d/`
    nested `d/d`, where an absolute path and `cp -r` refuse. Nothing is copied."""
    home, work = tmp_path / "home", tmp_path / "work"
    (home / "state").mkdir(parents=True)
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "other.yaml").write_text("environments: {evil: []}\n")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("x\n")
    cfg = tmp_path / "orch.yaml"
    cfg.write_text("environments:\n  here: []\n"
                   f"  there: [{{type: local, config: {{working_dir: {tmp_path}}}}}]\n"
                   "audit: {path: state/audit.jsonl}\n".replace("state/", f"{home}/state/"))
    from orch_magics import load_config
    with Orchestrator(load_config(cfg)) as orch:
        orch.run("here", command="true")
        before = {p: p.read_bytes() for p in (cfg, home / "state" / "audit.jsonl")}
        for env, remote, what in (("here", "orch.yaml", "a config file"),
                                  ("there", "orch.yaml", "a config file"),
                                  ("here", "./", "a config file"),
                                  ("here", "~/state/audit.jsonl", "the audit log")):
            with monkeypatch.context() as inside:
                inside.chdir(work if env == "there" else tmp_path)
                with pytest.raises(TransferError, match=f" is {what}: the copy would replace"):
                    source = tmp_path / ("orch.yaml" if remote == "./" else "other.yaml")
                    orch.put(env, str(source), remote)
        with pytest.raises(TransferError, match="the folder would be copied into itself"):
            orch.put("here", "d", "d/")
        for where in (".", str(tmp_path)):  # review33: d itself was said to be inside d
            with pytest.raises(TransferError, match=f"^{tmp_path}/d is d itself: it is there "
                                                    f"already; nothing was copied$"):
                orch.put("here", "d", where)
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(os.listdir(tmp_path / "d")) == ["f"]


def test_a_got_folder_drops_setgid_on_its_top_folder_as_on_those_inside(tmp_path: Path) -> None:
    """files16: a folder of mode 2775 holding one of 2755 landed as 2775 over 755: the tar
    filter dropped setuid/setgid inside, and the top folder's mode was set unmasked."""
    far = tmp_path / "sg"
    (far / "sub").mkdir(parents=True)
    (far / "sub" / "f").write_text("x\n")
    far.chmod(0o2775)
    (far / "sub").chmod(0o2755)
    with Orchestrator(load_config_text("environments:\n  here: {layers: []}\n")) as orch:
        orch.get("here", str(far), str(tmp_path / "got"))
    modes = {p: oct((tmp_path / "got" / p).stat().st_mode & 0o7777) for p in ("", "sub")}
    assert modes == {"": "0o775", "sub": "0o755"}


@pytest.mark.parametrize("layers", ["[]", "[{type: local, config: {working_dir: data}}]"],
                         ids=["no-working-dir", "relative-working-dir"])
@pytest.mark.parametrize("direction", ["put", "get"])
def test_a_relative_copy_from_a_folder_that_is_gone_is_one_clear_error(
        tmp_path: Path, layers: str, direction: str) -> None:
    """review32: a put to a relative path on this machine, from a working folder since
    removed, raised FileNotFoundError out of the folder-into-itself check (the CLI's
    "internal error"): it fails as a copy, in one line, as before that check. review33: the
    same with a relative working_dir, and for a get."""
    source = tmp_path / "src.txt"
    source.write_text("x\n")
    gone = tmp_path / "gone"
    gone.mkdir()
    here = os.getcwd()
    with Orchestrator(load_config_text(f"environments:\n  here: {{layers: {layers}}}\n")) as orch:
        os.chdir(gone)
        try:
            gone.rmdir()
            with pytest.raises(TransferError) as err:
                if direction == "put":
                    orch.put("here", str(source), "x/")
                else:
                    orch.get("here", "x/src.txt", str(tmp_path / "got.txt"))
        finally:
            os.chdir(here)
    assert "\n" not in str(err.value) and "x/" in str(err.value), str(err.value)
