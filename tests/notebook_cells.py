"""Helpers for tests that build notebooks of %orch cells and run them on a real kernel
(nbclient), or save them for JupyterLab (see lab.py)."""

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
