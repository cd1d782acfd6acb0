"""One parser for the %orch line: runs, subcommands, `--help`, and did-you-mean for typos.

`parse(line)` returns what to do (`Parsed`) or raises `UsageError` with a one-line message;
`HelpShown` means help was printed and nothing else is to be done.
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import NoReturn

from IPython.core.error import UsageError

from ..argtypes import Once, OnceByDefault, count, dash_value_hint
from ..config.placeholders import KINDS
from ..config.suggest import did_you_mean, edit_distance, option_hint
from . import transfer

#: The management subcommands and their one-line help (in the order `--help` lists them).
SUBCOMMANDS: dict[str, str] = {
    "load": "load environments/services files (--demo: the built-in demo)",
    "envs": "list the configured environments and their layers",
    "services": "list the configured services",
    "start": "run a service in the background under a name",
    "ps": "list named runs",
    "logs": "show the kept output of a named run (-f: follow it until it ends)",
    "stop": "stop a named run (INT, TERM, KILL)",
    "restart": "restart a named run",
    "status": "the live handle of a named run",
    "history": "runs recorded in the audit log (--env, --since 1h, --failed, -n N, --json)",
    **transfer.HELP,
}
#: Subcommands whose first argument is the name of a run.
RUN_SUBCOMMANDS = ("logs", "stop", "restart", "status")

RUN_USAGE = ("%(prog)s ENV SERVICE [options]  |  %%%%orch ENV [SERVICE] [options]  |  "
             "%(prog)s SUBCOMMAND ...")
RUN_HELP = """Run a service, or the cell body as a shell script, in an environment.
%%orch ENV SERVICE: the cell body is the service's stdin. %%orch ENV: the body is a script.
`r = %orch ENV SERVICE` keeps the result."""


class HelpShown(Exception):
    """The parser printed help (`--help`): the magic has nothing else to do."""


@dataclass(frozen=True)
class Parsed:
    """What a %orch line asks for: `command` is "run" or a subcommand name."""

    command: str
    args: argparse.Namespace


class MagicParser(OnceByDefault):
    """argparse that reports mistakes as UsageError (with did-you-mean) instead of exiting."""

    words: Sequence[str] = ()  # the words being parsed, for a hint

    def error(self, message: str) -> NoReturn:
        if "arguments are required" in message and (typo := self._typo()) is not None:
            message = self.unknown(typo)  # magics21: `put --hlep` wants the help, not ENV
        usage = self.format_usage().strip().removeprefix("usage: ")
        raise UsageError(f"{self.prog}: {message}{dash_value_hint(message, self.words)} "
                         f"(usage: {usage}; {self.prog} --help)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            raise UsageError(message.strip())
        raise HelpShown()

    def parse_words(self, words: Sequence[str]) -> argparse.Namespace:
        """Options may come anywhere, also between positionals (`%orch ENV --bg SERVICE`):
        plain parsing would bind both optional positionals at ENV and leave SERVICE over."""
        if self.usage is None:  # that parse stores the usage, then %-formats it: `%orch ps`
            self.usage = self.format_usage().removeprefix("usage: ").strip().replace("%", "%%")
        self.words = list(words)
        args, extra = self.parse_known_intermixed_args(self.words)
        if extra:
            self.error(self.unknown(extra[0]))
        return args

    def _typo(self) -> str | None:
        """The first `--word` (before a `--`) that no option of this parser is, if any."""
        words = list(self.words)
        words = words[:words.index("--")] if "--" in words else words
        known = self.options()
        return next((w for w in words if w.startswith("--") and w.split("=", 1)[0] not in known),
                    None)

    def options(self) -> list[str]:
        """Every option string this parser accepts."""
        return [o for action in self._actions for o in action.option_strings]

    def environment_options(self) -> list[str]:
        """The option strings whose value is an environment's name (metavar ENV): `--yes`, and
        `history --env`; a run line's `--env` is `-e KEY=VAL` (browser10)."""
        return [o for action in self._actions if action.metavar == "ENV"
                for o in action.option_strings]

    def unknown(self, word: str) -> str:
        """The message for a word nothing accepted: an option typo gets a did-you-mean."""
        if word[:1] in "—–" and (guess := option_hint("--" + word.lstrip("—–-").split(
                "=", 1)[0], self.options())):  # magics21: smart punctuation made `--` a dash
            return f"unknown option {word} (did you mean {guess}? a {word[0]} was typed for --)"
        if not word.startswith("-"):
            return f"unexpected argument {word!r} (see {self.prog} --help)"
        guess = option_hint(word.split("=", 1)[0], self.options())  # `--no-raise`: the
        # one it starts; `--he`: --help (notebook4: it was "did you mean --bg?")
        hint = f" (did you mean {guess}?)" if guess else f" (options: {self.prog} --help)"
        return f"unknown option {word}{hint}"


