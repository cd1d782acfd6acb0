"""Service I/O on real processes: stdin modes, stdout modes (file atomicity), pre/post steps."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from orch_magics import Orchestrator, Stdout, load_config_text
from orch_magics.errors import OrchError
from orch_magics.process.events import Exit

CONFIG = """\
environments:
  local: {layers: []}
services:
  silent-stdin: {command: 'cat; echo "eof seen"'}
  upper: {command: "tr a-z A-Z", stdin_mode: streaming}
  repl:
    command: |
      python3 -u -c '
      import sys
      while True:
          sys.stdout.write("> "); sys.stdout.flush()
          line = sys.stdin.readline()
          if not line:
              break
          print("got", line.strip())
      '
    stdin_mode: interactive
  tty-repl:
    command: python3 -c 'import sys; print("tty", sys.stdin.isatty()); print("hi", input("name? "))'
    stdin_mode: interactive
    tty: true
  ticker: {command: 'echo tick 1; while [ ! -e "$SEEN" ]; do sleep 0.01; done; echo tick 2'}
  quiet: {command: 'echo captured; echo warn >&2', stdout_mode: capture}
  dump:
    command: 'head -c 3000000 /dev/urandom; echo end'
    stdout_mode: file
    stdout_file: "@OUT@/{service}-{env}.bin"
  dump-fails:
    command: 'head -c 100000 /dev/zero; sleep 0.3; echo broke >&2; exit 2'
    stdout_mode: file
    stdout_file: "@OUT@/fails.bin"
  dump-hangs:
    command: 'head -c 100000 /dev/zero; sleep 60'
    stdout_mode: file
    stdout_file: "@OUT@/fails.bin"
  stamped:
    command: 'echo x'
    stdout_mode: file
    stdout_file: "@OUT@/sub/{service}-{timestamp}.out"
  stepped:
    command: 'echo main; exit ${MAIN_RC:-0}'
    pre_commands:
      - {command: 'echo pre1', name: first}
      - {command: 'echo pre2'}
    post_commands:
      - {command: 'echo after-success', when: success}
      - {command: 'echo after-failure', when: failure}
      - {command: 'echo after-always', when: always}
  interrupted-cleanup:
    command: 'echo working; sleep 30'
    post_commands: [{command: 'sleep 0.3; echo cleaned', when: always}]
  pre-fails:
    command: 'echo should-not-run'
    pre_commands: [{command: 'echo migrating; exit 4'}]
    post_commands: [{command: 'echo cleanup', when: always}]
