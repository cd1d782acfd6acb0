"""Fleets on ≥30 real sshd (127.0.1.x): results, mixed failures, --max-fail, stop, CLI, audit."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fixtures.fleet import REFUSING, SSHFleet
from hangup import default_hangup
from orch_magics import OrchError, Orchestrator, load_config_text
from orch_magics.fleet import FleetResult
from orch_magics.process.events import Stdout
from processes import left_after

N = 30
SERVICES = """\
services:
  who: {command: 'echo "$SSH_CONNECTION" | cut -d" " -f3'}
  same: {command: 'echo same'}
  mixed:
    command: |
      case "$SSH_CONNECTION" in
        *" 127.0.1.3 "*) echo bad >&2; exit 3;;
        *" 127.0.1.4 "*) sleep 60;;
      esac
      echo fine
  sleepy: {command: 'sleep 60'}
  slowpre: {command: 'sleep 60', pre_commands: [{command: 'sleep 1.5'}]}
  fail: {command: 'exit 1'}
  big: {command: "head -c 3000000 /dev/zero | tr '\\\\0' x | fold -w 100"}
"""


def _config(fleet: SSHFleet, hosts: str) -> str:
    return (f"environments:\n  web:\n    layers:\n"
            f"      - {{type: ssh, config: {{host: {hosts}, {fleet.ssh_config()}}}}}\n"
            + SERVICES)


@pytest.fixture
def orch(ssh_fleet: SSHFleet):
    hosts = f'"127.0.1.[1:{N}]"'
    o = Orchestrator(load_config_text(_config(ssh_fleet, hosts)))
    yield o
    o.close()


def test_thirty_targets_return_a_fleet_result(orch) -> None:
    res = orch.run("web", "who")
    assert isinstance(res, FleetResult) and len(res) == N
    ok = [f"127.0.1.{i}" for i in range(1, N)]
    assert list(res.succeeded) == ok and res[ok[4]].stdout == f"{ok[4]}\n"
    assert res.returncodes[ok[0]] == 0
    assert list(res.failed) == [f"127.0.1.{N}"]  # the server with a changed host key
    assert "host key" in res.causes[f"127.0.1.{N}"] and not res.ok


def test_a_fleet_holds_a_bounded_amount_of_output_in_memory(orch) -> None:
    """Each target's output spilled to disk only past 16 MiB, so a fleet held N × 16 MiB in
    the kernel: its targets now share FLEET_MEMORY, and a spilled result holds no block."""
    from orch_magics.fleet.runner import FLEET_MEMORY

    res = orch.run("web", "big", limit="!127.0.1.30")  # 29 × 3 MB > FLEET_MEMORY
    assert res.ok
    buffers = [r.stdout_buffer for r in res.values()]
    assert {b.size for b in buffers} == {3_029_999}  # every byte: 30,000 lines, the last open
    assert sum(b.memory for b in buffers) <= FLEET_MEMORY
    assert any(b.spilled for b in buffers)
    assert res["127.0.1.7"].stdout.splitlines()[-1] == "x" * 100


class _Lines:
    """A sink of one target: the stdout it was fed, and whether it was closed."""

    def __init__(self) -> None:
        self.data, self.closed = b"", False

    def feed(self, event: object) -> None:
        if isinstance(event, Stdout):
            self.data += event.data

    def close(self) -> None:
        self.closed = True


def test_a_fleets_sinks_are_made_per_target_from_its_label(orch) -> None:
    """`sinks=` on a fleet is a callable label → sinks, each target fed its own output; one
    list of sink objects (which every run would close) is refused before anything starts."""
    made: dict[str, _Lines] = {}
    res = orch.run("web", "who", limit="127.0.1.[5:6]",
                   sinks=lambda label: [made.setdefault(label, _Lines())])
    assert res.ok and sorted(made) == ["127.0.1.5", "127.0.1.6"]
    assert all(made[label].data == f"{label}\n".encode() and made[label].closed
               for label in made)
    with pytest.raises(OrchError, match="a fleet runs many targets: pass sinks as a callable"):
        orch.run("web", "who", limit="127.0.1.5", sinks=[_Lines()])


def test_groups_roll_identical_output_up(orch) -> None:
    res = orch.run("web", "same", limit="!127.0.1.30")
    assert res.ok and res.exit_status == 0
    [(labels, out)] = res.groups()
    assert out == "same\n" and len(labels) == N - 1
    html = res._repr_html_()
    assert html.count("<tr>") == N and "29 ok" in html
    # fleets24: a label it does not hold was a bare KeyError; `in` and .get() stay a dict's
    with pytest.raises(KeyError) as err:
        res["127.0.1.300"]
    assert err.value._render_traceback_() == [  # type: ignore[attr-defined]
        "UnknownTarget: no target '127.0.1.300' in this result (did you mean '127.0.1.3'?)"]
    assert "127.0.1.30" not in res and res.get("127.0.1.30") is None


def test_mixed_failures_each_with_its_cause(ssh_fleet: SSHFleet) -> None:
    hosts = f'["127.0.1.[1:8]", "{REFUSING}", "127.0.1.{N}"]'
    with Orchestrator(load_config_text(_config(ssh_fleet, hosts))) as orch:
        res = orch.run("web", "mixed", timeout=2)
    states = res.states
    assert states["127.0.1.1"] == "ok" and res["127.0.1.1"].stdout == "fine\n"
    assert states["127.0.1.3"] == "failed" and res.causes["127.0.1.3"] == "exit 3: bad"
    assert res["127.0.1.4"].timed_out and res.causes["127.0.1.4"].startswith("timed out after ")
    assert res.causes["127.0.1.4"].endswith("s (limit 2s)")  # the limit, not only the time
    assert "refused" in res.causes[REFUSING].lower()
    assert "host key" in res.causes[f"127.0.1.{N}"]
    assert sorted(res.failed) == sorted(["127.0.1.3", "127.0.1.4", REFUSING, f"127.0.1.{N}"])
    assert "exit 3: bad" in res.table()


def test_a_timeout_s_cause_counts_the_time_in_pre_commands(orch) -> None:
    """fleets22: with a 1.5 s pre command, a row said "timed out after 0.9s (limit 2.5s)",
    where a single run says the time its pre commands took of the limit."""
    res = orch.run("web", "slowpre", limit="127.0.1.[1:2]", timeout=2.5)
    for cause in res.causes.values():
        assert re.fullmatch(r"timed out after 2\.\ds, 1\.\ds of it in pre commands "
                            r"\(limit 2\.5s\)", cause), cause


def test_max_fail_stops_new_starts(orch) -> None:
    res = orch.run("web", "fail", parallel=2, max_fail=1)
    assert list(res.states.values()).count("failed") in (2, 3)  # running ones finish
    assert list(res.states.values()).count("skipped") >= N - 3
    skipped = [k for k, s in res.states.items() if s == "skipped"]
    assert "--max-fail" in res.causes[skipped[0]]
    res = orch.run("web", "fail", parallel=4, max_fail="10%")  # 3 of 30 may fail
    assert 4 <= list(res.states.values()).count("failed") <= 7


def test_rerun_runs_exactly_those_targets(orch) -> None:
    res = orch.run("web", "who", limit="127.0.1.1,127.0.1.2,127.0.1.30")
    again = res.failed.rerun()
    assert list(again) == ["127.0.1.30"] and not again.ok
    assert list(res.succeeded.rerun()) == ["127.0.1.1", "127.0.1.2"]


def test_rerun_sends_the_same_stdin_whatever_its_source(orch) -> None:
    """A stream (a file, an iterator) was read once for the first run: a rerun sent nothing,
    and a script piped to `sh` 'succeeded' without doing anything."""
    import io

    for source in (io.BytesIO(b"echo from-stdin\n"), iter([b"echo from-", "stdin\n"]),
                   bytearray(b"echo from-stdin\n")):
        res = orch.run("web", command="sh", stdin=source, limit="127.0.1.1,127.0.1.2")
        again = res.rerun()
        assert [r.stdout for r in again.values()] == ["from-stdin\n"] * 2


def test_input_sent_while_a_fleet_ran_is_checked_at_once_and_not_replayed_empty(orch) -> None:
    """api4: a rerun of a fleet fed through send() ran with no input and reported ok (`cat`
    printed nothing), and send(5) returned None, its TypeError logged on the loop thread."""
    live = orch.start("web", command="cat", close_stdin=False, limit="127.0.1.1,127.0.1.2")
    with pytest.raises(TypeError, match="stdin takes bytes or str, got int"):
        live.send(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="a surrogate that stands for no byte"):
        live.send("\ud800")
    with pytest.raises(TypeError, match=r"send_line\(\) takes str, got bytes"):
        live.send_line(b"x")  # type: ignore[arg-type]
    live.send("line1\n")
    live.send_line("line2")
    live.close_stdin()
    res = live.wait(timeout=30)
    assert [r.stdout for r in res.values()] == ["line1\nline2\n"] * 2
    with pytest.raises(OrchError, match=r"stdin of that run was sent while it ran \(send\(\), "
                                        r"a stdin box\): rerun\(\) cannot send it again"):
        res.rerun()


def test_a_limit_matching_nothing_is_said_before_a_protected_fleet_asks(
        ssh_fleet: SSHFleet) -> None:
    text = _config(ssh_fleet, f'"127.0.1.[1:{N}]"').replace(
        "    layers:", "    protected: true\n    layers:", 1)
    o = Orchestrator(load_config_text(text))
    asked: list[str] = []
    o.gate.ask = lambda question: asked.append(question) or "web"  # type: ignore[func-returns-value]
    try:
        with pytest.raises(Exception, match="'127.0.1.99' matches no target"):
            o.run("web", "who", limit="127.0.1.99")
        assert asked == []  # typed the name, then learnt the limit was wrong
        assert o.run("web", "who", limit="127.0.1.1").ok and len(asked) == 1
    finally:
        o.close()


def test_stop_leaves_no_process_on_any_target(orch, ssh_fleet: SSHFleet) -> None:
    live = orch.fleets.start(orch.plan("web", "sleepy"), _opts())
    deadline = time.monotonic() + 20
    # 29 sleeping and the 30th refused for its host key (else, stopped mid-handshake, it
    # counts as stopped: a race the test must not depend on)
    while len([p for p in ssh_fleet.session_processes() if "sleep 60" in p]) < N - 1 \
            or live.counts().get("failed") != 1:
        assert time.monotonic() < deadline, ssh_fleet.session_processes()
        time.sleep(0.1)
    live.stop()
    res = live.wait(30)
    assert list(res.states.values()).count("stopped") == N - 1
    assert left_after(lambda: [p for p in ssh_fleet.session_processes() if "sleep" in p]) == []


def _opts():
    from orch_magics.fleet import FleetOptions

    return FleetOptions()


def test_each_target_is_audited_with_its_label(orch, tmp_path: Path) -> None:
    orch.run("web", "same", limit="127.0.1.1[0-2]")
    path = Path(os.environ["XDG_STATE_HOME"]) / "orch_magics" / "audit.jsonl"
    starts = [json.loads(line) for line in path.read_text().splitlines()]
    targets = sorted(r["target"] for r in starts if r["event"] == "start" and r["target"])
    assert targets[-3:] == ["127.0.1.10", "127.0.1.11", "127.0.1.12"]
    # a target that fails before its process starts (a changed host key) links to its records
    res = orch.run("web", "same", limit=f"127.0.1.{N}")
    [failed] = res.values()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert failed.audit_id and [r["event"] for r in records if r["id"] == failed.audit_id] \
        == ["start", "end"]


def _cli(fleet: SSHFleet, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(_config(fleet, f'"127.0.1.[1:{N}]"'))
    return subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run",
                           *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})


def test_cli_labelled_lines_summary_and_status(ssh_fleet: SSHFleet, tmp_path: Path) -> None:
    done = _cli(ssh_fleet, tmp_path, "web", "mixed", "--limit", "127.0.1.[1-3]",
                "--timeout", "5")
    assert done.returncode == 1
    assert re.search(r"^127\.0\.1\.1 +\| fine$", done.stdout, re.M)
    assert re.search(r"^127\.0\.1\.3 +\| bad$", done.stderr, re.M)
    assert "| bad" not in done.stdout
    assert "3 targets: 2 ok, 1 failed" in done.stdout
    ok = _cli(ssh_fleet, tmp_path, "web", "same", "--limit", "127.0.1.1,127.0.1.2", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    bad = _cli(ssh_fleet, tmp_path, "web", "same", "--limit", "nothing*")
    assert bad.returncode == 2 and "matches no target" in bad.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP], ids=["ctrl-c", "closed-terminal"])
def test_cli_interrupt_stops_every_target(ssh_fleet: SSHFleet, tmp_path: Path,
                                          sig: signal.Signals) -> None:
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(_config(ssh_fleet, f'"127.0.1.[1:{N - 1}]"'))
    proc = subprocess.Popen([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run",
                             "web", "sleepy"], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
                            preexec_fn=default_hangup)
    deadline = time.monotonic() + 20
    while len([p for p in ssh_fleet.session_processes() if "sleep 60" in p]) < N - 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig and f"{N - 1} stopped" in out
    assert left_after(lambda: [p for p in ssh_fleet.session_processes() if "sleep" in p]) == []


def test_keyboard_interrupt_in_the_sync_api_stops_all(orch, ssh_fleet: SSHFleet) -> None:
    from orch_magics.fleet import FleetInterrupted

    timer = threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(FleetInterrupted) as err:
        orch.run("web", "sleepy", limit="!127.0.1.30")
    assert set(err.value.result.states.values()) == {"stopped"}
    assert left_after(lambda: [p for p in ssh_fleet.session_processes() if "sleep" in p]) == []


def test_each_target_writes_its_own_output_file(ssh_fleet: SSHFleet, tmp_path: Path) -> None:
    """stdout_mode: file on a fleet: every target renamed its output over the same file, so
    all but the last target's output was lost while every row said ok with that one path
    (held-out tester). Now each target's file is in a folder named by its label, as a
    fleet's get lands its copies."""
    dump = (f"  dump: {{command: 'echo \"$SSH_CONNECTION\" | cut -d\" \" -f3', "
            f"stdout_mode: file, stdout_file: '{tmp_path}/out/dump-{{env}}.txt'}}\n")
    config = _config(ssh_fleet, '"127.0.1.[2:4]"') + dump
    with Orchestrator(load_config_text(config)) as orch:
        res = orch.run("web", "dump")
    assert res.ok, res.causes
    for label in ("127.0.1.2", "127.0.1.3", "127.0.1.4"):
        path = tmp_path / "out" / label / "dump-web.txt"
        assert res[label].output_file == str(path)
        assert path.read_text() == f"{label}\n"
    assert not (tmp_path / "out" / "dump-web.txt").exists()
    # files7: groups() compared the empty captures, so the three read as one agreeing group
    assert sorted(labels for labels, _ in res.groups()) == [
        ["127.0.1.2"], ["127.0.1.3"], ["127.0.1.4"]]


