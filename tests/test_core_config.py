"""Config files: the seed format loads; every kind of mistake gets file:line:column and a hint."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from orch_magics import Config, ConfigError, load_config, load_config_text
from orch_magics.config.files import demo_config_files
from orch_magics.config.schema import packaged_schema_json, schema_json

REPO = Path(__file__).resolve().parent.parent
SEED_ENVIRONMENTS = """\
environments:
  local:
    layers: []
  dev:
    layers:
      - type: docker
        config: {container: dev-env}
  production:
    layers:
      - {type: ssh, config: {host: bastion.example.com}}
      - {type: ssh, config: {host: prod-internal}}
      - {type: docker, config: {container: prod-app}}
"""
SEED_SERVICES = """\
services:
  log-processor: {command: python3 /app/process_logs.py, stdin_mode: streaming}
  database-backup: {command: pg_dump production_db, stdout_mode: file}
  health-check: {command: curl http://localhost:8080/health}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_seed_format_loads_from_two_files(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "environments.yaml", SEED_ENVIRONMENTS),
                      write(tmp_path, "services.yaml", SEED_SERVICES))
    prod = cfg.environment("production")
    assert [layer.type for layer in prod.layers] == ["ssh", "ssh", "docker"]
    assert prod.describe() == "local → ssh bastion.example.com → ssh prod-internal → docker prod-app"
    assert cfg.service("log-processor").stdin_mode == "streaming"
    assert cfg.service("database-backup").stdout_mode == "file"
    assert cfg.service("health-check").command == "curl http://localhost:8080/health"


def test_both_top_level_keys_in_one_file(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "orch.yaml", SEED_ENVIRONMENTS + SEED_SERVICES))
    assert set(cfg.environments) == {"local", "dev", "production"}
    assert set(cfg.services) == {"log-processor", "database-backup", "health-check"}


def test_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "environments.yaml", SEED_ENVIRONMENTS)
    write(tmp_path, "services.yaml", SEED_SERVICES)
    assert set(load_config(cwd=str(tmp_path)).services) == {
        "log-processor", "database-backup", "health-check"}
    write(tmp_path, "orch.yaml", "services: {only: {command: 'true'}}\n")
    assert set(load_config(cwd=str(tmp_path)).services) == {"only"}
    other = write(tmp_path, "other.yaml", "services: {from-env: {command: 'true'}}\n")
    monkeypatch.setenv("ORCH_CONFIG", str(other))
    assert set(load_config(cwd=str(tmp_path)).services) == {"from-env"}
    explicit = write(tmp_path, "x.yaml", "services: {explicit: {command: 'true'}}\n")
    assert set(load_config(explicit, cwd=str(tmp_path)).services) == {"explicit"}


