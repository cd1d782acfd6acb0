"""Guardrails of protected environments: what may run there, and a typed confirmation first.

`protected: true` on an environment means a person types its name before a run starts there.
One confirmation covers `confirm_ttl` seconds of this session unless the service is
`dangerous: true` (asked every time); it covers the environment as it was confirmed (its
layers, its guardrails), so a config loaded since that changes them asks again. Where nobody
can be asked (nbclient/papermill, a CLI without a terminal, plain Python), the run is refused
unless `--yes ENV` or the variable `ORCH_CONFIRM` names the environment; where a person can be
asked, the variable does not answer for them. `allow_services` and `allow_adhoc: false` narrow
what may run there at all. Front ends supply the `Asker`: a terminal prompt, or the kernel's
stdin request.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import shlex
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from .audit.record import account
from .config.model import Environment, canonical_name
from .config.suggest import did_you_mean, misspelt_variable
from .errors import OrchError
from .plan import RunPlan
from .secrets.masking import mask_text
from .text import printable
from .tty_prompt import in_an_unwatched_kernel

#: Asks a person a question and returns the typed answer; None when nobody can be asked.
Asker = Callable[[str], "str | None"]


class ConfirmationRefused(OrchError):
    """A protected environment was not confirmed (wrong name, or nobody could be asked)."""

    #: The id of the `refused` record the audit log holds for it (None: not audited).
    audit_id: str | None = None


@dataclass(frozen=True)
class Confirmation:
    """Who let a run into a protected environment, when, and how (prompt, --yes, …)."""

    environment: str
    user: str
    time: str
    how: str
    #: For a run covered by an earlier confirmation: how that one was given (its `time` is
    #: that one's too: no one confirmed anything when the covered run started).
    first: str | None = None

    def as_record(self) -> dict[str, str]:
        record = {"environment": self.environment, "user": self.user, "time": self.time,
                  "how": self.how}
        return record if self.first is None else {**record, "first": self.first}

    def covering(self) -> Confirmation:
        """This confirmation, as it covers a later run of its confirm_ttl."""
        return dataclasses.replace(self, how="confirmed earlier in this session",
                                   first=self.first or self.how)


@dataclass(frozen=True)
class Scope:
    """Which targets of a fleet a run is for: said in the question (`text`, long lists cut),
    and their labels when they are known before it runs (not: containers found by label)."""

    text: str
    labels: frozenset[str] | None = None

    def covers(self, other: Scope | None) -> bool:
        """Whether a confirmation given for this scope covers a run of `other`: the same
        targets or fewer (safety15: a canary's covered the fleet; review28: two lists cut to
        the same text covered hosts nobody was asked about)."""
        if other is None:
            return False
        if self.labels is not None and other.labels is not None:
            return other.labels <= self.labels
        return self.text == other.text and self.labels == other.labels


#: The scope of a fleet run admitted without one: its confirmation covers no other scope.
UNSAID = Scope("targets not named")


def _names(text: str | None) -> set[str]:
    return {canonical_name(n.strip()) for n in (text or "").split(",") if n.strip()}


class Guard:
    """Admits runs into environments; remembers confirmations for their time to live."""

    def __init__(self) -> None:
        #: By name: the environment as confirmed (layers and all), until when, how, and for
        #: which targets of a fleet (the question's scope; None: all it has).
        self._until: dict[str, tuple[Environment, float, Confirmation, Scope | None]] = {}
        self._lock = threading.Lock()

    def admit(self, plan: RunPlan, *, ask: Asker | None = None, yes: Collection[str] = (),
              front_end: str = "api", scope: Scope | str | None = None) -> Confirmation | None:
        """Check what may run, then confirm a protected environment (None: not protected);
        a refusal says how to confirm in `front_end`'s words."""
        env = plan.environment
        scope = Scope(scope) if isinstance(scope, str) else scope
        if scope is None and env.is_fleet:  # safety17: a forward gave none, and a scope of
            scope = UNSAID  # None covered the whole fleet: now it covers only its own kind
        check_allowed(plan)
        if not env.guardrails.protected:
            return None
        dangerous = bool(plan.service and plan.service.dangerous)
        with self._lock:  # safety15: a canary's confirmation (`1 target: web-1`) covered
            confirmed, until, given, of = self._until.get(env.name, (None, 0.0, None, None))
            if (not dangerous and confirmed == env and until > time.monotonic() and given
                    and (of is None or of.covers(scope))):  # the fleet after it: asked
                return given.covering()
        if env.name in {canonical_name(name) for name in yes if isinstance(name, str)}:
            return self._remember(plan, _confirmed(env.name, f"--yes {env.name}"), scope)
        answer = ask(_question(plan, dangerous, scope)) if ask is not None else None
        if (answer is None and env.name in _names(os.environ.get("ORCH_CONFIRM"))
                and not in_an_unwatched_kernel()):
            # Only where nobody can be asked: a variable exported for scheduled jobs (and
            # inherited by a notebook server) never answers for a person who is there; under
            # a kernel orch does not watch, nobody can tell (safety18: `%%bash orch run prod`)
            return self._remember(plan, _confirmed(env.name, "ORCH_CONFIRM"), scope)
        if answer is None:
            raise _nobody_confirms(env.name, [name for name in yes if name], front_end)
        if not answer.strip():
            raise ConfirmationRefused(f"not run: nothing was typed (the environment's name, "
                                      f"{env.name}, confirms it)")
        if canonical_name(answer.strip()) != env.name:
            # what was typed is not repeated: it becomes the audit record's reason, kept and
            # shipped for good, and a password typed at the wrong prompt is the usual case
            raise ConfirmationRefused(f"not run: the answer is not the environment's name "
                                      f"{env.name!r} (type it exactly as the config spells it)")
        return self._remember(plan, _confirmed(env.name, "typed the environment's name"), scope)

    def _remember(self, plan: RunPlan, confirmation: Confirmation,
                  scope: Scope | None) -> Confirmation:
        if not (plan.service and plan.service.dangerous):
            with self._lock:
                env = plan.environment
                self._until[env.name] = (env, time.monotonic() + env.guardrails.confirm_ttl,
                                         confirmation, scope)
        return confirmation


