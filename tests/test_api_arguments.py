"""What the Python API is handed is checked before anything starts, in one line."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from orch_magics import ConfigError, Orchestrator, load_config

CONFIG = """\
environments:
  local: {layers: []}
  prod: {protected: true, layers: []}
services:
  mark: {command: touch marker}
"""


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "orch.yaml"
    path.write_text(CONFIG)
    return path


def _audit() -> Path:
    return Path(os.environ["XDG_STATE_HOME"]) / "orch_magics" / "audit.jsonl"


def test_orchestrator_takes_a_config_files_path(cfg: Path, tmp_path: Path) -> None:
    """Before: `Orchestrator("orch.yaml").run(…)` → AttributeError: 'str' … 'secrets'."""
    for given in (str(cfg), cfg):
        with Orchestrator(given) as orch:
            assert orch.run("local", command=["echo", "hi"]).stdout == "hi\n"
    with pytest.raises(ConfigError, match="config file not found"):
        Orchestrator(str(tmp_path / "nope.yaml"))


@pytest.mark.parametrize("given", [{"environments": {}}, 5, ["orch.yaml"], b"orch.yaml"],
                         ids=["dict", "int", "list", "bytes"])
def test_orchestrator_refuses_anything_else_at_once(given: object) -> None:
    """Before: a dict failed at the first run with AttributeError; an int was accepted."""
    with pytest.raises(ConfigError) as err:
        Orchestrator(given)  # type: ignore[arg-type]
    text = str(err.value)
    assert "\n" not in text and "Orchestrator(load_config('orch.yaml'))" in text
    assert text.endswith(f"not {type(given).__name__}")


@pytest.mark.parametrize("given", [5, ["a.yaml"], ("a.yaml", "b.yaml"), None, b"a.yaml"],
                         ids=["int", "list", "tuple", "none", "bytes"])
def test_load_config_refuses_what_is_not_a_path(given: object) -> None:
    """Before: TypeError: expected str, bytes or os.PathLike object, not list."""
    with pytest.raises(ConfigError) as err:
        load_config(given)  # type: ignore[arg-type]
    assert "\n" not in str(err.value) and "load_config('a.yaml', 'b.yaml')" in str(err.value)


BAD_STDIN = [5, 3.5, object(), True]


@pytest.mark.parametrize("stdin", BAD_STDIN, ids=["int", "float", "object", "bool"])
@pytest.mark.parametrize("how", ["run", "spawn", "start", "arun"])
@pytest.mark.parametrize("env", ["local", "prod"])
def test_a_stdin_of_the_wrong_type_is_refused_before_anything_starts(
        cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stdin: object, how: str,
        env: str) -> None:
    """Before: the command started (and was audited), then was killed: 'killed by SIGINT'.
    In a protected environment the mistake is said before anyone is asked."""
    monkeypatch.chdir(tmp_path)
    with Orchestrator(load_config(cfg)) as orch:
        call = getattr(orch, how)
        with pytest.raises(ConfigError) as err:
            if how == "arun":
                asyncio.run(call(env, "mark", stdin=stdin))
            else:
                call(env, "mark", stdin=stdin)
    assert str(err.value) == (f"stdin takes str, bytes, a binary file, or an iterable or "
                              f"async iterable of bytes/str, not {type(stdin).__name__}")
    assert not (tmp_path / "marker").exists()
    assert not _audit().exists()


@pytest.mark.parametrize("stdin", [b"x", "x", [b"a", "b"], iter([b"x"]), None],
                         ids=["bytes", "str", "list", "iterator", "none"])
def test_the_accepted_stdin_types_still_run(cfg: Path, stdin: object) -> None:
    with Orchestrator(load_config(cfg)) as orch:
        result = orch.run("local", command="cat", stdin=stdin)
    assert result.ok and result.stdout in ("", "x", "ab")
