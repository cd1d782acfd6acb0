"""INI inventories (`[web]`, `[web:vars]`, `[web:children]`), read as Ansible's ini plugin reads
them: a host line's `key=value` words as Python literals; mistakes named at file:line."""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..layers.names import check_label_part
from .inventory_vars import checked_vars
from .suggest import did_you_mean

if TYPE_CHECKING:  # inventory.py imports this module to read an INI file
    from .inventory import Inventory

#: An INI section header, a `#` comment after it allowed (as Ansible's own pattern has it:
#: a `;` there, or after a child group's name, is refused by ansible-inventory too).
_SECTION = re.compile(r"\[([^\]]+)\]\s*(?:#.*)?")
_COMMENT = re.compile(r"\s+#.*$")
#: A host line starting with `[v6addr]:port`, not a section header.
_BRACKETED_HOST = re.compile(r"\[[^\]]+\]:\d+(\s|$)")
#: An IPv4 address or a version (`10.0.0.1`, `1.2.3`): no Python literal.
_ADDRESS = re.compile(r"\d+(?:\.\d+){2,}")
#: A host line shlex has nothing to do for (no quotes, escapes or comments).
_PLAIN = re.compile(r"[^'\"\\#]*")


def from_ini(inv: Inventory, text: str, name: str) -> None:
    """An INI inventory into `inv`; a mistake is named at its file:line."""
    section, kind = "ungrouped", "hosts"
    # As ansible-inventory reads a file: a group named only by a `[g:vars]` header or as a
    # child must be declared (`[g]`, `[g:children]`) somewhere in it, or in a file before it;
    # a typo there would change every host's login or drop hosts from a group, without a word.
    declared = {"all", "ungrouped", *inv.groups}
    pending: dict[str, tuple[int, str]] = {}  # group → (line, why it must be declared)
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and not _BRACKETED_HOST.match(line):
            header = _SECTION.fullmatch(line)
            if header is None:
                after = " (a comment after it starts with '#')" if "]" in line else ""
                raise ConfigError(f"{name}:{number}: a section header must end with ']'"
                                  f"{after}: {line!r}")
            section, _, kind = header[1].partition(":")
            kind = kind or "hosts"
            if kind not in ("hosts", "vars", "children"):
                near = did_you_mean(kind, ("vars", "children"))
                raise ConfigError(f"{name}:{number}: unknown section kind {kind!r} (expected "
                                  f"vars or children)"
                                  + (f" (did you mean [{section}:{near}]?)" if near else ""))
            _group_name(section, f"{name}:{number}: section {line!r}")
            if kind != "vars":
                declared.add(section)
                pending.pop(section, None)
            elif section not in declared:
                pending.setdefault(section, (number, f"section [{section}:vars] is for"))
            inv.group(section)
            continue
        try:
            child = _ini_line(inv, section, kind, line, f"{name}:{number}")
        except ValueError as exc:
            raise ConfigError(f"{name}:{number}: {exc}") from None
        if child is not None:
            inv.add_child(section, child, f"{name}:{number}")
        if child is not None and child not in declared:
            pending.setdefault(child, (number, f"section [{section}:children] names"))
    if pending:
        group, (number, why) = min(pending.items(), key=lambda item: item[1][0])
        raise ConfigError(f"{name}:{number}: {why} an undefined group {group!r} (declare it "
                          f"with [{group}] or [{group}:children])",
                          suggestion=did_you_mean(group, sorted(declared - {"ungrouped"})))


def _group_name(group: str, where: str) -> None:
    """A group name as ansible-inventory takes one: no spaces (`[ web ]`, `web extra`)."""
    if not group or any(c.isspace() for c in group):
        raise ConfigError(f"{where}: {group!r} is no group name (a group name has no spaces)")
    try:
        check_label_part("group", group)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _ini_line(inv: Inventory, section: str, kind: str, line: str, where: str) -> str | None:
    """Read one line of a section, written at `where` (file:line); a `children` line returns
    the child group it names."""
    if kind == "vars":
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"expected KEY=VALUE in [{section}:vars], got {line!r}")
        inv.set_vars(section, {key.strip(): _scalar(value.strip())}, {key.strip(): where})
    elif kind == "children":
        child = _COMMENT.sub("", line)  # `web  # the front` names the group web, as Ansible does
        if any(c.isspace() for c in child):
            raise ValueError(f"{child!r} is no group name (a group name has no spaces)")
        return child  # added by the caller, which knows the line
    else:
        words = line.split() if _PLAIN.fullmatch(line) else shlex.split(line, comments=True)
        values = {}
        for word in words[1:]:
            key, sep, value = word.partition("=")
            if not sep:
                raise ValueError(f"expected KEY=VALUE after the host name, got {word!r}")
            values[key] = _scalar(value)
        inv.add_host(section, words[0], checked_vars(values), dict.fromkeys(values, where), where)
    return None


def _scalar(text: str) -> Any:
    """A value as Ansible reads one from an INI file: a Python literal (`2222`, `"deploy"`,
    `None`: not set) when it is one, else the text."""
    if text.isascii() and text.isdigit() and (text[0] != "0" or text == "0"):
        return int(text)
    if text[:1].isalpha() and text[1:2] not in ("'", '"') and text not in ("True", "False",
                                                                           "None") \
            or _ADDRESS.fullmatch(text):
        return text  # a name or an address: no literal starts so
    try:
        with warnings.catch_warnings():  # Python's own words on text that is no literal
            warnings.simplefilter("ignore")  # (`/keys/v-7in/id`: "invalid decimal literal")
            value = ast.literal_eval(text)
    except Exception:  # not a literal (ValueError, SyntaxError), or `{[]: 1}` (TypeError), …
        return text
    return value if value is None or isinstance(value, (str, int, float, bool)) else text
