"""Tab completion on %orch / %%orch lines: orch's own candidates, ahead of Python's."""

from __future__ import annotations

import re
import shlex
from typing import Any

from IPython.core.completer import CompletionContext, SimpleCompletion, context_matcher

from ..errors import OrchError
from ..orchestrator import Orchestrator
from .parser import RUN_SUBCOMMANDS, SUBCOMMANDS, run_parser, sub_parser

#: A %orch line, alone or assigned (`r = %orch …`): group 1 is what follows the magic's name.
ORCH_LINE = re.compile(r"\s*(?:[A-Za-z_][\w.]*\s*=\s*)?%%?orch(\s.*)?\Z", re.S)
#: Subcommands whose first word is an environment (what follows it: paths, a port).
ENVIRONMENT_FIRST = ("get", "put", "forward")


def candidates(orch: Orchestrator, line: str) -> list[str]:
    """Candidates for the word being typed on a %orch / %%orch line, quoted as the line reads
    them (a name with a space, `'my env'`: magics21)."""
    return [shlex.quote(word) for word in _words(orch, line)]


def _words(orch: Orchestrator, line: str) -> list[str]:
    words = line.split()
    typing = "" if line.endswith((" ", "\t")) else (words.pop() if words else "")
    positional = [w for w in words[1:] if not w.startswith("-")]
    sub = positional[0] if positional and positional[0] in SUBCOMMANDS else None
    parser = sub_parser(sub) if sub else run_parser()
    if typing.startswith("-"):
        return [o for o in parser.options() if o.startswith("--")]
    try:
        config = orch.config
    except OrchError:
        config = None
    if len(words) > 1 and words[-1].startswith("-"):  # the value of an option
        return list(config.environments) if config and words[-1] in \
            parser.environment_options() else []
    if not positional:
        return [*(config.environments if config else ()), *SUBCOMMANDS]
    if sub in RUN_SUBCOMMANDS and len(positional) == 1:  # named runs and named fleets
        fleets = vars(orch).get("fleets")  # there once a fleet was started
        return [*orch.runs.names(), *(fleets.named if fleets is not None else ())]
    if sub == "start" and config is not None and len(positional) in (1, 2):
        return list(config.environments if len(positional) == 1 else config.services)
    if sub in ENVIRONMENT_FIRST and config is not None and len(positional) == 1:
        return list(config.environments)  # `%orch get ENV …`: the magics2 tester got `%load`
    if sub is None and len(positional) == 1 and config is not None:
        return list(config.services)
    return []


def matcher(orch: Orchestrator) -> Any:
    """An IPython matcher that answers alone (suppressing Python's) on %orch lines, `r = %orch
    …` too. Where orch has no word (a path, an --out name) IPython's matchers answer: it lets
    only a matcher with completions suppress the others."""

    @context_matcher(priority=100, identifier="orch_magics")  # type: ignore[misc]
    def complete(context: CompletionContext) -> dict[str, Any]:
        line = context.line_with_cursor[:context.cursor_position]
        found_line = ORCH_LINE.match(line.split("\n")[0] if "\n" in line else line)
        if found_line is None:
            return {"completions": [], "suppress": False}
        orch_line = "%orch" + (found_line.group(1) or "")
        token = context.token
        found = [SimpleCompletion(text=c, type="orch") for c in candidates(orch, orch_line)
                 if c.startswith(token)]
        return {"completions": found, "suppress": bool(found)}

    return complete
