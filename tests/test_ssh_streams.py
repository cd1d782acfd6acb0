"""The executor contract over real sshd hops: streams, EOF, exit status, env/cwd, argv, tty."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orch_magics.config.loader import load_config_text
from orch_magics.executor import LayeredExecutor
from orch_magics.layers.base import LaunchContext
from orch_magics.layers.local import LocalLauncher
from orch_magics.orchestrator import Orchestrator
from orch_magics.process.command import Command
from orch_magics.process.events import Exit, Stderr, Stdout
from processes import processes_with

pytestmark = pytest.mark.ssh
ENVS = ["loop", "two"]


@pytest.fixture
def orch(ssh_lab):  # type: ignore[no-untyped-def]
    return Orchestrator(load_config_text(ssh_lab.config_yaml()))


@pytest.mark.parametrize("env", ENVS)
async def test_stdout_stderr_exit_code(orch: Orchestrator, env: str) -> None:
    try:
        res = await orch.arun(env, command="printf 'out\\n'; printf 'err\\n' >&2; exit 7")
        assert res.exit == Exit(code=7)
        assert res.stdout_bytes == b"out\n"
        assert res.stderr_bytes == b"err\n"
        assert "ssh orch-" in res.chain
    finally:
        await orch.aclose()


@pytest.mark.parametrize("env", ENVS)
async def test_stdin_eof_and_binary(orch: Orchestrator, env: str) -> None:
    data = os.urandom(3 << 20) + bytes(range(256))
    try:
        res = await orch.arun(env, command="wc -c", stdin=data)
        assert res.stdout.strip() == str(len(data))
        res = await orch.arun(env, command=["cat"], stdin=data)
        assert res.stdout_bytes == data
    finally:
        await orch.aclose()


async def test_streams_live_both_ways(orch: Orchestrator) -> None:
    """A line written to stdin comes back before EOF: nothing waits for the end."""
    try:
        handle = await orch.launch("two", command=["sh", "-c", "while read l; do echo got:$l; "
                                                              "done; echo bye"])
        events = handle.events().__aiter__()
        for word in ("alpha", "beta"):
            await handle.stdin.awrite(word + "\n")
            event = await asyncio.wait_for(events.__anext__(), 10)
            assert event == Stdout(f"got:{word}\n".encode())
        handle.stdin.close()
        rest = [e async for e in events]
        assert rest[-1] == Exit(code=0)
        assert b"".join(e.data for e in rest if isinstance(e, Stdout)) == b"bye\n"
    finally:
        await orch.aclose()


@pytest.mark.parametrize("env", ENVS)
async def test_signal_reaches_remote_process(orch: Orchestrator, env: str) -> None:
    try:
        handle = await orch.launch(env, command=["sh", "-c", "echo ready; exec sleep 60"])
        events = handle.events().__aiter__()
        assert await asyncio.wait_for(events.__anext__(), 10) == Stdout(b"ready\n")
        await handle.terminate()
        exit_event = await asyncio.wait_for(handle.wait(), 10)
        assert exit_event.signal == signal.SIGTERM
        assert handle.pid is not None  # the wrapper reported the remote pid
    finally:
        await orch.aclose()


@pytest.mark.parametrize("env", ENVS)
async def test_env_and_cwd_arrive_without_argv(orch: Orchestrator, ssh_lab, env: str,
                                               tmp_path: Path) -> None:
    secret = "s3cr3t-" + os.urandom(8).hex()
    tricky = "a b'c\"d$HOME`x`\nline2 é"
    try:
        handle = await orch.launch(
            env, command=["sh", "-c", 'printf "%s|%s|%s\\n" "$TOKEN" "$TRICKY" "$PWD"; '
                                       'read x'],
            env={"TOKEN": secret, "TRICKY": tricky}, cwd=str(tmp_path))
        events = handle.events().__aiter__()
        first = await asyncio.wait_for(events.__anext__(), 10)
        # The command now waits on stdin: scan every process's argv on the target.
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                assert secret.encode() not in cmdline.read_bytes()
            except OSError:
                continue
        handle.stdin.close()
        await handle.wait()
        assert first == Stdout(f"{secret}|{tricky}|{tmp_path}\n".encode())
    finally:
        await orch.aclose()


async def test_missing_working_dir_fails_clearly(orch: Orchestrator) -> None:
    try:
        res = await orch.arun("loop", command="pwd", cwd="/nonexistent/dir")
        assert res.exit.code == 126
        assert "working directory not found: /nonexistent/dir" in res.stderr
        res = await orch.arun("loop", command="pwd", cwd="/nonexistent/a\nb")  # one line
        assert res.stderr == "orch: working directory not found: /nonexistent/a\\nb\n"
    finally:
        await orch.aclose()


@pytest.mark.parametrize("env", ENVS)
async def test_a_relative_working_dir_is_the_homes_and_prints_nothing(orch: Orchestrator,
                                                                     env: str, tmp_path: Path
                                                                     ) -> None:
    """chains12: with a CDPATH (a login's ~/.bashrc often sets one) `cd sub` went through it
    and printed the folder into the command's stdout, and `-` was $OLDPWD; now a relative
    folder is the login's home's, as `ssh host 'cd sub'` without CDPATH reads it."""
    (tmp_path / "sub").mkdir()
    home = (await orch.arun(env, command="pwd")).stdout.strip()
    try:
        res = await orch.arun(env, command="pwd", cwd="sub", env={"CDPATH": f".:{tmp_path}"})
        assert (res.exit.code, res.stdout) == (126, "")
        assert res.stderr == "orch: working directory not found: sub\n"
        await orch.arun(env, command=["mkdir", "-p", f"{home}/-"])
        res = await orch.arun(env, command="pwd", cwd="-", env={"OLDPWD": "/tmp"})
        assert (res.exit.code, res.stdout, res.stderr) == (0, f"{home}/-\n", "")
    finally:
        await orch.arun(env, command=["rmdir", f"{home}/-"])
        await orch.aclose()


@pytest.mark.parametrize("env", ENVS)
async def test_a_status_of_a_stop_given_by_the_command_itself_stops_nothing(
        orch: Orchestrator, env: str) -> None:
    """chains13: `exit 130` (no stop) was taken for a stop by the wrapper: what the command
    left running was killed a second later, as after Ctrl-C; locally it lives on, as a child
    that ignores TERM outlives a normal exit."""
    token = f"{3000 + os.getpid() % 1000}.{int.from_bytes(os.urandom(2), 'big')}"
    try:
        res = await orch.arun(env, command=f"(trap '' INT TERM HUP; exec sleep {token}) "
                                           f">/dev/null 2>&1 & sleep 1; exit 130")  # its trap
        # is set by then: the TERM every end sends its group must find it ignored
        assert res.returncode in (130, -2), res
        await asyncio.sleep(2)  # past the wrapper's second
        assert processes_with(token, zombies=False), "the child was killed"
    finally:
        for pid in processes_with(token):
            os.kill(pid, signal.SIGKILL)
        await orch.aclose()


ARG = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
              max_size=40)
ECHO = [sys.executable, "-c",
        "import os,sys; sys.stdout.buffer.write(b'\\0'.join(map(os.fsencode, sys.argv[1:])))"]


async def test_argv_unchanged_through_two_hops(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    """Quotes, $, backticks, newlines, non-ASCII: each argv element arrives as it was."""
    config = load_config_text(ssh_lab.config_yaml())
    context = LaunchContext()
    launcher = LayeredExecutor(LocalLauncher(context), config.environment("two").layers).build()

    async def roundtrip(args: list[str]) -> bytes:
        handle = await launcher.launch(Command((*ECHO, *args)))
        handle.stdin.close()
        out = b""
        async for event in handle.events():
            if isinstance(event, (Stdout, Stderr)):
                out += event.data if isinstance(event, Stdout) else b""
            else:
                assert event == Exit(code=0)
        return out

    cases: list[list[str]] = []

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(ARG, max_size=6))
    def collect(args: list[str]) -> None:
        cases.append(args)

    collect()
    cases += [["'", '"', "$HOME", "`id`", "a\nb", "\\", "é ü 中", "-n", ";", "*", " "], [""]]
    try:
        results = await asyncio.gather(*(roundtrip(a) for a in cases))
        for args, out in zip(cases, results, strict=True):
            assert out == b"\0".join(os.fsencode(a) for a in args), args
    finally:
        await context.aclose()


async def test_tty_run(orch: Orchestrator) -> None:
    try:
        handle = await orch.launch("two", command="test -t 0 && test -t 1 && echo tty:$X; "
                                                  "echo e >&2; read line; echo got:$line",
                                   env={"X": "secret-ish"}, tty=True)
        handle.stdin.write("hello\n")
        out = b""
        async for event in handle.events():
            assert not isinstance(event, Stderr)  # a terminal merges both streams
            if isinstance(event, Stdout):
                out += event.data
            else:
                assert event == Exit(code=0)
        text = out.decode().replace("\r\n", "\n")
        assert "tty:secret-ish\n" in text and "e\n" in text and "got:hello" in text
        assert "export" not in text  # the preamble was not echoed
    finally:
        await orch.aclose()


async def test_a_command_too_long_for_ssh_is_a_one_line_error(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    from orch_magics.errors import LayerError

    orch = Orchestrator(load_config_text(ssh_lab.config_yaml()))
    try:
        for command in (["echo", "x" * 10_000_000], "echo " + "y" * 300_000):
            with pytest.raises(LayerError) as info:
                await orch.arun("loop", command=command)
            text = str(info.value)
            assert text.startswith("hop 1 (ssh orch-loop): the command is too long")
            assert "\n" not in text and len(text) < 300
        # the pooled connection is untouched: the next run works
        assert (await orch.arun("loop", command="echo ok")).stdout == "ok\n"
    finally:
        await orch.aclose()


@pytest.mark.parametrize("env", ENVS)
def test_a_string_too_long_for_execve_is_refused_as_locally(ssh_lab, env: str) -> None:  # type: ignore[no-untyped-def]
    """One variable or argument over Linux's per-string limit (131,071 bytes), or a command
    line over it (the login shell gets it as one argument), is refused before anything is
    sent, with the local layer's words. Before: exit 126 "sh: 14: exec: sh: Argument list too
    long" for a variable, exit 1 "/bin/bash: Argument list too long" for a line of 131-250 KB."""
    from orch_magics.errors import LayerError

    text = ssh_lab.config_yaml(extra_envs={"here": []})
    orch = Orchestrator(load_config_text(text))
    big = "a" * 1_000_000
    many = {f"V{i}": "c" * 110_000 for i in range(20)}  # each fits, not all together
    cases = [dict(command=["sh", "-c", 'printf %s "$BIG" | wc -c'], env={"BIG": big}),
             dict(command=["printf", "%s", "b" * 140_000]), dict(command=["true"], env=many)]
    try:
        for call in cases:
            with pytest.raises(LayerError) as here:
                orch.run("here", **call)  # type: ignore[arg-type]
            with pytest.raises(LayerError) as there:
                orch.run(env, **call)  # type: ignore[arg-type]
            message = str(there.value)
            assert message.startswith(f"hop {ENVS.index(env) + 1} (ssh "), message
            assert "\n" not in message and "pass large data on stdin or in a file" in message
            why = re.search(r"\((.* bytes.*)\):", str(here.value))
            assert why is not None and f"({why[1]})" in message, (here.value, message)
        with pytest.raises(LayerError, match=r"command line is 1\d\d,\d\d\d bytes; the "
                                             r"remote login shell takes at most 131,071"):
            orch.run(env, command=["true", *["word"] * 30_000])
        # under the limit: the value arrives whole, and the pooled connection is fine
        res = orch.run(env, command=["sh", "-c", 'printf %s "$BIG" | wc -c'],
                       env={"BIG": big[:100_000]})
        assert res.stdout.strip() == "100000", res.stderr
    finally:
        orch.close()


def test_a_nul_byte_is_refused_before_the_session_and_the_pool_goes_on(orch) -> None:  # type: ignore[no-untyped-def]
    """sshd dropped the session of an exec request holding a NUL ("Connection lost")."""
    from orch_magics import ConfigError

    for call in (dict(command=["echo", "a\0b"]), dict(command="echo $A", env={"A": "x\0y"})):
        with pytest.raises(ConfigError, match="holds a NUL byte, which no program can receive"):
            orch.run("loop", **call)
    assert orch.run("loop", command=["echo", "fine"]).stdout == "fine\n"
    orch.close()


def test_an_ssh_configs_request_tty_gives_no_run_or_copy_a_terminal(ssh_lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """files14: `RequestTTY force` (what people add so `ssh host sudo …` gets a terminal) gave
    every session one: the wrapper's pid line showed in stdout, a ^C byte of stdin killed the
    command, copies failed. Whether a run has a terminal is its `tty:`."""
    config = tmp_path / "ssh_config"
    config.write_text("Host orch-loop\n  RequestTTY force\n\n" + ssh_lab.ssh_config.read_text())
    layer = ssh_lab.layer("orch-loop", ssh_config=str(config))
    text = (f"environments:\n  tt: [{layer}]\nservices:\n  term: {{command: 'tty', tty: true}}\n"
            "audit: {enabled: false}\n")
    data = bytes(range(256)) * 64
    (tmp_path / "blob").write_bytes(data)
    with Orchestrator(load_config_text(text)) as orch:
        plain = orch.run("tt", command="tty; echo rc=$?", stdin=b"")
        assert (plain.stdout, plain.returncode) == ("not a tty\nrc=1\n", 0), plain
        piped = orch.run("tt", command="cat", stdin=data)
        assert piped.stdout_bytes == data
        assert orch.run("tt", "term").stdout.startswith("/dev/pts/")  # asked for: it has one
        orch.put("tt", str(tmp_path / "blob"), str(tmp_path / "far"))
        orch.get("tt", str(tmp_path / "far"), str(tmp_path / "back"))
    assert (tmp_path / "back").read_bytes() == data
