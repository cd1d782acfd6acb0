"""Links another user left in a shared folder: a local copy never goes through one.

The kernel's `fs.protected_symlinks` rule, kept by orch itself (the setting can be off) and
without its exemption of the folder's owner: a link in a sticky world-writable folder such
as /tmp that this user does not own could aim a copy at any place this user may write.
"""

from __future__ import annotations

import os
import pwd
import stat

from .model import TransferError


def left_by_another(path: str) -> bool:
    """`path` is a link another user left in a sticky world-writable folder. Unlike the
    kernel's protected_symlinks rule, a link of the folder's owner counts too (files5: a
    user's own 1777 folder aimed root's copy at any file)."""
    if not os.path.islink(path):
        return False
    owner = os.lstat(path).st_uid
    folder = os.stat(os.path.dirname(os.path.abspath(path)))
    shared = folder.st_mode & stat.S_ISVTX and folder.st_mode & stat.S_IWOTH
    return bool(shared) and owner != os.geteuid()


def refuse_folders_through_them(path: str) -> None:
    """Refuse `path` when a folder on the way to it (itself included) is such a link."""
    parts = os.path.abspath(path).split(os.sep)
    for end in range(2, len(parts) + 1):
        place = os.sep.join(parts[:end])
        if left_by_another(place):
            raise TransferError(
                f"not copying through {place}: a link to {os.readlink(place)} that "
                f"{_user(os.lstat(place).st_uid)} left in the shared folder "
                f"{os.path.dirname(place)} (a link there is followed only when it is your "
                f"own)")


def _user(uid: int) -> str:
    try:
        return f"user {pwd.getpwuid(uid).pw_name}"
    except KeyError:
        return f"uid {uid}"
