"""Bounds that config, layers and the engine check numbers against, in one place, and what
a number given to the API is (a NumPy integer a DataFrame gives is a whole number too)."""

from __future__ import annotations

import math
import numbers
import operator

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
