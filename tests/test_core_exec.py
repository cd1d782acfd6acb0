"""The executor contract on the local layer, with real subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orch_magics import (
    Command,
    ConfigError,
    Exit,
    LayeredExecutor,
    LayerError,
    LocalLauncher,
    Orchestrator,
    RunError,
    RunTimeout,
    Stderr,
    Stdout,
    load_config_text,
)
from orch_magics.config.loader import layer_spec
from orch_magics.layers.local import LocalConfig
from streams import read_line

CONFIG = load_config_text("""\
environments:
  local: {layers: []}
  staged:
    layers:
      - {type: local, config: {environment: {STAGE: outer, SHARED: layer}, working_dir: /}}
services:
  greet: {command: 'echo "hello $NAME from $PWD"', environment: {NAME: svc}}
  shared: {command: 'echo "$STAGE $SHARED"', environment: {SHARED: service}}
  upper: {command: "tr a-z A-Z", stdin_mode: streaming}
""")


@pytest.fixture
def orch() -> Orchestrator:
    return Orchestrator(CONFIG)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is not alive
        return f.read().split(")")[-1].split()[0] != "Z"


async def test_output_and_stdin_stream_while_the_process_runs(orch: Orchestrator) -> None:
    script = "import sys; print('ready', flush=True); l = sys.stdin.readline(); print('got', l.strip(), flush=True)"
    handle = await orch.launch("local", command=[sys.executable, "-c", script])
    events = handle.events()
    assert await read_line(events) == b"ready\n"  # arrived before any stdin was sent
    handle.stdin.write_line("ping")
    assert await read_line(events) == b"got ping\n"
    rest = [e async for e in events]
    assert rest == [Exit(code=0)]


async def test_stdin_eof_reaches_the_process(orch: Orchestrator) -> None:
    res = await orch.arun("local", command=["wc", "-c"], stdin=b"12345")
    assert res.stdout.strip() == "5" and res.ok
    handle = await orch.launch("local", command=["wc", "-c"])
    handle.stdin.write("abc")
    handle.stdin.close()
    out = b"".join([e.data async for e in handle.events() if isinstance(e, Stdout)])
    assert out.strip() == b"3"


@pytest.mark.parametrize("code", [0, 1, 3, 255])
def test_exit_codes_propagate(orch: Orchestrator, code: int) -> None:
    res = orch.run("local", command=f"exit {code}")
    assert res.returncode == code and res.exit == Exit(code=code) and res.ok is (code == 0)


def test_signals_propagate(orch: Orchestrator) -> None:
    res = orch.run("local", command="kill -USR1 $$")
    assert res.signal == signal.SIGUSR1 and res.returncode == -signal.SIGUSR1
    assert res.exit.shell_status == 128 + signal.SIGUSR1
    assert not res.ok and "killed by SIGUSR1" in repr(res)


async def test_send_signal_reaches_the_process(orch: Orchestrator) -> None:
    handle = await orch.launch("local", command="trap 'echo got-term; exit 7' TERM; echo up; "
                                                "while :; do sleep 0.05; done")
    events = handle.events()
    assert await read_line(events) == b"up\n"
    await handle.terminate()
    rest = [e async for e in events]
    assert Stdout(b"got-term\n") in rest and rest[-1] == Exit(code=7)


async def test_a_signal_is_named_in_any_case_and_an_unknown_one_is_a_clear_error(
        orch: Orchestrator) -> None:
    """`send_signal("term")` raised a bare `KeyError: 'SIGterm'` (review5)."""
    handle = await orch.launch("local", command="trap 'echo got-usr1' USR1; echo up; "
                                                "while :; do sleep 0.05; done")
    events = handle.events()
    assert await read_line(events) == b"up\n"
    for wrong in ("BOGUS", "", 0, 999, True):
        with pytest.raises(ValueError, match=r"unknown signal .*: give a number or a name such "
                                             r"as 'INT', 'TERM'"):
            await handle.send_signal(wrong)
    await handle.send_signal("usr1")  # its `sleep` dies of it, the shell says so on stderr
    while (event := await asyncio.wait_for(events.__anext__(), 10)) != Stdout(b"got-usr1\n"):
        assert isinstance(event, Stderr), event
    await handle.send_signal("sigkill")
    rest = [e async for e in events]
    assert rest[-1].signal == signal.SIGKILL, rest


def test_a_started_run_takes_a_signal_from_any_thread_and_goes_on(orch: Orchestrator) -> None:
    """`orch.start()`'s LiveRun had no way to send USR1 or HUP short of reaching into its
    handle from the loop's thread; its `send_signal` checks the name here and sends it there."""
    live = orch.start("local", command="trap 'echo got-usr1' USR1; echo up; "
                                       "while :; do sleep 0.05; done", name="sig")
    deadline = time.monotonic() + 10
    while "up" not in live.lines:
        assert time.monotonic() < deadline, live.lines
        time.sleep(0.02)
    with pytest.raises(ValueError, match="unknown signal"):
        live.send_signal("USR9")
    live.send_signal("sigusr1")
    while "got-usr1" not in live.lines:
        assert time.monotonic() < deadline, live.lines
        time.sleep(0.02)
    assert live.state == "running"  # it handled the signal and runs on
    live.kill()
    assert live.wait(10).signal == signal.SIGKILL


