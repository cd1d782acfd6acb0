"""Copies to and from every target of a fleet: one admission, one audited copy per target.

A get lands each target's copy in LOCAL/<label>/ (a label with `/` nests: `eu/db-1`); a put
sends the same bytes to every target. Targets fail alone: `FleetCopied` maps every label to
its `Transferred` or the `TransferError` saying why, and one progress shows the sum.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import Mapping
from typing import Literal

from ..admission import Ticket
from ..errors import OrchError
from ..fleet.lookup import recordable, resolve_checked
from ..fleet.options import DEFAULT_PARALLEL
from ..fleet.result import ByTarget
from ..fleet.targets import (
    Target,
    check_found,
    describe_labels,
    expand,
    limited_reached,
    names_of,
    to_find,
    unresolved,
)
from ..gathering import gather_all
from ..plan import RunPlan
from ..sinks.file import label_folders
from ..text import plural
from .copy import Copy, Runs, get_destination
from .model import Progress, TransferError, Transferred, progress_of
from .send import PutSource
from .shared_links import refuse_folders_through_them


class FleetCopied(ByTarget["Transferred | TransferError"]):
    """label → the target's `Transferred`, or the `TransferError` saying why it has none."""

    def __init__(self, environment: str, direction: Literal["get", "put"],
                 results: Mapping[str, Transferred | TransferError]) -> None:
        super().__init__(results)
        self.environment, self.direction = environment, direction

    @property
    def ok(self) -> bool:
        """True when every target's copy succeeded."""
        return not self.failed

    @property
    def succeeded(self) -> dict[str, Transferred]:
        return {k: v for k, v in self._results.items() if isinstance(v, Transferred)}

    @property
    def failed(self) -> dict[str, TransferError]:
        return {k: v for k, v in self._results.items() if isinstance(v, TransferError)}

    def check(self) -> FleetCopied:
        """Return self when every copy succeeded, else raise TransferError naming the others."""
        if self.failed:
            raise TransferError(f"{self.direction} failed on {len(self.failed)} of {len(self)} "
                                f"targets: " + "; ".join(f"{k}: {v}" for k, v in
                                                          list(self.failed.items())[:5]))
        return self

    def summary(self) -> str:
        """`get on 3 targets of web: 2 ok, 1 failed`."""
        count = plural(len(self), "target")
        return (f"{self.direction} on {count} of {self.environment}: "
                f"{len(self.succeeded)} ok, {len(self.failed)} failed")

    def __str__(self) -> str:
        return "\n".join([self.summary(), *(f"  {k}: {v}" for k, v in self._results.items())])

    def __repr__(self) -> str:
        return f"<FleetCopied {self.summary()}>"


class _Sum:
    """One target's share of a fleet's progress (told by its copy, from any thread)."""

    def __init__(self, total: _Total) -> None:
        self.of = total
        self.done = 0

    def start(self, label: str, total: int | None) -> None:
        self.of.begin()

    def update(self, done: int) -> None:
        self.of.moved(self, done)

    def finish(self, ok: bool | None) -> None:
        pass


class _Total:
    """The sum of every target's bytes, shown on one progress once a target's copy starts: a
    copy refused on every target shows none, as a one-target copy refused does."""

    def __init__(self, progress: Progress, label: str, size: int | None) -> None:
        self.progress, self.label, self.size = progress, label, size
        self.done = 0
        self.started = False
        self.lock = threading.Lock()

    def begin(self) -> None:
        with self.lock:  # held while it starts: no target's bytes are shown before
            if not self.started:
                self.started = True
                self.progress.start(self.label, self.size)

    def moved(self, part: _Sum, done: int) -> None:
        with self.lock:
            self.done += done - part.done
            part.done = done
            total = self.done
        self.progress.update(total)


