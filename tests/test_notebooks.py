"""The committed notebooks: stripped of outputs, on the orch kernel, and executed in CI.

Execution here uses the development venv (the one scripts/test.sh installs) with a throw-away
HOME prepared by binder/postBuild and the notebooks run through binder/start, so the SSH cells
reach the real loopback sshd. tests/test_binder.py runs the same notebooks as an unprivileged user
in a fresh venv.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from fixtures.ports import free_port
from notebook_cells import cell_text, error_cells
from test_binder import NOTEBOOKS, REPO, BinderHome, copy_repo


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_committed_notebook_has_no_outputs(notebook: str) -> None:
    nb = nbformat.read(REPO / "notebooks" / notebook, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{notebook}: stale outputs in\n{cell.source}"
            assert cell.execution_count is None, f"{notebook}: execution_count in\n{cell.source}"
        assert "attachments" not in cell or not cell.attachments


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_uses_the_orch_kernel(notebook: str) -> None:
    nb = nbformat.read(REPO / "notebooks" / notebook, as_version=4)
    spec = nb.metadata["kernelspec"]
    assert (spec["name"], spec["display_name"]) == ("orch", "Python 3 (orch)")


def test_runbook_has_a_papermill_parameters_cell() -> None:
    nb = nbformat.read(REPO / "notebooks" / "runbook-production-debugging.ipynb", as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"
    names: dict[str, object] = {}
    exec(tagged[0].source, names)  # plain assignments only, as papermill requires
    assert {"environment", "service", "window_minutes"} <= set(names)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code is tagged[0], "the parameters cell comes before any other code"


def test_notebooks_are_listed() -> None:
    assert NOTEBOOKS == ["log-streaming.ipynb", "quickstart.ipynb",
                         "runbook-production-debugging.ipynb"]


@pytest.fixture(scope="module")
def dev_home() -> Iterator[BinderHome]:
    if os.geteuid() == 0:  # sshd started by root wants its privilege separation directory
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="orch-nb-"))
    copy_repo(base)
    home = BinderHome(base, None, sys.executable, free_port())
    try:
        home.postbuild()
        yield home
    finally:
        home.stop_sshd()
        shutil.rmtree(base, ignore_errors=True)


_EXECUTED: dict[str, tuple[nbformat.NotebookNode, dict[str, object]]] = {}


def executed(home: BinderHome, notebook: str) -> tuple[nbformat.NotebookNode, dict[str, object]]:
    if notebook not in _EXECUTED:
        _EXECUTED[notebook] = home.execute(notebook)
    return _EXECUTED[notebook]


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_executes_without_error(dev_home: BinderHome, notebook: str) -> None:
    nb, info = executed(dev_home, notebook)
    assert info["display_name"] == "Python 3 (orch)"
    assert info["error"] is None, info["error"]
    assert error_cells(nb) == []
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code")


def test_runbook_summary_is_built_from_the_runs(dev_home: BinderHome) -> None:
    nb, info = executed(dev_home, "runbook-production-debugging.ipynb")
    assert info["error"] is None, info["error"]
    summary = cell_text(nb.cells[-1])
    assert "checkout" in summary and "errors" in summary and "×" in summary
    health = next(c for c in nb.cells if "health-check --out health" in c.source)
    assert json.loads(next(line for line in cell_text(health).splitlines()
                           if line.startswith("{")))["status"] == "ok"
