"""The front door of every copy: check the local side, plan the run and admit it.

Called in the caller's thread (a protected environment may ask a person). One environment
gives a `Copy`; a fleet environment gives a `FleetCopy` of its every target (one admission
for all). Either is then run by `run_blocking` or awaited through `.run()`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Collection, Sequence
from typing import Union

from ..admission import Ticket
from ..fleet.options import DEFAULT_PARALLEL
from ..fleet.select import read_limit
from ..fleet.targets import planned_scope as fleet_scope
from ..guard import check_allowed
from ..plan import RunPlan
from ..text import no_byte_at
from .copy import (
    Copy,
    Copying,
    Runs,
    check_base,
    get_destination,
    no_local_directory,
    refuse_kept,
)
from .fleet import FleetCopied, FleetCopy
from .here_paths import here_path
from .model import PathArg, TransferError, Transferred
from .scripts import get_command, put_command
from .send import PutSource

#: What a copy returns: one target's Transferred, or a FleetCopied of a fleet's targets.
Copied = Union[Transferred, FleetCopied]


def path_of(value: object, what: str) -> str:
    """A path argument as a str (a str or an os.PathLike), or a one-line error."""
    try:
        path = os.fspath(value)  # type: ignore[call-overload]
    except TypeError:
        raise TransferError(f"the {what} must be a path (str or os.PathLike), "
                            f"not {type(value).__name__}") from None
    if not isinstance(path, str):
        raise TransferError(f"the {what} must be a str path, not {type(path).__name__}")
    if "\0" in path:
        raise TransferError(f"the {what} {path!r} holds a NUL character, which no path can")
    if (at := no_byte_at(path)) is not None:
        raise TransferError(f"the {what} {path!r} holds {path[at]!r}, a surrogate that stands "
                            f"for no byte, which no path can")
    return path


def local_path_of(value: object) -> str:
    """A local path argument, `~` and `~user` expanded as a shell would (a notebook has no
    shell to do it, and the remote side expands its own)."""
    path = path_of(value, "local path")
    if not path:  # before any byte moves, in every front end (it used to fail after them all)
        raise TransferError("the local path is empty: give a file or a folder ('.' for here)")
    return os.path.expanduser(path)


def _titled(plan: RunPlan, words: Sequence[str]) -> RunPlan:
    """The plan of a copy, shown (status, prompt, audit) as `orch-get SOURCE DEST`, not its script;
    refused when a layer allocates a TTY, which turns its bytes into a terminal's."""
    for spec in plan.layers_to_run:
        if getattr(spec.config, "tty", False):
            raise TransferError(f"{plan.environment.name}: layer {spec.label} allocates a TTY "
                                f"(tty: true), which changes binary data; copy through an "
                                f"environment without it")
    return plan.titled(words)


def _admitted(runs: Runs, planned: Callable[[], RunPlan], dry: RunPlan, words: Sequence[str],
              yes: str | Collection[str], front_end: str,
              limit: str | None) -> tuple[RunPlan, Ticket]:
    """The copy's plan shown as `words` (`planned()`), admitted on its plan unresolved (`dry`):
    a protected environment is confirmed before any secret of its layers is asked. On a fleet,
    as for a run: a limit that keeps nothing is said first, and the question names the
    targets the limit keeps (fleets14)."""
    scope = fleet_scope(dry.layers_to_run, limit) if dry.environment.is_fleet else None
    ticket = runs.admit(_titled(dry, words), yes=yes, front_end=front_end, scope=scope)
    return _titled(runs.gate.resolved(_titled(dry, words), ticket, planned), words), ticket


def measure(local: object) -> PutSource:
    """Check LOCAL (a readable file or directory) and note its kind, mode and size; the
    bytes are read (and hashed) only while they are sent."""
    return PutSource(local_path_of(local))


def _fleet_folder(local: str | None) -> str:
    """Where a fleet's gets land (one subfolder per target): LOCAL, made when missing."""
    folder = local or "."
    check_base(folder)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise TransferError(f"{folder} is not a directory: a fleet's copies go into "
                            f"one subfolder per target")
    parent = os.path.dirname(os.path.abspath(folder))
    if not os.path.isdir(parent):
        raise no_local_directory(parent)
    return os.path.abspath(folder)  # where it was asked, whatever folder it ends in


