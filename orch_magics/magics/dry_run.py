"""What a `%orch … --dry-run` cell shows: the run it would start, and how the cell would
behave; nothing runs, and the cell's earlier runs go on (cells.CellRuns.left_alone)."""

from __future__ import annotations

from ..plan import RunPlan


def dry_run_text(plan: RunPlan, body: str | None, background: bool, with_box: bool,
                 frontend: bool, targets: str | None) -> str:
    """The plan, the fleet's targets, the stdin the cell sends, and how the cell behaves."""
    lines = [plan.describe()]
    if targets is not None:
        lines.append(f"targets:     {targets}")
    if body:
        lines.append(f"stdin data:  {len(body.encode())} bytes from the cell body")
    if background and not frontend:  # --bg under nbclient: a named run, out of the cells
        how = "starts a named run in the background (its output: %orch logs NAME)"
    elif background:
        how = "returns at once with a live handle" + (" and a stdin box" if with_box else "")
    else:
        how = "blocks until the run ends" + ("" if frontend else " (no front-end stdin)")
    lines.append(f"in this cell: {how}")
    return "\n".join(lines)
