"""A fleet of 30 real sshd in JupyterLab (headless Chromium): one bounded live table that
updates while the targets run, rows that expand to a target's output (and stay open while it
runs), each failure's cause, and a stdin box that says it writes to every running target and
does; running its cell again stops the fleet it started."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from fixtures.fleet import SSHFleet
from lab import browse_notebook, save_notebook

pytestmark = pytest.mark.browser

N = 30
#: A line wider than the table's first column, as a log line is.
LONG = "the quick brown fox jumps over the lazy dog, then runs on past the barn, 80 chars"
SERVICES = """\
services:
  steps: {command: 'i=0; while [ $i -lt 8 ]; do echo step-$i; i=$((i+1)); sleep 0.5; done'}
  echo-in: {command: cat, stdin_mode: streaming}
  reader: {command: 'while IFS= read -r l; do echo "R:$l"; done', stdin_mode: streaming}
  mixed: {environment: {LONG: "LONG"}, command: 'case "$SSH_CONNECTION" in
    *"127.0.1.3 "*) echo bad >&2; exit 3;; *"127.0.1.5 "*) sleep 30;; esac; printf abc; sleep 0.5; printf "def\\n"; printf "\\303";
    sleep 0.3; printf "\\251t\\n"; printf "\\033[31mred\\033[0m\\n"; echo oops >&2;
    for i in 1 2 3; do printf "\\r%d%%" $i; sleep 0.2; done; echo; echo "$LONG"'}
""".replace('"LONG"', f'"{LONG}"')
#: What an open row of the live table shows of its target's output (its `<pre>`).
OPEN_OUTPUT = ".jupyter-widget-Collapse-open .jupyter-widget-Collapse-contents pre"


def test_live_table_rows_and_stdin_box_for_thirty_targets(jupyterlab, chromium, artifacts,
                                                          ssh_fleet: SSHFleet) -> None:
    cfg = jupyterlab.root / "fleet.yaml"
    cfg.write_text(ssh_fleet.config_yaml(SERVICES))
    save_notebook(
        jupyterlab, "fleet.ipynb",
        f"%orch load {cfg}",
        "r = %orch web steps --no-raise-error",
        "fed = %orch web echo-in --limit 127.0.1.[1-5]",
        "res = fed.wait(30)\nprint('FED', sorted({v.stdout for v in res.values()}), len(res))",
    )
    shot = artifacts / "fleet-browser.png"
    with browse_notebook(chromium, jupyterlab, "fleet.ipynb", "loaded 1 environment(s)",
                         height=1400, screenshot=shot) as (page, cells, run):
        run(1)
        table = cells.nth(1).locator(".orch-fleet")
        # the table updates in place while targets run (counts in its title)
        table.filter(has_text="running").wait_for(timeout=30_000)
        table.filter(has_text=f"{N} targets: {N - 1} ok, 1 failed").wait_for(timeout=60_000)
        assert table.count() == 1  # one display, not one output per target
        rows = table.locator("tbody tr")
        assert rows.count() == N
        failed = rows.filter(has_text="127.0.1.30")
        assert "failed" in failed.inner_text()
        row = rows.filter(has_text="127.0.1.7")
        assert "step-7" in row.inner_text()  # the last line column
        row.locator("summary").click()  # expand: that target's own lines
        shown = row.locator("details pre")
        shown.wait_for(state="visible", timeout=10_000)
        assert shown.inner_text().splitlines() == [f"step-{i}" for i in range(8)]
        # a streaming service opened with nothing to send: a box for every running target
        run(2)
        box = cells.nth(2).locator(".orch-stdin textarea")
        box.wait_for(timeout=30_000)
        assert "every running target" in box.get_attribute("placeholder")
        fed = cells.nth(2).locator(".orch-fleet")
        fed.filter(has_text="5 running").wait_for(timeout=30_000)
        box.click()
        box.press_sequentially("hello fleet")
        box.press("Enter")
        page.wait_for_function(
            "() => document.querySelector('.orch-stdin textarea').value === ''", timeout=10_000)
        cells.nth(2).locator(".orch-eof").click()
        fed.filter(has_text="5 targets: 5 ok").wait_for(timeout=30_000)
        cells.nth(2).get_by_text("closed, 1 line sent from the box").wait_for(timeout=20_000)
        run(3)
        out = cells.nth(3).locator(".jp-OutputArea-output").filter(has_text="FED")
        out.wait_for(timeout=30_000)
        assert "FED ['hello fleet\\n'] 5" in out.inner_text()


def test_a_row_opened_while_the_fleet_runs_stays_open_and_shows_its_output(
        jupyterlab, chromium, artifacts, ssh_fleet: SSHFleet) -> None:
    """The table was HTML re-published 10×/s: an opened row closed again within 0.1 s, so no
    target's output could be read while the fleet ran. The line form shows one table, not
    the live one and then the FleetResult's."""
    cfg = jupyterlab.root / "fleet-open.yaml"
    cfg.write_text(ssh_fleet.config_yaml(SERVICES))
    save_notebook(jupyterlab, "fleet-open.ipynb", f"%orch load {cfg}",
                  "%orch web steps --limit '127.0.1.[1-9]'")
    with browse_notebook(chromium, jupyterlab, "fleet-open.ipynb", "loaded 1 environment(s)",
                         height=1400, screenshot=artifacts / "fleet-open.png") as (page, cells, run):
        run(1)
        cell = cells.nth(1)
        cell.locator(".orch-fleet").filter(has_text="9 running").wait_for(timeout=30_000)
        cell.locator(".jupyter-widget-Collapse-header").filter(has_text="127.0.1.7").click()
        seen = []
        for _ in range(15):  # 1.5 s: 15 refreshes of the table, 3 new lines of the target
            shown = cell.locator(OPEN_OUTPUT)
            seen.append(shown.inner_text(timeout=1_000) if shown.count() == 1 else None)
            time.sleep(0.1)
        assert None not in seen, seen
        assert seen[0].startswith("step-0") and len(seen[-1]) > len(seen[0]), seen
        assert "running" in cell.locator(".orch-fleet").inner_text()  # still going
        final = cell.locator(".orch-fleet").filter(has_text="9 targets: 9 ok")
        final.wait_for(timeout=30_000)
        assert cell.locator("table").count() == 1  # no second table as the cell's value
        assert cell.locator(".jp-OutputPrompt").filter(has_text="Out").count() == 0


