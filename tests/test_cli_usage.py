"""`orch` as a newcomer uses it: piped input, dry runs that would be refused, mistyped words."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from orch_magics import Orchestrator, load_config

ORCH = [sys.executable, "-m", "orch_magics.cli"]
CONFIG = """\
environments:
  local: {layers: []}
  prod: {protected: true, layers: []}
  narrow:
    allow_adhoc: false
    allow_services: [s]
    layers: []
services:
  catnone: {command: cat}
  s: {command: echo s}
  t: {command: echo t}
"""


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "orch.yaml"
    path.write_text(CONFIG)
    return path


def orch(*args: str, input: bytes | None = b"", env: dict[str, str] | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*ORCH, *args], input=input, capture_output=True, timeout=60,
                          start_new_session=True,  # no terminal to ask on
                          env={**os.environ, **(env or {})}, cwd=cwd)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(),
                                       done.stderr.decode())


@pytest.mark.ssh
@pytest.mark.parametrize("env", ["local", "loop"])
def test_piped_input_reaches_a_service_that_takes_none(ssh_lab, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                       env: str) -> None:
    """Before: `echo hi | orch run local catnone` printed nothing, status 0: the input was
    dropped. docs/services.md: input given explicitly is delivered first, then EOF."""
    path = tmp_path / "orch.yaml"
    path.write_text(ssh_lab.config_yaml(extra_envs={"local": []},
                                        services="  catnone: {command: cat}\n"))
    done = orch("-c", str(path), "run", env, "catnone", input=b"hi\nthere\n")
    assert (done.returncode, done.stdout, done.stderr) == (0, "hi\nthere\n", "")
    with Orchestrator(load_config(path)) as api:  # the API does the same
        assert api.run(env, "catnone", stdin=b"hi\n").stdout == "hi\n"


def test_a_service_that_takes_none_gets_eof_at_once_on_a_terminal(cfg: Path) -> None:
    """A terminal is not input given: `cat` ends at once instead of waiting for typing."""
    leader, follower = pty.openpty()
    try:
        done = subprocess.run([*ORCH, "-c", str(cfg), "run", "local", "catnone"],
                              stdin=follower, capture_output=True, timeout=60)
    finally:
        os.close(follower)
        os.close(leader)
    assert (done.returncode, done.stdout) == (0, b"")


@pytest.mark.parametrize(("what", "message"), [
    (["--", "ls"], "orch: the run would be refused: environment 'narrow' runs services only "
                   "(allow_adhoc: false)"),
    (["t"], "orch: the run would be refused: service 't' may not run in 'narrow' "
            "(did you mean 's'?); allowed there: s"),
])
def test_a_dry_run_says_the_run_would_be_refused(cfg: Path, what: list[str],
                                                 message: str) -> None:
    """Before: the plan was printed with status 0 while the run itself is refused (1)."""
    dry = orch("-c", str(cfg), "run", "--dry-run", "narrow", *what)
    real = orch("-c", str(cfg), "run", "narrow", *what)
    assert dry.returncode == real.returncode == 1
    assert dry.stderr.startswith(message) and "environment: narrow" in dry.stdout
    assert real.stderr.removeprefix("orch: ") in dry.stderr


def test_a_dry_run_that_may_run_still_succeeds(cfg: Path) -> None:
    done = orch("-c", str(cfg), "run", "--dry-run", "narrow", "s")
    assert (done.returncode, done.stderr) == (0, "") and "service:     s" in done.stdout


def test_a_dry_run_reads_no_secret(tmp_path: Path) -> None:
    """frontends finding #3: `--dry-run` ran the command provider (a password manager) and,
    where no provider knew a secret, refused to show the plan at all."""
    log = tmp_path / "provider.log"
    path = tmp_path / "orch.yaml"
    path.write_text(
        "environments:\n  local: {layers: []}\n"
        "  as-admin:\n    layers:\n"
        "      - {type: sudo, config: {user: admin, password: '{{secret:sudo_pw}}'}}\n"
        "secrets:\n  providers:\n"
        f"    - {{type: command, argv: [sh, -c, 'echo ran >> {log}; exit 1']}}\n"
        "services:\n  s:\n    command: echo \"$T\"\n"
        "    environment: {T: '{{secret:tok}}', H: '{{env:HOME}}'}\n")
    for env in ("local", "as-admin"):
        done = orch("-c", str(path), "run", "--dry-run", env, "s")
        assert (done.returncode, done.stderr) == (0, "")
        assert "env:         T={{secret:tok}}" in done.stdout
        assert "env:         H={{env:HOME}}" in done.stdout
    assert not log.exists()  # the provider never ran
    real = orch("-c", str(path), "run", "local", "s")  # the run itself still needs it
    assert real.returncode == 2 and "secret 'tok' is not available" in real.stderr


@pytest.mark.parametrize(("args", "line"), [
    (("--confg", "x", "ls"), "orch: error: unknown option --confg (did you mean '--config'?)"),
    (("forward", "--lcoal", "5", "local", "80"),
     "orch forward: error: unknown option --lcoal (did you mean '--local'?)"),
    (("run", "-E", "A=1", "local", "s"), "orch: error: unknown option -E (did you mean '-e'?)"),
    (("cp", "--lmit", "x", "a", "b"), "orch: error: unknown option --lmit (did you mean "
                                   "'--limit'?)"),
    (("run", "local", "s", "--yes-please"),
     "orch: error: unknown option --yes-please (did you mean '--yes'?)"),
    (("run", "--dry"), "orch run: error: the following arguments are required: environment"),
    (("run", "local", "s", "--ye"), "orch run: error: argument --yes: expected one argument"),
    (("run", "local", "echo", "hi"), "orch: error: unrecognized arguments: hi (a command "
                                     "goes after --: orch run ENV -- CMD ARGS…)"),
    # review19: in argparse's words, not Python's ("invalid literal for int() with base 10")
    (("run", "--parallel", "-x", "local", "s"), "orch run: error: argument --parallel: invalid "
                                                "int value: '-x'"),
    # basics10: not told to write --since=-1h, which its own check refuses as well
    (("audit", "--since", "-1h"), "orch audit: error: argument --since: give a span like 30m, "
                                  "1h, 2d, or an ISO date such as 2026-11-30T08:00"),
    (("run", "--yes", "-prod", "local", "s"), "orch run: error: unknown option -prod (a value "
                                              "of --yes that begins with '-' is written "
                                              "--yes=-prod)"),
    (("help",), "orch: error: argument COMMAND: invalid choice: 'help' (choose from 'run', "
                "'check', 'ls', 'schema', 'audit', 'cp', 'forward') (orch --help lists the "
                "commands; orch COMMAND --help shows one's options)"),  # config tester
    # `ps` was offered 'ls' (it lists environments), `get` nothing, `-v` was offered '-h'
    (("ps",), "orch: error: argument COMMAND: invalid choice: 'ps' (choose from 'run', "
              "'check', 'ls', 'schema', 'audit', 'cp', 'forward') (named runs belong to a "
              "notebook or a Python process: %orch ps, or orch.ps(…))"),
    (("get", "local:/x", "."), "orch: error: argument COMMAND: invalid choice: 'get' (choose "
                               "from 'run', 'check', 'ls', 'schema', 'audit', 'cp', 'forward') "
                               "(orch cp ENV:REMOTE LOCAL copies from an environment)"),
    (("run", "local", "s", "-v"), "orch: error: unknown option -v"),
    # config12: `--x` and `--t` were offered `-h` and `-e`, one letter away
    (("ls", "--x"), "orch: error: unknown option --x"),
    (("run", "local", "s", "--q"), "orch: error: unknown option --q"),
    # the notebook's words for listing, said the terminal's way (tester cli3)
    (("envs",), "orch: error: argument COMMAND: invalid choice: 'envs' (choose from 'run', "
                "'check', 'ls', 'schema', 'audit', 'cp', 'forward') (orch ls lists the "
                "environments and services)"),
    # config13: more of a notebook's or another tool's words
    (("list",), "orch: error: argument COMMAND: invalid choice: 'list' (choose from 'run', "
                "'check', 'ls', 'schema', 'audit', 'cp', 'forward') (orch ls lists the "
                "environments and services)"),
    (("history",), "orch: error: argument COMMAND: invalid choice: 'history' (choose from "
                   "'run', 'check', 'ls', 'schema', 'audit', 'cp', 'forward') (orch audit "
                   "lists the runs of the audit trail: %orch history in a notebook)"),
])
def test_a_mistyped_option_is_named_with_a_suggestion(cfg: Path, args: tuple[str, ...],
                                                      line: str) -> None:
    """Before: `orch --confg x ls` → "invalid choice: 'x'"; `orch forward --lcoal 5 local 80`
    → "argument port: … not 'local'"; `-E A=1 local s` → "unrecognized arguments: -E s".
    An option that starts a known one (`--yes-please`) had no suggestion, and one argparse
    took as an abbreviation (`--dry` for --dry-run) was called unknown ("did you mean
    '--demo'?") when the mistake was elsewhere; `--since -1h` was offered '-h'."""
    done = orch("-c", str(cfg), *args)
    assert done.returncode == 2 and done.stderr.splitlines()[-1] == line


@pytest.mark.parametrize(("args", "usage"), [
    (("run", "local", "s", "extra"), "usage: orch run [-h]"),
    (("run", "local", "s", "--bogus"), "usage: orch run [-h]"),
    (("ls", "--bogus"), "usage: orch ls [-h]"),
    (("--json", "check"), "usage: orch check [-h]"),
    (("bogus",), "usage: orch [-h]"),
])
def test_a_usage_error_shows_the_usage_of_the_command_typed(cfg: Path, args: tuple[str, ...],
                                                            usage: str) -> None:
    """Before: what a command left over (`orch run local s extra`) showed orch's own usage,
    which lists commands, not the run's options and positionals."""
    done = orch("-c", str(cfg), *args)
    assert done.returncode == 2 and done.stderr.startswith(usage), done.stderr


def test_a_config_file_named_like_a_command_is_not_taken_for_one(tmp_path: Path) -> None:
    """Before: any word `run`, a config file's name too, was taken for the command: `orch -c
    run cp -- -f.txt ENV:…` split at `--` and failed ("the following arguments are required"),
    and `orch -c run ls extra` got the hint meant for `orch run`. An abbreviated --config
    (`--conf FILE`, as argparse takes it) had its value taken for the command word."""
    (tmp_path / "run").write_text(CONFIG)
    (tmp_path / "-f.txt").write_text("hi\n")
    done = subprocess.run([*ORCH, "-c", "run", "cp", "--", "-f.txt",
                           f"local:{tmp_path / 'copy.txt'}"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and (tmp_path / "copy.txt").read_text() == "hi\n", done.stderr
    for config in (["-c", "run"], ["--conf", "run"], ["--co", "run"]):
        done = subprocess.run([*ORCH, *config, "ls", "extra"], cwd=tmp_path, text=True,
                              capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        assert done.returncode == 2 and done.stderr == (
            "usage: orch ls [-h]\norch: error: unrecognized arguments: extra\n"), done.stderr


@pytest.mark.parametrize("option", [["--json"], ["--timeout", "5"], ["-e", "A=1"],
                                    ["--dry-run"], ["--yes", "local"]])
def test_an_option_between_the_environment_and_the_service_is_taken(cfg: Path,
                                                                     option: list[str]) -> None:
    """cliapi finding #1: `orch run local --json s` → "unrecognized arguments: s (a command
    goes after --…)", status 2: ENV took the optional SERVICE, empty, with it."""
    done = orch("-c", str(cfg), "run", "local", *option, "s")
    assert (done.returncode, done.stderr) == (0, "")
    assert ('"stdout": "s\\n"' if option == ["--json"] else
            "service:     s" if option == ["--dry-run"] else "s\n") in done.stdout
    command = orch("-c", str(cfg), "run", "local", *option, "--", "echo", "--json")
    assert command.returncode == 0 and "--json" in command.stdout  # after --: the command's


def test_a_wrong_option_value_between_the_positionals_is_said(cfg: Path) -> None:
    """The usage argparse freezes for an intermixed parse held `--max-fail N|N%`: any mistake
    was a ValueError traceback instead of its message."""
    done = orch("-c", str(cfg), "run", "local", "--timeout", "x", "s")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == ("orch run: error: argument --timeout: invalid "
                                            "float value: 'x'")


def test_json_is_printed_for_a_run_that_cannot_start(tmp_path: Path) -> None:
    """cliapi finding #6: `orch run ENV S --json` printed nothing on stdout when the first hop
    was unreachable (a fleet's target gives a result with `error`); `--json --dry-run`
    printed the text plan, `--json` silently ignored."""
    path = tmp_path / "orch.yaml"
    path.write_text("environments:\n  refused:\n    layers: [{type: ssh, config: {host: "
                    "127.0.0.1, port: 1, connect_timeout: 3}}]\nservices:\n  s: {command: echo}\n")
    done = orch("-c", str(path), "run", "refused", "s", "--json")
    assert done.returncode == 1
    assert done.stderr == ("orch: hop 1 (ssh 127.0.0.1): cannot reach 127.0.0.1:1: Connection "
                           "refused\n")
    result = json.loads(done.stdout)
    assert (result["ok"], result["returncode"], result["service"]) == (False, None, "s")
    assert result["error"] == done.stderr.removeprefix("orch: ").strip()
    assert result["chain"] == "local → ssh 127.0.0.1"
    for options in (["--json", "--dry-run"], ["--dry-run", "--json"]):
        dry = orch("-c", str(path), "run", *options, "refused", "s")
        assert (dry.returncode, dry.stdout) == (2, "")
        assert dry.stderr.endswith("(a dry run shows its plan as text; it has no JSON "
                                   "result)\n")


@pytest.mark.parametrize(("words", "said", "chain", "command"), [
    (["nowhere", "s"], "unknown environment 'nowhere'", None, "echo s"),
    (["local", "nope"], "unknown service 'nope'", "local", None),
])
def test_json_is_printed_for_a_run_named_wrong(cfg: Path, words: list[str], said: str,
                                               chain: str | None, command: str | None) -> None:
    """An unknown environment or service left stdout empty, where `--json` promises a result
    "also for a run that could not start" (held-out tester cli3); what was never chosen is
    not made up: an unknown environment had the chain "local", a misspelt service was an
    ad-hoc command of its name (basics10)."""
    done = orch("-c", str(cfg), "run", "--json", *words)
    result = json.loads(done.stdout)
    assert done.returncode == 2 and said in done.stderr, done.stderr
    assert (result["ok"], result["returncode"], result["environment"]) == (False, None, words[0])
    assert result["error"].startswith(said), result
    assert (result["chain"], result["command"]) == (chain, command), result


def test_the_config_options_are_taken_after_the_command_too(cfg: Path, tmp_path: Path) -> None:
    """cliapi finding #3: `orch run local s -c FILE` was "unrecognized arguments" with the hint
    to put a command after --, and `orch run --dmeo …` proposed --demo, then refused it."""
    other = tmp_path / "more.yaml"
    other.write_text("services:\n  u: {command: echo u}\n")
    for args in (["-c", str(cfg), "run", "local", "u", "-c", str(other)],
                 ["run", "-c", str(cfg), "local", f"--config={other}", "u"]):
        done = orch(*args)
        assert (done.returncode, done.stdout, done.stderr) == (0, "u\n", "")
    demo = orch("run", "local", "health-check", "--demo")
    assert (demo.returncode, demo.stderr) == (0, "") and '"status": "ok"' in demo.stdout
    assert orch("ls", "--demo").stdout.startswith("environments:\n  local")


def test_a_command_given_as_a_service_name_gets_the_hint(cfg: Path) -> None:
    done = orch("-c", str(cfg), "run", "local", "echo hi")
    assert done.returncode == 2
    assert done.stderr.startswith("orch: config error: unknown service 'echo hi'")
    assert done.stderr.endswith("(a command goes after --: orch run ENV -- CMD ARGS…)\n")


def test_values_that_look_like_options_are_not_called_unknown(cfg: Path) -> None:
    done = orch("-c", str(cfg), "run", "--timeout", "-1", "local", "s")
    assert done.returncode == 2 and "timeout must be a positive number" in done.stderr
    assert orch(f"-c{cfg}", "run", "-eA=1", "local", "s").stdout == "s\n"


@pytest.mark.parametrize("value", [":", "::", " : "])
def test_orch_config_naming_no_file_is_an_error(tmp_path: Path, value: str) -> None:
    """Before: `ORCH_CONFIG=: orch check` → `ok: ` with an empty configuration, status 0."""
    (tmp_path / "orch.yaml").write_text(CONFIG)  # not taken instead: ORCH_CONFIG was set
    done = subprocess.run([*ORCH, "check"], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env={**os.environ, "ORCH_CONFIG": value})
    assert done.returncode == 2
    assert done.stderr.startswith(f"orch: config error: ORCH_CONFIG={value!r} names no file")


@pytest.mark.parametrize(("variables", "hint"), [
    ({}, ""),
    ({"ORCH_CONFG": "/x/orch.yaml"}, " (ORCH_CONFG is set: did you mean ORCH_CONFIG?)"),
    ({"orch_config": "/x/orch.yaml"}, " (orch_config is set: did you mean ORCH_CONFIG?)"),
    ({"ORCH_CONFIRM": "prod"}, ""),  # a variable orch reads is no misspelling of another
    ({"TORCH_CONFIG": "/x/torch.yaml"}, ""),  # another tool's, one letter away
])
def test_no_configuration_says_how_in_the_clis_words(tmp_path: Path, variables: dict[str, str],
                                                     hint: str) -> None:
    """cliapi finding #7: the first `orch ls` outside a project said `-c/load_config(...)`,
    not `orch --demo`, and `ORCH_CONFG=…` (a typo) got the same message, no hint."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("ORCH_CONF")}
    done = subprocess.run([*ORCH, "ls"], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env={**env, **variables})
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"orch: config error: no configuration found: give files with -c FILE (orch --demo … "
        f"runs the built-in demo), set ORCH_CONFIG, or put orch.yaml (or environments.yaml and "
        f"services.yaml) in {tmp_path}{hint}\n")


def test_an_orch_confirm_for_another_environment_is_said(cfg: Path) -> None:
    done = orch("-c", str(cfg), "run", "prod", "s", env={"ORCH_CONFIRM": "prd"})
    assert done.returncode == 1
    assert "ORCH_CONFIRM=prd does not name it" in done.stderr
    assert "run with --yes prod or set ORCH_CONFIRM=prod" in done.stderr  # the CLI's words
    assert orch("-c", str(cfg), "run", "prod", "s", env={"ORCH_CONFIRM": "prod"}).stdout == "s\n"


@pytest.mark.parametrize("argv", [[""], ["", "x"]], ids=["empty", "empty-with-args"])
def test_an_empty_program_name_is_command_not_found(cfg: Path, argv: list[str]) -> None:
    """Before: `orch run local -- ''` → `orch: : permission denied`, 126; a shell says 127."""
    done = orch("-c", str(cfg), "run", "local", "--", *argv)
    assert (done.returncode, done.stderr) == (127, "orch: : command not found\n")
    with Orchestrator(load_config(cfg)) as api:
        assert api.run("local", command=argv).exit_status == 127


def test_orch_cp_refuses_a_local_side_that_reads_as_a_misspelt_environment(
        tmp_path: Path) -> None:
    """files9: with the other side an environment, `lop:x` (for `loop:x`) was a local path:
    a file `lop:x` was made here, exit 0; `./lop:x` still names one."""
    cfg = tmp_path / "orch.yaml"
    cfg.write_text("environments: {loop: {layers: []}, two: {layers: []}}\n")
    (tmp_path / "src.txt").write_text("x\n")
    for words in ([f"two:{tmp_path}/src.txt", "lop:x"], [f"lop:{tmp_path}/src.txt", "two:x"]):
        done = orch("-c", str(cfg), "cp", *words, cwd=tmp_path)
        assert done.returncode == 2 and "(did you mean 'loop'?); a local path with a colon is " \
                                       "written ./lop:" in done.stderr, done.stderr
        assert not (tmp_path / "lop:x").exists()
    done = orch("-c", str(cfg), "cp", f"two:{tmp_path}/src.txt", "./lop:x", cwd=tmp_path)
    assert done.returncode == 0 and (tmp_path / "lop:x").read_text() == "x\n", done.stderr


def test_orch_cp_reaches_an_environment_whose_name_holds_a_colon(tmp_path: Path) -> None:
    """`orch cp x a:b:/path` split at the first `:` and said "one side must be ENV:PATH with
    a configured environment; environments: a:b" (tester config): the longest name wins."""
    cfg = tmp_path / "orch.yaml"
    cfg.write_text("environments: {'a:b': {layers: []}, a: {layers: []}}\n")
    (tmp_path / "src.txt").write_text("colon\n")
    done = orch("-c", str(cfg), "cp", str(tmp_path / "src.txt"), f"a:b:{tmp_path}/dst.txt")
    assert done.returncode == 0 and (tmp_path / "dst.txt").read_text() == "colon\n", done.stderr
    done = orch("-c", str(cfg), "cp", f"a:{tmp_path}/dst.txt", str(tmp_path / "back.txt"))
    assert done.returncode == 0 and (tmp_path / "back.txt").read_text() == "colon\n", done.stderr


def test_double_dash_ends_the_options_of_orch_cp(cfg: Path, tmp_path: Path) -> None:
    """As with cp, scp and docker cp: `--` lets a local name start with `-`. Before, orch
    said "unknown option -- (did you mean '-h'?)", and Python's intermixed parse read the
    name after it as an option again."""
    (tmp_path / "-f.txt").write_text("dash\n")
    for argv, landed in ((["--", "-f.txt", f"local:{tmp_path}/put.txt"], "put.txt"),
                         (["--", f"local:{tmp_path}/-f.txt", "./-g.txt"], "-g.txt")):
        done = subprocess.run([*ORCH, "-c", str(cfg), "cp", *argv], capture_output=True,
                              text=True, cwd=tmp_path, timeout=120)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / landed).read_text() == "dash\n"
    done = subprocess.run([*ORCH, "-c", str(cfg), "cp", "-f.txt", f"local:{tmp_path}/x"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert (done.returncode, done.stderr.splitlines()[-1]) == (2, "orch cp: error: unknown "
                                                                  "option -f.txt")


@pytest.mark.parametrize(("args", "said"), [
    (("cp", "local:", "here"), "orch: config error: the remote path after local: is empty"),
    (("cp", "local:/etc/hostname", ""), "orch: config error: the local path is empty"),
    (("forward", "local", "22", "--host", "a b"),
     "orch forward: error: argument --host: a host name or address, got 'a b': it has a space"),
])
def test_a_copy_or_forward_typed_wrong_is_a_usage_error(cfg: Path, args: tuple[str, ...],
                                                        said: str) -> None:
    """They exited 1, as a refused run does, where the other typing mistakes of cp and
    forward exit 2 (held-out tester cli3)."""
    done = orch("-c", str(cfg), *args)
    assert done.returncode == 2 and said in done.stderr.splitlines()[-1], done.stderr


@pytest.mark.parametrize("words", [["--parallel", "x"], ["--jsno"], ["s", "extra"]])
def test_json_with_a_command_line_orch_cannot_read_prints_only_the_usage_error(
        cfg: Path, words: list[str]) -> None:
    """docs/troubleshooting.md: no run was described, so no JSON; a script reading stdout
    gets nothing and status 2, and the reason is on stderr."""
    done = orch("-c", str(cfg), "run", "local", "--json", *words)
    assert (done.returncode, done.stdout) == (2, ""), done
    assert done.stderr.startswith("usage: orch run") or done.stderr.startswith("orch: "), done
    assert done.stderr.count("\n") <= 4 and "Traceback" not in done.stderr, done.stderr


def test_run_help_shows_the_command_form() -> None:
    """`orch run --help` showed only `environment [service]`: the form the README teaches
    first, `orch run ENV -- CMD ARGS…`, was in the top-level help alone (held-out tester docs3)."""
    import subprocess
    import sys

    said = subprocess.run([sys.executable, "-m", "orch_magics.cli", "run", "--help"],
                          capture_output=True, text=True, check=True).stdout
    said = " ".join(said.split())  # as wrapped to the terminal's width
    assert "orch run ENV -- CMD ARGS…" in said and "--timeout S " in said, said


@pytest.mark.parametrize("args", [["audit", "-n", "1", "-n", "3"],
                                  ["audit", "--env", "a", "--env", "b"],
                                  ["audit", "--since", "1h", "--since", "2h"]])
def test_every_option_taking_one_value_is_refused_given_twice(tmp_path: Path,
                                                              args: list[str]) -> None:
    """magics14: `-n 1 -n 3` and others kept the last value in silence, where `run`'s
    options refuse a second one."""
    (tmp_path / "orch.yaml").write_text("environments: {local: []}\naudit: {enabled: false}\n")
    done = orch(*args, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.splitlines()[-1].endswith(
        ": given twice: give it once"), done.stderr


def test_orch_cp_says_a_dash_is_no_stream(cfg: Path, tmp_path: Path) -> None:
    """config18: `orch cp local:/etc/hostname -` wrote a file named `-` (docker cp's "to
    stdout"), and `cp - local:/tmp/x` said only "cannot read -"."""
    (tmp_path / "src.txt").write_text("x\n")
    for argv in ([f"local:{tmp_path}/src.txt", "-"], ["-", f"local:{tmp_path}/dst.txt"]):
        done = subprocess.run([*ORCH, "-c", str(cfg), "cp", "--", *argv], capture_output=True,
                              text=True, cwd=tmp_path, timeout=120, input="piped\n")
        assert done.returncode == 2 and "not standard input or output ('-')" in done.stderr, \
            done.stderr
    assert not (tmp_path / "-").exists() and not (tmp_path / "dst.txt").exists()


def test_an_environment_typed_as_the_command_points_at_orch_run(cfg: Path) -> None:
    """config18: `orch local hello` (the notebook's `%orch local hello` typed in a shell)
    got the list of commands and no word of `orch run`."""
    done = subprocess.run([*ORCH, "-c", str(cfg), "local", "hello"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.endswith(
        "(to run in an environment: orch run local hello)\n"), done.stderr
