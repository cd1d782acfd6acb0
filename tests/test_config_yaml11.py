"""Values YAML 1.1 would change unseen: kept as written when YAML gives the same text back,
refused with file:line:column and a hint to quote them otherwise.

Before, `{Z: 0777, V: no, U: 0x1F}` reached the process as `Z=511 V=false U=31`,
`max_restarts: 0777` was 511, and the password `0123` in a secrets file was sent as `83`.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from orch_magics import ConfigError, Orchestrator, load_config, load_config_text
from orch_magics.secrets.masking import REGISTRY

HEAD = "environments: {local: {layers: []}}\nservices:\n"


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        load_config_text(HEAD + text, "conf.yaml")
    return err.value


@pytest.mark.parametrize("value, kind, read", [
    ("0777", "an integer", "511"), ("no", "a boolean", "false"), ("0x1F", "an integer", "31"),
    ("12:30", "an integer", "750"), ("1_000", "an integer", "1000"), ("1.50", "a number", "1.5"),
    ("True", "a boolean", "true"),
    ("2001-12-14t21:59:43.10-05:00", "a date", "2001-12-14 21:59:43.100000-05:00"),
])
def test_an_environment_value_yaml_would_change_is_refused(value: str, kind: str,
                                                           read: str) -> None:
    err = error_of(f"  a:\n    command: env\n    environment: {{OK: 1, Z: {value}}}\n")
    assert err.message == (f"services.a.environment.Z: YAML 1.1 reads {value} as {kind} "
                           f"({read}), not as the text written: quote it ('{value}') to keep "
                           "it exactly")
    assert (err.file, err.line, err.column) == ("conf.yaml", 5, 29)


def test_a_choice_yaml_read_as_a_boolean_says_to_quote_it() -> None:
    """`restart: no` (as docker-compose writes it) said only "must be one of 'no', …, not
    False", with no word of why `no` was not `'no'`."""
    err = error_of("  a: {command: x, restart: no}\n")
    assert err.message == ("services.a.restart: YAML 1.1 reads no as a boolean (false), not as "
                           "the text written: quote it ('no') to keep it exactly")
    assert (err.line, err.column) == (3, 28)
    # a word that is no choice either (config tester: `restart: off` said "not False")
    err = error_of("  a: {command: x, restart: off}\n")
    assert err.message == ("services.a.restart must be one of 'no', 'on-failure', 'always', "
                           "not off (YAML 1.1 reads it as the boolean false)")


def test_the_same_rule_holds_for_pre_commands_and_layers() -> None:
    err = error_of("  a: {command: x, pre_commands: [{command: y, environment: {V: off}}]}\n")
    assert err.message.startswith("services.a.pre_commands[0].environment.V: YAML 1.1 reads off")
    with pytest.raises(ConfigError) as raised:
        load_config_text("environments:\n  e:\n    layers:\n      - type: local\n"
                         "        config: {environment: {Z: 0777}}\n", "conf.yaml")
    assert raised.value.message.startswith(
        "environments.e.layers[0].config.environment.Z: YAML 1.1 reads 0777 as an integer (511)")
    assert (raised.value.line, raised.value.column) == (5, 35)


def test_values_yaml_gives_back_as_written_reach_the_process_unchanged() -> None:
    orch = Orchestrator(load_config_text(HEAD + textwrap.indent(textwrap.dedent("""\
          a:
            command: 'echo "$PORT $ON $RATE $NEG $DAY $ZIP $NO"'
            environment: {PORT: 8080, ON: true, RATE: 1.5, NEG: -3, DAY: 2024-01-01,
                          ZIP: '0777', NO: 'no'}
        """), "  ")))
    try:
        res = orch.run("local", "a")
    finally:
        orch.close()
    assert res.ok, res.describe_failure()
    assert res.stdout == "8080 true 1.5 -3 2024-01-01 0777 no\n"


@pytest.mark.parametrize("field, written, message", [
    ("max_restarts", "0777", "max_restarts: YAML 1.1 reads 0777 as the octal number 511: write "
                             "777 (or 511 if octal was meant)"),
    ("timeout", "010", "timeout: YAML 1.1 reads 010 as the octal number 8: write 10 (or 8 if "
                       "octal was meant)"),
    # inputs #2: `port: 1:10` loaded as port 70, `2_2` as 22
    ("max_restarts", "1:10", "max_restarts: YAML 1.1 reads 1:10 as the base-60 number 70: "
                             "write 70 (or quote it if text was meant)"),
    ("max_restarts", "2_2", "max_restarts: YAML 1.1 reads 2_2 as the number 22: write 22 (or "
                            "quote it if text was meant)"),
    ("timeout", "1:30.5", "timeout: YAML 1.1 reads 1:30.5 as the base-60 number 90.5: write "
                          "90.5 (or quote it if text was meant)"),
    ("timeout", "1_000", "timeout: YAML 1.1 reads 1_000 as the number 1000: write 1000 (or "
                         "quote it if text was meant)"),
    ("max_restarts", "0_777", "max_restarts: YAML 1.1 reads 0_777 as the octal number 511: "
                              "write 777 (or 511 if octal was meant)"),  # review #11
])
def test_a_number_yaml_reads_otherwise_is_refused(field: str, written: str, message: str) -> None:
    err = error_of(f"  a: {{command: x, {field}: {written}}}\n")
    assert err.message == f"services.a.{message}"
    assert (err.line, err.column) == (3, 21 + len(field))


