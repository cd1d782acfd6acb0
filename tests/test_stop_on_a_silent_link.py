"""A stop while a link of the chain is silent (the host crashed, a link or a VPN dropped: no
reset, packets vanish), from each front end.

Each signal of the stop ladder waited for its own delivery with no bound of the ladder's:
over a silent link a want-reply `signal` request (2 s) and then the fallback kill channel
(5 s) for each of INT, TERM and KILL, so a stop took 34 s from the API, 36 s after Ctrl-C in
the terminal and 56 s for an interrupted cell, and then blamed "a paused container, or a
process stuck in the kernel". Worse, the command was left running once the link came back,
for as long as the Orchestrator stayed open: its pooled connection kept the session (and so
the wrapper's watchdog) alive, and no signal was sent again.

Now a signal request with no reply is followed by a keepalive; a connection that answers
neither within 5 s is closed, so the run ends as a lost connection saying what may be left
and where, and the host ends the session (the watchdog then stops the command) as soon as it
hears of the close: no orphan once the link is back, whatever front end stopped the run.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from links import inner_link_down, outer_link_down
from orch_magics.config.loader import load_config_text
from orch_magics.errors import StreamError
from orch_magics.orchestrator import Orchestrator
from orch_magics.process.events import Exit, Stdout
from orch_magics.process.handle import ProcessHandle
from processes import kill_all, left_after, processes_with

pytestmark = pytest.mark.ssh

ORCH = [sys.executable, "-m", "orch_magics.cli"]
#: A stop over a silent link ends within the 5 s that make a connection silent, plus a
#: reconnect attempt (5 s) and margin for a loaded machine; it took 34–56 s.
STOP_WITHIN = 20
#: Once the link is back, the host hears of the close and the watchdog (1 s ticks, TERM then
#: KILL 2 s later) stops the command; TCP's retransmission backoff adds a few seconds.
GONE_WITHIN = 45
SILENT = "the connection stopped answering while the run was stopped (no reply within 5 s)"


async def stopped_while_silent(orch: Orchestrator, ssh_lab, env: str, token: str,  # type: ignore[no-untyped-def]
                               which: str, first_within: float) -> tuple[ProcessHandle, Exit, float]:
    """Run `sleep TOKEN` in `env`, and once it printed, stop it with the `which` link silent:
    its handle, how it ended and the seconds the stop took."""
    handle = await orch.launch(env, command=f"echo up; exec sleep {token}")
    events = handle.events()
    assert await asyncio.wait_for(events.__anext__(), first_within) == Stdout(b"up\n")
    with (inner_link_down if which == "inner" else outer_link_down)(ssh_lab):
        started = time.monotonic()
        end = await asyncio.wait_for(handle.stop((1.0, 1.0)), 60)
        return handle, end, time.monotonic() - started


@pytest.mark.parametrize("which", ["inner", "outer"])
async def test_a_stop_over_a_silent_link_returns_says_where_and_leaves_nothing(
        ssh_lab, which: str) -> None:  # type: ignore[no-untyped-def]
    token = f"71{len(which)}.{os.getpid()}"
    orch = Orchestrator(load_config_text(ssh_lab.config_yaml()))
    try:
        handle, end, took = await stopped_while_silent(orch, ssh_lab, "two", token, which, 15)
        assert took < STOP_WITHIN, took
        assert isinstance(end.error, StreamError), end
        said = str(end.error)
        hop = "hop 2 (ssh orch-inner)" if which == "inner" else "hop 1 (ssh orch-bastion)"
        assert said.startswith(f"{hop}: {SILENT}: closed, so the host ends the session once "
                               f"it hears of it; it may still be running as process group "
                               f"{handle.pid} on orch-inner (reconnecting failed: "), said
        assert "container" not in said, said
        # the orchestrator stays open (a notebook's): the command goes all the same
        assert await asyncio.to_thread(left_after, lambda: processes_with(token),
                                       GONE_WITHIN) == []
        again = await asyncio.wait_for(orch.arun("two", command="echo back"), 60)
        assert (again.stdout, again.returncode) == ("back\n", 0)
    finally:
        kill_all(processes_with(token))
        await orch.aclose()


def layered(ssh_lab, dockerd, sudo_lab) -> Orchestrator:  # type: ignore[no-untyped-def]
    """`deep`: a container behind ssh → ssh; `su`: sudo behind ssh → ssh (as a login user)."""
    sudo_lab.authorize(ssh_lab.root / "id_ed25519.pub")
    hops = [ssh_lab.layer("orch-bastion"), ssh_lab.layer("orch-inner", user=sudo_lab.login)]
    return Orchestrator(load_config_text(ssh_lab.config_yaml(extra_envs={
        "deep": [*hops[:1], ssh_lab.layer("orch-inner"), dockerd.layer()],
        "su": [*hops, sudo_lab.layer(sudo_lab.free)]})))


@pytest.mark.parametrize(("env", "which"), [("deep", "inner"), ("deep", "outer"),
                                            ("su", "inner")])
async def test_a_stop_through_a_container_or_sudo_behind_a_silent_link(
        ssh_lab, dockerd, sudo_lab, env: str, which: str) -> None:  # type: ignore[no-untyped-def]
    """A layer on top of the ssh hops (docker, sudo) sends its signals over them too, by
    other ways (the engine's API, a new sudo run): its stop ran the whole ladder (17-26 s,
    47 s for `orch run`) and blamed "a paused container"."""
    token = f"74{len(env + which)}.{os.getpid()}"
    orch = layered(ssh_lab, dockerd, sudo_lab)
    try:
        handle, end, took = await stopped_while_silent(orch, ssh_lab, env, token, which, 30)
        said = str(end.error)
        assert took < STOP_WITHIN and isinstance(end.error, StreamError), (took, said)
        hop = "hop 2 (ssh orch-inner)" if which == "inner" else "hop 1 (ssh orch-bastion)"
        if env == "deep":
            assert said.startswith(
                f"hop 3 (docker orch-test): {hop} stopped answering (no keepalive reply "
                f"within 3 s): its connection is closed; it may still be running as process "
                f"group {handle.pid} in container 'orch-test' on ssh orch-inner (reconnecting "
                f"failed: "), said
        else:  # the hop whose link went silent says it, as behind docker (files10)
            assert said.startswith(f"{hop}: {SILENT}: closed"), said
            assert "through a new sudo run" in said or "may still run there" in said, said
        assert "paused" not in said and "\n" not in said, said
        assert await asyncio.to_thread(left_after, lambda: processes_with(token),
                                       GONE_WITHIN) == []
        again = await asyncio.wait_for(orch.arun(env, command="echo back"), 60)
        assert (again.stdout, again.returncode) == ("back\n", 0)
    finally:
        kill_all(processes_with(token))
        await orch.aclose()


async def test_a_fleet_row_timed_out_on_a_silent_link_says_what_is_left(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    """One target of a fleet behind the bastion, its link silent, the other healthy: the
    table's cause said only "timed out after 13.1s (limit 8s)", as for a slow command."""
    token = f"75.{os.getpid()}"
    fleet = ("{type: ssh, config: {host: [orch-loop, orch-inner-jump], ssh_config: "
             f"\"{ssh_lab.ssh_config}\", known_hosts: \"{ssh_lab.known_hosts}\"}}}}")
    orch = Orchestrator(load_config_text(ssh_lab.config_yaml(extra_envs={"fl": [fleet]})))
    try:
        assert (await orch.arun("fl", command="echo warm")).ok
        run = asyncio.ensure_future(orch.arun(
            "fl", command=f"echo up; sleep 4; echo done; : {token}", timeout=8))
        await asyncio.sleep(1.0)
        with inner_link_down(ssh_lab):
            result = await asyncio.wait_for(run, 60)
        assert result["orch-loop"].stdout == "up\ndone\n" and result["orch-loop"].ok
        cause = result.causes["orch-inner-jump"]
        assert re.fullmatch(r"timed out after \d+\.\ds \(limit 8s\); hop 1 \(ssh "
                            r"orch-inner-jump\): the connection stopped answering while the "
                            r"run was stopped .*process group \d+ on orch-inner-jump .*",
                            cause), cause
        assert cause in result.table()
        assert await asyncio.to_thread(left_after, lambda: processes_with(token),
                                       GONE_WITHIN) == []
    finally:
        kill_all(processes_with(token))
        await orch.aclose()


