"""What a user writes wrong is refused at load with its file:line, and the likely wrong key gets
the key meant (held-out tester, 2026-11-30: cli findings 7, 8 and 10).

- A placeholder without its colon (`{{secret}}`, `{{env}}`) used to pass `orch check` and reach
  the command as that text (a password variable silently became the text `{{secret}}`).
- An empty working directory passed `orch check`, then failed locally as "/bin/sh: command not
  found" and was ignored over ssh and docker.
- `env`, `workdir` ↔ `working_dir`, `hostname` got "unknown key" with no suggestion: they are more
  than three edits from the key meant.

Each goes through the loader, `orch check` and `orch run` (a real subprocess), and the API.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orch_magics import ConfigError, Orchestrator, load_config_text
from orch_magics.config.suggest import key_hint

ORCH = [sys.executable, "-m", "orch_magics.cli"]


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        load_config_text(textwrap.dedent(text), "conf.yaml")
    return err.value


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ORCH, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def service_with(value: str, key: str = "environment") -> str:
    shown = f"{{A: {value!r}}}" if key == "environment" else repr(value)
    return ("environments:\n  a: {layers: []}\nservices:\n  s:\n    command: echo \"[$A]\"\n"
            f"    {key}: {shown}\n")


# ---- placeholders without their colon ---------------------------------------------------------

COLONLESS = [
    ("{{secret}}", "{{secret:NAME}}"),
    ("{{env}}", "{{env:VAR}}"),
    ("{{ secret }}", "{{secret:NAME}}"),
    ("{{SECRET}}", "{{secret:NAME}}"),
    ("{{Env}}", "{{env:VAR}}"),
    ("pre-{{secret}}-post", "{{secret:NAME}}"),
    ("{{secret db_password}}", "{{secret:db_password}}"),
    ("{{env.HOME}}", "{{env:HOME}}"),
    ("{{env=HOME}}", "{{env:HOME}}"),
    ('{{ env "HOME" }}', "{{env:HOME}}"),
    ("ok {{env:HOME}} then {{secret}}", "{{secret:NAME}}"),
    # config19: GitHub Actions' spelling, and the kind with an s or a _, were sent as text
    ("${{ secrets.DB_PASSWORD }}", "{{secret:DB_PASSWORD}}"),
    ("{{ secrets['db_password'] }}", "{{secret:db_password}}"),
    ("{{secrets}}", "{{secret:NAME}}"),
    ("{{ envs.HOME }}", "{{env:HOME}}"),
]


@pytest.mark.parametrize("value, fix", COLONLESS)
def test_a_placeholder_without_its_colon_is_refused_at_its_line(value: str, fix: str) -> None:
    err = error_of(service_with(value))
    assert (err.file, err.line) == ("conf.yaml", 6), str(err)
    assert "has no colon" in err.message and fix in err.message and "\n" not in err.message


@pytest.mark.parametrize("text, line", [
    ("environments:\n  a:\n    layers:\n"
     "      - {type: local, config: {environment: {A: '{{env}}'}}}\n", 4),
    ("environments:\n  a:\n    layers:\n"
     "      - {type: ssh, config: {host: h, password: '{{secret}}'}}\n", 4),
    ("environments:\n  a: {layers: []}\nservices:\n  s:\n    command: x\n"
     "    pre_commands: [{command: y, environment: {A: '{{secret}}'}}]\n", 6),
])
def test_every_string_of_the_config_is_checked(text: str, line: int) -> None:
    err = error_of(text)
    assert "has no colon" in err.message and err.line == line, str(err)


@pytest.mark.parametrize("value", [
    "{{.Name}}", "{{json .Config}}", "{{environment}}", "{{secretary}}",
    # review36: other templates' words (dbt, Jinja) that start like a kind
    "{{ env_var('DBT_USER') }}", "{{ env_name }}", "{{ secret_key | default('x') }}",
    "{{ index .Labels \"env\" }}", "{{envoy}}",
])
def test_other_double_braces_stay_text(value: str) -> None:
    """Go templates (docker's --format) and words that only start like a kind are not ours."""
    cfg = load_config_text(service_with(value), "conf.yaml")
    assert cfg.service("s").environment["A"] == value


@pytest.mark.parametrize("value", ["{{secret}}", "{{env}}"])
def test_cli_check_and_run_refuse_it_before_anything_runs(tmp_path: Path, value: str) -> None:
    (tmp_path / "orch.yaml").write_text(service_with(value))
    for args in (("check",), ("run", "a", "s")):
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 2 and "has no colon" in r.stderr, r.stderr
        assert "orch.yaml:6:" in r.stderr and "Traceback" not in r.stderr
        assert f"[{value}]" not in r.stdout


@pytest.mark.parametrize("value", ["{{secret}}", "{{env}}", "{{ env }}"])
def test_the_api_refuses_it_in_env_too(value: str) -> None:
    with Orchestrator(load_config_text("environments: {a: {layers: []}}")) as orch:
        with pytest.raises(ConfigError, match="has no colon"):
            orch.run("a", command='echo "[$A]"', env={"A": value})


# ---- an empty working directory -------------------------------------------------------------

EMPTY_DIRS = [
    (service_with("", key="working_dir"), 6),
    ("environments:\n  a: {layers: []}\nservices:\n  s:\n    command: pwd\n"
     "    pre_commands:\n      - {command: ls, working_dir: ''}\n", 7),
    ("environments:\n  a:\n    layers:\n      - {type: local, config: {working_dir: ''}}\n", 4),
    ("environments:\n  a:\n    layers:\n      - {type: docker, config: {container: c, workdir: ''}}"
     "\n", 4),
    ("environments:\n  a:\n    layers:\n      - {type: podman, config: {container: c, workdir: ''}}"
     "\n", 4),
]


@pytest.mark.parametrize("text, line", EMPTY_DIRS)
def test_an_empty_working_directory_is_refused_at_its_line(text: str, line: int) -> None:
    err = error_of(text)
    assert (err.file, err.line) == ("conf.yaml", line), str(err)
    assert "directory is empty" in err.message and "\n" not in err.message


def test_a_named_directory_still_loads() -> None:
    cfg = load_config_text(service_with("/tmp", key="working_dir"))
    assert cfg.service("s").working_dir == "/tmp"


def test_cli_check_and_run_refuse_an_empty_working_directory(tmp_path: Path) -> None:
    (tmp_path / "orch.yaml").write_text(service_with("", key="working_dir"))
    for args in (("check",), ("run", "a", "s")):
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 2 and "directory is empty" in r.stderr, r.stderr
        assert "orch.yaml:6:" in r.stderr and "/bin/sh" not in r.stderr


def test_the_api_refuses_an_empty_cwd_before_anything_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with Orchestrator(load_config_text("environments: {a: {layers: []}}")) as orch:
        with pytest.raises(ConfigError, match="directory is empty"):
            orch.run("a", command=f"touch {marker}", cwd="")
    assert not marker.exists()


# ---- the key meant, beyond a few typos ----------------------------------------------------------

WRONG_KEYS = [
    ("services:\n  s: {command: ls, env: {A: b}}\n", "env", "environment"),
    ("services:\n  s: {command: ls, workdir: /tmp}\n", "workdir", "working_dir"),
    ("services:\n  s: {command: ls, cwd: /tmp}\n", "cwd", "working_dir"),
    ("services:\n  s: {command: ls, cmd: x}\n", "cmd", "command"),
    ("services:\n  s: {command: ls, pre: [x]}\n", "pre", "pre_commands"),
    ("services:\n  s: {command: ls, desc: x}\n", "desc", "description"),
    ("environments:\n  a:\n    layers:\n      - {type: docker, config: {container: x, working_dir: /a}}\n",
     "working_dir", "workdir"),
    ("environments:\n  a:\n    layers:\n      - {type: docker, config: {container: x, env: {A: b}}}\n",
     "env", "environment"),
    ("environments:\n  a:\n    layers:\n      - {type: local, config: {workdir: /app}}\n",
     "workdir", "working_dir"),
    ("environments:\n  a:\n    layers:\n      - {type: ssh, config: {hostname: x}}\n",
     "hostname", "host"),
    ("environments:\n  a:\n    layers:\n      - {type: ssh, config: {host: x, username: u}}\n",
     "username", "user"),
    ("environments:\n  a:\n    layers:\n      - {type: ssh, config: {host: x, key: k}}\n",
     "key", "identity_file"),
    ("environments:\n  a:\n    layers:\n      - {kind: ssh, config: {host: x}}\n", "kind", "type"),
    ("envs:\n  a: {}\n", "envs", "environments"),
]


@pytest.mark.parametrize("text, key, meant", WRONG_KEYS)
def test_the_likely_wrong_key_gets_the_key_meant(text: str, key: str, meant: str) -> None:
    err = error_of(text)
    assert f"unknown key {key!r}" in err.message or f"top-level key {key!r}" in err.message
    assert err.suggestion == meant and err.file == "conf.yaml" and err.line is not None


def test_cli_check_shows_the_key_meant(tmp_path: Path) -> None:
    (tmp_path / "orch.yaml").write_text(WRONG_KEYS[0][0])
    r = cli("check", cwd=tmp_path)
    assert r.returncode == 2 and "did you mean 'environment'?" in r.stderr, r.stderr


@pytest.mark.parametrize("key, known, meant", [
    ("timeout_seconds", ("timeout", "tty"), "timeout"),      # a known key is a prefix of it
    ("identity", ("identity_file", "user"), "identity_file"),  # it is a prefix of a known key
    ("stdout", ("stdout_mode", "stdout_file"), None),         # two keys start so: no guess
    ("ab", ("abc_def",), None),                               # too short to mean anything
    ("zzz", ("command", "environment"), None),
    ("env", ("command",), None),                              # a synonym of a key not there
])
def test_key_hint_prefixes_and_no_guess(key: str, known: tuple[str, ...],
                                        meant: str | None) -> None:
    assert key_hint(key, known) == meant


@pytest.mark.parametrize(("text", "where", "why"), [
    ("environments: false\n", "conf.yaml:1:15:", "environments must be a mapping"),
    ("environments: {}\nservices: 0\n", "conf.yaml:2:11:", "services must be a mapping"),
    ('services: ""\n', "conf.yaml:1:11:", "services must be a mapping"),
    ("environments: []\n", "conf.yaml:1:15:", "environments must be a mapping"),
    ('services: {a: {command: echo, filters: ""}}\n', "conf.yaml:1:40:",
     "services.a.filters must be a list"),
])
def test_a_section_of_the_wrong_type_is_refused_even_when_it_is_falsy(text: str, where: str,
                                                                       why: str) -> None:
    """`services: 0` or `environments: false` (a templating step that left a value out)
    loaded as nothing; the next command only said "unknown environment". Written empty
    (`services:`) it is still no section at all."""
    err = str(error_of(text))
    assert err.startswith(where) and why in err, err
    assert load_config_text("environments:\nservices:\n").environments == {}


def test_small_slips_get_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Held-out tester: a date's hint was said twice; `stdout_file` without `stdout_mode: file`
    was accepted and did nothing; `{{env:HOM}}` had no did-you-mean."""
    err = str(error_of("services:\n  a: {command: echo, description: 2024-01-01}\n"))
    assert err.startswith("conf.yaml:2:35: services.a.description must be a string, not a "
                          "date (quote it to make it text: '2024-01-01')"), err
    assert err.count("quote it") == 1
    err = str(error_of("services:\n  a: {command: echo, stdout_file: /tmp/x.out}\n"))
    assert err.startswith("conf.yaml:2:22: stdout_file is for stdout_mode: file (this "
                          "service's is stream)"), err
    monkeypatch.setenv("HOME", str(tmp_path))
    orch = Orchestrator(load_config_text(
        "environments: {local: {layers: []}}\n"
        "services:\n  a: {command: echo, environment: {H: '{{env:HOM}}'}}\n"))
    with pytest.raises(ConfigError, match=r"variable 'HOM' is not set \(did you mean 'HOME'\?\)"):
        orch.plan("local", "a")


@pytest.mark.parametrize("kind", ["pre_commands", "post_commands"])
def test_a_step_written_as_a_bare_command_is_shown_how_a_step_is_written(kind: str) -> None:
    """`pre_commands: [git pull]` said only "must be a mapping, not a string"."""
    err = error_of(f"""\
        environments: {{a: {{layers: []}}}}
        services:
          s:
            command: echo hi
            {kind}: [git pull]
        """)
    assert str(err).splitlines()[0] == (
        f"conf.yaml:5:{len(kind) + 8}: services.s.{kind}[0] must be a mapping, not a string "
        f"(written as `- command: git pull`)")


def test_a_config_file_that_is_a_symlink_loop_is_said_in_one_line(tmp_path: Path) -> None:
    """config tester: `orch -c a.yaml` of a loop was "internal error: RuntimeError" (exit 70);
    load_config raised RuntimeError and `%orch load` showed a traceback."""
    (tmp_path / "a.yaml").symlink_to("b.yaml")
    (tmp_path / "b.yaml").symlink_to("a.yaml")
    done = cli("-c", "a.yaml", "check", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("orch: config error: cannot read config file a.yaml:")
    from orch_magics import load_config
    with pytest.raises(ConfigError, match="cannot read config file .*a.yaml"):
        load_config(tmp_path / "a.yaml")


def test_a_config_path_with_a_tilde_is_read_from_home(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`%orch load ~/orch.yaml` said "config file not found": no shell expands `~` there."""
    from orch_magics import load_config
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "orch.yaml").write_text("environments:\n  here: {layers: []}\n")
    assert list(load_config("~/orch.yaml").environments) == ["here"]
    monkeypatch.setenv("ORCH_CONFIG", "~/orch.yaml")
    assert list(load_config().environments) == ["here"]


