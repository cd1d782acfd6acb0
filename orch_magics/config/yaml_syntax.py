"""Why a YAML text could not be read, said at the place: a syntax error with what was still
open when it was found, a `#` that began a comment where a value was meant, and text that is
not UTF-8 (which PyYAML would refuse with an exception of its own)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..errors import ConfigError

#: A flow collection's value that YAML reads as a comment (`{user: #0}`), which takes the
#: rest of its line with it and leaves the collection unclosed.
_COMMENT_IN_FLOW = re.compile(r"[:,\[{]\s+#|[\[{][^\]}#'\"]*\s#")  # (config18: `sudo #1000`)


#: Characters YAML 1.1 (PyYAML) takes for line breaks, where editors and YAML 1.2 see none: a
#: comment ended at one (the rest of its line was read as YAML), and every later line number
#: of an error was off by one per such character (config15: pasted from a web page).
_BREAKS = re.compile("[\x85\u2028\u2029]")


def check_encodable(text: str, name: str) -> None:
    """Text YAML can read as an editor shows it: a lone surrogate (a byte `surrogateescape`
    kept: a latin-1 config read from stdin under the C locale, basics9) is the not-UTF-8
    error a file gets; a line separator only YAML 1.1 sees is refused where it stands."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        what = (f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF
                else f"lone surrogate U+{code:04X}")
        raise ConfigError(f"config text is not UTF-8 text ({what} at character {exc.start})",
                          file=name, line=text.count("\n", 0, exc.start) + 1) from None
    if (odd := _BREAKS.search(text)) is not None:
        start = text.rfind("\n", 0, odd.start()) + 1
        end = text.find("\n", odd.start())
        shown = _BREAKS.sub("\N{SYMBOL FOR NEWLINE}", text[start:None if end < 0 else end])
        raise ConfigError(f"an invisible line separator (U+{ord(odd[0]):04X}), which YAML reads as "
                          f"a line break where your editor shows none: delete it (in a "
                          f"double-quoted value, write \\u{ord(odd[0]):04x})", file=name,
                          line=text.count("\n", 0, odd.start()) + 1,
                          column=odd.start() - start + 1, source_line=shown)


def syntax_error(exc: yaml.MarkedYAMLError, text: str) -> tuple[Any, str]:
    """Where a syntax error is and what it is, with what was open when it was found: at
    the end of the file (an unclosed quote or bracket) the place it was opened (basics8),
    and a `#` that made the rest of a line a comment."""
    mark, problem = _where_and_what(exc, text)
    line = mark.line if mark else None
    return mark, problem + (_comment_hint(text, line) or _range_hint(text, line))


#: What libyaml's "found character that cannot start any token" drops: which one, and why.
_NO_TOKEN = "found character that cannot start any token"
_WHY_NOT = {"\t": "a tab: YAML is indented with spaces only",
            "@": "'@' is reserved in YAML: quote a value that starts with it",
            "`": "'`' is reserved in YAML: quote a value that starts with it"}


def _where_and_what(exc: yaml.MarkedYAMLError, text: str) -> tuple[Any, str]:
    mark, context = exc.problem_mark or exc.context_mark, exc.context_mark
    problem = exc.problem or exc.context or "not valid YAML"
    if problem == _NO_TOKEN and mark is not None and mark.index < len(text):  # config12:
        found = text[mark.index]  # a tab does not show in the excerpt
        problem = f"found {found!r}, which cannot start any token" + (
            f": {_WHY_NOT[found]}" if found in _WHY_NOT else "")
    if exc.context and context is not None and (
            context.line, context.column) != (mark.line, mark.column):
        if not text[mark.index:].strip():  # nothing after it: what was open is the place
            return context, f"{problem}, {exc.context} begun here"
        problem += f" ({exc.context} at line {context.line + 1}, column {context.column + 1})"
    elif mark is not None and not text[mark.index:].strip() and (opened := _unclosed(text)):
        return opened, f"{problem}: the {text[opened.index]!r} begun here is not closed"
    return mark, problem


def _unclosed(text: str) -> Any:
    """The mark of the innermost flow bracket still open where the text ends (a trailing
    comma, or a `#` that made the closing bracket a comment: review17), else None."""
    opened: list[Any] = []
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, (yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)):
                opened.append(token.start_mark)
            elif isinstance(token, (yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)):
                if opened:
                    opened.pop()
    except yaml.YAMLError:
        pass
    return opened[-1] if opened else None


#: A host range (`web-[01:03]`) inside a flow list (`[ssh "web-[01:03]"]`): the range's `[`
#: opens a list of its own in YAML, and a quote after its `]` is left unclosed.
_RANGE_IN_FLOW = re.compile(r"[\[,]\s*[A-Za-z][\w-]*\s+[\"']?[\w.-]*\[[^\[\]\s:]*:[^\[\]\s]*\]")


def _range_hint(text: str, line: int | None) -> str:
    """How to write a range in the short form of an environment, when the error's line (or
    the one before) holds one inside a flow list (fleets17: PyYAML spoke of an "end of
    stream" in a one-line file)."""
    lines = text.splitlines()
    for at in (line, None if line is None else line - 1):
        if at is not None and 0 <= at < len(lines) and _RANGE_IN_FLOW.search(lines[at]):
            return (f" (line {at + 1}: in a list written [a, b], the '[' of a host range "
                    f"opens a list of its own: quote the whole layer, as in "
                    f"[\"ssh web-[01:03]\"], or write the layers one per line)")
    return ""


def _comment_hint(text: str, line: int | None) -> str:
    """Why a flow collection ended where it did, when a value on that line or the one before
    begins with `#`."""
    lines = text.splitlines()
    for at in (line, None if line is None else line - 1):
        if at is not None and 0 <= at < len(lines) and _COMMENT_IN_FLOW.search(lines[at]):
            return (f" (line {at + 1}: `#` after a space starts a YAML comment, which takes "
                    f"the rest of the line: quote a value that holds it, such as '#1000' or "
                    f"'sudo #1000')")
    return ""
