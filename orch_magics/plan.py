"""Planning: environment + service (or an ad-hoc command) → everything a run needs, resolved.

Pure apart from reading secrets: no process starts here. A dry run's plan (`dry_run=True`, what
`--dry-run` shows) reads none: its `{{secret:…}}` stay as written, and it is never run.
"""

from __future__ import annotations

import dataclasses
import functools
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from .arguments import (
    check_plan_switches,
    checked_command,
    checked_cwd,
    checked_env,
    refuse_unsendable,
)
from .config.chain import unseen_setting
from .config.model import Config, Environment, FilterSpec, LayerSpec, Service, StdinMode, Step
from .config.placeholders import has_placeholder
from .config.reading import judged_again
from .credentials import ForgetsRejected
from .errors import ConfigError
from .executor import LayeredExecutor
from .layers.base import Launcher
from .process.command import Command
from .redaction import Values, masked_repr
from .secrets.masking import mask_text
from .secrets.placeholders import DryRunResolver, Resolver
from .text import printable


@masked_repr
@dataclass(frozen=True)
class PlannedStep:
    """A pre or post command, resolved."""

    label: str
    command: Command
    when: Literal["always", "success", "failure"] = "success"


@masked_repr  # what plan() returns: a notebook cell ending in it shows no secret
@dataclass(frozen=True)
class RunPlan:
    """One run, fully resolved: where (layers), what (command), and how (modes, filters)."""

    environment: Environment
    service: Service | None
    command: Command
    pre: tuple[PlannedStep, ...] = ()
    post: tuple[PlannedStep, ...] = ()
    stdin_mode: StdinMode = "none"
    stdout_mode: Literal["stream", "capture", "file"] = "stream"
    filters: tuple[FilterSpec, ...] = ()
    timeout: float | None = None
    #: The variables as written (placeholders unexpanded), for describe().
    raw_env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    #: The environment's layers with placeholders in their config resolved (kept out of repr:
    #: they may hold secret values). None: the environment's layers as they are.
    layers: tuple[LayerSpec, ...] | None = field(default=None, repr=False, compare=False)
    #: Made for a dry run: secrets unresolved (`{{secret:NAME}}` as written), never run.
    dry_run: bool = False
    #: The names of the variables the caller added (`-e`, `env=`), and the working directory
    #: it gave: what changes a service from its definition (allow lists, the audit record).
    given_env: tuple[str, ...] = ()
    given_cwd: str | None = None

    @property
    def name(self) -> str:
        return self.service.name if self.service else "(command)"

    @property
    def layers_to_run(self) -> tuple[LayerSpec, ...]:
        """The layers a run goes through: the resolved ones, else the environment's."""
        return self.environment.layers if self.layers is None else self.layers

    @property
    def hops(self) -> str:
        """`local → ssh bastion → docker app`, as a launcher's chain reads (its `chain`) when
        none is built (a run refused or never started): a `local` layer only edits commands,
        so it is no hop."""
        return " → ".join(["local", *(spec.label for spec in self.layers_to_run
                                      if spec.type != "local")])

    @property
    def is_fleet(self) -> bool:
        """Whether a layer names several targets (a fleet)."""
        return any(spec.fanout is not None for spec in self.layers_to_run)

    def check_one_target(self) -> None:
        """Refuse to start one process from a plan that fans out to several targets (launch
        and spawn would pick one silently); run, arun and start run every target."""
        if self.is_fleet:
            raise ConfigError(f"environment {self.environment.name!r} fans out to several "
                              f"targets and this starts one process: run(), arun() and "
                              f"start() (orch run, %orch) run every target")

    def check_limit(self, limit: str | None) -> None:
        """Refuse a limit where there is nothing to choose from (one target)."""
        if limit is not None and not self.is_fleet:
            raise ConfigError(f"environment {self.environment.name!r} has one target: "
                              f"a limit applies to fleets only")

    def titled(self, words: Sequence[str]) -> RunPlan:
        """This plan shown (status, question, audit) as the command line `words`, not as its
        command (a copy's script is `orch-get SOURCE DEST`)."""
        return dataclasses.replace(self, command=dataclasses.replace(
            self.command, title=shlex.join(words)))

    def executor(self, base: Launcher | None = None) -> LayeredExecutor:
        """The layered executor for this plan's environment (a dry run's plan has none)."""
        if self.dry_run:
            raise ConfigError("a dry run's plan cannot run: its secrets are not resolved "
                              "(make the plan without dry_run)")
        return LayeredExecutor(base, self.layers_to_run)

    def launcher(self, base: Launcher) -> Launcher:
        """The built chain over `base`: what a run of this plan launches through. A password
        a layer refuses is forgotten for the session (see credentials.py)."""
        return ForgetsRejected(self.executor(base).build(), self.layers_to_run)

    def describe(self) -> str:
        """Human-readable plan: layers, command, variables, steps.

        Variables show their placeholders (`{{secret:NAME}}`), never resolved secret values; any
        other text that happens to contain a known secret is masked too. Control characters are
        shown escaped: a config's terminal escapes cannot hide the command it would run.
        """
        lines = [f"environment: {self.environment.name}  ({self.environment.describe()})"]
        if self.environment.guardrails.protected:  # the run would ask first
            lines.append(f"protected:   a person confirms it first (or --yes "
                         f"{self.environment.name})")
        if self.service:
            lines.append(f"service:     {self.service.name}")
        for step in self.pre:
            lines.append(f"pre:         {step.command.display()}")
        lines.append(f"command:     {self.command.display()}")
        if self.command.cwd:
            lines.append(f"working_dir: {self.command.cwd}")
        for key in self.command.env:
            raw = self.raw_env.get(key)
            shown = raw if raw is not None else self.command.env[key]
            lines.append(f"env:         {key}={shown}")
        for step in self.post:
            lines.append(f"post ({step.when}): {step.command.display()}")
        lines.append(f"stdin: {self.stdin_mode}   stdout: {self.stdout_mode}"
                     + (f"   filters: {', '.join(f.kind for f in self.filters)}"
                        if self.filters else ""))
        if self.stdout_mode == "file" and self.service and self.service.stdout_file:
            lines.append(f"stdout_file: {self.service.stdout_file}")
        return printable(mask_text("\n".join(lines)), lines=True)