def test_placeholders_do_not_nest() -> None:
    """`{{env:UNSET:-{{secret:tok}}}}` passed `orch check` and the command got the text
    `{{secret:tok}}` (the default ended at the first `}`)."""
    err = error_of(service_with("{{env:UNSET:-{{secret:tok}}}}"))
    assert "placeholders do not nest" in str(err) and "conf.yaml:" in str(err)


@pytest.mark.parametrize(("written", "fix"), [
    ("{{env:$HOME}}", "{{env:HOME}}"), ("{{env:${HOME}}}", "{{env:HOME}}"),
    ("x={{ env: $DB_HOST:-localhost }}", "{{env:DB_HOST}}"), ("{{env:$}}", "{{env:VAR}}"),
])
def test_a_variable_written_with_its_dollar_is_refused_at_its_line(written: str,
                                                                   fix: str) -> None:
    """config tester: `{{env:$HOME}}` loaded, then the run said "variable '$HOME' is not set
    (did you mean 'HOME'?) (write {{env:$HOME:-default}} …)": advice that kept the mistake."""
    err = error_of(service_with(written))
    assert "conf.yaml:" in str(err) and "names its variable without a '$'" in str(err)
    assert f"write {fix}" in str(err)


def test_a_space_before_the_default_still_reads_the_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`{{env:HOST :-localhost}}` looked up "HOST " and silently gave the default, where
    `{{env: HOST }}` reads HOST."""
    monkeypatch.setenv("ORCH_TEST_HOST", "db.internal")
    text = ("environments:\n  local: {layers: []}\nservices:\n  s: {command: 'echo $H', "
            "environment: {H: '{{env:ORCH_TEST_HOST :-localhost}}'}}\n")
    with Orchestrator(load_config_text(text), log_dir=tmp_path) as orch:
        assert orch.run("local", "s").stdout == "db.internal\n"


@pytest.mark.parametrize(("text", "said"), [
    ('environments: {"e\\e[31mred": []}', "environment name 'e\\x1b[31mred' holds a control"),
    ('environments: {"a\\nproduction    local": []}', "holds a control character"),
    ('environments: {"safe\\u202egnp.exe": []}', "holds a control character"),  # bidi override
    ('environments: {"-x": []}', "environment name '-x' starts with '-'"),
    ('environments: {l: []}\nservices: {"-s": {command: x}}', "service name '-s' starts with"),
    ('environments: {l: []}\nservices: {"s\\x07": {command: x}}', "service name 's\\x07' holds"),
    # api4: a protected "x,y" could never be confirmed through ORCH_CONFIRM=x,y, which the
    # refusal itself advised
    ('environments: {"x,y": {layers: [], protected: true}}', "environment name 'x,y' holds "
     "',': ORCH_CONFIRM lists environments separated by commas, so it could never name it"),
    # api5: a protected `prod` beside an unprotected `prоd` (a Cyrillic о), listed alike
    ('environments: {prod: {layers: [], protected: true}, "pr\u043ed": []}',
     "environment name 'pr\u043ed' mixes Latin and Cyrillic letters (\u043e is CYRILLIC SMALL "
     "LETTER O): such a name can look like another one exactly"),
    ('environments: {l: []}\nservices: {"\u0441heck": {command: x}}', "service name "
     "'\u0441heck' mixes Cyrillic and Latin letters"),
    # basics12: `prod ` (unprotected) ran unasked beside a protected `prod`, listed alike
    ('environments: {prod: {layers: [], protected: true}, "prod ": []}', "environment name "
     "'prod ' starts or ends with a space: it would show as 'prod', another name"),
    ('environments: {l: []}\nservices: {"\u00a0s": {command: x}}', "service name '\\xa0s' "
     "starts or ends with a space"),
    ('environments: {" ": []}', "a mapping key must not be only spaces (' ')"),
    # basics13: what a terminal shows as nothing, where strip() sees a letter
    ('environments: {prod: {layers: [], protected: true}, "prod\u3164": []}',
     "holds U+3164 (HANGUL FILLER), shown as nothing: it would look like another name"),
    ('environments: {l: []}\nservices: {"s\ufe0f": {command: x}}', "holds U+FE0F"),
    ('environments: {"a\u2800": []}', "holds U+2800 (BRAILLE PATTERN BLANK)"),
])
def test_a_name_no_front_end_can_show_or_type_is_refused_at_its_line(text: str,
                                                                     said: str) -> None:
    """config tester: `orch ls` wrote an escape sequence in a name raw (or forged a line with
    a newline), and a name starting with '-' loaded but no command line could run it."""
    err = error_of(text)
    assert said in str(err) and str(err).startswith("conf.yaml:")


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "---\n", "---\n# nothing yet\n",
                                  "--- \n...\n"])
def test_a_file_with_nothing_in_it_yet_is_an_empty_config(text: str) -> None:
    """basics12: `---` (how a services.yaml is often begun) was refused as not a mapping,
    pointing past the file's end, where an empty or comment-only file loads."""
    config = load_config_text(text)
    assert (config.environments, config.services) == ({}, {})


