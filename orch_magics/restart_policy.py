"""When a named run's finished attempt is started again, how often, and after how long:
`restart: no | on-failure | always`, `max_restarts`, and an exponential back-off."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from .config.model import Service
from .config.suggest import did_you_mean
from .errors import ConfigError
from .result import RunResult

RestartMode = Literal["no", "on-failure", "always"]


@dataclass(frozen=True)
class RestartPolicy:
    """When a finished attempt is started again, how often, and after how long."""

    mode: RestartMode = "no"
    max_restarts: int = 5
    backoff: tuple[float, float] = (1.0, 30.0)  # first delay, longest delay (seconds)

    def __post_init__(self) -> None:
        """`restart=` and `max_restarts=` given to `start()` are checked as the config's are."""
        if self.mode not in get_args(RestartMode):
            hint = did_you_mean(str(self.mode), get_args(RestartMode))
            raise ConfigError(f"restart must be one of {', '.join(get_args(RestartMode))}, "
                              f"not {self.mode!r}" + (f" (did you mean {hint!r}?)" if hint else ""))
        if isinstance(self.max_restarts, bool) or not isinstance(self.max_restarts, int) \
                or self.max_restarts < 0:
            raise ConfigError(f"max_restarts must be a whole number, 0 or more, not "
                              f"{self.max_restarts!r}")

    @classmethod
    def of(cls, service: Service | None, restart: str | None, max_restarts: int | None,
           backoff: tuple[float, float], *, fleet: bool = False) -> RestartPolicy:
        """The policy of a named run: `restart=` / `max_restarts=`, else its service's. A
        named fleet is not restarted: giving either for one is a mistake."""
        if fleet and (restart is not None or max_restarts is not None):
            raise ConfigError("restart and max_restarts are for a single run: a named fleet "
                              "is not restarted")
        if restart is False:  # what a Python caller writes for "never": it is "no"
            restart = "no"
        mode = restart if restart is not None else (service.restart if service else "no")
        most = max_restarts if max_restarts is not None else (
            service.max_restarts if service else 5)
        return cls(mode, most, backoff)  # type: ignore[arg-type]  # checked in __post_init__

    def should_restart(self, result: RunResult | None, restarts: int) -> bool:
        if self.mode == "no" or restarts >= self.max_restarts:
            return False
        if self.mode == "always":
            return True
        return result is None or not result.ok

    def delay(self, restarts: int) -> float:
        """Exponential back-off: first, 2×first, 4×first, … capped at the longest delay."""
        first, longest = self.backoff
        return min(first * 2.0 ** min(restarts, 64), longest)  # 2 ** 1024 is no float (runs5)
