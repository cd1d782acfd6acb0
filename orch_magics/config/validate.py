"""Declarative validation: YAML data in, frozen dataclasses out, errors that point at the line.

A config class is a frozen dataclass; its type hints are the schema. Supported hints: str, int,
float, bool, X | None, Literal[...], tuple[X, ...], Mapping[str, str], nested dataclasses, and a
union of those. Field metadata may carry `doc` (documentation), bounds `ge`, `gt`, `le` (numbers)
and `check` (a callable raising ValueError with a message); a class may define `check(self)` for
rules across fields. Numbers must be finite, and every string's placeholders must be well formed.
Keys starting with `x-` are extension keys and are ignored.

Each hint is compiled once into a `Builder` (cached): a large file pays only for its values.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import math
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin

from ..frozen import FrozenMap
from .field_checks import bound_checks, field_checks
from .placeholders import placeholder_problem
from .secret_keys import secret_key
from .source import Path_, Source, describe_path
from .suggest import did_you_mean, key_hint
from .yaml_numbers import refuse_yaml11_number

#: Checks `value` (at `path` of `src`) and returns it converted.
Builder = Callable[[Any, Path_, Source], Any]

_SCALAR_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
_MAPPINGS = (Mapping, dict, typing.Mapping)

def yaml_key(f: dataclasses.Field[Any]) -> str:
    """The key a dataclass field is spelt as in YAML."""
    return str(f.metadata.get("key", f.name))


@functools.cache
def hints(cls: type) -> dict[str, Any]:
    """A config class's resolved type hints (cached: resolving them is slow)."""
    return typing.get_type_hints(cls)


def kind_name(value: Any) -> str:
    """What a YAML value is, in words (`an integer`, `a list`)."""
    for kind, name in ((bool, "a boolean"), (int, "an integer"), (float, "a number"),
                       (str, "a string"), (list, "a list"), (dict, "a mapping"),
                       (datetime.date, "a date (quote it to make it text)"),
                       (bytes, "binary data")):
        if isinstance(value, kind):
            return name
    return "nothing (null)" if value is None else type(value).__name__


def describe_type(tp: Any) -> str:
    """What a type hint accepts, in words."""
    origin = get_origin(tp)
    if tp in _SCALAR_NAMES:
        return _SCALAR_NAMES[tp]
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(describe_type(a) for a in get_args(tp) if a is not type(None))
    if origin is tuple:
        return "a list"
    if origin in _MAPPINGS or tp is dict or dataclasses.is_dataclass(tp):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def build(tp: Any, value: Any, path: Path_, src: Source) -> Any:
    """Check `value` against type hint `tp` and return it converted (dataclasses, tuples)."""
    return builder(tp)(value, path, src)


@functools.cache
def builder(tp: Any) -> Builder:
    """The compiled check-and-convert function for type hint `tp`."""
    origin = get_origin(tp)
    if tp is Any:
        return lambda value, path, src: value
    if origin in (Union, types.UnionType):
        return _union(tp)
    if origin is Literal:
        return _literal(get_args(tp))
    if tp in _SCALARS:
        return _SCALARS[tp]
    if origin is tuple:
        return _tuple(tp)
    if origin in _MAPPINGS:
        return _mapping(tp)
    if dataclasses.is_dataclass(tp):
        return lambda value, path, src: build_dataclass(tp, value, path, src)
    raise TypeError(f"unsupported config type {tp!r}")  # a bug in a config class, not user input


