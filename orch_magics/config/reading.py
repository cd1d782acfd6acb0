"""Reading a config-like file (a config, an inventory, a secrets file): its UTF-8 text
within a size bound; every way that fails is one line naming the file."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError

#: Largest config file read (a 10 MB file holds ~100,000 services).
MAX_FILE_BYTES = 32 << 20


def read_text(file: str | Path, what: str = "config file", limit: int = MAX_FILE_BYTES, *,
              found: bool = False) -> str:
    """A file's UTF-8 text (without a leading byte-order mark), at most `limit` bytes; every way
    this fails is a one-line ConfigError. A pipe is read (`-c <(make-config)`), and one with
    no writer ends at once (review33: a FIFO hung orch in open for ever); a device is none.
    `found` (a config found in the folder orch runs in, not named): refused when another
    user could have written it (config19), as git does a repository it finds."""
    name = str(file)
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK)  # the open of a FIFO waits for a writer
        with open(fd, "rb") as f:
            st = os.fstat(fd)
            kind = _not_a_file(st.st_mode)
            if kind is not None:
                raise ConfigError(f"{what} is {kind}, not a file", file=name)
            # one named is the person's choice (a mounted checkout, WSL's /mnt/c: review36)
            if found and (why := _others_could_write(st)):
                raise ConfigError(_refusal(what, why), file=name)
            os.set_blocking(fd, True)  # a writer's text is waited for; none: end of file
            data = f.read(limit + 1)
            if not data and stat.S_ISFIFO(os.fstat(fd).st_mode):
                raise ConfigError(f"{what} is a pipe that nothing was written to", file=name)
    except FileNotFoundError:
        raise ConfigError(f"{what} not found", file=name) from None
    except IsADirectoryError:
        raise ConfigError(f"{what} is a directory, not a file", file=name) from None
    except PermissionError:
        raise ConfigError(f"{what} is not readable (permission denied)", file=name) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc}", file=name) from None
    if len(data) > limit:
        raise ConfigError(f"{what} is larger than {limit >> 20} MiB; refusing to read it",
                          file=name)
    try:  # a byte-order mark (Windows editors write one) is no part of the first key
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{what} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                          f"{exc.start})", file=name, line=line) from None


def judged(file: str, what: str) -> None:
    """Refuse `file`, which a config found in the folder orch runs in names (an ssh_config,
    known_hosts, a key, the program that fetches secrets), as that config would be refused
    (safety20: another user's ssh_config ProxyCommand, or secrets script, ran as root); one
    that is missing is said by what reads it."""
    try:
        st = os.stat(file)
    except OSError:
        return
    if (why := _others_could_write(st)) is not None:
        raise ConfigError(_refusal(what, why), file=file)


def judged_command(argv: Sequence[str], folder: str) -> list[str]:
    """`argv` of a found config's secrets command with the files it names in `folder`, the
    config's, as paths (the program given as a path, each argument that is a file there:
    `[sh, get.sh]`), each judged; and the folder refused when another user may add a file to
    it (a script that appears after the load: review39). The command runs in an empty folder
    (`providers`), so nothing it reads of its working folder by convention (`python3 -m
    getpw`, `make`, `node .`) is taken from the config's (review40: nobody's getpw.py in a
    folder of root's ran as root). Asked at the load and again before each run."""
    try:
        st = os.stat(folder)
    except OSError:
        return list(argv)  # gone: the run says so
    if (why := _others_could_write(st, "put a program in it for orch to run as you")) is not None:
        raise ConfigError(_refusal("the folder the secrets provider `command` runs in", why),
                          file=folder)
    named = []
    for i, word in enumerate(argv):
        path = os.path.normpath(os.path.join(folder, word))
        if (i == 0 and "/" in word) or (i > 0 and os.path.isfile(path)):
            judged(path, "a file the secrets provider `command` runs")
            judged_folder(os.path.dirname(path))  # what it imports beside it (review41)
            word = path
        named.append(word)
    return named


def judged_again(origin: Sequence[str]) -> None:
    """Before each run of a found config (its files `origin`): what was added beside it since
    the load is judged too (safety24, magics24: a kernel kept its config, and nobody's
    `proxy.sh` dropped beside it later ran as root at the next connect)."""
    for folder in dict.fromkeys(os.path.dirname(path) for path in origin):
        judged_folder(folder)


#: How deep under a found config's folder, how many entries in all, and how many of each
#: folder `judged_folder` looks at (a package's modules: `lib/pkg/mod.py`; a big
#: `node_modules/` beside `lib/` must not take it all: review43); a bigger tree is judged
#: that far.
FOLDER_DEPTH, FOLDER_ENTRIES, FOLDER_EACH = 6, 20_000, 2_000


