"""The typed, immutable configuration model: what environments.yaml and services.yaml mean.

Everything past the loader works on these objects, never on raw YAML. Field metadata `doc` is the
documentation; the JSON Schema and docs/configuration.md are generated from it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ..errors import ConfigError
from ..frozen import FrozenMap
from ..limits import MAX_SECONDS
from ..process.environ import variable_names
from ..redaction import masked_repr
from ..text import quoted, some_of
from .checks import (
    as_written,
    command_spec,
    compiled,
    directory,
    file_path,
    jq_program,
    literal,
    path_template,
    provider_argv,
    regex,
)
from .suggest import name_hint

Argv = tuple[str, ...]
CommandSpec = str | Argv
#: How a run takes stdin: none, a stream (with EOF), or lines typed as it runs.
StdinMode = Literal["none", "streaming", "interactive"]
_EMPTY: Mapping[str, str] = FrozenMap()


def doc(text: str, **more: Any) -> dict[str, Any]:
    return {"doc": text, **more}


@dataclass(frozen=True)
class Location:
    """Where a named thing was defined, for error messages."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


# ---- filters (behaviour lives in orch_magics.sinks.filters) --------------------------------


@dataclass(frozen=True)
class GrepFilter:
    """Keep the stdout lines that match a regular expression."""

    kind: ClassVar[str] = "grep"
    pattern: str = field(metadata=doc("Regular expression (Python `re` syntax).", check=regex))
    invert: bool = field(default=False, metadata=doc("Keep the lines that do *not* match."))
    ignore_case: bool = field(default=False, metadata=doc("Match case-insensitively."))


@dataclass(frozen=True)
class JqFilter:
    """Run a jq program on each stdout line that is JSON."""

    kind: ClassVar[str] = "jq"
    query: str = field(metadata=doc("jq program, e.g. `.timestamp,.message`.", check=jq_program))
    on_invalid: Literal["pass", "drop", "error"] = field(
        default="pass",
        metadata=doc("What to do with a line that is not JSON: pass it through, drop it, or "
                     "report it on stderr."),
    )
    raw: bool = field(default=True, metadata=doc("Print strings without JSON quotes (jq -r)."))


@dataclass(frozen=True)
class HeadFilter:
    """Keep only the first N lines."""

    kind: ClassVar[str] = "head"
    lines: int = field(default=10, metadata=doc("How many lines to keep.", ge=0))


@dataclass(frozen=True)
class TailFilter:
    """Keep only the last N lines (shown when the run ends)."""

    kind: ClassVar[str] = "tail"
    lines: int = field(default=10, metadata=doc("How many lines to keep.", ge=0))


@dataclass(frozen=True)
class ReplaceFilter:
    """Substitute a regular expression in each line."""

    kind: ClassVar[str] = "replace"
    pattern: str = field(metadata=doc("Regular expression to find.", check=regex))
    replacement: str = field(default="", metadata=doc("Replacement (`\\1` refers to groups).",
                                                      check=as_written))

    def check(self) -> None:
        """The replacement is read at load, as the pattern is (the loader calls this): a group
        it names that the pattern lacks, or a bad escape, would fail only on the first match."""
        pattern = compiled(self.pattern)
        try:
            pattern.sub(self.replacement, "")  # parses the template, at once
        except (re.error, IndexError) as exc:
            raise ValueError(f"replacement {quoted(self.replacement)}: {exc}") from None


FILTER_KINDS: dict[str, type] = {
    c.kind: c for c in (GrepFilter, JqFilter, HeadFilter, TailFilter, ReplaceFilter)
}
FilterSpec = GrepFilter | JqFilter | HeadFilter | TailFilter | ReplaceFilter


# ---- services -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """A pre or post command: runs in the same environment as the service."""

    #: How one is written: said when a step is given as a bare command line.
    EXAMPLE: ClassVar[str] = "- command: git pull"

    command: CommandSpec = field(
        metadata=doc("Shell command line (run by /bin/sh -c) or argv list.",
                     check=command_spec))
    when: Literal["always", "success", "failure"] = field(
        default="success",
        metadata=doc("post_commands only: run after success (default), failure, or always."),
    )
    environment: Mapping[str, str] = field(
        default_factory=lambda: _EMPTY, metadata=doc(
            "Extra variables for this step; may use placeholders.", check=variable_names))
    working_dir: str | None = field(
        default=None, metadata=doc("Directory to run in.", check=directory))
    name: str | None = field(
        default=None, metadata=doc("Label shown in the display.", check=literal,
                                   empty_ok=True))  # shown only: "" is no mistake


