"""The %orch magic on a fleet of 30 real sshd, executed by nbclient on the real orch kernel:
labelled `label | line` output and the summary table as text, a cell body sent to every
target, named fleets (%orch start / ps / logs / stop) and a kernel interrupt that leaves no
process on any target."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import start_new_kernel

from fixtures.fleet import SSHFleet
from notebook_cells import cell_text, notebook_with, run_notebook, shown_error, stream_text

N = 30
SERVICES = """\
services:
  who: {command: 'echo "$SSH_CONNECTION" | cut -d" " -f3'}
  echo-in: {command: cat, stdin_mode: streaming}
  ticker: {command: 'echo up; while :; do sleep 0.3; echo tick; done'}
  sleepy: {command: 'sleep 60'}
  both: {command: 'echo o1; echo e1 >&2; sleep 0.3; echo o2; echo e2 >&2; exit 5'}
  fifty: {command: 'seq 1 50'}
"""


def write_config(fleet: SSHFleet, where: Path) -> Path:
    cfg = where / "fleet.yaml"
    cfg.write_text(fleet.config_yaml(SERVICES))
    return cfg


def sleeping(fleet: SSHFleet) -> list[str]:
    return [p for p in fleet.session_processes() if "sleep" in p]


def assert_none_left(fleet: SSHFleet) -> None:
    """No process of the test user on any target (sshd may take a moment to reap them)."""
    deadline = time.monotonic() + 5
    while sleeping(fleet) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sleeping(fleet) == []


def test_labelled_lines_summary_table_and_stdin_to_every_target(
        orch_kernel: str, ssh_fleet: SSHFleet, tmp_path: Path) -> None:
    cfg = write_config(ssh_fleet, tmp_path)
    nb = notebook_with(
        f"%orch load {cfg}",
        "%orch web who --no-raise-error --out r",
        "print('RESULT', type(r).__name__, len(r), len(r.succeeded), r.states['127.0.1.30'])",
        f"%%orch web echo-in --limit !127.0.1.{N} --out fed\nline one\nline two",
        "print('FED', sorted({v.stdout for v in fed.values()}), len(fed))",
    )
    run_notebook(nb, orch_kernel, timeout=120)
    out = stream_text(nb.cells[1])
    labelled = re.findall(r"^(127\.0\.1\.\d+) \| (\S+)$", out, re.M)
    assert sorted(labelled) == sorted((f"127.0.1.{i}", f"127.0.1.{i}") for i in range(1, N))
    table = out[out.index("TARGET"):]  # the summary table comes after every labelled line
    assert re.search(r"^127\.0\.1\.30 +failed .*host key", table, re.M)
    assert re.search(r"^127\.0\.1\.7 +ok +0 ", table, re.M)
    assert table.rstrip().endswith(f"{N} targets: {N - 1} ok, 1 failed")
    assert stream_text(nb.cells[2]) == f"RESULT FleetResult {N} {N - 1} failed\n"
    assert stream_text(nb.cells[4]) == f"FED ['line one\\nline two\\n'] {N - 1}\n"
    assert stream_text(nb.cells[3]).count("| line two") == N - 1



def test_labelled_stderr_lines_come_before_the_summary_table(
        orch_kernel: str, ssh_fleet: SSHFleet, tmp_path: Path) -> None:
    """Under nbclient the last stderr lines landed after the table (held-out tester fleets8):
    a kernel sends each stream's buffer on its own, and nothing flushed stderr."""
    nb = notebook_with(f"%orch load {write_config(ssh_fleet, tmp_path)}",
                       "%orch web both --limit '127.0.1.[1:3]' --no-raise-error",
                       "%orch web both --limit '127.0.1.[1:3]' --no-raise-error --parallel 1")
    run_notebook(nb, orch_kernel, timeout=120)
    for cell in nb.cells[1:]:
        said = [(o["name"], o["text"]) for o in cell.outputs if o["output_type"] == "stream"]
        table = next(i for i, (_, text) in enumerate(said) if "TARGET" in text)
        assert [name for name, _ in said[table:]] == ["stdout"], said
        assert "".join(text for name, text in said if name == "stderr").count("| e2") == 3
        # fleets10: the cell's value showed the same table again, as HTML
        assert [o["output_type"] for o in cell.outputs if o["output_type"] != "stream"] == []

