"""Every run leaves a start and an end record: API, CLI, named runs; secrets never; no record,
no run."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orch_magics import ConfigError, OrchError, Orchestrator, load_config_text
from orch_magics.audit import AuditLog, verify
from orch_magics.audit.query import audited_runs
from orch_magics.lifecycle import NamedRun

SENTINEL = "audit-sentinel-7Hq2Lx9"


def config(audit_path: Path, extra: str = "") -> str:
    return f"""\
environments:
  local: {{layers: []}}
services:
  hello: {{command: 'echo hello; echo oops >&2'}}
  secretive:
    command: 'echo "token=$TOKEN"'
    environment: {{TOKEN: '{{{{secret:audit_token}}}}'}}
  flaky: {{command: 'exit 3', restart: on-failure, max_restarts: 1}}
audit: {{path: {audit_path}{extra}}}
"""


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_an_api_run_is_recorded_with_its_outcome_and_output_digests(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    orch = Orchestrator(load_config_text(config(log)))
    try:
        result = orch.run("local", "hello")
    finally:
        orch.close()
    start, end = records(log)
    assert start["event"] == "start" and end["event"] == "end" and start["id"] == end["id"]
    assert result.audit_id == start["id"]
    assert start["front_end"] == "api" and start["service"] == "hello"
    assert start["environment"] == "local" and start["chain"] == "local"
    assert start["user"] and start["host"] and start["pid"] == os.getpid()
    assert start["command"] == "echo hello; echo oops >&2"
    assert end["exit_code"] == 0 and end["ok"] is True and end["duration"] >= 0
    assert end["stdout_bytes"] == 6 and end["stderr_bytes"] == 5
    assert end["stdout_sha256"] == hashlib.sha256(b"hello\n").hexdigest()
    assert end["stderr_sha256"] == hashlib.sha256(b"oops\n").hexdigest()
    assert verify(str(log)) == (2, None)
    assert os.stat(log).st_mode & 0o777 == 0o600


def test_a_command_is_recorded_whole_and_listed_as_a_shell_reads_it(tmp_path: Path) -> None:
    """basics14: the audit table showed a two-line script as `true\\necho second` (bash reads
    `truenecho`), and a real tab like a backslash and a t; the record keeps every line."""
    log = tmp_path / "audit.jsonl"
    (tmp_path / "orch.yaml").write_text(config(log))
    orch = Orchestrator(load_config_text(config(log)))
    try:
        orch.run("local", command="true\necho second")
        orch.run("local", command="printf %s 'a\tb'")
    finally:
        orch.close()
    assert [r["command"] for r in records(log) if r["event"] == "start"] == [
        "true\necho second", "/bin/sh -c $'printf %s \\'a\\tb\\''"]
    table = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c",
                            str(tmp_path / "orch.yaml"), "audit"],
                           capture_output=True, text=True, timeout=60)
    rows = table.stdout.splitlines()
    assert any("  true  (+1 more line)  " in row for row in rows), table.stdout
    assert any("  /bin/sh -c $'printf %s \\'a\\tb\\''  " in row for row in rows), table.stdout


def test_pre_and_post_commands_are_recorded_with_their_own_digests(tmp_path: Path) -> None:
    """security tester: the end record hashed the main command's streams only, while `orch
    run` shows the pre and post commands' output too (29 bytes on stderr, 4 recorded)."""
    log = tmp_path / "audit.jsonl"
    text = config(log).replace("services:\n", "services:\n  mixed:\n    command: 'echo out'\n"
                               "    pre_commands: [{command: 'echo pre-out; echo pre-err >&2'}]\n"
                               "    post_commands: [{command: 'echo post-out; exit 4'}]\n")
    (tmp_path / "orch.yaml").write_text(text)
    with Orchestrator(load_config_text(text)) as orch:
        result = orch.run("local", "mixed")
    cli = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(tmp_path / "orch.yaml"),
                          "run", "local", "mixed"], capture_output=True, timeout=60)
    assert cli.stdout == b"out\n" and cli.stderr.startswith(b"pre-out\npre-err\npost-out\n")
    for end in records(log)[1::2]:
        assert (end["stdout_bytes"], end["stdout_sha256"]) == (
            4, hashlib.sha256(b"out\n").hexdigest())
        pre, post = end["steps"]
        assert (pre["step"], pre["command"], pre["exit_code"]) == (
            "pre", "echo pre-out; echo pre-err >&2", 0)
        assert pre["stdout_sha256"] == hashlib.sha256(b"pre-out\n").hexdigest()
        assert (pre["stderr_bytes"], pre["stderr_sha256"]) == (
            8, hashlib.sha256(b"pre-err\n").hexdigest())
        assert (post["step"], post["exit_code"], post["stdout_bytes"]) == ("post", 4, 9)
    assert [s.step for s in result.steps] == ["pre", "post"]
    assert verify(str(log)) == (4, None)


@pytest.mark.parametrize("step, said", [
    ("post_commands: [{command: 'exit 5', when: always}]", "exit 0, post command failed (exit 5)"),
    ("pre_commands: [{command: 'exit 4'}]", "pre command failed (exit 4), not run"),
])
def test_a_failed_step_is_said_alike_in_ps_logs_and_the_audit_table(
        tmp_path: Path, step: str, said: str) -> None:
    """runs7 F2: a run whose post command failed read `exit 0` in `ps`, in its log's notes
    ("exit 0; restart 1/1") and in `orch audit --failed`; a failed pre command read `error`."""
    log = tmp_path / "audit.jsonl"
    text = config(log).replace("services:\n", "services:\n  stepped:\n    command: 'echo main'\n"
                               f"    {step}\n    restart: on-failure\n    max_restarts: 1\n")
    (tmp_path / "orch.yaml").write_text(text)
    orch = Orchestrator(load_config_text(text), log_dir=tmp_path / "logs",
                        restart_backoff=(0.05, 0.05))
    try:
        live = orch.start("local", "stepped", name="s")
        live.supervisor.finished.result(20)  # type: ignore[attr-defined]
        orch.status("s").wait(timeout=20)  # the last attempt's handle knows it too
        (info,) = orch.ps()
        notes = [line for line in orch.logs("s").splitlines() if line.startswith("orch: s: ") and " start " not in line]
    finally:
        orch.close()
    assert info.exit == said and info.restarts == 1
    assert notes == [f"orch: s: {said}; restart 1/1 in 0.05s", f"orch: s: {said}"], notes
    assert [r["outcome"] for r in records(log) if r["event"] == "end"] == [said, said]
    table = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(tmp_path / "orch.yaml"),
                            "audit", "--failed"], capture_output=True, text=True, timeout=60)
    rows = [line for line in table.stdout.splitlines() if "stepped" in line]
    assert len(rows) == 2 and all(said in row for row in rows), table.stdout


def test_digests_of_large_interleaved_output_match_every_byte(tmp_path: Path) -> None:
    """Tens of MiB on both streams, interleaved in uneven pieces: the digests cover every byte
    in order (the hashing runs in batches on another thread)."""
    log = tmp_path / "audit.jsonl"
    script = ("import os, sys\n"
              "for i in range(700):\n"
              "    os.write(1, bytes([i % 251]) * (40000 + i))\n"
              "    os.write(2, bytes([i % 13]) * (7000 + 3 * i))\n")
    out = b"".join(bytes([i % 251]) * (40000 + i) for i in range(700))
    err = b"".join(bytes([i % 13]) * (7000 + 3 * i) for i in range(700))
    orch = Orchestrator(load_config_text(config(log)))
    try:
        result = orch.run("local", command=[sys.executable, "-c", script])
    finally:
        orch.close()
    assert result.ok and result.stdout_buffer.getvalue() == out
    end = records(log)[1]
    assert end["stdout_bytes"] == len(out) and end["stderr_bytes"] == len(err)
    assert end["stdout_sha256"] == hashlib.sha256(out).hexdigest()
    assert end["stderr_sha256"] == hashlib.sha256(err).hexdigest()


def test_a_file_mode_run_records_what_it_wrote_and_where(tmp_path: Path) -> None:
    """basics8: a `stdout_mode: file` run's record said 0 bytes with the digest of nothing,
    and never named the file: a 10 GB dump read as a run that printed nothing."""
    log = tmp_path / "audit.jsonl"
    dump = ("  dump: {command: 'seq 1 200000; exit $FAIL', stdout_mode: file, "
            f"stdout_file: '{tmp_path}/out.txt', environment: {{FAIL: '{{{{env:FAIL}}}}'}}}}\n")
    orch = Orchestrator(load_config_text(config(log).replace("audit:", dump + "audit:")))
    written = "".join(f"{i}\n" for i in range(1, 200001)).encode()
    try:
        os.environ["FAIL"] = "0"
        done = orch.run("local", "dump")
        os.environ["FAIL"] = "3"
        failed = orch.run("local", "dump")
    finally:
        del os.environ["FAIL"]
        orch.close()
    assert done.ok and not failed.ok
    ends = [r for r in records(log) if r["event"] == "end"]
    for end, path in zip(ends, (done.output_file, failed.partial_file), strict=True):
        assert (end["stdout_bytes"], end["stdout_sha256"], end["stdout_file"]) == (
            len(written), hashlib.sha256(written).hexdigest(), path)
        assert Path(path).read_bytes() == written
    assert ends[1]["stdout_file"] == f"{tmp_path}/out.txt.partial"


def test_a_file_that_filled_up_is_recorded_as_what_it_holds(tmp_path: Path) -> None:
    """review17: a file-mode run whose file could take no more (a full disk; a size limit
    here) was recorded with every byte the command printed, its digest too, and no
    `stdout_file`: checked against the `.partial` file, the record read as tampered with."""
    log = tmp_path / "audit.jsonl"
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(config(log).replace("audit:", (
        f"  dump: {{command: 'head -c 3000000 /dev/zero', stdout_mode: file, "
        f"stdout_file: '{tmp_path}/out/out.bin'}}\naudit:")))

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run",
                           "local", "dump"], preexec_fn=limited, capture_output=True,
                          text=True, timeout=60)
    partial = tmp_path / "out" / "out.bin.partial"
    assert done.returncode == 1 and f"what was written is in {partial}" in done.stderr, done
    held = partial.read_bytes()
    assert len(held) == 1 << 20
    end = records(log)[-1]
    assert (end["stdout_bytes"], end["stdout_sha256"], end["stdout_file"]) == (
        len(held), hashlib.sha256(held).hexdigest(), str(partial))


def test_a_confirmed_run_whose_secret_cannot_be_had_is_recorded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """safety13: confirmed at a protected environment, then a secret no provider holds (or
    Ctrl-C at its prompt): no record at all, where a run failing at its first hop has two.
    The trail holds who confirmed what, and why it never started; its table says why."""
    log = tmp_path / "audit.jsonl"
    monkeypatch.delenv("ORCH_SECRET_AUDIT_TOKEN", raising=False)
    text = config(log).replace("  local: {layers: []}\n",
                               "  local: {layers: []}\n  prod: {layers: [], protected: true}\n")
    (tmp_path / "orch.yaml").write_text(text + "secrets: {providers: [env]}\n")
    orch = Orchestrator(load_config_text(text + "secrets: {providers: [env]}\n"))
    try:
        with pytest.raises(ConfigError, match="audit_token"):
            orch.run("prod", "secretive", yes="prod")
    finally:
        orch.close()
    start, end = records(log)
    assert (start["event"], start["environment"], start["service"]) == ("start", "prod",
                                                                        "secretive")
    assert start["confirmation"] and end["ok"] is False and "audit_token" in end["error"]
    table = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c",
                            str(tmp_path / "orch.yaml"), "audit"],
                           capture_output=True, text=True, timeout=60)
    [row] = [line for line in table.stdout.splitlines() if "secretive" in line]
    assert "  error: service 'secretive'" in row, table.stdout


def test_named_runs_record_each_attempt(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    orch = Orchestrator(load_config_text(config(log)), log_dir=tmp_path / "logs",
                        restart_backoff=(0.05, 0.05))
    try:
        live = orch.start("local", "flaky", name="f")
        live.supervisor.finished.result(20)  # type: ignore[attr-defined]
    finally:
        orch.close()
    found = records(log)
    assert [r["event"] for r in found] == ["start", "end", "start", "end"]
    assert [r["exit_code"] for r in found if r["event"] == "end"] == [3, 3]


def test_the_secret_never_reaches_the_audit_log(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("ORCH_SECRET_AUDIT_TOKEN", SENTINEL)
    orch = Orchestrator(load_config_text(config(log)))
    try:
        assert orch.run("local", "secretive").stdout == "token=****\n"
        # The resolved value typed into an ad-hoc command is masked in the record too.
        orch.run("local", command=f"echo {SENTINEL} >/dev/null")
    finally:
        orch.close()
    text = log.read_text()
    assert SENTINEL not in text and "****" in text
    assert len(records(log)) == 4


def test_a_run_that_cannot_be_recorded_does_not_start(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")  # the log's directory is a file
    mark = tmp_path / "ran"
    orch = Orchestrator(load_config_text(config(tmp_path / "blocker" / "audit.jsonl")))
    try:
        with pytest.raises(OrchError, match="cannot write the audit log"):
            orch.run("local", command=f"touch {mark}")
        with pytest.raises(OrchError, match="cannot write the audit log"):
            orch.start("local", command=f"touch {mark}", name="n").wait(10)
        assert orch.ps() == []  # a refused named run leaves no entry (ps, status, stop broke)
        with pytest.raises(OrchError, match="no run named 'n'"):
            orch.stop("n", timeout=1)
        (tmp_path / "blocker").unlink()
        assert orch.start("local", command="true", name="n").wait(10).ok  # the name is free
    finally:
        orch.close()
    assert not mark.exists()


async def _launched(orch: Orchestrator, line: str, log: Path) -> int | None:
    handle = await orch.launch("local", command=line)
    assert records(log)[-1]["event"] == "start"  # written before it could end
    return (await handle.wait()).code


def test_a_launched_process_is_recorded_from_start_to_exit(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    orch = Orchestrator(load_config_text(config(log)))
    try:
        assert asyncio.run(_launched(orch, "echo launched; exit 4", log)) == 4
    finally:
        orch.close()
    start, end = records(log)
    assert start["event"] == "start" and end["event"] == "end" and start["id"] == end["id"]
    assert start["front_end"] == "api" and start["command"] == "echo launched; exit 4"
    assert end["exit_code"] == 4 and end["ok"] is False and end["error"] is None
    assert verify(str(log)) == (2, None)


def test_a_launch_that_cannot_be_recorded_does_not_start(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")  # the log's directory is a file
    mark = tmp_path / "ran"
    log = tmp_path / "blocker" / "audit.jsonl"
    orch = Orchestrator(load_config_text(config(log)))
    try:
        with pytest.raises(OrchError, match="cannot write the audit log"):
            asyncio.run(_launched(orch, f"touch {mark}", log))
    finally:
        orch.close()
    assert not mark.exists()


def test_a_manual_restart_that_cannot_be_recorded_leaves_the_run_as_it_was(
        tmp_path: Path) -> None:
    """The refused attempt replaced the run's supervisor: ps() and status() then raised
    AssertionError."""
    folder = tmp_path / "audit"
    folder.mkdir()
    orch = Orchestrator(load_config_text(config(folder / "audit.jsonl")),
                        log_dir=tmp_path / "logs")
    try:
        first = orch.start("local", "hello", name="h")
        assert first.wait(10).ok
        (folder / "audit.jsonl").unlink()
        folder.rmdir()
        folder.write_text("")  # the log's directory is a file now
        with pytest.raises(OrchError, match="cannot write the audit log"):
            orch.restart("h")
        [row] = orch.ps()
        assert (row.name, row.state, row.exit) == ("h", "exited", "exit 0")
        assert orch.status("h").result().ok
        folder.unlink()
        assert orch.restart("h").wait(10).ok  # once it can be recorded again
        (folder / "audit.jsonl").unlink()
        folder.rmdir()
        folder.write_text("")
        with pytest.raises(OrchError, match="cannot write the audit log"):
            orch.restart("h")
        # what follows the first attempt's handle (a notebook's display of it) is told the
        # run ended with attempt 2, not with the restart refused after it (review)
        told: list[int | None] = []
        first.supervisor.follow(Told(told), first)
        deadline = time.monotonic() + 10
        while not told and time.monotonic() < deadline:
            time.sleep(0.01)
        assert told == [2]
    finally:
        orch.close()


class Told:
    """A lifecycle.Follower keeping the attempt number of the run's end."""

    def __init__(self, told: list[int | None]) -> None:
        self.told = told

    def attempt_started(self, attempt: NamedRun) -> None:
        pass

    def noted(self, text: str) -> None:
        pass

    def run_ended(self, last: NamedRun | None) -> None:
        self.told.append(last.attempt if last else None)


def test_a_restart_that_cannot_be_recorded_ends_the_named_run_saying_why(
        tmp_path: Path) -> None:
    folder = tmp_path / "audit"
    folder.mkdir()
    orch = Orchestrator(load_config_text(config(folder / "audit.jsonl")),
                        log_dir=tmp_path / "logs", restart_backoff=(0.5, 0.5))
    try:
        live = orch.start("local", "flaky", name="f")
        live.wait(10)  # the first attempt is over; its restart is 0.5 s away
        (folder / "audit.jsonl").unlink()
        folder.rmdir()
        folder.write_text("")  # the log's directory is a file now
        live.supervisor.finished.result(20)  # type: ignore[attr-defined]
        assert "f: restart refused: cannot write the audit log" in orch.logs("f")
        [row] = orch.ps()
        assert row.name == "f" and row.restarts == 0 and row.exit == "exit 3"
    finally:
        orch.close()


@contextlib.contextmanager
def echo_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that sends back what it gets; yields its port."""
    srv = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = srv.accept()
                with conn:
                    while data := conn.recv(4096):
                        conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield srv.getsockname()[1]
    finally:
        srv.close()


def test_a_port_forward_is_audited_from_open_to_close(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    orch = Orchestrator(load_config_text(config(log)))
    try:
        with echo_server() as port:
            forward = orch.forward("local", port)
            with socket.create_connection(("127.0.0.1", forward.port), timeout=10) as c:
                c.sendall(b"ping")
                assert c.recv(4) == b"ping"
            assert len(records(log)) == 1  # open: its start only
            orch.forwards.stop(forward.id)
    finally:
        orch.close()
    start, end = records(log)
    assert start["event"] == "start" and end["event"] == "end" and start["id"] == end["id"]
    assert start["environment"] == "local" and start["front_end"] == "api"
    assert start["command"] == f"orch-forward localhost:{port}"
    assert end["ok"] is True and end["duration"] >= 0 and end["error"] is None
    assert verify(str(log)) == (2, None)
    row = audited_runs(load_config_text(config(log)).audit)[0]
    assert row.row()[4] == "closed"


def test_a_forward_that_cannot_be_recorded_does_not_open(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    orch = Orchestrator(load_config_text(config(tmp_path / "blocker" / "audit.jsonl")))
    try:
        with echo_server() as port:
            with pytest.raises(OrchError, match="cannot write the audit log"):
                orch.forward("local", port)
            assert orch.forwards.list() == []
    finally:
        orch.close()


def test_digests_can_be_turned_off_keeping_byte_counts(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    orch = Orchestrator(load_config_text(config(log, ", digests: false")))
    try:
        assert orch.run("local", "hello").ok
    finally:
        orch.close()
    start, end = records(log)
    assert end["stdout_bytes"] == 6 and end["stderr_bytes"] == 5
    assert end["stdout_sha256"] is None and end["stderr_sha256"] is None
    assert verify(str(log)) == (2, None)


def test_a_mistyped_audit_setting_is_a_config_error_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"digest.*did you mean 'digests'"):
        load_config_text(config(tmp_path / "audit.jsonl", ", digest: false"))


def test_audit_can_be_turned_off(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    orch = Orchestrator(load_config_text(config(log, ", enabled: false")))
    try:
        assert orch.run("local", "hello").audit_id is None
    finally:
        orch.close()
    assert not log.exists()
    # safety18: `orch audit` said "no run was audited yet", not that the config turns it off
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(config(log, ", enabled: false"))
    for action in ((), ("verify",)):
        said = _cli(cfg, "audit", *action).stderr
        assert said.startswith(f"orch: note: auditing is off in {cfg} (audit: {{enabled: "
                               f"false}}): runs of this config are not recorded\n"), said
    # safety19: `%orch history` listed older runs as if the list were complete
    from shells import orch_shell

    with orch_shell(cfg.read_text(), tmp_path) as shell, \
            contextlib.redirect_stdout(io.StringIO()) as out:
        shell.run_line_magic("orch", "history")
    assert out.getvalue().startswith(f"note: auditing is off in {cfg} (audit: {{enabled: "
                                     f"false}}): runs of this config are not recorded\n")


def _cli(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), *args],
                          capture_output=True, text=True, timeout=60)


def test_cli_runs_are_recorded_and_orch_audit_reads_and_verifies(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(config(log))
    # before any run: an empty table, saying why (it said nothing; held-out tester cli3)
    none = _cli(cfg, "audit")
    assert (none.returncode, none.stdout.count("\n")) == (0, 1)
    assert none.stderr == f"orch: no run was audited yet: there is no audit log at {log}\n"
    assert _cli(cfg, "run", "local", "hello").returncode == 0
    assert _cli(cfg, "run", "local", "--", "sh", "-c", "exit 4").returncode == 4
    start = records(log)[0]
    assert start["front_end"] == "cli"
    table = _cli(cfg, "audit").stdout.splitlines()
    assert table[0].split()[:3] == ["time", "(UTC)", "who"] and len(table) == 3
    assert "exit 4" in table[2] and "hello" in table[1]
    failed = [json.loads(line) for line in _cli(cfg, "audit", "--failed", "--json")
              .stdout.splitlines()]
    assert [r["end"]["exit_code"] for r in failed] == [4]
    nowhere = _cli(cfg, "audit", "--env", "nowhere")  # a header alone said nothing (docs3)
    assert (nowhere.stdout.count("\n"), nowhere.stderr) == (
        1, f"orch: no run in {log} matches --env nowhere\n")
    ok_runs = _cli(cfg, "audit", "--env", "local", "--failed", "--since", "1h", "--json")
    assert ok_runs.stdout.count("\n") == 1 and ok_runs.stderr == ""
    typo = _cli(cfg, "audit", "--env", "lcoal")
    assert (typo.returncode, typo.stdout.count("\n")) == (0, 1)
    assert typo.stderr == f"orch: no run of environment 'lcoal' in {log} (did you mean 'local'?)\n"
    # the environment is right, another filter left nothing: no hint naming it back (tester)
    empty = _cli(cfg, "audit", "--env", "local", "--since", "2099-01-01")
    assert (empty.returncode, empty.stdout.count("\n"), empty.stderr) == (
        0, 1, f"orch: no run in {log} matches --env local --since 2099-01-01\n")
    for args in (["--file", str(tmp_path / "none.jsonl")],
                 ["verify", "--file", str(tmp_path / "none.jsonl")]):
        missing = _cli(cfg, "audit", *args)
        assert (missing.returncode, missing.stderr) == (
            1, f"orch: there is no audit log at {tmp_path / 'none.jsonl'}\n")

    assert _cli(cfg, "audit", "--since", "1h").stdout.count("\n") == 3
    # `%orch history -n N` had no `orch audit -n N` (tester guard): the last N runs
    last = [json.loads(line) for line in _cli(cfg, "audit", "-n", "1", "--json")
            .stdout.splitlines()]
    assert [r["end"]["exit_code"] for r in last] == [4]
    assert [_cli(cfg, "audit", "--tail", n).stdout.count("\n") for n in ("0", "2", "9")] == [
        1, 3, 3]
    assert _cli(cfg, "audit", "-n", "-1").stderr.endswith("argument -n/--tail: needs a number "
                                                          ">= 0, not -1\n")
    bad_since = _cli(cfg, "audit", "--since", "yesterdayish")  # a usage error, as any option's
    assert bad_since.returncode == 2 and "argument --since: give a span like 30m" in \
        bad_since.stderr
    ok = _cli(cfg, "audit", "verify")
    assert ok.returncode == 0 and "4 records" in ok.stdout
    # api5: --json printed the text verdict, and the filters were taken and ignored
    assert json.loads(_cli(cfg, "audit", "verify", "--json").stdout) == {
        "ok": True, "file": str(log), "records": 4}
    ignored = _cli(cfg, "audit", "verify", "--since", "1h", "--failed")
    assert (ignored.returncode, ignored.stdout, ignored.stderr) == (
        2, "", "orch: audit verify checks the whole log: --since, --failed do not apply to it\n")
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:1] + lines[2:]))  # a record deleted
    bad = _cli(cfg, "audit", "verify")
    assert (bad.returncode, bad.stdout) == (1, "") and ":2:" in bad.stderr
    said = json.loads(_cli(cfg, "audit", "verify", "--json").stdout)
    assert said["ok"] is False and said["line"] == 2 and said["error"]
    for args in (["--since", "99999999d"], ["--since", "1" + "0" * 400 + "w"]):
        far_back = _cli(cfg, "audit", *args)
        assert far_back.returncode == 2 and far_back.stderr.endswith(
            f"argument --since: --since {args[1]!r} reaches back before the year 1\n")
    for args in (["--file", str(tmp_path)], ["verify", "--file", str(tmp_path)]):
        folder = _cli(cfg, "audit", *args)
        assert folder.returncode == 1 and folder.stderr.startswith(
            f"orch: the audit log {tmp_path} is a directory, not a regular file: ")
    # a fleet target's label is shown as env/target: it is what is suggested (s9-guard)
    AuditLog(str(log)).append({"event": "start", "id": "f1", "time": "2026-12-02T00:00:00+00:00",
                               "environment": "fleet", "target": "web-1", "command": "true"})
    label = _cli(cfg, "audit", "--env", "web-1")
    assert label.stderr == (f"orch: no run of environment 'web-1' in {log} (did you mean "
                            f"'fleet/web-1'?)\n"), label.stderr
    assert _cli(cfg, "audit", "--env", "fleet/web-1").stdout.count("\n") == 2


def test_a_reader_that_leaves_early_gets_no_error(tmp_path: Path) -> None:
    """`orch audit --json | head -c 10`: a BrokenPipeError used to come out as an error."""
    log = tmp_path / "audit.jsonl"
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(config(log))
    orch = Orchestrator(load_config_text(config(log)))
    for _ in range(200):  # more than a pipe holds, so the writer meets the closed pipe
        orch.run("local", command="true")
    orch.close()
    line = f"{sys.executable} -m orch_magics.cli -c {cfg} audit --json | head -c 10"
    head = subprocess.run(["bash", "-c", line + '; echo " ${PIPESTATUS[0]}"'],
                          capture_output=True, text=True, timeout=60)
    assert (head.stdout[10:], head.stderr) == (" 141\n", "")


WORKER = """
import sys
from orch_magics import Orchestrator, load_config_text
orch = Orchestrator(load_config_text(open(sys.argv[1]).read()))
for _ in range(int(sys.argv[2])):
    assert orch.run("local", command=["true"]).ok
orch.close()
"""


def test_two_processes_and_a_cli_loop_at_once_keep_one_chain(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(config(log))
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(cfg), "500"])
               for _ in range(2)]
    cli = subprocess.Popen(["sh", "-c", f"for i in $(seq 20); do {sys.executable} -m "
                                        f"orch_magics.cli -c {cfg} run local -- true || exit 1; "
                                        f"done"])
    assert [p.wait(600) for p in (*workers, cli)] == [0, 0, 0]
    assert verify(str(log)) == (2 * (1000 + 20), None)
    runs = list(AuditLog(str(log)).records())
    ids = [r["id"] for r in runs if r["event"] == "start"]
    assert len(ids) == len(set(ids)) == 1020


def test_orch_audit_shows_one_safe_line_per_run_even_from_a_damaged_log(tmp_path: Path) -> None:
    """Stray lines (`null`, a list) and wrongly typed fields made `orch audit` an internal
    error; a command's newlines broke the table and its terminal escapes could erase rows."""
    log = tmp_path / "audit.jsonl"
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(config(log))
    assert _cli(cfg, "run", "local", "--", "sh", "-c", "echo one\necho two",
                "\x1b[2K\r\x1b[1A").returncode == 0
    with log.open("a") as f:
        f.write('null\n[1, 2]\n"text"\n')
        f.write(json.dumps({"event": "start", "id": "odd", "time": 5, "environment": 7,
                            "command": None}) + "\n")
        f.write(json.dumps({"event": "end", "id": "odd", "duration": "slow"}) + "\n")
    shown = _cli(cfg, "audit")
    assert shown.returncode == 0, shown.stderr
    rows = shown.stdout.splitlines()
    assert len(rows) == 3 and "\x1b" not in shown.stdout
    assert "echo one\\necho two" in rows[1] and "slow" in rows[2]
    assert _cli(cfg, "audit", "--since", "1h").returncode == 0
    assert _cli(cfg, "audit", "--env", "lcl").returncode == 0


def test_a_copy_is_audited_as_what_it_copies(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(config(log))
    src = tmp_path / "src.txt"
    src.write_text("copied\n")
    put = _cli(cfg, "cp", str(src), f"local:{tmp_path}/dst.txt")
    got = _cli(cfg, "cp", f"local:{tmp_path}/dst.txt", str(tmp_path / "back"))
    assert put.returncode == got.returncode == 0
    starts = [r for r in records(log) if r["event"] == "start"]
    assert [r["command"] for r in starts] == [f"orch-put {src} {tmp_path}/dst.txt",
                                              f"orch-get {tmp_path}/dst.txt {tmp_path}/back"]
    # the copy's line names its record, as a cell's status line does (s9-guard #3)
    for done, record in zip((put, got), starts, strict=True):
        assert done.stdout.rstrip().endswith(f"· audit {record['id']}"), done.stdout
    # a user's own script run under such a name is shown whole: the title is ours to set
    assert _cli(cfg, "run", "local", "--", "/bin/sh", "-c", "echo hidden?", "orch-get",
                "x").returncode == 0
    assert records(log)[-2]["command"] == "/bin/sh -c 'echo hidden?' orch-get x"


def test_who_is_the_account_the_run_is_made_as_not_what_user_says(tmp_path: Path) -> None:
    """`su` without `-` keeps the caller's USER and LOGNAME: a run as root was recorded, and
    its confirmation signed, as that user (held-out tester)."""
    import pwd

    log = tmp_path / "audit.jsonl"
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(config(log).replace("  local: {layers: []}",
                                       "  local: {layers: []}\n  prod: {layers: [], protected: true}"))
    env = {**os.environ, "USER": "alice-s7", "LOGNAME": "alice-s7", "LNAME": "alice-s7"}
    done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run",
                           "prod", "--yes", "prod", "--", "true"], capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    me = pwd.getpwuid(os.geteuid()).pw_name
    start = records(log)[0]
    assert (start["user"], start["confirmation"]["user"]) == (me, me)  # type: ignore[index]


CUT_SHORT = """
import sys, time
import orch_magics.shutdown as shutdown
from orch_magics import Orchestrator, load_config
shutdown.SIGNAL_STOP_TIMEOUT = 0.5  # the stop ladder of a run deaf to INT and TERM takes longer
orch = Orchestrator(load_config(sys.argv[1]), log_dir=sys.argv[2])
orch.start("local", command="trap '' INT TERM; echo up; sleep 60", name="deaf")
orch.start("local", command="sleep 60", name="quick")
time.sleep(1)
print("started", flush=True)
time.sleep(60)
"""


def test_a_term_that_ends_the_process_before_its_runs_end_still_ends_their_records(
        tmp_path: Path) -> None:
    """runs6: a script with 50 named runs killed by TERM exited after its 8 s of stopping
    with 39 start records left without an end: `orch audit` showed them `running?` for
    ever. What has not ended when the process must is closed as cut short."""
    log = tmp_path / "audit.jsonl"
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(config(log))
    proc = subprocess.Popen([sys.executable, "-c", CUT_SHORT, str(cfg), str(tmp_path / "logs")],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "started\n"
        proc.send_signal(15)
        assert proc.wait(30) == -15
    finally:
        proc.kill()
    written = records(log)
    starts = {r["id"] for r in written if r["event"] == "start"}
    ends = {r["id"]: r for r in written if r["event"] == "end"}
    assert len(starts) == 2 and set(ends) == starts, written  # none left `running?`
    cut = [r for r in ends.values() if r.get("error", "") and "end was not seen" in r["error"]]
    assert len(cut) == 1 and cut[0]["interrupted"] is True and cut[0]["ok"] is False
    assert cut[0]["error"] == ("orch ended by SIGTERM after 0.5 s of stopping its runs; this "
                               "one's end was not seen")
    assert verify(str(log)) == (4, None)
    # runs7 F3: the deaf run's log file said so too (it ended at its start line), once
    notes = [line.split(": ", 2)[-1] for line in
             (tmp_path / "logs" / "deaf.log").read_text().splitlines() if line.startswith("# orch")]
    assert notes[-1] == f"deaf: {cut[0]['error']}" and notes[-2].startswith("start local/"), notes


def test_a_forked_child_ending_by_term_never_ends_its_parents_records(tmp_path: Path) -> None:
    """api6: a child forked while a run was going inherited its open start record, and its
    TERM path wrote an end for it: one run, two ends, while it still ran in the parent."""
    log = tmp_path / "audit.jsonl"
    orch = Orchestrator(load_config_text(config(log)), log_dir=tmp_path / "logs")
    try:
        live = orch.start("local", command="sleep 60", name="parents")
        pid = os.fork()
        if pid == 0:  # the child: TERM, handled as orch handles it (stop, then end)
            os.kill(os.getpid(), 15)
            os._exit(3)  # not reached: TERM ends it
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == -15
        assert [r["event"] for r in records(log)] == ["start"]  # still running, here
        orch.stop("parents")
        assert live.done
    finally:
        orch.close()
    assert [r["event"] for r in records(log)] == ["start", "end"]
    assert records(log)[1].get("error") is None


def test_a_second_term_while_the_first_stops_the_runs_still_ends_their_records(
        tmp_path: Path) -> None:
    """api6: a second TERM restored the default and ended the process at once, leaving the
    start records open (`running?` for ever)."""
    log = tmp_path / "audit.jsonl"
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(config(log))
    script = CUT_SHORT.replace("SIGNAL_STOP_TIMEOUT = 0.5", "SIGNAL_STOP_TIMEOUT = 30")
    proc = subprocess.Popen([sys.executable, "-c", script, str(cfg), str(tmp_path / "logs")],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "started\n"
        proc.send_signal(15)
        time.sleep(0.5)  # the first is stopping the deaf run (INT, then TERM, then KILL)
        proc.send_signal(15)
        assert proc.wait(30) == -15
    finally:
        proc.kill()
    written = records(log)
    ends = [r for r in written if r["event"] == "end"]
    assert len(ends) == 2 and {r["id"] for r in ends} == {
        r["id"] for r in written if r["event"] == "start"}, written
    assert any("a second SIGTERM" in (r.get("error") or "") for r in ends), ends


def test_an_end_record_that_cannot_be_written_is_said_by_the_result(tmp_path: Path) -> None:
    """safety12: the start record was written, the end record could not be (a full disk), and
    the RunResult said nothing (a warning in a log line only), as troubleshooting.md promises
    it does. Here the command itself takes the log's place with a folder."""
    log = tmp_path / "audit.jsonl"
    with Orchestrator(load_config_text(config(log))) as orch:
        res = orch.run("local", command=f"rm -f {log} && mkdir {log} && echo done")
    assert res.ok and res.stdout == "done\n"
    assert (res.audit_error or "").startswith(
        f"the end of audit record {res.audit_id} was not written: the audit log {log} is a "
        f"directory"), res.audit_error
    assert res.to_dict()["audit_error"] == res.audit_error
    assert repr(res).endswith("; its end is not in the audit log>"), repr(res)
    with Orchestrator(load_config_text(config(tmp_path / "other.jsonl"))) as orch:
        assert orch.run("local", command="true").audit_error is None


@pytest.mark.parametrize("action", [[], ["verify"]], ids=["list", "verify"])
def test_a_found_config_with_a_mistake_is_said_not_swapped_for_the_default_log(
        tmp_path: Path, action: list[str]) -> None:
    """config14 F4: with a typo anywhere in ./orch.yaml, `orch audit` listed (and `verify`
    certified) the default log, not the configured audit.path, and said nothing."""
    log = tmp_path / "custom.jsonl"
    (tmp_path / "orch.yaml").write_text(config(log).replace("command:", "comand:", 1))
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    audit = subprocess.run([sys.executable, "-m", "orch_magics.cli", "audit", *action],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert audit.returncode != 0 and audit.stdout == ""
    assert f"{tmp_path / 'orch.yaml'}:" in audit.stderr and "'comand'" in audit.stderr
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("how", ["run", "cp", "forward"])
def test_a_confirmed_attempt_whose_secret_is_missing_is_in_the_trail_from_the_cli(
        tmp_path: Path, how: str) -> None:
    """safety15: a person confirmed a protected run, then its secret could not be had: the
    API recorded the attempt (start with its confirmation, end with why), the CLI, `orch cp`
    and `orch forward` left nothing."""
    log = tmp_path / "audit.jsonl"
    cfg = tmp_path / "orch.yaml"
    layer = ("{type: ssh, config: {host: 127.0.0.1, port: 1, password: '{{secret:tok}}'}}"
             if how == "forward" else  # a forward asks for what its hops need (kinds19)
             "{type: local, config: {environment: {TOK: '{{secret:tok}}'}}}")
    cfg.write_text(f"environments:\n  prod:\n    protected: true\n    layers: [{layer}]\n"
                   f"audit: {{path: {log}}}\nsecrets: {{providers: [env]}}\n")
    args = {"run": ["run", "prod", "--yes", "prod", "--", "true"],
            "cp": ["cp", "--yes", "prod", "prod:/etc/hostname", str(tmp_path / "x")],
            "forward": ["forward", "--yes", "prod", "prod", "22"]}[how]
    env = {k: v for k, v in os.environ.items() if k != "ORCH_SECRET_TOK"}
    done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), *args],
                          capture_output=True, text=True, timeout=60,
                          env=env, stdin=subprocess.DEVNULL)
    assert done.returncode != 0 and "secret 'tok' is not available" in done.stderr, done
    start, end = (json.loads(line) for line in log.read_text().splitlines())
    assert start["confirmation"]["how"] == "--yes prod" and start["environment"] == "prod"
    assert end["id"] == start["id"] and "secret 'tok' is not available" in end["error"], end


def test_an_audit_path_under_home_is_the_one_runs_and_the_reader_use(tmp_path: Path) -> None:
    """safety17: with `audit: {path: ~/trail.jsonl}` runs were written to $HOME/trail.jsonl,
    but `orch audit verify` said "there is no audit log at ~/trail.jsonl" (exit 1) and
    `orch audit` said "no run was audited yet" above the runs it listed."""
    home = tmp_path / "home"
    home.mkdir()
    cfg = tmp_path / "orch.yaml"
    cfg.write_text("environments: {local: []}\naudit: {path: ~/trail.jsonl}\n")
    env = {**os.environ, "HOME": str(home)}
    ran = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run",
                          "local", "--", "true"], env=env, capture_output=True, timeout=60)
    assert ran.returncode == 0 and (home / "trail.jsonl").exists(), ran.stderr

    def audit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "audit",
                               *args], env=env, capture_output=True, text=True, timeout=60)
    verified, listed = audit("verify", "--json"), audit()
    assert json.loads(verified.stdout) == {"ok": True, "file": str(home / "trail.jsonl"),
                                           "records": 2}, verified.stderr
    assert listed.returncode == 0 and listed.stderr == "" and listed.stdout.count("\n") == 2


@pytest.mark.parametrize(("var", "kind"), [("DOCKER_HOST", "docker"),
                                           ("CONTAINER_HOST", "podman")])
def test_a_password_in_an_engine_address_is_never_shown_nor_recorded(
        tmp_path: Path, var: str, kind: str) -> None:
    """kinds16: `tcp://user:PASSWORD@host` in DOCKER_HOST or CONTAINER_HOST was printed in
    the error and written to the audit record: the password shows as ****."""
    log, cfg = tmp_path / "audit.jsonl", tmp_path / "orch.yaml"
    cfg.write_text(f"environments: {{e: [{kind} web]}}\naudit: {{path: {log}}}\n")
    env = {**os.environ, var: "tcp://core:Hunter2SecretPw@127.0.0.1:9"}
    ran = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run", "e",
                          "--", "true"], capture_output=True, text=True, env=env, timeout=60)
    assert ran.returncode == 1 and "tcp://core:****@127.0.0.1:9" in ran.stderr, ran.stderr
    assert "Hunter2" not in ran.stderr + log.read_text() and "core:****@" in log.read_text()


def test_a_run_that_could_not_start_has_the_time_it_tried(tmp_path: Path) -> None:
    """magics20: a hop that refused (or hung past its connect_timeout) left the end record
    without a duration: `orch audit` and `%orch history` showed none, where the result says
    how long it tried."""
    from fixtures.ports import free_port

    log = tmp_path / "audit.jsonl"
    text = config(log).replace("  local: {layers: []}\n", (
        "  local: {layers: []}\n  down: {layers: [{type: ssh, config: {host: 127.0.0.1, "
        f"port: {free_port()}, connect_timeout: 5}}}}]}}\n"))
    (tmp_path / "orch.yaml").write_text(text)
    with Orchestrator(load_config_text(text)) as orch, pytest.raises(OrchError):
        orch.run("down", command="true")
    end = records(log)[-1]
    assert end["event"] == "end" and end["ok"] is False
    assert isinstance(end["duration"], float) and 0 <= end["duration"] < 60, end
    table = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c",
                            str(tmp_path / "orch.yaml"), "audit"],
                           capture_output=True, text=True, timeout=60)
    [row] = [line for line in table.stdout.splitlines() if " down " in line]
    assert f"{end['duration']:.1f}s" in row, table.stdout


def test_history_in_a_kernel_masks_what_it_knows_as_a_secret_now(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_known_secrets: None) -> None:
    """safety21: a record written by a process that did not know the value as a secret (a
    CLI run) showed it in clear in `%orch history` (table and --json), and so in the saved
    notebook, once this kernel knew it."""
    from shells import orch_shell

    log = tmp_path / "audit.jsonl"
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(config(log))
    assert _cli(cfg, "run", "local", "--", "sh", "-c", f"echo {SENTINEL} >/dev/null"
                ).returncode == 0
    monkeypatch.setenv("ORCH_SECRET_AUDIT_TOKEN", SENTINEL)
    with orch_shell(cfg.read_text(), tmp_path) as shell, \
            contextlib.redirect_stdout(io.StringIO()) as out:
        shell.run_line_magic("orch", "local secretive")  # now a secret of this kernel
        shell.run_line_magic("orch", "history")
        shell.run_line_magic("orch", "history --json")
    assert "echo **** >/dev/null" in out.getvalue() and SENTINEL not in out.getvalue()


def test_an_interrupted_forward_is_recorded_as_interrupted(tmp_path: Path) -> None:
    """magics21: `orch forward` interrupted while its hop connected (a listener that never
    speaks SSH) was recorded as `error: CancelledError`, where a copy interrupted so reads
    `interrupted`."""
    import signal

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    log, cfg = tmp_path / "audit.jsonl", tmp_path / "orch.yaml"
    cfg.write_text(f"audit: {{path: {log}}}\nenvironments:\n  hang:\n    layers:\n      - "
                   f"{{type: ssh, config: {{host: 127.0.0.1, port: {silent.getsockname()[1]}, "
                   f"connect_timeout: 60}}}}\n")
    try:
        proc = subprocess.Popen([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg),
                                 "forward", "hang", "80"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30  # its start record: it is connecting now
        while not (log.exists() and '"start"' in log.read_text()):
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130
    finally:
        silent.close()
    end = records(log)[-1]
    assert (end["event"], end["ok"], end["interrupted"], end["outcome"], end["error"]) == (
        "end", False, True, "interrupted", None), end
    assert "interrupted" in _cli(cfg, "audit", "-n", "1").stdout


def test_a_secret_known_now_is_masked_before_a_history_row_or_a_repr_cuts_it(
        tmp_path: Path) -> None:
    """safety22: a run recorded before its value was known as a secret (a CLI run, another
    kernel), listed once it is: the command was cut to 40 characters, then masked, and 29 of
    the secret's 32 characters showed (`%orch history`, `orch audit`); a result's repr cut
    its command the same way."""
    from orch_magics.secrets.masking import register

    secret = "Tok3nSecret" + os.urandom(8).hex() + "zq"  # 29 characters, none of them known
    log = tmp_path / "audit.jsonl"
    with Orchestrator(load_config_text(config(log))) as orch:
        res = orch.run("local", command=f"echo hi; exit 3 # {secret}")
        later = orch.run("local", command=f"printf %s {secret}")
    register(secret)
    rows = [run.row() for run in audited_runs(load_config_text(config(log)).audit)]
    shown = " ".join(" ".join(row) for row in rows) + repr(res) + repr(later)
    assert "printf %s ****" in shown and "echo hi; exit 3 # ****" in shown, shown
    assert secret[:6] not in shown, shown


def test_history_json_stays_json_when_a_secret_is_also_a_number_in_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_known_secrets: None) -> None:
    """safety22: `%orch history --json` masked the text it dumped, so a secret that is a
    number (a PIN) turned `"stdout_bytes": 4242` into `"stdout_bytes": ****`: no JSON."""
    from shells import orch_shell

    log = tmp_path / "audit.jsonl"
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(config(log))
    assert _cli(cfg, "run", "local", "--", "head", "-c", "4242", "/dev/zero").returncode == 0
    monkeypatch.setenv("ORCH_SECRET_AUDIT_TOKEN", "4242")
    with orch_shell(cfg.read_text(), tmp_path) as shell, \
            contextlib.redirect_stdout(io.StringIO()) as out:
        shell.run_line_magic("orch", "local secretive")  # now a secret of this kernel
        out.truncate(0)
        out.seek(0)
        shell.run_line_magic("orch", "history --json")
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [row["end"]["stdout_bytes"] for row in rows] == [4242, 11], rows
    assert "head -c **** /dev/zero" in out.getvalue(), out.getvalue()


def test_history_since_nothing_is_refused_as_orch_audit_refuses_it(tmp_path: Path) -> None:
    """magics22: `%orch history --since ''` took the empty value for no filter and listed
    every run, where `orch audit --since ''` refuses it."""
    from shells import orch_shell

    log = tmp_path / "audit.jsonl"
    with orch_shell(config(log), tmp_path) as shell, \
            contextlib.redirect_stdout(io.StringIO()):
        shell.run_line_magic("orch", "local hello")
        with pytest.raises(Exception, match="--since '': give a span like 30m"):
            shell.run_line_magic("orch", "history --since ''")
