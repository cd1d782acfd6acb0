"""A fleet's stdin box in JupyterLab (headless Chromium), as a person uses it: the lines typed
show in the row of every target that got them, below the prompt that asked for them, and a
password typed while the targets ask for one shows as dots, in the field and in the rows."""

from __future__ import annotations

import pytest

from fixtures.fleet import SSHFleet
from lab import browse_notebook, save_notebook

pytestmark = pytest.mark.browser

SECRET = "s3cr3t-typed"
SERVICES = """\
services:
  ask: {command: 'printf "Password: "; read -r pw; echo "got ${#pw}"; read -r l; echo "R:$l"',
        stdin_mode: streaming}
"""
#: Each open row's output in the final table.
ROW_OUTPUT = "details pre"
#: Whether the live table's three rows each show `words` (its last line, in its title).
SAID_BY_EVERY_ROW = ("words => (document.querySelector('.orch-fleet').innerText"
                     ".split(words).length - 1) === 3")


def test_a_fleet_box_shows_each_line_in_the_rows_it_reached_and_a_password_as_dots(
        jupyterlab, chromium, artifacts, ssh_fleet: SSHFleet) -> None:
    cfg = jupyterlab.root / "fleet-ask.yaml"
    cfg.write_text(ssh_fleet.config_yaml(SERVICES))
    save_notebook(jupyterlab, "fleet-ask.ipynb", f"%orch load {cfg}",
                  "f = %orch web ask --limit 127.0.1.[1-3]")
    with browse_notebook(chromium, jupyterlab, "fleet-ask.ipynb", "loaded 1 environment(s)",
                         screenshot=artifacts / "fleet-box-echo.png") as (page, cells, run):
        run(1)
        cell = cells.nth(1)
        table = cell.locator(".orch-fleet")
        rows = table.locator("tbody tr")
        table.filter(has_text="3 running").wait_for(timeout=30_000)
        page.wait_for_function(  # every target asks: each row's last line is its prompt
            SAID_BY_EVERY_ROW, arg="Password:", timeout=30_000)
        field = cell.locator(".orch-stdin textarea")
        page.wait_for_function(
            "() => getComputedStyle(document.querySelector('.orch-stdin textarea'))"
            ".webkitTextSecurity === 'disc'", timeout=10_000)
        field.click()
        field.press_sequentially(SECRET)
        field.press("Enter")
        page.wait_for_function(SAID_BY_EVERY_ROW, arg="got 12", timeout=30_000)
        page.wait_for_function(  # asked no more: what is typed shows again
            "() => getComputedStyle(document.querySelector('.orch-stdin textarea'))"
            ".webkitTextSecurity !== 'disc'", timeout=10_000)
        field.press_sequentially("hello rows")
        field.press("Enter")
        table.filter(has_text="3 targets: 3 ok").wait_for(timeout=30_000)
        assert rows.count() == 3
        for i in range(3):
            row = rows.nth(i)
            row.locator("summary").click()
            shown = row.locator(ROW_OUTPUT)
            shown.wait_for(state="visible", timeout=10_000)
            lines = [line.strip() for line in shown.inner_text().splitlines()]
            assert lines[0] == "Password:"
            assert lines[1].startswith("› ········")
            assert lines[2:] == ["got 12", "› hello rows", "R:hello rows"]
        assert SECRET not in cell.inner_text()