def make_plan(
    config: Config,
    environment: str,
    service: str | None = None,
    *,
    command: str | Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    resolver: Resolver | None = None,
    stdin_mode: StdinMode | None = None,
    tty: bool | None = None,
    dry_run: bool = False,
    admissible: Callable[[RunPlan], None] | None = None,
    used: int | None = None,
) -> RunPlan:
    """Resolve a run. Give `service`, or `command` (a shell line or an argv) for an ad-hoc run.

    `dry_run`: a plan only to be shown; no secret provider is asked (`resolver` is unused).
    `admissible(plan)` raises for a run that may not happen: it sees the plan unresolved,
    before any secret provider is asked. `used`: only the first that many layers (a forward's).
    """
    check_plan_switches(stdin_mode, tty, dry_run)
    if admissible is not None and not dry_run:
        admissible(make_plan(config, environment, service, command=command, env=env, cwd=cwd,
                             stdin_mode=stdin_mode, tty=tty, dry_run=True))
    if isinstance(environment, RunPlan):  # `orch.run(orch.plan(…))`
        raise ConfigError("the environment must be a name (str), not RunPlan: a plan from "
                          "plan() runs as spawn(ENV, plan=PLAN) or arun(ENV, plan=PLAN)")
    environment_obj = _environment(config, environment, dry_run)
    resolver = DryRunResolver() if dry_run else resolver or Resolver()
    if (service is None) == (command is None):
        raise ConfigError("give either a service name or a command, not both or neither")
    env, cwd = checked_env(env), checked_cwd(cwd)
    given_env = {k: resolver.expand(v, _located(f"env {k}")) for k, v in env.items()}
    layers = resolve_layers(environment_obj, resolver, used)
    if service is None:
        cmd = Command.of(checked_command(command), env=given_env, cwd=cwd,
                         tty=bool(tty) or _gives_tty(layers))
        refuse_unsendable(cmd, "command")
        return resolver.ready(RunPlan(
            environment_obj, None, cmd, stdin_mode=stdin_mode or "streaming", raw_env=env,
            layers=layers, dry_run=dry_run, given_env=tuple(env), given_cwd=cwd))
    svc = config.service(service)
    base_env = _resolve_env(svc, resolver, svc.environment, "environment")
    base_env.update(given_env)
    main = Command.of(svc.command, env=base_env, cwd=cwd or svc.working_dir,
                      tty=(svc.tty if tty is None else tty) or _gives_tty(layers))
    step = functools.partial(_planned_step, svc, resolver, base_env, cwd)
    refuse_unsendable(main, f"service {svc.name!r}")
    return resolver.ready(RunPlan(
        environment=environment_obj,
        service=svc,
        command=main,
        pre=tuple(step(s, i, "pre_commands") for i, s in enumerate(svc.pre_commands)),
        post=tuple(step(s, i, "post_commands") for i, s in enumerate(svc.post_commands)),
        stdin_mode=stdin_mode or svc.stdin_mode, stdout_mode=svc.stdout_mode,
        filters=svc.filters, timeout=svc.timeout,
        raw_env={**svc.environment, **env},
        layers=layers, dry_run=dry_run, given_env=tuple(env), given_cwd=cwd,
    ))