"""


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def orch(out_dir: Path) -> Orchestrator:
    o = Orchestrator(load_config_text(CONFIG.replace("@OUT@", str(out_dir))), log_dir=out_dir / "logs")
    yield o
    o.close()


class Recorder:
    """A sink that records events and step boundaries with their arrival time."""

    def __init__(self) -> None:
        self.events: list[tuple[float, object]] = []
        self.marks: list[tuple[str, ...]] = []
        self.closed = 0

    def feed(self, event: object) -> None:
        self.events.append((time.monotonic(), event))

    def close(self) -> None:
        self.closed += 1

    def step_started(self, kind: str, label: str) -> None:
        self.marks.append(("start", kind, label))

    def step_finished(self, kind: str, label: str, result: object) -> None:
        self.marks.append(("end", kind, label, result.exit.describe()))  # type: ignore[attr-defined]

    @property
    def stdout(self) -> bytes:
        return b"".join(e.data for _, e in self.events if isinstance(e, Stdout))


# ---- stdin modes ------------------------------------------------------------------------------


def test_stdin_none_sends_eof_at_once_unless_input_is_given(orch: Orchestrator) -> None:
    res = orch.run("local", "silent-stdin", timeout=10)
    assert res.ok and res.stdout == "eof seen\n"
    # input given explicitly is delivered, then EOF: nothing the caller handed over is dropped
    res = orch.run("local", "silent-stdin", stdin="given\n", timeout=10)
    assert res.ok and res.stdout == "given\neof seen\n"


def test_input_to_a_process_that_closed_its_stdin_is_refused_not_dropped(
        orch: Orchestrator) -> None:
    """send() kept succeeding after the process had closed its stdin (the writer had seen
    the broken pipe): the stdin box echoed and counted lines nobody read (held-out tester)."""
    run = orch.spawn("local", command=["sh", "-c", "exec 0<&-; echo closed; sleep 30"],
                     close_stdin=False)
    try:
        deadline = time.monotonic() + 10
        with pytest.raises(OrchError, match=r"no longer reads its stdin .*this input was not sent"):
            while True:  # the first writes meet the closed pipe; then every send is refused
                assert time.monotonic() < deadline
                run.send_line("hello")
                time.sleep(0.05)
    finally:
        run.interrupt()
        run.wait(30)


def test_send_waits_while_the_process_reads_nothing_and_a_stop_ends_the_wait(
        orch: Orchestrator) -> None:
    """magics20: 80 MB sent to a process that read nothing were all taken in 0.04 s and held
    in memory (the kernel grew by 76 MiB). `send` now waits, as a pipe's writer does, once
    about 16 MiB wait to be read; a stop ends the wait."""
    from senders import Feeder

    run = orch.start("local", command='trap "echo got-usr1" USR1; while :; do sleep 0.1; done',
                     close_stdin=False, name="reads-nothing")
    feeder = Feeder(run.send, 80)
    sent = feeder.sent
    try:  # 16 MiB are taken, then the count stops growing: the sender waits
        assert 16 <= feeder.held(16, 20) <= 40 and feeder.thread.is_alive(), sent[-3:]
        run.send_signal("USR1")  # review38: it waited behind the held send, for ever
        deadline = time.monotonic() + 20
        while "got-usr1" not in orch.logs("reads-nothing"):
            assert time.monotonic() < deadline, orch.logs("reads-nothing")
            time.sleep(0.1)
    finally:
        run.interrupt()
        feeder.thread.join(30)
    assert not feeder.thread.is_alive()
    assert isinstance(sent[-1], OrchError) and ("no longer reads its stdin" in str(sent[-1])
                                                or "has ended" in str(sent[-1])), sent[-1]


def test_a_ctrl_c_during_a_held_send_says_in_one_line_that_the_input_stays_queued(
        orch: Orchestrator) -> None:
    """magics25: ■ on a `send` waiting for the process to read showed a 40-line traceback of
    a bare KeyboardInterrupt, and the 40 MB went to the process all the same. The wait ends,
    not the run, in one line that says they stay queued; they do."""
    import _thread

    from orch_magics.errors import SendInterrupted

    live = orch.spawn("local", command="sleep 2; wc -c")
    threading.Timer(0.5, _thread.interrupt_main).start()
    with pytest.raises(SendInterrupted) as raised:
        live.send(b"A" * 40_000_000)
    assert str(raised.value) == (
        "the wait for (command) in local to read its input was interrupted: "
        "the 38.1 MiB sent stay queued and reach it as it reads (stop the run to drop them)")
    assert raised.value._render_traceback_() == [f"SendInterrupted: {raised.value}"]
    live.close_stdin()
    assert live.wait(60).stdout == "40000000\n"


def test_one_large_send_is_held_and_a_line_the_box_sends_never_waits(
        orch: Orchestrator) -> None:
    """review39: one 40 MiB `send` to a process reading nothing returned at once (its piece
    was no longer counted once handed to the write), and a line the stdin box sent waited
    behind another sender's input (the box runs on the kernel's main thread)."""
    import threading

    run = orch.start("local", command="sleep 60", close_stdin=False, name="reads-nothing-2")
    big: list[object] = []
    sender = threading.Thread(target=lambda: big.append(run.send(b"x" * (40 << 20))),
                              daemon=True)
    sender.start()
    try:
        sender.join(3)
        assert sender.is_alive(), "a 40 MiB send to a process reading nothing was not held"
        box = threading.Thread(target=lambda: run.send("typed\n", wait=False), daemon=True)
        box.start()
        box.join(10)
        assert not box.is_alive(), "the box's line waited behind the held send"
    finally:
        run.interrupt()
        sender.join(30)
    assert not sender.is_alive()


def test_the_first_input_after_a_local_process_closed_its_stdin_is_refused(
        orch: Orchestrator) -> None:
    """The first send after the close returned and its line was dropped on the loop; only the
    next one raised (notebook6: the box showed a line as sent that nobody read). This machine's
    pipe says it closed before anything is written."""
    run = orch.spawn("local", command=["sh", "-c", "read -r l; echo got:$l; exec 0<&-; "
                                       "echo closed; sleep 30"], close_stdin=False)
    try:
        run.send_line("first")
        deadline = time.monotonic() + 10
        while "closed" not in run.lines:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.2)  # the loop sees the pipe's end (a wake-up, not a write)
        with pytest.raises(OrchError, match=r"no longer reads its stdin .*this input was not sent"):
            run.send_line("second")
    finally:
        run.interrupt()
        run.wait(30)


def _gen():  # a generator that blocks between items, like a slow reader
    for word in ("alpha\n", "beta\n"):
        time.sleep(0.05)
        yield word


async def _agen():
    for word in (b"gamma\n", "delta\n"):
        await asyncio.sleep(0.01)
        yield word


@pytest.mark.parametrize("source, expected", [
    ("text\n", "TEXT\n"),
    (b"bytes\n", "BYTES\n"),
    (io.BytesIO(b"binary file\n"), "BINARY FILE\n"),
    (io.StringIO("text file\n"), "TEXT FILE\n"),
    (["a\n", b"b\n"], "A\nB\n"),
    (_gen(), "ALPHA\nBETA\n"),
    (_agen(), "GAMMA\nDELTA\n"),
], ids=["str", "bytes", "binary-file", "text-file", "list", "generator", "async-generator"])
def test_stdin_streaming_accepts_every_source(orch: Orchestrator, source: object,
                                              expected: str) -> None:
    res = orch.run("local", "upper", stdin=source, timeout=10)
    assert res.ok, res.describe_failure()
    assert res.stdout == expected


def test_stdin_streaming_large_input_with_back_pressure(orch: Orchestrator) -> None:
    data = os.urandom(1 << 16).hex().encode() * 40  # ~5 MB of text
    res = orch.run("local", "upper", stdin=data, timeout=30)
    assert res.stdout_bytes == data.upper()
    assert res.stdin_bytes == len(data)


@pytest.mark.parametrize("mode", ["rb", "r"])
def test_a_pipe_given_as_stdin_reaches_the_command_as_it_arrives(orch: Orchestrator,
                                                                  mode: str) -> None:
    """A pipe's first line reached the command only at EOF: a single run read its file with
    `read(1 MiB)`, which waits for a MiB (review8); a text pipe's `read(n)` waits likewise."""
    r, w = os.pipe()
    got = threading.Event()
    os.write(w, b"first\n")
    live = orch.start("local", command="cat", stdin=os.fdopen(r, mode), name=f"pipe-{mode}")
    try:
        _wait_for(lambda: "first" in live.lines)
        got.set()
    finally:
        os.close(w)  # EOF: the run ends either way
    res = live.wait(10)
    assert got.is_set() and res.ok and res.stdout == "first\n"