def test_cwd_is_where_config_files_are_found_and_read_from(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """api5: cwd=5 or cwd=b'x' was pathlib's TypeError, cwd=0 the working directory, and a
    relative file given with cwd= was looked for where the process stood."""
    monkeypatch.delenv("ORCH_CONFIG", raising=False)
    write(tmp_path, "x.yaml", "services: {explicit: {command: 'true'}}\n")
    monkeypatch.chdir("/")
    assert set(load_config("x.yaml", cwd=tmp_path).services) == {"explicit"}
    monkeypatch.setenv("ORCH_CONFIG", "x.yaml")
    assert set(load_config(cwd=str(tmp_path)).services) == {"explicit"}
    monkeypatch.setenv("HOME", str(tmp_path.parent))  # review14: `~` as in the files' paths
    assert set(load_config(cwd=f"~/{tmp_path.name}").services) == {"explicit"}
    monkeypatch.chdir(tmp_path)
    assert set(load_config(cwd="").services) == {"explicit"}  # "": the working directory
    for cwd, said in ((5, "not int 5"), (b"cfg", "not bytes b'cfg'"), (0, "not int 0"),
                      (True, "not bool True"),
                      (str(tmp_path / "x.yaml"), f"cwd={str(tmp_path / 'x.yaml')!r} is not a "
                                                 f"folder"),
                      (str(tmp_path / "no"), "does not exist: give the folder")):
        with pytest.raises(ConfigError) as err:
            load_config(cwd=cwd)  # type: ignore[arg-type]
        assert said in str(err.value), err.value


def test_nothing_found_names_an_orch_yml_beside(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """`orch.yml`, the other common spelling, was passed over without a word (config7)."""
    monkeypatch.delenv("ORCH_CONFIG", raising=False)
    (tmp_path / "orch.yml").write_text("environments: {a: []}\n")
    with pytest.raises(ConfigError) as err:
        load_config(cwd=str(tmp_path))
    assert str(err.value).endswith(f"in {tmp_path} (orch.yml is there: did you mean orch.yaml?)")


@pytest.mark.parametrize(("stray", "beside"), [
    ("environments.yml", "services.yaml"), ("services.yml", "environments.yaml"),
    ("orch.yml", "services.yaml")])
def test_a_yml_file_beside_the_files_found_is_said_not_ignored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stray: str, beside: str) -> None:
    """config16: `environments.yml` beside `services.yaml` was passed over: `orch check` said
    ok with no environments, a run "unknown environment … none are defined"."""
    monkeypatch.delenv("ORCH_CONFIG", raising=False)
    (tmp_path / stray).write_text("environments: {prod: []}\n")
    (tmp_path / beside).write_text("services: {t: {command: echo}}\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_config()
    fix = (f"rename it {stray[:-4]}.yaml" if stray != "orch.yml" else
           "an orch.yaml would be read alone, without them")
    assert str(err.value) == (f"{stray} is in {tmp_path} but not read (orch reads {beside} "
                              f"there): {fix}; or give the files you mean with -c")


def test_nothing_found_says_where_it_looked(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """In the API's words (the CLI's `-c` is no argument of load_config), naming a set
    variable spelt near ORCH_CONFIG (cliapi finding #7)."""
    monkeypatch.delenv("ORCH_CONFIG", raising=False)
    monkeypatch.setenv("ORCH_CONFGI", "orch.yaml")
    with pytest.raises(ConfigError) as err:
        load_config(cwd=str(tmp_path))
    assert str(err.value) == (
        f"no configuration found: give files with load_config(FILE, …) or Orchestrator(FILE), "
        f"set ORCH_CONFIG, or put orch.yaml (or environments.yaml and services.yaml) in "
        f"{tmp_path} (ORCH_CONFGI is set: did you mean ORCH_CONFIG?)")


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config_text(textwrap.dedent(text), "conf.yaml")
    return info.value


def test_unknown_service_key_points_at_it_with_suggestion() -> None:
    err = error_of("""\
        services:
          web:
            command: run
            stdin_mod: streaming
        """)
    assert (err.file, err.line, err.column) == ("conf.yaml", 4, 5)
    assert err.suggestion == "stdin_mode"
    text = str(err)
    assert text.startswith("conf.yaml:4:5: unknown key 'stdin_mod' in services.web")
    assert "did you mean 'stdin_mode'?" in text
    assert "    stdin_mod: streaming" in text and "^" in text


def test_extension_keys_are_allowed() -> None:
    cfg = load_config_text("x-anchors: {a: 1}\nservices:\n  web: {command: run, x-owner: ops}\n")
    assert cfg.service("web").command == "run"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("services:\n  web: {command: 5}\n", (2, 18), "services.web.command must be a string or a list"),
        ("services:\n  web: {command: run, tty: 'yes'}\n", (2, 28), "services.web.tty must be true or false"),
        ("services:\n  web: {command: run, stdin_mode: stream}\n",
         (2, 35), "must be one of 'none', 'streaming', 'interactive'"),
        ("services:\n  web: {stdin_mode: none}\n", (2, 8), "missing the required key 'command'"),
        ("environments:\n  e: {layers: [{type: sssh, config: {host: h}}]}\n",
         (2, 23), "unknown layer type 'sssh'"),
        ("environments:\n  e: {layers: [{type: ssh, config: {hots: h}}]}\n",
         (2, 37), "unknown key 'hots'"),
        ("environments:\n  e: {layers: [{type: ssh, config: {host: h, port: '22'}}]}\n",
         (2, 52), "port must be an integer"),
        ("services:\n  web: {command: run, filters: [{type: grep, pattern: '('}]}\n",
         (2, 55), "not a valid regular expression"),
        ("services:\n  web: {command: run, filters: [{type: gerp}]}\n",
         (2, 40), "unknown filter type 'gerp'"),
        ("services:\n  a: {command: x}\n  a: {command: y}\n", (3, 3), "duplicate key 'a'"),
        # unclosed at the end of the file: where it was opened, not past the last line
        ("services:\n  a: {command: x\n", (2, 6), "YAML syntax error: did not find expected ',' "
                                                  "or '}', while parsing a flow mapping begun here"),
        ("services:\n  s:\n    command: \"echo\n  t: {command: x}\n", (3, 14),
         "YAML syntax error: found unexpected end of stream, while scanning a quoted scalar "
         "begun here"),
        # review17: libyaml names no collection after a trailing comma, nor when a `#`
        # made the closing bracket a comment
        ("services:\n  a: {command: x,\n", (2, 6), "YAML syntax error: did not find "
         "expected node content: the '{' begun here is not closed"),
        ("services:\n  a: [x, y, #z]\n", (2, 6), "the '[' begun here is not closed (line "
                                               "2: `#` after a space starts a YAML comment"),
        ("services:\n  s:\n    command: [echo, x\n  t: {command: y}\n", (4, 4),
         "did not find expected ',' or ']' (while parsing a flow sequence at line 3, column "
         "14)"),
        ("servics:\n  a: {command: x}\n", (1, 1), "unknown top-level key 'servics'"),
        ("services:\n  web: {command: '  '}\n", (2, 18), "the command is empty"),
        ("services:\n  dump: {command: x, stdout_mode: file, stdout_file: '{servce}.out'}\n",
         (2, 54), "unknown placeholder {servce} (known: {service}, {env}, {timestamp}); did "
                  "you mean {service}?"),
        ("services:\n  dump: {command: x, stdout_mode: file, stdout_file: 'd/{timestamp:%Y}'}\n",
         (2, 54), "{timestamp:%Y}: stdout_file fills its fields as plain text, without format "
                  "specs or conversions: write {timestamp} (YYYYmmdd-HHMMSS)"),
        ("services:\n  dump: {command: x, stdout_mode: file, stdout_file: '{service:d}.out'}\n",
         (2, 54), "{service:d}: stdout_file fills its fields as plain text"),
        ("services:\n  dump: {command: x, stdout_mode: file, stdout_file: '{service!r}.out'}\n",
         (2, 54), "{service!r}: stdout_file fills its fields as plain text"),
        ("services:\n  dump: {command: x, stdout_mode: file, stdout_file: out/}\n",
         (2, 54), "'out/' names a directory: stdout_file is the output file's path, such as "
                  "out/{service}-{timestamp}.out"),
        ("services:\n  dump: {command: x, stdout_mode: file, stdout_file: logs/..}\n",
         (2, 54), "'logs/..' names a directory"),
        ("secrets:\n  providers: [{type: env, prefix: X_}]\n", (2, 15),
         "secrets.providers[0]: 'env' takes no settings (prefix): write it as the plain name env"),
        ("secrets:\n  providers: [keyring, {type: file}]\n", (2, 24),
         "secrets.providers[1]: 'file' takes no settings: write it as the plain name file"),
    ],
)
def test_mistakes_are_located(text: str, where: tuple[int, int], message: str) -> None:
    err = error_of(text)
    assert (err.line, err.column) == where, str(err)
    assert message in str(err)
    assert str(err).startswith(f"conf.yaml:{where[0]}:{where[1]}: ")


def test_suggestions_for_layer_type_and_top_key() -> None:
    assert error_of("environments:\n  e: {layers: [{type: sssh}]}\n").suggestion == "ssh"
    assert error_of("servics: {}\n").suggestion == "services"


def test_unknown_environment_and_service_names_suggest() -> None:
    cfg = load_config_text(SEED_ENVIRONMENTS + SEED_SERVICES, "orch.yaml")
    with pytest.raises(ConfigError, match="unknown environment 'prodcution'.*did you mean 'production'"):
        cfg.environment("prodcution")
    with pytest.raises(ConfigError, match="unknown service 'helth-check'.*did you mean 'health-check'"):
        cfg.service("helth-check")
    with pytest.raises(ConfigError, match=r"unknown environment 'prod'.*did you mean 'production'"):
        cfg.environment("prod")  # a name cut short: no near spelling, but the one it starts
    with pytest.raises(ConfigError, match=r"unknown service 'health'.*did you mean 'health-check'"):
        cfg.service("health")
    with pytest.raises(ConfigError) as info:
        cfg.service("zzz")
    assert info.value.suggestion is None and "known: database-backup, health-check" in str(info.value)


def test_duplicate_name_across_files(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", "services:\n  web: {command: x}\n")
    b = write(tmp_path, "b.yaml", "services:\n  other: {command: y}\n  web: {command: z}\n")
    with pytest.raises(ConfigError, match=r"b.yaml:3:3: service 'web' is defined twice \(first at .*a.yaml:2\)"):
        load_config(a, b)


def test_a_file_given_twice_is_read_once_and_an_empty_path_is_said(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`-c a.yaml -c a.yaml` (or twice in ORCH_CONFIG, or `%orch load a.yaml a.yaml`) said
    each of its environments was defined twice, at one line; `-c ""` read the directory `.`."""
    a = write(tmp_path, "a.yaml", "services:\n  web: {command: x}\n")
    monkeypatch.chdir(tmp_path)
    assert load_config(a, "a.yaml", str(a)).files == (str(a),)
    monkeypatch.setenv("ORCH_CONFIG", f"{a}:{tmp_path}/../{tmp_path.name}/a.yaml")
    assert list(load_config().services) == ["web"]
    with pytest.raises(ConfigError, match="^a config file path is empty: give a file$"):
        load_config("")


def test_settings_sections_of_several_files_combine_key_by_key(tmp_path: Path) -> None:
    """A later file's `audit:` or `secrets:` replaced the whole section: the earlier file's
    `enabled: false`, `path` or provider list was dropped without a word."""
    shared = write(tmp_path, "shared.yaml", "audit: {path: logs/audit.jsonl}\n"
                                            "secrets: {providers: [file], file: s.yaml}\n")
    mine = write(tmp_path, "mine.yaml", "services:\n  a: {command: x}\naudit: {digests: false}\n"
                                        "secrets: {keyring_service: team}\n")
    cfg = load_config(shared, mine)
    assert (cfg.audit.path, cfg.audit.digests, cfg.audit.enabled) == (
        str(tmp_path / "logs/audit.jsonl"), False, True)
    assert (cfg.secrets.providers, cfg.secrets.file, cfg.secrets.keyring_service) == (
        ("file",), str(tmp_path / "s.yaml"), "team")
    again = write(tmp_path, "again.yaml", "secrets:\n  providers: [env]\n")
    with pytest.raises(ConfigError) as err:
        load_config(shared, again)
    assert str(err.value).startswith(
        f"{again}:2:3: secrets.providers is set twice (first at {shared}:2): set it in one "
        f"file only")
    off = write(tmp_path, "off.yaml", "audit:\n  enabled: false\n")
    on = write(tmp_path, "on.yaml", "audit: {path: /tmp/a.jsonl, enabled: true}\n")
    with pytest.raises(ConfigError, match=r"on.yaml:1:29: audit.enabled is set twice \(first at "
                                          r".*off.yaml:2\)"):
        load_config(off, on)


def test_packaged_schema_is_the_generated_one() -> None:
    """Of this package's own kinds: a plugin installed beside it changes neither the packaged
    copy nor this test (review9), `orch schema` prints the one with every kind."""
    packaged = REPO / "orch_magics/schema/orch.schema.json"
    assert packaged.read_text() == packaged_schema_json(), (
        "run: python -c 'from orch_magics.config.schema import packaged_schema_json as s; "
        "print(s(), end=\"\")' > " + str(packaged))


@pytest.mark.parametrize("text", [SEED_ENVIRONMENTS + SEED_SERVICES,
                                  *(p.read_text() for p in demo_config_files())])
def test_examples_validate_against_schema(text: str) -> None:
    schema = json.loads(schema_json())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(text), schema)
    load_config_text(text)  # and against the loader


def test_schema_rejects_what_the_loader_rejects() -> None:
    schema = json.loads(schema_json())
    bad = yaml.safe_load("services:\n  web: {command: run, stdin_mod: streaming}\n")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


@pytest.mark.parametrize("text", ["", "environments:\nservices:\n", "secrets:\naudit:\n"])
def test_the_schema_takes_what_is_left_empty_as_the_loader_does(text: str) -> None:
    """s9-newcomer #6: `services:` with nothing under it yet loaded and ran, but an editor
    checking the file against the published schema underlined it."""
    load_config_text(text)
    jsonschema.validate(yaml.safe_load(text), json.loads(schema_json()))


@pytest.mark.parametrize("text", [
    "environments:\n  dev:\n", "environments:\n  dev: {layers: null}\n",
    "environments:\n  dev: {layers: [{type: local, config: }]}\n",
    "services:\n  a: {command: x, filters: }\n"])
def test_the_schema_refuses_layers_left_empty_as_the_loader_does(text: str) -> None:
    """config17: an environment, its layers, a layer's config or filters left empty (their
    items commented out, most likely) are refused: an editor underlines them too."""
    with pytest.raises(ConfigError, match="is empty"):
        load_config_text(text)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(text), json.loads(schema_json()))


def test_a_misspelt_filters_key_gets_a_did_you_mean() -> None:
    """s9-newcomer #1: the loader hands `filters` to the service's builder as made already,
    and the suggestions came only from the keys it builds itself."""
    for key in ("filter", "filtres", "filtersx"):
        assert error_of(f"services:\n  a:\n    command: cat\n    {key}: []\n").suggestion == \
            "filters"


def test_an_unknown_name_among_thousands_is_one_short_line() -> None:
    """10,000 environments: the error listed them all, 150 KB on one line, its did-you-mean
    at the very end (config2 tester)."""
    cfg = load_config_text("environments:\n" + "".join(f"  env-{i:05d}: []\n"
                                                        for i in range(10_000)))
    with pytest.raises(ConfigError) as err:
        cfg.environment("enx-04321")
    assert len(str(err.value)) < 300 and "… (10,000 in all)" in str(err.value)
    assert "did you mean 'env-04321'?" in str(err.value)


def _run_in_worker(config: Config) -> str:
    from orch_magics import Orchestrator

    with Orchestrator(config) as orch:
        return orch.run("local", "hi").stdout


def test_a_config_goes_to_a_spawned_worker_process(tmp_path: Path) -> None:
    """api5: a loaded Config held MappingProxyType, which pickle refuses: it could not go to a
    worker process started by spawn or forkserver (Python 3.14's default on Linux)."""
    import concurrent.futures
    import copy
    import multiprocessing
    import pickle

    cfg = load_config(write(tmp_path, "orch.yaml", (
        "environments:\n  local: []\n  d: [{type: docker, config: {container: c, "
        "environment: {A: b}}}]\n"
        "services:\n  hi: {command: 'echo \"hi $X\"', environment: {X: there}}\n")))
    assert pickle.loads(pickle.dumps(cfg)) == cfg and copy.deepcopy(cfg) == cfg
    with pytest.raises(TypeError):
        cfg.environments["other"] = cfg.environments["local"]  # type: ignore[index]
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
        assert pool.submit(_run_in_worker, cfg).result(timeout=120) == "hi there\n"


@pytest.mark.parametrize("setting", ["layers: [ssh bastion]", "protected: true",
                                     "description: the production hosts"])
def test_a_setting_dedented_under_an_empty_environment_is_refused_at_its_line(
        setting: str) -> None:
    """`prod:` left empty, its `layers:` one level too little: an environment named `layers`
    (and `prod`, empty, ran on this machine without a word: config7)."""
    err = error_of(f"environments:\n  prod:\n  {setting}\nservices:\n  a: {{command: echo}}\n")
    key = setting.split(":")[0]
    assert str(err).splitlines()[0] == (
        f"conf.yaml:3:3: environment {key!r} follows 'prod', which is empty: indent `{key}:` "
        f"under `prod:`")
    load_config_text("environments:\n  prod: []\n  layers-b: [ssh bastion]\n")  # a name


def test_x_keys_holding_anchors_beside_environments_and_services_validate() -> None:
    """config12 F4: the loader ignores `x-` keys there, as documented; the schema refused them,
    so an editor underlined a documented anchor holder."""
    text = ("environments:\n  x-base: &b {layers: []}\n  local: *b\n"
            "services:\n  x-tmpl: {c: 1}\n  s: {command: 'true'}\n")
    load_config_text(text)
    jsonschema.validate(yaml.safe_load(text), json.loads(schema_json()))


@pytest.mark.parametrize(("text", "said"), [
    # config12 F1: a plain `<<` value was said to start with '!'
    ("services:\n  a: {command: echo, description: <<}\n",
     "2:35: bad value: a plain << is YAML 1.1's merge key: quote it ('<<') to keep it as text"),
    # config15 F5: a line separator PyYAML reads as a line break, where editors show none
    ("# owner: ops\u2028 (pasted)\nenvironments: {l: []}\n", "1:13: an invisible line "
     "separator (U+2028), which YAML reads as a line break where your editor shows none"),
    ("environments: {l: []}\nservices:\n  a: {command: \"x\u0085y\", comand: b}\n",
     "3:18: an invisible line separator (U+0085)"),
    # config15 F8: a plain `=` (`test "$MODE" = prod`) as well
    ("services:\n  a: {command: [test, \"$MODE\", =, prod]}\n",
     "2:32: bad value: a plain = is YAML 1.1's value key: quote it ('=') to keep it as text"),
    # F2: libyaml's message drops the character, and a tab does not show in the excerpt
    ("environments:\n\tlocal: []\n", "2:1: YAML syntax error: found '\\t', which cannot start "
                                     "any token: a tab: YAML is indented with spaces only"),
    ("services:\n  b: {command: @x}\n", "found '@', which cannot start any token: '@' is "
                                        "reserved in YAML: quote a value that starts with it"),
    # F3: `name` is a layer key too
    ("environments:\n  p: [{type: ssh, nme: b, config: {host: h}}]\n",
     "unknown key 'nme' in a layer (expected type, config, name) (did you mean 'name'?)"),
    # F5: the usual other names of keys and of a filter's type
    ("services:\n  a: {command: x, filters: [{type: grep, regex: a}]}\n", "did you mean 'pattern'?"),
    ("services:\n  a: {command: x, filters: [{type: jq, filter: .a}]}\n", "did you mean 'query'?"),
    ("services:\n  a: {command: x, filters: [{type: head, n: 3}]}\n", "did you mean 'lines'?"),
    ("services:\n  a: {command: x, filters: [{type: sed}]}\n", "did you mean 'replace'?"),
    # review21: `sub` as a key was lost to `sub` as a type's value
    ("services:\n  a: {command: x, filters: [{type: replace, pattern: a, sub: b}]}\n",
     "did you mean 'replacement'?"),
    ("audit: {file: a.log}\n", "did you mean 'path'?"),
    ("environments:\n  d: [{type: docker, config: {name: app}}]\n", "did you mean 'container'?"),
])
def test_a_mistake_is_said_as_what_it_is(text: str, said: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config_text(text)
    assert said in str(err.value), str(err.value)


def test_an_orch_config_naming_no_file_says_it_came_from_the_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """config12 F6: said as a file the user never typed, and ./orch.yaml left unread."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "orch.yaml").write_text("environments:\n  local: []\n")
    for value, what in (("nope.yaml", "nope.yaml: config file not found (named by ORCH_CONFIG"),
                        (str(tmp_path), f"{tmp_path}: config file is a directory, not a file "
                                        f"(named by ORCH_CONFIG"),
                        (" ", "ORCH_CONFIG=' ' names no file")):
        monkeypatch.setenv("ORCH_CONFIG", value)
        with pytest.raises(ConfigError, match=re.escape(what)):
            load_config()
