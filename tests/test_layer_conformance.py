"""The layer conformance suite: every registered layer kind behaves the same, for real.

Each kind of `orch_magics.layers.registry.kind_names()` (and the chains in `CHAINS`) runs the
same cases against the real sshd / dockerd of the fixtures: stdin with EOF, the order of
output, exit codes, death by signal, an interrupt that leaves no process, variables and
working directory, an argv with shell metacharacters, a missing program (127) and a background
grandchild (`sleep … & echo hi`: the run ends with the main process, and nothing is left).

A new kind must add an entry to `CHAINS` (its layers as YAML, given the fixtures): a kind
without one FAILS here, so no kind ships unchecked. The example kind of docs/architecture.md
(`nice`) runs here too, as the docs write it, so the docs show a kind that passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import types
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from orch_magics.config.loader import load_config_text
from orch_magics.errors import LayerError
from orch_magics.executor import LayeredExecutor
from orch_magics.layers import registry
from orch_magics.layers.base import LAUNCH_PHASE, LaunchPhase
from orch_magics.layers.local import LocalLauncher
from orch_magics.layers.registry import kind_names
from orch_magics.plan import resolve_layers
from orch_magics.process.command import Command
from orch_magics.process.events import Exit, Stderr, Stdout
from orch_magics.secrets.placeholders import Resolver
from processes import gone, processes_with
from streams import collect, read_line

#: Fixtures a chain needs, and its layers (YAML flow mappings) built from them.
Chain = tuple[tuple[str, ...], Callable[..., list[str]]]


def _sudo_behind_ssh(ssh_lab: Any, sudo_lab: Any) -> list[str]:
    """bastion (root) → inner host as an unprivileged user → sudo with a password rule."""
    sudo_lab.authorize(ssh_lab.root / "id_ed25519.pub")
    return [ssh_lab.layer("orch-bastion"), ssh_lab.layer("orch-inner", user=sudo_lab.login),
            sudo_lab.layer(sudo_lab.target, password=True)]


CHAINS: dict[str, Chain] = {
    "local": ((), lambda: ["{type: local, config: {environment: {LAYER_VAR: local}}}"]),
    "ssh": (("ssh_lab",), lambda ssh_lab: [ssh_lab.layer("orch-loop")]),
    "docker": (("dockerd",), lambda dockerd: [dockerd.layer()]),
    "podman": (("podman",), lambda podman: [podman.layer()]),
    "sudo": (("sudo_lab",), lambda sudo_lab: [sudo_lab.layer(sudo_lab.free)]),
    # compositions the fixtures make cheap
    "ssh→ssh": (("ssh_lab",), lambda ssh_lab: [ssh_lab.layer("orch-bastion"),
                                               ssh_lab.layer("orch-inner")]),
    "ssh→docker": (("ssh_lab", "dockerd"),
                   lambda ssh_lab, dockerd: [ssh_lab.layer("orch-loop"), dockerd.layer()]),
    "ssh→podman": (("ssh_lab", "podman"),
                   lambda ssh_lab, podman: [ssh_lab.layer("orch-loop"), podman.layer()]),
    # an unprivileged user becomes another one, with a password, through sudo (NOPASSWD above)
    "sudo→sudo": (("sudo_lab",), lambda sudo_lab: [
        sudo_lab.layer(sudo_lab.login), sudo_lab.layer(sudo_lab.target, password=True)]),
    "ssh→ssh→sudo": (("ssh_lab", "sudo_lab"), _sudo_behind_ssh),
    # the docs' example of a wrapping kind, alone and behind a hop
    "nice": ((), lambda: ["{type: nice, config: {level: 5}}"]),
    "ssh→nice": (("ssh_lab",), lambda ssh_lab: [ssh_lab.layer("orch-loop"),
                                                "{type: nice, config: {level: 5}}"]),
}
COMPOSED = [name for name in CHAINS if "→" in name]
#: Kinds written in the docs, registered for the suite only: the module is the docs' block.
#: The kinds docs/architecture.md writes out, tested from the docs' own code; one an installed
#: plugin publishes under that name is that plugin's instead (kinds12: a broken `nice`
#: plugin passed every case, the docs' code standing in for it).
DOCS_KINDS = {name: marker for name, marker in {"nice": "KIND = NiceKind()"}.items()
              if name not in kind_names()}
_tokens = itertools.count()


def _docs_kind(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Register the kind docs/architecture.md writes as `name`, from the docs' own code."""
    text = (Path(__file__).parent.parent / "docs" / "architecture.md").read_text()
    code = next(block for block in re.findall(r"```python\n(.*?)```", text, re.S)
                if DOCS_KINDS[name] in block)
    module = types.ModuleType(f"docs_{name}_kind")
    monkeypatch.setitem(sys.modules, module.__name__, module)  # dataclasses look it up
    exec(compile(code, "docs/architecture.md", "exec"), module.__dict__)
    monkeypatch.setitem(registry.OWN, name, f"{module.__name__}:KIND")
    registry.get_kind.cache_clear()