def test_the_interpreter_exits_after_a_run_stopped_while_its_stdin_pipe_stays_open(
        tmp_path: Path) -> None:
    """The read of a pipe nobody closes sat in a worker thread that interpreter exit joins: a
    script whose run had timed out printed its result and then never exited (review8)."""
    script = tmp_path / "script.py"
    script.write_text(
        "import os\nfrom orch_magics import Orchestrator, load_config_text\n"
        f"orch = Orchestrator(load_config_text({CONFIG!r}))\n"
        "r, w = os.pipe()\n"
        "res = orch.run('local', command='cat', stdin=os.fdopen(r, 'rb'), timeout=0.5)\n"
        "print('timed out', res.timed_out, flush=True)\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    assert (out, proc.returncode) == ("timed out True\n", 0)


def _wait_for(pred, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def test_stdin_interactive_prompts_show_live(orch: Orchestrator) -> None:
    rec = Recorder()
    live = orch.spawn("local", "repl", sinks=[rec])
    _wait_for(lambda: rec.stdout.endswith(b"> "))  # the prompt arrives without a newline
    live.send_line("one")
    _wait_for(lambda: b"got one\n> " in rec.stdout)
    live.send_line("two")
    _wait_for(lambda: b"got two\n> " in rec.stdout)
    live.close_stdin()
    res = live.wait(10)
    assert res.ok and res.stdout == "> got one\n> got two\n> "


def test_stdin_interactive_with_tty_uses_a_pty(orch: Orchestrator) -> None:
    rec = Recorder()
    live = orch.spawn("local", "tty-repl", sinks=[rec])
    _wait_for(lambda: b"name? " in rec.stdout)
    live.send_line("ada")
    res = live.wait(10)
    assert res.ok
    text = res.stdout.replace("\r\n", "\n")
    assert "tty True" in text and "hi ada" in text


# ---- stdout modes -----------------------------------------------------------------------------


class Answering(Recorder):
    """Records, and answers the ticker's first line (it waits for that answer to go on)."""

    def __init__(self, seen: Path) -> None:
        super().__init__()
        self.seen = seen

    def feed(self, event: object) -> None:
        super().feed(event)
        if isinstance(event, Stdout) and b"tick 1" in event.data:
            self.seen.touch()


def test_stream_mode_delivers_output_while_the_process_runs(orch: Orchestrator,
                                                            tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    rec = Answering(seen)
    res = orch.run("local", "ticker", sinks=[rec], env={"SEEN": str(seen)}, timeout=30)
    assert res.ok, res.describe_failure()  # output held back to the end: it never ends
    assert rec.stdout == b"tick 1\ntick 2\n" and rec.closed == 1


def test_capture_mode_keeps_output_in_the_result(orch: Orchestrator) -> None:
    plan = orch.plan("local", "quiet")
    assert plan.stdout_mode == "capture"  # front ends show nothing for it
    res = orch.run("local", "quiet")
    assert res.stdout == "captured\n" and res.stderr == "warn\n"


def test_file_mode_writes_atomically_and_reports_progress(orch: Orchestrator,
                                                          out_dir: Path) -> None:
    rec = Recorder()
    live = orch.spawn("local", "dump", sinks=[rec])
    res = live.wait(30)
    final = out_dir / "dump-local.bin"
    assert res.ok and res.output_file == str(final)
    data = final.read_bytes()
    assert len(data) == 3_000_004 and data.endswith(b"end\n")
    assert res.stdout_bytes == b"" and rec.stdout == b""  # stdout went to the file only
    assert any(isinstance(e, Exit) for _, e in rec.events)
    progress = live.progress
    assert progress is not None and progress.bytes == len(data) and progress.state == "done"
    assert progress.rate > 0 and "dump-local.bin" in progress.describe()
    assert oct(final.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    assert [p.name for p in out_dir.iterdir() if p.name.startswith(".")] == []


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK_WATCH = """\
import os, sys, threading
from orch_magics import Orchestrator, load_config_text
calls = []
def watch(frame, event, arg):
    if event == "c_call" and arg is os.umask:
        calls.append(threading.current_thread().name)
os.umask(0o027)
threading.setprofile(watch)  # the background loop's thread, started below
sys.setprofile(watch)
orch = Orchestrator(load_config_text(sys.argv[1]))
res = orch.run("local", "dump")
mode = os.stat(res.output_file).st_mode & 0o777
sys.setprofile(None)
print(oct(mode), calls)
"""


def test_file_mode_never_sets_the_umask_to_learn_it(out_dir: Path) -> None:
    """review44: the final mode was found by `os.umask(0)` then back, on the loop's thread: a
    file another thread made in between was world-writable. The umask is now read, never set."""
    done = subprocess.run([sys.executable, "-c", UMASK_WATCH,
                           CONFIG.replace("@OUT@", str(out_dir))],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.split(None, 1) == ["0o640", "[]\n"], done


def test_file_mode_failure_leaves_no_file_under_the_final_name(orch: Orchestrator,
                                                               out_dir: Path) -> None:
    seen_tmp: list[str] = []
    seen_final: list[str] = []
    over = threading.Event()

    def watch() -> None:  # while it runs, the data is in a hidden temp file, never the final
        while not over.is_set():
            names = os.listdir(out_dir)
            seen_final.extend(n for n in names if n == "fails.bin")
            seen_tmp.extend(n for n in names if n.startswith(".fails.bin."))
            time.sleep(0.005)

    t = threading.Thread(target=watch)
    t.start()
    try:
        res = orch.run("local", "dump-fails")
    finally:
        over.set()
        t.join()
    assert not res.ok and res.output_file is None
    assert seen_tmp and seen_final == []
    assert not (out_dir / "fails.bin").exists()
    assert (out_dir / "fails.bin.partial").stat().st_size == 100000
    assert sorted(os.listdir(out_dir)) == ["fails.bin.partial"]
    # basics8 F7: the result says where what was written is kept, and so does its failure
    assert res.partial_file == str(out_dir / "fails.bin.partial")
    assert res.describe_failure().endswith(f"; its stdout so far is in {res.partial_file}")


def test_file_mode_interrupted_run_publishes_nothing(orch: Orchestrator, out_dir: Path) -> None:
    live = orch.spawn("local", "dump-fails")
    time.sleep(0.1)
    live.interrupt()
    res = live.wait(10)
    assert res.interrupted or not res.ok
    assert not (out_dir / "fails.bin").exists()


def test_file_mode_template_fills_service_env_timestamp(orch: Orchestrator,
                                                        out_dir: Path) -> None:
    res = orch.run("local", "stamped")
    path = Path(res.output_file or "")
    assert path.parent == out_dir / "sub"
    name = path.name
    assert name.startswith("stamped-") and name.endswith(".out")
    assert len(name) == len("stamped-YYYYmmdd-HHMMSS.out")
    assert path.read_text() == "x\n"


def _file_service(target: str, command: str = "echo hi") -> str:
    return (f"environments: {{local: {{layers: []}}}}\nservices:\n  out: {{command: '{command}', "
            f"stdout_mode: file, stdout_file: '{target}'}}\n")


def test_file_mode_never_replaces_a_directory_device_or_pipe(tmp_path: Path) -> None:
    """Checked before the command starts; before, /dev/null (as root) became a regular file
    and a directory failed after the run with an IsADirectoryError traceback."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    cases = {str(tmp_path): f"stdout_file {tmp_path} is a directory: give a file path, such as "
                            f"{tmp_path}/{{service}}-{{timestamp}}.out",
             "/dev/null": "stdout_file /dev/null is not a regular file: the output is renamed "
                          "over it when the run succeeds, so a device, pipe or socket is never "
                          "used",
             str(pipe): f"stdout_file {pipe} is not a regular file: the output is renamed over "
                        f"it when the run succeeds, so a device, pipe or socket is never used",
             "/proc/nope/out": "cannot write stdout_file /proc/nope/out: No such file or "
                               "directory"}
    for target, message in cases.items():
        marker = tmp_path / "ran"
        orch = Orchestrator(load_config_text(_file_service(target, f"touch {marker}")))
        with pytest.raises(OrchError) as err:
            orch.run("local", "out")
        assert str(err.value) == message
        assert not marker.exists(), "the command ran"
        cfg = tmp_path / "orch.yaml"
        cfg.write_text(_file_service(target))
        cli = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run",
                              "local", "out"], capture_output=True, text=True, timeout=60)
        assert (cli.returncode, cli.stderr) == (1, f"orch: {message}\n")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode) and stat.S_ISFIFO(pipe.stat().st_mode)
    assert sorted(os.listdir(tmp_path)) == ["orch.yaml", "pipe"]


def test_file_mode_on_a_full_disk_names_it_and_keeps_what_was_written(tmp_path: Path) -> None:
    disk = tmp_path / "small"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], check=True)
    try:
        orch = Orchestrator(load_config_text(_file_service(f"{disk}/out.bin",
                                                           "head -c 3000000 /dev/zero")))
        with pytest.raises(OrchError) as err:
            orch.run("local", "out")
        assert str(err.value) == (f"cannot write stdout_file {disk}/out.bin: No space left on "
                                  f"device; what was written is in {disk}/out.bin.partial")
        assert os.listdir(disk) == ["out.bin.partial"]
        assert (disk / "out.bin.partial").stat().st_size == 1 << 20
    finally:
        subprocess.run(["umount", str(disk)], check=True)


@pytest.mark.parametrize("room", ["4m", "20m"], ids=["spill-refused", "spill-fills"])
def test_a_result_whose_spill_file_fills_keeps_what_it_holds_and_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, room: str) -> None:
    """s8-output #1: past 16 MiB a result spills to $TMPDIR; a full one raised a bare OSError
    out of `run()` (a traceback in a cell, "cannot write the output" from `orch run --json`):
    the exit status, stderr and the 16 MiB received were lost. Now the process runs to its
    end and the result holds what it could keep, failed, saying what is missing and why."""
    import tempfile

    disk = tmp_path / "small"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={room}", "tmpfs", str(disk)],
                   check=True)
    try:
        monkeypatch.setattr(tempfile, "tempdir", str(disk))
        with Orchestrator(load_config_text("environments: {local: {layers: []}}\n")) as orch:
            res = orch.run("local", command="head -c 30000000 /dev/zero; echo done >&2")
        out = res.stdout_buffer
        assert (res.returncode, res.stderr, res.ok) == (0, "done\n", False)
        assert 15 << 20 <= out.size < 30_000_000 and out.size + out.lost == 30_000_000
        assert sum(len(c) for c in out.iter_chunks()) == out.size
        assert set(b"".join(out.iter_chunks())) == {0}
        assert str(res.error) == f"the result is incomplete: stdout {out.unkept}"
        assert (f"not kept (a temporary file in {disk} took no more: No space left on device; "
                f"set TMPDIR to a folder with room)") in str(res.error)
        assert res.exit_status == 1 and repr(res).startswith("<RunResult local/")
        out.close()
        done = subprocess.run(  # `orch run --json`: the JSON, failed; said to be incomplete
            [sys.executable, "-m", "orch_magics.cli", "--demo", "run", "--json", "local", "--",
             "sh", "-c", "head -c 30000000 /dev/zero; echo done >&2"],
            capture_output=True, env={**os.environ, "TMPDIR": str(disk)})
        said = json.loads(done.stdout)
        assert (done.returncode, said["exit_code"], said["ok"]) == (1, 0, False)
        assert said["error"].startswith("the result is incomplete: stdout ")
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)  # (lazy: fds may be open)


def test_a_step_or_a_copy_that_cannot_keep_its_output_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review: a post command whose output could not be kept failed the run, yet its shell
    status said 0 and its message 'failed (exit 0)'; a copy of a result (pickle, deepcopy)
    into a full $TMPDIR came back empty and ok."""
    import copy
    import tempfile

    config = ("environments: {local: {layers: []}}\n"
              "services: {s: {command: 'true', post_commands: "
              "[{command: 'head -c 30000000 /dev/zero'}]}}\n")
    with Orchestrator(load_config_text(config)) as orch:
        spilled = orch.run("local", command="head -c 20000000 /dev/zero")
        assert spilled.stdout_buffer.spilled
        disk = tmp_path / "small"
        disk.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                       check=True)
        try:
            monkeypatch.setattr(tempfile, "tempdir", str(disk))
            res = orch.run("local", "s")
            assert (res.returncode, res.ok, res.exit_status) == (0, False, 1)
            assert "post command 'head -c 30000000 /dev/zero' failed (exit 0; the result is " \
                   "incomplete: stdout " in res.describe_failure()
            with pytest.raises(OrchError, match="an output could not be copied: a temporary "
                                                f"file in {disk} took no more"):
                copy.deepcopy(spilled)
        finally:
            subprocess.run(["umount", "--lazy", str(disk)], check=True)


def _spill_files() -> set[str]:
    """The spill files this process holds open, by name (a number of a closed one's fd may
    be taken by a new one: CI saw an earlier test's result collected mid-test)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if "orch-output-" in (target := os.readlink(f"/proc/self/fd/{fd}")):
                found.add(target)
    return found


def test_closing_a_result_gives_its_spill_file_back_at_once() -> None:
    """s8-output #3: docs/security.md said a spill's space goes back "when the result is
    closed", but a RunResult had no close(); in a notebook `_` keeps it alive after `del r`."""
    config = ("environments: {local: {layers: []}}\n"
              "services: {big: {command: 'head -c 20000000 /dev/zero',"
              " pre_commands: [{command: 'head -c 20000000 /dev/zero'}]}}\n")
    with Orchestrator(load_config_text(config)) as orch:
        gc.collect()  # results of earlier tests give theirs back now, not during this one
        before = _spill_files()
        res = orch.run("local", "big")
        assert res.ok and res.stdout_buffer.spilled and res.steps[0].stdout_buffer.spilled
        assert len(_spill_files() - before) == 2
        assert len(res.stdout) == 20_000_000  # decoded once: kept with the result until closed
        res.close()
        assert _spill_files() == before and "stdout" not in vars(res)
        with pytest.raises(OrchError, match=r"this output was closed \(RunResult.close\(\)\)"):
            res.stdout_bytes  # noqa: B018
        assert repr(res).startswith("<RunResult local/big exit 0 in ")  # still shown
        res.close()  # twice is fine


# ---- pre / post commands ----------------------------------------------------------------------


def test_steps_results_and_when_on_success(orch: Orchestrator) -> None:
    rec = Recorder()
    res = orch.run("local", "stepped", sinks=[rec])
    assert res.ok and res.stdout == "main\n"
    assert [(s.step, s.stdout) for s in res.steps] == [
        ("pre", "pre1\n"), ("pre", "pre2\n"), ("post", "after-success\n"),
        ("post", "after-always\n")]
    kinds = [m[:2] for m in rec.marks]
    assert kinds == [("start", "pre"), ("end", "pre"), ("start", "pre"), ("end", "pre"),
                     ("start", "main"), ("end", "main"), ("start", "post"), ("end", "post"),
                     ("start", "post"), ("end", "post")]
    assert rec.marks[0][2] == "first"
    assert rec.closed == 1  # closed once, after the post commands
    assert [s["stdout"] for s in res.to_dict()["steps"]][0] == "pre1\n"


def test_orch_run_says_where_a_file_mode_run_wrote(out_dir: Path) -> None:
    """From a terminal nothing at all was said, not even where the file went (held-out
    tester); stdout stays empty, the file is whole."""
    cfg = out_dir / "orch.yaml"
    cfg.write_text(CONFIG.replace("@OUT@", str(out_dir)))
    done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run",
                           "local", "dump"], capture_output=True, text=True, timeout=60)
    path = out_dir / "dump-local.bin"
    assert done.returncode == 0 and done.stdout == "", done.stderr
    assert done.stderr == f"orch: stdout (2.9 MiB) written to {path}\n"
    assert path.stat().st_size == 3_000_004  # its `end` line too
    failed = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run",
                             "local", "dump-fails"], capture_output=True, text=True, timeout=60)
    partial = out_dir / "fails.bin.partial"  # basics8 F7: a failed one said nothing of it
    assert failed.returncode != 0 and failed.stdout == "", failed.stderr
    assert failed.stderr == f"broke\norch: stdout so far (97.7 KiB) kept in {partial}\n"
    assert partial.stat().st_size == 100000


