"""`orch` when its own stdout or stderr fails: a reader that leaves, a full device."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from processes import kill_all, left_after, processes_with

ORCH = f"{sys.executable} -m orch_magics.cli"
FULL = b"orch: cannot write the output: No space left on device\n"


def _shell(line: str) -> str:
    """Run a bash pipeline (the outer `timeout` only guards against a hang: status 124)."""
    done = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=120)
    return done.stdout


@pytest.fixture
def cfg(ssh_lab, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "orch.yaml"
    path.write_text(ssh_lab.config_yaml(extra_envs={"local": []}))
    return path


@pytest.mark.ssh
@pytest.mark.parametrize("env", ["local", "loop", "two"])
@pytest.mark.parametrize("redirect", ["2>&1", "3>&1 1>/dev/null 2>&3"],
                         ids=["both-piped", "stderr-alone"])
def test_a_reader_leaving_stderr_stops_the_run_as_sigpipe(cfg: Path, env: str,
                                                          redirect: str) -> None:
    """Before: `orch run … -- sh -c 'yes >&2' 2>&1 | head -1` ran until killed."""
    out = _shell(f"timeout 60 {ORCH} -c {cfg} run {env} -- sh -c 'yes >&2' {redirect} "
                 f"| head -1; echo \"status=${{PIPESTATUS[0]}}\"")
    assert out == "y\nstatus=141\n"


@pytest.mark.ssh
@pytest.mark.parametrize("env", ["local", "loop"])
def test_a_reader_leaving_stdout_still_stops_the_run(cfg: Path, env: str) -> None:
    out = _shell(f"timeout 60 {ORCH} -c {cfg} run {env} -- yes | head -1; "
                 f"echo \"status=${{PIPESTATUS[0]}}\"")
    assert out == "y\nstatus=141\n"


def _unread(cfg: Path, env: str, command: str,
            *options: str) -> tuple[subprocess.Popen[bytes], int]:
    """`orch run ENV -- sh -c COMMAND` with its stdout a pipe nobody reads yet (a paused
    `| less`, a terminal stopped with Ctrl-S, a stuck consumer): the process and the pipe's
    reading end."""
    r, w = os.pipe()
    proc = subprocess.Popen([*ORCH.split(), "-c", str(cfg), "run", *options, env, "--", "sh",
                             "-c", command],
                            stdin=subprocess.DEVNULL, stdout=w, stderr=subprocess.PIPE)
    os.close(w)
    return proc, r


@pytest.mark.ssh
@pytest.mark.parametrize("env", ["local", "loop", "two"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_a_stop_works_while_nothing_reads_the_output(cfg: Path, env: str,
                                                     sig: signal.Signals) -> None:
    """Before: orch waited in a write of its event loop: Ctrl-C and TERM did nothing, and the
    run and its far process went on for as long as the reader did not read."""
    token = f"{env}{sig}x{os.getpid()}"
    proc, r = _unread(cfg, env, f"exec yes {token}")
    try:
        time.sleep(3)  # started, and everything between `yes` and the pipe is full
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 128 + sig, proc.communicate()
        assert b"Traceback" not in proc.communicate()[1]
        assert left_after(lambda: processes_with(token)) == []
        lines = os.read(r, 1 << 16).split(b"\n")
        assert set(lines[:-1]) == {token.encode()}  # what it wrote is whole, in order
    finally:
        proc.kill()
        os.close(r)
        kill_all(processes_with(token))


@pytest.mark.ssh
def test_a_timeout_stops_the_command_while_nothing_reads_the_output(cfg: Path) -> None:
    """Before: the deadline passed unnoticed while orch waited to write; now the command is
    stopped on time, and orch holds its output for the reader (a signal ends that)."""
    token = f"7{os.getpid()}"
    proc, r = _unread(cfg, "loop", f"exec yes {token}", "--timeout", "2")
    try:
        far = lambda: [pid for pid in processes_with(token) if pid != proc.pid]  # noqa: E731
        deadline = time.monotonic() + 30  # started (a loaded machine may take a while)
        while not far() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert far()
        assert left_after(far, within=20) == [] and proc.poll() is None
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130, proc.communicate()
    finally:
        proc.kill()
        os.close(r)
        kill_all(processes_with(token))


@pytest.mark.ssh
@pytest.mark.parametrize("env", ["local", "loop"])
def test_output_a_stopped_run_still_holds_reaches_a_reader_that_reads_again(cfg: Path,
                                                                            env: str) -> None:
    """What orch had received when the stop came is still written while the reader takes it."""
    token = f"9{os.getpid()}{len(env)}"
    proc, r = _unread(cfg, env, f"seq 250000; exec sleep {token}")  # 1.6 MB, then waits
    try:
        time.sleep(3)
        proc.send_signal(signal.SIGINT)
        got = []
        reading = threading.Thread(target=lambda: got.extend(iter(lambda: os.read(r, 1 << 16),
                                                                  b"")))
        reading.start()
        assert proc.wait(timeout=30) == 130, proc.communicate()
        reading.join(30)
        assert b"".join(got) == b"".join(b"%d\n" % i for i in range(1, 250001))
        assert left_after(lambda: processes_with(token)) == []
    finally:
        proc.kill()
        os.close(r)
        kill_all(processes_with(token))


@pytest.fixture
def local_cfg(tmp_path: Path) -> Path:
    """`local`, and a service whose clean-up (a post command) runs after any stop."""
    path = tmp_path / "orch.yaml"
    path.write_text("environments:\n  local: {layers: []}\nservices:\n  flood:\n"
                    "    command: exec yes flooding\n"
                    "    post_commands: [{command: echo cleaned up, when: always}]\n")
    return path


def test_one_stop_ends_a_run_with_a_post_command_while_nothing_reads(local_cfg: Path) -> None:
    """Before: the post command's output waited for the reader that did not read, and one
    Ctrl-C (or a supervisor's TERM) never ended orch; a second one had to."""
    r, w = os.pipe()
    proc = subprocess.Popen([*ORCH.split(), "-c", str(local_cfg), "run", "local", "flood"],
                            stdin=subprocess.DEVNULL, stdout=w, stderr=subprocess.PIPE)
    os.close(w)
    try:
        time.sleep(3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 143, proc.communicate()
    finally:
        proc.kill()
        os.close(r)


@pytest.mark.parametrize(("produce", "expected"), [
    ("seq 300000", b"".join(b"%d\n" % i for i in range(1, 300001))),  # 2 MB, small writes
    ("head -c 2000000 /dev/zero | tr '\\0' x", b"x" * 2000000),  # 2 MB in big chunks
], ids=["seq", "chunks"])
def test_a_slow_steady_reader_gets_all_a_stopped_run_held(local_cfg: Path, produce: str,
                                                          expected: bytes) -> None:
    """Before: a write of a whole chunk returned only once the reader had taken nearly all of
    it, so a reader taking 16 KiB every 50 ms looked stuck and lost the rest after a stop."""
    token = f"5{os.getpid()}"
    proc, r = _unread(local_cfg, "local", f"{produce}; exec sleep {token}")  # then waits
    try:
        time.sleep(3)
        proc.send_signal(signal.SIGINT)
        got: list[bytes] = []

        def read_slowly() -> None:
            while chunk := os.read(r, 16 << 10):
                got.append(chunk)
                time.sleep(0.05)

        reading = threading.Thread(target=read_slowly)
        reading.start()
        assert proc.wait(timeout=60) == 130, proc.communicate()
        reading.join(60)
        assert b"".join(got) == expected
    finally:
        proc.kill()
        os.close(r)
        kill_all(processes_with(token))


def test_output_dropped_while_a_run_stops_is_said(local_cfg: Path) -> None:
    """A command that ignores INT floods while the stop goes on to TERM; nobody reads: past
    64 MiB the rest is dropped, and orch says how much on stderr (it was silent)."""
    proc, r = _unread(local_cfg, "local", "trap '' INT; exec yes ignoring")
    try:
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
        err = proc.communicate()[1].decode()
        assert "bytes of output were dropped: nothing read them while the run was stopping" \
            in err, err
    finally:
        proc.kill()
        os.close(r)


def _to_full(*args: str, stream: str = "stdout") -> subprocess.CompletedProcess[bytes]:
    with open("/dev/full", "wb") as full:
        where = {stream: full, "stderr" if stream == "stdout" else "stdout": subprocess.PIPE}
        return subprocess.run([*ORCH.split(), *args], timeout=120, **where)  # type: ignore[call-overload, no-any-return]


@pytest.mark.ssh
@pytest.mark.parametrize("env", ["local", "loop"])
@pytest.mark.parametrize("command", [["echo", "hi"], ["seq", "200000"],
                                     ["sh", "-c", "echo hi; exec sleep 600"]],
                         ids=["short", "long", "still-running"])  # the last: the run is stopped
def test_a_full_stdout_is_one_line_and_status_1(cfg: Path, env: str,
                                                command: list[str]) -> None:
    """Before: `orch: internal error: OSError: [Errno 28] …`, status 70."""
    still_running = "sleep" in command[-1]  # --json writes at the end only: not stopped
    for json in ([], ["--json"])[:1 if still_running else 2]:
        done = _to_full("-c", str(cfg), "run", env, *json, "--", *command)
        assert (done.returncode, done.stderr) == (1, FULL)


@pytest.mark.parametrize("words", [["ls"], ["check"], ["schema"], ["--help"], ["--version"],
                                   ["run", "--help"], ["audit", "--help"]])
def test_a_full_stdout_of_other_commands_is_one_line(words: list[str]) -> None:
    """Help and --version exited 0 with nothing written: argparse drops write errors (cli2)."""
    done = _to_full("--demo", *words)
    assert (done.returncode, done.stderr) == (1, FULL)


def test_a_full_stderr_stops_the_run_with_status_1() -> None:
    done = _to_full("--demo", "run", "local", "--", "sh", "-c", "echo out; echo err >&2; "
                    "sleep 30; echo late", stream="stderr")
    assert (done.returncode, done.stdout) == (1, b"out\n")


@pytest.fixture
def fleet_cfg(ssh_fleet, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "fleet.yaml"
    path.write_text(f"environments:\n  web:\n    layers:\n      - {{type: ssh, config: {{host: "
                    f"\"127.0.1.[1:3]\", {ssh_fleet.ssh_config()}}}}}\n"
                    f"services:\n  catnone: {{command: cat}}\n")
    return path


@pytest.mark.parametrize("redirect", ["2>&1", "3>&1 1>/dev/null 2>&3"],
                         ids=["both-piped", "stderr-alone"])
def test_a_fleet_stops_when_the_reader_of_its_output_leaves(fleet_cfg: Path,
                                                            redirect: str) -> None:
    """Before: a fleet's labelled lines ignored every failed write: `| head` never ended it."""
    for stream in (">&2", ""):
        out = _shell(f"timeout 60 {ORCH} -c {fleet_cfg} run web -- sh -c 'yes {stream}' "
                     f"{redirect if stream else ''} | head -1 | cut -d'|' -f2; "
                     f"echo \"status=${{PIPESTATUS[0]}}\"")
        assert out == " y\nstatus=141\n"


def test_a_fleet_with_a_full_stdout_is_one_line_and_status_1(fleet_cfg: Path) -> None:
    done = _to_full("-c", str(fleet_cfg), "run", "web", "--", "seq", "100000")
    assert (done.returncode, done.stderr) == (1, FULL)


def test_piped_input_reaches_every_target_of_a_fleet_that_takes_none(fleet_cfg: Path) -> None:
    done = subprocess.run([*ORCH.split(), "-c", str(fleet_cfg), "run", "web", "catnone"],
                          input=b"hi\n", capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(line.split(b"|")[1] for line in done.stdout.splitlines()
                  if b"|" in line) == [b" hi"] * 3


def test_a_second_signal_while_json_waits_for_the_reader_keeps_the_first_status(
        local_cfg: Path) -> None:
    """Ctrl-C stopped the run; the JSON (7 MB) then waited for a reader that did not read, and
    a TERM ended it with 143: orch exits with 128 + the first signal, as the docs say."""
    token = f"3{os.getpid()}"
    proc, r = _unread(local_cfg, "local", f"seq 1000000; exec sleep {token}", "--json")
    try:
        time.sleep(3)
        proc.send_signal(signal.SIGINT)
        time.sleep(3)  # the run has stopped; the JSON waits for the reader
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 130
        assert b"Traceback" not in proc.communicate()[1]
    finally:
        proc.kill()
        os.close(r)
        kill_all(processes_with(token))


def test_a_write_into_a_pipe_whose_reader_paused_never_waits_on_the_loop() -> None:
    """review3: the loop wrote a chunk itself when the pipe's free byte count had room, but a
    page the reader left half read takes a whole slot: a 4,000-byte write into a full pipe
    with 4,095 bytes read off it slept until the reader read again (Ctrl-C, TERM and
    --timeout unhandled meanwhile). What the pipe does not take now goes to the thread."""
    import asyncio

    from orch_magics.cli.writer import BackgroundWriter
    from orch_magics.process.pipes import pipe_capacity

    async def main() -> tuple[float, bytes]:
        r, w = os.pipe()
        os.write(w, b"x" * pipe_capacity(w))  # type: ignore[operator]
        os.read(r, 4095)  # a paused `| less`: the first page half read
        writer = BackgroundWriter(lambda fd, exc: None)
        returned = threading.Event()  # a put that waits is let go after 3 s, to be measured
        timer = threading.Timer(3, lambda: returned.is_set() or os.read(r, 1 << 16))
        timer.start()
        began = time.monotonic()
        writer.put(w, b"y" * 4000)
        writer.put(w, b"z" * 10)  # after it, in order, even with the first one queued
        took = time.monotonic() - began
        returned.set()
        timer.cancel()
        got = b""
        while len(got) < 1 << 20:  # the reader comes back: everything arrives, in order
            got += await asyncio.to_thread(os.read, r, 1 << 20)
            if got.endswith(b"z" * 10):
                break
        await writer.below(0)
        os.close(w)
        os.close(r)
        return took, got

    took, got = asyncio.run(main())
    assert took < 0.5 and got.endswith(b"x" * 100 + b"y" * 4000 + b"z" * 10)


def test_a_usage_mistake_with_stderr_closed_is_still_status_2() -> None:
    """`orch --bogus 2>&-` exited 70, an internal error (review10): the message has nowhere to
    go, the status is a usage mistake's."""
    done = subprocess.run([*ORCH.split(), "--bogus"], stderr=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, timeout=60, close_fds=True,
                          preexec_fn=lambda: os.close(2))
    assert done.returncode == 2


def test_a_limit_file_is_read_once_so_a_pipe_can_be_one(fleet_cfg: Path) -> None:
    """fleets14: `orch run` read the limit file three times (its plan, the confirmation, the
    run): a `.retry` rewritten while a protected fleet's question waited ran other targets
    than the ones confirmed, and a pipe (`@/dev/stdin`, `@<(…)`) was empty the second time."""
    for dry in ("--dry-run", ""):
        done = subprocess.run(["bash", "-c", f"printf '127.0.1.2\\n' | {ORCH} -c {fleet_cfg} run "
                               f"web --limit @/dev/stdin {dry} -- echo hi"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert ("1 target: 127.0.1.2" if dry else "127.0.1.2 | hi") in done.stdout, done.stdout