def _landing_here(plan: RunPlan, dest: str, name: str) -> str | None:
    """Where a put of `name` to `dest` lands when its chain runs on this machine (into `dest`
    when it is a folder, as `cp` puts it), else None: what it may not replace is judged
    there (review31: it replaced orch.yaml; files16: named relative, or by `~`)."""
    path = here_path(plan, dest)
    if path is None:
        return None
    return os.path.join(path, name) if path.endswith("/") or os.path.isdir(path) else path


def _not_into_itself(source: str, dest: str | None) -> None:
    """Refuse, before anything runs, a folder copied into itself on this machine's disk, as
    `cp -r` does (files13: `orch cp here:/x/d /x/d/` nested a copy; the check of the stream
    could only catch it by timing). The far end's path is read as its layers read it
    (files16: `orch cp d here:d/` nested `d/d`); None: it is not on this disk."""
    if dest is None:
        return
    src, to = (os.path.realpath(p) for p in (source, dest))
    if os.path.isdir(src) and to == src:  # review33: it was said to be inside itself
        raise TransferError(f"{dest} is {source} itself: it is there already; nothing was "
                            f"copied")
    if os.path.isdir(src) and to.startswith(src.rstrip("/") + "/"):
        raise TransferError(f"the folder would be copied into itself: {dest} is inside "
                            f"{source}; nothing was copied")


def prepare_get(runs: Runs, environment: str, remote: PathArg, local: PathArg | None = None,
                *, yes: str | Collection[str] = (), front_end: str = "api",
                limit: str | None = None, parallel: int = DEFAULT_PARALLEL) -> Copying[Copied]:
    """Plan and admit `get ENV REMOTE [LOCAL]` (REMOTE: a file or a directory; on a fleet,
    each target's copy goes to LOCAL/<label>/)."""
    source = path_of(remote, "remote path")
    into = None if local is None else local_path_of(local)
    limit = read_limit(limit)
    if not source:
        raise TransferError("give the remote path to copy")
    planned = functools.partial(runs.plan, environment, command=list(get_command(source).argv))
    dry = planned(dry_run=True)
    check_allowed(dry)  # the allow lists refuse first
    if dry.environment.is_fleet:
        folder = _fleet_folder(into)
        get_destination(source, None, {})  # a remote path that names no file is refused now
        plan, ticket = _admitted(runs, planned, dry, ["orch-get", source, folder], yes,
                                 front_end, limit)
        return FleetCopy(runs, plan, ticket, "get", source, folder, limit=limit,
                         parallel=parallel)
    dry.check_limit(limit)
    dest = get_destination(source, into, runs.kept_files())
    if (far := here_path(dry, source)) is not None:  # a get from this disk
        _not_into_itself(far, dest)
    plan, ticket = _admitted(runs, planned, dry, ["orch-get", source, dest], yes, front_end,
                             limit)
    return Copy(runs, plan, ticket, "get", source, dest)


def prepare_put(runs: Runs, environment: str, source: PutSource, remote: PathArg, *,
                yes: str | Collection[str] = (), front_end: str = "api",
                limit: str | None = None, parallel: int = DEFAULT_PARALLEL) -> Copying[Copied]:
    """Plan and admit `put ENV LOCAL REMOTE` of a checked source (on a fleet: to every
    target)."""
    dest = path_of(remote, "remote path")
    if not dest:
        raise TransferError("give the remote path to copy to")
    limit = read_limit(limit)
    name = os.path.basename(os.path.abspath(source.path))
    command = put_command(dest, name, source.kind, source.mode)
    planned = functools.partial(runs.plan, environment, command=list(command.argv))
    dry = planned(dry_run=True)
    check_allowed(dry)  # the allow lists refuse first
    dry.check_limit(limit)
    landing = _landing_here(dry, dest, name)
    _not_into_itself(source.path, landing)
    if landing is not None:  # replacing none of the files orch keeps, as a get does not
        refuse_kept(landing, runs.kept_files())
    plan, ticket = _admitted(runs, planned, dry, ["orch-put", os.path.abspath(source.path), dest],
                             yes, front_end, limit)
    if plan.environment.is_fleet:
        return FleetCopy(runs, plan, ticket, "put", source.path, dest, put_source=source,
                         limit=limit, parallel=parallel)
    copy = Copy(runs, plan, ticket, "put", source.path, dest)
    copy.put_source = source
    return copy
