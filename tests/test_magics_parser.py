"""The %orch line: one parser for runs and subcommands, --help, did-you-mean, clear errors."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import pytest
from IPython.core.completer import provisionalcompleter
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from orch_magics.magics import Orch, OrchMagics
from orch_magics.magics.parser import SUBCOMMANDS
from shells import orch_shell

CONFIG = textwrap.dedent("""
    environments:
      local: {layers: []}
      my env: {layers: []}
    services:
      hello: {command: echo hello}
      sleepy: {command: sleep 30}
""")


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InteractiveShell]:
    with orch_shell(CONFIG, tmp_path_factory.mktemp("cfg")) as sh:
        yield sh


@pytest.mark.parametrize("line, message", [
    ("sevices", "did you mean 'services'"),
    ("evns", "did you mean 'envs'"),
    ("lgos", "did you mean 'logs'"),
    ("local hello --tial 5", "unknown option --tial (did you mean --tail?)"),
    ("local hello --no-rase-error", "did you mean --no-raise-error"),
    ("local hello --no-raise", "unknown option --no-raise (did you mean --no-raise-error?)"),
    ("local hello --dry", "unknown option --dry (did you mean --dry-run?)"),
    ("local hello --he", "unknown option --he (did you mean --help?)"),
    ("logs napper --hel", "unknown option --hel (did you mean --help?)"),
    ("history --fail", "unknown option --fail (did you mean --failed?)"),
    ("local hello --timeout=3 --dry-rn", "did you mean --dry-run"),
    ("logs napper --folow", "did you mean --follow"),
    ("start local hello --nmae x", "did you mean --name"),
    ("load --dmeo", "did you mean --demo"),
    # magics21: a dash smart punctuation made of `--`; an environment named with a space
    ("local hello —dry-run", "unknown option —dry-run (did you mean --dry-run? a — was typed "
     "for --)"),
    ("my env hello", "unknown environment 'my': 'my env' is one; quote a name with spaces: "
     "%orch 'my env' …"),
    # magics21: a typo on a line that also lacks a word was "arguments are required"
    ("put --hlep", "unknown option --hlep (did you mean --help?)"),
    ("logs --folow", "unknown option --folow (did you mean --follow?)"),
    ("start --hepl", "unknown option --hepl (did you mean --help?)"),
    # config7: the dashes made --yes "near" --help
    ("load base.yaml --yes", "unknown option --yes (options: %orch load --help)"),
    ("local hello extra", "unexpected argument 'extra'"),
    ("stop", "usage: %orch stop NAME"),
    ("stop napper -n 5", "unknown option -n (options: %orch stop --help)"),
    ("logs napper -n x", "argument -n/--tail: invalid int value: 'x'"),
    ("local 'unclosed", "cannot parse the magic line"),
    # config tester: a --name on a run that blocks the cell named nothing, in silence
    ("local hello --name greet", "--name names a run in the background, and this one blocks "
     "the cell: add --bg, or %orch start local SERVICE --name greet"),
    ("local --name greet --dry-run hello", "add --bg"),
    # api4: a second --limit replaced the first, so its exclusion was lost
    ("local hello --limit '!web-2' --limit web", "argument --limit: given twice: give it once, "
     "with every pattern in it, joined by commas"),
    ("get local /etc/hosts . --limit a --limit b", "--limit: given twice"),
    ("put local ./x /tmp/x --limit a --limit b", "--limit: given twice"),
    ("forward local 80 --limit a --limit b", "--limit: given twice"),
    # magics13: `--out r --out s` set s alone, in silence; so for the other single options
    ("local hello --out r --out s", "argument --out: given twice: give it once"),
    ("local hello --timeout 5 --timeout 50", "argument --timeout: given twice"),
    ("local hello --bg --name a --name b", "argument --name: given twice"),
    ("local hello --tail 3 --tail 4", "argument --tail: given twice"),
    ("local hello --parallel 2 --parallel 3", "argument --parallel: given twice"),
    # magics14: every subcommand's options taking one value (the last won, in silence)
    ("start local hello --name a --name b", "argument --name: given twice"),
    ("logs napper -n 1 -n 3", "argument -n/--tail: given twice"),
    ("history --env a --env b", "argument --env: given twice"),
    # files11: `%orch put loop {name} /tmp/` with a name holding a newline blamed the
    # destination (`unexpected argument '/tmp/'`): the line break split the name in two
    ("put local tree/new\nline /tmp/f11k/", "the %orch line holds a line break outside "
     "quotes, from a {variable} or $variable: it would split that word in two"),
    ("local hello -e X=a\rb", "holds a line break outside quotes"),
    # magics20: a value that starts with `-` was "expected one argument", though given
    ("history --since -1h", "argument --since: expected one argument (a value of --since "
     "that begins with '-' is written --since=-1h)"),
    ("local hello --bg --name -x", "(a value of --name that begins with '-' is written "
     "--name=-x)"),
    ("local hello -e -X=1", "(a value of -e that begins with '-' is written -e=-X=1)"),
])
def test_mistakes_get_one_line_with_a_hint(shell, line, message):
    with pytest.raises(UsageError) as info:
        shell.run_line_magic("orch", line)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_line_break_inside_quotes_or_at_the_end_is_no_mistake(shell):
    """review24, basics14: the refusal of a line break took a quoted one (`-e "CERT={pem}"`)
    and a token file's trailing newline too, and said the line, secrets and all."""
    assert shell.run_line_magic("orch", "local hello\n").stdout == "hello\n"
    assert shell.run_line_magic("orch", "local hello -e 'C=a\nb'").stdout == "hello\n"
    with pytest.raises(UsageError) as info:
        shell.run_line_magic("orch", "local hello -e X=s3cr3t\nmore")
    assert "s3cr3t" not in str(info.value)