_tokens = itertools.count()


@pytest.fixture(params=[*kind_names(), *DOCS_KINDS, *COMPOSED])
async def executor(request: pytest.FixtureRequest, base: LocalLauncher,
                   monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LayeredExecutor]:
    """An executor whose innermost layer is the kind (or chain) under test (a sudo password
    is the `{{secret:sudo_pw}}` of the layers, resolved as plans resolve it)."""
    name = request.param
    if name not in CHAINS:
        pytest.fail(f"layer kind {name!r} has no conformance chain: add it to CHAINS in "
                    f"{Path(__file__).name}")
    needs, build = CHAINS[name]
    for kind in DOCS_KINDS:
        if kind in name:
            _docs_kind(monkeypatch, kind)
    layers = build(*(request.getfixturevalue(f) for f in needs))
    if "sudo_lab" in needs:
        monkeypatch.setenv("ORCH_SECRET_SUDO_PW", request.getfixturevalue("sudo_lab").password)
    text = "environments:\n  it:\n    layers:" + ("".join(f"\n      - {x}" for x in layers) or " []") + "\n"
    environment = load_config_text(text).environments["it"]
    yield LayeredExecutor(base, resolve_layers(environment, Resolver()))
    registry.get_kind.cache_clear()  # a docs kind is gone with its module


def token() -> str:
    """A unique `sleep` duration: finds this test's processes in /proc (every hop and
    container of the fixtures runs on this machine's kernel)."""
    return f"{900 + next(_tokens)}.{os.getpid()}"


async def run(ex: LayeredExecutor, command: Command, stdin: bytes = b"") -> tuple[bytes, bytes, Exit]:
    handle = await ex.launch(command)
    if stdin:
        handle.stdin.write(stdin)
    handle.stdin.close()
    return await asyncio.wait_for(collect(handle), 60)


async def test_stdin_until_eof(executor: LayeredExecutor) -> None:
    payload = bytes(range(256)) * 4000 + b"no newline at the end"
    out, err, end = await run(executor, Command(("cat",)), payload)
    assert (out == payload, err, end) == (True, b"", Exit(code=0))
    out, _, end = await run(executor, Command(("wc", "-l")))  # no input: EOF at once
    assert (out.strip(), end) == (b"0", Exit(code=0))


@pytest.mark.parametrize("sent", [b"abc\n", b"abc"], ids=["line", "partial-line"])
async def test_a_terminals_input_ends_with_its_eof(executor: LayeredExecutor, sent: bytes) -> None:
    """Under `tty: true` EOF is the terminal's ^D: docker and podman never sent it; sudo (and
    ssh with variables) sent it while the terminal was still raw for the preamble, where it
    is a plain byte; after a partial line a ^D only sends the line. Each run hung."""
    command = Command(("wc", "-c"), tty=True, env={"ORCH_TTY": "1"})
    out, _, end = await run(executor, command, sent)
    counted = re.search(rb"(\d+)\s*\Z", out)  # after the terminal's echo of the input
    assert (counted and counted[1], end) == (str(len(sent)).encode(), Exit(code=0)), out


