"""`--limit`: which targets of a fleet run, as Ansible's `--limit` reads it.

Patterns separated by commas (or by colons, as Ansible also reads them: `web:!db`): a
glob (`web-0*`, `*/app-1`), a range as the config writes one
(`web-[01:04]`, `127.0.1.[2:6]`), or an inventory group name (`web`: the targets whose hosts
came from that group) adds the labels it matches, `!pattern` removes them,
`&pattern` keeps only those that also match; `~REGEX` is a regular expression matched from
the start of a label, a part or a group (`~web-0[1-3]$`, `!~.*-canary`); `group[N]`,
`group[-1]`, `group[1:3]` pick a group's targets by position, as Ansible's subscripts do;
`@FILE` reads patterns from a file, one a line (`read_limit`, where a limit is given). A
pattern that matches nothing, or a limit that selects nothing, is an error naming the
labels (and groups) there are.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Callable, Collection, Sequence

from ..config import patterns
from ..config.checks import compiled
from ..config.suggest import did_you_mean
from ..errors import ConfigError
from ..text import quoted
from .limit_names import Groups, Names

_GLOB = re.compile(r"[*?\[]")
#: Ansible's words of a `:`-separated limit: a colon inside a range (`web-[01:04]`) is not one.
_COLON_WORDS = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
#: What stands in for a range or a glob character when a pattern is checked as an address.
_WILD = re.compile(r"\[[^\]]*\]|[*?]")
#: Ansible's subscript of a group: `web[0]`, `web[-1]`, `web[1:3]` (both ends in), `web[2:]`.
_SUBSCRIPT = re.compile(r"(.+)\[(?:(-?[0-9]+)|([0-9]+):([0-9]*)|([0-9]+)-([0-9]+))\]")


def select(labels: Sequence[str], limit: str | None, groups: Groups | None = None, *,
           excused: Callable[[str], bool] = lambda word: False,
           empty_ok: bool = False, names: Names | None = None) -> list[str]:
    """The labels `limit` keeps, in their order (all of them when `limit` is None). A word
    that matches none of them is an error unless `excused` (it may match a target not among
    them); so is keeping none, unless `empty_ok`. `names`: how plain names read (default:
    as these labels' parts and groups)."""
    if limit is None:
        return list(labels)
    groups = groups or {}
    words = checked_words(limit)

    def matching(pattern: str, adds: bool = True) -> set[str]:
        picked = None if pattern.startswith("~") else _subscripted(pattern, labels, groups, plain)
        return picked if picked is not None else plain(pattern, adds)

    def plain(pattern: str, adds: bool = True) -> set[str]:
        # a name that is a host and a group, as Ansible reads it (fleets21): the host where
        # it adds, the group where it excludes or intersects
        test = matcher(pattern, read.hosts) if adds else matcher(pattern, groups_=read.groups)
        return {label for label in labels if test(label, groups.get(label, ()))}

    read = names or Names.of(labels, groups)

    adds = [w for w in words if w[0] not in "!&"]
    chosen = set().union(*(matching(w) for w in adds)) if adds else set(labels)
    for word in words:
        if word.startswith("!"):
            chosen -= matching(word[1:], adds=False)
        elif word.startswith("&"):
            chosen &= matching(word[1:], adds=False)
    for word in words:  # `!web-O3` (a typo) must not run on the host it was to protect
        if not matching(word.lstrip("!&"), word[0] not in "!&") and not excused(word):
            raise _matches_nothing(word, labels, groups, limit)
    kept = [label for label in labels if label in chosen]
    if not kept and not empty_ok:
        raise ConfigError(f"limit {said_limit(limit)} leaves no target")
    return kept


def matcher(pattern: str, hosts: Collection[str] = (), groups_: Collection[str] = ()
            ) -> Callable[[str, Collection[str]], bool]:
    """Whether `pattern` (a limit word without its `!`/`&`, no subscript) selects a label,
    given the label and its inventory groups. Names are looked up, globs matched; a name
    among `hosts` (the targets' parts) is that host, not a group of the same name, and one
    among `groups_` that group, not a host (fleets21: `--limit db` ran on host db and every
    host of group db)."""
    if pattern.startswith("~"):
        regex = _regex(pattern)
        return lambda label, groups: any(regex.match(one) for one in (label, *label.split("/"),
                                                                        *groups))
    each = ranges_expanded(pattern)
    names = {one for one in each if not _GLOB.search(one)}
    globs = [one for one in each if one not in names]
    part_names, group_names = names - set(groups_), names - set(hosts)
    return lambda label, groups: (_named(label, part_names, group_names, groups)
                                  or any(_match(label, one, groups) for one in globs))


def checked_words(limit: str) -> list[str]:
    """The patterns of `limit` (its `@FILE`s already read by `read_limit`), each checked as
    written, as far as no target is needed: a dry run of a fleet whose containers are not
    found yet says what the run would (fleets13)."""
    words = limit_words(limit)
    if not words:
        raise ConfigError(f"limit {said_limit(limit)} names no pattern")
    for word in words:
        if word.startswith("@"):  # read once, where a limit is given (review22: re-read by
            raise ConfigError(f"limit pattern {quoted(word)}: a limit file is read only "  # each
                              f"where a limit is given (--limit @FILE, limit='@FILE')")  # reader)
        # `!!web-1` excluded the name "!web-1" (none) and ran on web-1 (fleets5)
        if word[:1] in ("!", "&") and word[1:2] in ("!", "&"):
            raise ConfigError(f"limit pattern {quoted(word)}: a pattern takes one '!' (exclude) or "
                              f"'&' (intersect) in front, not two")
        bare = word.lstrip("!&")
        if bare.startswith("~"):
            _regex(bare)  # compiled: a bad one is said
        elif not _SUBSCRIPT.fullmatch(bare):
            ranges_expanded(bare)
    return words


def limit_words(limit: str) -> list[str]:
    """The patterns of a limit: split at commas; without a comma at colons (outside ranges),
    as Ansible splits `web:!db` — unless the limit is one IPv6 pattern (`!2001:db8::5`,
    `2001:db8::*`, `2001:db8::5/app-1`), or a range left open (`web-[01:04`: its error says
    how a range is written)."""
    address = limit.strip().lstrip("!&").split("/")[0]
    if "," in limit or _is_ipv6(address) or limit.count("[") != limit.count("]"):
        return [w.strip() for w in limit.split(",") if w.strip()]
    return _COLON_WORDS.findall(limit)


class ReadLimit(str):
    """A limit whose `@FILE`s were read: the patterns, and (`written`) the limit as given,
    which errors name (fleets14: they said only the patterns, not the file)."""

    written: str

    def __new__(cls, patterns: str, written: str) -> ReadLimit:
        made = super().__new__(cls, patterns)
        made.written = written
        return made


def said_limit(limit: str) -> str:
    """How an error names a limit: as given, and what its files held."""
    if isinstance(limit, ReadLimit):
        return f"{quoted(limit.written)} (read as {quoted(str(limit))})"
    return quoted(limit)


def read_limit(limit: str | None) -> str | None:
    """A limit as given (`--limit`, `limit=`) with its `@FILE`s read: once, where it enters,
    so every reader after (a dry plan, the lookup, a rerun) sees the same targets. A limit
    not in one str is refused here, for every call that takes one (config16: get, put and
    forward raised AttributeError on `limit=5`)."""
    if limit is not None and not isinstance(limit, str):
        raise ConfigError(f"limit takes patterns in one str ('web-*,!web-03'), not "
                          f"{type(limit).__name__}")
    return None if limit is None else from_files(limit)


def from_files(limit: str) -> str:
    """`limit` with each `@FILE` word replaced by the patterns in that file, one a line, as
    Ansible reads a limit file (a `.retry` file: fleets11, where `@x` was taken for a host)."""
    words = limit_words(limit)
    for word in words:
        if word[:2] in ("!@", "&@"):  # fleets12: said as a host that matches nothing
            raise ConfigError(f"limit pattern {quoted(word)}: a limit file is read by @FILE alone; "
                              f"to exclude or intersect, write !pattern or &pattern in it")
    if not any(word.startswith("@") for word in words):
        return limit
    patterns_: list[str] = []
    for word in words:
        if not word.startswith("@"):
            patterns_.append(word)
            continue
        found = [line for line in _lines(word) if line and not line.startswith("#")]
        said = _limit_file(word)
        if not found:
            raise ConfigError(f"{said} names no pattern")
        if any(line.lstrip("!&").startswith("@") for line in found):  # read once, one deep
            raise ConfigError(f"{said} names another file (@…): a limit file holds patterns "
                              f"only")
        patterns_ += found
    # one pattern a line, as Ansible reads them: a lone `web:!db` line is not split at its
    # colons where, beside other lines, it would not be (fleets14)
    return ReadLimit(",".join(patterns_) + ("," if len(patterns_) == 1 else ""), limit)


#: Bytes a limit file may hold (a `.retry` file of 100,000 hosts is about 2 MB).
LIMIT_FILE_BYTES = 4 << 20


def _limit_file(word: str) -> str:
    """How an error names the limit file `word` (`@PATH`) gives."""
    return f"limit file {quoted(word[1:])} (--limit {quoted(word)[1:-1]})"


def _lines(word: str) -> list[str]:
    """The lines of the limit file `word` (`@PATH`) names, stripped; at most LIMIT_FILE_BYTES
    of UTF-8 text, a byte-order mark dropped as config files drop it (fleets14: `@/dev/zero`
    took every byte of memory there was)."""
    path, said = word[1:], _limit_file(word)
    try:
        with open(path, "rb") as file:
            data = file.read(LIMIT_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{said} cannot be read: {exc.strerror or exc}") from None
    if len(data) > LIMIT_FILE_BYTES:
        raise ConfigError(f"{said} is larger than {LIMIT_FILE_BYTES >> 20} MiB: a limit file "
                          f"holds patterns, one a line")
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{said} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                          f"{exc.start}, line {line})") from None
    return [line.strip() for line in text.splitlines()]


def _is_ipv6(pattern: str) -> bool:
    """Whether `pattern` is one IPv6 address, its ranges and globs taken for digits (as
    Ansible checks before splitting: `127.0.1.1:127.0.1.2:127.0.1.3` and `db:cafe:ad` are
    lists, `2001:db8::[1:5]` and `2001:db8::*` are one address)."""
    try:
        ipaddress.IPv6Address(_WILD.sub("0", pattern))
    except ValueError:
        return False
    return True


def ranges_expanded(pattern: str) -> list[str]:
    """The globs a pattern stands for: a range (`web-[01:03]`, `127.0.1.[2:6]`) is expanded as
    in the config (never a glob's character class, where `[2:6]` is "2, : or 6"); `[12]`
    without a colon stays a character class."""
    if pattern.count("[") != pattern.count("]"):  # fnmatch takes a lone `[` as text
        raise ConfigError(f"limit pattern {quoted(pattern)}: a '[' is not closed (a range is "
                          f"written web-[01:04], a character class web-[abc])")
    try:
        return patterns.expand_ranges(pattern)
    except ValueError as exc:
        raise ConfigError(f"limit pattern {quoted(pattern)}: {exc}") from None


def _subscripted(pattern: str, labels: Sequence[str], groups: Groups,
                 plain: Callable[[str], set[str]]) -> set[str] | None:
    """Ansible's subscript of a group or pattern, on its targets in order: `web[0]` the
    first, `web[-1]` the last, `web[1:3]` the 2nd to the 4th, `web[2:]` from the 3rd on
    (fleets11, fleets12: read as a character class or a name range, `web[-1]` and `web*[-1]`
    ran on web1 where Ansible runs on the last). None when `pattern` is none: its base
    (before the `[`) matches no target, and the brackets are a range (`web-[01:04]`) or a
    character class (`web-0[12]`) of names; a negative index is never one of those."""
    found = _SUBSCRIPT.fullmatch(pattern)
    group_names = {name for names in groups.values() for name in names}
    if found is None or not _is_subscript(found, group_names):
        return None
    group = found[1]
    if group == "all" or group in group_names:
        members = [label for label in labels
                   if group == "all" or group in groups.get(label, ())]
    else:  # a pattern's: a glob's (`web*[-1]`), or a negative index
        negative = (found[2] or "").startswith("-")
        matched = plain(group) if group.count("[") == group.count("]") else set()
        members = [label for label in labels if label in matched]
        if not members and not negative:
            return None
    layered = next((label for label in members if "/" in label), None)
    if layered is not None:  # review21: `web[0]` is a host, and these count its containers
        raise _layered(pattern, layered)
    count = len(members)
    if found[2] is not None:
        index = int(found[2])
        picked = members[index:index + 1 or None] if -count <= index < count else []
    elif found[3] is not None:
        picked = members[int(found[3]):int(found[4]) + 1 if found[4] else None]
    else:
        picked = []
    if found[5] is not None:  # Ansible's old `[x-y]`: refused there, never a character class
        raise ConfigError(f"limit pattern {quoted(pattern)}: a subscript of group {group!r} is "
                          f"written {group}[{found[5]}:{found[6]}] (both ends in)")
    if not picked:
        whose = f"group {group!r}" if group == "all" or any(
            group in names for names in groups.values()) else f"{group!r}"
        if not count:
            raise ConfigError(f"limit pattern {quoted(pattern)} picks no target: {whose} matches "
                              f"none")
        raise ConfigError(f"limit pattern {quoted(pattern)} picks no target: {whose} has "
                          f"{count}, {group}[0] the first, {group}[{count - 1}] or "
                          f"{group}[-1] the last")
    return set(picked)


def _layered(pattern: str, layered: str) -> ConfigError:
    host = layered.partition("/")[0]
    return ConfigError(f"limit pattern {quoted(pattern)}: a subscript picks a group's hosts by "
                       f"position, and these targets are reached through several layers "
                       f"({layered}): name them ({host}, {host}/*)")


def refuse_subscripts(words: Sequence[str], groups: Collection[str], host: str) -> None:
    """Before a label fleet's containers are found (`host` one of its hosts): a subscript,
    which would count containers, is refused now, as the run would refuse it once every host
    answered, or take it for a host when none did (review22)."""
    for word in words:
        found = _SUBSCRIPT.fullmatch(word.lstrip("!&"))
        if found is not None and _is_subscript(found, groups):
            raise _layered(word.lstrip("!&"), f"{host}/…")


def _is_subscript(found: re.Match[str], groups: Collection[str]) -> bool:
    """Whether a `BASE[…]` is Ansible's subscript, not a range or a character class of
    names: of `all` or a group, a negative index, or after a glob (`web*[1-2]` is the 2nd
    and 3rd, fleets23); `127.0.1.1[0-2]` is a character class. One rule for the run and the
    early check of a label fleet (review38, review39: two copies had drifted)."""
    return (found[1] == "all" or found[1] in groups or (found[2] or "").startswith("-")
            or bool(_GLOB.search(found[1])))


def _regex(pattern: str) -> re.Pattern[str]:
    """`~REGEX`, compiled: matched from the start (`re.match`) of a label, of one of its
    parts, or of one of its inventory groups, as Ansible reads it."""
    try:
        return compiled(pattern[1:])
    except ValueError as exc:
        raise ConfigError(f"limit pattern {quoted(pattern)} is {exc}") from None


def _named(label: str, names: Collection[str], group_names: Collection[str],
           groups: Collection[str]) -> bool:
    """`_match` for patterns without glob characters: whole label, a part (of `names`), or a
    group (of `group_names`)."""
    return (label in names or "all" in names or "all" in group_names
            or any(part in names for part in label.split("/") if part)
            or any(group in group_names for group in groups))


def _match(label: str, pattern: str, groups: Collection[str]) -> bool:
    """A glob on the whole label, on one of its parts (`db-1` matches `bastion/db-1`), or on
    one of the inventory groups the target's hosts are in (`all`: every target, as in Ansible)."""
    return (pattern == "all" or fnmatch.fnmatchcase(label, pattern)
            or "/" not in pattern and any(fnmatch.fnmatchcase(p, pattern)
                                          for p in (*label.split("/"), *groups)))


def _matches_nothing(word: str, labels: Sequence[str], groups: Groups,
                     limit: str) -> ConfigError:
    shown = ", ".join(labels[:8]) + (", …" if len(labels) > 8 else "")
    known = sorted({g for names in groups.values() for g in names} - {"all"})
    where = f"targets: {shown}" + (f"; groups: {', '.join(known)}" if known else "") + (
        f"; from limit {quoted(limit.written)}" if isinstance(limit, ReadLimit) else "")
    bare = word.lstrip("!&")
    if bare.startswith("~"):  # a regular expression has no near label to suggest
        return ConfigError(f"limit pattern {quoted(word)} matches no target ({where})")
    if word in labels:  # fleets17: a target named `!neg` was suggested for `!neg` itself
        first = "[\\!]" if word[0] == "!" else f"[{word[0]}]"  # a class: that character only
        return ConfigError(f"limit pattern {quoted(word)} matches no target: a leading "
                           f"{word[0]!r} is read as {_READ_AS[word[0]]!r}; the target named "
                           f"so is selected by {quoted(first + word[1:])}")
    # `web-03` for the label `web-03.prod`: a host's short name is what one types first; in
    # a label of several hops too (`bast-eu/db-1` for `bast-eu/db-1.internal`: fleets15)
    short = next((part for label in labels for part in label.split("/")
                  if part.split(".")[0] == bare and not _is_address(part)), None) or next(
        (label for label in labels if _short_of(bare, label)), None)
    # a label's parts too (`few-a` of `127.0.1.1/few-a`): a pattern matches one (fleets10)
    parts = dict.fromkeys(part for label in labels if "/" in label for part in label.split("/"))
    # review34: a mistyped host before a container's name is said by its host (review35: not
    # another host's container, which the whole word is closer to once any were found)
    hosts = dict.fromkeys(label.rpartition("/")[0] or label for label in labels)
    head, slash, tail = bare.rpartition("/")
    host = did_you_mean(head, [*hosts, *parts]) if slash and head not in {
        *hosts, *parts} else None
    hint = short or (f"{host}/{tail}" if host else did_you_mean(bare, [*labels, *parts, *known]))
    if hint in {w.lstrip("!&") for w in limit_words(limit)}:
        hint = None  # a word the limit holds already: no way out of the typo
    return ConfigError(f"limit pattern {quoted(word)} matches no target ({where})",
                       suggestion=hint)


#: What a limit's leading character makes of the rest (`~` and `@` are said before).
_READ_AS = {"!": "not", "&": "and also"}


def _short_of(word: str, label: str) -> bool:
    """Whether `word` names `label` hop by hop, some hops by their host's short name."""
    mine, its = word.split("/"), label.split("/")
    return len(its) > 1 and len(mine) == len(its) and all(
        w == p or (w == p.split(".")[0] and not _is_address(p)) for w, p in
        zip(mine, its, strict=True))


def _is_address(name: str) -> bool:
    """Whether `name` is an IPv4 address (its first dotted part is no short name)."""
    return all(p.isdigit() for p in name.split("."))
