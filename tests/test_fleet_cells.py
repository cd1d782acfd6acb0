"""Fleet cells on the real orch kernel driven as JupyterLab drives it, on real sshd targets.

- A fleet's rows show `--tail N` lines of their target (else `Orch.tail`), after a note of how
  many earlier lines they leave out, as a single run's cell does. Every row showed its last 20
  lines whatever was asked, with no word of the 80 before them.
- A `--bg` fleet's cell names the fleet it started: run again, it started `NAME-1` and named
  only the old one, whose `%orch stop` left the new fleet running.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from fixtures.fleet import SSHFleet
from lab_kernel import LabKernel, lab_kernel

pytestmark = pytest.mark.ssh


def row_lines(kernel: LabKernel, cell: str, label: str) -> list[str]:
    """The lines the cell's final fleet table shows when the row of `label` is opened."""
    tables = [out["data"]["text/html"] for out in kernel.outputs[cell]
              if "orch-fleet" in out.get("data", {}).get("text/html", "")]
    assert len(tables) == 1, kernel.outputs[cell]
    found = re.search(rf"<summary[^>]*><span[^>]*>{re.escape(label)}</span>.*?</summary>"
                      rf"(.*?)</details>", tables[0], re.S)
    assert found is not None, tables[0]
    return html.unescape(re.sub(r"<[^>]+>", "", found[1])).splitlines()


def config(fleet: SSHFleet, where: Path) -> Path:
    cfg = where / "fleet.yaml"
    cfg.write_text(fleet.config_yaml("services:\n  tick: {command: 'sleep 60'}\n"))
    return cfg


def test_rows_show_the_tail_asked_for_and_say_what_they_hide(
        orch_kernel: str, ssh_fleet: SSHFleet, tmp_path: Path) -> None:
    cfg = config(ssh_fleet, tmp_path)
    numbers = [str(i) for i in range(1, 101)]
    with lab_kernel(orch_kernel) as kernel:
        assert kernel.run("load", f"%orch load {cfg}")["status"] == "ok"
        kernel.run("three", "%%orch web --limit 127.0.1.1 --tail 3\nseq 1 100")
        assert row_lines(kernel, "three", "127.0.1.1") == [
            "… 97 earlier lines hidden (all kept in the result)", "98", "99", "100"]
        kernel.run("sixty", "%%orch web --limit 127.0.1.1,127.0.1.2 --tail 60\nseq 1 100")
        shown = row_lines(kernel, "sixty", "127.0.1.2")
        assert shown == ["… 40 earlier lines hidden (all kept in the result)", *numbers[40:]]
        kernel.run("few", "%%orch web --limit 127.0.1.1\nseq 1 5")  # Orch.tail (40): all shown
        assert row_lines(kernel, "few", "127.0.1.1") == numbers[:5]
        kernel.run("huge", "%%orch web --limit 127.0.1.1 --tail 100000\nseq 1 1500")
        assert row_lines(kernel, "huge", "127.0.1.1") == [  # a row shows 1,000 at most
            "… 500 earlier lines hidden (all kept in the result)",
            *(str(i) for i in range(501, 1501))]
        kernel.run("none", "%config Orch.tail = 0")  # and a --bg fleet: a named one
        kernel.run("bg", "%%orch web --limit 127.0.1.1 --bg --out b\nseq 1 100")
        kernel.run("wait", "b.wait(30)")
        kernel.drain(0.5)
        assert row_lines(kernel, "bg", "127.0.1.1") == [
            "… 100 earlier lines hidden (all kept in the result)"]
        kernel.run("all", "print(len(b.result()['127.0.1.1'].lines))")
        assert kernel.text("all") == "100\n"


def test_a_bg_fleet_cell_names_the_fleet_it_started(orch_kernel: str, ssh_fleet: SSHFleet,
                                                    tmp_path: Path) -> None:
    cfg = config(ssh_fleet, tmp_path)
    with lab_kernel(orch_kernel) as kernel:
        assert kernel.run("load", f"%orch load {cfg}")["status"] == "ok"
        kernel.run("bg", "%orch web tick --bg --limit '127.0.1.[1-2]'")
        assert "started in the background as tick: %orch stop tick stops every target\n" \
            in kernel.text("bg")
        kernel.run("bg", "%orch web tick --bg --limit '127.0.1.[1-2]'")
        said = kernel.text("bg")
        assert said.startswith("tick, started when this cell last ran, is still running")
        assert "started in the background as tick-1: %orch stop tick-1 stops every " \
               "target\n" in said, said
        kernel.run("stop", "%orch stop tick\n%orch stop tick-1")
        kernel.run("ps", "%orch ps")
        assert "running" not in kernel.text("ps"), kernel.text("ps")


WIDGET = "application/vnd.jupyter.widget-view+json"


def test_a_fleet_cell_saved_while_it_runs_says_what_it_was_doing(
        orch_kernel: str, ssh_fleet: SSHFleet, tmp_path: Path) -> None:
    """A saved notebook keeps a widget only as "model not found" in JupyterLab (its text/plain
    is never shown): the live table was the whole cell, so nothing said what the fleet did."""
    cfg = config(ssh_fleet, tmp_path)
    with lab_kernel(orch_kernel) as kernel:
        assert kernel.run("load", f"%orch load {cfg}")["status"] == "ok"
        kernel.run("bg", "%orch web tick --bg --name beat --limit '127.0.1.[1-2]'")
        kernel.drain(0.5)
        saved = [out["data"] for out in kernel.outputs["bg"] if out["type"] == "display_data"]
        readable = [data for data in saved if WIDGET not in data]  # what a reopened cell shows
        said = " ".join(data.get("text/plain", "") for data in readable)
        assert re.search(r"\[web · beat · 2 targets: 2 running · \d+\.\ds\]", said), saved
        assert any("2 targets: 2 running" in data.get("text/html", "") for data in readable)
        kernel.run("stop", "%orch stop beat")
        kernel.drain(0.5)
        ended = [out["data"] for out in kernel.outputs["bg"] if out["type"] == "display_data"]
        assert not any(WIDGET in data for data in ended)  # the table is static HTML now
        assert [data for data in ended if "2 targets: 2 stopped" in data.get("text/html", "")]
        assert "running" not in " ".join(d.get("text/plain", "") for d in ended)