def test_the_table_shows_each_cause_and_output_as_one_run_shows_it(
        jupyterlab, chromium, artifacts, ssh_fleet: SSHFleet) -> None:
    """Why each target failed (exit 3 and its stderr, a timeout, a changed host key), stderr
    lines in a row's output, and lines as a single run shows them: one line written in two
    pieces, a character split across writes, colours, `\\r` rewriting the line; a --limit
    matching nothing leaves no "fleet starting…" behind."""
    cfg = jupyterlab.root / "fleet-why.yaml"
    cfg.write_text(ssh_fleet.config_yaml(SERVICES))
    save_notebook(jupyterlab, "fleet-why.ipynb", f"%orch load {cfg}",
                  "r = %orch web mixed --no-raise-error --timeout 4 "
                  "--limit '127.0.1.[1-5],127.0.1.30'",
                  "%%orch web --limit nomatch\necho x")
    with browse_notebook(chromium, jupyterlab, "fleet-why.ipynb", "loaded 1 environment(s)",
                         height=1400, screenshot=artifacts / "fleet-why.png") as (page, cells, run):
        run(1)
        cell = cells.nth(1)
        live = cell.locator(".jupyter-widget-Collapse-header").filter(has_text="127.0.1.3")
        live.filter(has_text="exit 3: bad").wait_for(timeout=30_000)  # while the others run
        table = cell.locator(".orch-fleet").filter(has_text="6 targets: 3 ok, 3 failed")
        table.wait_for(timeout=60_000)

        def row(label: str) -> Any:
            return table.locator("tbody tr").filter(has=page.get_by_text(label, exact=True))

        failed = row("127.0.1.3")
        assert "exit 3: bad" in failed.inner_text()
        assert re.search(r"timed out after 4\.\ds", row("127.0.1.5").inner_text())
        assert "-2" not in row("127.0.1.5").inner_text()
        assert "host key" in row("127.0.1.30").inner_text()
        failed.locator("summary").click()
        assert failed.locator("details pre").inner_text() == "bad"  # stderr reaches the row
        ok = row("127.0.1.2")
        ok.locator("summary").click()
        output = ok.locator("details pre")
        assert output.inner_text().splitlines() == ["abcdef", "ét", "red", "oops", "3%", LONG]
        # browser11/12: the opened output has the table's widest column (in the label's narrow
        # one, an 80-character line took 3 lines, or 10 in a narrow window), and no other cell
        # of the row is drawn over it
        box = output.evaluate("e => e.getBoundingClientRect().toJSON()")
        table_box = table.locator("table").evaluate("e => e.getBoundingClientRect().toJSON()")
        assert box["width"] > 0.45 * table_box["width"], (box, table_box)
        lines = output.evaluate("e => e.getBoundingClientRect().height / "
                                "parseFloat(getComputedStyle(e).lineHeight)")
        assert round(lines) in (6, 7), lines
        for cell in ok.locator("td").all()[1:]:
            other = cell.evaluate("e => e.getBoundingClientRect().toJSON()")
            assert other["left"] >= box["right"] - 1 or other["bottom"] <= box["top"] + 1
        assert output.locator(".ansi-red-fg").inner_text() == "red"
        run(2)
        cells.nth(2).get_by_text("matches no target").wait_for(timeout=30_000)
        assert "fleet starting" not in cells.nth(2).inner_text()