def test_named_fleet_from_the_magic(orch_kernel: str, ssh_fleet: SSHFleet,
                                    tmp_path: Path) -> None:
    cfg = write_config(ssh_fleet, tmp_path)
    nb = notebook_with(
        f"%orch load {cfg}",
        f"beat = %orch start web ticker --name beat --limit !127.0.1.{N}",
        "import time\n"  # every target has written its first line
        f"while sum(r.bytes > 0 for r in beat.fleet.rows.values()) < {N - 1}:\n"
        "    time.sleep(0.05)",
        "%orch ps",
        "%orch logs beat -n 5",
        "%orch stop beat",
        "print('STOPPED', _.summary())",
        "%orch logs beat -f -n 0",
    )
    run_notebook(nb, orch_kernel, timeout=120)
    assert "started beat" in stream_text(nb.cells[1])
    ps = stream_text(nb.cells[3])
    assert re.search(rf"^beat +web +ticker +fleet: {N - 1} running", ps, re.M), ps
    tail = stream_text(nb.cells[4]).splitlines()
    assert len(tail) == 5 and all(re.match(r"127\.0\.1\.\d+ \| (up|tick)$", t) for t in tail)
    assert stream_text(nb.cells[6]) == f"STOPPED {N - 1} targets: {N - 1} stopped\n"
    assert stream_text(nb.cells[7]) == ""  # follows a fleet that is over: ends at once
    assert_none_left(ssh_fleet)


def test_kernel_interrupt_with_thirty_targets_running_leaves_no_process(
        orch_kernel: str, ssh_fleet: SSHFleet, tmp_path: Path) -> None:
    cfg = write_config(ssh_fleet, tmp_path)
    km, kc = start_new_kernel(kernel_name=orch_kernel)
    try:
        kc.execute_interactive(f"%orch load {cfg}", timeout=60)
        msg_id = kc.execute("%orch web sleepy")
        deadline = time.monotonic() + 60
        while len(sleeping(ssh_fleet)) < N - 1:  # 29 running; the 30th failed (host key)
            assert time.monotonic() < deadline, ssh_fleet.session_processes()
            time.sleep(0.1)
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=60)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = kc.get_shell_msg(timeout=60)
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "FleetInterrupted"
        assert_none_left(ssh_fleet)  # the interrupted cell returned once every target ended
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.mark.parametrize("line", [
    "%orch web who --limit nothing*",
    "%orch start web who --limit nothing*",
])
def test_a_limit_matching_nothing_is_one_clear_line(orch_kernel: str, ssh_fleet: SSHFleet,
                                                     tmp_path: Path, line: str) -> None:
    cfg = write_config(ssh_fleet, tmp_path)
    nb = notebook_with(f"%orch load {cfg}", line)
    run_notebook(nb, orch_kernel, timeout=60, allow_errors=True)
    text = stream_text(nb.cells[1], "stderr")
    assert text.startswith("UsageError: limit pattern 'nothing*' matches no target"), text
    assert len(text.splitlines()) == 1 and stream_text(nb.cells[1]) == ""  # nothing "started"


def test_a_background_fleet_is_a_named_run_under_nbclient(orch_kernel: str, ssh_fleet: SSHFleet,
                                                         tmp_path: Path) -> None:
    """`--bg --name` on a fleet (cell and line forms): one `ps` row each, `logs` and `stop`
    know it, and the cell says so in one line. It was nameless: nothing could stop it."""
    cfg = write_config(ssh_fleet, tmp_path)
    nb = notebook_with(
        f"%orch load {cfg}",
        "%%orch web --bg --name fb --limit 127.0.1.1,127.0.1.2 --out fbl\necho s; sleep 4321",
        "%orch web ticker --bg --limit 127.0.1.3,127.0.1.4 --out tk",
        "import time\n"
        "while sum(r.bytes > 0 for f in (fbl, tk) for r in f.fleet.rows.values()) < 4:\n"
        "    time.sleep(0.05)",
        "%orch ps",
        "%orch logs fb",
        "%orch stop fb",
        "%orch stop ticker",
        "%orch ps",
    )
    run_notebook(nb, orch_kernel, timeout=120)
    assert stream_text(nb.cells[1]) == ("started in the background as fb: %orch logs fb shows "
                                        "its output, %orch stop fb stops every target\n")
    assert stream_text(nb.cells[2]) == (  # the service's name when no --name is given
        "started in the background as ticker: %orch logs ticker shows its output, "
        "%orch stop ticker stops every target\n")
    # basics13: the line form also showed its handle, `<LiveFleet … as of …>`, stale once saved
    assert [o["output_type"] for o in nb.cells[2].outputs] == ["stream"], nb.cells[2].outputs
    ps = stream_text(nb.cells[4])
    assert re.search(r"^fb +web +\S+ +fleet: 2 running", ps, re.M), ps
    assert re.search(r"^ticker +web +ticker +fleet: 2 running", ps, re.M), ps
    assert sorted(stream_text(nb.cells[5]).splitlines()) == ["127.0.1.1 | s", "127.0.1.2 | s"]
    assert "2 targets: 2 stopped" in cell_text(nb.cells[6])
    assert "2 targets: 2 stopped" in cell_text(nb.cells[7])
    assert_none_left(ssh_fleet)  # `sleep 4321` and the tickers: gone with `stop`
    assert re.search(r"^fb +web +\S+ +fleet: 2 stopped", stream_text(nb.cells[8]), re.M)