async def test_output_order_within_and_across_streams(executor: LayeredExecutor) -> None:
    handle = await executor.launch(Command.shell(
        "echo one; echo two >&2; sleep 0.3; echo three; sleep 0.3; echo four >&2"))
    handle.stdin.close()
    seen = []
    async for event in handle.events():
        if isinstance(event, (Stdout, Stderr)):
            seen += [(type(event).__name__, line) for line in event.data.splitlines()]
        else:
            assert event == Exit(code=0)
    lines = [line for _, line in seen]
    assert sorted(lines) == sorted([b"one", b"two", b"three", b"four"])
    # one and two may race across the two pipes; the pauses order everything else
    assert lines.index(b"three") > max(lines.index(b"one"), lines.index(b"two"))
    assert lines.index(b"four") > lines.index(b"three")
    assert [line for kind, line in seen if kind == "Stdout"] == [b"one", b"three"]
    assert [line for kind, line in seen if kind == "Stderr"] == [b"two", b"four"]


@pytest.mark.parametrize("code", [0, 1, 3, 126, 200, 255])
async def test_exit_code(executor: LayeredExecutor, code: int) -> None:
    _, _, end = await run(executor, Command.shell(f"echo x; exit {code}"))
    assert end == Exit(code=code) and end.returncode == code


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGUSR1,
                                 signal.SIGBUS, signal.SIGXCPU, signal.SIGSYS,
                                 signal.SIGRTMIN + 6], ids=str)
async def test_death_by_signal(executor: LayeredExecutor, sig: int) -> None:
    """Before: a signal above 15 (XCPU from `ulimit -t`, SYS from seccomp) was exit status
    128+N through every layer but the local one; BUS was 255 through ssh."""
    _, _, end = await run(executor, Command.shell(f"echo dying; ulimit -c 0; kill -{int(sig)} $$"))
    assert end == Exit(signal=int(sig)) and end.returncode == -int(sig)


@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGHUP, signal.SIGALRM,
                                 signal.SIGRTMIN + 6], ids=str)
async def test_a_signal_sent_reaches_the_command_and_the_run_ends_as_it_does(
        executor: LayeredExecutor, sig: int) -> None:
    """`send_signal("USR1")` (dd's progress, nginx reopening its logs) killed the far wrapper
    where a signal goes as `kill -SIG -PGID` (root logins, containers, sudo): the run ended by
    the signal or with 255 while the command, which handles it, ran on unwatched; a SIGRTMIN+n
    raised a bare ValueError in the ssh layer (review6). The command gets it; the run ends as
    the command does."""
    handle = await executor.launch(Command.shell(
        f"trap 'echo got; exit 5' {int(sig)}; echo ready; while :; do sleep 0.1; done"))
    handle.stdin.close()
    events = handle.events()
    assert await read_line(events) == b"ready\n"
    await handle.send_signal(sig)
    rest = [event async for event in events]
    assert Stdout(b"got\n") in rest and rest[-1] == Exit(code=5), rest


async def test_a_status_no_signal_could_give_stays_a_status(executor: LayeredExecutor) -> None:
    """128+22 (SIGTTOU stops, it never ends a process): the command's own `exit 150`, as the
    local layer says, not a death by signal 22."""
    _, _, end = await run(executor, Command.shell("exit 150"))
    assert end == Exit(code=150)


async def test_interrupt_leaves_no_process(executor: LayeredExecutor) -> None:
    a, b = token(), token()
    handle = await executor.launch(Command.shell(f"sleep {a} & sleep {b}; echo never"))
    for _ in range(100):
        if processes_with(a) and processes_with(b):
            break
        await asyncio.sleep(0.05)
    end = await asyncio.wait_for(handle.stop((1.0, 1.0)), 30)
    assert end.signal is not None, end
    assert await gone(a) == [] and await gone(b) == []


