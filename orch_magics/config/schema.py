"""The JSON Schema of the config files, generated from the same dataclasses the loader uses.

`orch schema` prints it for every installed kind; the packaged copy (schema/orch.schema.json)
is the one of this package's own kinds (`registry.OWN`: an installed plugin changes neither
it nor its test), checked against this generator by the tests, so editors' completion and
the validation can never drift apart.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin

from ..layers.registry import OWN, get_kind, kind_names, loadable
from .fanout import fanout_key
from .field_checks import BOUNDS
from .loader import stands_alone
from .model import FILTER_KINDS, AuditSettings, Guardrails, SecretsSettings, Service
from .validate import yaml_key

SCHEMA_ID = "https://orch-magics.invalid/orch.schema.json"
EXT: dict[str, Any] = {"^x-": {}}


def type_schema(tp: Any) -> dict[str, Any]:
    origin = get_origin(tp)
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if origin is Literal:
        return {"enum": list(get_args(tp))}
    if origin in (Union, types.UnionType):
        members = [m for m in get_args(tp) if m is not type(None)]
        nullable = len(members) != len(get_args(tp))
        options = [type_schema(m) for m in members]
        if nullable:
            options.append({"type": "null"})
        return options[0] if len(options) == 1 else {"anyOf": options}
    if origin is tuple:  # text items as mapping values: an unquoted `1` is kept as "1"
        items = get_args(tp)[0]
        return {"type": "array", "items": {"type": ["string", "number", "boolean"]}
                if items is str else type_schema(items)}
    if origin in (Mapping, dict, typing.Mapping):
        return {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}
    if dataclasses.is_dataclass(tp):
        return dataclass_schema(tp)
    raise TypeError(f"no schema for {tp!r}")


def dataclass_schema(cls: Any, skip: tuple[str, ...] = (), extra: dict[str, Any] | None = None
                     ) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    props: dict[str, Any] = {}
    required = []
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal") or f.name in skip or not f.init:
            continue
        key = yaml_key(f)
        prop = dict(type_schema(hints[f.name]))
        if "doc" in f.metadata:
            prop["description"] = f.metadata["doc"]
        for bound, (_holds, _words, keyword) in BOUNDS.items():
            if bound in f.metadata:
                prop[keyword] = f.metadata[bound]
        if f.default is not dataclasses.MISSING and isinstance(f.default, (str, int, float, bool)):
            prop["default"] = f.default
        elif isinstance(f.default, tuple) and all(isinstance(v, str) for v in f.default):
            prop["default"] = list(f.default)
        props[key] = prop
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(key)
    props.update(extra or {})
    out: dict[str, Any] = {"type": "object", "properties": props,
                           "patternProperties": EXT, "additionalProperties": False}
    if cls.__doc__:
        out["description"] = cls.__doc__.strip().splitlines()[0]
    if required:
        out["required"] = required
    return out


def or_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` where YAML's nothing (a key written with no value) is also taken, as the loader
    takes it: a mapping left empty (`config:`, `audit:`) is one with no keys."""
    return {**schema, "type": [schema["type"], "null"]}


def filter_schema() -> dict[str, Any]:
    options = []
    for name, cls in FILTER_KINDS.items():
        s = dataclass_schema(cls, extra={"type": {"const": name}})
        s["required"] = ["type", *s.get("required", [])]
        options.append(s)
    return {"oneOf": options}


def layer_schema(kinds: Sequence[str]) -> dict[str, Any]:
    options = []
    for name in kinds:
        kind = get_kind(name)
        options.append({
            "type": "object",
            "description": (kind.Config.__doc__ or name).strip().splitlines()[0],
            "properties": {
                "type": {"const": name},
                "name": {"type": ["string", "null"], "description": "Label shown for this hop."},
                "config": _fanned(name, dataclass_schema(kind.Config)),  # not left empty
            },
            "required": ["type"],
            "patternProperties": EXT,
            "additionalProperties": False,
        })
    options.append(_short_layer_schema(kinds))
    return {"oneOf": options}


