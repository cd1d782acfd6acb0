"""A filter's jq program compiled by libjq (the `jq` bindings): the one place that compiles one.

libjq runs in this process, so a program's `$ENV` and `env` would read this process's
environment, with the `ORCH_SECRET_*` variables no process orch starts ever inherits, and print
them unmasked (basics9). Every program is compiled inside definitions that give both the
environment a child would get instead. That needs the program to be one expression: module
directives (`import`, `include`), which jq takes only before everything else and which would
read modules from this machine's files, are refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Protocol

from ..process.environ import inherited_environ
from ..text import quoted


class JqProgram(Protocol):
    """What a compiled program does here: give its outputs for one input text."""

    def input_text(self, text: str) -> Iterable[Any]: ...


_AROUND = "def env: $__orch_env; $__orch_env as $ENV | "
#: A program that begins with a module directive, after blanks and comments.
_MODULE_DIRECTIVE = re.compile(r"(?:\s|#[^\n]*\n)*(?:import|include)\b")


def compile_program(query: str, then: str | None = None) -> JqProgram:
    """`query` compiled (followed by `| then` when given) as described above; a ValueError
    says why it does not compile, in jq's words about the program as written."""
    import jq

    # the blank line keeps a closing `# comment` from swallowing what follows it, also one
    # ending in a backslash, which jq 1.7 continues on the next line (review18)
    text = f"{_AROUND}({query}\n\n)" + (f" | {then}" if then else "")
    try:
        program: JqProgram = jq.compile(text, args={"__orch_env": inherited_environ()})
        return program
    except ValueError as exc:
        wrapped = exc
    try:  # what is wrong, said of the program as written
        jq.compile(query)
    except ValueError as exc:
        raise ValueError(f"jq filter {quoted(query)} does not compile: {_why(exc)}") from None
    if _MODULE_DIRECTIVE.match(query):
        raise ValueError(f"jq filter {quoted(query)}: module directives (import, include) are "
                         f"not supported: a filter is one jq expression (definitions with "
                         f"`def` are fine)") from None
    raise ValueError(f"jq filter {quoted(query)} cannot run as a filter: {_why(wrapped)}")


def _why(exc: ValueError) -> str:
    """The first line of libjq's message, without its `jq: error:` prefix."""
    first = str(exc).splitlines()[0] if str(exc) else "syntax error"
    return first.removeprefix("jq: error: ").strip().rstrip(":")
