"""Helpers for tests that build notebooks of %orch cells, run them on a real kernel
(nbclient) or save them for JupyterLab (see lab.py), and read what their cells show."""

from __future__ import annotations

from typing import Any

import nbformat
from nbclient import NotebookClient

#: The "Python 3 (orch)" kernel as a notebook names it (what JupyterLab starts on opening).
ORCH_KERNELSPEC = {"name": "orch", "display_name": "Python 3 (orch)", "language": "python"}


def notebook_with(*cells: str) -> nbformat.NotebookNode:
    """A notebook on the orch kernel whose code cells hold these sources, in order."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(ORCH_KERNELSPEC)
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    return nb


def run_notebook(nb: nbformat.NotebookNode, kernel: str, timeout: float = 60,
                 **options: Any) -> nbformat.NotebookNode:
    """Execute `nb` in place with nbclient on `kernel` (a cell error raises
    CellExecutionError unless allow_errors=True); returns it for chaining."""
    NotebookClient(nb, kernel_name=kernel, timeout=timeout, **options).execute()
    return nb


def stream_text(cell: nbformat.NotebookNode, name: str = "stdout") -> str:
    """Everything a cell wrote to one stream (`stdout` or `stderr`), joined."""
    return "".join(o["text"] for o in cell.outputs
                   if o["output_type"] == "stream" and o["name"] == name)


def error_cells(nb: nbformat.NotebookNode) -> list[str]:
    """Every code cell with an error output, with its source and error text."""
    bad = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                bad.append(f"--- cell:\n{cell.source}\n--- {out.get('ename')}: "
                           f"{out.get('evalue')}")
    return bad


def shown_error(cell: nbformat.NotebookNode) -> str:
    """A failed cell's error as a person sees it: a UsageError is printed on stderr, any other
    error is an error output whose traceback lines are what `_render_traceback_` gave."""
    shown = [stream_text(cell, "stderr")]
    shown += ["".join(line + "\n" for line in out["traceback"]) for out in cell.outputs
              if out["output_type"] == "error"]
    return "".join(shown)


def cell_text(cell: nbformat.NotebookNode) -> str:
    """All a cell shows: its stream text, and each rich output's markdown or plain text."""
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append(out["text"])
        data = out.get("data", {})
        parts.append(str(data.get("text/markdown") or data.get("text/plain", "")))
    return "".join(parts)