@dataclass(frozen=True)
class Service:
    """An environment-agnostic definition of what to run."""

    command: CommandSpec = field(
        metadata=doc("Shell command line, run by /bin/sh -c at the innermost layer (pipes, globs "
                     "and $VAR work there), or an argv list run without a shell.",
                     check=command_spec))
    description: str | None = field(
        default=None, metadata=doc("One line shown by `orch ls`.", check=literal,
                                   empty_ok=True))
    stdin_mode: StdinMode = field(
        default="none",
        metadata=doc("`none`: EOF at once; `streaming`: stdin fed from the cell body, the stdin "
                     "box or the API; `interactive`: a line-oriented REPL."),
    )
    stdout_mode: Literal["stream", "capture", "file"] = field(
        default="stream",
        metadata=doc("`stream`: shown live; `capture`: kept in the result only, not shown live "
                     "(`orch run`, which has no result to keep it in, writes it to its stdout); "
                     "`file`: written to `stdout_file` on this machine."),
    )
    stdout_file: str | None = field(
        default=None,
        metadata=doc("Path template for stdout_mode: file; `{service}`, `{env}` and "
                     "`{timestamp}` are filled in.", check=path_template),
    )
    filters: tuple[FilterSpec, ...] = field(
        default=(), metadata=doc("Filters applied, in order, to stdout lines as they stream."))
    environment: Mapping[str, str] = field(
        default_factory=lambda: _EMPTY,
        metadata=doc("Variables set for the command; values may use `{{secret:NAME}}` and "
                     "`{{env:VAR}}` / `{{env:VAR:-default}}`.", check=variable_names),
    )
    working_dir: str | None = field(
        default=None, metadata=doc(
            "Directory to run in. A relative one is taken from where the command would start "
            "without it: this machine's working directory (local), the login's home (ssh), "
            "the directory sudo was started in; docker and podman take an absolute one only. "
            "Never through CDPATH, and `-` is a folder of that name.",
            check=directory))
    pre_commands: tuple[Step, ...] = field(
        default=(), metadata=doc("Commands run before, in order; a failure stops the run."))
    post_commands: tuple[Step, ...] = field(
        default=(), metadata=doc("Commands run after, in order, according to their `when`."))
    tty: bool = field(default=False, metadata=doc("Run under a pseudo-terminal."))
    timeout: float | None = field(
        default=None,
        metadata=doc("Seconds after which the run is stopped (INT, TERM, KILL), counted from "
                     "the start of connecting for its first pre command (else its command): "
                     "pre commands and the command share it; post commands, the clean-up, "
                     "are not limited. A command whose chain is still being reached when it "
                     "passes never starts.",
                     gt=0, le=MAX_SECONDS))
    restart: Literal["no", "on-failure", "always"] = field(
        default="no", metadata=doc("For background services: restart policy."))
    max_restarts: int = field(default=5, metadata=doc("Restarts allowed before giving up.", ge=0))
    dangerous: bool = field(default=False, metadata=doc(
        "In a protected environment, ask for confirmation every time (no session grace)."))
    name: str = field(default="", metadata={"internal": True})
    location: Location | None = field(default=None, metadata={"internal": True}, compare=False)


# ---- environments -------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One target of a fan-out layer: its short label and the config values it sets."""

    label: str
    changes: Mapping[str, Any]
    #: The inventory groups a host from an inventory is in (what `--limit GROUP` selects by).
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class FanOut:
    """A layer naming several targets: fixed ones (`members`), or a docker label resolved at
    run time (`selector`). `written` is how the config said it, for listings."""

    key: str
    written: str
    members: tuple[Member, ...] = ()
    selector: str | None = None


@masked_repr  # a plan's layers hold resolved placeholders (an ssh or sudo password)
@dataclass(frozen=True)
class LayerSpec:
    """One execution layer of an environment: its kind plus that kind's validated config
    (with `fanout`: what every target shares; each member changes its own key)."""

    type: str
    config: Any
    label: str
    location: Location | None = field(default=None, compare=False)
    fanout: FanOut | None = None


@dataclass(frozen=True)
class Guardrails:
    """What may run in an environment, and whether a person confirms each run first."""

    protected: bool = field(default=False, metadata=doc(
        "Before a run here, a person types the environment's name (or `--yes ENV` / "
        "`ORCH_CONFIRM=ENV` where nobody can be asked)."))
    confirm_ttl: float = field(default=900.0, metadata=doc(
        "Seconds one confirmation covers in a session (services marked `dangerous` ask "
        "every time).", ge=0, le=MAX_SECONDS))
    allow_services: tuple[str, ...] | None = field(default=None, metadata=doc(
        "Only these services may run here (default: any)."))
    allow_adhoc: bool | None = field(default=None, metadata=doc(
        "Whether ad-hoc commands, `%%orch ENV` cell scripts, copies and forwards may run here "
        "(default: yes, but no where allow_services is given)."))


GUARDRAIL_KEYS = ("protected", "confirm_ttl", "allow_services", "allow_adhoc")


@dataclass(frozen=True)
class Environment:
    """An ordered stack of layers; the first layer is the outermost (closest to this machine)."""

    name: str
    layers: tuple[LayerSpec, ...] = ()
    description: str | None = None
    location: Location | None = field(default=None, compare=False)
    guardrails: Guardrails = Guardrails()

    def describe(self) -> str:
        """`local → ssh bastion → docker app` rendering of the stack."""
        return " → ".join(["local", *(layer.label for layer in self.layers)])

    @property
    def is_fleet(self) -> bool:
        """Whether a layer names several targets (the environment fans out)."""
        return any(layer.fanout is not None for layer in self.layers)


