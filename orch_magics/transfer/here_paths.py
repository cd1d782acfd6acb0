"""Where a path a copy names lands when every layer of its chain runs on this machine (local
and sudo): a relative path is read from a local layer's working_dir (else orch's own folder,
or a `login: true` sudo user's home), `~` from the home of whom the commands run as."""

from __future__ import annotations

import os
import pwd

from ..plan import RunPlan

#: Layer kinds whose commands run on this machine: a copy through them shares its disk.
HERE = frozenset({"local", "sudo"})


def here_paths(plan: RunPlan, path: str) -> list[str] | None:
    """Every place `path` may name on this disk, the likeliest first (None: the chain leaves
    this machine). Where a layer's choice cannot be known here (a user's home the sudo
    rules give), each candidate is listed: a check that refuses protects on every one."""
    layers = plan.layers_to_run
    if any(spec.type not in HERE for spec in layers):
        return None
    bases, homes = [_cwd()], [os.path.expanduser("~")]
    for spec in layers:
        if spec.type == "sudo":
            home = _home_of(str(getattr(spec.config, "user", "root")))
            homes = [home] if home else homes
            if getattr(spec.config, "login", False) and home:
                bases = [home]
        elif (folder := getattr(spec.config, "working_dir", None)) is not None:
            bases = [os.path.join(bases[0], os.path.expanduser(str(folder)))]
    if path == "~" or path.startswith("~/"):
        found = [home + path[1:] for home in homes]
    elif path.startswith("~"):
        found = [os.path.expanduser(path)]
    else:
        found = [os.path.join(base, path) for base in bases]
    return [os.path.normpath(p) + ("/" if path.endswith("/") else "") for p in found if p]


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