def _environment(config: Config, name: str, dry_run: bool) -> Environment:
    """The environment `name`; a found config's folder judged again first, for a run."""
    if config.found and not dry_run:
        judged_again(config.origin)
    return config.environment(name)


def _planned_step(svc: Service, resolver: Resolver, base_env: Mapping[str, str], cwd: str | None,
                  s: Step, i: int, kind: str) -> PlannedStep:
    """A pre or post command: its own variables over the service's, in its working directory."""
    step_env = {**base_env,
                **_resolve_env(svc, resolver, s.environment, f"{kind}[{i}].environment")}
    cmd = Command.of(s.command, env=step_env, cwd=s.working_dir or cwd or svc.working_dir)
    refuse_unsendable(cmd, f"service {svc.name!r}, {kind}[{i}]")
    return PlannedStep(s.name or cmd.display(), cmd, s.when)


def _gives_tty(layers: tuple[LayerSpec, ...]) -> bool:
    """Whether a layer runs every command under a terminal (a container's `tty: true`): the
    command then has one whatever it asked, and the front ends treat it so (the CLI makes the
    user's terminal raw and gives its size)."""
    return any(getattr(spec.config, "tty", False) is True for spec in layers)


def _located(prefix: str) -> Callable[[str], ConfigError]:
    """An error factory naming where a placeholder was written."""
    return lambda msg: ConfigError(f"{prefix}: {msg}")


def _service_error(svc: Service, key: str) -> Callable[[str], ConfigError]:
    loc = f" ({svc.location})" if svc.location else ""
    return _located(f"service {svc.name!r}{loc}, {key}")


def _resolve_env(svc: Service, resolver: Resolver, values: Mapping[str, str],
                 prefix: str) -> dict[str, str]:
    return {k: resolver.expand(v, _service_error(svc, f"{prefix}.{k}"))
            for k, v in values.items()}


def resolve_layers(environment: Environment, resolver: Resolver,
                   used: int | None = None) -> tuple[LayerSpec, ...]:
    """The environment's layers (its first `used`: a forward goes no further than its last
    ssh hop, kinds19) with `{{secret:…}}` / `{{env:…}}` in their config expanded.

    Layer configs (an SSH password, a container's variables) resolve through the same provider
    chain as services, before anything connects, and their values are masked like any secret.
    """
    unseen = unseen_setting(environment.name, environment.layers)
    if unseen is not None:
        raise unseen
    return tuple(_resolve_layer(environment.name, spec, resolver)
                 for spec in environment.layers[:used])


