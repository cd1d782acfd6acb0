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


def test_the_names_load_on_first_use_and_nothing_else_is_made_up() -> None:
    """`import orch_magics` loads no engine (so `orch` can take over Ctrl-C first); each
    public name loads its module when first asked for, once."""
    import subprocess
    import sys

    code = ("import sys, orch_magics\n"
            "print(sorted(m for m in sys.modules if m.startswith('orch_magics')))\n"
            "from orch_magics import Orchestrator\n"
            "print(Orchestrator is orch_magics.Orchestrator, 'orch_magics.orchestrator' in sys.modules)\n"
            "try:\n    orch_magics.Orchestrater\nexcept AttributeError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["['orch_magics', 'orch_magics.version']", "True True",
                   "module 'orch_magics' has no attribute 'Orchestrater'"]
    assert set(orch_magics.__all__) <= set(dir(orch_magics))


def test_the_entry_point_stays_a_function_once_the_command_line_is_loaded() -> None:
    """`orch_magics.cli:main` is the console script's target. While the command line lived
    in `cli/main.py`, loading it replaced the package's `main` with that module."""
    import orch_magics.cli
    import orch_magics.cli.app  # noqa: F401 (what the first call of main() loads)

    assert callable(orch_magics.cli.main)
    from orch_magics.cli import main

    assert main is orch_magics.cli.main and main.__module__ == "orch_magics.cli"