def _union(tp: Any) -> Builder:
    members = [(m, builder(m)) for m in get_args(tp) if m is not type(None)]
    nullable = len(members) != len(get_args(tp))

    words = [str(a) for m, _ in members if get_origin(m) is Literal for a in get_args(m)]

    def build_union(value: Any, path: Path_, src: Source) -> Any:
        if value is None and nullable:
            return None
        if isinstance(value, dict) and value.get("type") in words:  # `{type: env}` for `env`
            extra = [str(k) for k in value if k != "type"]
            settings = f" ({', '.join(extra)})" if extra else ""
            raise src.error(path, f"{describe_path(path)}: {value['type']!r} takes no "
                                  f"settings{settings}: write it as the plain name "
                                  f"{value['type']}")
        for member, build_member in members:
            if _shape_fits(member, value):
                return build_member(value, path, src)
        hint = did_you_mean(value, words) if isinstance(value, str) and words else None
        if hint:
            return _literal(tuple(words))(value, path, src)  # says "did you mean"
        raise _type_error(tp, value, path, src)
    return build_union


def _literal(allowed: tuple[Any, ...]) -> Builder:
    def build_literal(value: Any, path: Path_, src: Source) -> Any:
        if value in allowed and not (isinstance(value, bool) and True in allowed and 1 in allowed):
            return value
        written = None if isinstance(value, str) else src.written(path)
        if written in allowed:  # `restart: no`: YAML 1.1 made the word a boolean
            raise src.error(path, f"{describe_path(path)}: {yaml_changed(value, written)}")
        hint = did_you_mean(value, [str(a) for a in allowed]) if isinstance(value, str) else None
        shown = repr(value) if isinstance(value, (str, int, float)) else kind_name(value)
        if isinstance(value, bool) and written:  # `restart: off` said "not False"
            shown = f"{written} (YAML 1.1 reads it as the boolean {str(value).lower()})"
        raise src.error(path, f"{describe_path(path)} must be one of "
                              f"{', '.join(repr(a) for a in allowed)}, not {shown}",
                        suggestion=hint)
    return build_literal


def _build_str(value: Any, path: Path_, src: Source) -> Any:
    if not isinstance(value, str):
        raise _type_error(str, value, path, src)
    problem = placeholder_problem(value) or ("holds a NUL byte (\\0), which no program can "
                                             "receive" if "\0" in value else None)
    if problem:
        raise src.error(path, f"{describe_path(path)}: {problem}")
    return value


def _build_bool(value: Any, path: Path_, src: Source) -> Any:
    if isinstance(value, bool):
        return value
    raise _type_error(bool, value, path, src)


#: The largest whole number a config may hold (what a count, a size or a list length can be).
MAX_INT = sys.maxsize


def _build_int(value: Any, path: Path_, src: Source) -> Any:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _type_error(int, value, path, src)
    if abs(value) > MAX_INT:  # config13: a negative one was said to be too large
        raise src.error(path, f"{describe_path(path)} is too large (at most {MAX_INT})"
                        if value > 0 else f"{describe_path(path)} is too small (at least "
                        f"{-MAX_INT})")
    refuse_yaml11_number(value, path, src)
    return value


def _build_float(value: Any, path: Path_, src: Source) -> Any:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _type_error(float, value, path, src)
    refuse_yaml11_number(value, path, src)
    if isinstance(value, float) and not math.isfinite(value):
        raise src.error(path, f"{describe_path(path)} must be a finite number, not {value!r}")
    try:
        return float(value)
    except OverflowError:  # a whole number past any float (10**400)
        raise src.error(path, f"{describe_path(path)} is too large for a number") from None


_SCALARS: dict[Any, Builder] = {
    str: _build_str, bool: _build_bool, int: _build_int, float: _build_float}


def _tuple(tp: Any) -> Builder:
    item_tp = get_args(tp)[0]
    build_item = builder(item_tp)

    def build_tuple(value: Any, path: Path_, src: Source) -> Any:
        if not isinstance(value, list):
            raise _type_error(tp, value, path, src)
        return tuple(build_item(_as_text(item, path + (i,), src) if item_tp is str and
                                isinstance(item, _TEXT_LIKE) else item, path + (i,), src)
                     for i, item in enumerate(value))  # `[sleep, 1]`, as `PORT: 8080`
    return build_tuple