def test_a_file_mode_fleet_says_where_each_targets_output_went(
        ssh_fleet: SSHFleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fleets19 F3: `orch run` on a file-mode fleet named no file, not even the `.partial`
    of a failed target's output so far, where a single run says both. The table (CLI,
    nbclient) and the notebook's HTML now say the per-target path and each `.partial`."""
    dump = ("  dump: {command: 'seq 3; case \"$SSH_CONNECTION\" in *\" 127.0.1.3 \"*) exit 4;; "
            "esac', stdout_mode: file, stdout_file: 'out/dump.txt'}\n")
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(_config(ssh_fleet, '"127.0.1.[2:4]"') + dump)
    done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run",
                           "web", "dump"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines()[-3:] == [
        "3 targets: 2 ok, 1 failed",
        f"stdout of 2 targets written to {tmp_path}/out/<label>/dump.txt",
        f"stdout so far of 1 target kept in {tmp_path}/out/127.0.1.3/dump.txt.partial"], \
        done.stdout
    assert (tmp_path / "out/127.0.1.3/dump.txt.partial").read_text() == "1\n2\n3\n"
    monkeypatch.chdir(tmp_path)
    with Orchestrator(load_config_text(cfg.read_text(), str(cfg))) as orch:
        res = orch.run("web", "dump", limit="127.0.1.2")
    assert (f"<p>stdout of 1 target written to {tmp_path}/out/127.0.1.2/dump.txt</p>"
            in res._repr_html_())


