"""JupyterLab in headless Chromium: `%orch get` shows an ipywidgets progress bar (WidgetBar)
while it copies, which gives way to one line of text when it ends (a saved notebook read
`HBox(children=(IntProgress(…` there), and the cell prints what was copied."""

from __future__ import annotations

import os

import pytest

from lab import browse_notebook, save_notebook
from transfers import sparse

pytestmark = pytest.mark.browser
SIZE = 200_000_000



def test_a_get_shows_a_progress_bar_that_ends_at_100_percent(jupyterlab, chromium, artifacts,
                                                              tmp_path):
    src = sparse(tmp_path / "big.bin", SIZE)
    back = tmp_path / "back.bin"
    save_notebook(jupyterlab, "copy.ipynb", "%orch load --demo", f"%orch get local {src} {back}")
    with browse_notebook(chromium, jupyterlab, "copy.ipynb", "loaded 2 environment(s)",
                         screenshot=artifacts / "transfer-progress-bar.png") as (page, cells, run):
        run(1)
        out = cells.nth(1).locator(".jp-OutputArea-output").filter(has_text="got file")
        out.wait_for(timeout=120_000)
        assert f"got file local:{src} → {back}: 200.0 MB" in out.inner_text()
        done = cells.nth(1).locator(".jp-OutputArea-output").filter(has_text="✓")
        done.wait_for(timeout=60_000)  # the final amount, not a throttled one
        assert done.inner_text().strip().endswith(f"{back}: 200.0 MB / 200.0 MB ✓")
        assert cells.nth(1).locator(".widget-hprogress").count() == 0  # replaced by the text
        assert os.path.getsize(back) == SIZE
