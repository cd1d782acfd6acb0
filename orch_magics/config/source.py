"""YAML read with positions: every key and value remembers its file, line and column.

Reading is bounded so that no file a user can write exhausts the machine: the text is capped
(`reading.MAX_FILE_BYTES`), aliases may expand to at most `ALIAS_BUDGET` nodes in all ("billion laughs"),
an alias may not contain itself, and nesting stops at `MAX_DEPTH`. Everything else a file can
hold becomes data or a ConfigError with file:line:column.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from ..importing import paused_gc
from .reading import read_text
from .secret_keys import keyed_secret, password_word, secret_key
from .yaml_syntax import check_encodable, syntax_error

try:  # the C loader is much faster on large files, and has the same marks
    _Base: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Base = yaml.SafeLoader

Path_ = tuple[Any, ...]
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG, _VALUE_TAG = "tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"
_NULL_TAG = "tag:yaml.org,2002:null"
#: The only tags a list or mapping may have: its own, as written without one.
_COLLECTION_TAGS = frozenset({"tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"})
_IMPLICIT = yaml.resolver.Resolver.yaml_implicit_resolvers


class _Loader(_Base):  # type: ignore[misc, valid-type]
    """The safe loader with PyYAML's tag resolution written out for speed (same results): the
    composer asks for the tag of every untagged node; the generic resolver spent a quarter of
    the parse time on it. Safe loading has no path resolvers and no wildcard resolvers."""

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode:
            if implicit[0]:
                for tag, regexp in _IMPLICIT.get(value[:1], ()):
                    if regexp.match(value):
                        return str(tag)
            return _STR_TAG
        return "tag:yaml.org,2002:map" if kind is yaml.MappingNode else "tag:yaml.org,2002:seq"

#: Nodes that aliases may add in all, beyond the nodes written in the file.
ALIAS_BUDGET = 100_000
#: Deepest nesting of mappings and lists accepted (real configs use fewer than ten levels).
MAX_DEPTH = 100


@dataclass
class Source:
    """One parsed config file: its data, plus its YAML nodes to find positions from data paths.

    Positions are looked up only when needed (an error, a service's location): the nodes of the
    top two levels are indexed while converting, deeper ones are found by walking from there.
    """

    file: str
    text: str
    data: Any
    index: dict[Path_, tuple[yaml.Node | None, yaml.Node]] = field(default_factory=dict,
                                                                   repr=False)

    def position(self, path: Path_, *, at_key: bool = False) -> tuple[int, int] | None:
        """1-based (line, column) of the value (or key) at `path`, else of its nearest parent."""
        found = self._nodes(path)
        if found is None:
            return None
        key_node, node, _ = found
        return _mark(key_node if at_key and key_node is not None else node)

    def as_written(self, path: Path_, value: Any) -> str | None:
        """The number, true/false or date at `path` as text, when that is the text the file
        has (`PORT: 8080` is '8080'); None when YAML 1.1 changed what was written (`0777` is
        511, `no` is false, `0x1F` is 31, `12:30` is 750): the caller refuses it."""
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        written = self.written(path)
        return text if written is None or written == text else None

    def key_is_text(self, path: Path_) -> bool:
        """Whether the key at `path` is text as YAML reads it (`"1":`, `web-1:`), not a
        number, true/false, null or date kept here as written (`1:`, `yes:`, `~:`)."""
        found = self._nodes(path)
        return found is None or not found[2] or found[0] is None or found[0].tag == _STR_TAG

    def written(self, path: Path_) -> str | None:
        """The text of the unquoted scalar at `path` exactly as in the file, else None."""
        found = self._nodes(path)
        if found is None or not found[2] or not isinstance(found[1], yaml.ScalarNode):
            return None
        return None if found[1].style else str(found[1].value)  # plain: style None or ""

    def comment_hint(self, path: Path_, *, text: bool) -> str:
        """Why the value at `path` is empty when a comment stands where it was written
        (`user: #1000`: YAML reads `#` after a space as a comment's start), and (`text`: the
        key takes text) how to quote it, never under a password key; else ""."""
        found = self._nodes(path)
        if (found is None or not found[2] or found[0] is None or not isinstance(
                found[1], yaml.ScalarNode) or found[1].value or found[1].style):
            return ""
        end, lines = found[0].end_mark, self.text.splitlines()
        comment = _COMMENT_VALUE.match(lines[end.line], end.column) if end.line < len(
            lines) else None
        if comment is None:
            return ""
        said = comment[1].rstrip()
        if said[1:2].strip() == "":  # `# the app user`: prose, not a value to quote
            return " (the rest of its line is a YAML comment)"
        quote = f": quote it to make it text: '{said.replace(chr(39), chr(39) * 2)}'" \
            if text and not secret_key(path, None) else ""
        return f" (`#` after a space starts a YAML comment, so the value is empty{quote})"

    def comment_after(self, path: Path_) -> str | None:
        """The comment after the plain value at `path` on its line (`- sudo #65534`), or None."""
        found = self._nodes(path) if self.written(path) is not None else None  # plain only
        if found is None:
            return None
        end = found[1].end_mark
        after = re.match(r"\s+(#.*?)\s*$", self.text.splitlines()[end.line][end.column:])
        return after[1] if after else None

    def _nodes(self, path: Path_) -> tuple[yaml.Node | None, yaml.Node, bool] | None:
        """(key node, value node) at `path`, else at its nearest parent; True when exact."""
        depth = len(path)
        while depth and path[:depth] not in self.index:
            depth -= 1
        if not depth and () not in self.index:
            return None
        key_node, node = self.index[path[:depth]]
        for part in path[depth:]:
            found = _child(node, part)
            if found is None:
                return None, node, False
            key_node, node = found
        return key_node, node, True

    def error(
        self, path: Path_, message: str, *, at_key: bool = False, suggestion: str | None = None,
        private: bool = False
    ) -> ConfigError:
        """A ConfigError pointing at the value (or key) found at `path`, showing its line. No
        password is shown: not the line of an error about a password key (even misspelt),
        nor a line that holds one, nor its value in the message (a notebook saves what
        `%orch load` printed); nor, `private`, the line of a value that may be one."""
        pos = self.position(path, at_key=at_key)
        secret = private or secret_key(path, suggestion)
        written = self.written(path) if secret else None
        if written:  # `must be a string, not an integer (quote it to make it text: '…')`
            message = message.replace(repr(written), "'****'")
        err = error_at(self.file, self.text, pos, message, suggestion)
        if secret or err.source_line is not None and any(
                password_word(key) for key in _KEY.findall(err.source_line)):
            err = error_at(self.file, "", pos, message, suggestion)  # the same, without its line
        return err


#: After a key: its colon, then a comment where its value would be (its trailing blanks are
#: stripped after: a lazy `.*?` before `\s*$` took seconds on a long run of them, review37).
_COMMENT_VALUE = re.compile(r"\s*:\s+(#.*)$")

#: The keys on a line of YAML (`key:`, `{a: 1, "b": 2}`).
_KEY = re.compile(r"(?<![\w-])([\w-]+)[\"']?\s*:(?:\s|$)")


def _child(node: yaml.Node, part: Any) -> tuple[yaml.Node | None, yaml.Node] | None:
    """(key node, value node) of `part` in a mapping node, (None, item) in a sequence node."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == part:
                return key_node, value_node
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        if 0 <= part < len(node.value):
            return None, node.value[part]
    return None


def error_at(file: str, text: str, pos: tuple[int, int] | None, message: str,
             suggestion: str | None = None) -> ConfigError:
    """A ConfigError at a 1-based (line, column) of `text`, showing that line."""
    line, col = pos if pos else (None, None)
    src_line = None
    if line is not None:
        lines = text.splitlines()
        if 0 < line <= len(lines):
            src_line = lines[line - 1]
    return ConfigError(message, file=file, line=line, column=col, source_line=src_line,
                       suggestion=suggestion)


def describe_path(path: Path_) -> str:
    """`services.web.filters[0].pattern` style rendering of a data path."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def read_source(file: str | Path, *, found: bool = False) -> Source:
    """Parse one YAML file, keeping positions; syntax errors become ConfigError with file:line,
    without the line when the file is private (0600: a secrets file given as a config one
    showed a secret's line, review32). `found`: found in the folder orch runs in, not named
    (`reading.read_text` then refuses one another user could have put there)."""
    return parse_file_text(read_text(file, found=found), file)


def parse_file_text(text: str, file: str | Path,
                    tags: Mapping[str, Callable[[yaml.ScalarNode], Any]] | None = None, *,
                    merges: bool = False) -> Source:
    """`parse_source` of a file's text, whose errors say the line only where it sets no secret
    and the file is not private (safety26: a YAML inventory's showed `ansible_password`)."""
    try:
        return parse_source(text, str(file), tags, merges=merges)
    except ConfigError as exc:
        with contextlib.suppress(OSError):
            if exc.source_line is not None and (keyed_secret(text, exc.line)  # safety22
                                                or not os.stat(file).st_mode & 0o077):
                raise ConfigError(exc.message, file=exc.file, line=exc.line, column=exc.column,
                                  suggestion=exc.suggestion) from None
        raise


def parse_source(text: str, name: str = "<string>",
                 tags: Mapping[str, Callable[[yaml.ScalarNode], Any]] | None = None, *,
                 merges: bool = False) -> Source:
    """Parse YAML text (see read_source); `tags` reads scalars under local tags (an Ansible
    inventory's `!vault`), which are otherwise an error at their line; `merges` reads merge
    keys (`<<: *defaults`, as Ansible does), which are otherwise an error at their line."""
    if not isinstance(text, str):
        raise ConfigError(f"config text must be a string, not {type(text).__name__}", file=name)
    check_encodable(text, name)
    src = Source(file=name, text=text, data=None)
    with paused_gc():
        try:
            node = yaml.compose(text, Loader=_Loader)
        except yaml.MarkedYAMLError as exc:
            mark, problem = syntax_error(exc, text)
            pos = (mark.line + 1, mark.column + 1) if mark else None
            raise error_at(name, text, pos, f"YAML syntax error: {problem}") from None
        except yaml.reader.ReaderError as exc:
            line = text.count("\n", 0, exc.position) + 1
            raise ConfigError(f"YAML syntax error: character #x{exc.character:04x} is not "
                              "allowed in YAML", file=name, line=line) from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"YAML error: {_one_line(str(exc))}", file=name) from None
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG and not node.value:
            node = None  # `---` and nothing: an empty document, as an empty file (basics12)
        if node is not None:
            src.index[()] = (None, node)
        src.data = {} if node is None else _Converter(src, tags or {}, merges).convert(node, 0, ())
    return src


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Converter:
    """Composed YAML nodes → plain data, bounding alias expansion.

    A collection reached a second time is an alias: its items count against `ALIAS_BUDGET`; a
    collection reached again while it is still being converted contains itself. Errors point
    at the node itself; the nodes of the top two levels are indexed for `Source.position`.
    """

    def __init__(self, src: Source, tags: Mapping[str, Callable[[yaml.ScalarNode], Any]],
                 merges: bool = False) -> None:
        self.src = src
        self.tags = tags
        self.merges = merges
        self.expanded = 0
        self.seen: set[int] = set()
        self.open: set[int] = set()
        self.constructor = yaml.SafeLoader("")

    def error(self, node: yaml.Node, message: str) -> ConfigError:
        return error_at(self.src.file, self.src.text, _mark(node), message)

    def convert(self, node: yaml.Node, depth: int, path: Path_ | None = None) -> Any:
        """`path` is given for the top two levels only (see Source.index)."""
        if isinstance(node, yaml.ScalarNode):
            if node.tag in self.tags:
                return self.tags[node.tag](node)
            return node.value if node.tag == _STR_TAG else self.scalar(node)
        if node.tag not in _COLLECTION_TAGS:  # config17: `!include [x]` read as a plain list
            raise self.error(node, f"bad value: it is tagged {_shown_tag(node.tag)}, which "
                                   f"orch does not read on a list or mapping: remove the tag")
        key = id(node)
        if key in self.open:
            raise self.error(node, "this YAML alias refers to a value that contains it (an "
                                   "endless structure)")
        if depth >= MAX_DEPTH:
            raise self.error(node, f"values are nested more than {MAX_DEPTH} levels deep")
        if key in self.seen:
            self.expanded += len(node.value) + 1
            if self.expanded > ALIAS_BUDGET:
                raise self.error(node, f"YAML aliases expand to more than {ALIAS_BUDGET:,} "
                                       "values (nested aliases, as in a 'billion laughs' "
                                       "document); refusing to expand them")
        self.seen.add(key)
        self.open.add(key)
        if isinstance(node, yaml.MappingNode):
            out: Any = self.mapping(node, depth, path)
        else:
            out = [self.convert(item, depth + 1) for item in node.value]
        self.open.discard(key)
        return out

    def mapping(self, node: yaml.MappingNode, depth: int, path: Path_ | None) -> dict[str, Any]:
        merged = self.merged(node, depth) if self.merges else {}
        out: dict[str, Any] = dict(merged)
        for key_node, value_node in node.value:
            if self.merges and key_node.tag == _MERGE_TAG:
                continue
            key = self.key(key_node)
            if key in out and key not in merged:
                raise self.error(key_node, f"duplicate key {key!r}")
            merged.pop(key, None)  # written here: it wins over a merged one (in its place)
            sub = None
            if path is not None and depth < 2:
                sub = path + (key,)
                self.src.index[sub] = (key_node, value_node)
            out[key] = self.convert(value_node, depth + 1, sub)
        return out

    def merged(self, node: yaml.MappingNode, depth: int) -> dict[str, Any]:
        """What the mapping's merge keys (`<<: *defaults`, `<<: [*a, *b]`) give, as YAML 1.1
        and Ansible read them: a key written in the mapping wins, then the first mapping
        merged."""
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                continue
            parts = value_node.value if isinstance(value_node, yaml.SequenceNode) else [
                value_node]
            for part in parts:
                if not isinstance(part, yaml.MappingNode):
                    raise self.error(part, "a merge key (<<) takes a mapping, or a list of "
                                           "mappings (`<<: *defaults`)")
                for key, value in self.convert(part, depth + 1).items():
                    out.setdefault(key, value)
        return out

    def key(self, node: yaml.Node) -> str:
        """A key as written: `on:` is the name 'on', `1.10:` is '1.10' (never True or 1.1)."""
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, "a mapping key must be a plain value")
        if node.tag == _MERGE_TAG:
            raise self.error(node, "YAML merge keys (<<) are not supported here")
        if node.tag != _STR_TAG:
            self.scalar(node)  # still refuse what YAML itself refuses (`!!int x:`)
        if not node.value.strip():
            raise self.error(node, "a mapping key must not be empty" if not node.value else
                             f"a mapping key must not be only spaces ({node.value!r})")
        return str(node.value)

    def scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag in (_MERGE_TAG, _VALUE_TAG):  # a plain `<<`, `=` (config12, 15: said as `!`)
            raise self.error(node, f"bad value: a plain {node.value} is YAML 1.1's "
                                   f"{node.tag.rpartition(':')[2]} key: quote it "
                                   f"('{node.value}') to keep it as text")
        if node.tag not in type(self.constructor).yaml_constructors:  # `db: !Passw0rd`: a
            # tag, and the password: never in the message (the excerpt shows it where it may)
            raise self.error(node, "bad value: it starts with '!', which makes it a YAML tag, "
                                   "and no such tag is known: quote it ('!…')")
        try:
            return self.constructor.construct_object(node)
        except Exception:  # PyYAML's constructors raise ValueError, KeyError, IndexError…
            # with the value in their words: the excerpt shows it where it may be shown (never
            # for a secrets file), so the message names only what YAML was asked to read.
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise self.error(node, f"bad value: YAML cannot read it as {tag}") from None


def _shown_tag(tag: str) -> str:
    """A tag as it was written (`!!set`, `!include`)."""
    return tag.replace("tag:yaml.org,2002:", "!!") if tag.startswith("tag:yaml.org,2002:") \
        else tag