def test_targets_behind_one_silent_bastion_each_end_at_their_timeout(
        ssh_fleet: SSHFleet, tmp_path: Path) -> None:
    """fleets23: behind a bastion that accepts and never speaks SSH, the first target ended at
    its `--timeout`, and those waiting on that same connection a second past it (given up
    after the engine's grace for a process being made, where they only waited to connect)."""
    import socket

    hole = socket.socket()
    hole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    hole.bind(("127.0.1.251", ssh_fleet.port))
    hole.listen(50)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: [held.append(hole.accept()[0]) for _ in range(50)],
                     daemon=True).start()
    common = ssh_fleet.ssh_config(connect_timeout=15)
    cfg = tmp_path / "silent.yaml"
    cfg.write_text(f"environments:\n  bx:\n    layers:\n"
                   f"      - {{type: ssh, config: {{host: [127.0.1.251], {common}}}}}\n"
                   f"      - {{type: ssh, config: {{host: [127.0.1.2, 127.0.1.3, 127.0.1.4], "
                   f"{common}}}}}\n")
    try:
        out = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run",
                              "bx", "--timeout", "2", "--", "true"],
                             capture_output=True, text=True, timeout=60).stdout
    finally:
        hole.close()
        for conn in held:
            conn.close()
    took = re.findall(r"timed out after ([0-9.]+)s \(limit 2s\); timed out before the process "
                      r"started", out)
    # All three started together and share one deadline: before, the two waiting on the
    # first's connection ended the engine's launch grace later (2.0 s and 3.0 s). Judged
    # against that grace, not a number of seconds: load delays them all alike.
    from orch_magics.engine.steering import LAUNCH_GRACE

    spread = max(map(float, took)) - min(map(float, took))
    assert len(took) == 3 and spread < LAUNCH_GRACE / 2, out
