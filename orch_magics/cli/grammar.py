"""The `orch` command line's grammar: its commands and options, and the hints said when a word
is mistyped (did-you-mean, an option written before its command, a command that lives elsewhere).
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from ..argtypes import Once, OnceByDefault, dash_value_hint
from ..config.suggest import did_you_mean, option_hint
from ..text import bytes_shown
from ..version import __version__
from .audit import add_audit_parser
from .fleet import add_fleet_options
from .output import EXIT_USAGE, OutputError
from .run import RUN_HINT
from .transfer import add_transfer_parsers
from .words import command_at, command_word

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

COMMANDS = ("run", "check", "ls", "schema", "audit", "cp", "forward")


#: A byte that was not UTF-8 as argparse's messages write it (`repr`: `'\\udcff'`).
_SURROGATE_REPR = re.compile(r"(?<!\\)((?:\\\\)*)\\udc([89a-f][0-9a-f])")


class Parser(OnceByDefault):
    """argparse that says "did you mean" for a mistyped command or option."""

    #: The words being parsed (set by main, for every parser): what was mistyped, and where.
    words: Sequence[str] = ()

    def error(self, message: str) -> NoReturn:
        unknown = _unknown_option(self.words)
        if unknown is not None:  # said first: argparse blames what came after it instead
            message, hint = unknown
        else:
            hint = _hint(message, self.words) or dash_value_hint(message, self.words)
        self._own().print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}{hint}\n")

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        """Help and usage, written or said as failed: argparse drops a write error, so
        `orch --help > /dev/full` exited 0 with nothing written."""
        stream = file or sys.stderr
        if message and stream is not None:  # None: started with it closed (`2>&-`)
            try:
                stream.write(_SURROGATE_REPR.sub(r"\1\\x\2", bytes_shown(message)))
                if (flush := getattr(stream, "flush", None)) is not None:
                    flush()
            except OSError as exc:
                raise OutputError(exc) from None

    def _own(self) -> argparse.ArgumentParser:
        """The parser whose usage goes with an error: the subcommand's named in the words,
        though the top-level parser reports what it left over (`orch run local s extra`)."""
        subs = next((a for a in self._actions  # private-ok: argparse lists no actions
                     if isinstance(a, argparse._SubParsersAction)), None)  # private-ok: as above
        at = command_at(self.words)
        if subs is None or at == len(self.words):
            return self
        return subs.choices.get(self.words[at], self)


class _SubParser(Parser):
    """A subcommand's parser: its options may come between its positionals (`orch run ENV
    --json SERVICE`); plain parsing binds the optional SERVICE, empty, together with ENV and
    leaves the word after the option over. (argparse cannot intermix with subcommands, so the
    top-level parser parses plainly.)"""

    _intermixing = False

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None
                         ) -> tuple[argparse.Namespace, list[str]]:
        if self._intermixing or args is not None and "--" in args:
            # the two passes of the intermixed parse, plain; and after `--`, where Python
            # 3.11's intermixed parse reads `-f.txt` as an option again: options come first
            return super().parse_known_args(args, namespace)
        if self.usage is None:  # frozen as text by argparse's intermixed parse: "N|N%" escaped
            self.usage = self.format_usage().removeprefix("usage: ").strip().replace("%", "%%")
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


#: Commands a person types that are said another way here: what to say instead of a
#: did-you-mean (`orch ps` is no `ls`; named runs live where the process that owns them does).
_NAMED = "named runs belong to a notebook or a Python process: %orch {0}, or orch.{0}(…)"
ELSEWHERE = {**{word: _NAMED.format(word) for word in ("ps", "logs", "stop", "start", "restart")},
             "get": "orch cp ENV:REMOTE LOCAL copies from an environment",
             "put": "orch cp LOCAL ENV:REMOTE copies to an environment",
             **dict.fromkeys(("envs", "services", "list"),
                             "orch ls lists the environments and services"),
             "history": "orch audit lists the runs of the audit trail: %orch history in a "
                        "notebook",
             "status": _NAMED.format("status"),
             "load": "orch reads its config from -c FILE (or ORCH_CONFIG, or ./orch.yaml) on "
                     "each command: orch -c FILE check checks one"}


def _hint(message: str, words: Sequence[str]) -> str:
    if "invalid choice: " in message:
        word = message.split("invalid choice: ")[1].split("'")[1]
        if word.lower() in ("help", "usage"):  # what a person types for it (config tester)
            return " (orch --help lists the commands; orch COMMAND --help shows one's options)"
        if word in ELSEWHERE and word not in COMMANDS:
            return f" ({ELSEWHERE[word]})"
        offered = message.partition("(choose from ")[2]  # a subcommand's own choices
        hint = did_you_mean(word, re.findall(r"'([^']*)'", offered) or COMMANDS)
        if hint is None and "'run'" in offered and word in words:  # config18: `orch local
            rest = words[list(words).index(word):]  # hello`, the notebook's form, in a shell
            return f" (to run in an environment: orch run {shlex.join(rest)})"
        return f" (did you mean {hint!r}?)" if hint else ""
    if "not allowed with argument" in message and {"--json", "--dry-run"} <= set(words):
        return " (a dry run shows its plan as text; it has no JSON result)"
    if message.startswith("unrecognized arguments: ") and command_word(words) == "run":
        return RUN_HINT  # `orch run local echo hi`
    return ""


