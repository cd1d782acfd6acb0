"""What the package shows of its own objects goes through one redactor, so no repr, str or error
message shows a resolved secret.

`secrets.masking` installs its mask here when it loads (every resolved secret is registered
there first). The modules that may never import `secrets` (process, layers and config: they are
handed resolved values, they do not resolve them) still mask through this hook: a `Command` or a
layer's config that holds a password, printed by a notebook cell or a traceback with locals,
reads `****` while the values themselves stay what the run needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

Redact = Callable[[str], str]
_redactors: list[Redact] = []

T = TypeVar("T", bound=type)


def set_redactor(redact: Redact) -> None:
    """The function every shown text goes through (`secrets.masking` installs its mask)."""
    _redactors[:] = [redact]


def redact(text: str) -> str:
    """`text` with every known secret masked (unchanged before any secret was resolved)."""
    return _redactors[0](text) if _redactors else text


def masked_repr(cls: T) -> T:
    """Class decorator (put it above `@dataclass`): the repr, and so the str, `pprint` and
    IPython's display, of every instance is masked. The wrapper keeps no `__wrapped__`, so
    `pprint` does not walk the fields itself around the mask."""
    shown: Callable[[object], str] = vars(cls)["__repr__"]  # the one @dataclass wrote

    def __repr__(self: object) -> str:
        return redact(shown(self))

    __repr__.__qualname__ = f"{cls.__qualname__}.__repr__"
    cls.__repr__ = __repr__  # type: ignore[assignment]
    return cls


class Values(Mapping[str, str]):
    """A read-only mapping whose repr is masked: a command's variables, or a layer config's
    mapping with resolved placeholders. Reading a value gives the value; showing the mapping
    (a repr, `pprint`, a notebook's display) does not."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, str] | None = None) -> None:
        self._data = dict(data or {})

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return redact(repr(self._data))