@pytest.mark.parametrize("env", [{}, {"IFS": ","}], ids=["plain", "IFS"])
async def test_an_interrupt_stops_a_child_that_ignores_term_too(executor: LayeredExecutor,
                                                                env: dict[str, str]) -> None:
    """browser13: behind ssh, a background child ignoring INT and TERM outlived a stopped
    run (the wrapper sent what was left of its group TERM only); the local ladder ends with
    KILL, and so does every kind now (review21: an IFS in the command's variables turned the
    wrapper's sweeps of its group off)."""
    a, b = token(), token()
    handle = await executor.launch(Command.shell(f"(trap '' INT TERM HUP; sleep {a}) & "
                                                 f"sleep {b}; echo never", env=env))
    for _ in range(100):
        if processes_with(a) and processes_with(b):
            break
        await asyncio.sleep(0.05)
    assert processes_with(a) and processes_with(b)
    t0 = time.monotonic()  # a ladder longer than the test: what ends the child is the layer's
    end = await asyncio.wait_for(handle.stop((10.0, 10.0)), 30)
    assert end.signal == signal.SIGINT and time.monotonic() - t0 < 5, end  # reported as it was
    assert await gone(a) == [] and await gone(b) == []


async def test_env_and_cwd(executor: LayeredExecutor) -> None:
    value = "two words, 'quotes' \"dq\" $HOME `id` \\ ; | & *"
    command = Command(("sh", "-c", 'printf "%s|%s\\n" "$ORCH_A" "$ORCH_B"; pwd'),
                      env={"ORCH_A": value, "ORCH_B": ""}, cwd="/tmp")
    out, err, end = await run(executor, command)
    assert (out.decode(), err, end) == (f"{value}|\n/tmp\n", b"", Exit(code=0))


async def test_a_variable_named_as_the_wrappers_own_reaches_the_command_or_is_refused(
        executor: LayeredExecutor) -> None:
    """chains7: `_orch_tty` (and `_orch_p`, `_orch_n`, `_orch_whole`) set by a run were taken
    for the remote wrapper's state: dropped, and `_orch_tty` put the wrapper's ready mark
    into a non-terminal run's stdout."""
    from orch_magics.errors import LayerError

    command = Command(("sh", "-c", 'echo "[${_orch_tty-unset}]"'), env={"_orch_tty": "T"})
    try:
        out, err, end = await run(executor, command)
    except LayerError as exc:
        assert "names starting with _orch_ are the remote wrapper's own" in str(exc)
        return
    assert (out, end) == (b"[T]\n", Exit(code=0))


@pytest.mark.parametrize("name, value", [("_orch_stop", "T"), ("_orch_r", "T"), ("IFS", ":")])
async def test_under_a_tty_too_such_a_variable_reaches_the_command_or_is_refused(
        executor: LayeredExecutor, name: str, value: str) -> None:
    """chains17: a container's exec under a TTY takes the variables in its environment, and
    they were not checked: `_orch_stop` arrived empty, `_orch_r` as the run's nonce, `IFS=:`
    as the shell's default."""
    from orch_magics.errors import LayerError

    command = Command(("printenv", name), env={name: value}, tty=True)  # a shell resets IFS
    try:
        out, _, end = await run(executor, command)
    except LayerError as exc:
        assert "cannot pass variable" in str(exc), exc
        return
    assert (out.replace(b"\r", b""), end) == (f"{value}\n".encode(), Exit(code=0))


async def test_argv_with_shell_metacharacters_is_unchanged(executor: LayeredExecutor) -> None:
    args = ["a b", "$HOME", "`id`", "$(id)", "'\"", ";|&<>", "*", "", "line\nbreak", "-n", "\\"]
    out, _, end = await run(executor, Command(("printf", "[%s]\\n", *args)))
    assert out.decode() == "".join(f"[{a}]\n" for a in args) and end == Exit(code=0)


