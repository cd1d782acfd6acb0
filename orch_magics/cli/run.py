"""`orch run ENV SERVICE | -- CMD ARGS…`: one run, or a fleet's, from plan to exit status."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
from collections.abc import Iterator

from ..config.model import Config, Environment
from ..errors import ConfigError, OrchError
from ..guard import check_allowed
from ..orchestrator import Orchestrator
from ..plan import RunPlan, parse_env_pairs
from ..process.command import Command
from ..result import RunResult, unstarted
from ..tty_prompt import ask_on_terminal
from .fleet import NoTargets, dry_run, options, stream_fleet
from .interrupts import held
from .output import print_json
from .stream import stream
from .words import as_typed

RUN_HINT = " (a command goes after --: orch run ENV -- CMD ARGS…)"


def run_subcommand(config: Config, args: argparse.Namespace, argv: list[str]) -> int:
    """`orch run`: plan (secrets unresolved), say a dry run, admit (it may ask the person at the
    terminal), and only then resolve the secrets and stream the run."""
    service = args.service
    with _said_in_json(config, args, argv):
        config.run_environment(args.environment)  # an unknown one is the first thing to say
    if service is not None and argv:
        raise ConfigError("give a service or a command after --, not both")
    if service is None and not argv:
        raise ConfigError("nothing to run: give a SERVICE, or -- CMD ARGS…")
    orch = Orchestrator(config)
    planned = functools.partial(orch.plan, args.environment, service, command=argv or None,
                                env=parse_env_pairs([as_typed(pair) for pair in args.env])
                                or None)  # the bytes typed, as a command's words
    try:  # unresolved: nobody's secrets are asked for before the run is let in
        with _said_in_json(config, args, argv):  # an unset {{env:…}}, an unknown service
            plan = planned(dry_run=True)
    except ConfigError as exc:
        if service is not None and service not in config.services:
            raise ConfigError(f"{exc}{RUN_HINT}") from None  # `orch run local 'echo hi'`
        raise
    fleet = options(args).for_plan(plan) is not None
    if args.dry_run:
        print(dry_run(plan, args.limit) if fleet else plan.describe())
        try:
            check_allowed(plan)  # a refusal is said as the real run would say it, status 1
        except OrchError as exc:
            raise OrchError(f"the run would be refused: {exc}") from None
        return 0
    orch.gate.ask = ask_on_terminal
    try:
        ticket = orch.admit(plan, yes=args.yes, front_end="cli")
        plan = planned()  # a secret prompt here: Ctrl-C still interrupts it (nothing ran)
    except OrchError as exc:  # refused, a secret missing: `--json` says so as a run never run
        if args.json:  # a fleet's in a FleetResult's keys, as when it finds no target
            with contextlib.suppress(OSError):  # the refusal is what to say, whatever stdout is
                print_json(NoTargets(plan.environment.name, str(exc)) if fleet
                           else unstarted(plan, exc, timeout=args.timeout))
        raise
    with held():
        return asyncio.run((stream_fleet if fleet else stream)(orch, plan, ticket, args))


@contextlib.contextmanager
def _said_in_json(config: Config, args: argparse.Namespace, argv: list[str]) -> Iterator[None]:
    """With --json, a ConfigError raised in the block is said on stdout too, as a run that
    never started (what `--json` promises; a script reads stdout whatever went wrong)."""
    try:
        yield
    except ConfigError as exc:
        if args.json and not args.dry_run:
            with contextlib.suppress(OSError):
                print_json(_never_planned(config, args, argv, exc))
        raise


def _never_planned(config: Config, args: argparse.Namespace, argv: list[str],
                   error: ConfigError) -> NoTargets | RunResult:
    """`--json` of a run whose plan could not be made (an unknown environment or service, a
    variable it needs is not set)."""
    environment = config.environments.get(args.environment) or Environment(args.environment)
    if environment.is_fleet:
        return NoTargets(environment.name, str(error))
    service = config.services.get(args.service) if args.service else None
    command = Command.of(service.command if service else argv or [args.service])
    return unstarted(RunPlan(environment, service, command), error, timeout=args.timeout)