def in_front_end(kc: Any, code: str) -> tuple[str, str]:
    """Execute `code` as JupyterLab does (stdin allowed): its status and what it printed. (A
    live fleet table updates for as long as the fleet runs: IOPub is never quiet.)"""
    msg_id = kc.execute(code, allow_stdin=True)
    reply = kc.get_shell_msg(timeout=60)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=60)
    text = []
    while True:
        msg = kc.get_iopub_msg(timeout=30)
        kind, content = msg["header"]["msg_type"], msg["content"]
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if kind == "status" and content["execution_state"] == "idle":
            return reply["content"]["status"], "".join(text)
        if kind == "stream":
            text.append(content["text"])


def test_a_background_fleet_is_a_named_run_in_a_front_end(orch_kernel: str, ssh_fleet: SSHFleet,
                                                         tmp_path: Path) -> None:
    """As JupyterLab runs it: --bg --name, and a streaming service opened with nothing to
    send (it returns at once with a stdin box), are named runs too."""
    cfg = write_config(ssh_fleet, tmp_path)
    km, kc = start_new_kernel(kernel_name=orch_kernel)
    try:
        assert in_front_end(kc, f"%orch load {cfg}")[0] == "ok"
        assert in_front_end(kc, "%%orch web --bg --name fb2 --limit 127.0.1.5,127.0.1.6\n"
                                "echo s; sleep 4321")[0] == "ok"
        assert in_front_end(kc, "%orch web echo-in --limit 127.0.1.7")[0] == "ok"
        status, ps = in_front_end(kc, "%orch ps")
        assert re.search(r"^fb2 +web +\S+ +fleet: (2 (running|starting|queued)|1 (running|"
                         r"starting|queued), 1 (running|starting|queued))", ps, re.M), ps
        assert re.search(r"^echo-in +web +echo-in +fleet: 1 (running|starting|queued)", ps, re.M), ps
        assert in_front_end(kc, "%orch stop fb2\n%orch stop echo-in")[0] == "ok"
        status, ps = in_front_end(kc, "%orch ps")
        assert re.search(r"^fb2 +web +\S+ +fleet: 2 stopped", ps, re.M), ps
        assert_none_left(ssh_fleet)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.mark.parametrize("way", ["get", "put"])
def test_a_fleet_copy_that_failed_on_a_target_fails_the_cell(orch_kernel: str,
                                                            ssh_fleet: SSHFleet,
                                                            tmp_path: Path, way: str) -> None:
    """A fleet get/put that failed on every target printed its summary and returned: Run All
    and papermill went on to cells that used files that were not there, where a failed
    one-target copy or fleet run stops the runbook (held-out tester)."""
    cfg = write_config(ssh_fleet, tmp_path)
    (tmp_path / "src").write_text("data")
    line = (f"%orch get web /nonexistent-s7 {tmp_path}/got" if way == "get" else
            f"%orch put web {tmp_path}/src /nonexistent-s7/dir/x")
    nb = notebook_with(f"%orch load {cfg}", f"{line} --limit '127.0.1.[2:3]'",
                       "print(type(_).__name__, _.ok, sorted(_.failed))")
    run_notebook(nb, orch_kernel, timeout=120, allow_errors=True)
    said = shown_error(nb.cells[1])
    assert said == (f"TransferError: {way} on 2 targets of web: 0 ok, 2 failed (`_` is the "
                    f"FleetCopied: .failed says why, target by target)\n"), said
    assert stream_text(nb.cells[2]) == "FleetCopied False ['127.0.1.2', '127.0.1.3']\n"


def test_a_headless_fleets_elision_note_names_where_its_output_is(
        orch_kernel: str, ssh_fleet: SSHFleet, tmp_path: Path) -> None:
    """notebook4: the note said "every byte is in the FleetResult", where a single run's
    names its --out variable."""
    cfg = write_config(ssh_fleet, tmp_path)
    nb = notebook_with(f"%orch load {cfg}", "%config Orch.headless_lines = 10",
                       "%%orch web --limit 127.0.1.1,127.0.1.2 --out big\nseq 1 50",
                       "%%orch web --limit 127.0.1.1\nseq 1 50",
                       "r = %orch web fifty --limit 127.0.1.1",
                       "print(len(big['127.0.1.2'].stdout.splitlines()))")
    run_notebook(nb, orch_kernel, timeout=120)
    notes = [[re.sub(r"/ \S+ \S+ elided", "/ SIZE elided", line)
              for line in stream_text(cell).splitlines() if "elided" in line]
             for cell in nb.cells[2:5]]
    assert notes == [["… 90 lines / SIZE elided; full output in `big` "
                      "(`big[LABEL].stdout`) (limit: %config Orch.headless_lines / "
                      "headless_bytes)"],
                     ["… 40 lines / SIZE elided; full output in `_` (`_[LABEL].stdout`) "
                      "(limit: %config Orch.headless_lines / headless_bytes)"],
                     ["… 40 lines / SIZE elided; full output in the returned FleetResult "
                      "(`[LABEL].stdout`) (limit: %config Orch.headless_lines / "
                      "headless_bytes)"]], notes
    assert stream_text(nb.cells[5]) == "50\n"


