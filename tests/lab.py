"""Helpers for tests that drive JupyterLab in Chromium: save a notebook, open it, run its
cells."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import nbformat

from notebook_cells import notebook_with


def save_notebook(jupyterlab: Any, name: str, *cells: str) -> nbformat.NotebookNode:
    """Write a notebook of these code cells on the orch kernel as `name` in the server's
    root, for `open_notebook`; returns it (its cells carry the ids JupyterLab reports)."""
    nb = notebook_with(*cells)
    nbformat.write(nb, jupyterlab.root / name)
    return nb


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


class Browsed(NamedTuple):
    """An open notebook: the page, its cells' locator, and run(i) (see `runner`)."""

    page: Any
    cells: Any
    run: Callable[[int], None]


@contextmanager
def browse_notebook(chromium: Any, jupyterlab: Any, name: str, loaded: str | None = None, *,
                    height: int = 900, screenshot: Path | None = None) -> Iterator[Browsed]:
    """Notebook `name` open in a browser context of its own (1280 x `height`), cell 0 run
    until `loaded` shows (if given); at the end a full-page `screenshot` and the context
    closed, whatever happened."""
    context = chromium.new_context(viewport={"width": 1280, "height": height})
    page = context.new_page()
    try:
        cells = open_notebook(page, jupyterlab, name)
        run = runner(page, cells)
        if loaded is not None:
            run_first(page, run, loaded)
        yield Browsed(page, cells, run)
    finally:
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
        context.close()