def test_small_and_plain_counts_still_load() -> None:
    cfg = load_config_text(HEAD + "  a: {command: x, max_restarts: 07}\n"
                                  "  b: {command: x, max_restarts: 10, timeout: 8}\n")
    assert cfg.service("a").max_restarts == 7 and cfg.service("b").max_restarts == 10


def test_a_number_where_a_string_is_expected_says_to_quote_it() -> None:
    err = error_of("  a: {command: echo, working_dir: 0777}\n")
    assert err.message == ("services.a.working_dir must be a string, not an integer "
                           "(quote it to make it text: '0777')")


@pytest.fixture
def forget_secrets() -> Iterator[None]:
    """The secrets here (`true`) would be masked in every later test's output otherwise."""
    yield
    REGISTRY.clear()


def secrets_config(tmp_path: Path, content: str) -> Orchestrator:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(content)
    secrets.chmod(0o600)
    return Orchestrator(load_config_text(
        "environments: {local: {layers: []}}\n"
        f"services:\n  s:\n    command: 'printf %s \"$A\" > {tmp_path / 'sent'}'\n"
        "    environment: {A: '{{secret:a}}'}\n"
        f"secrets: {{providers: [file], file: {secrets}}}\n"))


@pytest.mark.parametrize("written, kind", [
    ("0123", "an integer"), ("12:30", "an integer"), ("on", "a boolean"), ("1.50", "a number")])
def test_a_secret_yaml_would_change_is_refused_without_showing_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written: str, kind: str) -> None:
    monkeypatch.delenv("ORCH_SECRET_A", raising=False)
    orch = secrets_config(tmp_path, f"other: x\na: {written}\n")
    try:
        with pytest.raises(ConfigError) as err:
            orch.plan("local", "s")
    finally:
        orch.close()
    assert err.value.message == (f"secret 'a': YAML 1.1 reads this unquoted value as {kind}, "
                                 "not as the text written: quote it to keep it exactly")
    assert (err.value.file, err.value.line, err.value.column) == (
        str(tmp_path / "secrets.yaml"), 2, 4)
    assert written not in str(err.value)


@pytest.mark.usefixtures("forget_secrets")
@pytest.mark.parametrize("written, sent", [
    ("'0123'", "0123"), ("12345678", "12345678"), ("true", "true"), ('"12:30"', "12:30")])
def test_secrets_yaml_keeps_reach_the_process_as_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written: str, sent: str) -> None:
    monkeypatch.delenv("ORCH_SECRET_A", raising=False)
    orch = secrets_config(tmp_path, f"a: {written}\n")
    try:
        res = orch.run("local", "s")
    finally:
        orch.close()
    assert res.ok, res.describe_failure()
    assert (tmp_path / "sent").read_text() == sent



@pytest.mark.parametrize("command", ["[sleep, 0]", "[printf, '%s|', 5, -n, 1.5, 2026-11-30]"])
def test_unquoted_numbers_in_an_argv_list_are_kept_as_written(command: str,
                                                              tmp_path: Path) -> None:
    """config16 F8: `command: [sleep, 1]` was refused ("must be a string, not an integer")
    while `environment: {N: 1}` gave N=1: two rules for one config. A list of text keeps
    what YAML reads back as written, in a command, a pre or post step and a provider's argv."""
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(f"environments: {{local: []}}\n"
                   f"secrets: {{providers: [{{type: command, argv: [printf, 5]}}]}}\n"
                   f"services:\n  s: {{command: {command}, post_commands: [{{command: [true, 1]}}]}}\n")
    config = load_config(str(cfg))
    written = [w.strip("'") for w in command.strip("[]").split(", ")]
    assert list(config.services["s"].command) == written
    assert list(config.services["s"].post_commands[0].command) == ["true", "1"]
    assert list(config.secrets.providers[0].argv) == ["printf", "5"]
    done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run",
                           "local", "s"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "".join(f"{w}|" for w in written[2:])


@pytest.mark.parametrize(("item", "read"), [("0755", "an integer (493)"),
                                            ("yes", "a boolean (true)"),
                                            ("1.50", "a number (1.5)")])
def test_an_argv_item_yaml_would_change_is_refused_at_its_line(item: str, read: str) -> None:
    err = error_of(f"  s: {{command: [chmod, {item}, f]}}\n")
    assert "conf.yaml:3:" in str(err) and "services.s.command[1]" in str(err)
    assert f"YAML 1.1 reads {item} as {read}" in str(err) and f"'{item}'" in str(err)


@pytest.mark.parametrize("value", ["!include [cmd.txt]", "!!str [a, b]", "!!set {a: null}",
                                   "!!python/object/apply:os.system [id]"])
def test_a_tag_on_a_list_or_mapping_is_refused_at_its_line(value: str) -> None:
    """config17: a tag on a list or mapping was dropped and the collection used as data
    (`command: !include [cmd.txt]` ran `cmd.txt`), where the same tag on a single value is
    refused."""
    err = error_of(f"  s: {{command: {value}}}\n")
    tag = value.split()[0]
    assert str(err).splitlines()[0] == (f"conf.yaml:3:16: bad value: it is tagged {tag}, which "
                                        f"orch does not read on a list or mapping: remove the "
                                        f"tag")