@pytest.mark.parametrize("line", ["local --tail 3 hello", "local -e X=1 hello",
                                  "local --timeout 5 hello --tail 2"])
def test_an_option_may_come_between_the_environment_and_the_service(shell, line):
    assert shell.run_line_magic("orch", line).stdout == "hello\n"


def test_bg_between_the_environment_and_the_service_starts_the_service(shell):
    assert shell.run_line_magic("orch", "local --bg hello").wait().stdout == "hello\n"


def test_a_known_environment_is_never_taken_for_a_typo(shell, tmp_path):
    path = tmp_path / "orch.yaml"
    path.write_text("environments:\n  envz: {layers: []}\nservices:\n  hi: {command: echo hi}\n")
    orch = next(m for m in shell.magics_manager.registry.values()
                if isinstance(m, OrchMagics)).orchestrator
    old = orch.config
    try:
        shell.run_line_magic("orch", f"load {path}")
        assert shell.run_line_magic("orch", "envz hi").stdout == "hi\n"
    finally:
        orch.load(*old.files)


@pytest.mark.parametrize("line, expected", [
    ("--help", ["usage: %orch ENV SERVICE [options]", "%%orch ENV [SERVICE]", "services",
                "--tail N", "subcommands"]),
    ("-h", ["usage: %orch ENV SERVICE"]),
    ("logs --help", ["usage: %orch logs NAME [-n N] [-f]", "--follow"]),
    ("start -h", ["usage: %orch start ENV SERVICE [--name NAME]"]),
    ("load --help", ["--demo"]),
])
def test_help(shell, capsys, line, expected):
    assert shell.run_line_magic("orch", line) is None
    out = capsys.readouterr().out
    for text in expected:
        assert text in out


@pytest.mark.parametrize("word", ["help", "HELP", "usage"])
def test_asking_for_help_by_name_points_at_the_help(shell, word):
    """`%orch help` said "unknown environment 'help'" with no pointer (held-out tester)."""
    with pytest.raises(UsageError, match=r"^%orch --help shows how to use it"):
        shell.run_line_magic("orch", word)


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_every_subcommand_shows_its_help(shell, capsys, name):
    """`%orch ps --help` (envs, services, forwards: those with argparse's own usage) was a
    TypeError traceback: their prog `%orch …` was read as a %-format."""
    for flag in ("--help", "-h"):
        assert shell.run_line_magic("orch", f"{name} {flag}") is None
        out = capsys.readouterr().out
        assert out.startswith(f"usage: %orch {name}") and "show this help" in out, out


def test_no_configuration_says_how_to_load_one(tmp_path, monkeypatch):
    monkeypatch.delenv("ORCH_CONFIG", raising=False)
    monkeypatch.setenv("ORCH_CONIFG", "/x/orch.yaml")  # a typo gets named (cliapi #7)
    monkeypatch.chdir(tmp_path)
    magics = OrchMagics(InteractiveShell.instance(), Orch())
    for line in ("local hello", "envs", "load"):
        with pytest.raises(UsageError, match="%orch load FILE .*%orch load --demo") as err:
            magics.orch(line)
        assert str(err.value).endswith("(ORCH_CONIFG is set: did you mean ORCH_CONFIG?)")


def test_completion_offers_orch_words_only(shell):
    with provisionalcompleter():
        first = [c.text for c in shell.Completer.completions("%orch ", 6)]
        options = [c.text for c in shell.Completer.completions("%orch local hello --t", 21)]
        logs = [c.text for c in shell.Completer.completions("%orch logs x --f", 16)]
    assert "'my env'" in first  # magics21: quoted, as the line reads it
    assert first and set(first) <= {"local", "'my env'", "load", "envs", "services", "start", "ps",
                                     "logs", "stop", "restart", "status", "history", "get",
                                     "put", "forward", "forwards"}
    assert sorted(options) == ["--tail", "--timeout"]
    assert logs == ["--follow"]
    with provisionalcompleter():  # Python completion is untouched elsewhere
        assert "import" in [c.text for c in shell.Completer.completions("imp", 3)]


def test_a_handle_shows_its_state_with_the_time_it_was_true(shell, capsys):
    live = shell.run_line_magic("orch", "start local sleepy --name shown")
    capsys.readouterr()
    shell.display_formatter.format(live)
    running = capsys.readouterr().out
    assert "shown" in running and " as of " in running
    shell.run_line_magic("orch", "stop shown")
    capsys.readouterr()
    shell.display_formatter.format(live)
    stopped = capsys.readouterr().out
    assert "stopped" in stopped and " as of " not in stopped


def test_a_mistyped_subcommand_of_its_own_words_is_never_a_run() -> None:
    """review3: with an environment named `stop`, `%orch stop web --timeout 5` (a stop with
    an option it lacks) ran service `web` in environment `stop`. Only a subcommand that
    takes no words of its own (`ps`, `envs`, …) falls back to a run in such an environment."""
    from orch_magics.magics.parser import parse

    def first_word(word: str, rest: list[str]) -> None:
        if word not in ("stop", "ps", "logs"):
            raise UsageError(f"unknown environment {word!r}")

    for line in ("stop web --timeout 5", "logs web --bg", "stop"):
        with pytest.raises(UsageError, match=f"%orch {line.split()[0]}"):
            parse(line, first_word)
    assert parse("ps web --timeout 5", first_word).command == "run"
    assert parse("ps", first_word).command == "ps"
