"""Ansible's host range patterns: `web-[01:12].prod`, `node-[a:f]`, `r[1:3]-[a:b]`, `[0:10:2]`.

Numeric ranges keep the start's zero padding (`[01:12]` → `01`…`12`; the end is written as
wide, `[01:3]` is refused as ansible-core refuses it), alphabetic ranges run
over single letters, and several ranges in one name give every combination, in order. A `[` or
`]` is never part of a host or container name, so one that is no well-formed range (`[01-12]`,
an unclosed `[01:12`) is refused, as ansible-core refuses it, rather than taken as a name.
"""

from __future__ import annotations

import itertools
import re
import string
from collections.abc import Callable

_RANGE = re.compile(r"\[([^\[\]:]*):([^\[\]:]*)(?::([^\[\]:]*))?\]")
#: A bracket outside the well-formed ranges: a range written wrong, up to its `]` if any.
_STRAY = re.compile(r"\[[^\[\]]*\]?|\]")
_HOW = "a range is written [01:12] or [a:f]"
#: Most names one pattern may expand to (a typo such as `[1:1000000]` is an error, not a hang).
MAX_NAMES = 100_000


def is_pattern(text: str) -> bool:
    """Whether `text` is meant as a range pattern: it has a `[` or `]` (see `expand`)."""
    return "[" in text or "]" in text


def expand_ranges(text: str) -> list[str]:
    """`text` with its well-formed ranges expanded and the rest as written (a glob keeps its
    character classes: `web-[a-c]-[1:3]`); ValueError for a range that cannot be."""
    return _expanded(text, lambda between: between)


def expand(pattern: str) -> list[str]:
    """Every name `pattern` stands for (just `pattern` when it has no range).

    Raises ValueError with a one-line reason for a malformed range, or a bracket outside one.
    """
    return _expanded(pattern, _literal)


def _expanded(text: str, between: Callable[[str], str]) -> list[str]:
    """Every combination of `text`'s ranges, with `between` applied to the text around them."""
    parts: list[list[str]] = []
    pos = 0
    for match in _RANGE.finditer(text):
        parts.append([between(text[pos:match.start()])])
        try:
            parts.append(_one_range(match))
        except ValueError:
            _refuse_ipv6(match.group())
            raise
        pos = match.end()
    parts.append([between(text[pos:])])
    total = 1
    for part in parts:
        total *= len(part)
    if total > MAX_NAMES:
        raise ValueError(f"{text!r} expands to {total:,} names (at most {MAX_NAMES:,})")
    return ["".join(combo) for combo in itertools.product(*parts)]


def _literal(text: str) -> str:
    """Text between ranges, which no `[` or `]` may be left in."""
    stray = _STRAY.search(text)
    if stray is None:
        return text
    shown = stray.group()
    _refuse_ipv6(shown)
    if shown == "]":
        raise ValueError(f"a ']' with no '[' before it: {_HOW}")
    if not shown.endswith("]"):
        raise ValueError(f"range {shown!r} has no closing ']': {_HOW}")
    raise ValueError(f"{shown} is not a range: {_HOW}, a ':' between start and end")


def _refuse_ipv6(shown: str) -> None:
    """`[fe80::1]`, an address in brackets, gets its own advice: no range parses as one."""
    import ipaddress  # only for a pattern already refused

    try:
        ipaddress.IPv6Address(shown.strip("[]"))
    except ValueError:
        return
    raise ValueError(f"{shown} is an IPv6 address in brackets: write it without them "
                     f"({shown.strip('[]')})")


def count(pattern: str) -> int:
    """How many names `pattern` stands for, counted without making any (ValueError for a
    range that cannot be, as `expand`)."""
    total = 1
    for match in _RANGE.finditer(pattern):
        total *= len(_parsed(match)[0])
    return total


def _one_range(match: re.Match[str]) -> list[str]:
    values, width = _parsed(match)
    if isinstance(values, str):
        return list(values)
    return [str(n).zfill(width) for n in values]


def _parsed(match: re.Match[str]) -> tuple[range | str, int]:
    """A range's numbers (and their zero padding) or its letters, none made yet."""
    start, end, stride_text = match.group(1), match.group(2), match.group(3)
    shown = match.group(0)
    start = start or "0"  # `[:9]` starts at 0, as in Ansible
    try:
        stride = int(stride_text) if stride_text is not None else 1
    except ValueError:
        what = "is empty" if not stride_text else f"{stride_text!r} is not a number"
        raise ValueError(f"range {shown}: the step {what} (as ansible-core refuses it; "
                         f"drop the last colon, or give a step)") from None
    if stride < 1:
        raise ValueError(f"range {shown}: the step must be at least 1")
    if start.isdecimal() and end.isdecimal():  # as int() reads them (fleets17: `²` is a
        first, last = int(start), int(end)  # digit to isdigit, and no number to int)
        width = len(start) if start.startswith("0") and len(start) > 1 else 0
        if width and len(end) != width:  # `[01:3]`: as ansible-core refuses it
            raise ValueError(f"range {shown}: a zero-padded range must specify equal-length "
                             f"begin and end formats ([{start}:{end.zfill(width)}])")
        count = (last - first) // stride + 1  # arithmetic: a range() of 10**20 overflows
        if count > MAX_NAMES:
            raise ValueError(f"range {shown} stands for {count:,} names (at most "
                             f"{MAX_NAMES:,})")
        values: range | str = range(first, last + 1, stride)
    elif _letter(start) and _letter(end):
        letters, width = string.ascii_letters, 0
        values = letters[letters.index(start):letters.index(end) + 1:stride]
    else:
        raise ValueError(f"range {shown}: give two numbers ([01:12]) or two letters ([a:f])")
    if not values:
        raise ValueError(f"range {shown} is empty: its start comes after its end")
    return values, width


def _letter(text: str) -> bool:
    return len(text) == 1 and text in string.ascii_letters
