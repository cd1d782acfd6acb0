"""A copy's progress bar, a fleet's live table and a stdin box leave a line of text when they
end, and close every widget model they made: each open model is a comm the kernel and the
page keep for their life, and a runbook session piled up thousands (held-out tester: every
`%orch get` left 8, every fleet row a Layout and a style)."""

from __future__ import annotations

from typing import Any

from ipywidgets.widgets.widget import _instances
from jupyter_client.manager import start_new_kernel

from orch_magics.magics.frontend import close_widgets

#: Run first in the kernel: what a bar's test counts its widgets from.
COUNTING = ("from ipywidgets.widgets.widget import _instances\n"
            "from orch_magics.magics.transfer import WidgetBar\n"
            "before = set(_instances)\n")


def in_kernel(kernel_name: str, code: str, status: str = "ok"
              ) -> tuple[str, list[dict[str, Any]]]:
    """Run `code` in a fresh real kernel: what it printed, and the data of what it displayed
    (`display_data` and `update_display_data`, in order)."""
    said: list[dict[str, Any]] = []
    km, kc = start_new_kernel(kernel_name=kernel_name)
    try:
        reply = kc.execute_interactive(code, timeout=60, output_hook=said.append)
        assert reply["content"]["status"] == status, said
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    printed = "".join(m["content"].get("text", "") for m in said
                      if m["header"]["msg_type"] == "stream")
    return printed, [m["content"]["data"] for m in said
                     if m["header"]["msg_type"] in ("display_data", "update_display_data")]


def test_a_finished_copy_bar_leaves_no_widget_open(orch_kernel: str) -> None:
    """In a real kernel (the bar updates its display through the kernel's session)."""
    text, kept = in_kernel(orch_kernel, COUNTING + (
        "bar = WidgetBar(get_ipython())\n"
        "bar.start('web: 1 target', 10); bar.update(10)\n"
        "made = len(set(_instances) - before)\n"
        "print('while', bar.text.value)\n"  # browser18: the label went at the first update
        "bar.finish(True)\n"
        "print('made', made, 'open', len(set(_instances) - before))"))
    assert text.startswith("while web: 1 target: 10 B / 10 B\n"), text
    made = int(text.splitlines()[1].split()[1])
    assert made >= 3 and text.splitlines()[1].split()[2:] == ["open", "0"], text
    assert kept[-1]["text/plain"] == "web: 1 target: 10 B / 10 B ✓", kept
    assert "application/vnd.jupyter.widget-view+json" in kept[0], kept  # the bar, once started


def test_a_copy_that_failed_somewhere_says_failed_not_that_nothing_was_copied(
        orch_kernel: str) -> None:
    """browser16: a fleet get where 1 target of 30 failed left `web: 30 targets: 87 B ✗ not
    copied` above `29 ok, 1 failed`, as if no target had the file."""
    _, kept = in_kernel(orch_kernel, COUNTING + (
        "bar = WidgetBar(get_ipython())\n"
        "bar.start('web: 30 targets', None); bar.update(87)\n"
        "bar.finish(False)\n"))
    assert kept[-1]["text/plain"] == "web: 30 targets: 87 B ✗ failed", kept


def test_a_copy_refused_before_it_started_leaves_no_bar_line(orch_kernel: str) -> None:
    """`copy: 0 B ✗ not copied` above the error that says why was noise (held-out tester), and
    the widgets of a bar never shown stayed open (the kernel has a front end here: a bar)."""
    text, kept = in_kernel(orch_kernel, COUNTING + (
        "%orch load --demo\n"
        "try:\n"
        "    %orch get local /nonexistent/file.bin /tmp/orch-not-kept\n"
        "finally:\n"
        "    print('open', len(set(_instances) - before))"), status="error")
    assert kept == [], kept  # not even an empty line where the bar would have been
    assert text.endswith("\nopen 0\n"), text


def test_closing_a_tree_closes_its_children_layouts_and_styles() -> None:
    import ipywidgets

    before = set(_instances)
    tree = ipywidgets.VBox([ipywidgets.HBox([ipywidgets.Textarea(), ipywidgets.Button()]),
                            ipywidgets.HTML("x"), ipywidgets.Accordion([ipywidgets.Output()])])
    assert len(set(_instances) - before) > 10
    close_widgets(tree)
    assert set(_instances) - before == set()