@pytest.mark.parametrize("program", ["no-such-program-xyz", "eval", "cd", ""])
async def test_missing_program_exits_127(executor: LayeredExecutor, program: str) -> None:
    """Said in the same words by every kind (remote ones showed the wrapper's shell and line:
    `sh: 14: exec: no-such-program-xyz: not found`; chains12: so did a shell builtin's name,
    which the wrapper's check took for a program; chains20: an empty name, from an empty
    variable, was "permission denied" behind every remote kind)."""
    out, err, end = await run(executor, Command((program, "arg")))
    assert (out, end) == (b"", Exit(code=127))
    assert err == f"orch: {program}: command not found\n".encode()
    out, err, end = await run(executor, Command(("true",)))  # a builtin that is a program too
    assert (out, err, end) == (b"", b"", Exit(code=0))


@pytest.mark.parametrize(("program", "said", "status"), [
    ("/nonexistent/prog", "command not found", 127), ("/etc/passwd", "permission denied", 126),
    ("/tmp", "permission denied", 126)])
async def test_a_program_path_that_cannot_start(executor: LayeredExecutor, program: str,
                                                said: str, status: int) -> None:
    """A path, too (remote kinds showed their shell's `sh: exec: line 17: /tmp: Permission
    denied`; held-out tester, podman finding 10)."""
    out, err, end = await run(executor, Command((program,)))
    assert (out, err, end) == (b"", f"orch: {program}: {said}\n".encode(), Exit(code=status))


async def test_a_script_without_a_shebang_line_is_run_by_sh(executor: LayeredExecutor) -> None:
    """An executable file with no `#!` line (the kernel's ENOEXEC) runs under /bin/sh, as
    execvp, shells and the remote wrapper run it: the local layer said "not executable", 126,
    where ssh ran it (held-out tester cli3)."""
    path = f"/tmp/orch-noshebang-{token()}.sh"
    _, _, made = await run(executor, Command.shell(
        f"printf 'echo ran \"$@\"\\n' > {path} && chmod 755 {path}"))
    assert made == Exit(code=0)
    try:
        out, err, end = await run(executor, Command((path, "a b", "c")))
        assert (out, err, end) == (b"ran a b c\n", b"", Exit(code=0))
    finally:
        await run(executor, Command(("rm", "-f", path)))


async def test_background_grandchild_ends_with_the_main_process(executor: LayeredExecutor) -> None:
    t = token()
    out, err, end = await run(executor, Command.shell(f"sleep {t} & echo hi"))
    assert (out, err, end) == (b"hi\n", b"", Exit(code=0))
    assert await gone(t) == []
    # a grandchild that does not hold the output is stopped too: no orphan anywhere
    t = token()
    out, _, end = await run(executor, Command.shell(f"sleep {t} >/dev/null 2>&1 & echo bye"))
    assert (out, end) == (b"bye\n", Exit(code=0))
    assert await gone(t) == []


async def test_a_background_timeout_ends_with_the_main_process(executor: LayeredExecutor) -> None:
    """chains26: GNU `timeout` puts its command in a process group of its own, in the run's
    session; a stop reached it, a run that ended on its own left it for the whole timeout.
    (busybox's `timeout`, in the test images, makes no group: there it is the case above.)"""
    t = token()
    out, err, end = await run(executor, Command.shell(f"timeout 300 sleep {t} & sleep 0.3; "
                                                      f"echo hi"))
    assert (out, err, end) == (b"hi\n", b"", Exit(code=0))
    assert await gone(t) == []


