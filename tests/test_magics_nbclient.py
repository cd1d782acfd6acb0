"""Notebooks executed by nbclient on a real "Python 3 (orch)" kernel (no front-end stdin)."""

from __future__ import annotations

import subprocess
import time
import uuid

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError, CellTimeoutError

from notebook_cells import notebook_with, run_notebook, stream_text


def test_runbook_order_output_and_out_capture(orch_kernel):
    nb = run_notebook(notebook_with(
        "%orch load --demo",
        "%%orch local --out first\nfor i in 1 2 3; do echo step-$i; done\necho warn >&2",
        "%%orch local upper --out up\nalpha\nbeta",
        "print('first:', first.lines, 'up:', up.lines, 'last:', _ is up, Out[2] is first, "
        "_3 is up)",
    ), orch_kernel)
    script, upper, check = nb.cells[1], nb.cells[2], nb.cells[3]
    # every run blocks under nbclient: its whole output is in the executed notebook, in order
    assert stream_text(script) == "step-1\nstep-2\nstep-3\n"
    assert stream_text(script, "stderr") == "warn\n"
    status = [o for o in script.outputs if o["output_type"] == "display_data"]
    assert "exit 0" in status[-1]["data"]["text/plain"]
    assert script.outputs.index(status[-1]) == len(script.outputs) - 1  # status comes last
    assert stream_text(upper) == "ALPHA\nBETA\nbye\n"
    assert stream_text(check) == ("first: ['step-1', 'step-2', 'step-3'] "
                              "up: ['ALPHA', 'BETA', 'bye'] last: True True True\n")


def test_failure_is_a_clean_error_output(orch_kernel):
    nb = notebook_with("%orch load --demo", "%%orch local --out bad\necho partial\nexit 4",
                  "print(bad.returncode, bad.stdout)")
    with pytest.raises(CellExecutionError) as info:
        run_notebook(nb, orch_kernel)
    assert "RunError" in str(info.value)
    error = [o for o in nb.cells[1].outputs if o["output_type"] == "error"][0]
    assert error["ename"] == "RunError"
    assert error["traceback"][0].startswith("RunError: local/")
    assert "failed (exit 4)" in "\n".join(error["traceback"])
    assert "Traceback" not in "\n".join(error["traceback"])  # no Python traceback noise
    assert stream_text(nb.cells[1]) == "partial\n"


def test_a_missing_secret_under_nbclient_says_no_one_could_be_asked(orch_kernel, tmp_path):
    """magics20: papermill's kernel refuses input, yet the error listed `prompt` among the
    places tried, as if someone had been asked and had answered nothing."""
    from notebook_cells import shown_error

    (tmp_path / "orch.yaml").write_text(
        "environments: {local: []}\naudit: {enabled: false}\nsecrets: {providers: [prompt]}\n"
        "services: {s: {command: 'true', environment: {T: '{{secret:nb_missing_tok}}'}}}\n")
    nb = notebook_with(f"%orch load {tmp_path / 'orch.yaml'}", "%orch local s")
    run_notebook(nb, orch_kernel, allow_errors=True)
    said = shown_error(nb.cells[1])
    assert "secret 'nb_missing_tok' is not available (tried: prompt (no frontend can prompt);" \
        in said, said


def test_no_raise_error_keeps_going(orch_kernel):
    nb = run_notebook(notebook_with("%orch load --demo",
                          "%%orch local --no-raise-error --out r\nexit 5",
                          "print('code', r.returncode)"), orch_kernel)
    assert stream_text(nb.cells[2]) == "code 5\n"


def test_timeout_interrupt_leaves_no_process_behind(orch_kernel):
    marker = f"orch-nbclient-{uuid.uuid4().hex}"
    nap = f"sleep 299.{uuid.uuid4().int % 10**6:06d}"  # a unique argv for the child too
    nb = notebook_with("%orch load --demo",
                  f"%%orch local --out slow\necho started; {nap}; echo {marker}")
    t0 = time.monotonic()
    with pytest.raises((CellExecutionError, CellTimeoutError)):
        run_notebook(nb, orch_kernel, timeout=5, interrupt_on_timeout=True)
    assert time.monotonic() - t0 < 40
    error = [o for o in nb.cells[1].outputs if o["output_type"] == "error"]
    assert error and error[0]["ename"] == "RunInterrupted"
    assert "started" in stream_text(nb.cells[1])  # the output before the interrupt is kept
    deadline = time.monotonic() + 10
    for pattern in (marker, nap):
        while subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 0:
            assert time.monotonic() < deadline, f"{pattern!r} survived the interrupt"
            time.sleep(0.2)