def test_a_fleet_cell_that_fails_still_sets_out_and_underscore(
        orch_kernel: str, ssh_fleet: SSHFleet, tmp_path: Path) -> None:
    """docs/magics.md: a failed blocking run raises, "`--out` is set first, and `_` holds the
    result". A fleet's cell raised before either was set, although its error points at "the
    FleetResult" and `.failed.rerun()` (browser tester D2)."""
    cfg = config(ssh_fleet, tmp_path)
    with lab_kernel(orch_kernel) as kernel:
        assert kernel.run("load", f"%orch load {cfg}")["status"] == "ok"
        reply = kernel.run("fail", "%%orch web --limit '127.0.1.[1:3]' --out bf\n"
                                   "case $SSH_CONNECTION in *'127.0.1.2 '*) exit 4;; esac")
        assert reply["status"] == "error" and "1 failed" in kernel.text("fail")
        kernel.run("check", "print(type(bf).__name__, _ is bf, sorted(bf.failed))")
        assert kernel.text("check") == "FleetResult True ['127.0.1.2']\n"


def test_the_final_table_names_each_targets_audit_record(orch_kernel: str, ssh_fleet: SSHFleet,
                                                         tmp_path: Path) -> None:
    """`res` showed an audit column and the cell's own final table did not (review5): a saved
    notebook's table is what links a run to its record."""
    cfg = config(ssh_fleet, tmp_path)
    with lab_kernel(orch_kernel) as kernel:
        assert kernel.run("load", f"%orch load {cfg}")["status"] == "ok"
        kernel.run("run", "%%orch web --limit 127.0.1.1,127.0.1.2 --out r\necho hi")
        kernel.run("ids", "print(' '.join(r[t].audit_id for t in sorted(r)))")
        ids = kernel.text("ids").split()
        [table] = [out["data"]["text/html"] for out in kernel.outputs["run"]
                   if "orch-fleet" in out.get("data", {}).get("text/html", "")]
        assert len(ids) == 2 and ">audit</th>" in table, (ids, table)
        for label, audit_id in zip(("127.0.1.1", "127.0.1.2"), ids, strict=True):
            assert re.search(rf"<summary[^>]*><span[^>]*>{re.escape(label)}<.*?<td[^>]*>{audit_id}"
                             rf"</td></tr>", table, re.S), (label, table)


def test_a_long_cause_is_marked_cut_and_read_whole_in_its_row(
        orch_kernel: str, ssh_fleet: SSHFleet, tmp_path: Path) -> None:
    """browser9: a changed host key's cause was cut at 200 characters with no mark, and no
    part of the table held the rest, where its fix (`ssh-keygen … -R …`) is."""
    cfg = config(ssh_fleet, tmp_path)
    changed = ssh_fleet.changed_key_address
    with lab_kernel(orch_kernel) as kernel:
        assert kernel.run("load", f"%orch load {cfg}")["status"] == "ok"
        kernel.run("run", f"%%orch web --limit {changed} --no-raise-error\necho hi")
        [table] = [out["data"]["text/html"] for out in kernel.outputs["run"]
                   if "orch-fleet" in out.get("data", {}).get("text/html", "")]
        said = [html.unescape(c) for c in re.findall(r"<span class='orch-info[^>]*>(.*?)</span>",
                                                     table, re.S)]
        [cut] = [c for c in said if "CHANGED" in c]
        assert len(cut) == 200 and cut.endswith("…"), cut
        opened = " ".join(row_lines(kernel, "run", changed))
        assert "CHANGED" in opened and f"-R '[{changed}]:{ssh_fleet.port}'" in opened, opened


def test_a_file_mode_fleets_cell_says_where_each_targets_output_went(
        orch_kernel: str, ssh_fleet: SSHFleet, tmp_path: Path) -> None:
    """browser18: in JupyterLab every row of a file-mode fleet said 0 B and nothing said
    where the output went, nor a failed target's `.partial` (the CLI table did, 429ee97)."""
    cfg = tmp_path / "fleet.yaml"
    cfg.write_text(ssh_fleet.config_yaml(
        "services:\n  dump: {command: 'seq 1 1000; case \"$SSH_CONNECTION\" in "
        "*\" 127.0.1.2 \"*) exit 4;; esac', stdout_mode: file, "
        f"stdout_file: '{tmp_path}/out/dump.txt'}}\n"))
    with lab_kernel(orch_kernel) as kernel:
        assert kernel.run("load", f"%orch load {cfg}")["status"] == "ok"
        kernel.run("run", "%orch web dump --limit 127.0.1.[1:3] --no-raise-error")
        [table] = [out["data"]["text/html"] for out in kernel.outputs["run"]
                   if "orch-fleet" in out.get("data", {}).get("text/html", "")]
    assert f"<p>stdout of 2 targets written to {tmp_path}/out/&lt;label&gt;/dump.txt</p>" \
        in table, table
    assert (f"<p>stdout so far of 1 target kept in {tmp_path}/out/127.0.1.2/dump.txt.partial"
            f"</p>") in table, table
    assert table.count(">3.8 KiB</td>") == 3 and ">0 B</td>" not in table, table