def _nobody_confirms(env: str, given: list[str], front_end: str) -> ConfirmationRefused:
    """The refusal where nobody can be asked: what was given, and how to confirm here (the
    API's `yes=`, the magic's and CLI's `--yes`), with a misspelt ORCH_CONFIRM named."""
    api = front_end == "api"
    named = ""
    if given:
        shown = (f"yes={given[0] if len(given) == 1 else given!r}" if api
                 else f"--yes {', '.join(given)}")
        named = f"{shown} does not name it, and "
    typed = shlex.quote(env)  # `--yes prod east` would be two words of the command line
    how = f"pass yes={env!r}" if api else f"run with --yes {typed}"
    if in_an_unwatched_kernel():  # ORCH_CONFIRM is not taken: a person may be there
        return ConfirmationRefused(
            f"environment {env!r} is protected and {named}nobody can confirm here: {how} "
            f"(under a notebook kernel without orch_magics ORCH_CONFIRM is not taken, since a "
            f"person may be at the notebook; in the \"Python 3 (orch)\" kernel it is, where no "
            f"front end takes input)")
    if os.environ.get("ORCH_CONFIRM", "").strip():  # set, for another environment
        named += f"ORCH_CONFIRM={os.environ['ORCH_CONFIRM'].strip()} does not name it, and "
    return ConfirmationRefused(
        f"environment {env!r} is protected and {named}nobody can confirm here: {how} or set "
        f"ORCH_CONFIRM={typed}{misspelt_variable('ORCH_CONFIRM')}")


def _confirmed(env: str, how: str) -> Confirmation:
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return Confirmation(env, account(), now, how)


def _question(plan: RunPlan, dangerous: bool, scope: Scope | None = None) -> str:
    """What a person is asked, masked like every text shown (the command may hold a secret;
    a terminal's scroll-back or a notebook's input request keeps the question); `scope`: a
    fleet's targets (safety12: 3 hosts or a rerun of one read the same)."""
    what = f"service {plan.service.name!r}" if plan.service else \
        f"command {_in_brief(plan.command.display())}"
    why = " (a dangerous service: asked every time)" if dangerous else ""
    on = f" ({scope.text})" if scope else ""
    return mask_text(f"{plan.environment.name!r} is a protected environment{why}. "
                     f"Type its name to run {what} there{on}: ")


def _in_brief(command: str) -> str:
    """`command` as a shell reads it (review24: a repr doubled the backslashes of its
    `$'x\\ty'`, another command for bash), masked, then cut to its first line that does
    something when it is long (safety19: a 60-line cell made a 2,452-character question;
    review36: cut before masking, a secret showed in part)."""
    command = mask_text(command)
    if len(command) <= 300:
        return f"`{printable(command)}`"
    lines = command.split("\n")
    first = next((line for line in lines if line.strip() and not line.lstrip().startswith(
        "#")), lines[0])
    return (f"`{printable(first[:80])}…` ({len(lines)} line{'s' if len(lines) > 1 else ''}, "
            f"{len(command)} characters)")


def adhoc_allowed(env: Environment) -> bool:
    """Whether more than its services as written may run in `env`: `allow_adhoc` as written,
    else unless `allow_services` lists what may (safety18: "only these services" let
    `-- sh -c …`, copies and forwards in)."""
    rails = env.guardrails
    return rails.allow_adhoc if rails.allow_adhoc is not None else rails.allow_services is None


def adhoc_refused_by(env: Environment) -> str:
    """The setting that keeps `env` to its services as written, as a refusal names it."""
    return "allow_adhoc: false" if env.guardrails.allow_adhoc is False else "its allow_services"


def check_allowed(plan: RunPlan) -> None:
    """Whether `plan` may run in its environment at all (allow_adhoc, allow_services): raises
    OrchError if not. Asks nobody: `--dry-run` says it too."""
    env = plan.environment
    why = adhoc_refused_by(env)
    if plan.service is None and not adhoc_allowed(env):
        raise OrchError(f"environment {env.name!r} runs services only ({why}); ad-hoc "
                        f"commands, cell scripts, copies and forwards are refused there")
    if plan.service is not None and not adhoc_allowed(env) and (
            plan.given_env or plan.given_cwd):  # `-e PATH=…` runs another program
        given = [*(f"-e {name}" for name in plan.given_env),
                 *(["a working directory"] if plan.given_cwd else [])]
        raise OrchError(f"environment {env.name!r} runs its services as written ({why}): "
                        f"{', '.join(given)} would change what runs; set it in the "
                        f"service instead")
    allowed = env.guardrails.allow_services
    if plan.service is not None and allowed is not None and plan.service.name not in allowed:
        hint = did_you_mean(plan.service.name, allowed)
        extra = f" (did you mean {hint!r}?)" if hint else ""
        raise OrchError(f"service {plan.service.name!r} may not run in {env.name!r}{extra}; "
                        f"allowed there: {', '.join(allowed) or 'none'}")