def _mapping(tp: Any) -> Builder:
    val_tp = get_args(tp)[1]
    build_value = builder(val_tp)

    def build_mapping(value: Any, path: Path_, src: Source) -> Any:
        if not isinstance(value, dict):
            raise _type_error(tp, value, path, src)
        out = {}
        for k, v in value.items():
            if val_tp is str and isinstance(v, _TEXT_LIKE):
                v = _as_text(v, path + (k,), src)
            out[k] = build_value(v, path + (k,), src)
        return FrozenMap(out)
    return build_mapping


#: Unquoted scalars YAML 1.1 reads as something other than text.
_TEXT_LIKE = (int, float, datetime.date)


def _as_text(value: Any, path: Path_, src: Source) -> str:
    """An unquoted number, true/false or date where text is expected (an environment value,
    an argv item) as the text written (`PORT: 8080` is '8080'); refused with a hint to quote it when YAML 1.1
    changed it (`0777` is 511, `no` is false, `0x1F` is 31), so no value changes unseen."""
    text = src.as_written(path, value)
    if text is None and secret_key(path):  # config17: `SECRET_KEY: 0x5f…` showed its value
        raise src.error(path, f"{describe_path(path)}: YAML 1.1 reads it as "
                              f"{kind_name(value).split(' (')[0]}, not as the text written: "
                              f"quote it to keep it exactly")
    if text is None:
        raise src.error(path, f"{describe_path(path)}: {yaml_changed(value, src.written(path))}")
    return text


def yaml_changed(value: Any, written: str | None) -> str:
    """Why an unquoted value is refused where text is expected, and how to keep it as written."""
    shown = ("true" if value else "false") if isinstance(value, bool) else str(value)
    what = "" if written is None else f"{written} "
    return (f"YAML 1.1 reads {what}as {kind_name(value).split(' (')[0]} ({shown}), not as the "
            f"text written: quote it ({_quoted(written or shown)}) to keep it exactly")


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclasses.dataclass(frozen=True)
class _FieldPlan:
    """How one YAML key of a config class is built and checked."""

    name: str
    build: Builder
    checks: tuple[Callable[[Any], None], ...]
    optional: bool  # its default is None: nothing written after its colon is a mistake
    bounds: tuple[Callable[[Any], None], ...]  # of a number: checked before its type too


def _check(checks: Sequence[Callable[[Any], None]], value: Any, path: Path_,
           src: Source) -> None:
    """`value` passes these checks of its field, or the error names its place."""
    for check in checks:
        try:
            check(value)
        except ValueError as exc:  # at the first bad item when it says which (config19)
            bad, at = getattr(exc, "bad", None), path
            if isinstance(value, Mapping) and bad in value:
                at = (*path, bad)
            elif isinstance(value, (list, tuple)) and bad in value:
                at = (*path, value.index(bad))
            raise src.error(at, _about(path, str(exc)), at_key=at is not path and isinstance(
                value, Mapping)) from None


