"""The `secrets:` and `audit:` sections, which several config files may share key by key.

As for names, later files add keys: one file may set `audit.path` and another
`audit.digests`, but a key set in two files is an error naming both places, as a service
defined twice is (a later file silently replacing the whole section dropped the earlier
file's keys without a word).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import TypeVar

from ..errors import ConfigError
from .model import (
    AuditSettings,
    CommandProviderSpec,
    Environment,
    LayerSpec,
    Location,
    ProviderSpec,
    SecretsSettings,
)
from .reading import judged, judged_command
from .source import Source
from .validate import build_dataclass

T = TypeVar("T", SecretsSettings, AuditSettings)


def secrets_settings(sources: Sequence[tuple[Source, Path]], found: bool = False
                     ) -> SecretsSettings:
    """The `secrets:` keys of every file, merged (a relative `file` is its file's; `found`:
    a command provider's program of a found config is judged, `reading.judged`)."""
    return _merged("secrets", SecretsSettings(), sources,
                   lambda src, base: _secrets(src, base, found))


def no_secrets_file(sources: list[tuple[Source, Path]]) -> None:
    """Refuse, showing none of its lines, a file loaded as config that another names as its
    secrets file (config17: `%orch load orch.yaml secrets.yaml` printed a secret's line)."""
    loaded = {os.path.realpath(src.file): src.file for src, _ in sources}
    for src, base in sources:
        section = src.data.get("secrets") if isinstance(src.data, dict) else None
        named = section.get("file") if isinstance(section, dict) else None
        if isinstance(named, str) and named and (
                found := loaded.get(os.path.realpath(base / os.path.expanduser(named)))):
            raise ConfigError(f"{found} is the secrets file (secrets.file of {src.file}), not "
                              f"a config file: leave it out of the files loaded")


def audit_settings(sources: Sequence[tuple[Source, Path]]) -> AuditSettings:
    """The `audit:` keys of every file, merged (a relative `path` is its file's)."""
    return _merged("audit", AuditSettings(), sources, _audit)


def _merged(section: str, merged: T, sources: Sequence[tuple[Source, Path]],
            build: Callable[[Source, Path], T]) -> T:
    names = {f.name for f in fields(merged)}
    first: dict[str, Location] = {}
    for src, base in sources:
        if not isinstance(src.data, dict) or section not in src.data:
            continue
        part = build(src, base)  # checks the section as this file wrote it
        for key in src.data[section] or {}:
            if key not in names:  # an `x-` key, which build_dataclass let through
                continue
            pos = src.position((section, key), at_key=True)
            if key in first:
                raise src.error((section, key), f"{section}.{key} is set twice (first at "
                                                f"{first[key]}): set it in one file only",
                                at_key=True)
            first[key] = Location(src.file, pos[0] if pos else None)
            merged = replace(merged, **{key: getattr(part, key)})
    return merged


def _secrets(src: Source, base: Path, found: bool) -> SecretsSettings:
    settings: SecretsSettings = build_dataclass(SecretsSettings, src.data["secrets"],
                                                ("secrets",), src)
    settings = replace(settings, providers=tuple(_beside(p, base, found)
                                                 for p in settings.providers))
    if settings.file:  # `~` expanded here, once, for every reader
        return replace(settings, file=str(base / os.path.expanduser(settings.file)))
    return settings


def _audit(src: Source, base: Path) -> AuditSettings:
    settings: AuditSettings = build_dataclass(AuditSettings, src.data["audit"], ("audit",), src)
    if settings.path:  # safety17: `orch audit verify` looked for a file named `~/…`
        return replace(settings, path=str(base / os.path.expanduser(settings.path)))
    return settings


def _beside(provider: ProviderSpec, base: Path, found: bool) -> ProviderSpec:
    """A command provider runs in its config file's folder, so a relative script it names
    (`./get.sh`, `[sh, get.sh]`) is the one beside the config, as every relative path there
    is read (safety17, review32: the one in whatever folder orch ran from gave the secret)."""
    if not isinstance(provider, CommandProviderSpec):
        return provider
    argv = (os.path.expanduser(provider.argv[0]), *provider.argv[1:])  # `~/bin/get`: nothing
    if found:  # expands it after; a found config's is judged now, and before each run
        judged_command(argv, str(base))
    return replace(provider, argv=argv, folder=str(base), found=found)


def beside_config(env: Environment, base: Path, found: bool = False) -> Environment:
    """`env` with its layers' relative paths on this machine (fields marked `beside_config`:
    an ssh key, known_hosts, ssh_config) read from its config file's folder `base`, as
    secrets.file and audit.path are (config17: from wherever orch ran, or another folder's
    same-named file); `~`, absolute and placeholder paths stay as written. `found`: each
    such file is judged (`reading.judged`)."""
    return replace(env, layers=tuple(_beside_config(spec, base, found) for spec in env.layers))


def _beside_config(spec: LayerSpec, base: Path, found: bool) -> LayerSpec:
    files = {f.name: value for f in fields(spec.config) if f.metadata.get("beside_config")
             and isinstance(value := getattr(spec.config, f.name), str) and value
             and "{{" not in value}
    changes = {name: str(base / value) for name, value in files.items()
               if not value.startswith(("/", "~"))}
    for name, value in files.items() if found else ():
        judged(changes.get(name, os.path.expanduser(value)), f"{spec.type} layer's {name}")
    told = {"found": True} if found and "found" in {f.name for f in fields(spec.config)} \
        else {}  # a kind whose files read more (an ssh_config's Includes) judges those then
    return replace(spec, config=replace(spec.config, **changes, **told)) \
        if changes or told else spec
