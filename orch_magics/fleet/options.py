"""FleetOptions: which targets of a fleet run, how many at once, and when to stop starting."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..engine.options import check_timeout
from ..errors import ConfigError
from ..limits import whole
from ..plan import RunPlan
from ..text import quoted

DEFAULT_PARALLEL = 32
#: Lines of each target's output its live row keeps by default (the RunResult keeps every byte).
TAIL_LINES = 20


@dataclass(frozen=True)
class FleetOptions:
    """`limit` (Ansible's `--limit` patterns), `parallel` targets at once, `max_fail` (a count
    or `N%` of the targets: once more have failed, no new target starts), `timeout` per target,
    `only` (exact labels, for `FleetResult.rerun`), and `tail`: the lines of each target's
    output its live row keeps, what a live view shows (the magic's `--tail`)."""

    limit: str | None = None
    parallel: int = DEFAULT_PARALLEL
    max_fail: int | str | None = None
    timeout: float | None = None
    only: tuple[str, ...] | None = None
    tail: int = TAIL_LINES

    def __post_init__(self) -> None:
        """Every value is checked before anything starts (the API takes them unparsed)."""
        if self.limit is not None and (not isinstance(self.limit, str) or "@" in self.limit):
            from .select import read_limit  # not on a single run's start-up path: it checks
            # the type and reads `@FILE`s, once, here
            object.__setattr__(self, "limit", read_limit(self.limit))
        for key in ("parallel", "tail", "max_fail"):  # NumPy's integers are ints here
            if (number := whole(getattr(self, key))) is not None:
                object.__setattr__(self, key, number)
        if isinstance(self.parallel, bool) or not isinstance(self.parallel, int) \
                or self.parallel < 1:
            raise ConfigError(f"parallel (--parallel) must be a whole number, at least 1, not "
                              f"{self.parallel!r}")
        self.fail_budget(1)  # a malformed --max-fail is an error before anything starts
        # not once per target, each row failing with it
        object.__setattr__(self, "timeout", check_timeout(self.timeout))
        if isinstance(self.tail, bool) or not isinstance(self.tail, int) or self.tail < 0:
            raise ConfigError(f"tail must be a whole number of lines, 0 or more, got "
                              f"{self.tail!r}")

    @classmethod
    def of(cls, limit: str | None = None, parallel: int | None = None,
           max_fail: int | str | None = None, timeout: float | None = None,
           tail: int | None = None) -> FleetOptions:
        """Options from front-end values (None: the default)."""
        return cls(limit, DEFAULT_PARALLEL if parallel is None else parallel, max_fail, timeout,
                   tail=TAIL_LINES if tail is None else tail)

    @property
    def given(self) -> bool:
        """Whether any fleet-only option was set (an error on a single-target environment)."""
        return (self.limit is not None or self.parallel != DEFAULT_PARALLEL
                or self.max_fail is not None or self.tail != TAIL_LINES)

    def for_plan(self, plan: RunPlan) -> FleetOptions | None:
        """These options for a run of `plan`; None for a single-target environment (where
        fleet-only options are a mistake)."""
        if plan.environment.is_fleet:
            return self
        if self.given:
            raise ConfigError(f"environment {plan.environment.name!r} has one target: "
                              f"limit, parallel, max_fail (--limit, --parallel, --max-fail) and a live "
                              f"row's tail apply to fleets")
        return None

    def fail_budget(self, total: int) -> int | None:
        """How many targets may fail before no new one starts (None: no limit)."""
        value = self.max_fail
        if value is None:
            return None
        if isinstance(value, str):  # whole numbers only, as a count is (`1.5` is refused)
            text = value.strip()
            found = re.fullmatch(r"([0-9]+)(%?)", text)
            if found is None or found[2] and int(found[1]) > 100:
                raise ConfigError(f"max_fail (--max-fail) takes a count or a percentage (3, 10%), not "
                                  f"{quoted(value)}")
            if found[2]:
                return math.floor(total * int(found[1]) / 100)
            value = int(found[1])
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"max_fail (--max-fail) takes a count (0 or more) or a percentage (3, "
                              f"10%), "
                              f"not {value!r}")
        return value