def test_a_forward_s_clients_are_cut_when_its_hop_goes_silent(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    """A client of a forward through the bastion to the inner host's sshd waited ~120 s for
    anything (the connection's own keepalives), and `problem` stayed None."""
    orch = Orchestrator(load_config_text(ssh_lab.config_yaml()))
    try:
        fwd = orch.forward("two", 22, host=ssh_lab.inner_addr)
        with socket.create_connection(("127.0.0.1", fwd.port), timeout=10) as client:
            assert client.recv(100).startswith(b"SSH-2.0-")
            with inner_link_down(ssh_lab):
                started = time.monotonic()
                client.settimeout(60)
                client.sendall(b"SSH-2.0-probe\r\n")
                with pytest.raises(ConnectionResetError):  # cut: a reset, not a wait (nor an
                    client.recv(100)  # end, which read as a complete answer: files7)
                took = time.monotonic() - started
        assert took < 25, took  # 5 s between checks, 10 s for a keepalive reply
        assert fwd.problem is not None and fwd.problem.startswith(
            "its connections were cut: hop 2 (ssh orch-inner) stopped answering (no "
            "keepalive reply within 10 s): its connection is closed"), fwd.problem
        with socket.create_connection(("127.0.0.1", fwd.port), timeout=30) as client:
            assert client.recv(100).startswith(b"SSH-2.0-")  # the link back: carried again
        assert fwd.problem is None
    finally:
        orch.close()


def test_ctrl_c_of_orch_run_over_a_silent_link(ssh_lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    token = f"72.{os.getpid()}"
    config = tmp_path / "orch.yaml"
    config.write_text(ssh_lab.config_yaml())
    proc = subprocess.Popen([*ORCH, "-c", str(config), "run", "two", "--", "sh", "-c",
                             f"echo up; exec sleep {token}"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
        with inner_link_down(ssh_lab):
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
            took = time.monotonic() - started
        assert (proc.returncode, took < STOP_WITHIN) == (130, True), (proc.returncode, took, err)
        lines = err.decode().splitlines()
        assert len(lines) == 1 and SILENT in lines[0] and "process group" in lines[0], lines
        assert left_after(lambda: processes_with(token), GONE_WITHIN) == []
    finally:
        proc.kill()
        kill_all(processes_with(token))


def test_ctrl_c_of_orch_cp_over_a_silent_link_says_what_may_be_left(ssh_lab, tmp_path: Path  # type: ignore[no-untyped-def]
                                                                  ) -> None:
    """files10: the copy said only "interrupted; nothing was kept", where the run it made says
    (as `orch run` does) that its far end may still run, and where."""
    big = tmp_path / "sparse"  # the inner host shares this machine's files
    subprocess.run(["truncate", "-s", "20G", str(big)], check=True)
    config = tmp_path / "orch.yaml"
    config.write_text(ssh_lab.config_yaml())
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([*ORCH, "-c", str(config), "cp", f"two:{big}", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not any(out.iterdir()) and time.monotonic() < deadline:  # bytes are arriving
            time.sleep(0.1)
        with inner_link_down(ssh_lab):
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        said = err.decode()
        assert proc.returncode == 130, said
        assert said.startswith("orch: interrupted; nothing was kept; ") and SILENT in said, said
        assert list(out.iterdir()) == []
    finally:
        proc.kill()


def test_an_interrupted_cell_over_a_silent_link(ssh_lab, orch_kernel: str,  # type: ignore[no-untyped-def]
                                                tmp_path: Path) -> None:
    from lab_kernel import lab_kernel

    token = f"73.{os.getpid()}"
    config = tmp_path / "orch.yaml"
    config.write_text(ssh_lab.config_yaml())
    with lab_kernel(orch_kernel) as kernel:
        assert kernel.run("load", f"%orch load {config}")["status"] == "ok"
        sent = kernel.send("run", f"%%orch two\necho up; exec sleep {token}\n")
        deadline = time.monotonic() + 30
        while not processes_with(token, ssh_lab.inner_ns) and time.monotonic() < deadline:
            time.sleep(0.1)
        try:
            with inner_link_down(ssh_lab):
                started = time.monotonic()
                kernel.km.interrupt_kernel()
                reply = kernel.reply(sent, timeout=90)
                took = time.monotonic() - started
            assert (reply["status"], took < STOP_WITHIN) == ("error", True), (reply, took)
            assert reply["ename"] == "RunInterrupted" and SILENT in reply["evalue"], reply
            assert left_after(lambda: processes_with(token), GONE_WITHIN) == []
            assert kernel.run("again", "%%orch two\necho back\n")["status"] == "ok"
        finally:
            kill_all(processes_with(token))
