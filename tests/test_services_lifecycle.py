"""Named background runs on real processes: restart policies, logs (follow), log files, stop."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
import unicodedata
from pathlib import Path

import pytest

from orch_magics import ConfigError, OrchError, Orchestrator, lifecycle, load_config_text
from orch_magics.process.events import Stdout
from orch_magics.restart_policy import RestartPolicy

CONFIG = """\
environments:
  local: {layers: []}
services:
  crashy:
    command: 'echo "run $$"; sleep 0.05; exit 1'
    restart: on-failure
    max_restarts: 3
  fine-once:
    command: 'echo done'
    restart: on-failure
  forever:
    command: 'echo beat; sleep 0.1'
    restart: always
    max_restarts: 1000
  sleeper: {command: 'echo up; exec sleep 300'}
  unfinished:
    command: 'printf "run $$ ends mid-line"; exit 1'
    restart: on-failure
    max_restarts: 1
  ".odd name/é:1": {command: 'echo odd'}
  mixed:
    command: >-
      printf "out-partial"; sleep 0.2; printf "err-partial" >&2; sleep 0.2; echo " out-end";
      printf "10%%\\r" >&2; sleep 0.2; echo "result 1"; sleep 0.2; printf "100%%\\r" >&2;
      echo " err-end" >&2; printf "last out"; printf "last err" >&2
  talker:
    command: >-
      echo "line 1"; n=0; while [ ! -e "$SEEN" ] && [ $n -lt 2000 ]; do sleep 0.01; n=$((n+1));
      done; [ -e "$SEEN" ] || exit 3; for i in 2 3 4 5; do echo "line $i"; done; echo bye >&2
    pre_commands: [{command: 'echo preparing'}]
  cleans-up:
    command: 'exec sleep 300'
    post_commands: [{command: 'echo cleaning; exec sleep 302', when: always}]
  stubborn-cleans-up:  # its ladder takes INT, TERM and KILL
    command: "trap 'echo got-int' INT; trap 'echo got-term' TERM; echo waiting; while :; do sleep 0.1; done"
    post_commands: [{command: 'echo cleaning; sleep 3; echo cleaned', when: always}]
