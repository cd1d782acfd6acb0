"""A run whose first hop cannot be reached still has a result: `--no-raise-error` and `--out`
give it to the notebook, and it carries its audit record's id and the time it tried.

s9-newcomer #2, #3: the cell raised ConnectError whatever `--no-raise-error` said and never
set `--out`; `orch run --json` said `"audit_id": null` though the attempt was audited.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from notebook_cells import cell_text, notebook_with, run_notebook, stream_text


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "orch.yaml"
    config.write_text(
        "environments:\n"
        f"  far: [{{type: ssh, config: {{host: 127.0.0.1, port: {_closed_port()}}}}}]\n"
        "services:\n  hi: {command: echo hi}\n"
        f"audit: {{path: {tmp_path / 'audit.jsonl'}}}\n")
    return config


def _audit_ids(tmp_path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in (tmp_path / "audit.jsonl").read_text().splitlines()]


def test_the_cli_json_of_an_unreachable_run_names_its_audit_record(tmp_path: Path) -> None:
    config = _config(tmp_path)
    done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(config), "run",
                           "--json", "far", "--", "true"], capture_output=True, text=True,
                          timeout=60)
    data = json.loads(done.stdout)
    assert done.returncode != 0 and data["ok"] is False and data["returncode"] is None
    assert "cannot reach 127.0.0.1" in data["error"], data["error"]
    assert data["audit_id"] is not None and data["audit_id"] in _audit_ids(tmp_path)
    assert data["duration"] > 0


def test_no_raise_error_gives_the_cell_a_result_with_its_audit_id(orch_kernel,
                                                                  tmp_path: Path) -> None:
    config = _config(tmp_path)
    nb = notebook_with(
        f"%orch load {config}",
        "%%orch far --out r --no-raise-error\ntrue",
        "print(r.ok, r.returncode, 'cannot reach' in str(r.exit.error), r.audit_id)",
        "line = %orch far hi --no-raise-error\nprint(line.ok, line.audit_id != r.audit_id)",
        "%%orch far --out raised\ntrue",
        "print(raised.ok, raised.audit_id is not None)")
    run_notebook(nb, orch_kernel, allow_errors=True)
    errors = [[o for o in cell.outputs if o["output_type"] == "error"] for cell in nb.cells]
    assert [bool(e) for e in errors] == [False, False, False, False, True, False], errors
    assert errors[4][0]["ename"] == "ConnectError"  # raised, as without the option
    ok, code, said, audit_id = stream_text(nb.cells[2]).split()
    assert (ok, code, said) == ("False", "None", "True")
    assert audit_id in _audit_ids(tmp_path)
    assert stream_text(nb.cells[3]) == "False True\n"
    assert stream_text(nb.cells[5]) == "False True\n"  # --out set, then raised
    for cell in (nb.cells[1], nb.cells[4]):  # the status line names the record
        assert re.search(r"failed: hop 1 \(ssh 127\.0\.0\.1\): cannot reach .*· audit "
                         r"[0-9a-f]{16}", cell_text(cell)), cell_text(cell)


def test_the_cli_json_of_a_run_the_audit_log_refused_says_why(tmp_path: Path) -> None:
    """s9-guard #6: a fleet printed its JSON when the audit log could not be written, a
    single run printed nothing (`| jq -e .ok` read an empty document)."""
    (tmp_path / "blocker").write_text("a file where the log's folder should be\n")
    config = tmp_path / "orch.yaml"
    config.write_text("environments:\n  here: []\nservices: {}\n"
                      f"audit: {{path: {tmp_path / 'blocker' / 'audit.jsonl'}}}\n")
    done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(config), "run",
                           "--json", "here", "--", "echo", "never"], capture_output=True,
                          text=True, timeout=60)
    data = json.loads(done.stdout)
    assert done.returncode == 1 and data["ok"] is False and data["stdout"] == ""
    assert data["error"].startswith("cannot write the audit log"), data["error"]
    assert done.stderr.startswith("orch: cannot write the audit log"), done.stderr


def test_a_named_run_that_never_started_has_a_result_and_stops_without_an_error(
        tmp_path: Path) -> None:
    """notebook4: `.result()` of a --bg run whose first hop refused raised ConnectError, and
    `%orch stop NAME` / `orch.stop(NAME)` said that error as if the stop had failed."""
    from orch_magics import ConnectError, Orchestrator

    with Orchestrator(_config(tmp_path)) as orch:
        live = orch.start("far", "hi", name="hi")
        try:
            live.wait(30)
        except ConnectError as exc:
            cause = exc
        else:
            raise AssertionError("the run started")
        result = live.result()
        assert result is cause.result and result.returncode is None and not result.ok
        assert isinstance(live.exception(), ConnectError)
        assert orch.stop("hi") is result


def test_a_named_run_that_cannot_start_says_why_in_its_log_file(tmp_path: Path) -> None:
    """runs5: the log file, all that is left after a kernel restart, said only "failed to
    start" for each attempt (the reason went to the in-memory logs alone)."""
    from orch_magics import Orchestrator

    config = _config(tmp_path)
    config.write_text(config.read_text().replace(
        "hi: {command: echo hi}", "hi: {command: echo hi, restart: on-failure, max_restarts: 1}"))
    with Orchestrator(config, log_dir=tmp_path / "logs", restart_backoff=(0.05, 0.1)) as orch:
        orch.start("far", "hi", name="hi")
        deadline = time.monotonic() + 30
        while not orch.runs.get("hi").done:  # over with its last attempt
            assert time.monotonic() < deadline
            time.sleep(0.05)
        logs = orch.logs("hi")
    written = (tmp_path / "logs" / "hi.log").read_text()
    why = re.search(r"failed to start: (hop 1 \(ssh 127\.0\.0\.1\): cannot reach [^;\n]+)",
                    written)
    assert why is not None, written
    assert written.count(f"hi: failed to start: {why[1]}") == 2, written  # both attempts
    assert f"orch: hi: failed to start: {why[1]}; restart 1/1 in 0.05s" in logs, logs
