"""`orch run ENV SERVICE | -- CMD ARGS…`: one run, or a fleet's, from plan to exit status."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import sys
from collections.abc import Callable, Iterator

from ..arguments import parse_env_pairs
from ..config.model import Config, Environment
from ..engine.options import check_timeout
from ..errors import ConfigError, OrchError
from ..guard import check_allowed
from ..orchestrator import Orchestrator
from ..plan import RunPlan
from ..process.command import Command
from ..result import RunResult, unstarted
from ..tty_prompt import ask_on_terminal
from .fleet import NoTargets, dry_run, options, stream_fleet
from .interrupts import held
from .output import discard, print_json
from .stream import stream
from .words import as_typed

RUN_HINT = " (a command goes after --: orch run ENV -- CMD ARGS…)"


def run_subcommand(config: Config, args: argparse.Namespace, argv: list[str]) -> int:
    """`orch run`: plan (secrets unresolved), say a dry run, admit (it may ask the person at the
    terminal), and only then resolve the secrets and stream the run."""
    orch = Orchestrator(config)
    with said_in_json(config, args, argv):  # what the line asks, checked before anything runs
        plan, planned = _planned(orch, args, argv)
        if args.limit is not None and "@" in args.limit:  # `@FILE`s read once: what is
            from ..fleet.select import read_limit  # confirmed is what runs (fleets14)

            args.limit = read_limit(args.limit)
        fleet = options(args).for_plan(plan) is not None
        check_timeout(args.timeout)
    if args.dry_run:
        print(dry_run(plan, args.limit) if fleet else plan.describe())
        try:
            check_allowed(plan)  # a refusal is said as the real run would say it, status 1
        except OrchError as exc:
            raise OrchError(f"the run would be refused: {exc}") from None
        return 0
    orch.gate.ask = ask_on_terminal
    try:
        ticket = orch.fleets.admit(plan, options(args), args.yes, "cli") if fleet else \
            orch.admit(plan, yes=args.yes, front_end="cli")
        plan = orch.gate.resolved(plan, ticket, planned)  # a secret prompt here: Ctrl-C
        # still interrupts it (nothing ran)
    except OrchError as exc:  # refused, a secret missing: `--json` says so as a run never run
        if args.json:  # a fleet's in a FleetResult's keys, as when it finds no target
            _said(NoTargets(plan.environment.name, str(exc), getattr(exc, "audit_id", None))
                  if fleet else unstarted(plan, exc, timeout=args.timeout))
        raise
    with held():
        return asyncio.run((stream_fleet if fleet else stream)(orch, plan, ticket, args))


def _planned(orch: Orchestrator, args: argparse.Namespace, argv: list[str]
             ) -> tuple[RunPlan, Callable[..., RunPlan]]:
    """The run's plan with its secrets unresolved (nobody's are asked for before the run is
    let in), and how to make it resolved."""
    service, config = args.service, orch.config
    config.run_environment(args.environment)  # an unknown one is the first thing to say
    if service is not None and argv:
        raise ConfigError("give a service or a command after --, not both")
    if service is None and not argv:
        raise ConfigError("nothing to run: give a SERVICE, or -- CMD ARGS…")
    planned = functools.partial(orch.plan, args.environment, service, command=argv or None,
                                env=parse_env_pairs([as_typed(pair) for pair in args.env])
                                or None)  # the bytes typed, as a command's words
    try:
        return planned(dry_run=True), planned  # an unset {{env:…}}, an unknown service
    except ConfigError as exc:
        if service is not None and service not in config.services:
            raise ConfigError(f"{exc}{RUN_HINT}") from None  # `orch run local 'echo hi'`
        raise


@contextlib.contextmanager
def said_in_json(config: Config | None, args: argparse.Namespace, argv: list[str]
                 ) -> Iterator[None]:
    """With --json, a ConfigError raised in the block is said on stdout too, as a run that
    never started (what `--json` promises; a script reads stdout whatever went wrong; `config`
    None: none could be loaded)."""
    try:
        yield
    except ConfigError as exc:
        if args.json and not args.dry_run:
            _said(_never_planned(config, args, argv, exc))
        raise


def _said(result: NoTargets | RunResult) -> None:
    """Print the JSON of a run that never ran; a stdout that cannot take it (closed, a full
    disk) is let go quietly: the error line on stderr says why all the same (api6: Python's
    own flush at exit failed again, exit status 120)."""
    try:
        print_json(result)
        if sys.stdout is not None:
            sys.stdout.flush()
    except OSError:
        discard(1)


def _never_planned(config: Config | None, args: argparse.Namespace, argv: list[str],
                   error: ConfigError) -> NoTargets | RunResult:
    """`--json` of a run whose plan could not be made (an unknown environment or service, a
    variable it needs is not set, an option of the line refused, no configuration)."""
    known = config.environments if config is not None else {}
    environment = known.get(args.environment) or Environment(args.environment)
    if environment.is_fleet:
        return NoTargets(environment.name, str(error))
    service = config.services.get(args.service) if args.service and config else None
    command = Command.of(service.command if service else argv or [args.service or "-"])
    try:
        check_timeout(args.timeout)
        timeout = args.timeout
    except ConfigError:  # the refused value itself (nan) is no JSON
        timeout = None
    result = unstarted(RunPlan(environment, service, command), error, timeout=timeout)
    # nothing made up (basics10): an unknown environment has no chain ("local" said it ran
    # here), a misspelt service no command (its name read as an ad-hoc one): null in the JSON
    return dataclasses.replace(
        result, chain=result.chain if args.environment in known else "",
        command=result.command if service is not None or argv else "")