def test_names_in_one_script_load() -> None:
    config = load_config_text('environments: {"\u043f\u0440\u043e\u0434": [], "caf\u00e9": [], '
                              '"\u03c0\u03c1\u03bf\u03b4": [], "\u672c\u756a": []}')
    assert len(config.environments) == 4


@pytest.mark.parametrize(("section", "said"), [
    ("audit: {path: ''}", "audit.path is empty"),
    ("secrets: {providers: [file], file: '  '}", "secrets.file is empty"),
])
def test_an_empty_path_is_refused_at_its_line(section: str, said: str) -> None:
    """config tester: `audit: {path: ''}` silently wrote to the default audit log, and an
    empty secrets file passed `orch check` to fail at run time as "(none configured)"."""
    err = error_of("environments: {l: []}\n" + section)
    assert str(err).startswith("conf.yaml:2:") and f"{said}: give a value, or leave the key " \
        "out for the default" in str(err)


DOCKER = "environments:\n  app:\n    - type: docker\n      config:\n        container: c\n"
EMPTIED = [
    (DOCKER + "        user:\n", 6, "environments.app[0].config.user is empty: give"),
    (DOCKER + "        user: #1000\n", 6, "user is empty (`#` after a space starts a YAML "
     "comment, so the value is empty: quote it to make it text: '#1000'): give"),
    (DOCKER + "        user:   # the app user, not root\n", 6,
     "user is empty (the rest of its line is a YAML comment): give a value"),
    ("environments:\n  p:\n    allow_services:\n    #  - health\n    layers: []\n", 3,
     "environments.p.allow_services is empty: give a value, or leave the key out"),
    ("environments:\n  s:\n    - type: ssh\n      config: {host: h, known_hosts: }\n", 4,
     "known_hosts is empty"),
    ("environments: {l: []}\nservices:\n  s:\n    command: id\n    working_dir:\n", 5,
     "services.s.working_dir is empty"),
    ("environments: {l: []}\naudit:\n  path:\n", 3, "audit.path is empty"),
    ("environments: {l: []}\nsecrets:\n  file:  # later\n", 3, "secrets.file is empty"),
]