def _parser(prog: str, description: str, epilog: str | None = None) -> MagicParser:
    return MagicParser(prog=prog, description=description, epilog=epilog, allow_abbrev=False,
                       formatter_class=argparse.RawDescriptionHelpFormatter)


def run_parser() -> MagicParser:
    """The parser of `%orch ENV SERVICE [options]` and `%%orch ENV [SERVICE] [options]`."""
    listing = "\n".join(f"  {name:<9} {text}" for name, text in SUBCOMMANDS.items())
    p = _parser("%orch", RUN_HELP, f"subcommands (%orch SUBCOMMAND --help):\n{listing}")
    p.usage = RUN_USAGE
    p.add_argument("environment", nargs="?", help="environment to run in (%%orch envs)")
    p.add_argument("service", nargs="?", help="service to run (%%orch services); without it "
                                              "%%%%orch runs the cell body as a script")
    p.add_argument("--out", action=Once, metavar="VAR", help="store the RunResult (or live handle) in VAR")
    p.add_argument("--bg", action="store_true", help="return at once with a live handle")
    stdin = p.add_mutually_exclusive_group()  # both at once: a mistake, not the last one wins
    stdin.add_argument("--stdin", dest="stdin", action="store_const", const=True, default=None,
                       help="keep stdin open for the stdin box / handle.send()")
    stdin.add_argument("--no-stdin", dest="stdin", action="store_const", const=False,
                       help="send the cell body (if any), then EOF, and block")
    p.add_argument("--timeout", action=Once, type=float, metavar="S", help="stop the run after S seconds")
    p.add_argument("--tail", action=Once, type=int, metavar="N", help="lines shown in the cell (Orch.tail)")
    p.add_argument("--no-raise-error", action="store_true",
                   help="do not raise RunError when the run fails")
    p.add_argument("--dry-run", action="store_true",
                   help="show the layers and command; run nothing")
    p.add_argument("-e", "--env", dest="env", action="append", default=[], metavar="KEY=VAL",
                   help="set a variable for the command (repeatable)")
    p.add_argument("--name", action=Once, metavar="NAME", help="name of a background run")
    _fleet_args(p)
    p.add_argument("--yes", action="append", default=[], metavar="ENV",
                   help="run in protected environment ENV without asking (the name must match)")
    return p


def _fleet_args(p: MagicParser) -> None:
    p.add_argument("--limit", action=Once, metavar="PATTERN",
                   help="fleets: only targets matching (globs, groups, comma lists, !exclude)")
    p.add_argument("--parallel", action=Once, type=int, metavar="N", help="fleets: targets at once (32)")
    p.add_argument("--max-fail", action=Once, metavar="N|N%",
                   help="fleets: start no new target once more than N have failed")


def _name_arg(p: MagicParser) -> None:
    p.usage = "%(prog)s NAME"
    p.add_argument("name", metavar="NAME", help="name of the run (%%orch ps)")


def _restart_args(p: MagicParser) -> None:
    _name_arg(p)
    p.usage = "%(prog)s NAME [--yes ENV]"
    p.add_argument("--yes", action="append", default=[], metavar="ENV",
                   help="restart in protected environment ENV without asking")


