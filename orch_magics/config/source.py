"""YAML read with positions: every key and value remembers its file, line and column."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

try:  # the C loader is much faster on large files, and has the same marks
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

Path_ = tuple[Any, ...]


@dataclass
class Source:
    """One parsed config file: its data plus a map from data paths to positions."""

    file: str
    text: str
    data: Any
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def error(
        self, path: Path_, message: str, *, at_key: bool = False, suggestion: str | None = None
    ) -> ConfigError:
        """A ConfigError pointing at the value (or key) found at `path`."""
        pos = None
        if at_key:
            pos = self.keys.get(path)
        if pos is None:
            pos = self.values.get(path)
        probe = path
        while pos is None and probe:
            probe = probe[:-1]
            pos = self.values.get(probe)
        line, col = pos if pos else (None, None)
        src_line = None
        if line is not None:
            lines = self.text.splitlines()
            if 0 < line <= len(lines):
                src_line = lines[line - 1]
        return ConfigError(
            message, file=self.file, line=line, column=col, source_line=src_line,
            suggestion=suggestion,
        )


def describe_path(path: Path_) -> str:
    """`services.web.filters[0].pattern` style rendering of a data path."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def read_source(file: str | Path) -> Source:
    """Parse one YAML file, keeping positions; syntax errors become ConfigError with file:line."""
    name = str(file)
    try:
        text = Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", file=name) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", file=name) from None
    return parse_source(text, name)


def parse_source(text: str, name: str = "<string>") -> Source:
    """Parse YAML text (see read_source)."""
    src = Source(file=name, text=text, data=None)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        lines = text.splitlines()
        src_line = lines[line - 1] if line and 0 < line <= len(lines) else None
        problem = exc.problem or str(exc)
        raise ConfigError(
            f"YAML syntax error: {problem}", file=name, line=line, column=col,
            source_line=src_line,
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", file=name) from None
    if node is None:
        src.data = {}
        return src
    src.data = _convert(node, (), src)
    return src


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _convert(node: yaml.Node, path: Path_, src: Source) -> Any:
    src.values[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise src.error(path, "YAML merge keys (<<) are not supported here")
            key = _scalar(key_node, path, src)
            if not isinstance(key, str):
                key = str(key)
            sub = path + (key,)
            if key in out:
                src.keys[sub + ("<dup>",)] = _mark(key_node)
                raise src.error(sub + ("<dup>",), f"duplicate key {key!r}", at_key=True)
            src.keys[sub] = _mark(key_node)
            out[key] = _convert(value_node, sub, src)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, path + (i,), src) for i, item in enumerate(node.value)]
    return _scalar(node, path, src)


def _scalar(node: yaml.Node, path: Path_, src: Source) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise src.error(path, "a mapping key must be a plain value")
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node)
    except yaml.YAMLError as exc:
        raise src.error(path, f"bad value: {exc}") from None