class FleetCopy:
    """A copy admitted for a fleet environment, ready to run on an event loop."""

    def __init__(self, runs: Runs, plan: RunPlan, ticket: Ticket, direction: Literal["get", "put"],
                 source: str, destination: str, *, put_source: PutSource | None = None,
                 limit: str | None = None, parallel: int = DEFAULT_PARALLEL) -> None:
        self.runs, self.plan, self.ticket = runs, plan, ticket
        self.direction, self.source, self.destination = direction, source, destination
        self.put_source, self.limit, self.parallel = put_source, limit, parallel
        self.made: list[str] = []  # local folders this copy created (removed when left empty)
        self.copies: list[Copy] = []

    def kept(self) -> list[Transferred]:
        """The targets' copies in place so far (kept through a stop), in the order they began."""
        return [done for copy in self.copies for done in copy.kept()]

    def left(self) -> list[str]:
        """What the targets' stopped runs said may still be there, each said once with the
        targets it is about (magics15: once per target, unlabelled)."""
        said: dict[str, list[str]] = {}
        for copy in self.copies:
            for words in copy.left():
                said.setdefault(words, []).append(str(copy.target))
        return [f"{words} ({describe_labels(targets)})" for words, targets in said.items()]

    async def run(self, progress: Progress | None = None) -> FleetCopied:
        """Copy on every target (at most `parallel` at once); cancelling stops them all."""
        progress = progress_of(progress)
        targets, failed = await self._targets()
        size = None
        if self.put_source is not None and self.put_source.size is not None:
            size = self.put_source.size * len(targets)
        count = plural(len(targets), "target")
        total = _Total(progress, f"{self.plan.environment.name}: {count}", size)
        gate = asyncio.Semaphore(self.parallel)
        ok: bool | None = False
        try:
            done = dict(await gather_all(*(self._one(t, gate, _Sum(total)) for t in targets
                                               if t.label not in failed)))
            results = {t.label: failed.get(t.label) or done[t.label] for t in targets}
            copied = FleetCopied(self.plan.environment.name, self.direction,
                                 _one_version(results) if self.direction == "put" else results)
            ok = copied.ok
        except (asyncio.CancelledError, KeyboardInterrupt):
            ok = None
            raise
        finally:
            self._tidy()
            progress.finish(ok)
        return copied

    async def _targets(self) -> tuple[list[Target], dict[str, TransferError]]:
        """Targets in order (label selectors resolved, --limit applied); unresolved ones fail."""
        base = self.runs.launcher_for(dataclasses.replace(self.plan, layers=()))
        failed: dict[str, TransferError] = {}

        lookup = recordable(self.runs.gate, self.plan, self.ticket)  # it connects

        async def one(target: Target) -> list[Target]:
            began = time.monotonic()
            try:
                return await resolve_checked(target, base, lookup)
            except OrchError as exc:  # this part of the fleet is unreachable: it fails alone
                target = unresolved(target)  # audited as the row it is (fleets26, as a run's)
                lookup.failed(dataclasses.replace(self.plan, layers=target.layers),
                              target.label, exc, began)
                failed[target.label] = TransferError(str(exc))
                return [target]

        hosts = expand(self.plan.layers_to_run)
        expanded, unseen = to_find(hosts, self.limit)
        found = [t for group in await asyncio.gather(*map(one, expanded)) for t in group]
        await check_found(self.plan.environment.name, expanded, found, base, self.limit)
        return limited_reached(found, self.limit, unseen, names=names_of(hosts)), failed

    async def _one(self, target: Target, gate: asyncio.Semaphore, progress: _Sum
                   ) -> tuple[str, Transferred | TransferError]:
        plan = dataclasses.replace(self.plan, layers=target.layers)
        async with gate:
            try:
                destination = self._destination(target.label)
                if self.direction == "get":  # its record names where this copy went
                    plan = plan.titled(["orch-get", str(self.source), destination])
                plan = self.runs.gate.vouch(plan)  # a target of ours (a container found too)
                copy = Copy(self.runs, plan, self.ticket, self.direction, self.source,
                            destination, target=target.label)
                copy.put_source = self.put_source
                self.copies.append(copy)
                return target.label, await copy.run(progress)
            except OrchError as exc:  # refused, unreachable, failed: this target only
                error = exc if isinstance(exc, TransferError) else TransferError(str(exc))
                return target.label, error

    def _destination(self, label: str) -> str:
        """Where this target's copy goes: the remote path (put), LOCAL/<label>/NAME (get)."""
        if self.direction == "put":
            return self.destination
        try:
            folder = os.path.join(self.destination, *label_folders(label))
        except ValueError as exc:
            raise TransferError(f"target {label!r} cannot name a folder in "
                                f"{self.destination} ({exc}): nothing was copied") from None
        try:
            refuse_folders_through_them(folder)  # a label never leads out of LOCAL
            missing = os.path.abspath(folder)  # a relative one would end at "" and never stop
            while not os.path.lexists(missing):
                self.made.append(missing)
                missing = os.path.dirname(missing)
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as exc:
                raise TransferError(f"cannot create the folder {folder}: {exc.strerror}"
                                    ) from None
            return get_destination(self.source, folder, self.runs.kept_files())
        except TransferError as exc:
            raise TransferError(f"get {self.plan.environment.name}:{self.source} → {folder} "
                                f"failed: {exc}; nothing was kept") from None

    def _tidy(self) -> None:
        """Remove the folders made for targets that got nothing (deepest first)."""
        for folder in sorted(set(self.made), key=len, reverse=True):
            with contextlib.suppress(OSError):
                os.rmdir(folder)


def _one_version(results: dict[str, Transferred | TransferError]
                 ) -> dict[str, Transferred | TransferError]:
    """A put's results, unless its targets got different bytes: each target reads the file
    itself, so one replaced while the put ran (an editor's save, a build) reached some
    targets old and others new, reported ok (files6). Then every copy is a failure that says
    so: it is in place, but the fleet does not hold one version."""
    done = {label: r for label, r in results.items() if isinstance(r, Transferred)}
    versions = collections.Counter(r.sha256 for r in done.values())
    if len(versions) < 2:
        return results
    said = ", ".join(f"sha256 {sha[:16]}… on {plural(n, 'target')}"
                     for sha, n in versions.most_common())
    return {label: TransferError(f"the source changed while the put ran, so the targets got "
                                 f"{len(versions)} versions ({said}); this copy is in place: "
                                 f"put it again") if label in done else r
            for label, r in results.items()}