def _unknown_option(words: Sequence[str]) -> tuple[str, str] | None:
    """The first word that looks like an option orch does not know here, as (message, hint)."""
    parser = orch_parser()
    options, valued = _options(parser), _valued(parser)
    at = command_at(words)
    if at < len(words) and words[at] not in options:  # an option's value: `--timeout 3 run`
        at = next((i for i, w in enumerate(words) if w in options), len(words))
    command = words[at] if at < len(words) else None
    known = list(dict.fromkeys([*options[None], *options.get(command, [])]))
    for i, (previous, word) in enumerate(zip(["", *words], words, strict=False)):
        if word == "--":  # what follows is no option (`orch cp -- -f.txt ENV:…`)
            return None
        name = word.split("=")[0]
        if i < at and name in options.get(command, ()) and name not in options[None]:
            return (f"unknown option {name} before {command}",  # `orch --json run …`
                    f" ({name} is an option of orch {command}: write it after {command})")
        if (not name.startswith("-") or len(name) < 2 or name in known or _is_number(name)
                or not name.startswith("--") and name[:2] in known  # `-cFILE`, `-eA=1`
                or _abbreviates(name, known)):  # `--dry`: argparse took it for --dry-run
            continue
        if previous in valued:  # `--since -1h`: argparse takes no value beginning with '-'
            refused = _refused_value(valued[previous], word)
            if refused:  # not offered a spelling its own check refuses (basics10)
                return f"argument {previous}: {refused}", ""
            return (f"unknown option {word}",
                    f" (a value of {previous} that begins with '-' is written {previous}={word})")
        owners = [f"orch {c}" for c, names in options.items() if c and name in names]
        if owners:
            return f"unknown option {name}", f" ({name} is an option of {' and '.join(owners)})"
        hint = option_hint(name, known)  # `--jsn` → --json, `--yes-please` → --yes
        return f"unknown option {name}", f" (did you mean {hint!r}?)" if hint else ""
    return None


def _abbreviates(name: str, known: Sequence[str]) -> bool:
    """Whether argparse reads `name` as the one option it starts (`--dry` for --dry-run)."""
    return name.startswith("--") and len([o for o in known if o.startswith(name)]) == 1


def _is_number(word: str) -> bool:
    """`--timeout -1`: a negative number is a value (refused by its option), not an option."""
    try:
        float(word)
    except ValueError:
        return False
    return True