def judged_folder(folder: str) -> None:
    """Refuse a found config whose folder (or a folder of a file its secrets command names)
    another user may add to, or holds, at any depth, a file, folder or link another user owns
    or may write, or a link of yours leading to one: what the config runs reads what lies
    beside it by convention (review41, safety23: Python imported nobody's helper.py beside
    getpw.py, an ssh_config's `sh proxy.sh` and `Match exec` ran theirs; review42: from
    `lib/`, and through a link). A socket, a pipe or a device holds no code: not judged."""
    try:
        st = os.stat(folder)
    except OSError:
        return
    if (why := _others_could_write(st, "add a file to it that orch runs as you")) is not None:
        raise ConfigError(_refusal("the folder of the config found here", why), file=folder)
    _judged_tree(folder, st)


def _judged_tree(top: str, top_st: os.stat_result) -> None:
    """Judge what lies under `top` (its stat `top_st`; see `judged_folder`), the nearest first
    (breadth first), into the folders links of yours lead to (review43), each folder once,
    within the FOLDER_* bounds."""
    level, left = [top], FOLDER_ENTRIES
    seen = {(top_st.st_dev, top_st.st_ino)}  # a link back to it: once
    for _ in range(FOLDER_DEPTH):
        below: list[str] = []
        for folder in level:
            try:
                entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
            except OSError:
                continue
            for entry in entries[:FOLDER_EACH]:
                left -= 1
                if left < 0:
                    return
                st = _judged_entry(entry)
                if st is not None and stat.S_ISDIR(st.st_mode) and (
                        key := (st.st_dev, st.st_ino)) not in seen:
                    seen.add(key)
                    below.append(entry.path)
        level = below


def _judged_entry(entry: os.DirEntry[str]) -> os.stat_result | None:
    """Refuse an entry beside a found config another user owns or may write (a link of
    yours: where it leads); its stat (None: nothing that could be run)."""
    try:
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode) and st.st_uid in trusted_owners():
            st = entry.stat()  # a link's own mode is 0777: where a link of yours leads
    except OSError:
        return None  # a link that leads nowhere: nothing there to run
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        return None  # a socket (`app.sock` made under umask 0), a pipe, a device
    if (why := _others_could_write(st, "put code there that orch runs as you")) is not None:
        raise ConfigError(_refusal("beside the config found here: it", why), file=entry.path)
    return st


def _refusal(what: str, why: str) -> str:
    config = what == "config file"
    return (f"{what} {why}; refusing to use it{'' if config else ', as the config found here reads it'} "
            f"(name {'it' if config else 'that config'} with -c, an absolute ORCH_CONFIG or "
            f"%orch load to use it anyway)")


def _others_could_write(st: os.stat_result,
                        could: str = "rewrite it to run anything as you") -> str | None:
    """Why another account could choose what this file (or folder) makes orch run (config19:
    a world-writable orch.yaml of `nobody`'s in a shared folder ran its command as root,
    where a secrets file of theirs was refused), or None: it is yours, or root's, and only
    its owner and group may write it (as OpenSSH and git judge their own config files); a
    sticky bit does not help a folder, in which anyone may still add a file."""
    if st.st_uid not in trusted_owners():
        return (f"belongs to user {owner_name(st.st_uid)}, who could {could}: have it made "
                f"yours, or copy it")
    if st.st_mode & stat.S_IWOTH:
        return (f"may be written by any user (mode {stat.S_IMODE(st.st_mode):04o}), who "
                f"could {could}: chmod o-w it")
    if st.st_mode & stat.S_IWGRP and st.st_gid not in trusted_groups():
        return (f"may be written by group {group_name(st.st_gid)}, which you are not in "
                f"(mode {stat.S_IMODE(st.st_mode):04o}): its members could {could}: chmod "
                f"g-w it")
    return None


def trusted_groups() -> tuple[int, ...]:
    """The groups whose members may write your files: yours (a umask of 002 makes them so),
    and under sudo the invoking user's (`SUDO_GID`); not another group (safety24: a config
    of group nogroup, mode 0664, was rewritten by nobody and ran as root)."""
    sudo = os.environ.get("SUDO_GID", "") if os.geteuid() == 0 else ""
    return (os.getegid(), *os.getgroups(), *((int(sudo),) if sudo.isdigit() else ()))


