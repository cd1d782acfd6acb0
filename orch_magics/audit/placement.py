"""Whether the audit log's place is its writer's own: the file, a symbolic link at its path
and the folder it is in. Another user who owns or may write any of them can rewrite the chain
so that `verify` still passes, or, by a link, have the log created wherever they like
(safety14: a log of theirs; safety20: a link of theirs in their folder made root create a
file it pointed at)."""

from __future__ import annotations

import os
import stat

from ..config.reading import folders_not_yours, owner_name, trusted_owners
from ..errors import OrchError

#: How the log is opened to append: created 0600 when missing; O_NONBLOCK, so a FIFO put
#: there since cannot hang the open (a regular file ignores it).
_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK


def open_log(path: str) -> int:
    """The log opened to append, after its folder and a link at its path are found to be
    its writer's: a link of another user's is never followed, nor one put there since."""
    try:
        link = os.lstat(path)
    except FileNotFoundError:
        link = None
    follow = link is not None and stat.S_ISLNK(link.st_mode)
    if link is not None and follow and link.st_uid not in trusted_owners():
        raise OrchError(f"the audit log {path} is a symbolic link of user "
                        f"{owner_name(link.st_uid)}'s, who could point it at any file: "
                        f"nothing was written to it; name a log of your own "
                        f"(audit: {{path: …}})")
    check_place(path)
    return os.open(path, _FLAGS | (0 if follow else os.O_NOFOLLOW), 0o600)


def check_place(path: str) -> None:
    """Refuse a log whose folders, or any above them, another user could replace, redirect
    or write; asked before a missing one is made too (safety24: folders were made through
    another user's link, as root, before the place was refused)."""
    if (why := folders_not_yours(path)) is not None:
        raise OrchError(f"the audit log {path} {why}: nothing was written to it; name a log "
                        f"in a folder of your own (audit: {{path: …}})")


def check_owner(path: str, uid: int) -> None:
    """A log another user owns could be read and rewritten by them."""
    if uid != os.geteuid():
        raise OrchError(f"the audit log {path} belongs to user {owner_name(uid)}, who could "
                        f"read and rewrite it: nothing was written to it; name a log of your "
                        f"own (audit: {{path: …}}), or have it made yours")


def not_yours(path: str) -> str | None:
    """Why another user could have rewritten the log at `path` (its chain then proves
    nothing against them: `orch audit verify` says so), or None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if st.st_uid not in trusted_owners():  # root's (a system log `sudo orch` writes): the
        return f"belongs to user {owner_name(st.st_uid)}"  # verifier trusts root anyway
    if st.st_mode & 0o022:
        return f"may be written by others (mode {stat.S_IMODE(st.st_mode):04o})"
    return folders_not_yours(path)
