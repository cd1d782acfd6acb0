"""Where a path a copy names lands when every layer of its chain runs on this machine (local
and sudo): a relative path is read from a local layer's working_dir (else orch's own folder,
or a `login: true` sudo user's home), `~` from the home of whom the commands run as."""

from __future__ import annotations

import os
import pwd

from ..plan import RunPlan

#: Layer kinds whose commands run on this machine: a copy through them shares its disk.
HERE = frozenset({"local", "sudo"})


def here_path(plan: RunPlan, path: str) -> str | None:
    """The place `path` names on this disk (None: the chain leaves this machine, or orch's own
    folder is gone and a relative path names nothing there)."""
    layers = plan.layers_to_run
    if any(spec.type not in HERE for spec in layers):
        return None
    base, home = _cwd(), os.path.expanduser("~")
    for spec in layers:
        if spec.type == "sudo":
            home = _home_of(str(getattr(spec.config, "user", "root"))) or home
            if getattr(spec.config, "login", False):
                base = home
        elif (folder := getattr(spec.config, "working_dir", None)) is not None:
            base = os.path.join(base, _at_home(str(folder), home))  # review32: `~` is the
            # home of whom it runs as, a sudo user's too
    found = _at_home(path, home) if path.startswith("~") else os.path.join(base, path)
    if not os.path.isabs(found):  # orch's folder is gone, and no absolute working_dir or home
        return None  # is on the way: a relative path names nothing (review32, review33)
    return os.path.normpath(found) + ("/" if path.endswith("/") else "")


def _at_home(path: str, home: str) -> str:
    """`path` with a leading `~` read as `home` (`~user`: that user's)."""
    if path == "~" or path.startswith("~/"):
        return home + path[1:]
    return os.path.expanduser(path)


def _cwd() -> str:
    try:
        return os.getcwd()
    except FileNotFoundError:  # gone: a relative path names nothing there (check_base says)
        return ""


def _home_of(user: str) -> str | None:
    """The home of `user` (a name, or `#uid` as sudo takes it), None when unknown here."""
    try:
        entry = pwd.getpwuid(int(user[1:])) if user.startswith("#") else pwd.getpwnam(user)
    except (KeyError, ValueError):
        return None
    return entry.pw_dir
