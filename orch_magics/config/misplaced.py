"""Keys written in the wrong place, or left empty: said with where they go or how to write
what was meant, where "unknown key" (or a default taken silently) would hide the mistake."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import ConfigError
from .source import Path_, Source, describe_path


def left_empty(src: Source, path: Path_, what: str, fix: str) -> ConfigError:
    """`layers:` or `config:` with nothing after its colon, `what` commented out most likely
    (config17: a protected prod then ran on this machine, a sudo layer as root)."""
    return src.error(path, f"{describe_path(path)} is empty (nothing after its colon: {what} "
                           f"commented out?): {fix}", at_key=True)


#: Keys written at an environment's level meaning "for every command run here": a local
#: layer's settings (`env` and its other names: the variables).
_LAYER_WIDE = {"working_dir": "working_dir", **dict.fromkeys(
    ("environment", "env", "envs", "environ", "envvars", "variables", "vars"), "environment")}


def for_every_command(key: str, path: Path_, src: Source) -> None:
    """Refuse `environment:`/`working_dir:` beside an environment's layers saying where they
    apply to every command run there (config16: the hint sent them onto one service)."""
    setting = _LAYER_WIDE.get(key.lower())
    if setting is not None:
        raise src.error(path + (key,), f"{key!r} is not a key of {describe_path(path)}: for "
                        f"every command run there, add a local layer as its last: `layers: "
                        f"[…, {{type: local, config: {{{setting}: …}}}}]`; for one service, "
                        f"write it under services.NAME", at_key=True)


def misplaced(key: str, theirs: Iterable[str], whose: str, section: str, path: Path_,
              src: Source) -> None:
    """Refuse a key of the other section (`protected:` under a service) saying where it goes,
    where "unknown key" would have the user look for a typo."""
    if key in theirs:
        raise src.error(path + (key,), f"{key!r} is {whose} key, not {describe_path(path)}'s: "
                                       f"write it under {section}.NAME", at_key=True)