def _actions(parser: argparse.ArgumentParser) -> dict[str | None, list[argparse.Action]]:
    """Actions of `parser` (key None) and of each subcommand (argparse keeps them private)."""
    found: dict[str | None, list[argparse.Action]] = {
        None: list(parser._actions)}  # private-ok: argparse has no public list of actions
    for action in found[None]:
        if isinstance(action, argparse._SubParsersAction):  # private-ok: as above
            for name, sub in action.choices.items():
                found[name] = list(sub._actions)  # private-ok: as above
    return found


def _options(parser: argparse.ArgumentParser) -> dict[str | None, list[str]]:
    """Option strings of `parser` (key None) and of each subcommand."""
    return {key: [o for a in actions for o in a.option_strings]
            for key, actions in _actions(parser).items()}


def _valued(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Option strings of `parser` and its subcommands that take a value (`--since SINCE`)."""
    return {o: a for actions in _actions(parser).values() for a in actions if a.nargs != 0
            for o in a.option_strings}


def _refused_value(action: argparse.Action, value: str) -> str:
    """Why the option's own check refuses `value`, in argparse's words (its `_get_value`),
    or "" (no check, it takes it, or it fails otherwise: the usual hint is said then)."""
    check = action.type
    if not callable(check):
        return ""
    try:
        check(value)
    except argparse.ArgumentTypeError as exc:
        return str(exc)
    except (ValueError, TypeError):
        return f"invalid {getattr(check, '__name__', repr(check))} value: {value!r}"
    except Exception:  # a check's own failure is no reason to give: the hint is said
        return ""
    return ""


def orch_parser() -> Parser:
    p = Parser(prog="orch", description="Run services through composed execution layers.")
    _config_options(p)
    p.add_argument("--version", action="version", version=f"orch {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND",
                           parser_class=_SubParser)
    run = sub.add_parser("run", help="run a service (orch run ENV SERVICE) or a command "
                                     "(orch run ENV -- CMD ARGS…)",
                         description="Run a service in an environment (orch run ENV SERVICE), "
                                     "or a command: orch run ENV -- CMD ARGS… (the words after "
                                     "-- reach the command as typed).")
    run.add_argument("environment", help="an environment of the config (orch ls lists them)")
    run.add_argument("service", nargs="?", help="a service of the config; for a command, "
                                                "-- then the command and its arguments")
    run.add_argument("--timeout", action=Once, type=float, default=None, metavar="S",
                     help="stop after S seconds")
    run.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VAL",
                     help="extra variable for the command (repeatable)")
    shown = run.add_mutually_exclusive_group()  # the plan is text: no JSON of a dry run
    shown.add_argument("--dry-run", action="store_true", help="show the plan (as text), run "
                                                              "nothing")
    shown.add_argument("--json", action="store_true",
                       help="print the RunResult (a fleet's FleetResult) as JSON instead of "
                            "streaming output, also for a run that could not start")
    run.add_argument("--yes", action="append", default=[], metavar="ENV",
                     help="run in protected environment ENV without asking (the name must "
                          "match)")
    add_fleet_options(run)
    sub.add_parser("check", help="validate the config and list what it defines")
    sub.add_parser("ls", help="list environments and services")
    sub.add_parser("schema", help="print the JSON Schema of the config files")
    add_audit_parser(sub)
    add_transfer_parsers(sub)
    for command in sub.choices.values():
        _config_options(command, after=True)
    return p


def _config_options(p: argparse.ArgumentParser, *, after: bool = False) -> None:
    """-c and --demo, before the command and also after it (`orch run ENV S -c FILE`, as
    kubectl's -n goes anywhere). Kept under other names after it: a subcommand's default
    would replace what was given before it."""
    where = "_after" if after else ""
    p.add_argument("-c", "--config", action="append", default=[], metavar="FILE",
                   dest=f"config{where}", help=argparse.SUPPRESS if after else
                   "config file (repeatable); default: $ORCH_CONFIG, ./orch.yaml, or "
                   "./environments.yaml + ./services.yaml")
    p.add_argument("--demo", action="store_true", dest=f"demo{where}",
                   help=argparse.SUPPRESS if after else "use the built-in local demo config")
