"""JupyterLab in headless Chromium: `%orch get` shows an ipywidgets progress bar (WidgetBar)
that ends full and green, and the cell prints what was copied."""

from __future__ import annotations

import os

import pytest

from lab import browse_notebook, save_notebook
from transfers import sparse

pytestmark = pytest.mark.browser
SIZE = 200_000_000

BAR_DONE = """() => {
  const bar = document.querySelector('.widget-hprogress .progress-bar');
  return bar !== null && bar.style.width === '100%' && bar.classList.contains('progress-bar-success');
}"""


def test_a_get_shows_a_progress_bar_that_ends_at_100_percent(jupyterlab, chromium, artifacts,
                                                              tmp_path):
    src = sparse(tmp_path / "big.bin", SIZE)
    back = tmp_path / "back.bin"
    save_notebook(jupyterlab, "copy.ipynb", "%orch load --demo", f"%orch get local {src} {back}")
    with browse_notebook(chromium, jupyterlab, "copy.ipynb", "loaded 2 environment(s)",
                         screenshot=artifacts / "transfer-progress-bar.png") as (page, cells, run):
        run(1)
        cells.nth(1).locator(".widget-hprogress").wait_for(timeout=60_000)
        page.wait_for_function(BAR_DONE, timeout=120_000)
        out = cells.nth(1).locator(".jp-OutputArea-output").filter(has_text="got file")
        out.wait_for(timeout=60_000)
        assert f"got file local:{src} → {back}: 200.0 MB" in out.inner_text()
        shown = cells.nth(1).locator(".widget-hbox").inner_text()
        assert "200.0 MB / 200.0 MB" in shown  # the final amount, not a throttled one
        assert os.path.getsize(back) == SIZE
