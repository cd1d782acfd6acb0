"""A real browser: JupyterLab in headless Chromium, typing into the stdin box of a live run.

JupyterLab never runs widget callbacks while a cell executes, so this only passes if the run
returned at once and the box feeds the process afterwards.
"""

from __future__ import annotations

import nbformat
import pytest

pytestmark = pytest.mark.browser


def _notebook(kernel: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": "Python 3 (orch)",
                                 "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("%orch load --demo"),
        nbformat.v4.new_code_cell("%orch local upper --out r"),
        nbformat.v4.new_code_cell("res = r.wait(30)\nprint('RESULT', res.lines, res.returncode)"),
        # a cell body is the input: sent, EOF, and the cell blocks ("Run all" stays in order)
        nbformat.v4.new_code_cell("%%orch local upper --out blocked\nfirst\nsecond"),
        nbformat.v4.new_code_cell("print('BLOCKED', type(blocked).__name__, blocked.lines)"),
    ]
    return nb


def test_stdin_box_feeds_a_live_run(jupyterlab, chromium, artifacts):
    nbformat.write(_notebook("orch"), jupyterlab.root / "stdin.ipynb")
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(jupyterlab.lab_url("stdin.ipynb"))
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        # wait for the orch kernel to be connected and idle (status bar)
        page.get_by_text("Python 3 (orch) | Idle").wait_for(timeout=60_000)
        cells = page.locator(".jp-Notebook .jp-Cell")

        def run(index: int) -> None:
            cells.nth(index).locator(".cm-content").click()
            page.keyboard.press("Shift+Enter")

        for attempt in range(4):  # the first execute can race the kernel connection
            run(0)
            try:
                page.wait_for_selector("text=loaded 2 environment(s)", timeout=10_000)
                break
            except Exception:
                if attempt == 3:
                    raise
        run(1)
        box = cells.nth(1).locator(".orch-stdin input")
        box.wait_for(timeout=30_000)
        box.click()
        box.press_sequentially("hello from chromium")
        box.press("Enter")
        page.wait_for_selector("text=HELLO FROM CHROMIUM", timeout=20_000)
        page.wait_for_function(
            "() => document.querySelector('.orch-stdin input').value === ''", timeout=10_000)
        box.press_sequentially("second line")
        box.press("Enter")
        page.wait_for_selector("text=SECOND LINE", timeout=20_000)
        cells.nth(1).locator(".orch-eof").click()
        status = cells.nth(1).locator(".orch-status")
        status.filter(has_text="exit 0").wait_for(timeout=20_000)
        output = cells.nth(1).locator(".orch-tail").inner_text()
        assert "HELLO FROM CHROMIUM" in output and "SECOND LINE" in output and "bye" in output
        assert "exit 0" in status.inner_text()
        assert cells.nth(1).locator(".orch-send").is_disabled()
        assert cells.nth(1).locator(".orch-stop").is_disabled()
        run(2)
        result = cells.nth(2).locator(".jp-OutputArea-output").filter(has_text="RESULT")
        result.wait_for(timeout=30_000)
        assert "['HELLO FROM CHROMIUM', 'SECOND LINE', 'bye'] 0" in result.inner_text()
        run(3)
        run(4)  # queued at once, as "Run all" would: it must see the finished result
        blocked = cells.nth(4).locator(".jp-OutputArea-output").filter(has_text="BLOCKED")
        blocked.wait_for(timeout=30_000)
        assert "BLOCKED RunResult ['FIRST', 'SECOND', 'bye']" in blocked.inner_text()
        assert cells.nth(3).locator(".orch-stdin").count() == 0  # no box for a given body
    finally:
        page.screenshot(path=str(artifacts / "magics-browser-stdin.png"), full_page=True)
        context.close()
