"""Environments named like %orch subcommands (`stop`, `logs`, `load`…): a line means the
subcommand, a cell with a body runs in the environment, and `%orch load` says so (config2
tester: such environments loaded, and no cell could run in them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shells import orch_shell


def test_an_environment_named_like_a_subcommand_runs_from_a_cell(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = "environments: {stop: [], logs: []}\naudit: {enabled: false}\n"
    with orch_shell(config, tmp_path) as sh:
        said = capsys.readouterr().out
        assert "note: environment 'logs' shares its name with %orch logs" in said
        assert "note: environment 'stop' shares its name with %orch stop" in said
        assert "which a line means: run in it with a cell" in said
        sh.run_cell_magic("orch", "stop --out r", "echo in-stop\n")
        assert sh.user_ns["r"].stdout == "in-stop\n"
        sh.run_cell_magic("orch", "logs --out r", "echo in-logs\n")
        assert sh.user_ns["r"].stdout == "in-logs\n"


def test_a_cell_line_of_such_an_environment_is_checked_as_any_other(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unbalanced quote was a ValueError traceback, and `--` lost the CLI-form hint
    (review10): one parse for every line."""
    from IPython.core.error import UsageError

    with orch_shell("environments: {stop: []}\naudit: {enabled: false}\n", tmp_path) as sh:
        with pytest.raises(UsageError) as err:
            sh.run_cell_magic("orch", 'stop --out "r', "echo x\n")
        # files12: with what to do when a {variable}'s value holds a quote
        assert str(err.value) == (
            "cannot parse the magic line: no closing quotation: a quote (' or \") opens a "
            "word until the same quote closes it; a value from a {variable} that holds one "
            "goes in the other quotes (\"{name}\"), or through the Python API (orch.run, "
            "orch.get, orch.put)")
        with pytest.raises(UsageError, match="%orch stop -- COMMAND is the orch CLI's form"):
            sh.run_cell_magic("orch", "stop -- echo hi", "echo x\n")


def test_the_load_note_says_which_lines_run_in_an_environment_named_like_a_listing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """notebook5: the note said a line always means the subcommand, while `%orch services
    touch` ran touch in the environment `services` (no listing takes words)."""
    config = ("environments: {services: []}\nservices: {touch: {command: 'echo touched'}}\n"
              "audit: {enabled: false}\n")
    with orch_shell(config, tmp_path) as sh:
        assert ("note: environment 'services' shares its name with %orch services: the line "
                "%orch services alone is the subcommand; %orch services SERVICE, and a cell "
                "%%orch services, run in the environment") in capsys.readouterr().out
        assert sh.run_line_magic("orch", "services touch").stdout == "touched\n"
        capsys.readouterr()
        sh.run_line_magic("orch", "services")
        listed = capsys.readouterr().out
        assert listed.startswith("SERVICE") and "touch" in listed, listed
