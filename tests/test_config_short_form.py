"""The short form of environments and layers, as the product brief writes them:
`local: []`, `dev: [docker app]`, `production: [ssh bastion, ssh prod-internal, docker prod-app]`.

Each short environment must load to exactly what its mapping form loads to, run like it, and
be checked by the JSON schema as the loader checks it; mistakes in it are located and named.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from orch_magics import ConfigError, load_config_text
from orch_magics.config.schema import schema_json

SHORT = """\
environments:
  local: []
  app: [docker app-1]
  production: [ssh bastion, ssh prod-internal, docker prod-app]
  web: ["ssh web-[01:03].prod", "sudo  deploy"]
  pod: [podman api]
  mixed:
    protected: true
    layers: [ssh bastion, {type: docker, config: {label: app=web}}]
services: {}
"""

LONG = """\
environments:
  local: {layers: []}
  app: {layers: [{type: docker, config: {container: app-1}}]}
  production:
    layers:
      - {type: ssh, config: {host: bastion}}
      - {type: ssh, config: {host: prod-internal}}
      - {type: docker, config: {container: prod-app}}
  web: {layers: [{type: ssh, config: {host: "web-[01:03].prod"}}, {type: sudo, config: {user: deploy}}]}
  pod: {layers: [{type: podman, config: {container: api}}]}
  mixed:
    protected: true
    layers: [{type: ssh, config: {host: bastion}}, {type: docker, config: {label: app=web}}]
services: {}
"""


def _shape(text: str) -> dict[str, object]:
    cfg = load_config_text(text, "orch.yaml")
    return {name: ([(s.type, s.config, s.label, s.fanout) for s in env.layers],
                   env.guardrails)
            for name, env in cfg.environments.items()}


def test_the_short_form_loads_as_its_mapping_form() -> None:
    assert _shape(SHORT) == _shape(LONG)
    cfg = load_config_text(SHORT, "orch.yaml")
    assert [layer.label for layer in cfg.environments["production"].layers] == [
        "ssh bastion", "ssh prod-internal", "docker prod-app"]
    assert cfg.environments["mixed"].guardrails.protected is True
    assert len(cfg.environments["web"].layers[0].fanout.members) == 3  # type: ignore[union-attr]


def test_both_forms_validate_against_the_schema_and_bad_short_forms_do_not() -> None:
    schema = json.loads(schema_json())
    for text in (SHORT, LONG):
        jsonschema.validate(yaml.safe_load(text), schema)
    for bad in ("[sshh bastion]", "[local here]", "['']", "[5]", "'ssh bastion'", "[ssh]",
                "[docker]", "[podman]"):
        doc = yaml.safe_load(f"environments:\n  e: {bad}\n")
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(doc, schema)


@pytest.mark.parametrize(("env", "where", "message", "suggestion"), [
    ("[ssh bastion, dokcer app]", (2, 20), "unknown layer type 'dokcer'; known types: ", "docker"),
    ("[local here]", (2, 7), "a local layer names no target: write `local` alone, or the "
                             "mapping {type: local, config: {...}}", None),
    ("[docker]", (2, 7), "`docker` alone names no container: write `docker CONTAINER`, or "
                         "the mapping {type: docker, config: {...}}", None),
    ("[sudo, ssh]", (2, 13), "`ssh` alone names no host: write `ssh HOST`", None),
    ("[ssh ops@bastion]", (2, 7), "it has '@': a host or container name has none (a user is "
                                  "its own setting: host: bastion, user: ops)", None),
    ("[docker app=web]", (2, 7), "it has '=': a host or container name has none (a label is "
                                 "its own setting: label: KEY=VALUE)", None),
    ("[ssh bastion, 7]", (2, 20), "a layer must be a mapping like {type: ssh, config: {host: "
                                  "...}}, or its short form `ssh HOST`", None),
    ("ssh bastion", (2, 6), "environment 'e' must be a list of layers, or a mapping with a "
                            "'layers' list", None),
    ("[docker app, ssh inner]", (2, 19), "ssh inner cannot follow docker app", None),
])
def test_mistakes_in_the_short_form_are_located_and_named(
        env: str, where: tuple[int, int], message: str, suggestion: str | None) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(f"environments:\n  e: {env}\nservices: {{}}\n", "conf.yaml")
    err = info.value
    assert str(err).startswith(f"conf.yaml:{where[0]}:{where[1]}: "), str(err)
    assert message in str(err)
    assert err.suggestion == suggestion


def test_a_short_environment_runs_from_the_cli(tmp_path: Path) -> None:
    (tmp_path / "orch.yaml").write_text("environments:\n  here: [local]\n  bare: []\n"
                                        "services:\n  hi: {command: echo hello}\n")
    for env in ("here", "bare"):
        done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "run", env, "hi"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stdout, done.stderr) == (0, "hello\n", "")


def test_a_target_quoted_inside_the_short_form_is_read_without_its_quotes() -> None:
    """`[ssh "group:web"]` kept the quotes in the name, and the did-you-mean offered
    'group:web"' back (config7)."""
    config = load_config_text("environments:\n  a: [ssh \"web-1\"]\n  b: [docker 'app']\n")
    assert [config.environments[e].layers[0].label for e in "ab"] == ["ssh web-1", "docker app"]


@pytest.mark.parametrize("env", ['[ssh "web-[01:03]"]', "[ssh web-[01:03]]",
                                 "[ssh 'b[1:2]', docker \"c[1:3]\"]"])
def test_a_range_inside_the_short_form_says_how_to_quote_it(env: str) -> None:
    """fleets17: `web: [ssh "web-[01:03]"]` got PyYAML's words alone ("found unexpected end
    of stream, while scanning a quoted scalar") for a one-line file."""
    with pytest.raises(ConfigError) as err:
        load_config_text(f"environments:\n  web: {env}\n", "c.yaml")
    assert "(line 2: in a list written [a, b], the '[' of a host range opens a list of its " \
        "own: quote the whole layer, as in [\"ssh web-[01:03]\"], or write the layers one " \
        "per line)" in str(err.value), str(err.value)
    fixed = load_config_text('environments:\n  web: ["ssh web-[01:03]"]\n', "c.yaml")
    assert fixed.environment("web").layers[0].label == "ssh web-[01:03]"
    with pytest.raises(ConfigError) as err:  # review27: quoted already, a comma missing
        load_config_text('environments:\n  web: ["ssh web-[01:03]" "x"]\n', "c.yaml")
    assert "host range" not in str(err.value), str(err.value)


