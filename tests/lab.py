"""Helpers for tests that drive JupyterLab in Chromium: open a notebook, run its cells."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def open_notebook(page: Any, jupyterlab: Any, name: str) -> Any:
    """Open `name` in a workspace of its own (reset: only this notebook) on an idle orch
    kernel; returns the cells' locator."""
    page.goto(f"{jupyterlab.url}/lab/workspaces/{name.replace('.', '-')}/tree/{name}"
              f"?token={jupyterlab.token}&reset")
    page.wait_for_selector(f".lm-TabBar-tab.lm-mod-current:has-text('{name}')",
                           timeout=60_000)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.get_by_text("Python 3 (orch) | Idle").wait_for(timeout=60_000)
    return page.locator(".jp-Notebook .jp-Cell")


def runner(page: Any, cells: Any) -> Callable[[int], None]:
    """run(i): click into cell i and press Shift+Enter, as a person does."""
    def run(index: int) -> None:
        cells.nth(index).locator(".cm-content").click()
        page.keyboard.press("Shift+Enter")
    return run


def run_first(page: Any, run: Callable[[int], None], expect: str) -> None:
    """Run cell 0 until `expect` shows: the first execute can race the kernel connection."""
    for attempt in range(4):
        run(0)
        try:
            page.wait_for_selector(f"text={expect}", timeout=10_000)
            return
        except Exception:
            if attempt == 3:
                raise