def group_name(gid: int) -> str:
    """The name of the group `gid` (the number, for one no group has)."""
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def trusted_owners() -> tuple[int, ...]:
    """The accounts whose files are yours: you, root, and under sudo the user who ran it
    (`SUDO_UID`, as git takes it: review37, `sudo orch` in one's own checkout). The one rule
    of a found config's files, the secrets file and the audit log's place (review39: a
    secrets file beside a config of SUDO_UID's was refused while the config was taken)."""
    sudo = os.environ.get("SUDO_UID", "") if os.geteuid() == 0 else ""
    return (os.geteuid(), 0, *((int(sudo),) if sudo.isdigit() else ()))


def owner_name(uid: int) -> str:
    """The name of the account `uid` (the number, for one no account has), as a message says
    a file's owner."""
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _not_a_file(mode: int) -> str | None:
    """What a file of `mode` is when no text can be read from it (None: a file or a pipe)."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):  # /dev/zero was "larger than 32 MiB"
        return "a device"
    return "a socket" if stat.S_ISSOCK(mode) else None


def folders_not_yours(path: str) -> str | None:
    """Why another user could replace, remove or redirect the file at `path` through its
    folder or any folder above it, on the path as written, on the one its links lead to, and
    above each link on the way (as OpenSSH's safe_path walks a key's realpath; safety21: a
    0777 grandparent let another user swap the log's folder for a link of theirs; review40:
    a link of yours into such a tree was trusted): one they own, one anyone may write with no
    sticky bit (as /tmp has), or a symbolic link of theirs on the way, or at `path` itself.
    The audit log's place and the secrets file's (safety22: a link of nobody's made staging
    read prod's secrets)."""
    with contextlib.suppress(OSError):
        link = os.lstat(path)
        if stat.S_ISLNK(link.st_mode) and link.st_uid not in trusted_owners():
            return f"is a symbolic link of user {owner_name(link.st_uid)}'s"
    starts = {os.path.dirname(os.path.abspath(path)): "is in",
              os.path.dirname(os.path.realpath(path)): "is in"}
    for folder in _traversed(path):
        starts.setdefault(folder, "is reached through")
    for folder, lead in starts.items():
        here = folder
        while True:
            if (why := _place_not_yours(here)) is not None:
                return f"{lead} {folder}, {why}" if here == folder else \
                    f"{lead} {folder}, under {here}, {why.removeprefix('which ')}"
            if (parent := os.path.dirname(here)) == here:
                break
            here = parent
    return None


def _traversed(path: str) -> list[str]:
    """The folders a name is looked up in on the way to `path` once a symbolic link was met
    (40 links at most, as the kernel follows), `..` taken where the link led: whoever may
    rename an entry in one chooses where the path leads (safety23: `sub/../../x`, `sub` a
    link into a 0777 folder, went through it unseen by the written and the real path)."""
    folders: list[str] = []  # not abspath: `sub/..` is where `sub` leads, then up
    try:  # an absolute path needs no working folder (it may be gone: an error of its own)
        pending, here = os.path.join(os.getcwd() if path[:1] != "/" else "/",
                                     path).split("/")[1:], "/"
    except OSError:
        return []
    links = 0
    for _ in range(4096):
        if not pending:
            break
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if links and part != "..":
            folders.append(here)
        step = os.path.join(here, part) if part != ".." else os.path.dirname(here)
        if part != ".." and os.path.islink(step) and links < 40:
            links += 1
            folders.append(here)
            with contextlib.suppress(OSError):
                target = os.readlink(step)
                here = "/" if target.startswith("/") else here
                pending[:0] = target.split("/")
                continue
        here = step
    return list(dict.fromkeys(folders))


def _place_not_yours(folder: str) -> str | None:
    """Why another user could replace or redirect `folder` (None: missing, or ours)."""
    try:
        link, st = os.lstat(folder), os.stat(folder)
    except OSError:
        return None
    if stat.S_ISLNK(link.st_mode) and link.st_uid not in trusted_owners():
        return f"which is a symbolic link of user {owner_name(link.st_uid)}'s"
    if st.st_uid not in trusted_owners():
        return f"which belongs to user {owner_name(st.st_uid)}"
    if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
        return (f"which any user may write (mode {stat.S_IMODE(st.st_mode):04o}, no sticky "
                f"bit)")
    if st.st_mode & stat.S_IWGRP and not st.st_mode & stat.S_ISVTX and (
            st.st_gid not in trusted_groups()):  # safety24: a member removed the log
        return (f"which group {group_name(st.st_gid)} may write, which you are not in (mode "
                f"{stat.S_IMODE(st.st_mode):04o}, no sticky bit)")
    return None
