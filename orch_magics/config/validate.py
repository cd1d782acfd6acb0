"""Declarative validation: YAML data in, frozen dataclasses out, errors that point at the line.

A config class is a frozen dataclass; its type hints are the schema. Supported hints: str, int,
float, bool, X | None, Literal[...], tuple[X, ...], Mapping[str, str], nested dataclasses, and a
union of those. Field metadata may carry `doc` (documentation) and `check` (a callable raising
ValueError with a message). Keys starting with `x-` are extension keys and are ignored.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin

from .source import Path_, Source, describe_path
from .suggest import did_you_mean

_SCALAR_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def yaml_key(f: dataclasses.Field[Any]) -> str:
    """The key a dataclass field is spelt as in YAML."""
    return str(f.metadata.get("key", f.name))


def hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def kind_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def describe_type(tp: Any) -> str:
    origin = get_origin(tp)
    if tp in _SCALAR_NAMES:
        return _SCALAR_NAMES[tp]
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(describe_type(a) for a in get_args(tp) if a is not type(None))
    if origin is tuple:
        return "a list"
    if origin in (Mapping, dict, typing.Mapping) or tp is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def build(tp: Any, value: Any, path: Path_, src: Source) -> Any:
    """Check `value` against type hint `tp` and return it converted (dataclasses, tuples)."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        members = get_args(tp)
        if value is None and type(None) in members:
            return None
        candidates = [m for m in members if m is not type(None) and _shape_fits(m, value)]
        if candidates:
            return build(candidates[0], value, path, src)
        raise _type_error(tp, value, path, src)
    if origin is Literal:
        allowed = get_args(tp)
        if value in allowed and not (isinstance(value, bool) and True in allowed and 1 in allowed):
            return value
        hint = did_you_mean(str(value), [str(a) for a in allowed]) if isinstance(value, str) else None
        raise src.error(
            path,
            f"{describe_path(path)} must be one of {', '.join(repr(a) for a in allowed)}, "
            f"not {value!r}",
            suggestion=hint,
        )
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _type_error(tp, value, path, src)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _type_error(tp, value, path, src)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _type_error(tp, value, path, src)
    if tp is str:
        if isinstance(value, str):
            return value
        raise _type_error(tp, value, path, src)
    if origin is tuple:
        (item_tp, _ellipsis) = get_args(tp)
        if not isinstance(value, list):
            raise _type_error(tp, value, path, src)
        return tuple(build(item_tp, item, path + (i,), src) for i, item in enumerate(value))
    if origin in (Mapping, dict, typing.Mapping):
        key_tp, val_tp = get_args(tp)
        if not isinstance(value, dict):
            raise _type_error(tp, value, path, src)
        out = {}
        for k, v in value.items():
            if val_tp is str and isinstance(v, (int, float, bool)) and v is not None:
                v = ("true" if v else "false") if isinstance(v, bool) else str(v)
            out[k] = build(val_tp, v, path + (k,), src)
        return types.MappingProxyType(out)
    if dataclasses.is_dataclass(tp):
        return build_dataclass(tp, value, path, src)
    raise TypeError(f"unsupported config type {tp!r}")  # a bug in a config class, not user input


def build_dataclass(cls: Any, value: Any, path: Path_, src: Source, **extra: Any) -> Any:
    """Build dataclass `cls` from a mapping; unknown keys get did-you-mean, missing ones an error."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise _type_error(cls, value, path, src)
    fields = {yaml_key(f): f for f in dataclasses.fields(cls) if f.init and f.name not in extra}
    fields = {k: f for k, f in fields.items() if not f.metadata.get("internal")}
    type_hints = hints(cls)
    kwargs: dict[str, Any] = dict(extra)
    for key, raw in value.items():
        if key.startswith("x-"):
            continue
        f = fields.get(key)
        if f is None:
            where = describe_path(path)
            raise src.error(
                path + (key,),
                f"unknown key {key!r} in {where}",
                at_key=True,
                suggestion=did_you_mean(key, fields),
            )
        converted = build(type_hints[f.name], raw, path + (key,), src)
        check = f.metadata.get("check")
        if check is not None and converted is not None:
            try:
                check(converted)
            except ValueError as exc:
                raise src.error(path + (key,), f"{describe_path(path + (key,))}: {exc}") from None
        kwargs[f.name] = converted
    for key, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and f.name not in kwargs:
            raise src.error(path, f"{describe_path(path)} is missing the required key {key!r}")
    return cls(**kwargs)


def _shape_fits(tp: Any, value: Any) -> bool:
    origin = get_origin(tp)
    if tp is str:
        return isinstance(value, str)
    if tp is bool:
        return isinstance(value, bool)
    if tp in (int, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin is tuple:
        return isinstance(value, list)
    if origin is Literal:
        return value in get_args(tp)
    if origin in (Mapping, dict, typing.Mapping) or dataclasses.is_dataclass(tp):
        return isinstance(value, dict)
    return False


def _type_error(tp: Any, value: Any, path: Path_, src: Source) -> Exception:
    return src.error(
        path, f"{describe_path(path)} must be {describe_type(tp)}, not {kind_name(value)}"
    )
