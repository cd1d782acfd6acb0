"""A fleet of 30 real sshd in JupyterLab (headless Chromium): one bounded live table that
updates while the targets run, rows that expand to a target's output, and a stdin box that
says it writes to every running target and does."""

from __future__ import annotations

import pytest

from fixtures.fleet import SSHFleet
from lab import browse_notebook, save_notebook

pytestmark = pytest.mark.browser

N = 30
SERVICES = """\
services:
  steps: {command: 'i=0; while [ $i -lt 8 ]; do echo step-$i; i=$((i+1)); sleep 0.5; done'}
  echo-in: {command: cat, stdin_mode: streaming}
"""


def test_live_table_rows_and_stdin_box_for_thirty_targets(jupyterlab, chromium, artifacts,
                                                          ssh_fleet: SSHFleet) -> None:
    cfg = jupyterlab.root / "fleet.yaml"
    cfg.write_text(ssh_fleet.config_yaml(SERVICES))
    save_notebook(
        jupyterlab, "fleet.ipynb",
        f"%orch load {cfg}",
        "r = %orch web steps --no-raise-error",
        "fed = %orch web echo-in --limit 127.0.1.[1-5]",
        "res = fed.wait(30)\nprint('FED', sorted({v.stdout for v in res.values()}), len(res))",
    )
    shot = artifacts / "fleet-browser.png"
    with browse_notebook(chromium, jupyterlab, "fleet.ipynb", "loaded 1 environment(s)",
                         height=1400, screenshot=shot) as (page, cells, run):
        run(1)
        table = cells.nth(1).locator(".orch-fleet")
        # the table updates in place while targets run (counts in its title)
        table.filter(has_text="running").wait_for(timeout=30_000)
        table.filter(has_text=f"{N} targets: {N - 1} ok, 1 failed").wait_for(timeout=60_000)
        assert table.count() == 1  # one display, not one output per target
        rows = table.locator("tbody tr")
        assert rows.count() == N
        failed = rows.filter(has_text="127.0.1.30")
        assert "failed" in failed.inner_text()
        row = rows.filter(has_text="127.0.1.7")
        assert "step-7" in row.inner_text()  # the last line column
        row.locator("summary").click()  # expand: that target's own lines
        shown = row.locator("details pre")
        shown.wait_for(state="visible", timeout=10_000)
        assert shown.inner_text().splitlines() == [f"step-{i}" for i in range(8)]
        # a streaming service opened with nothing to send: a box for every running target
        run(2)
        box = cells.nth(2).locator(".orch-stdin textarea")
        box.wait_for(timeout=30_000)
        assert "every running target" in box.get_attribute("placeholder")
        fed = cells.nth(2).locator(".orch-fleet")
        fed.filter(has_text="5 running").wait_for(timeout=30_000)
        box.click()
        box.press_sequentially("hello fleet")
        box.press("Enter")
        page.wait_for_function(
            "() => document.querySelector('.orch-stdin textarea').value === ''", timeout=10_000)
        cells.nth(2).locator(".orch-eof").click()
        fed.filter(has_text="5 targets: 5 ok").wait_for(timeout=30_000)
        cells.nth(2).get_by_text("closed, 1 line sent from the box").wait_for(timeout=20_000)
        run(3)
        out = cells.nth(3).locator(".jp-OutputArea-output").filter(has_text="FED")
        out.wait_for(timeout=30_000)
        assert "FED ['hello fleet\\n'] 5" in out.inner_text()