@pytest.mark.parametrize(("text", "line", "said"), EMPTIED)
def test_nothing_after_an_optional_keys_colon_is_refused_at_its_line(text: str, line: int,
                                                                     said: str) -> None:
    """config15: a container's `user:` left empty (or holding only a comment) ran the command
    as the image's root, and `allow_services:` with its items commented out allowed every
    service, where `[]` allows none: YAML reads both as null, which meant "leave it out"."""
    err = error_of(text)
    assert err.line == line and said in str(err), err


def test_a_text_only_key_may_be_left_empty() -> None:
    """review28: a service's `description:` and a step's `name:` (shown only, as the docs
    say may be empty) were refused with the keys that change what runs."""
    config = load_config_text("environments:\n  l:\n    description:\n    layers: []\n"
                              "services:\n  s:\n    command: id\n    description:\n"
                              "    pre_commands:\n      - command: 'true'\n        name:\n")
    assert config.services["s"].description is None


def test_a_written_null_still_means_the_default() -> None:
    """`null` (or `~`) says "unset" on purpose."""
    config = load_config_text(DOCKER + "        user: null\n  p:\n    allow_services: ~\n"
                              "    layers: []\n")
    assert config.environments["app"].layers[0].config.user is None
    assert config.environments["p"].guardrails.allow_services is None


