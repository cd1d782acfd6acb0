"""A label fleet in JupyterLab (headless Chromium): its targets are known only once the engine
has said which containers carry the label, so its live table starts with none and gets its rows
then, whether the cell waits for the fleet or started it in the background (`--bg`, whose rows
come from the kernel's loop once the cell has ended). fleets10 F2: the cell stayed silent,
and `--bg` held the kernel, until every host's containers were found."""

from __future__ import annotations

import pytest

from fixtures.dockerd import Engine
from lab import browse_notebook, save_notebook

pytestmark = pytest.mark.browser

NAMES = ["tagged-a", "tagged-b", "tagged-c"]


def test_a_label_fleet_table_gets_its_rows_once_the_containers_are_found(
        jupyterlab, chromium, artifacts, dockerd: Engine) -> None:
    cfg = jupyterlab.root / "label.yaml"
    cfg.write_text(
        f"environments:\n  apps:\n    layers:\n      - {{type: docker, config: {{label: "
        f"orch.browser=label, docker_host: '{dockerd.host}'}}}}\n"
        "services:\n  steps: {command: 'for i in 1 2 3 4; do echo step-$i; sleep 0.5; done; "
        "hostname'}\n")
    save_notebook(jupyterlab, "label.ipynb", f"%orch load {cfg}", "%orch apps steps",
                  "%orch apps steps --bg --name b")
    with dockerd.labelled({"orch.browser": "label"}, NAMES), \
            browse_notebook(chromium, jupyterlab, "label.ipynb", "loaded 1 environment(s)",
                            height=1400, screenshot=artifacts / "fleet-label.png") as (_, cells,
                                                                                       run):
        for index in (1, 2):
            run(index)
            table = cells.nth(index).locator(".orch-fleet")
            table.filter(has_text="3 running").wait_for(timeout=30_000)  # live, with its rows
            headers = cells.nth(index).locator(".jupyter-widget-Collapse-header")
            for name in NAMES:  # titled at the refresh after the sections came
                headers.filter(has_text=name).wait_for(timeout=30_000)
            assert headers.count() == 3
            table.filter(has_text="3 targets: 3 ok").wait_for(timeout=30_000)
            rows = table.locator("tbody tr")
            assert rows.count() == 3
            for name in NAMES:  # each row's last line: the container's own name
                assert f"{name} · {name}" in rows.filter(has_text=name).inner_text()