def test_a_uid_after_a_short_layer_read_as_a_comment_is_refused() -> None:
    """kinds13 (high): `- sudo #65534` (sudo's form of a uid) loaded as `sudo` alone, and the
    run went as root: YAML reads `#` after a space as a comment's start."""
    with pytest.raises(ConfigError) as err:
        load_config_text("environments:\n  s:\n    - sudo #65534\n", "c.yaml")
    assert str(err.value).startswith("c.yaml:3:7: `sudo` alone, as YAML reads it: `#` after a "
                                     "space starts a comment, so '#65534' is not its user: "
                                     "quote the whole layer, as in \"sudo #65534\""), err.value
    quoted = load_config_text('environments:\n  s:\n    - "sudo #65534"\n', "c.yaml")
    assert quoted.environment("s").layers[0].config.user == "#65534"
    commented = load_config_text("environments:\n  s:\n    - sudo  # as root\n", "c.yaml")
    assert commented.environment("s").layers[0].config.user == "root"


def test_a_kind_whose_target_is_a_number_takes_it_in_the_short_form(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """kinds14: a plugin kind whose target key is an int could not be written short: `lvl 5`
    was refused with "YAML reads '5' as text: write 5", what was written."""
    import dataclasses
    import sys
    import types

    from orch_magics.layers import registry

    module = types.ModuleType("orch_test_lvl_kind")

    @dataclasses.dataclass(frozen=True)
    class LevelConfig:
        level: int = 0

    class LevelKind:
        name, Config, target = "lvl", LevelConfig, "level"

        def label(self, config: LevelConfig) -> str:
            return f"lvl {config.level}"

        def wrap(self, config: LevelConfig, inner: object, label: str) -> object:
            return inner

    module.KIND = LevelKind()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(registry.OWN, "lvl", f"{module.__name__}:KIND")
    registry.get_kind.cache_clear()
    try:
        layer = load_config_text("environments:\n  e: [lvl 5]\n").environments["e"].layers[0]
        assert (layer.config.level, layer.label) == (5, "lvl 5")
    finally:
        registry.get_kind.cache_clear()
