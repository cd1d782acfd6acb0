"""Bounds that config, layers and the engine check numbers against, in one place, and what
a number given to the API is (a NumPy integer a DataFrame gives is a whole number too)."""

from __future__ import annotations

import math
import numbers
import operator

from .errors import ConfigError

#: The longest time, in seconds, anything may be given to wait or run (about 31 years):
#: longer overflows the clocks and thread waits that runs are timed with.
MAX_SECONDS = 1e9


def whole(value: object) -> int | None:
    """`value` as an int when it is a whole number (int, NumPy's…; not a bool), else None
    (fleets21: `parallel=df.n.max()` was "not a whole number")."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return None
    return operator.index(value)


def real(value: object) -> float | None:
    """`value` as a number when it is a real one (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except OverflowError:  # a whole number past any float (10**400): past every bound
        return -math.inf if str(value).startswith("-") else math.inf


def seconds(value: object, *, zero_ok: bool = False) -> float | None:
    """`value`, a time limit or a wait (None: none), as a float of seconds: any real number
    (a NumPy one, a Fraction) up to MAX_SECONDS, more than 0 (`zero_ok`: 0 or more); else a
    ConfigError that says the value as given (review35: `wait` had a check of its own, and
    a Fraction passed the run's, then broke the message that said it)."""
    number = real(value)
    if value is None or number is not None and (0 <= number if zero_ok else 0 < number) \
            and number <= MAX_SECONDS:
        return number
    shown = repr(value) if len(repr(value)) < 30 else f"{repr(value)[:20]}…"
    what = "a number of seconds, 0 or more" if zero_ok else "a positive number of seconds"
    raise ConfigError(f"timeout must be {what} (at most {MAX_SECONDS:g}"
                      f"{'; None: no limit' if zero_ok else ''}), not {shown}")