def test_each_target_s_first_error_line_stays_in_a_headless_fleet_cell(
        orch_kernel: str, ssh_fleet: SSHFleet, tmp_path: Path) -> None:
    """fleets23: past the head's share every line went to the tail, so a target's first
    stderr line that came after a flood was elided, where a single run always keeps it
    (docs/magics.md: `echo 'ERROR: bad config' >&2; seq 1 100000` shows its error)."""
    cfg = write_config(ssh_fleet, tmp_path)
    nb = notebook_with(f"%orch load {cfg}",
                       "%%orch web --limit 127.0.1.1 --no-raise-error\n"
                       "seq 1 3000; echo ERRLINE >&2; seq 1 3000 >&2",
                       "%%orch web --limit '127.0.1.[1:7]' --no-raise-error\n"
                       "echo 'ERROR: bad config' >&2; seq 1 20000")
    run_notebook(nb, orch_kernel, timeout=180)
    one = stream_text(nb.cells[1], "stderr")
    assert one.count("127.0.1.1 | ERRLINE\n") == 1, one
    seven = stream_text(nb.cells[2], "stderr")
    assert sorted(line for line in seven.splitlines() if "ERROR" in line) == [
        f"127.0.1.{i} | ERROR: bad config" for i in range(1, 8)], seven


def test_a_noisy_pre_command_never_pushes_a_fleet_s_command_lines_out(
        orch_kernel: str, ssh_fleet: SSHFleet, tmp_path: Path) -> None:
    """fleets23: under nbclient the pre command's 5,000 lines of each target shared the
    command's bound and pushed its lines out, the note pointing at `.stdout`, which did not
    hold them; as for one run, a pre/post command is bounded on its own."""
    cfg = tmp_path / "steps.yaml"
    cfg.write_text(ssh_fleet.config_yaml(
        "services:\n  noisypre: {pre_commands: [{command: 'seq 1 5000'}], "
        "command: 'echo MAIN-RESULT'}\n"))
    nb = notebook_with(f"%orch load {cfg}",
                       "%orch web noisypre --limit '127.0.1.[1:3]' --out r3")
    run_notebook(nb, orch_kernel, timeout=180)
    shown = stream_text(nb.cells[1])
    assert sorted(line for line in shown.splitlines() if "| MAIN-RESULT" in line) == [
        f"127.0.1.{i} | MAIN-RESULT" for i in (1, 2, 3)], shown
    assert re.search(r"… \d+ lines / \S+ \S+ of pre/post commands elided; full output in "
                     r"`r3` \(`r3\[LABEL\]\.steps`\)", shown), shown


def test_a_kernel_shutting_down_ends_fleet_cells_in_words(orch_kernel: str, ssh_fleet: SSHFleet,
                                                         tmp_path: Path) -> None:
    """A blocked fleet cell read `FleetInterrupted: 2 targets: 2 stopped` (jupyter_client
    interrupts first), and a fleet's stdin box cell stayed `1 running` with its box for ever
    (notebook7); docs/magics.md: each live cell ends with `✗ stopped: the kernel shut down`."""
    from lab_kernel import lab_kernel

    cfg = write_config(ssh_fleet, tmp_path)
    with lab_kernel(orch_kernel) as kernel:
        assert kernel.run("load", f"%orch load {cfg}")["status"] == "ok"
        kernel.run("box", "%orch web echo-in --limit 127.0.1.3,127.0.1.4")
        kernel.send("blk", "%%orch web --limit 127.0.1.5,127.0.1.6\n"
                           "trap '' INT; echo up; sleep 4322")
        kernel.wait_for("blk", "2 targets: 2 running")
        kernel.wait_for("box", "2 targets: 2 running")
        kernel.km.shutdown_kernel()
        kernel.drain(1.0)
        blocked = kernel.text("blk")
        assert "✗ stopped: the kernel shut down" in blocked, blocked
        assert blocked.rstrip().splitlines()[-1] == ("FleetInterrupted: 2 targets: 2 stopped: "
                                                     "stopped: the kernel shut down"), blocked
        boxed = kernel.text("box")
        assert "✗ stopped: the kernel shut down" in boxed and " running ·" not in boxed, boxed
        assert "closed when the kernel shut down" in boxed, boxed
    assert_none_left(ssh_fleet)
