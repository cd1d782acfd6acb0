"""The curated public API: the names users and later issues rely on."""

from __future__ import annotations

import orch_magics


def test_exported_names() -> None:
    for name in ("load_config", "Orchestrator", "ConfigError", "RunResult", "LayeredExecutor",
                 "LocalLauncher", "Command", "ProcessHandle", "Stdout", "Stderr", "Exit"):
        assert name in orch_magics.__all__ and hasattr(orch_magics, name)
    assert sorted(orch_magics.__all__) == sorted(set(orch_magics.__all__))
    for name in orch_magics.__all__:
        assert getattr(orch_magics, name).__doc__, f"{name} has no docstring"


def test_typed_package_marker() -> None:
    from importlib.resources import files

    assert files("orch_magics").joinpath("py.typed").is_file()