@dataclass(frozen=True)
class CommandProviderSpec:
    """A password manager's command line as a secrets provider (`pass`, `op`, `vault` …)."""

    type: Literal["command"]
    argv: Argv = field(metadata=doc(
        "The command; `{name}` in an argument is replaced by the secret's name, e.g. `[pass, "
        "show, \"orch/{name}\"]`. Its stdout is the value. It runs in the config file's folder "
        "(`[sh, get.sh]`: the one beside it; a found config's in an empty one).", check=provider_argv))
    line: Literal["first", "all"] = field(default="first", metadata=doc(
        "Take the first line of stdout (as `pass` stores a password), or all of it."))
    timeout: float = field(default=30.0, metadata=doc("Seconds the command may take.", gt=0,
                                                      le=MAX_SECONDS))
    folder: str | None = field(default=None, metadata={"internal": True})  # its config's
    found: bool = field(default=False, metadata={"internal": True})  # judged before each run


ProviderSpec = Literal["env", "keyring", "file", "prompt"] | CommandProviderSpec


@dataclass(frozen=True)
class SecretsSettings:
    """Where `{{secret:NAME}}` values come from, tried in order."""

    providers: tuple[ProviderSpec, ...] = field(
        default=("env", "keyring", "file", "prompt"),
        metadata=doc("Providers tried in order."),
    )
    file: str | None = field(default=None, metadata=doc(
        "YAML file of `name: value` pairs; must not be readable by others.", check=file_path))
    keyring_service: str = field(
        default="orch_magics", metadata=doc("Service name used for keyring look-ups."))


@dataclass(frozen=True)
class AuditSettings:
    """The audit trail: one JSON line when each run starts and one when it ends."""

    enabled: bool = field(default=True, metadata=doc("Record every run (a run that cannot be "
                                                     "recorded does not start)."))
    path: str | None = field(default=None, metadata=doc(
        "The log file (default `$XDG_STATE_HOME/orch_magics/audit.jsonl`, else "
        "`~/.local/state/orch_magics/audit.jsonl`); relative to the config file.",
        check=file_path))
    digests: bool = field(default=True, metadata=doc(
        "Put the sha256 of each run's stdout and stderr in its end record; false keeps only "
        "the byte counts (hashing costs ~0.6 s of CPU per GB of output)."))


@dataclass(frozen=True)
class Config:
    """Everything loaded: environments and services by name, plus the files they came from."""

    environments: Mapping[str, Environment]
    services: Mapping[str, Service]
    files: tuple[str, ...] = ()
    secrets: SecretsSettings = SecretsSettings()
    audit: AuditSettings = AuditSettings()
    #: The Ansible inventory files read (`inventory:` at the top of a file).
    inventories: tuple[str, ...] = ()
    #: The files it was loaded from (absolute; none from text): what a rerun reads again.
    origin: tuple[str, ...] = ()
    found: bool = False  # found where orch runs, not named: what it reads is judged too

    def environment(self, name: str) -> Environment:
        """The environment called `name`, or a ConfigError with did-you-mean."""
        env = self.environments.get(_named("environment", name))
        if env is None:
            raise _unknown("environment", name, self.environments, self.files)
        return env

    def run_environment(self, name: str) -> Environment:
        """`environment(name)` for a run, saying so when `name` is a service (the environment
        was forgotten: `orch run health-check`)."""
        if _named("environment", name) not in self.environments and name in self.services:
            raise ConfigError(f"{name!r} is a service: name the environment first "
                              f"(environments: {', '.join(self.environments)})")
        return self.environment(name)

    def service(self, name: str) -> Service:
        """The service called `name`, or a ConfigError with did-you-mean."""
        svc = self.services.get(_named("service", name))
        if svc is None:
            raise _unknown("service", name, self.services, self.files)
        return svc


def _named(what: str, name: object) -> str:
    """`name` when it is a str: `orch.run(5)`, or a list (unhashable: a TypeError from the
    lookup before), is said in one line."""
    if not isinstance(name, str):
        raise ConfigError(f"the {what} must be a name (str), not {type(name).__name__}")
    return canonical_name(name)


def canonical_name(name: str) -> str:
    """A name as the config holds it (NFC): `prodé` typed is found however an editor saved it."""
    return name if name.isascii() else unicodedata.normalize("NFC", name)


def _unknown(what: str, name: str, known: Mapping[str, Any], files: tuple[str, ...]) -> ConfigError:
    listing = some_of(names) if (names := sorted(known)) else "none are defined"
    where = f" in {', '.join(files)}" if files else ""
    ignored = (f" ({what} names starting with 'x-' are ignored: such keys hold YAML anchors; "
               f"rename it)") if name.startswith("x-") else ""
    return ConfigError(
        f"unknown {what} {quoted(name)}{where}; known: {listing}{ignored}",
        suggestion=name_hint(name, names),
    )