"""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:  # a zombie is not alive
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_for(pred, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


@pytest.fixture
def orch(tmp_path: Path) -> Orchestrator:
    o = Orchestrator(load_config_text(CONFIG), log_dir=tmp_path / "logs",
                     restart_backoff=(0.05, 0.2))
    yield o
    o.close()


def test_backoff_is_exponential_and_capped() -> None:
    policy = RestartPolicy("on-failure", 10, (0.5, 3.0))
    assert [policy.delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    # runs5: at the 1,025th restart 2 ** 1024 was no float: OverflowError, the run silently down
    assert [policy.delay(n) for n in (1024, 100_000)] == [3.0, 3.0]
    assert RestartPolicy("always", 10**6, (0, 0)).delay(5000) == 0
    assert not RestartPolicy("no").should_restart(None, 0)
    assert not RestartPolicy("always", 2).should_restart(None, 2)


def test_restart_on_failure_until_max_restarts(orch: Orchestrator) -> None:
    t0 = time.monotonic()
    orch.start("local", "crashy")
    wait_for(lambda: orch.runs.get("crashy").done)
    elapsed = time.monotonic() - t0
    status = orch.status("crashy")
    assert status.restarts == 3 and status.state == "failed"
    assert elapsed >= 0.05 + 0.1 + 0.2  # the back-off doubled each time (capped at 0.2)
    logs = orch.logs("crashy")
    assert logs.count("run ") == 4
    assert "restart 1/3 in 0.05s" in logs and "restart 3/3 in 0.20s" in logs
    assert orch.ps()[0].restarts == 3
    text = Path(status.log_file or "").read_text()
    assert text.count("run ") == 4 and text.count("# orch:") >= 8


@pytest.mark.parametrize("source", ["iterator", "file", "bytearray"])
def test_a_restarted_attempt_gets_eof_when_its_stdin_source_was_used_up(
        orch: Orchestrator, tmp_path: Path, source: str) -> None:
    """runs5: attempt 2 of a run fed by an iterator (or a file) got no stdin and no EOF, so
    `cat` waited for ever and the policy never retried or gave up. Text and bytes are sent
    again; a source used up by attempt 1 means EOF at once."""
    (tmp_path / "in").write_bytes(b"x\ny\n")
    with open(tmp_path / "in", "rb") as file:
        given = {"iterator": iter(["x\n", "y\n"]), "file": file,
                 "bytearray": bytearray(b"x\ny\n")}[source]
        orch.start("local", command="cat; echo got-eof; exit 1", name="it", stdin=given,
                   restart="on-failure", max_restarts=1)
        wait_for(lambda: orch.runs.get("it").done)
    assert orch.status("it").state == "failed" and orch.status("it").attempt == 2
    attempts = orch.logs("it").split("(attempt 2)")
    assert attempts[0].count("got-eof") == 1 and "x\ny" in attempts[0]
    assert "got-eof" in attempts[1]
    assert ("x\ny" in attempts[1]) == (source == "bytearray"), attempts[1]


def test_two_restarts_at_once_leave_one_run_that_stop_ends(orch: Orchestrator) -> None:
    """runs5: two `restart(NAME)` from two threads at once started two copies; `ps` listed
    one, and `stop(NAME)` left the other running until close()."""
    mark = f"sleep 77{os.getpid()}"
    orch.start("local", command=f"exec {mark}", name="svc")
    wait_for(lambda: orch.status("svc").pid is not None)
    gate = threading.Barrier(2)

    def restart() -> None:
        gate.wait()
        orch.restart("svc")

    threads = [threading.Thread(target=restart) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    wait_for(lambda: len(_running(mark)) == 1)  # the first restart's copy was stopped
    orch.stop("svc")
    wait_for(lambda: _running(mark) == [])


def _running(command: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.strip() == command]


def test_notes_in_the_log_file_start_their_own_lines(orch: Orchestrator) -> None:
    """docs/services.md: lines of our own start with `# orch:`. Before, output that ended
    mid-line got the note glued on (`…mid-line# orch: … exit 1`): `grep '^# orch:'` missed
    it, and the run's last line was changed in the only copy on disk."""
    orch.start("local", "unfinished")
    wait_for(lambda: orch.runs.get("unfinished").done)
    lines = Path(orch.status("unfinished").log_file or "").read_text().splitlines()
    ours = [line for line in lines if "# orch:" in line]
    assert len(ours) >= 4 and all(line.startswith("# orch: ") for line in ours), lines
    assert all(f" pid {os.getpid()}: " in line for line in ours)  # whose (two kernels: one log)
    outputs = [line for line in lines if not line.startswith("# orch: ")]
    assert len(outputs) == 2 and all(line.endswith(" ends mid-line") for line in outputs)


def test_the_log_file_never_puts_two_streams_on_one_line(orch: Orchestrator) -> None:
    """A line stdout had not ended got stderr's bytes glued in (`out-partialerr-partial
    out-end`), and a progress bar's `10%\\r` on stderr ran into stdout's lines: `grep
    '^result'` found nothing in the only copy on disk (services tester #4)."""
    orch.start("local", "mixed")
    wait_for(lambda: orch.runs.get("mixed").done)
    log = Path(orch.status("mixed").log_file or "").read_bytes().decode()
    lines = [line for line in log.split("\n")
             if line and not line.startswith("# orch: ")]
    assert lines == ["out-partial out-end", "result 1", "err-partial10%\r100%\r err-end",
                     "last out", "last err"], lines


def test_a_line_too_long_to_hold_still_keeps_the_streams_apart(orch: Orchestrator) -> None:
    """Past 64 KiB a line not ended goes to the file as it comes; stderr's next line was then
    glued onto it (`éé…éERR`), and the cut could fall inside a character (review9 #3)."""
    script = ("printf 'é%.0s' $(seq 40000); sleep 0.3; echo ERR >&2; sleep 0.3; "
              "echo ' rest'; echo done")
    orch.start("local", command=script, name="long-line")
    wait_for(lambda: orch.runs.get("long-line").done)
    log = Path(orch.status("long-line").log_file or "").read_bytes().decode()  # strict UTF-8
    lines = [line for line in log.split("\n") if line and not line.startswith("# orch: ")]
    assert [line.strip("é") for line in lines] == ["", "ERR", " rest", "done"]
    assert "".join(lines).count("é") == 40000


def test_on_failure_does_not_restart_a_success(orch: Orchestrator) -> None:
    live = orch.start("local", "fine-once")
    assert live.wait(10).ok
    wait_for(lambda: orch.runs.get("fine-once").done)
    assert orch.status("fine-once").restarts == 0