@pytest.mark.parametrize("env", [{}, {"A": "1"}], ids=["bare", "env"])
@pytest.mark.parametrize("tty", [False, True], ids=["pipes", "tty"])
async def test_a_launch_given_up_before_its_command_starts_runs_nothing(
        executor: LayeredExecutor, tty: bool, env: dict[str, str]) -> None:
    """chains19: a `--timeout` that passed while the chain was still being reached (the ssh
    channel opening, sudo's handshake) let the command start after its deadline, a `touch`
    acting before it was stopped. A launch given up stops short of its command (`go_ahead`)."""
    t = token()
    mark = f"/tmp/orch-given-up-{t}"
    phase = LaunchPhase()
    phase.given_up = True
    given_up = LAUNCH_PHASE.set(phase)
    try:
        with pytest.raises(LayerError, match="given up before the command started"):
            await asyncio.wait_for(executor.launch(Command.shell(
                f"touch {mark}; sleep {t}", env=env, tty=tty)), 60)  # review28: a bare tty
    finally:
        LAUNCH_PHASE.reset(given_up)
    await asyncio.sleep(0.5)  # a command that started anyway has touched its mark by now
    assert await gone(t) == []
    out, _, end = await run(executor, Command.shell(f"test -e {mark} && echo RAN; rm -f {mark}"))
    assert (out, end) == (b"", Exit(code=0))


async def test_what_launches_share_is_made_outside_the_launch_that_starts_it() -> None:
    """review28: a pooled engine connection made during a launch later given up inherited
    its state: podman's rootless socket look-up, run through the hop, was refused for every
    run sharing that connection. A shared task runs in no launch's phase."""
    from orch_magics.layers.base import LaunchContext, go_ahead

    phase = LaunchPhase()
    phase.given_up = True
    given_up = LAUNCH_PHASE.set(phase)
    try:
        async def look_up() -> str:
            go_ahead()  # what a launch through the hop calls before its command
            return "found"
        assert await LaunchContext().shared(look_up()) == "found"
    finally:
        LAUNCH_PHASE.reset(given_up)


# ---- the remote toolkit every remote kind shares (orch_magics/layers/remote.py) -------------


@pytest.mark.parametrize("path", ["/usr/bin:/bin:", ":/usr/bin:/bin", "/usr/bin::/bin", ""])
def test_the_wrapper_finds_a_program_in_an_empty_path_element(tmp_path: Path, path: str) -> None:
    """An empty PATH element is the working directory for execvp and the local layer; the
    wrapper's own search dropped a last one (review21)."""
    from orch_magics.layers.remote import preamble, wrapped_argv

    (tmp_path / "here-prog").write_text("#!/bin/sh\necho ran\n")
    (tmp_path / "here-prog").chmod(0o755)
    for shell in ("dash", "bash"):
        sent = preamble(Command(("here-prog",), env={"PATH": path}))
        done = subprocess.run(wrapped_argv(["here-prog"], len(sent), shell=shell), input=sent,
                              capture_output=True, cwd=tmp_path, timeout=30)
        assert (done.returncode, done.stdout) == (0, b"ran\n"), (shell, done.stderr)


def test_the_end_sweep_finds_a_group_of_its_own_on_a_host_without_pkill(tmp_path: Path) -> None:
    """Where the far host has no `pkill` (busybox images), the wrapper's end sweep reads /proc
    itself: a `timeout 300 sleep` in the background (a group of its own) ends with the run."""
    from orch_magics.layers.remote import wrapped_argv

    for tool in ("sh", "timeout", "sleep", "dd", "stty", "cat"):
        (tmp_path / tool).symlink_to(shutil.which(tool) or tool)
    t = token()
    try:
        done = subprocess.run(
            wrapped_argv(["sh", "-c", f"timeout 300 sleep {t} & sleep 0.3; echo hi"],
                         shell=shutil.which("dash") or "dash"),
            env={"PATH": str(tmp_path)}, capture_output=True, timeout=30,
            start_new_session=True, stdin=subprocess.DEVNULL)
        assert (done.returncode, done.stdout) == (0, b"hi\n"), done.stderr
        assert asyncio.run(gone(t)) == []
    finally:
        for pid in processes_with(t):
            os.kill(pid, signal.SIGKILL)