def build_dataclass(cls: Any, value: Any, path: Path_, src: Source, **extra: Any) -> Any:
    """Build dataclass `cls` from a mapping; unknown keys get did-you-mean, missing ones an error."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise _type_error(cls, value, path, src)
    plans = _plans(cls, frozenset(extra))
    kwargs: dict[str, Any] = dict(extra)
    for key, raw in value.items():
        plan = plans.get(key)
        if plan is None:
            if key.startswith("x-"):
                continue
            raise src.error(path + (key,), f"unknown key {key!r} in {describe_path(path)}",
                            at_key=True,  # from every key: the caller's `extra` (filters) too
                            suggestion=key_hint(key, _plans(cls, frozenset())))
        if raw is None and plan.optional and src.written(path + (key,)) == "":
            raise src.error(path + (key,), _empty(path + (key,), src))
        if type(raw) is int and abs(raw) > MAX_INT:  # a port's own bound, not the int64 one
            _check(plan.bounds, raw, path + (key,), src)  # (a text field has none)
        converted = plan.build(raw, path + (key,), src)
        if converted is not None:
            _check(plan.checks, converted, path + (key,), src)
        kwargs[plan.name] = converted
    for key, name in _required(cls):
        if name not in kwargs:
            raise src.error(path, f"{describe_path(path)} is missing the required key {key!r}")
    obj = cls(**kwargs)
    own_check = getattr(obj, "check", None)
    if callable(own_check):
        try:
            own_check()
        except ValueError as exc:
            raise src.error(path, _about(path, str(exc))) from None
    return obj


def _empty(path: Path_, src: Source) -> str:
    """Why nothing after an optional key's colon is refused (config15: `user:` ran as the
    image's root, `allow_services:` with its items commented out allowed every service):
    `null` says unset on purpose."""
    hint = src.comment_hint(path, text=True)
    return (f"{describe_path(path)} is empty{hint}: give a value, or leave the key out for "
            f"the default")


def _about(path: Path_, problem: str) -> str:
    """`services.a.timeout must be …` or `services.a.command: the command is empty`."""
    sep = " " if problem.startswith(("must ", "is empty")) else ": "
    return f"{describe_path(path)}{sep}{problem}"


@functools.cache
def _plans(cls: type, skip: frozenset[str]) -> dict[str, _FieldPlan]:
    """The fields a YAML mapping may set, by key (not internal ones, not those in `skip`)."""
    type_hints = hints(cls)
    return {yaml_key(f): _FieldPlan(f.name, builder(type_hints[f.name]), field_checks(f),
                                    f.default is None and not f.metadata.get("empty_ok"),
                                    bound_checks(f))
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if f.init and f.name not in skip and not f.metadata.get("internal")}


def yaml_keys(cls: type) -> tuple[str, ...]:
    """The keys a YAML mapping of `cls` may set."""
    return tuple(_plans(cls, frozenset()))


@functools.cache
def _required(cls: type) -> tuple[tuple[str, str], ...]:
    """(YAML key, field name) of the fields without a default."""
    return tuple((yaml_key(f), f.name) for f in dataclasses.fields(cls)  # type: ignore[arg-type]
                 if f.init and not f.metadata.get("internal")
                 and f.default is dataclasses.MISSING
                 and f.default_factory is dataclasses.MISSING)


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
    if origin in _MAPPINGS or dataclasses.is_dataclass(tp):
        return isinstance(value, dict)
    return False


def _yaml_number(number: float, *, whole: bool) -> str | None:
    """`number` as YAML 1.1 reads it as one (`1.0e+300`, not `1e300`), if it is one the field
    takes (`whole`: an integer field)."""
    if not math.isfinite(number) or whole and not number.is_integer():
        return None
    if whole or number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    mantissa, _, exponent = repr(number).partition("e")
    return f"{mantissa}{'' if '.' in mantissa else '.0'}" + (f"e{exponent}" if exponent else "")


def _type_error(tp: Any, value: Any, path: Path_, src: Source) -> Exception:
    hint, written, takes = "", src.written(path), {tp, *get_args(tp)}
    if written is not None and isinstance(value, _TEXT_LIKE) and str in takes:  # (config15:
        hint = f" (quote it to make it text: {_quoted(written)})"  # not nothing: '' is no fix)
    if value is None and (said := src.comment_hint(path, text=str in takes)):
        hint = said
    numbers = {int, float} & takes
    if isinstance(value, str) and numbers:
        with contextlib.suppress(ValueError, OverflowError):  # YAML 1.1 reads 1e3 as text
            fix = _yaml_number(float(value), whole=float not in numbers)
            hint = f" (YAML reads {value!r} as text: write {fix})" if fix else ""
    if isinstance(value, (str, list)) and (example := getattr(tp, "EXAMPLE", None)):
        hint = f" (written as `{example}`)"  # `pre_commands: [git pull]`
    kind = kind_name(value)
    if hint.startswith(" (quote it"):  # the kind's own hint says it once, with the value
        kind = kind.removesuffix(" (quote it to make it text)")
    return src.error(path, f"{describe_path(path)} must be {describe_type(tp)}, not {kind}{hint}")
