"""What a named run may be called: its name is also its log file's name."""

from __future__ import annotations

from collections.abc import Callable

from .config.model import canonical_name
from .errors import ConfigError, OrchError

#: Longest name a run may be given.
NAME_MAX = 100
#: Its most UTF-8 bytes: `NAME.log.1` must fit a file name (255 bytes), `日`×100 is 300.
BYTES_MAX = 200
_ALLOWED = "._-"


def run_name(name: str) -> str:
    """A run's name as it is kept and looked up: NFC, as the config keeps names (an `é`
    typed decomposed, as macOS types it, was refused, and the composed one was another)."""
    return canonical_name(name) if isinstance(name, str) else name


def check_name(name: str) -> None:
    """Letters, digits, '.', '_' and '-', starting with a letter or digit: no '/' to leave the
    log folder, no hidden file, no two names that would share one log file."""
    if (not isinstance(name, str) or not 0 < len(name) <= NAME_MAX or not name[0].isalnum()
            or not all(c.isalnum() or c in _ALLOWED for c in name)
            or len(name.encode("utf-8", "surrogatepass")) > BYTES_MAX):
        raise ConfigError(f"run name {name!r}: use letters, digits, '.', '_' and '-', "
                          f"starting with a letter or digit (at most {NAME_MAX}, and "
                          f"{BYTES_MAX} bytes in UTF-8: a file name holds 255)")


def name_from(base: str) -> str:
    """A valid name made from a service's name (which may hold any character)."""
    safe = "".join(c if c.isalnum() or c in _ALLOWED else "_" for c in base)
    name = safe.lstrip(_ALLOWED)[:NAME_MAX - 10]
    while len(name.encode("utf-8", "surrogatepass")) > BYTES_MAX - 10:  # room for `-N`
        name = name[:-1]
    return name or "run"


def taken(name: str) -> OrchError:
    """The refusal of a name a run still running has."""
    return OrchError(f"a run named {name!r} is still running; stop it or pick another")


def choose(wanted: str | None, base: str, running: Callable[[str], bool]) -> str:
    """The name of a new named run, single or fleet (one namespace for both): `wanted`,
    refused while a run of that name still runs, else `base` made valid, then `base-1`, …"""
    if wanted is not None:  # "" is no name: refused, not the default one
        wanted = run_name(wanted)
        check_name(wanted)
        if running(wanted):
            raise taken(wanted)
        return wanted
    name = base = name_from(base)
    number = 0
    while running(name):
        number += 1
        name = f"{base}-{number}"
    return name
