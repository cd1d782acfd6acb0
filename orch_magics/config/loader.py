"""Find, read and validate config files into a `Config`."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from ..errors import ConfigError
from ..frozen import FrozenMap
from ..importing import paused_gc
from ..keywords import keywords_checked
from ..layers.base import LayerKind
from ..layers.registry import get_kind, is_kind, kind_names, plugin_code
from . import fanout
from .chain import check_chain
from .checks import as_written
from .files import NoConfig as NoConfig  # imported from here before config/files.py
from .files import demo_config_files as demo_config_files  # (as docs/api.md showed)
from .files import find_config_files, found_here
from .inventory_files import inventory_paths, inventory_readers
from .misplaced import for_every_command, left_empty, misplaced
from .model import (
    FILTER_KINDS,
    GUARDRAIL_KEYS,
    Config,
    Environment,
    Guardrails,
    LayerSpec,
    Location,
    Service,
    canonical_name,
)
from .names import check_name
from .reading import judged_folder
from .settings import audit_settings, beside_config, no_secrets_file, secrets_settings
from .source import Path_, Source, describe_path, parse_source, read_source
from .suggest import did_you_mean, key_hint, value_hint
from .validate import build_dataclass, hints, kind_name, yaml_keys

if TYPE_CHECKING:
    from .inventory import Inventory

TOP_KEYS = ("environments", "services", "secrets", "audit", "inventory")

#: The loaded Config's lookups (`environment(nme=…)`) refuse a misspelt keyword as the API's
#: calls do; checked here, as model.py may not import keywords (keywords reads the model).
keywords_checked(Config)


@keywords_checked
def load_config(*files: str | os.PathLike[str], cwd: str | os.PathLike[str] | None = None
                ) -> Config:
    """Load and validate config files (found automatically when none are given; `cwd`: the
    folder to find them in, and to read relative paths from, instead of the working one)."""
    return load_files(find_config_files(files, cwd=cwd), found=found_here(files))


def load_files(paths: Iterable[str | Path], *, found: bool) -> Config:
    """Config files read and validated; `found` (in the folder orch runs in, not named): each,
    and every file they read, refused when another user could have written it (`reading`)."""
    paths = list(paths)
    config = _assemble(((read_source(p, found=found), Path(p).resolve().parent) for p in paths),
                       found)
    for folder in dict.fromkeys(str(Path(p).resolve().parent) for p in paths) if found else ():
        judged_folder(folder)  # what lies beside a found config is run too (review41)
    return replace(config, origin=tuple(str(Path(p).resolve()) for p in paths), found=found)


@keywords_checked
def load_config_text(text: str, name: str = "<string>") -> Config:
    """Validate config given as YAML text (for tests and notebooks). Its relative paths
    (`secrets.file`, an ssh layer's key, known_hosts, ssh_config) start at the working
    directory as it is now."""
    return _assemble([(parse_source(text, name), Path.cwd())])


def _assemble(sources: Iterable[tuple[Source, Path]], found: bool = False) -> Config:
    """One Config from parsed sources, each with the directory its relative paths start from
    (`found`: see `load_files`)."""
    environments: dict[str, Environment] = {}
    services: dict[str, Service] = {}
    files = []
    places: dict[str, tuple[Source, Path_]] = {}  # where each environment is written
    sources = list(sources)
    no_secrets_file(sources)
    own_paths = [inventory_paths(src, base) for src, base in sources]
    inventories = tuple(p for paths in own_paths for p in paths)
    readers = inventory_readers([src.file for src, _ in sources], own_paths, found)
    with paused_gc():
        for (src, base), inventory in zip(sources, readers, strict=True):
            files.append(src.file)
            before = set(environments)
            _load_source(src, environments, services, inventory, places)
            for name in set(environments) - before:  # config17: read from orch's folder
                environments[name] = beside_config(environments[name], base, found)
        secrets, audit = secrets_settings(sources, found), audit_settings(sources)
    _check_allowed_services(environments, services, places)
    return Config(FrozenMap(environments), FrozenMap(services), tuple(files),
                  secrets, audit, inventories)


def _check_allowed_services(environments: dict[str, Environment], services: dict[str, Service],
                            places: dict[str, tuple[Source, Path_]]) -> None:
    """`allow_services` may only name services that exist (a typo would lock a service out),
    said at the name (the services may come from another file, so only now)."""
    for env in environments.values():
        for i, name in enumerate(env.guardrails.allow_services or ()):
            if name not in services:
                src, path = places[env.name]
                raise src.error(path + ("allow_services", i),
                                f"environment {env.name!r}, allow_services: unknown service "
                                f"{name!r}", suggestion=did_you_mean(name, services))


def _load_source(src: Source, environments: dict[str, Environment],
                 services: dict[str, Service], inventory: Callable[[], Inventory],
                 places: dict[str, tuple[Source, Path_]]) -> None:
    data = src.data
    if not isinstance(data, dict):
        raise src.error((), "a config file must be a mapping with 'environments' and/or "
                            "'services' at the top")
    for key in data:
        if key not in TOP_KEYS and not key.startswith("x-"):  # `tok: abc`: a secrets file's
            raise src.error((key,), f"unknown top-level key {key!r}; expected one of "  # line?
                                    f"{', '.join(TOP_KEYS)}", at_key=True,
                            suggestion=key_hint(key, TOP_KEYS),
                            private=not isinstance(data[key], (dict, list)))
    envs = _or_empty(data.get("environments"), {})
    if not isinstance(envs, dict):
        raise src.error(("environments",), "environments must be a mapping of names to "
                                           "environments")
    keys = list(envs)
    for i, (key, raw) in enumerate(envs.items()):
        after = keys[i + 1] if i + 1 < len(keys) else None
        if key.startswith("x-"):
            continue
        name = canonical_name(key)
        path: Path_ = ("environments", key)
        if raw is None and after in ("layers", "description", *GUARDRAIL_KEYS):
            raise src.error(("environments", after), f"environment {after!r} follows {key!r}, "
                            f"which is empty: indent `{after}:` under `{key}:`", at_key=True)
        check_name("environment", name, path, src)
        if name in environments:
            first = environments[name].location
            raise src.error(path, f"environment {name!r} is defined twice (first at {first})",
                            at_key=True)
        environments[name] = _environment(name, raw, path, src, inventory)
        places[name] = src, path
    svcs = _or_empty(data.get("services"), {})
    if not isinstance(svcs, dict):
        raise src.error(("services",), "services must be a mapping of names to services")
    for key, raw in svcs.items():
        if key.startswith("x-"):
            continue
        name = canonical_name(key)
        path = ("services", key)
        check_name("service", name, path, src)
        if name in services:
            first = services[name].location
            raise src.error(path, f"service {name!r} is defined twice (first at {first})",
                            at_key=True)
        services[name] = _service(name, raw, path, src)


def _location(src: Source, path: Path_) -> Location:
    pos = src.position(path, at_key=True)
    return Location(src.file, pos[0] if pos else None)


def _environment(name: str, raw: Any, path: Path_, src: Source,
                 inventory: Callable[[], Inventory]) -> Environment:
    if raw is None:  # config17: its layers commented out, prod ran on this machine
        raise left_empty(src, path, "its layers", f"write `{path[-1]}: []` to run on this machine")
    layers_at = path + ("layers",)
    if isinstance(raw, list):  # the short form, its layers alone: `dev: [docker app]`
        raw, layers_at = {"layers": raw}, path
    if not isinstance(raw, dict):
        raise src.error(path, f"environment {name!r} must be a list of layers, or a mapping "
                              f"with a 'layers' list")
    allowed = ("layers", "description", *GUARDRAIL_KEYS)
    for key in raw:
        if key not in allowed and not key.startswith("x-"):
            for_every_command(key, path, src)
            misplaced(key, yaml_keys(Service), "a service's", "services", path, src)
            raise src.error(path + (key,), f"unknown key {key!r} in environment {name!r}",
                            at_key=True, suggestion=key_hint(key, allowed))
    layers_raw = raw.get("layers", [])  # absent: this machine
    if layers_raw is None:  # left empty: its items commented out, most likely (config17)
        raise left_empty(src, layers_at, "its items", "write `layers: []` to run on this machine")
    if not isinstance(layers_raw, list):  # `layers: {}` too: a mapping is not an empty list
        raise src.error(layers_at, f"environments.{name}.layers must be a list")
    layers = tuple(_layer(item, layers_at + (i,), src, inventory)
                   for i, item in enumerate(layers_raw))
    fanout.check_count(name, layers, layers_at, src)
    check_chain(name, layers, layers_at, src)
    description = raw.get("description")
    if description is not None and not isinstance(description, str):
        raise src.error(path + ("description",), "description must be a string")
    _as_written(description, path + ("description",), src)
    guardrails = build_dataclass(Guardrails, {k: raw[k] for k in GUARDRAIL_KEYS if k in raw},
                                 path, src)
    if guardrails.allow_services is not None:  # as services' names are held (safety17: an
        guardrails = replace(guardrails, allow_services=tuple(  # entry saved decomposed was
            map(canonical_name, guardrails.allow_services)))  # "unknown service café")
    return Environment(name, layers, description, _location(src, path), guardrails)


def layer_spec(type_: str, config: Any, location: Location | None = None) -> LayerSpec:
    """A LayerSpec from a kind name and its (already validated) config object."""
    kind = get_kind(type_)
    return LayerSpec(type_, config, kind.label(config), location)


def _layer(raw: Any, path: Path_, src: Source, inventory: Callable[[], Inventory]) -> LayerSpec:
    if isinstance(raw, str):
        raw = _short_layer(raw, path, src)
    if not isinstance(raw, dict):
        raise src.error(path, "a layer must be a mapping like {type: ssh, config: {host: ...}}, "
                              "or its short form `ssh HOST`")
    for key in raw:
        if key not in ("type", "config", "name") and not key.startswith("x-"):
            raise src.error(path + (key,), f"unknown key {key!r} in a layer (expected type, "
                                           f"config, name){_whose(key, raw)}", at_key=True,
                            suggestion=key_hint(key, ("type", "config", "name")))
    type_ = raw.get("type")
    if type_ is None:
        raise src.error(path, "a layer needs a 'type' (one of " + ", ".join(kind_names()) + ")")
    if not isinstance(type_, str) or not is_kind(type_):
        raise _unknown_type(src, path + ("type",), "layer", type_, kind_names())
    kind = _kind(type_, path + ("type",), src)
    if "config" in raw and raw["config"] is None:  # config17: a sudo layer's `# user: app`
        raise left_empty(src, path + ("config",), "its settings",  # ran as root
                         "write `config: {}` for the kind's defaults")
    raw_config, fan = fanout.split(type_, raw.get("config"), path + ("config",), src, inventory)
    label = raw.get("name")
    if label is not None and not isinstance(label, str):
        raise src.error(path + ("name",), "a layer's name must be a string")
    _as_written(label, path + ("name",), src)
    with plugin_code(type_, "failed on this layer", lambda words: src.error(path, words)):
        config = build_dataclass(kind.Config, raw_config, path + ("config",), src)
        if fan is not None and fan.selector is None:
            label = label or kind.label(replace(config, **{fan.key: fan.written}))
        label = label or kind.label(config)
        if not isinstance(label, str):  # kinds14: a plugin's int broke every front end
            raise TypeError(f"its label() gave {type(label).__name__} {label!r}, not a string")
    return LayerSpec(type_, config, label, _location(src, path), fan)


def _kind(type_: str, path: Path_, src: Source) -> LayerKind:
    """The kind `type_` names, or a ConfigError at `path` naming the plugin that cannot load."""
    try:
        return get_kind(type_)
    except ConfigError as exc:
        raise src.error(path, str(exc)) from None


def _as_written(text: str | None, path: Path_, src: Source) -> None:
    try:
        as_written(text or "")
    except ValueError as exc:
        raise src.error(path, f"{describe_path(path)}: {exc}") from None


def _short_layer(text: str, path: Path_, src: Source) -> dict[str, Any]:
    """The mapping a layer written as one string stands for: `ssh bastion` is
    `{type: ssh, config: {host: bastion}}`, `local` is `{type: local}`; the kind's `target`
    names the key its word fills (layers.base.LayerKind)."""
    type_, *rest = text.split(None, 1) or [""]
    if not is_kind(type_):
        raise _unknown_type(src, path, "layer", type_, kind_names())
    kind = _kind(type_, path, src)
    key = getattr(kind, "target", None)
    if not rest and not stands_alone(kind):
        raise src.error(path, f"`{type_}` alone names no {key}: write `{type_} "
                              f"{str(key).upper()}`, or the mapping {{type: {type_}, config: "
                              f"{{...}}}}")
    if not rest:
        # kinds13: `- sudo #65534` (sudo's form of a uid) ran as root, the uid a comment
        comment = src.comment_after(path) if key is not None else None
        if comment is not None and re.fullmatch(r"#\d+", comment):
            raise src.error(path, f"`{type_}` alone, as YAML reads it: `#` after a space "
                                  f"starts a comment, so {comment!r} is not its {key}: quote "
                                  f"the whole layer, as in \"{type_} {comment}\"")
        return {"type": type_}
    if key is None:
        raise src.error(path, f"a {type_} layer names no target: write `{type_}` alone, or "
                              f"the mapping {{type: {type_}, config: {{...}}}}")
    target = rest[0].strip()
    if len(target) > 1 and target[0] == target[-1] and target[0] in "\"'":  # `ssh "group:web"`
        target = target[1:-1]  # quoted inside the item, as a shell would: no name holds them
    elif target.isdecimal() and int in {tp := hints(kind.Config).get(key), *get_args(tp)}:
        return {"type": type_, "config": {key: int(target)}}  # kinds14: `nice 5`, an int key
    return {"type": type_, "config": {key: target}}


def _whose(key: str, raw: dict[str, Any]) -> str:
    """Where a layer's stray key goes (config15: `{type: ssh, host: b}`, `- ssh: b`): under
    `config:` when the kind has it, or the short form when it names a kind."""
    type_ = raw.get("type")
    with contextlib.suppress(ConfigError):  # a plugin that cannot load: said by its `type`
        if isinstance(type_, str) and is_kind(type_) and key in yaml_keys(
                get_kind(type_).Config):
            return (f": {key!r} is a setting of the {type_} kind, written under config: "
                    f"({{type: {type_}, config: {{{key}: …}}}})")
    if is_kind(key) and len(raw) == 1:
        return (f": a layer of the {key} kind is written `{key} {raw[key]}` (a string), or "
                f"{{type: {key}, config: {{…}}}}")
    return ""


def stands_alone(kind: LayerKind) -> bool:
    """Whether a kind may be written as its name alone (`local`, `sudo`): it has no `target`,
    or its target has a default (sudo's root). ssh needs its host, a container layer its
    container (or a label or compose service: the mapping form)."""
    key = getattr(kind, "target", None)
    if key is None:
        return True
    field = next((f for f in dataclasses.fields(kind.Config) if f.name == key), None)
    return field is not None and field.default not in (None, dataclasses.MISSING)


def _or_empty(value: Any, empty: Any) -> Any:
    """`empty` for a section written with nothing (`services:`); `0`, `false` or `""` stays
    itself, so the type check that follows names it (they loaded as nothing before)."""
    return empty if value is None else value


def _service(name: str, raw: Any, path: Path_, src: Source) -> Service:
    if not isinstance(raw, dict):
        raise src.error(path, f"service {name!r} must be a mapping with at least a 'command'")
    raw = dict(raw)
    for key in raw:
        misplaced(key, ("layers", *GUARDRAIL_KEYS), "an environment's", "environments", path,
                   src)
    if "filters" in raw and raw["filters"] is None:
        raise left_empty(src, path + ("filters",), "its items", "leave it out for no filter")
    filters_raw = raw.pop("filters", [])
    if not isinstance(filters_raw, list):
        raise src.error(path + ("filters",), f"services.{name}.filters must be a list")
    filters = tuple(_filter(f, path + ("filters", i), src) for i, f in enumerate(filters_raw))
    service = build_dataclass(Service, raw, path, src, filters=filters, name=name,
                              location=_location(src, path))
    for i, step in enumerate(service.pre_commands):
        if step.when != "success":
            raise src.error(path + ("pre_commands", i, "when"),
                            "'when' applies to post_commands only; a failing pre command "
                            "always stops the run")
    if service.stdout_file is not None and service.stdout_mode != "file":  # it did nothing
        raise src.error(path + ("stdout_file",), f"stdout_file is for stdout_mode: file (this "
                                                 f"service's is {service.stdout_mode}): add "
                                                 f"stdout_mode: file, or leave stdout_file out",
                        at_key=True)
    if service.stdout_mode == "file" and not service.stdout_file:
        service = _replace_stdout_file(service)
    return service


def _replace_stdout_file(service: Service) -> Service:
    return replace(service, stdout_file="{service}-{timestamp}.out")


def _filter(raw: Any, path: Path_, src: Source) -> Any:
    if not isinstance(raw, dict):
        raise src.error(path, "a filter must be a mapping like {type: grep, pattern: ERROR}")
    type_ = raw.get("type")
    if type_ is None:
        _type_misspelt(raw, path, src)
        raise src.error(path, f"a filter needs a 'type' (one of {', '.join(FILTER_KINDS)})")
    if not isinstance(type_, str) or type_ not in FILTER_KINDS:
        raise _unknown_type(src, path + ("type",), "filter", type_, list(FILTER_KINDS))
    options = {k: v for k, v in raw.items() if k != "type"}
    return build_dataclass(FILTER_KINDS[type_], options, path, src)


def _type_misspelt(raw: dict[Any, Any], path: Path_, src: Source) -> None:
    """A filter with no `type` but a key spelt near it (`typ: grep`): that key is the slip."""
    for key in raw:
        if isinstance(key, str) and key != "type" and key_hint(key, ("type",)) == "type":
            raise src.error(path + (key,), f"unknown key {key!r} in a filter", at_key=True,
                            suggestion="type")


def _unknown_type(src: Source, path: Path_, what: str, value: Any, known: list[str]
                  ) -> ConfigError:
    """The error for a layer's or filter's `type` that names no known kind."""
    if not isinstance(value, str):
        return src.error(path, f"a {what}'s type must be a name (one of {', '.join(known)}), "
                               f"not {kind_name(value)}")
    shown = value[:40] + "…" if len(value) > 40 else value
    return src.error(path, f"unknown {what} type {shown!r}; known types: {', '.join(known)}",
                     suggestion=value_hint(value, known))