def test_a_command_that_outlives_the_first_stop_ends_with_the_next_under_bash() -> None:
    """chains16: with bash as the far host's sh (RHEL, Fedora, Arch), its `wait` for the
    parent watch kept returning 143 once a second trapped signal had come: the wrapper spun
    for ever after its command died of the ladder's TERM. Under sudo the watch runs, as
    behind sshd."""
    from orch_magics.layers.remote import wrapped_argv

    t = token()
    argv = ["sudo", "-n", "--", *wrapped_argv(["sh", "-c", f"trap '' INT; echo up; exec sleep {t}"],
                                              shell="bash")]
    proc = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
        os.killpg(proc.pid, signal.SIGINT)  # as the ladder: INT, which the command ignores,
        time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGTERM)  # then TERM, which ends it
        assert proc.wait(20) == -signal.SIGTERM
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert asyncio.run(gone(t)) == []


@pytest.mark.parametrize("sig", [signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGSYS],
                         ids=lambda s: s.name)
def test_a_fault_signal_sent_to_a_run_reaches_the_command_alone(sig: signal.Signals) -> None:
    """chains16: the wrapper did not catch SEGV, BUS, ILL, FPE, TRAP, SYS: sent to the run
    (`send_signal`), one killed the wrapper too, with a core dump of its own over the
    program's, and a command that handles it was cut short (ssh said BUS as exit 255)."""
    from orch_magics.layers.remote import wrapped_argv

    handles = (f"import signal, sys, time\nsignal.signal({int(sig)}, lambda *a: sys.exit(0))\n"
               f"print('up', flush=True)\ntime.sleep(60)")
    for shell in ("dash", "bash"):
        proc = subprocess.Popen(wrapped_argv([sys.executable, "-c", handles], shell=shell),
                                start_new_session=True, stdout=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
            os.killpg(proc.pid, sig)  # as a kill of the run's group: the wrapper is its leader
            assert proc.wait(20) == 0, shell
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def test_a_stop_the_wrapper_inherits_is_none_of_its_own() -> None:
    """review23: the wrapper keeps the stop it got in `_orch_stop`; a far end whose environment
    held that name (an image's ENV, a profile) ended every run unstarted, as if interrupted."""
    from orch_magics.layers.remote import prefixed, wrapped_argv

    for shell in ("dash", "bash", "/tmp/orch-bb/sh"):
        if shell.startswith("/"):
            Path(shell).parent.mkdir(exist_ok=True)
            Path(shell).unlink(missing_ok=True)
            Path(shell).symlink_to(shutil.which("busybox") or "/bin/busybox")
        env = {**os.environ, "_orch_stop": "2", "_orch_w": str(os.getpid())}  # chains16
        done = subprocess.run(wrapped_argv(["echo", "ran"], shell=shell), env=env,
                              capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        assert (done.returncode, done.stdout) == (0, b"ran\n"), (shell, done.stderr)
        missing = prefixed(Command(("no-such-program-x",)), "nice").argv
        done = subprocess.run(missing, env=env, capture_output=True, timeout=30)
        assert (done.returncode, done.stderr) == (
            127, b"orch: no-such-program-x: command not found\n"), (shell, done.stderr)


@pytest.mark.parametrize("ifs", ["0123456789", ","])
def test_an_ifs_among_the_variables_splits_none_of_the_wrappers_own_words(ifs: str) -> None:
    """chains14: the wrapper exported the command's variables into its own shell, and an IFS
    split its unquoted words: `kill -TERM -$$` signalled nothing (a background child stayed),
    or, with a digit of its pid, another group (`-1`: every process). The command still gets
    the IFS in its environment."""
    from orch_magics.layers.remote import preamble, wrapped_argv

    def run(command: Command, shell: str) -> bytes:
        sent = preamble(command)
        done = subprocess.run(wrapped_argv(list(command.argv), len(sent), shell=shell),
                              input=sent, capture_output=True, timeout=30,
                              start_new_session=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    for shell in ("dash", "bash"):
        t = token()
        run(Command(("sh", "-c", f"sleep {t} & true"), env={"IFS": ifs}), shell)
        assert asyncio.run(gone(t)) == [], shell  # its group got the wrapper's TERM
        said = run(Command(("env",), env={"IFS": ifs}), shell)
        assert f"IFS={ifs}".encode() in said.splitlines()


def test_a_program_on_path_that_cannot_be_run_is_denied_as_execvp_says(tmp_path: Path) -> None:
    """chains13: a file on PATH without execute permission (and none that has it) is 126
    `permission denied` for execvp and the local layer; the wrapper said `command not found`."""
    from orch_magics.layers.remote import preamble, wrapped_argv

    (tmp_path / "no-x-prog").write_text("#!/bin/sh\necho ran\n")
    (tmp_path / "a-dir-prog").mkdir()  # chains14: a folder of that name, as execvp says too
    for name in ("no-x-prog", "a-dir-prog"):
        sent = preamble(Command((name,), env={"PATH": f"{tmp_path}:/usr/bin:/bin"}))
        for shell in ("dash", "bash"):
            done = subprocess.run(wrapped_argv([name], len(sent), shell=shell), input=sent,
                                  capture_output=True, timeout=30)
            assert done.returncode == 126, (shell, done.stderr)
            assert done.stderr.endswith(f"orch: {name}: permission denied\n".encode())


@pytest.mark.parametrize("before", [b"", b"login banner\n", b"\x1eorch", b"x" * 300])
def test_pid_marker_survives_any_split(before: bytes) -> None:
    from orch_magics.layers.remote import PID_MARK, PidMarker

    stream = before + PID_MARK + b"4711\n" + b"first output\n" + PID_MARK + b"9\n"
    for cut in range(len(stream) + 1):
        for step in (1, 3, len(stream)):
            marker, out = PidMarker(), b""
            chunks = [stream[:cut]] + [stream[i:i + step] for i in range(cut, len(stream), step)]
            for chunk in chunks:
                out += chunk if marker.done else marker.feed(chunk)
            out += marker.flush()
            # the first marker is taken out, anything after it (even a look-alike) is output
            assert (marker.pid, out) == (4711, before + b"first output\n" + PID_MARK + b"9\n")


def test_pid_marker_absent_passes_everything_through() -> None:
    from orch_magics.layers.remote import PidMarker

    marker = PidMarker()
    out = marker.feed(b"sh: no such file\n") + marker.feed(b"\x1eorch-p") + marker.flush()
    assert (marker.pid, out) == (None, b"sh: no such file\n\x1eorch-p")


def test_status_decoding_and_kill_line() -> None:
    from orch_magics.layers.remote import decode_status, kill_group_line

    assert [decode_status(c) for c in (0, 1, 128, 129, 137, 143, 152, 192, 193, 255)] == [
        Exit(code=0), Exit(code=1), Exit(code=128), Exit(signal=1), Exit(signal=9),
        Exit(signal=15), Exit(signal=24), Exit(signal=64), Exit(code=193), Exit(code=255)]
    # No death by CHLD, CONT, a stop signal, URG, WINCH or glibc's 32, 33: `exit N`.
    assert [decode_status(c) for c in (145, 146, 147, 148, 149, 150, 151, 156, 160, 161)] == [
        Exit(code=c) for c in (145, 146, 147, 148, 149, 150, 151, 156, 160, 161)]
    line = kill_group_line(42, 9)
    assert line.startswith("kill -9 -42 2>/dev/null || kill -9 42 2>/dev/null; ")
    assert '[ "$4" = "42" ] && [ "$3" != "42" ] && kill -9 ' in line  # the session's others


def test_a_wrapping_kind_s_hop_is_in_the_run_s_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    """kinds17: a kind that hands back its inner layer's handle (the docs' `nice`) was left
    out of RunResult.chain and `--json`, where the audit log and `orch check` named it."""
    from orch_magics import Orchestrator

    if "nice" in DOCS_KINDS:
        _docs_kind(monkeypatch, "nice")
    try:
        with Orchestrator(load_config_text(
                "environments:\n  it: {layers: [{type: nice, config: {level: 5}}]}\n"
                "audit: {enabled: false}\n")) as orch:
            result = orch.run("it", command="echo hi")
    finally:
        registry.get_kind.cache_clear()
    assert (result.stdout, result.chain) == ("hi\n", "local → nice 5")