def _short_layer_schema(kinds: Sequence[str]) -> dict[str, Any]:
    """A layer as one string, `KIND NAME` for a kind with a `target`, or `KIND` alone where
    that is enough (loader.stands_alone)."""
    alone = [name for name in kinds if stands_alone(get_kind(name))]
    named = [name for name in kinds if getattr(get_kind(name), "target", None)]
    return {"type": "string",
            "pattern": f"^\\s*(({'|'.join(alone)})|({'|'.join(named)})\\s+\\S.*)\\s*$",
            "description": "Short form: the kind alone (`local`) or with its target "
                           "(`ssh bastion`, `docker app`, `sudo root`)."}


def _fanned(kind: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A kind's config schema where its fan-out key may also list several targets."""
    key = fanout_key(kind)
    if key is None or key not in schema.get("properties", {}):
        return schema
    one = dict(schema["properties"][key])
    lifted = {k: one.pop(k) for k in ("description", "default") if k in one}
    lifted["description"] = (lifted.get("description", "") + " A list or a range pattern names "
                             "several targets: the environment fans out (docs/fleets.md).").strip()
    several = {"type": "array", "items": {"type": "string"}, "minItems": 1}
    fanned = {"anyOf": [*one.get("anyOf", [one]), several], **lifted}
    return {**schema, "properties": {**schema["properties"], key: fanned}}


def _described(name: str) -> bool:
    """Whether kind `name` loads and its config can be written as a schema: a broken plugin
    is left out of the listing of every kind (its own config says what is wrong with it)."""
    if loadable(name) is None:
        return False
    try:
        layer_schema([name])
    except Exception:  # noqa: BLE001  (a plugin's Config of a type no schema has)
        if name in OWN:
            raise
        return False
    return True


def build_schema(kinds: Sequence[str] | None = None) -> dict[str, Any]:
    """The schema for layers of `kinds` (default: every installed kind)."""
    service = dataclass_schema(Service, skip=("filters",), extra={
        "filters": {"type": "array", "items": filter_schema(),
                    "description": "Filters applied, in order, to stdout lines as they stream."},
    })
    kinds = kinds or [name for name in kind_names() if _described(name)]
    layers = {"type": "array", "items": layer_schema(kinds),
              "description": "Execution layers, outermost first."}
    mapping = {
        "type": "object",
        "properties": {
            "description": {"type": ["string", "null"]},  # as the loader takes it
            "layers": layers,
            **dataclass_schema(Guardrails)["properties"],
        },
        "patternProperties": EXT,
        "additionalProperties": False,
    }
    environment = {"anyOf": [mapping, {**layers, "description": "Short form: the layers alone."}]}
    # (left empty, `dev:` or `layers:`, it is refused: its layers commented out, most likely)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "orch_magics configuration (environments and services)",
        "type": ["object", "null"],  # an empty file: nothing defined yet
        "properties": {
            "environments": {"type": ["object", "null"], "additionalProperties": environment,
                             "patternProperties": EXT,  # an anchor holder (config12)
                             "description": "Named stacks of execution layers."},
            "services": {"type": ["object", "null"], "additionalProperties": service,
                         "patternProperties": EXT,
                         "description": "Named, environment-agnostic service definitions."},
            "secrets": or_null(dataclass_schema(SecretsSettings)),
            "audit": or_null(dataclass_schema(AuditSettings)),
            "inventory": {"anyOf": [{"type": "string"},
                                    {"type": "array", "items": {"type": "string"}}],
                          "description": "Ansible inventory files (INI or YAML) for "
                                         "`host: group:NAME` (docs/fleets.md)."},
        },
        "patternProperties": EXT,
        "additionalProperties": False,
    }


def schema_json(kinds: Sequence[str] | None = None) -> str:
    return json.dumps(build_schema(kinds), indent=2, sort_keys=False) + "\n"


def packaged_schema_json() -> str:
    """The packaged copy's text: this package's own kinds only."""
    return schema_json(sorted(OWN))