def _load_args(p: MagicParser) -> None:
    p.usage = "%(prog)s FILE [FILE ...] | %(prog)s --demo [FILE ...]"
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="YAML files (orch.yaml, environments.yaml, …)")
    p.add_argument("--demo", action="store_true", help="the built-in demo configuration")


def _start_args(p: MagicParser) -> None:
    p.usage = ("%(prog)s ENV SERVICE [--name NAME] [--yes ENV] [--timeout S] "
               "[--limit PATTERN] [--parallel N] [--max-fail N]")
    p.add_argument("environment", metavar="ENV")
    p.add_argument("service", metavar="SERVICE")
    p.add_argument("--name", metavar="NAME", help="name of the run (default: the service)")
    p.add_argument("--timeout", action=Once, type=float, metavar="S",
                   help="stop the run (a fleet: each target) after S seconds")
    _fleet_args(p)
    p.add_argument("--yes", action="append", default=[], metavar="ENV",
                   help="run in protected environment ENV without asking")


def _logs_args(p: MagicParser) -> None:
    _name_arg(p)
    p.usage = "%(prog)s NAME [-n N] [-f]"
    p.add_argument("-n", "--tail", type=count, metavar="N", help="the last N lines")
    p.add_argument("-f", "--follow", action="store_true", help="follow until the run ends")


def _history_args(p: MagicParser) -> None:
    p.usage = "%(prog)s [--env ENV] [--since SPAN] [--failed] [-n N] [--json]"
    p.add_argument("--env", metavar="ENV", help="only runs in this environment")
    p.add_argument("--since", metavar="SPAN", help="only runs since: 30m, 1h, 2d, or an ISO date")
    p.add_argument("--failed", action="store_true", help="only runs that failed")
    p.add_argument("-n", "--tail", type=count, metavar="N", help="the last N runs")
    p.add_argument("--json", action="store_true", help="one JSON object per run")


_SUB_ARGS: dict[str, Callable[[MagicParser], None]] = {
    "load": _load_args, "start": _start_args, "logs": _logs_args,
    "stop": _name_arg, "restart": _restart_args, "status": _name_arg, "history": _history_args,
    "get": transfer.get_args, "put": transfer.put_args, "forward": transfer.forward_args,
}


def sub_parser(name: str) -> MagicParser:
    """The parser of `%orch NAME …` for one subcommand."""
    p = _parser(f"%orch {name}", SUBCOMMANDS[name])
    _SUB_ARGS.get(name, lambda _: None)(p)
    return p


def parse(line: str, first_word: Callable[[str, list[str]], None] | None = None, *,
          runs_in: Collection[str] = (),
          environments: Callable[[], Collection[str]] = tuple) -> Parsed:
    """Parse a %orch line (a trailing `# comment` is dropped). `first_word` checks a first word
    that is no subcommand before the rest is parsed: it raises when that word is no
    environment either (`%orch histroy -n 2` is about the word, not about `-n`). A first word
    in `runs_in` is an environment even where it names a subcommand (a %%orch cell: no
    subcommand takes a body, so `%%orch stop` runs in an environment `stop`). `environments`:
    the names loaded, asked only where a word may be orch cp's ENV:PATH."""
    if _splits_a_word(line):  # only a `{variable}` expanded by IPython brings one
        raise UsageError("the %orch line holds a line break outside quotes, from a {variable} "
                         "or $variable: it would split that word in two (files11); quote it "
                         "('{name}'), or pass the value through the Python API (orch.run, "
                         "orch.get, orch.put)")  # the line itself is not said: it may hold a
    try:  # secret the variable held
        words = shlex.split(strip_comment(line))
    except ValueError as exc:  # files12: a {variable} holding a quote gave no way out
        raise UsageError(f"cannot parse the magic line: {str(exc).lower()}: a quote (' or \") "
                         f"opens a word until the same quote closes it; a value from a "
                         f"{{variable}} that holds one goes in the other quotes (\"{{name}}\"), "
                         f"or through the Python API (orch.run, orch.get, orch.put)") from None
    if words and words[0] in SUBCOMMANDS and words[0] not in runs_in:
        if words[0] in ("get", "put"):
            transfer.cp_form(words[0], words[1:], environments())
        try:
            return Parsed(words[0], sub_parser(words[0]).parse_words(words[1:]))
        except UsageError:  # `%orch ps health`, with an environment named `ps`: a run there
            if (first_word is None or takes_words(words[0])
                    or not _names_environment(first_word, words)):
                raise  # `%orch stop web --timeout 5` is a stop, mistyped: never a run
    if words and not words[0].startswith("-") and first_word is not None:
        first_word(words[0], words[1:])
    if "--" in words:  # `orch run ENV -- CMD`, typed here: not a service named CMD
        env = words[0] if words[0] != "--" else "ENV"
        raise UsageError(f"%orch {env} -- COMMAND is the orch CLI's form; in a notebook, run a "
                         f"command as the cell body of %%orch {env}")
    return Parsed("run", run_parser().parse_words(words))