def _resolve_layer(env_name: str, spec: LayerSpec, resolver: Resolver) -> LayerSpec:
    config = spec.config
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        return spec
    loc = f" ({spec.location})" if spec.location else ""

    def expand(text: str, key: str) -> str:
        def where(msg: str) -> ConfigError:
            return ConfigError(f"environment {env_name!r}, layer {spec.label}{loc}, {key}: {msg}")

        return resolver.expand(text, where)

    changes: dict[str, object] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, str) and has_placeholder(value):
            changes[f.name] = expanded = expand(value, f.name)
            if not expanded.strip() and not f.metadata.get("empty_ok"):  # as a written ""
                # is (`user: "{{env:U}}"` with U empty ran as the image's root: config7)
                raise ConfigError(f"environment {env_name!r}, layer {spec.label}{loc}, "
                                  f"{f.name}: {value!r} gave nothing: set it, or leave the key "
                                  f"out for the default")
            if ((check := f.metadata.get("check_expanded")) is not None  # what it gave, as
                    and (judged := resolver.checkable(expanded))):  # if written (an ssh user)
                try:
                    check(judged)
                except ValueError as exc:
                    raise ConfigError(f"environment {env_name!r}, layer {spec.label}{loc}, "
                                      f"{f.name}: what {value!r} gave: {exc}") from None
        elif isinstance(value, Mapping) and any(has_placeholder(v) for v in value.values()):
            changes[f.name] = Values(
                {k: expand(v, f"{f.name}.{k}") for k, v in value.items()})
        elif isinstance(value, tuple) and any(map(has_placeholder, value)):  # kinds16: a
            changes[f.name] = tuple(  # plugin's list field got the text as written
                expand(v, f"{f.name}[{i}]") if has_placeholder(v) else v
                for i, v in enumerate(value))
    if not changes:
        return spec
    return dataclasses.replace(spec, config=dataclasses.replace(config, **changes))


def replanned(plan: RunPlan, config: Config, resolver: Resolver,
              admissible: Callable[[RunPlan], None] | None = None) -> RunPlan:
    """`plan` with its environment and its service's definition as `config` has them now (a
    fleet's rerun, a restart: admitted under today's guardrails, `dangerous` included); its
    command stays the one that ran. A config loaded from files that reads inventories is
    loaded from them again, so hosts added to or removed from an inventory since are seen.
    `admissible` as in `make_plan`: it sees the plan before its layers' secrets are asked."""
    if config.inventories and config.origin:  # judged again if found (review37)
        from .config.loader import load_files

        config = load_files(config.origin, found=config.found)
    environment = config.run_environment(plan.environment.name)
    service = None if plan.service is None else config.service(plan.service.name)
    if (unseen := unseen_setting(environment.name, environment.layers)) is not None:
        raise unseen  # before anyone is asked, as `make_plan` does (review22)
    if admissible is not None:
        admissible(dataclasses.replace(plan, environment=environment, service=service,
                                       layers=None))  # its layers unresolved, as they are now
    layers = None if plan.dry_run else resolve_layers(environment, resolver)
    return dataclasses.replace(plan, environment=environment, service=service, layers=layers)


def guarded_now(plan: RunPlan, config: Config) -> RunPlan:
    """`plan` under the guardrails `config` sets now (protected, allow lists, a `dangerous`
    service), however long ago it was made: a plan made before a `load()` that protected its
    environment is admitted as a new one would be. Its layers and command stay as planned."""
    now = config.environments.get(plan.environment.name)
    service = plan.service
    if service is not None and (current := config.services.get(service.name)) is not None:
        service = dataclasses.replace(service, dangerous=current.dangerous or service.dangerous)
    if now is None:  # made from another config: its own guardrails are all there is
        return dataclasses.replace(plan, service=service)
    return dataclasses.replace(plan, service=service, environment=dataclasses.replace(
        plan.environment, guardrails=now.guardrails))
