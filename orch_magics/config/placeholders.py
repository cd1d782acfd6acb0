"""Placeholder syntax checked at load time: `{{secrt:x}}`, `{{secret:x}`, `{secret:x}}` or
`{{secret}}` is a mistake, not text.

Only text that starts like a placeholder (`{{WORD:`, or a kind's name alone: `{{env}}`,
`{{secret name}}`) is checked, so Go templates such as `{{.Name}}` or `{{json .Config}}` stay
literal.
"""

from __future__ import annotations

import re
from typing import Any

from ..process.environ import PLACEHOLDER, VARIABLE
from .suggest import did_you_mean

KINDS = ("secret", "env")

_ATTEMPT = re.compile(r"\{\{\s*([A-Za-z_][\w-]*)\s*:")
#: A kind's name without its colon: `{{secret}}`, `{{ env }}`, `{{secret name}}`, `{{ENV.HOME}}`,
#: and with an `s` (config19: GitHub Actions' `{{ secrets.NAME }}`); a longer word is another
#: template's (review36: dbt's `{{ env_var('X') }}`, Jinja's `{{ secret_key }}`).
_NO_COLON = re.compile(r"\{\{\s*(secret|env)s?\b(?!\s*:)([^{}]*)\}\}", re.IGNORECASE)
#: A placeholder missing one opening brace: `{secret:x}}` (its mirror `{{secret:x}` is
#: unclosed): the kind, a colon and a name at once, then the closing pair. PowerShell's
#: `${env:HOME}` and YAML or JSON text such as `{app: {env: prod}}` stay text (api6).
_ONE_OPEN = re.compile(r"(?<![{$])\{(secret|env):([A-Za-z_][\w.-]*(?::-[^{}\n]*)?)\}\}")
#: What follows the kind in `{{secret name}}` / `{{env=HOME}}`: the name meant, if one word.
_MEANT = re.compile(r"[\s.=/_\[-]*([\"']?)([A-Za-z_][\w.-]*)\1\]?\s*")


def placeholder_problem(text: str) -> str | None:
    """What is wrong with a malformed placeholder in `text` (the colon-less first), or None."""
    if (one := _ONE_OPEN.search(text)) is not None:
        return (f"placeholder {one.group(0)!r} opens with one '{{': write "
                f"{{{{{one.group(1)}:{one.group(2).strip() or 'NAME'}}}}}")
    if "{{" not in text:
        return None
    if (colonless := _NO_COLON.search(text)) is not None:
        return _colonless(colonless)
    for attempt in _ATTEMPT.finditer(text):
        kind = attempt.group(1)
        if kind not in KINDS:
            hint = did_you_mean(kind, KINDS)
            return (f"unknown placeholder kind {kind!r} (known: {{{{secret:NAME}}}}, "
                    f"{{{{env:VAR}}}})" + (f"; did you mean {{{{{hint}:…}}}}?" if hint else ""))
        full = PLACEHOLDER.match(text, attempt.start())
        if full is None:
            shown = text[attempt.start():attempt.start() + 40].split("\n")[0]
            return f"placeholder {shown!r} is not closed: write {{{{{kind}:NAME}}}}"
        if "{{" in full.group(2):  # the default ended at the inner `}`: the rest is text
            return (f"placeholder {text[attempt.start():].split(chr(10))[0]!r}: placeholders "
                    f"do not nest (a default is text: {{{{env:VAR:-default}}}})")
        name = full.group(2).partition(":-")[0] if kind == "env" else full.group(2)
        if not name.strip():
            return f"placeholder {full.group(0)!r} has no name"
        if kind == "env" and name.startswith("$"):  # `{{env:$HOME}}`, `{{env:${HOME}}}`
            var = name.strip("${}")
            return (f"placeholder {full.group(0)!r} names its variable without a '$': write "
                    f"{{{{env:{var or 'VAR'}}}}}")
        if kind == "env" and ":" in name:  # `{{env:VAR:default}}`: no variable has that name
            var, _, default = name.partition(":")
            return (f"placeholder {full.group(0)!r} gives its default after ':-': write "
                    f"{{{{env:{var}:-{default}}}}}")
        if kind == "env" and (problem := _not_a_variable(full.group(0), name.strip())):
            return problem
        if kind == "secret" and ":-" in name:  # a missing secret is an error, never a default
            return (f"placeholder {full.group(0)!r}: a secret takes no default (a missing one "
                    f"stops the run); write {{{{secret:{name.partition(':-')[0].strip()}}}}}")
        if kind == "secret" and (name.strip().startswith("-") or ".." in name.split("/")):
            return (f"placeholder {full.group(0)!r}: a secret's name may neither start with "  # safety19
                    f"'-' nor hold a '..' step (a password manager's command would take it as "
                    f"an option, or read outside the folder the config gives it)")
    return None


def _not_a_variable(written: str, name: str) -> str | None:
    """`{{env:X-def}}` (bash's `${X-def}`) or `{{env:1X}}`: a name no shell variable has, so it
    could only ever be missing (other odd names may be in the controller's own environment)."""
    var, dash, default = name.partition("-")
    if dash and VARIABLE.fullmatch(var):
        return (f"placeholder {written!r}: {name!r} is not a variable name; a default is "
                f"written {{{{env:{var}:-{default}}}}}")
    if name[:1].isdigit():
        return f"placeholder {written!r}: {name!r} is not a variable name (it starts with a digit)"
    return None


def _colonless(found: re.Match[str]) -> str:
    """`{{secret}}` would reach the command as that text: say how a placeholder is written."""
    kind = found.group(1).lower()
    meant = _MEANT.fullmatch(found.group(2))
    name = meant.group(2) if meant else ("NAME" if kind == "secret" else "VAR")
    return (f"placeholder {found.group(0)!r} has no colon: write {{{{{kind}:{name}}}}}"
            + ("" if meant or kind == "secret" else " (or {{env:VAR:-default}})"))


def has_placeholder(value: Any) -> bool:
    """True for a string with at least one `{{secret:…}}` or `{{env:…}}` in it."""
    return first_placeholder(value) is not None


def first_placeholder(value: Any) -> str | None:
    """The first `{{secret:…}}` or `{{env:…}}` in a string as written, else None."""
    found = PLACEHOLDER.search(value) if isinstance(value, str) else None
    return found.group(0) if found else None