def test_restart_false_means_no_restart_not_the_services_policy(orch: Orchestrator) -> None:
    """`start(..., restart=False)` fell back to the service's `on-failure` and ran it four
    times (tester config): a Python caller's False is "no"."""
    orch.start("local", "crashy", restart=False)  # type: ignore[arg-type]
    wait_for(lambda: orch.runs.get("crashy").done)
    assert orch.status("crashy").restarts == 0 and orch.logs("crashy").count("run ") == 1


def test_restart_always_until_stopped(orch: Orchestrator) -> None:
    orch.start("local", "forever")
    wait_for(lambda: orch.status("forever").restarts >= 2)
    orch.stop("forever")
    assert orch.runs.get("forever").done
    count = orch.status("forever").restarts
    time.sleep(0.5)
    assert orch.status("forever").restarts == count  # no restart after stop


def test_restart_policy_for_ad_hoc_commands(orch: Orchestrator) -> None:
    orch.start("local", command="exit 7", name="adhoc", restart="on-failure", max_restarts=2)
    wait_for(lambda: orch.runs.get("adhoc").done)
    assert orch.status("adhoc").restarts == 2
    assert orch.status("adhoc").result().returncode == 7  # type: ignore[union-attr]


def test_logs_follow_yields_lines_as_they_come(orch: Orchestrator, tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    orch.start("local", "talker", name="t", env={"SEEN": str(seen)})
    lines = []
    for line in orch.logs("t", follow=True):  # type: ignore[union-attr]
        lines.append(line)
        if line == "line 1":  # the talker goes on once following has shown it (else exit 3)
            seen.touch()
    assert lines[:2] == ["orch: t: start local/talker (attempt 1)", "preparing"]
    assert [x for x in lines if x.startswith("line")] == [f"line {i}" for i in range(1, 6)]
    assert "bye" in lines
    assert orch.logs("t", 2).splitlines()[-1].startswith("orch: t: exit 0")  # type: ignore[union-attr]
    assert orch.logs("t", 0) == ""  # as `tail -n 0`, and as follow=True with tail=0
    assert list(orch.logs("t", 0, follow=True)) == []


def test_names_ps_status_and_manual_restart(orch: Orchestrator) -> None:
    live = orch.start("local", "sleeper")
    wait_for(lambda: "up" in orch.logs("sleeper"))  # type: ignore[operator]
    with pytest.raises(OrchError, match="still running"):
        orch.start("local", "sleeper", name="sleeper")
    other = orch.start("local", "sleeper")
    assert other.name == "sleeper-1"
    rows = {r.name: r for r in orch.ps()}
    assert rows["sleeper"].state == "running" and rows["sleeper"].pid == live.pid
    assert rows["sleeper"].log_file and rows["sleeper"].log_file.endswith("sleeper.log")
    first_pid = live.pid
    again = orch.restart("sleeper")
    wait_for(lambda: again.pid is not None)
    assert again.pid != first_pid and not pid_alive(first_pid or 0)
    assert orch.status("sleeper").restarts == 1
    assert f": running, pid {again.pid}, 1 restart(s), log " in repr(orch.status("sleeper"))
    # the logs go on across a manual restart, as across an automatic one (services tester #2)
    wait_for(lambda: orch.logs("sleeper").count("\nup") == 2)  # type: ignore[union-attr]
    logs = orch.logs("sleeper").splitlines()  # type: ignore[union-attr]
    # each attempt's lines begin with its start line (docs tester: the ring had none)
    assert len(logs) == 6 and logs[1] == logs[5] == "up", logs
    assert logs[0] == "orch: sleeper: start local/sleeper (attempt 1)"
    assert logs[2] == "orch: sleeper: interrupted, killed by SIGINT (stopped)", logs
    assert logs[3:5] == ["orch: sleeper: restart 1 asked for",
                         "orch: sleeper: start local/sleeper (attempt 2)"]
    with pytest.raises(OrchError, match="did you mean 'sleeper'"):
        orch.status("sleeperr")
    res = orch.stop("sleeper")
    assert res.interrupted


@pytest.mark.parametrize("name", ["../escape", "a/b", " ", ".hidden", "-rf", "x" * 101,
                                  "new\nline", "nul\0", "", "日" * 100, "\U0001d7d8" * 60])
def test_a_run_name_that_is_no_file_name_is_refused(orch: Orchestrator, tmp_path: Path,
                                                     name: str) -> None:
    """The name is the log file's: '../escape' wrote its log outside the log folder once
    turned into '.._escape', 'a/b' and 'a_b' shared a_b.log, 101 x's failed with OSError, and
    so did 100 CJK letters (300 bytes; named tester); "" was taken as no name at all."""
    with pytest.raises(ConfigError, match=r"run name .*: use letters, digits, '\.', '_' and "
                                          r"'-', starting with a letter or digit \(at most 100, "
                                          r"and 200 bytes"):
        orch.start("local", command="true", name=name)
    assert orch.ps() == [] and not (tmp_path / "logs").exists()


def test_a_run_name_is_one_name_however_its_accents_were_typed(orch: Orchestrator) -> None:
    """`café` typed decomposed (as macOS types it) was refused, and the composed one was
    another run: names are kept and looked up in NFC, as the config's (guard2 tester)."""
    decomposed = unicodedata.normalize("NFD", "café")
    assert orch.start("local", command="echo hi", name=decomposed).name == "café"
    assert orch.status("café").wait(10).stdout == "hi\n"
    assert "hi" in orch.logs(decomposed) and orch.stop(decomposed).ok
    assert [info.name for info in orch.ps()] == ["café"]


def test_a_service_of_any_name_gets_a_valid_run_name(orch: Orchestrator) -> None:
    from orch_magics.run_names import name_from
    wide = name_from("日" * 200)  # a log file name holds 255 bytes: `NAME-12.log.1` fits
    assert len(wide.encode()) <= 190 and set(wide) == {"日"}
    live = orch.start("local", ".odd name/é:1")
    assert live.name == "odd_name_é_1" and live.wait(10).stdout == "odd\n"
    assert orch.status("odd_name_é_1").log_file.endswith("/odd_name_é_1.log")  # type: ignore[union-attr]
    assert orch.start("local", command="true", name="ok-1.2_é").wait(10).ok


def test_close_stops_every_run(tmp_path: Path) -> None:
    orch = Orchestrator(load_config_text(CONFIG), log_dir=tmp_path)
    named = orch.start("local", "sleeper")
    spawned = orch.spawn("local", command="sleep 300")
    wait_for(lambda: named.pid is not None and spawned.pid is not None)
    pids = [named.pid, spawned.pid]
    orch.close()
    assert not any(pid_alive(p) for p in pids if p)
    assert named.done and spawned.done


def test_interpreter_exit_stops_every_run(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import time
        from orch_magics import Orchestrator, load_config_text
        orch = Orchestrator(load_config_text({CONFIG!r}), log_dir={str(tmp_path)!r})
        named = orch.start("local", "sleeper")
        spawned = orch.spawn("local", command="sleep 300")
        while named.pid is None or spawned.pid is None:
            time.sleep(0.01)
        print(named.pid, spawned.pid, flush=True)
        # no close(): the interpreter just exits, as a kernel does on shutdown
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    pids = [int(p) for p in proc.stdout.split()]
    assert len(pids) == 2
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=5)


def test_finished_named_runs_hold_no_log_file_open(orch: Orchestrator) -> None:
    def open_logs() -> list[str]:
        found = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.endswith(".log") and str(orch.log_dir) in target:
                found.append(target)
        return found

    for i in range(5):
        orch.start("local", command=f"echo run-{i}", name=f"short-{i}").wait(10)
    deadline = time.monotonic() + 5
    while open_logs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_logs() == []
    again = orch.restart("short-0")  # a manual restart appends to the same file again
    again.wait(10)
    text = Path(orch.status("short-0").log_file or "").read_text()
    assert text.count("run-0") == 2


def test_stop_right_after_start_never_hangs(orch: Orchestrator) -> None:
    """A stop that lands while the process is still being created (a race found in review:
    cancelling asyncio's subprocess creation half-way could hang the stop for ever)."""
    for i in range(60):
        orch.start("local", "sleeper", name="racer")
        if i % 2:
            time.sleep(0.01 * (i % 5))
        t0 = time.monotonic()
        result = orch.stop("racer", timeout=15)
        assert time.monotonic() - t0 < 10
        assert result is not None and not result.ok


def test_a_named_run_keeps_the_end_of_its_output_as_whole_lines_and_says_so(
        tmp_path: Path) -> None:
    """A named run may print for days: its result keeps the last `capture_limit` bytes, but
    never a fragment of a line, and says how much it dropped and where the rest went."""
    orch = Orchestrator(load_config_text(CONFIG), log_dir=tmp_path, capture_limit=1 << 20)
    try:
        res = orch.start("local", command="yes abcdefghi | head -n 1000000; echo LAST",
                         name="big").wait(60)
        small = orch.start("local", command="echo one; echo two", name="small").wait(10)
        whole = orch.run("local", command="yes abcdefghi | head -n 1000000; echo LAST")
    finally:
        orch.close()
    assert res.ok and res.lines[0] == "abcdefghi" and res.lines[-1] == "LAST"
    assert res.truncated
    assert set(res.lines[:-1]) == {"abcdefghi"}
    kept, dropped = len(res.lines), res.stdout_dropped
    assert dropped.lines + kept == 1_000_001 and dropped.size + len(res.stdout_bytes) == 10 * 10**6 + 5
    assert len(res.stdout_bytes) <= 1 << 20 and not res.stderr_dropped
    assert res.log_file == str(tmp_path / "big.log")
    assert (f"stdout: last 1024.0 KiB of 9.5 MiB kept ({dropped.lines} earlier lines dropped); "
            f"more in the log file {res.log_file}>") in repr(res)
    data = res.to_dict()
    assert data["truncated"] is True and data["log_file"] == res.log_file
    assert data["stdout_dropped"] == {"bytes": dropped.size, "lines": dropped.lines}
    # Nothing dropped: nothing said; run() keeps every byte.
    assert small.lines == ["one", "two"] and not small.truncated and "kept" not in repr(small)
    assert small.log_file == str(tmp_path / "small.log")
    assert len(whole.lines) == 1_000_001 and not whole.truncated and whole.log_file is None


def test_a_log_path_that_is_no_regular_file_is_refused_and_left_as_it_was(
        tmp_path: Path) -> None:
    """A FIFO at NAME.log hung `start()` for good; a symlink there had its target's mode
    changed to 0600 and the run's output appended to it (tester guard)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    os.mkfifo(logs / "fifo.log")
    precious = tmp_path / "precious.txt"
    precious.write_text("mine\n")
    precious.chmod(0o644)
    (logs / "link.log").symlink_to(precious)
    with Orchestrator(load_config_text(CONFIG), log_dir=logs) as orch:
        for name, why in (("fifo", "it is not a regular file"),
                          ("link", "it is a symbolic link \\(never followed\\)")):
            with pytest.raises(OrchError, match=rf"not started: the named run's log "
                                                rf".*{name}.log cannot be written \({why}\)"):
                orch.start("local", command="echo x", name=name)
    assert precious.read_text() == "mine\n" and stat.S_IMODE(precious.stat().st_mode) == 0o644
    # runs6: a NAME.log another user made first in a shared folder (0666) took the output
    theirs = logs / "theirs.log"
    theirs.write_text("")
    theirs.chmod(0o666)
    os.chown(theirs, 65534, 65534)  # nobody's (the tests run as root)
    with Orchestrator(load_config_text(CONFIG), log_dir=logs) as orch:
        with pytest.raises(OrchError, match=r"theirs.log cannot be written \(it belongs to "
                                            r"another user \(uid 65534\), who could read it"):
            orch.start("local", command="echo secret-output", name="theirs")
    assert theirs.read_text() == ""


def test_a_read_bigger_than_the_log_is_rotated_at_its_lines(tmp_path: Path) -> None:
    """runs6: the file rotated before a write, then took the whole chunk (every line of one
    read, 256 KiB): with log_max_bytes=10000, NAME.log.1 held 262 KB."""
    from orch_magics.sinks.log_file import LogFile

    path = tmp_path / "big.log"
    log = LogFile(str(path), max_bytes=1000)
    lines = [f"line {i:05} {'x' * 40}\n".encode() for i in range(2000)]  # 100 KB
    log.feed(Stdout(b"".join(lines)))
    log.feed(Stdout(b"y" * 2500 + b"\n"))  # one line longer than a file: cut
    log.shutdown()
    rotated, current = (tmp_path / "big.log.1").read_bytes(), path.read_bytes()
    assert len(rotated) <= 1000 and len(current) <= 1000, (len(rotated), len(current))
    assert rotated.endswith(b"\n") or set(rotated) == {ord("y")}
    assert current.endswith(b"y\n")


def test_two_writers_of_one_log_keep_every_line_and_its_bound(tmp_path: Path) -> None:
    """Two kernels starting the same name shared NAME.log, each counting only its own bytes
    and rotating it without a lock: of 600 lines each, 58 and 51 were left, mixed, and the
    file grew past log_max_bytes (tester guard)."""
    from orch_magics.sinks.log_file import LogFile

    path = str(tmp_path / "same.log")
    writers = [LogFile(path, max_bytes=1 << 20) for _ in range(2)]

    def write(n: int) -> None:
        for i in range(600):
            writers[n].feed(Stdout(f"writer-{n} line {i:04} {'x' * 200}\n".encode()))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for writer in writers:
        writer.shutdown()
    lines = Path(path).read_text().splitlines()
    assert sorted(lines) == sorted(f"writer-{n} line {i:04} {'x' * 200}" for n in range(2)
                                   for i in range(600))
    small = str(tmp_path / "small.log")
    writers = [LogFile(small, max_bytes=20_000) for _ in range(2)]
    threads = [threading.Thread(target=lambda n=n: [writers[n].feed(Stdout(
        f"{n}:{i:05}\n".encode())) for i in range(3000)]) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kept = Path(small + ".1").read_text().splitlines() + Path(small).read_text().splitlines()
    assert os.path.getsize(small) <= 20_000 and os.path.getsize(small + ".1") <= 20_000
    for n in range(2):  # each writer's newest lines, in order, none torn
        mine = [line for line in kept if line.startswith(f"{n}:")]
        assert mine and mine == sorted(mine) and mine[-1] == f"{n}:02999", mine[-3:]
    assert all(len(line) == 7 for line in kept)


def test_a_log_that_cannot_be_written_is_said_once_and_supervision_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A write that failed in the supervisor's note (a full disk, a folder where the rotation
    goes) ended its loop: no restart, `logs -f` over while `ps` said running (tester guard)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "crashy.log.1").mkdir()  # the rotation cannot replace a folder
    (logs / "crashy.log.1" / "keep").write_text("x")
    (logs / "crashy.log").write_text("x" * 4090 + "\n")  # full: the first line rotates
    with Orchestrator(load_config_text(CONFIG), log_dir=logs, log_max_bytes=4096,
                      restart_backoff=(0.05, 0.2)) as orch:
        orch.start("local", "crashy")
        wait_for(lambda: orch.runs.get("crashy").done)
        status = orch.status("crashy")
        assert status.restarts == 3 and status.state == "failed", status
        assert orch.logs("crashy").count("run ") == 4
    said = [r.getMessage() for r in caplog.records if "cannot be written" in r.getMessage()]
    assert len(said) == 1 and "crashy.log cannot be written" in said[0], said


def test_a_restart_the_config_loaded_since_cannot_plan_names_the_run(tmp_path: Path) -> None:
    """After loading a config without the run's environment, the error read like a typo on
    the line: "unknown environment 'local'" (magics2 tester)."""
    with Orchestrator(load_config_text(CONFIG), log_dir=tmp_path) as orch:
        orch.start("local", command="sleep 30", name="held")
        (tmp_path / "other.yaml").write_text("environments: {other: []}\n")
        orch.load(tmp_path / "other.yaml")
        with pytest.raises(ConfigError, match=r"cannot restart 'held': unknown environment "
                                              r"'local'"):
            orch.restart("held")
        orch.stop("held")


def test_a_stop_in_the_back_off_and_a_stale_attempt_say_what_happened(tmp_path: Path) -> None:
    """A stop during the back-off left the logs (and a following cell) on "restart 2/5 in
    …", and input sent to an earlier attempt's handle said only that it had ended, while the
    run went on (held-out tester magics3)."""
    with Orchestrator(load_config_text(CONFIG), log_dir=tmp_path / "logs",
                      restart_backoff=(0.3, 30)) as orch:
        first = orch.start("local", command="read l; exit 1", restart="on-failure", name="r")
        first.send_line("one")
        wait_for(lambda: orch.status("r").attempt == 2)
        with pytest.raises(OrchError, match="has ended: its stdin is gone; the run goes on as "
                                            r"attempt 2: %orch status r \(orch.status\('r'\)\) "
                                            "is its handle"):
            first.send_line("two")
        orch.status("r").send_line("two")
        wait_for(lambda: orch.status("r").state == "restarting")
        orch.stop("r")
        assert orch.logs("r").splitlines()[-1] == \
            "orch: r: stopped during the back-off: no restart"


def test_logs_say_the_lines_the_ring_no_longer_holds(orch: Orchestrator) -> None:
    """runs6: `logs(follow=True)` taken right after the start jumped from the start note to
    line 190002 of 200000 in silence, and `logs()` started at 20002 with no word."""
    live = orch.start("local", command="seq 1 200000", name="fast")
    got = list(orch.logs("fast", follow=True))
    live.wait(30)
    gaps = [line for line in got if "not kept in memory" in line]
    assert gaps and all(line.startswith("orch: … ") for line in gaps), got[:3]
    numbers = [int(line) for line in got if line.isdigit()]
    said = sum(int(line.split()[2]) for line in gaps)
    assert len(numbers) + said + 1 >= 200000  # every line is shown or counted (+ the note)
    assert got[-1].startswith("orch: fast: exit 0") or numbers[-1] == 200000
    shown = orch.logs("fast").splitlines()
    assert shown[0].startswith("orch: … ") and "earlier lines not kept in memory (the log " \
        "file " in shown[0] and shown[0].endswith("fast.log has them)"), shown[0]
    assert len(shown) == 10_001


def test_logs_show_the_line_a_run_is_writing(orch: Orchestrator, no_known_secrets: None
                                            ) -> None:
    """chains24: a named run waiting at `Continue? [y/N] ` showed nothing of it in `logs`
    (the docs send a person there after a page reload), nor a `\r` progress bar's state."""
    live = orch.start("local", command="echo one; printf 'step 1\\rstep 2'; "
                      "printf 'Continue? [y/N] ' >&2; read -r a; echo \"got $a\"",
                      name="asks", close_stdin=False)
    wait_for(lambda: "Continue?" in orch.logs("asks"))
    shown = orch.logs("asks").splitlines()[1:]
    assert shown[0] == "one" and shown[1] == "step 2", shown  # the bar's last state
    assert shown[2:] == ["Continue? [y/N] "], shown
    assert orch.logs("asks", tail=1) == "Continue? [y/N] " and orch.logs("asks", tail=0) == ""
    live.send_line("y")
    live.close_stdin()
    live.wait(30)
    assert "Continue? [y/N] " in orch.logs("asks") and "got y" in orch.logs("asks")


def test_automatic_restarts_stop_once_a_load_removed_the_environment(tmp_path: Path) -> None:
    """api6: a manual restart said 'unknown environment', while the policy went on starting
    attempts in the environment the config no longer had."""
    with Orchestrator(load_config_text(CONFIG), log_dir=tmp_path,
                      restart_backoff=(0.05, 0.05)) as orch:
        orch.start("local", command="sleep 0.2; exit 1", name="loop", restart="always",
                   max_restarts=50)
        time.sleep(0.5)
        (tmp_path / "other.yaml").write_text("environments: {other: []}\n")
        orch.load(tmp_path / "other.yaml")
        wait_for(lambda: "restart refused" in orch.logs("loop"))
        assert "restart refused: unknown environment 'local'" in orch.logs("loop")
        assert orch.status("loop").restarts < 10


def test_an_automatic_restart_waits_while_the_config_cannot_be_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """config14 F2: a typo anywhere in a found orch.yaml (a save mid-edit) ended a restart
    policy for good ("restart refused"). The restart now waits until the file reads again,
    said once, and is admitted under the config as it is then: never the one read before."""
    conf = tmp_path / "orch.yaml"
    good = ("environments: {local: []}\nservices:\n  flaky: {command: 'echo attempt; sleep 0.3; "
            "exit 3', restart: on-failure, max_restarts: 2}\naudit: {enabled: false}\n")
    conf.write_text(good)
    monkeypatch.chdir(tmp_path)
    with Orchestrator(log_dir=tmp_path / "logs", restart_backoff=(0.05, 0.05)) as orch:
        orch.start("local", "flaky", name="f")
        conf.write_text(good.replace("services:\n", "services:\n  other: {comand: x}\n"))
        wait_for(lambda: "restart waits until the config can be read" in orch.logs("f"))
        assert f"{conf}:3:" in orch.logs("f") and "'comand'" in orch.logs("f")
        time.sleep(2 * lifecycle.CONFIG_RETRY + 0.5)
        assert orch.status("f").state == "restarting"  # still waiting, said once
        assert orch.logs("f").count("restart waits") == 1 and orch.status("f").restarts == 0
        conf.write_text("")  # review26: an editor truncates, then writes: it waits on
        time.sleep(2 * lifecycle.CONFIG_RETRY + 0.5)
        assert orch.status("f").state == "restarting" and "restart refused" not in orch.logs("f")
        conf.write_text(good)
        wait_for(lambda: orch.status("f").restarts == 2 and orch.status("f").state == "failed")
        assert orch.logs("f").count("attempt\n") == 3 and "restart refused" not in orch.logs("f")


def test_a_restart_waiting_for_the_config_stops_when_asked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "orch.yaml"
    conf.write_text("environments: {local: []}\naudit: {enabled: false}\n")
    monkeypatch.chdir(tmp_path)
    with Orchestrator(log_dir=tmp_path / "logs", restart_backoff=(0.05, 0.05)) as orch:
        orch.start("local", command="sleep 0.3; exit 1", name="w", restart="always")
        conf.write_text("environments: {local: []\n")  # YAML that does not parse
        wait_for(lambda: "restart waits" in orch.logs("w"))
        result = orch.stop("w")
        assert result.returncode == 1 and orch.status("w").state == "failed"
        assert "stopped while the restart waited: no restart" in orch.logs("w")


def test_a_handle_of_an_attempt_restarted_by_hand_says_where_the_run_went_on(
        tmp_path: Path) -> None:
    """magics14: after `restart(name)`, the handle a notebook held (`--out`, `_`) said "has
    ended: its stdin is gone", though the run was live as its next attempt."""
    with Orchestrator(load_config_text(CONFIG), log_dir=tmp_path) as orch:
        first = orch.start("local", command="cat", name="cat", close_stdin=False)
        second = orch.restart("cat")
        assert second is not first and second.attempt == 2
        with pytest.raises(OrchError) as info:
            first.send_line("to the old one")
        assert "the run goes on as attempt 2: %orch status cat (orch.status('cat')) is its " \
            "handle" in str(info.value), info.value
        orch.status("cat").send_line("to the new one")
        orch.stop("cat")


def test_an_interrupt_in_the_wait_for_a_stop_ends_a_clean_up_post_command(
        orch: Orchestrator) -> None:
    """browser22: `orch.stop(NAME)` (a cell run again, `%orch stop`) waited as long as the
    run's clean-up post command took, and a ■ in that wait left it running while saying it
    was being stopped. The interrupt is now a second stop: it ends the post command."""
    import signal
    import subprocess
    import threading

    orch.start("local", "cleans-up", name="cu")
    wait_for(lambda: "sleep 300" in subprocess.run(["pgrep", "-af", "sleep 300"],
                                                   capture_output=True, text=True).stdout)
    def interrupt_once_cleaning() -> None:  # the ■ comes while the post command runs
        wait_for(lambda: "cleaning" in orch.logs("cu"), timeout=30)
        os.kill(os.getpid(), signal.SIGINT)
    threading.Thread(target=interrupt_once_cleaning, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        orch.stop("cu", timeout=60)
    wait_for(lambda: orch.ps()[0].exit not in ("", None), timeout=20)
    assert "cleaning" in orch.logs("cu") and "during the post command" in orch.logs("cu")
    assert subprocess.run(["pgrep", "-f", "sleep 302"], capture_output=True).returncode == 1


def test_an_interrupt_in_the_wait_while_the_command_is_still_stopping_skips_its_clean_up(
        orch: Orchestrator) -> None:
    """review40: the ■ in `orch.stop(NAME)`'s wait is a second stop; one that came while the
    main command was still in its INT → TERM → KILL ladder landed on a stop already asked
    for, and the clean-up post command then started afresh and ran in full, while the cell
    said it was ended too. A second stop before the clean-up starts skips it."""
    import signal
    import threading

    orch.start("local", "stubborn-cleans-up", name="cu2")
    wait_for(lambda: "waiting" in orch.logs("cu2"))

    def interrupt_soon() -> None:  # the ■ comes while the main command is being stopped
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGINT)
    threading.Thread(target=interrupt_soon, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        orch.stop("cu2", timeout=60)
    wait_for(lambda: orch.ps()[0].exit not in ("", None), timeout=20)
    assert "cleaning" not in orch.logs("cu2"), orch.logs("cu2")