def test_stderr_is_kept_apart(orch: Orchestrator) -> None:
    res = orch.run("local", command="echo out; echo err >&2")
    assert res.stdout == "out\n" and res.stderr == "err\n"


def test_100mb_random_bytes_round_trip(orch: Orchestrator, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data_file = tmp_path / "random.bin"
    data = os.urandom(100 * 1024 * 1024)
    data_file.write_bytes(data)
    want = hashlib.sha256(data).hexdigest()
    del data
    with open(data_file, "rb") as f:
        res = orch.run("local", command=["cat"], stdin=f)
    assert res.ok and res.stdout_buffer.size == 100 * 1024 * 1024
    assert res.stdout_buffer.spilled  # not held in memory
    got = hashlib.sha256()
    for chunk in res.stdout_buffer.iter_chunks():
        got.update(chunk)
    assert got.hexdigest() == want


KILLED_MID_CAPTURE = """
import os, signal, sys
from orch_magics import Orchestrator, load_config_text
res = Orchestrator(load_config_text("environments: {local: {layers: []}}")).run(
    "local", command="head -c 40000000 /dev/zero")
assert res.stdout_buffer.spilled and res.stdout_buffer.size == 40000000
print(len(os.listdir(sys.argv[1])), flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # a kernel killed (OOM, restart) with its result alive
"""


def test_a_killed_process_leaves_no_spill_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A spilled capture's file has no name: the disk space goes back however its process
    ends (before, a killed kernel left every spilled run's output in /tmp)."""
    spills = tmp_path / "tmp"
    spills.mkdir()
    proc = subprocess.run([sys.executable, "-c", KILLED_MID_CAPTURE, str(spills)],
                          env={**os.environ, "TMPDIR": str(spills)}, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert proc.stdout == "0\n"  # not even while it ran
    assert os.listdir(spills) == []


def test_timeout_kills_the_process_tree_and_keeps_partial_output(orch: Orchestrator, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pidfile = tmp_path / "child.pid"
    res = orch.run("local", command=f"sleep 300 & echo $! > {pidfile}; echo partial; "
                                    "echo oops >&2; wait", timeout=1)
    child = int(pidfile.read_text())
    assert res.timed_out and not res.ok
    assert res.stdout == "partial\n" and res.stderr == "oops\n"
    deadline = time.monotonic() + 5
    while pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(child), "the background child outlived the timeout"
    with pytest.raises(RunTimeout) as info:
        res.check()
    assert info.value.result is res and "timed out" in str(info.value)


async def test_stop_escalates_to_kill_when_int_and_term_are_ignored(orch: Orchestrator) -> None:
    handle = await orch.launch("local", command="trap '' INT TERM; echo started; "
                                                "while :; do sleep 0.1; done")
    events = handle.events()
    assert await read_line(events) == b"started\n"
    end = await asyncio.wait_for(handle.stop(grace=(0.3, 0.3)), 30)
    assert end.signal == signal.SIGKILL
    assert handle.signals_sent == [signal.SIGINT, signal.SIGTERM, signal.SIGKILL]


ARGVS = [
    ["it's", 'say "hi"', "$HOME", "`id`", "$(id)", "a\nb", "tab\there", "ünïcødé ✓", "", " ", "\\", "*"],
    ["--", "-n", ";", "&&", "|", ">", "'", '"'],
]


@pytest.mark.parametrize("args", ARGVS)
def test_argv_reaches_the_process_unchanged(orch: Orchestrator, args: list[str]) -> None:
    script = "import sys, json; print(json.dumps(sys.argv[1:]))"
    res = orch.run("local", command=[sys.executable, "-c", script, *args])
    import json

    assert json.loads(res.stdout) == args


def test_binary_output_survives_byte_for_byte(orch: Orchestrator) -> None:
    payload = bytes(range(256)) * 1000
    res = orch.run("local", command=["cat"], stdin=payload)
    assert res.stdout_bytes == payload


def test_layers_fold_outermost_first_and_merge_env(orch: Orchestrator) -> None:
    res = orch.run("staged", "shared")
    assert res.stdout == "outer service\n"  # the service's value wins over the layer's
    res = orch.run("staged", "greet")
    assert res.stdout == "hello svc from /\n"
    assert res.chain == "local"


async def test_executor_is_composed_from_data() -> None:
    outer = layer_spec("local", LocalConfig(environment={"A": "outer", "B": "outer"}))
    inner = layer_spec("local", LocalConfig(environment={"B": "inner"}))
    ex = LayeredExecutor(LocalLauncher()).with_layer(outer).with_layer(inner)
    handle = await ex.launch(Command.shell('echo "$A $B"'))
    handle.stdin.close()
    out = b"".join([e.data async for e in handle.events() if isinstance(e, (Stdout, Stderr))])
    # the innermost layer applies last, so values nearer the process win
    assert out == b"outer inner\n"


def test_missing_program_exits_127_like_a_shell(orch: Orchestrator, tmp_path) -> None:  # type: ignore[no-untyped-def]
    res = orch.run("local", command=["no-such-program-xyz"])
    assert res.returncode == 127
    assert res.stderr == "orch: no-such-program-xyz: command not found\n"
    plain = tmp_path / "data.txt"
    plain.write_text("not a program\n")
    res = orch.run("local", command=[str(plain)])  # no execute permission
    assert (res.returncode, res.stderr) == (126, f"orch: {plain}: permission denied\n")
    res = orch.run("local", command=["true"], cwd="/no/such/dir")  # as through ssh or docker
    assert (res.returncode, res.stderr) == (126, "orch: working directory not found: /no/such/dir\n")


def test_missing_program_under_a_pty_exits_127_too(orch: Orchestrator) -> None:
    from orch_magics.plan import make_plan

    def ptys() -> int:
        """Open descriptors on a pty (other files, such as the audit log, come and go)."""
        links = []
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                links.append(os.readlink(f"/proc/self/fd/{fd}"))
        return sum(link == "/dev/ptmx" or link.startswith("/dev/pts/") for link in links)

    before = ptys()
    for _ in range(5):
        plan = make_plan(CONFIG, "local", command=["no-such-program-xyz"], tty=True)
        res = orch.spawn("local", plan=plan, close_stdin=True).wait(10)
        assert res.returncode == 127 and "command not found" in res.stdout
    assert ptys() <= before  # the pty master is closed each time


def test_unknown_names_fail_before_running(orch: Orchestrator) -> None:
    with pytest.raises(ConfigError, match="did you mean 'local'"):
        orch.run("locl", "greet")
    with pytest.raises(ConfigError, match="did you mean 'greet'"):
        orch.run("local", "gret")


def test_result_object(orch: Orchestrator) -> None:
    res = orch.run("local", "upper", stdin="abc\ndef\n")
    assert res.lines == ["ABC", "DEF"] and res.ok and res.returncode == 0
    assert res.duration > 0 and res.service == "upper" and res.environment == "local"
    assert repr(res).startswith("<RunResult local/upper exit 0 in ")
    import json

    data = json.loads(res.json())
    assert data["stdout"] == "ABC\nDEF\n" and data["returncode"] == 0 and data["ok"] is True
    assert res.check() is res
    bad = orch.run("local", command="echo boom >&2; exit 4")
    with pytest.raises(RunError, match=r"local/echo boom >&2; exit 4 failed \(exit 4\): boom"):
        bad.check()


#: Output whose characters straddle every chunk `result_json` reads, then bytes that are not
#: UTF-8, ending in the middle of a character; a pre step's output is not UTF-8 either.
MIXED = """\
import random, sys
out = sys.stdout.buffer
if sys.argv[1:] == ["pre"]:
    out.write(b"pre \\xff\\n")
    sys.exit(0)
out.write('\u00e9\u6771\U0001f600"\\\\\x01\\t\u2028x'.encode() * 40000)
out.write(random.Random(7).randbytes(600000) + b"\\xe6\\x9d")
sys.stderr.write("\u6771" * 200000)
"""


@pytest.mark.parametrize("kw", [{}, {"indent": 2}, {"ensure_ascii": False, "sort_keys": True}],
                         ids=["compact", "indented", "unicode-sorted"])
def test_json_written_in_pieces_is_json_dumps_of_to_dict(tmp_path, kw) -> None:  # type: ignore[no-untyped-def]
    """`json()` / `write_json()` (what `orch run --json` prints) decode, escape and base64 the
    output a chunk at a time, and still give exactly `json.dumps(to_dict())`."""
    import io
    import json

    script = tmp_path / "mixed.py"
    script.write_text(MIXED)
    run = f"{sys.executable} {script}"
    config = load_config_text(f"environments:\n  local: {{layers: []}}\nservices:\n  mixed:\n"
                              f"    command: {run}\n    pre_commands: [{{command: {run} pre}}]\n")
    res = Orchestrator(config).run("local", "mixed")
    whole = json.dumps(res.to_dict(), **kw)
    written = io.StringIO()
    res.write_json(written, **kw)
    assert written.getvalue() == whole and res.json(**kw) == whole
    data = json.loads(whole)
    assert data["stdout"] == res.stdout and "\u6771" * 200000 == data["stderr"]
    assert "stdout_base64" in data and "stderr_base64" not in data
    assert data["steps"][0]["stdout_base64"] == "cHJlIP8K"  # b"pre \xff\n"


def test_pty_run_sees_a_terminal(orch: Orchestrator) -> None:
    res = orch.run("local", command="test -t 0 && test -t 1 && echo tty-ok")
    assert res.stdout == ""
    from orch_magics.plan import make_plan

    plan = make_plan(CONFIG, "local", command="test -t 0 && test -t 1 && echo tty-ok", tty=True)
    live = orch.spawn("local", plan=plan, close_stdin=True)
    assert "tty-ok" in live.wait(10).stdout


async def test_a_cancelled_run_still_stops_a_chatty_process(orch: Orchestrator, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Cancelling the caller leaves nobody reading events; the process must still be stopped."""
    pidfile = tmp_path / "pid"
    chatty = f"trap '' INT TERM; echo $$ > {pidfile}; while :; do echo spam; done"
    t0 = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(orch.arun("local", command=chatty), 1)
    assert time.monotonic() - t0 < 15  # INT and TERM are ignored: KILL ends it
    assert not pid_alive(int(pidfile.read_text()))


def test_a_failing_stdin_source_fails_the_run(orch: Orchestrator) -> None:
    def source():  # type: ignore[no-untyped-def]
        yield "first\n"
        raise OSError("the disk went away")

    res = orch.run("local", command=["cat"], stdin=source())
    # cat is stopped, not given an EOF: it may or may not have echoed the first line by then
    assert res.stdout in ("", "first\n") and not res.ok
    assert "stdin source failed: OSError: the disk went away" in res.describe_failure()
    # basics12: the repr, `outcome()`, `ps` and `orch audit` said only "killed by SIGINT", as
    # if something outside had stopped it
    assert res.outcome() == "killed by SIGINT; stdin source failed: OSError: the disk went away"
    assert "SIGINT; stdin source failed" in repr(res)
    assert res.exit_status == 1  # review42: orch's own failure, not a Ctrl-C's 130
    # a source that cannot be sent at all is refused before the command starts (it was
    # started, then stopped: "cannot use int as stdin")
    with pytest.raises(ConfigError, match="stdin takes str, bytes, .* not int"):
        orch.run("local", command=["cat"], stdin=123)  # type: ignore[arg-type]


def test_live_run_refuses_input_it_could_not_deliver(orch: Orchestrator) -> None:
    from orch_magics import OrchError

    live = orch.spawn("local", command=["cat"])
    live.send_line("kept")
    live.close_stdin()
    assert live.wait(10).stdout == "kept\n"
    with pytest.raises(OrchError, match="has ended"):
        live.send_line("too late")
    # a run that never starts: a send queued meanwhile does not wait for ever
    never = orch.spawn("local", command=["true", *["x" * 100_000] * 30])  # too long to start
    never.send_line("into the void")
    with pytest.raises(LayerError):
        never.wait(10)
    pending = orch.loop.submit(_pending_tasks()).result(10)
    assert not [t for t in pending if "LiveRun._on_loop" in repr(t)]


async def _pending_tasks() -> list[asyncio.Task[object]]:
    await asyncio.sleep(0.2)
    return [t for t in asyncio.all_tasks() if not t.done()]


CLI = [sys.executable, "-m", "orch_magics.cli"]


def test_local_commands_never_inherit_the_secret_providers_variables(
        orch: Orchestrator, monkeypatch: pytest.MonkeyPatch) -> None:
    from orch_magics.plan import make_plan

    monkeypatch.setenv("ORCH_SECRET_DB_PASSWORD", "sentinel-db-4711")
    monkeypatch.setenv("ORCH_SECRET_api", "sentinel-api-4712")
    monkeypatch.setenv("ORCH_PLAIN", "inherited")
    for tty in (False, True):
        plan = make_plan(CONFIG, "local", command=["sh", "-c", "env"], tty=tty)
        res = orch.spawn("local", plan=plan, close_stdin=True).wait(10)
        assert res.returncode == 0
        assert "sentinel" not in res.stdout and "ORCH_SECRET_" not in res.stdout, tty
        assert "ORCH_PLAIN=inherited" in res.stdout  # the rest of the environment is inherited
    # through a layer that adds variables, and a service's own variables: still none
    res = orch.run("staged", command=["sh", "-c", "env"])
    assert "STAGE=outer" in res.stdout and "sentinel" not in res.stdout
    # a variable the plan gives on purpose does arrive
    res = orch.run("local", command=["sh", "-c", "echo $ORCH_SECRET_API"],
                   env={"ORCH_SECRET_API": "given"})
    assert res.stdout == "given\n"


def test_cli_run_shows_no_secret_provider_variable() -> None:
    import subprocess

    env = {**os.environ, "ORCH_SECRET_TOKEN": "sentinel-cli-4713"}
    r = subprocess.run([*CLI, "--demo", "run", "local", "--", "sh", "-c", "env"], env=env,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert b"sentinel-cli-4713" not in r.stdout and b"ORCH_SECRET_" not in r.stdout
    assert b"PATH=" in r.stdout


def test_a_command_too_long_for_the_system_is_a_one_line_error(
        orch: Orchestrator, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    huge = "x" * 10_000_000
    for command in (["echo", huge], f"echo {huge}", ["echo", *["y" * 100] * 30_000]):
        with pytest.raises(LayerError) as info:
            orch.run("local", command=command)
        text = str(info.value)
        assert "too long for this system" in text and "\n" not in text and len(text) < 300
    with pytest.raises(LayerError, match="too long"):  # huge variables count too
        orch.run("local", command=["true"], env={"BIG": huge})
    one = 32 * os.sysconf("SC_PAGE_SIZE")  # Linux's limit for one argument, far below the total
    with pytest.raises(LayerError) as info:
        orch.run("local", command=["echo", "z" * one])
    assert f"(one argument or variable is {one:,} bytes; at most {one - 1:,} fit)" in str(
        info.value)
    config = tmp_path / "big.yaml"
    config.write_text("environments:\n  local: {layers: []}\nservices:\n  big:\n"
                      f"    command: [echo, {huge}]\n")
    r = subprocess.run([*CLI, "-c", str(config), "run", "local", "big"], capture_output=True,
                       timeout=120)
    # `orch check` knows it without running: a config error at file:line with a short excerpt.
    assert r.returncode == 2 and b"Traceback" not in r.stderr
    assert b"big.yaml:5:" in r.stderr and b"the system accepts less than" in r.stderr
    assert len(r.stderr) < 1000


@pytest.mark.parametrize("item", [3, None, 2.5, object()])
def test_a_stdin_item_that_is_not_bytes_or_text_fails_the_run(orch: Orchestrator, item) -> None:  # type: ignore[no-untyped-def]
    """Before, an int became that many NUL bytes (bytes(3)) and None was skipped silently.
    The command is stopped, not given an EOF (it would take "a" for the whole input)."""
    res = orch.run("local", command=["od", "-An", "-c"], stdin=iter([b"a", item, b"b"]))
    assert not res.ok and res.exit.signal == signal.SIGINT and res.stdout == ""
    assert (f"stdin source failed: TypeError: stdin takes bytes or str, got "
            f"{type(item).__name__}") in res.describe_failure()


def test_a_stdin_source_that_cannot_be_decoded_is_said_without_its_bytes(
        orch: Orchestrator, tmp_path: Path) -> None:
    """fleets7: the failure was the exception's repr, and a UnicodeDecodeError's holds the
    whole buffer it could not decode: the input, a secret in it, megabytes of it, landed in
    the result, `--json`, every fleet cause and the audit log."""
    source = tmp_path / "in.txt"
    source.write_bytes(b"password=SECRET-TOKEN-42\n\xff\xfe tail\n" + b"x" * 100_000)
    with open(source, encoding="utf-8") as text:  # text mode: it cannot decode \xff
        res = orch.run("local", command=["wc", "-c"], stdin=text)
    said = res.describe_failure()
    assert not res.ok and "stdin source failed: UnicodeDecodeError: 'utf-8' codec can't " \
        "decode byte 0xff in position 25: invalid start byte" in said, said
    assert "SECRET-TOKEN" not in said and len(said) < 400
    assert "SECRET-TOKEN" not in str(res.error)


def test_live_send_takes_text_or_bytes_and_copies_them_at_once(orch: Orchestrator) -> None:
    """A wrong type was raised on the loop's thread, where nobody saw it (the input was just
    gone); a bytearray was copied only when the loop got to it, after the caller changed it."""
    live = orch.spawn("local", command=["cat"])
    for bad, message in ((3, "stdin takes bytes or str, got int"),
                         (None, "stdin takes bytes or str, got NoneType")):
        with pytest.raises(TypeError, match=re.escape(message)):
            live.send(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=re.escape("send_line() takes str, got bytes")):
        live.send_line(b"x")  # type: ignore[arg-type]
    buffer = bytearray(b"as sent\n")
    live.send(buffer)
    buffer[:] = b"changed\n"
    live.close_stdin()
    assert live.wait(10).stdout == "as sent\n"


@pytest.mark.parametrize("call, message", [
    (dict(command=123), "command must be a shell line (str) or an argv (a list of str), got int"),
    (dict(command=b"ls"), "command must be a shell line (str) or an argv (a list of str), "
                          "got bytes"),
    (dict(command=[]), "command is an empty list: give a shell line or an argv"),
    (dict(command=["echo", 1]), "command: every argv element must be a str, got int 1"),
    (dict(command="true", env=["A"]), "env must be a mapping of names to values, got list"),
    (dict(command="true", env={"A": 1}), "env A: the value must be a str, got int"),
    (dict(command="true", env={"A=B": "x"}), "env: 'A=B' is not a variable name"),
    (dict(command="true", cwd=7), "cwd must be a str (a directory on the target), got int"),
    (dict(command="true", yes=5), "yes names environments (a str or a list of str), got 5"),
    (dict(command=["echo", "a\0b"]), "command: an argument, variable or directory holds a NUL "
                                     "byte, which no program can receive"),
    (dict(command="echo", env={"A": "\0"}), "command: an argument, variable or directory "
                                            "holds a NUL byte"),
    # api4: a surrogate that stands for no byte was a UnicodeEncodeError from the audit log
    # or the launcher, the run recorded as failed
    (dict(command="echo \ud800"), "command: an argument, variable or directory holds "
                                  "'\\ud800', a surrogate that stands for no byte"),
    (dict(command=["echo", "\udfff"]), "command: an argument, variable or directory holds "
                                       "'\\udfff', a surrogate"),
    (dict(command="true", cwd="/tmp/\ud800"), "command: an argument, variable or directory "
                                             "holds '\\ud800', a surrogate"),
    (dict(command="true", env={"A": "x\ud800"}), "command: an argument, variable or directory "
                                                "holds '\\ud800', a surrogate"),
    (dict(command=" \n"), "command is empty: give a shell line or an argv"),
    (dict(command="true", env={"A B": "1"}), "env: 'A B' is not a variable name (letters, "
                                            "digits and _"),  # ssh refused it, local took it
    (dict(command="true", env={"S": "{{secrt:tok}}"}),
     "env S: unknown placeholder kind 'secrt' (known: {{secret:NAME}}, {{env:VAR}}); did you "
     "mean {{secret:…}}?"),
    (dict(command="true", env={"S": "{{secret:tok}"}), "env S: placeholder '{{secret:tok}' "
                                                       "is not closed"),
    (dict(command="true", timeout=True), "timeout must be a positive number of seconds (at "
                                         "most 1e+09), not True"),
    (dict(command="true", timeout=10**400), "timeout must be a positive number of seconds"),
    (dict(command="true", timeout=1e300), "timeout must be a positive number of seconds"),
    (dict(environment=5, command="true"), "the environment must be a name (str), not int"),
    (dict(command="true", restart="sometimes"), "restart must be one of no, on-failure, "
                                                "always, not 'sometimes'"),
    (dict(command="true", restart="on_failure"), "restart must be one of no, on-failure, "
                                                 "always, not 'on_failure' (did you mean "
                                                 "'on-failure'?)"),
    (dict(command="true", restart=""), "restart must be one of no, on-failure, always, not "
                                       "''"),  # was the service's own policy (tester config)
    (dict(command="true", restart=True), "restart must be one of no, on-failure, always, not "
                                         "True"),
    (dict(command="true", max_restarts=-1), "max_restarts must be a whole number, 0 or more, "
                                            "not -1"),
    (dict(command="true", max_restarts="x"), "max_restarts must be a whole number"),
])
def test_api_mistakes_are_config_errors_that_say_what_is_wrong(orch: Orchestrator, call,  # type: ignore[no-untyped-def]
                                                               message: str) -> None:
    """Before: "'int' object is not iterable", "expected string or bytes-like object",
    "embedded null byte" (and, over SSH, a NUL dropped the session: "Connection lost"); a
    bad restart= was taken and restarted the run, timeout=True meant one second."""
    environment = call.pop("environment", "local")
    named = {"restart", "max_restarts"} & set(call)
    with pytest.raises(ConfigError) as err:
        if named:
            orch.start(environment, **call)
        else:
            orch.run(environment, **call)
    assert str(err.value).startswith(message)
    assert orch.ps() == []


def test_describe_failure_of_a_run_that_succeeded_says_so(orch) -> None:  # type: ignore[no-untyped-def]
    """basics10: alert text built from `r.describe_failure()` read 'local/hello failed (exit 0)'."""
    res = orch.run("local", command="true")
    assert res.ok and res.describe_failure() == "local/true succeeded (exit 0)"
    bad = orch.run("local", command="exit 3")
    assert bad.describe_failure().startswith("local/exit 3 failed (exit 3)")


def test_ps_freezes_a_run_that_never_started_and_says_why(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """browser16: a named run whose hop refused the connection went on aging in `ps` (13.8 s,
    then 21.0 s, for a 10 s run) with an empty EXIT, where the cell said why it failed."""
    monkeypatch.setenv("ORCH_LOG_DIR", str(tmp_path / "logs"))
    text = ("environments:\n  down: [{type: ssh, config: {host: 127.0.0.1, port: 1, "
            "connect_timeout: 3}}]\naudit: {enabled: false}\n")
    with Orchestrator(load_config_text(text)) as orch:
        live = orch.start("down", command="true", name="never")
        with pytest.raises(LayerError):
            live.wait(30)
        (first,) = orch.ps()
        time.sleep(0.5)
        (again,) = orch.ps()
    assert first.elapsed == again.elapsed and "127.0.0.1" in first.exit, first


@pytest.mark.parametrize(("stderr", "reason"), [
    (r"ERROR: disk full\033[2K\rretrying... ok\n", r"ERROR: disk full\rretrying... ok"),
    (r"ERROR: disk full\fsee log\n", r"ERROR: disk full\x0csee log"),
    (r"ok\n\033]0;PWNED\007\033[2J\033[32mdeploy succeeded\033[0m\n", "deploy succeeded"),
])
def test_a_failures_reason_is_the_last_line_printed_and_shows_no_control(stderr: str,
                                                                         reason: str) -> None:
    """chains21: the reason quoted the far end's stderr raw: its escapes cleared the screen,
    set the window title and showed "deploy succeeded" in green as why a run failed, and a
    `\\r` or form feed in the last line made what followed it the reason. It is the last line
    cut at newlines only, its terminal sequences out and control characters escaped, as a
    fleet's table says it."""
    with Orchestrator(load_config_text("environments:\n  here: {layers: []}\n")) as orch:
        res = orch.run("here", command=["sh", "-c", f"printf '{stderr}' >&2; exit 1"])
    said = res.describe_failure()
    assert said.endswith(f"failed (exit 1): {reason}"), said
    assert "\x1b" not in said and "\r" not in said and "\x07" not in said
    with pytest.raises(RunError) as err:
        res.check()
    assert str(err.value).endswith(f": {reason}") and "\x1b" not in str(err.value)


async def test_eof_goes_even_after_a_write_that_failed() -> None:
    """kinds15: a layer whose stdin write failed once (a channel library's transient error,
    the process living on) never sent EOF: the run waited for ever. The write's failure is
    provoked (a local pipe cannot fail so and live on); EOF reaches the real process."""
    orch = Orchestrator(load_config_text("environments:\n  here: {layers: []}\n"
                                         "audit: {enabled: false}\n"))
    try:
        handle = await orch.launch("here", command=["sh", "-c", "cat >/dev/null; echo eof"])
        backend = handle.stdin._backend
        real = backend.write

        async def fails_once(data: bytes) -> None:
            backend.write = real
            raise RuntimeError("the agent's stdin broke")
        backend.write = fails_once
        handle.stdin.write(b"lost\n")
        await handle.stdin.drain()
        handle.stdin.close()
        exit_ = await asyncio.wait_for(handle.wait(), 10)
        assert exit_.code == 0 and isinstance(handle.stdin.broken, RuntimeError)
    finally:
        await orch.aclose()