def test_running_a_fleet_box_cell_again_stops_the_fleet_it_started(
        jupyterlab, chromium, artifacts, ssh_fleet: SSHFleet) -> None:
    """A fleet opened for its stdin box is recorded with its cell, as a single run is: running
    the cell again stops it and says so; its handle shows nothing under the live table."""
    cfg = jupyterlab.root / "fleet-again.yaml"
    cfg.write_text(ssh_fleet.config_yaml(SERVICES))
    save_notebook(jupyterlab, "fleet-again.ipynb", f"%orch load {cfg}",
                  "%orch web reader --limit '127.0.1.[1-3]'", "%orch stop reader")

    def readers() -> int:
        return len([p for p in ssh_fleet.session_processes() if "read -r l" in p])

    with browse_notebook(chromium, jupyterlab, "fleet-again.ipynb", "loaded 1 environment(s)",
                         height=1400, screenshot=artifacts / "fleet-again.png") as (page, cells, run):
        run(1)
        cell = cells.nth(1)
        cell.locator(".orch-fleet").filter(has_text="3 running").wait_for(timeout=30_000)
        box = cell.locator(".orch-stdin textarea")
        box.wait_for(timeout=30_000)
        assert "the EOF button ends the input" in box.get_attribute("placeholder")  # not Ctrl-D
        assert "LiveFleet" not in cell.inner_text()
        run(1)
        cell.get_by_text("stopped reader, the run this cell started when it last ran").wait_for(
            timeout=30_000)
        cell.locator(".orch-fleet").filter(has_text="3 running").wait_for(timeout=30_000)
        deadline = time.monotonic() + 10
        while readers() != 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert readers() == 3  # the new fleet's only
        run(2)
        cell.locator(".orch-fleet").filter(has_text="3 targets: 3 stopped").wait_for(
            timeout=30_000)


def test_a_fleet_results_table_reads_left_to_right_within_the_output(
        jupyterlab, chromium, artifacts, ssh_fleet: SSHFleet) -> None:
    """browser13: a FleetResult shown as a cell's value was a bare table JupyterLab right-
    aligned; a long cause squeezed the last line to a word a line and pushed the audit
    column out of the output (its header read `audi`)."""
    cfg = jupyterlab.root / "fleet-result.yaml"
    cfg.write_text(ssh_fleet.config_yaml(SERVICES))
    save_notebook(jupyterlab, "fleet-result.ipynb", f"%orch load {cfg}",
                  "r = %orch web mixed --limit '127.0.1.[1:4]' --no-raise-error --timeout 5",
                  "r")
    with browse_notebook(chromium, jupyterlab, "fleet-result.ipynb", "loaded 1 environment(s)",
                         height=1400, screenshot=artifacts / "fleet-result.png") as (page, cells,
                                                                                     run):
        run(1)
        cells.nth(1).locator(".orch-fleet").filter(has_text="4 targets:").wait_for(
            timeout=60_000)
        run(2)
        table = cells.nth(2).locator(".orch-fleet table")
        table.wait_for(timeout=30_000)
        fits = table.evaluate("t => t.scrollWidth <= t.closest('.jp-OutputArea-output')"
                              ".clientWidth + 1")
        aligned = table.evaluate("t => [...t.querySelectorAll('td, th')].every("
                                 "c => getComputedStyle(c).textAlign === 'left')")
        audit = table.locator("th").last
        assert fits and aligned, (fits, aligned)
        assert audit.inner_text() == "audit" and audit.evaluate(
            "h => h.scrollWidth <= h.clientWidth + 1")
        assert table.locator("tbody tr").count() == 4
        # notebook14: at 500 px each long column kept a character a line; it scrolls instead
        page.set_viewport_size({"width": 500, "height": 1400})
        for first in (table.locator("th").first,
                      cells.nth(1).locator(".orch-fleet table th").first):
            assert first.evaluate("h => h.getBoundingClientRect().width") > 100