def test_huge_output_is_bounded_in_the_notebook(orch_kernel):
    nb = run_notebook(notebook_with(
        "%orch load --demo",
        "%%orch local --out big\nhead -c 50000000 /dev/zero | tr '\\000' 'z'; seq 1 200000",
        "print(len(big.stdout_bytes), big.lines[-1])",
        "%config Orch.headless_lines = 6",
        "%%orch local\nseq 1 10",
    ), orch_kernel)
    size = len(nbformat.writes(nb))
    assert size < 1_500_000, f"the executed notebook holds {size} bytes"
    out = stream_text(nb.cells[1])
    assert "elided; full output in `big.stdout`" in out
    assert out.rstrip("\n").endswith("\n200000")
    assert stream_text(nb.cells[2]) == f"{50_000_000 + len(''.join(f'{i}' + chr(10) for i in range(1, 200001)))} 200000\n"
    small = stream_text(nb.cells[4]).splitlines()
    assert small[:3] == ["1", "2", "3"] and small[-3:] == ["8", "9", "10"]
    assert small[3].startswith("… 4 lines / 8 B elided")


def test_elision_inside_one_long_line_says_so(orch_kernel):
    """5 MB in one line: the cell shows both ends of it and says part of it was elided (it
    said "0 lines / 4.5 MiB elided", which reads as nothing elided)."""
    nb = run_notebook(notebook_with(
        "%orch load --demo",
        "%%orch local --out ll\nhead -c 5000000 /dev/zero | tr '\\0' x; echo",
        "%config Orch.headless_lines = 4\n%config Orch.headless_bytes = None",
        "%%orch local\nseq 1 3; printf 'long %0300d\\n' 0; seq 4 6",
    ), orch_kernel)
    out = stream_text(nb.cells[1]).splitlines()
    assert out[1].startswith("… part of one line / 4.5 MiB elided; full output in `ll.stdout`")
    assert len(out) == 3 and set(out[0]) == set(out[2]) == {"x"}  # the line's two ends
    assert len(out[0]) + len(out[2]) <= 256 * 1024
    assert stream_text(nb.cells[3]).splitlines() == [  # whole lines are still counted
        "1", "2", "… 3 lines / 310 B elided; full output in `_.stdout` / `_.stderr` (limit: "
                  "%config Orch.headless_lines / headless_bytes)", "5", "6"]


def test_pre_and_post_output_and_outcome_in_words(orch_kernel):
    nb = run_notebook(notebook_with("%orch load --demo", "%orch local disk-report",
                          "%%orch local --no-raise-error\necho bad >&2; exit 3"), orch_kernel)
    out = stream_text(nb.cells[1])
    assert out.startswith("checking ") and out.rstrip().endswith("report done")
    status = [o for o in nb.cells[2].outputs if o["output_type"] == "display_data"][-1]
    assert "✗ failed, exit 3" in status["data"]["text/plain"]
    assert "mathjax_ignore" in status["data"]["text/html"]


def test_stdout_and_stderr_keep_their_order_in_the_saved_notebook(orch_kernel):
    """The kernel sent each stream's buffer on its own: stdout's 'second' came before
    stderr's 'first', and the elision note (on stdout) before the stderr lines it is about."""
    nb = run_notebook(notebook_with(
        "%orch load --demo",
        "%%orch local\necho first >&2; sleep 0.05; echo second; sleep 0.05; echo third >&2",
        "%config Orch.headless_lines = 4",
        "%%orch local\nseq 1 20 >&2",
    ), orch_kernel)
    streams = [(o["name"], o["text"]) for o in nb.cells[1].outputs if o["output_type"] == "stream"]
    assert streams == [("stderr", "first\n"), ("stdout", "second\n"), ("stderr", "third\n")]
    cut = [(o["name"], o["text"]) for o in nb.cells[3].outputs if o["output_type"] == "stream"]
    assert [name for name, _ in cut] == ["stderr", "stdout", "stderr"], cut
    assert cut[0][1] == "1\n2\n" and cut[1][1].startswith("… 16 lines") and cut[2][1] == "19\n20\n"


def test_bg_starts_a_named_run_and_returns(orch_kernel):
    """Under nbclient --bg blocked: on a service that never ends, for ever (and --name made
    no named run)."""
    nb = run_notebook(notebook_with(
        "%orch load --demo",
        "%orch local ticker --bg --name tick1 --out t",
        "import time\nfor _ in range(100):\n    if t.state == 'running': break\n"
        "    time.sleep(0.1)\nprint(t.state, t.name)",
        "r = %orch stop tick1\nprint(r.interrupted)",
    ), orch_kernel, timeout=60)
    assert stream_text(nb.cells[1]) == ("started in the background as tick1: %orch logs tick1 "
                                        "shows its output, %orch stop tick1 stops it\n")
    # magics12: and no second line, `<NamedRun … starting … as of …>`, stale once saved
    assert [o["output_type"] for o in nb.cells[1].outputs] == ["stream"], nb.cells[1].outputs
    assert stream_text(nb.cells[2]) == "running tick1\n"
    assert stream_text(nb.cells[3]) == "True\n"