def takes_words(name: str) -> bool:
    """Whether subcommand `name` takes words of its own (a run's name, paths): a line of it
    that does not parse is a mistake in it, never a run in an environment of that name."""
    actions = sub_parser(name)._actions  # private-ok: where argparse keeps its arguments
    return any(not action.option_strings for action in actions)


def _names_environment(first_word: Callable[[str, list[str]], None], words: list[str]) -> bool:
    """Whether `first_word` takes `words[0]` as an environment (it raises for any other)."""
    try:
        first_word(words[0], words[1:])
    except Exception:  # noqa: BLE001  (UsageError, or the config's own error for the name)
        return False
    return True


def subcommand_typos(word: str, rest: Sequence[str] = ()) -> list[str]:
    """The subcommands `word` looks like a misspelling of, nearest first: of those as near,
    the ones that take the words that follow (`pu two a b`: put, not ps), else all."""
    near = sorted((edit_distance(word.lower(), name), name) for name in SUBCOMMANDS
                  if did_you_mean(word, [name]))
    tied = [name for distance, name in near if distance == near[0][0]]
    return [name for name in tied if _takes(name, rest)] or tied


def _takes(name: str, rest: Sequence[str]) -> bool:
    """Whether `%orch NAME REST…` parses (help words aside: they would print)."""
    try:
        sub_parser(name).parse_words([w for w in rest if w not in ("-h", "--help")])
    except UsageError:
        return False
    return True


def _splits_a_word(line: str) -> bool:
    """Whether a line break outside quotes comes before more words (a trailing one, as a
    token read from a file ends, splits nothing; one inside quotes is the word's)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "\r\n" and line[i:].strip():
            return True
    return False


def strip_comment(line: str) -> str:
    """Drop a trailing `# comment`: a # that starts a word outside quotes (KEY=#fff stays)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line


#: `{{secret:NAME}}` written on a magic line, as IPython's `{var}` expansion leaves it.
_HALVED = re.compile(r"(?<!\{)\{(\s*([A-Za-z_][\w-]*)\s*:[^{}]*)\}(?!\})")
#: What follows a placeholder's colon: a name (`{{secrt:token}}`), not a format (review28).
_NAMED = re.compile(r"\s*[A-Za-z_][\w.-]*\s*(?::-[^{}]*)?$")


def doubled(value: str) -> str:
    """`value` with its placeholders as written: a kind's, or one spelt near it (`{{secrt:x}}`,
    `{{Secret:x}}`: config15 ran them as the literal text), which the check then refuses."""
    def back(found: re.Match[str]) -> str:
        kind = found[2].lower()
        near = found[2] in KINDS or did_you_mean(kind, KINDS) is not None and bool(
            _NAMED.match(found[1], found[1].index(":") + 1))  # not a format: `{sec:02d}`
        return "{{" + found[1] + "}}" if near else found[0]
    return _HALVED.sub(back, value)