def test_a_name_may_hold_the_joiners_words_need() -> None:
    """review3: refusing every format character refused the zero-width non-joiner of Persian
    words (and the joiner of emoji sequences); bidi overrides stay refused."""
    names = ["\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "dev-\U0001f469\u200d\U0001f4bb"]
    text = "environments:\n" + "".join(f"  {name!r}: []\n".replace("'", '"') for name in names)
    assert list(load_config_text(text, "conf.yaml").environments) == names


# ---- a value that begins with `#` -----------------------------------------------------------

def test_a_value_read_as_a_comment_says_so_and_how_to_quote_it() -> None:
    """`user: #1000` (docs/sudo.md: "a name or `#uid`") is a key and a comment to YAML: the
    hint said to quote the empty value (`''`), and the flow form only "did not find expected
    node content", a line below."""
    block = error_of("""\
        environments:
          e:
            layers:
              - type: sudo
                config:
                  user: #1000
                  timeout:   #5
        """)
    assert (block.line, str(block).splitlines()[0]) == (6, (
        "conf.yaml:6:16: environments.e.layers[0].config.user must be a string, not nothing "
        "(null) (`#` after a space starts a YAML comment, so the value is empty: quote it to "
        "make it text: '#1000')"))
    assert "timeout must be a number, not nothing (null) (`#` after a space starts a YAML " \
        "comment, so the value is empty)" in str(error_of(
            "environments:\n  e:\n    layers:\n      - type: sudo\n        config:\n"
            "          timeout:   #5  \n"))
    flow = error_of("environments:\n  e:\n    layers:\n      - {type: sudo, config: {user: #0}}\n")
    assert str(flow).splitlines()[0] == (
        "conf.yaml:4:30: YAML syntax error: did not find expected node content: the '{' "
        "begun here is not closed (line 4: `#` "
        "after a space starts a YAML comment, which takes the rest of the line: quote a value "
        "that holds it, such as '#1000' or 'sudo #1000')")
    fine = "environments:\n  e:\n    layers:\n      - {type: sudo, config: {user: '#0'}}  # uid\n"
    assert load_config_text(fine).environments["e"].layers[0].config.user == "#0"
    # config18: the one-line list's documented `sudo #1000` got no hint at all
    short = error_of("environments:\n  local: []\n  e: [ssh bastion, sudo #1000]\nservices:\n"
                     "  s: {command: echo}\n")
    assert "(line 3: `#` after a space starts a YAML comment" in str(short), str(short)
    assert load_config_text("environments:\n  e: [ssh bastion, 'sudo #1000']  # a uid\n"
                            ).environments["e"].layers[1].config.user == "#1000"


def test_sudo_may_not_keep_its_own_prompt_for_the_target() -> None:
    """kinds11: the prompt orch answers with the password travels in SUDO_PROMPT; a target
    given it (`--preserve-env=SUDO_PROMPT`) could print it from its profile and be answered."""
    err = error_of("environments:\n  e:\n    layers:\n      - {type: sudo, config: "
                   "{user: app, preserve_env: [LANG, SUDO_PROMPT]}}\n")
    assert str(err).startswith("conf.yaml:4:") and "SUDO_PROMPT holds the prompt orch " \
        "answers with the password: the target user must not see it" in str(err), err


def test_a_password_read_as_a_comment_is_not_shown() -> None:
    """The hint quotes what was written, except where a password stands."""
    text = ("environments:\n  a: {layers: []}\nservices:\n  s:\n    command: x\n"
            "    environment:\n      DB_PASSWORD: #hunter2\n")
    with pytest.raises(ConfigError) as err:
        load_config_text(text)
    assert "hunter2" not in str(err.value) and "YAML comment" in str(err.value), err.value


def test_a_name_saved_in_another_unicode_form_is_found_however_it_is_typed(
        tmp_path: Path) -> None:
    """`prodé` saved decomposed (as macOS saves it) and typed composed was "unknown
    environment 'prodé' (did you mean 'prodé'?)": a suggestion that looks like what was typed
    (tester config). Names are compared in NFC; the same name in two forms is defined twice."""
    import unicodedata
    nfd, nfc = (unicodedata.normalize(form, "prodé") for form in ("NFD", "NFC"))
    cfg = load_config_text(f"environments: {{{nfd}: {{layers: []}}}}\n"
                           f"services: {{{nfc}: {{command: echo hi}}}}\n")
    with Orchestrator(cfg) as orch:
        assert orch.run(nfc, nfd).stdout == "hi\n" and orch.run(nfd, nfc).ok
    config = tmp_path / "orch.yaml"
    config.write_text(f"environments: {{{nfd}: {{layers: []}}}}\n"
                      f"services: {{hello: {{command: echo hi}}}}\n")
    done = subprocess.run([*ORCH, "-c", str(config), "run", nfc, "hello"], capture_output=True,
                          text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "hi\n"), done.stderr
    assert "defined twice" in error_of(f"environments: {{{nfd}: {{layers: []}}, "
                                       f"{nfc}: {{layers: []}}}}\n").message


def test_an_x_name_that_is_ignored_says_so_when_it_is_asked_for() -> None:
    """`x-ray:` is ignored as keys starting with `x-` are (they hold YAML anchors); running it
    said only "unknown environment 'x-ray'", with nothing to tell why (tester config)."""
    cfg = load_config_text("environments: {x-ray: {layers: []}, local: {layers: []}}\n"
                           "services: {x-files: {command: echo hi}}\n")
    with Orchestrator(cfg) as orch:
        for call, what in ((lambda: orch.run("x-ray", command="true"), "environment"),
                           (lambda: orch.run("local", "x-files"), "service")):
            with pytest.raises(ConfigError, match=f"{what} names starting with 'x-' are "
                                                  f"ignored: such keys hold YAML anchors"):
                call()


@pytest.mark.parametrize(("layer", "key"), [
    ("{type: docker, config: {container: c, user: ''}}", "user"),
    ("{type: podman, config: {container: c, user: ' '}}", "user"),
    ("{type: ssh, config: {host: h, user: ''}}", "user"),
    ("{type: ssh, config: {host: h, identity_file: ''}}", "identity_file"),
    ("{type: ssh, config: {host: h, known_hosts: ''}}", "known_hosts"),
    ("{type: ssh, config: {host: h, ssh_config: ''}}", "ssh_config"),
])
def test_an_empty_layer_setting_is_refused_at_its_line(layer: str, key: str) -> None:
    """An empty container user ran as the image's default (root), an empty ssh path failed at
    connect as "identity_file  does not exist" with no line (config7)."""
    err = error_of(f"environments:\n  a:\n    layers:\n      - {layer}\n")
    assert (err.file, err.line) == ("conf.yaml", 4), str(err)
    assert err.message.endswith(f".{key} is empty: give a value, or leave the key out for the "
                                f"default"), err.message


@pytest.mark.parametrize("written", ["{{env:ORCH_T_EMPTY}}", "{{env:ORCH_T_UNSET:-}}"])
def test_a_layer_setting_a_placeholder_leaves_empty_is_refused_before_the_run(
        written: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`working_dir: "{{env:W}}"` with W empty ended every run "orch: /bin/sh: command not
    found"; a container `user` so written ran as root (config7)."""
    monkeypatch.setenv("ORCH_T_EMPTY", "")
    monkeypatch.delenv("ORCH_T_UNSET", raising=False)
    config = load_config_text(f"environments:\n  a:\n    layers:\n      - {{type: local, config: "
                              f"{{working_dir: '{written}'}}}}\n", "conf.yaml")
    with Orchestrator(config) as orch, pytest.raises(ConfigError) as err:
        orch.run("a", command="pwd")
    assert str(err.value) == (f"environment 'a', layer env(cwd={written}) (conf.yaml:4), working_dir: "
                              f"{written!r} gave nothing: set it, or leave the key out for "
                              f"the default")


@pytest.mark.parametrize(("text", "line"), [
    ("audit: {path: '{{env:HOME}}/a.jsonl'}\n", 2),
    ("secrets: {file: '{{env:HOME}}/s.yaml'}\n", 2),
    ("inventory: '{{env:HOME}}/hosts'\n", 2),
    ("  b: {layers: [], description: '{{env:HOME}}'}\n", 2),
    ("  b: {layers: [{type: local, name: '{{secret:x}}'}]}\n", 2),
    ("services:\n  s: {command: cat, filters: [{type: grep, pattern: '{{secret:x}}'}]}\n", 3),
    ("services:\n  s:\n    command: cat\n    filters: [{type: replace, pattern: x, "
     "replacement: '{{secret:x}}'}]\n", 5),
], ids=["audit-path", "secrets-file", "inventory", "description", "layer-name", "grep",
        "replacement"])
def test_a_placeholder_where_none_is_expanded_is_refused_at_its_line(text: str,
                                                                     line: int) -> None:
    """`audit: {path: "{{env:HOME}}/a.jsonl"}` wrote the audit log under a folder named
    `{{env:HOME}}`; a replace filter meant to mask a secret matched nothing (config7)."""
    err = error_of(("environments:\n" if text.startswith(" ") else "environments: {a: []}\n")
                   + text)
    assert (err.file, err.line) == ("conf.yaml", line), str(err)
    assert "would be used as literal text: placeholders are expanded only in a service's " \
        "`environment` and in layer settings" in err.message, err.message


def test_an_ssh_password_from_this_machines_environment_is_refused() -> None:
    """Only `{{secret:NAME}}`, as the sudo layer already said (config7)."""
    err = error_of("environments:\n  a: [{type: ssh, config: {host: h, password: "
                   "'{{env:SSH_PW}}'}}]\n")
    assert err.line == 2 and "write the password as a {{secret:NAME}} placeholder, never in " \
        "clear (nor from {{env:…}}, which is this machine's environment)" in err.message


def test_a_sudo_user_a_placeholder_leaves_empty_is_refused_before_the_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """sudo's user is no optional setting (root by default): empty, sudo printed its usage
    (review15)."""
    monkeypatch.setenv("ORCH_T_EMPTY", "")
    config = load_config_text("environments:\n  a:\n    layers:\n      - {type: sudo, config: "
                              "{user: '{{env:ORCH_T_EMPTY}}'}}\n", "conf.yaml")
    with Orchestrator(config) as orch, pytest.raises(ConfigError) as err:
        orch.run("a", command="id")
    assert str(err.value).endswith("user: '{{env:ORCH_T_EMPTY}}' gave nothing: set it, or "
                                   "leave the key out for the default"), str(err.value)



@pytest.mark.parametrize("before, pad", [
    ("日本語", "      "),  # each wide character takes two columns on a terminal
    ("a\tb", " \t "),  # the tab is kept, so both lines reach the same tab stop
    ("e\u0301e", "  "),  # a combining accent takes none
])
def test_the_caret_stands_under_the_key_after_tabs_and_wide_characters(before: str,
                                                                       pad: str) -> None:
    head, tail = '  web: {command: "', '", '
    err = error_of(f"services:\n{head}{before}{tail}stdin_mod: x}}\n")
    shown, caret = str(err).splitlines()[-2:]
    assert shown == f"    {head}{before}{tail}stdin_mod: x}}"
    assert caret == "    " + " " * len(head) + pad + " " * len(tail) + "^"


@pytest.mark.parametrize("text, said", [
    ("services:\n  web:\n    command: x\n    filters:\n      - typ: grep\n        pattern: a\n",
     "conf.yaml:5:9: unknown key 'typ' in a filter (did you mean 'type'?)"),
    ("services:\n  web:\n    command: x\n    protected: true\n",
     "conf.yaml:4:5: 'protected' is an environment's key, not services.web's: write it under "
     "environments.NAME"),
    ("environments:\n  p:\n    layers: []\n    stdin_mode: streaming\n",
     "conf.yaml:4:5: 'stdin_mode' is a service's key, not environments.p's: write it under "
     "services.NAME"),
    ("environments:\n  p:\n    layers: []\n    dangerous: true\n",  # review26: every key
     "conf.yaml:4:5: 'dangerous' is a service's key, not environments.p's: write it under "
     "services.NAME"),
    ("services:\n  web:\n    command: x\n    x_note: hi\n",
     "conf.yaml:4:5: unknown key 'x_note' in services.web (did you mean 'x-note'?)"),
    # config16 F9: these apply to every command run there: a local layer holds them
    *((f"environments:\n  p:\n    layers: []\n    {key}: {value}\n",
       f"conf.yaml:4:5: '{key}' is not a key of environments.p: for every command run there, "
       f"add a local layer as its last: `layers: […, {{type: local, config: {{{setting}: …}}}}]`"
       f"; for one service, write it under services.NAME")
      for key, value, setting in (("environment", "{A: 1}", "environment"),
                                  ("env", "{A: 1}", "environment"),
                                  ("variables", "{A: 1}", "environment"),
                                  ("working_dir", "/tmp", "working_dir"))),
])
def test_a_key_in_the_wrong_place_or_spelt_near_a_rule_is_said_so(text: str, said: str) -> None:
    assert str(error_of(text)).splitlines()[0] == said


@pytest.mark.parametrize("text, line", [
    ('audit: {path: "${HOME}/orch-audit.jsonl"}\n', 1),
    ('secrets: {file: "$HOME/.orch-secrets.yaml"}\n', 1),
    ("services:\n  s:\n    command: x\n    stdout_mode: file\n    stdout_file: '$HOME/{service}.out'\n",
     5),
    ("services:\n  s:\n    command: x\n    working_dir: '$HOME/app'\n", 4),
    # review26: a layer's paths too
    ("environments:\n  e:\n    - {type: ssh, config: {host: h, identity_file: '$HOME/.ssh/k'}}\n",
     3),
    ("environments:\n  e:\n    - {type: local, config: {working_dir: '/srv/${APP}/run'}}\n", 3),
    # review27: a socket's address, and a variable this machine has inside a name
    ("environments:\n  e:\n    - {type: docker, config: {container: c, docker_host: "
     "'unix:///run/user/$UID/docker.sock'}}\n", 3),
    ("audit: {path: 'audit-$R27_ORCH_VAR.jsonl'}\n", 1),
])
def test_a_shell_variable_in_a_path_is_refused_at_its_line(
        text: str, line: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """config14 F8: `${HOME}` in a path was taken literally: the audit trail went to a folder
    named `${HOME}` beside the config, and the secrets file was looked for under one."""
    monkeypatch.setenv("R27_ORCH_VAR", "x")  # a variable this machine has
    err = error_of(text)
    assert err.line == line and "would be used as literal text: a path here is read as " \
        "written, with no shell to expand a variable" in str(err), str(err)


def test_a_dollar_inside_a_name_is_a_names() -> None:
    """review26: `Foo$Bar` was refused as a variable, with no way to write such a folder."""
    cfg = load_config_text("services:\n  s: {command: x, working_dir: '/srv/Foo$Bar'}\n")
    assert cfg.service("s").working_dir == "/srv/Foo$Bar"


@pytest.mark.parametrize(("layers", "said"), [
    ("[{type: ssh, host: bastion}]", "'host' is a setting of the ssh kind, written under "
                                     "config: ({type: ssh, config: {host: …}})"),
    ("[{type: docker, container: app}]", "'container' is a setting of the docker kind"),
    ("[ssh: bastion]", "a layer of the ssh kind is written `ssh bastion` (a string), or "
                       "{type: ssh, config: {…}}"),
])
def test_a_layer_written_flat_is_shown_how_it_is_written(layers: str, said: str) -> None:
    """config15: `{type: ssh, host: bastion}` and `- ssh: bastion` (Ansible and Compose
    habits) got "unknown key … in a layer (expected type, config, name)" and no more."""
    err = error_of(f"environments:\n  prod: {layers}\n")
    assert err.line == 2 and said in str(err), err


@pytest.mark.parametrize("key", ["environment", "command"])
def test_nothing_where_a_mapping_or_a_command_goes_gets_no_advice_to_quote_it(key: str) -> None:
    """config15: `environment:` (a mapping) or `command:` left empty was told "quote it to
    make it text: ''", which for a command is refused in turn as empty."""
    err = error_of(f"environments: {{l: []}}\nservices:\n  s:\n    command: id\n"
                   f"    {key}:\n".replace("command: id\n    command:", "command:"))
    assert "must be" in str(err) and "quote it" not in str(err), err


def test_a_user_and_port_written_into_a_host_are_both_given_their_settings() -> None:
    """config15: `ssh ops@bastion:2222` was told `host: bastion:2222, user: ops`, which is
    refused in turn for its ':'."""
    err = error_of("environments:\n  p: [ssh ops@bastion:2222]\n")
    assert "(a user is its own setting: host: bastion, port: 2222, user: ops)" in str(err), err


def test_a_path_field_s_usual_other_name_gets_the_one_meant() -> None:
    """config15: `stdout_file: out/{environment}` got no did-you-mean: {env} is four edits
    away."""
    err = error_of("environments: {l: []}\nservices:\n  s: {command: id, stdout_mode: file, "
                   "stdout_file: 'out/{environment}'}\n")
    assert "unknown placeholder {environment}" in str(err) and "did you mean {env}?" in str(err)


@pytest.mark.parametrize("field", ["nme", "secret", "key"])
def test_a_misspelt_name_field_in_a_secrets_command_is_refused(field: str) -> None:
    """config15: `argv: [pass, show, "orch/{nme}"]` passed `orch check`, then asked every
    secret under the literal `orch/{nme}` (two secrets got one value); review29: `{secret}`
    and `{key}` too. `{}` (find's) and `{name}` stay."""
    err = error_of("environments: {l: []}\nsecrets:\n  providers:\n"
                   f"    - {{type: command, argv: [pass, show, 'orch/{{{field}}}']}}\n")
    assert err.line == 4 and f"argv: it has {{{field}}}, which orch does not replace" in str(
        err), err
    load_config_text("environments: {l: []}\nsecrets:\n  providers:\n"
                     "    - {type: command, argv: [sh, -c, 'find / -name {} {name}']}\n")


@pytest.mark.parametrize("program", ["''", "'  '"])
def test_a_secrets_command_with_no_program_is_refused_at_its_line(program: str) -> None:
    """safety24: `argv: [""]` passed `orch check`, then a run said "the command `''` cannot
    run: Permission denied", with no file:line."""
    err = error_of("environments: {l: []}\nsecrets:\n  providers:\n"
                   f"    - {{type: command, argv: [{program}, x]}}\n")
    assert err.line == 4 and "the argv's first word, the program to run, is empty" in str(
        err), err



@pytest.mark.parametrize("name", ["../personal/bank", "x/../../y", "-rf"])
def test_a_secret_name_a_provider_could_misread_is_refused(name: str) -> None:
    """safety19: `{{secret:../personal/bank}}` made `pass show orch/{name}` read outside the
    orch/ folder, and `-rf` reached a provider's command line as an option."""
    err = error_of(service_with(f"{{{{secret:{name}}}}}"))
    assert (err.file, err.line) == ("conf.yaml", 6), str(err)
    assert "may neither start with '-' nor hold a '..' step" in err.message
