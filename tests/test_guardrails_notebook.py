"""Protected environments and the audit trail in notebooks: nbclient (no stdin: refused unless
--yes) and a real JupyterLab in Chromium (the kernel's stdin request asks for the name)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nbclient.exceptions import CellExecutionError

from lab import browse_notebook, save_notebook
from notebook_cells import notebook_with, run_notebook, stream_text

CONFIG = """\
environments:
  local: {{layers: []}}
  prod: {{layers: [], protected: true}}
services:
  touch: {{command: 'echo touched-$$'}}
audit: {{path: {audit}}}
"""


def _write_config(where: Path, audit: Path) -> Path:
    cfg = where / "guarded.yaml"
    cfg.write_text(CONFIG.format(audit=audit))
    return cfg


def test_nbclient_refuses_a_protected_run_without_yes_and_audits_the_cell(orch_kernel,
                                                                          tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    cfg = _write_config(tmp_path, audit)
    nb = notebook_with(f"%orch load {cfg}", "%orch prod touch")
    with pytest.raises(CellExecutionError) as info:
        run_notebook(nb, orch_kernel)
    assert "protected" in str(info.value) and "--yes prod" in str(info.value)
    refused = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [r["event"] for r in refused] == ["refused"]  # nothing started: one record
    assert refused[0]["front_end"] == "magic" and "nobody can confirm" in refused[0]["reason"]
    audit.unlink()
    nb = notebook_with(f"%orch load {cfg}", "%orch prod touch --yes prod", "%orch history --json",
                       "%orch history --env prd", "%orch history --env prod --failed")
    run_notebook(nb, orch_kernel)
    assert stream_text(nb.cells[3]) == "no audited runs match (did you mean --env prod?)\n"
    assert stream_text(nb.cells[4]) == "no audited runs match\n"  # prod is right (tester)
    assert "touched-" in stream_text(nb.cells[1])
    start = json.loads(audit.read_text().splitlines()[0])
    assert start["front_end"] == "magic" and start["environment"] == "prod"
    assert "cell" not in start  # nbclient sends no cell id (JupyterLab does: see below)
    assert start["confirmation"]["how"] == "--yes prod"
    history = [json.loads(line) for line in stream_text(nb.cells[2]).splitlines()]
    assert [h["service"] for h in history] == ["touch"]
    assert history[0]["end"]["exit_code"] == 0



def test_a_confirmation_does_not_carry_over_to_a_changed_environment(orch_kernel,
                                                                     tmp_path: Path) -> None:
    """`%orch load` of a config where `prod` is another chain: the next run asks again."""
    audit = tmp_path / "audit.jsonl"
    cfg = _write_config(tmp_path, audit)
    changed = tmp_path / "changed.yaml"
    changed.write_text(cfg.read_text().replace(
        "prod: {layers: [], protected: true}",
        "prod: {layers: [{type: local, config: {environment: {HOP: x}}}], protected: true}"))
    nb = notebook_with(f"%orch load {cfg}", "%orch prod touch --yes prod", f"%orch load {cfg}",
                       "%orch prod touch", f"%orch load {changed}", "%orch prod touch")
    with pytest.raises(CellExecutionError) as info:
        run_notebook(nb, orch_kernel)
    assert "touched-" in stream_text(nb.cells[3])  # the same environment: still confirmed
    assert "'prod' is protected" in str(info.value) and "--yes prod" in str(info.value)
    events = [json.loads(line)["event"] for line in audit.read_text().splitlines()]
    assert events == ["start", "end", "start", "end", "refused"]  # the third did not start


def test_a_cell_is_refused_before_any_secret_is_asked(orch_kernel, tmp_path: Path) -> None:
    """The magic resolved every `{{secret:…}}` before it asked for the protected environment's
    name: the password manager ran for a cell that was then refused."""
    asked = tmp_path / "asked"
    cfg = tmp_path / "vault.yaml"
    cfg.write_text(
        "environments:\n  vault: {layers: [], protected: true}\n"
        "  fleet:\n    layers: [{type: ssh, config: {host: [a.invalid, b.invalid],"
        " password: '{{secret:nb-pw}}'}}]\n    protected: true\n"
        "services:\n  touch: {command: 'echo touched', environment: {PW: '{{secret:nb-pw}}'}}\n"
        "secrets:\n  providers:\n    - {type: command, argv: [sh, -c, "
        f"'echo {{name}} >> {asked}; echo pw-from-the-manager']}}\n")
    cells = ["%orch vault touch", "%%orch vault -e X={{secret:nb-pw}}\necho hi", "%orch fleet touch",
             "%orch fleet touch --bg", "%orch vault touch --bg"]
    nb = notebook_with(f"%orch load {cfg}", *cells)
    run_notebook(nb, orch_kernel, allow_errors=True)
    said = [stream_text(cell, "stderr") + "".join(o.get("evalue", "") for o in cell.outputs)
            for cell in nb.cells[1:]]
    assert all("is protected and nobody can confirm" in text for text in said), said
    assert not asked.exists()
    nb = notebook_with(f"%orch load {cfg}", "%orch vault touch --yes vault")
    run_notebook(nb, orch_kernel)
    assert stream_text(nb.cells[1]).startswith("touched") and asked.read_text() == "nb-pw\n"


@pytest.mark.browser
def test_jupyterlab_asks_for_the_name_and_run_all_waits_for_the_answer(
        jupyterlab, chromium, artifacts, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    cfg = _write_config(jupyterlab.root, audit)
    nb = save_notebook(jupyterlab, "guarded.ipynb",
                       f"%orch load {cfg}", "%orch prod touch", "print('AFTER', 6 * 7)")
    with browse_notebook(chromium, jupyterlab, "guarded.ipynb",
                         "loaded 2 environment(s)") as (page, cells, run):
        # A wrong name refuses the run with one line; only the refusal is recorded.
        run(1)
        field = cells.nth(1).locator("input.jp-Stdin-input")
        field.wait_for(timeout=30_000)
        assert "Type its name" in cells.nth(1).inner_text()
        field.fill("production")
        field.press("Enter")
        cells.nth(1).get_by_text("UsageError: not run").wait_for(timeout=20_000)
        assert "running" not in cells.nth(1).inner_text()  # nothing was shown as running
        assert "not the environment's name" in cells.nth(1).inner_text()
        refused = [json.loads(line) for line in audit.read_text().splitlines()]
        assert [r["event"] for r in refused] == ["refused"]
        assert refused[0]["reason"] == ("not run: the answer is not the environment's name "
                                        "'prod' (type it exactly as the config spells it)")
        assert "production" not in audit.read_text()
        # "Run all": the prompt stops the notebook at that cell until it is answered.
        page.locator(".jp-Notebook").click()
        page.keyboard.press("Escape")
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_text("Run All Cells", exact=True).click()
        field = cells.nth(1).locator("input.jp-Stdin-input")
        field.wait_for(timeout=30_000)
        page.wait_for_timeout(1500)
        assert "AFTER 42" not in cells.nth(2).inner_text()  # still waiting at the prompt
        page.screenshot(path=str(artifacts / "guarded-prompt.png"))
        field.fill("prod")
        field.press("Enter")
        cells.nth(1).get_by_text("touched-").wait_for(timeout=30_000)
        cells.nth(2).get_by_text("AFTER 42").wait_for(timeout=30_000)
        status = cells.nth(1).locator(".orch-status").inner_text()
        start = json.loads(audit.read_text().splitlines()[1])
        assert f"audit {start['id']}" in status  # the saved notebook names its record
        assert start["confirmation"]["how"] == "typed the environment's name"
        assert start["notebook"].endswith("guarded.ipynb")
        assert start["cell"] == nb.cells[1]["id"]  # JupyterLab names the cell that ran it