def test_what_a_killed_run_wrote_is_kept_as_partial_by_the_next_run(out_dir: Path) -> None:
    """chains8: `kill -9` of `orch run` left its hidden temporary file for good (nothing of
    it runs after); the next run writing in that folder sets it aside as `NAME.partial`, as
    a failed run's bytes are kept, but never the file of a run still writing (review17: a
    pid check misjudged writers it could not see)."""
    cfg = out_dir / "orch.yaml"
    cfg.write_text(CONFIG.replace("@OUT@", str(out_dir)))
    cli = [sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run", "local"]

    def hidden() -> list[os.DirEntry[str]]:
        return [e for e in os.scandir(out_dir) if e.name.startswith(".fails.bin.")]

    writing = subprocess.Popen([*cli, "dump-hangs"], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not [e for e in hidden() if e.stat().st_size == 100000]:
        assert time.monotonic() < deadline and writing.poll() is None
        time.sleep(0.02)
    [tmp] = hidden()
    other = subprocess.run([*cli, "dump"], capture_output=True, text=True, timeout=60)
    assert other.returncode == 0, other.stderr
    assert [e.path for e in hidden()] == [tmp.path]  # still its writer's
    writing.kill()
    writing.wait()
    again = subprocess.run([*cli, "dump"], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert hidden() == []
    assert (out_dir / "fails.bin.partial").read_bytes() == bytes(100000)


def test_orch_run_keeps_step_output_off_its_stdout(out_dir: Path) -> None:
    """`orch run ENV SERVICE > out.json` / `| jq`: fd 1 is where the result goes, so the pre
    and post commands' output goes to fd 2 (it was mixed into the data: held-out tester)."""
    cfg = out_dir / "orch.yaml"
    cfg.write_text(CONFIG.replace("@OUT@", str(out_dir)))
    done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run",
                           "local", "stepped"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "main\n"
    assert done.stderr.split() == ["pre1", "pre2", "after-success", "after-always"]


def test_a_failed_post_command_is_in_the_results_repr() -> None:
    """`ok` is False and check() raises, but the repr (a cell's Out[]) said `exit 0` alone."""
    with Orchestrator(load_config_text(
            "environments: {local: {layers: []}}\nservices:\n"
            "  pf: {command: 'echo main', post_commands: [{command: 'exit 5', when: always}]}\n"
            "  fine: {command: 'echo main', post_commands: [{command: 'true'}]}\n")) as orch:
        res, fine = orch.run("local", "pf"), orch.run("local", "fine")
    assert not res.ok and ", post command failed (exit 5)" in repr(res), repr(res)
    assert fine.ok and "post command" not in repr(fine)


@pytest.mark.parametrize(("main", "timeout", "outcome", "said"), [
    ("exit 3", None, "exit 3, post command failed (exit 4)", "failed (exit 3); then post "
     "command 'exit 4' failed (exit 4)"),
    ("sleep 30", 1, "timed out, killed by SIGINT, post command failed (exit 4)",
     "and was stopped; then post command 'exit 4' failed (exit 4)")])
def test_a_clean_up_that_fails_after_a_failed_command_is_said(
        tmp_path: Path, main: str, timeout: int | None, outcome: str, said: str) -> None:
    """chains20: a `when: always` post command that failed after the command had failed or
    timed out was said nowhere but in `steps`: not by the outcome, the repr, the error
    sentence, nor by `orch run` (a rollback that itself failed is what must be told)."""
    cfg = tmp_path / "orch.yaml"
    cfg.write_text("environments: {local: []}\naudit: {enabled: false}\nservices:\n"
                   f"  s: {{command: '{main}', timeout: {timeout or 'null'}, post_commands: "
                   "[{command: 'exit 4', when: always}]}\n")
    with Orchestrator(load_config_text(cfg.read_text())) as orch:
        res = orch.run("local", "s")
    assert (res.outcome(), said in res.describe_failure()) == (outcome, True), res
    assert outcome in repr(res)
    done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run",
                           "local", "s"], capture_output=True, text=True, timeout=60)
    assert said in done.stderr and done.returncode == (3 if timeout is None else 124), done


def test_steps_when_on_failure(orch: Orchestrator) -> None:
    res = orch.run("local", "stepped", env={"MAIN_RC": "3"})
    assert not res.ok and res.returncode == 3
    assert [s.stdout for s in res.steps if s.step == "post"] == [
        "after-failure\n", "after-always\n"]


def test_failing_pre_command_stops_the_run(orch: Orchestrator) -> None:
    res = orch.run("local", "pre-fails")
    assert not res.ok
    assert [s.stdout for s in res.steps] == ["migrating\n"]
    assert "should-not-run" not in res.stdout
    assert "pre command" in res.describe_failure()


def test_always_post_command_runs_to_the_end_after_an_interrupt(orch: Orchestrator) -> None:
    live = orch.spawn("local", "interrupted-cleanup")
    deadline = time.monotonic() + 10
    while live.handle is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    live.interrupt()
    res = live.wait(30)
    assert res.interrupted and res.stdout == "working\n"
    (cleanup,) = res.steps
    assert cleanup.ok and cleanup.stdout == "cleaned\n"


def test_step_sinks_receive_step_output(orch: Orchestrator) -> None:
    from orch_magics.engine import RunOptions

    got: dict[str, Recorder] = {}

    def step_sinks(step, kind):  # type: ignore[no-untyped-def]
        return [got.setdefault(f"{kind}:{step.label}", Recorder())]

    plan = orch.plan("local", "stepped")

    async def go():  # type: ignore[no-untyped-def]
        return await orch.begin(plan, RunOptions(step_sinks=step_sinks)).wait()

    # on the orchestrator's own loop: independent of whatever loop the test process runs
    res = orch.loop.submit(go()).result(30)
    assert res.ok
    assert got["pre:first"].stdout == b"pre1\n"
    assert got["post:echo after-always"].stdout == b"after-always\n"


@pytest.mark.parametrize("kind", ["generator", "list"])
def test_a_stdin_of_many_tiny_items_arrives_whole_and_in_order(kind: str) -> None:
    """200,000 one-byte items: each was written and waited for on its own, and a generator's
    handed over by its reader thread one at a time: ~9,000 a second (api2 tester). They are
    now queued ahead and joined into large writes: every byte arrives, in order."""
    items = [bytes([48 + i % 10]) for i in range(200_000)]
    source = iter(items) if kind == "generator" else items
    with Orchestrator(load_config_text("environments: {local: []}\naudit: {enabled: false}\n")
                      ) as orch:
        res = orch.run("local", command="sha256sum", stdin=source, timeout=120)
    assert res.stdout.split()[0] == hashlib.sha256(b"".join(items)).hexdigest()


def test_json_lines_skips_a_line_nested_deeper_than_python_parses(orch: Orchestrator) -> None:
    """A line of 100,000 nested lists raised RecursionError out of json_lines(), which skips
    the lines it cannot read."""
    script = "print('{\"a\": 1}'); print('[' * 100000 + ']' * 100000); print('[2]')"
    res = orch.run("local", command=[sys.executable, "-c", script], timeout=30)
    assert res.json_lines() == [{"a": 1}, [2]]


def test_file_mode_never_replaces_the_files_orch_itself_keeps(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """config16: a stdout_file naming the audit log, the secrets file or the config was
    renamed over it when the run succeeded: the whole audit trail was gone (and every later
    run refused), the secrets file lost its secrets and its 0600 mode. Each is refused before
    the command starts, through a link too, and the file is left as it was."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sec.yaml").write_text("tok: hunter2\n")
    (tmp_path / "sec.yaml").chmod(0o600)
    os.symlink(tmp_path / "audit.jsonl", tmp_path / "trail")
    targets = {"audit.jsonl": "the audit log", "trail": "the audit log",
               "sec.yaml": "the secrets file", "services.yaml": "a config file",
               "hosts.ini": "an inventory"}
    (tmp_path / "hosts.ini").write_text("[web]\nh1\n")
    (tmp_path / "services.yaml").write_text("services:\n" + "".join(
        f"  s{i}: {{command: 'touch ran{i}; echo out', stdout_mode: file, stdout_file: '{t}', "
        f"pre_commands: [{{command: 'touch pre{i}'}}]}}\n"
        for i, t in enumerate(targets)) + "  hello: {command: 'echo hello'}\n")
    (tmp_path / "environments.yaml").write_text(
        "inventory: hosts.ini\nenvironments: {local: []}\n"
        "secrets: {providers: [env, file], file: sec.yaml}\naudit: {path: audit.jsonl}\n")
    cli = [sys.executable, "-m", "orch_magics.cli", "run", "local"]
    assert subprocess.run([*cli, "hello"], capture_output=True, timeout=60).returncode == 0
    before = {name: (tmp_path / name).read_bytes() for name in targets if name != "trail"}
    for i, (target, what) in enumerate(targets.items()):
        done = subprocess.run([*cli, f"s{i}"], capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stderr) == (1, f"orch: stdout_file {tmp_path / target} "
                                                     f"is {what}: the output would replace it "
                                                     f"when the run succeeds; name another file\n")
        assert not (tmp_path / f"ran{i}").exists(), "the command ran"
        assert not (tmp_path / f"pre{i}").exists(), "its pre command ran (review30)"
    after = {name: (tmp_path / name).read_bytes() for name in before}
    assert after["audit.jsonl"].startswith(before.pop("audit.jsonl"))  # refusals appended
    assert {name: after[name] for name in before} == before
    assert (tmp_path / "sec.yaml").stat().st_mode & 0o777 == 0o600
    verify = subprocess.run([sys.executable, "-m", "orch_magics.cli", "audit", "verify"],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0 and "chain intact" in verify.stdout, verify


def test_a_stdout_file_whose_folder_cannot_be_made_is_refused_before_any_step(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """config17: a stdout_file under a file (`orch.yaml/x.out`) was found only when the
    output was set up, after the pre command ran, said "File exists", exit 255 with a pre
    command and 1 without. A folder still to be made is made, as before."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x\n")
    (tmp_path / "orch.yaml").write_text(
        "environments: {local: []}\nservices:\n"
        "  s: {command: 'touch ran; echo out', stdout_mode: file, stdout_file: afile/sub/x.out,"
        " pre_commands: [{command: 'touch pre'}]}\n"
        "  t: {command: 'echo out', stdout_mode: file, stdout_file: new/deeper/x.out}\n")
    cli = [sys.executable, "-m", "orch_magics.cli", "run", "local"]
    done = subprocess.run([*cli, "s"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (1, f"orch: cannot write stdout_file "
                                                 f"{tmp_path}/afile/sub/x.out: {tmp_path}/afile "
                                                 f"is not a folder\n")
    assert not (tmp_path / "pre").exists() and not (tmp_path / "ran").exists()
    made = subprocess.run([*cli, "t"], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0 and (tmp_path / "new/deeper/x.out").read_text() == "out\n"


def test_a_stdout_file_folder_a_pre_command_prepares_is_judged_after_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """review33: the check before any step refused `out/x.out` where `out` links to a folder
    the pre command makes ("out is not a folder"), which had worked; a link to nothing is
    said as one."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").symlink_to("scratch/run")
    (tmp_path / "orch.yaml").write_text(
        "environments: {local: []}\nservices:\n"
        "  s: {command: 'echo data', stdout_mode: file, stdout_file: out/x.out,"
        " pre_commands: [{command: 'mkdir -p scratch/run'}]}\n"
        "  t: {command: 'echo data', stdout_mode: file, stdout_file: out/x.out}\n")
    cli = [sys.executable, "-m", "orch_magics.cli", "run", "local"]
    done = subprocess.run([*cli, "t"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (1, f"orch: cannot write stdout_file "
                                                 f"{tmp_path}/out/x.out: {tmp_path}/out is a "
                                                 f"link to scratch/run, which does not exist\n")
    done = subprocess.run([*cli, "s"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "scratch/run/x.out").read_text() == "data\n"


def test_file_mode_runs_of_one_second_keep_each_their_own_file(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    """config16: the default `{service}-{timestamp}.out` names a second, so of an `eu` and a
    `us` export run in one loop only the last was left, both results naming it. A name with
    `{timestamp}` is each run's own: a later run in that second takes `-2`, `-3`…; a name
    without one is replaced, as a shell's `>` does."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCH_LOG_DIR", str(tmp_path / "runs"))
    text = ("environments:\n"
            "  eu: [{type: local, config: {environment: {REGION: eu}}}]\n"
            "  us: [{type: local, config: {environment: {REGION: us}}}]\n"
            "services:\n  export: {command: 'echo \"dump of $REGION\"', stdout_mode: file}\n"
            "  fixed: {command: 'echo \"dump of $REGION\"', stdout_mode: file, "
            "stdout_file: fixed.out}\n"
            "  broken: {command: 'echo \"half of $REGION\"; exit 3', stdout_mode: file}\n")
    with Orchestrator(load_config_text(text)) as orch:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        while time.strftime("%Y%m%d-%H%M%S") == stamp:  # at the start of a second: room for 3
            time.sleep(0.01)
        files = [orch.run(env, "export").output_file for env in ("eu", "us", "eu")]
        partials = [orch.run(env, "broken").partial_file for env in ("eu", "us")]
        fixed = [orch.run(env, "fixed").output_file for env in ("eu", "us")]
    first = files[0] or ""
    assert files == [first, first[:-4] + "-2.out", first[:-4] + "-3.out"], files
    assert [Path(f or "").read_text() for f in files] == [f"dump of {r}\n" for r in
                                                          ("eu", "us", "eu")]
    assert len(set(partials)) == 2 and [Path(p or "").read_text() for p in partials] == [
        "half of eu\n", "half of us\n"], partials  # review30: failed runs' too
    assert fixed == [str(tmp_path / "fixed.out")] * 2
    assert (tmp_path / "fixed.out").read_text() == "dump of us\n"


@pytest.mark.parametrize(("env", "folder"), [("..", "__"), (".", "_"), ("eu/prod", "eu_prod")])
def test_a_name_filled_into_stdout_file_is_one_folder_of_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: str, folder: str) -> None:
    """config17: an environment named `..` in `stdout_file: out/{env}/x.out` wrote beside
    out/ (`.` vanished): a name filled in is one path component, as `/` → `_` meant."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "orch.yaml").write_text(
        f"environments: {{'{env}': []}}\n"
        "services:\n  x: {command: echo hi, stdout_mode: file, stdout_file: 'out/{env}/x.out'}\n")
    done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "run", env, "x"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / folder / "x.out").read_text() == "hi\n"
    assert sorted(os.listdir(tmp_path)) == ["orch.yaml", "out"]


def test_a_secret_resolved_while_a_run_goes_on_is_masked_in_its_output(
        orch: Orchestrator, monkeypatch: pytest.MonkeyPatch, no_known_secrets: None) -> None:
    """safety21: a run started while no secret was known got no masker: a secret another
    run resolved meanwhile (a runbook's next cell) showed in clear in its output and logs."""
    secret = "Lat3SecretVal99"
    run = orch.start("local", command=f'read -r go; echo "log: {secret}"; '
                                      f'echo "err {secret}" >&2', close_stdin=False,
                     name="late-secret")
    monkeypatch.setenv("ORCH_SECRET_DB", secret)
    with Orchestrator(load_config_text("environments: {local: []}\naudit: {enabled: false}\n"
                                       "services: {db: {command: 'true', environment: "
                                       "{D: '{{secret:db}}'}}}\n")) as other:
        other.run("local", "db")
    run.send_line("go")
    result = run.wait(30)
    assert (result.stdout, result.stderr) == ("log: ****\n", "err ****\n")
    assert secret not in orch.logs("late-secret")
