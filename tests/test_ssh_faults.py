"""Faults over real sshd hops: each gives its own error naming the hop; stops leave no process."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal

import pytest

from orch_magics.config.loader import load_config_text
from orch_magics.engine import RunOptions
from orch_magics.errors import (
    AuthError,
    ConfigError,
    ConnectError,
    HostKeyError,
    StreamError,
)
from orch_magics.orchestrator import Orchestrator
from orch_magics.process.events import Stderr, Stdout
from processes import gone, kill_all, left_after, processes_with
from unanswered import run_while_unanswered

pytestmark = pytest.mark.ssh


def _orch(lab, **envs: list[str]) -> Orchestrator:  # type: ignore[no-untyped-def]
    return Orchestrator(load_config_text(lab.config_yaml(extra_envs=envs)))


async def test_unreachable_host(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    orch = _orch(ssh_lab, direct=[ssh_lab.layer("orch-inner")],
                 refused=[ssh_lab.layer("orch-loop", port=1)],
                 beyond=[ssh_lab.layer("orch-bastion"), ssh_lab.layer("orch-inner", port=2222)])
    try:
        with pytest.raises(ConnectError) as info:
            await orch.arun("direct", command="true")
        assert info.value.hop == 1 and "No route to host" in str(info.value)
        assert "hop 1 (ssh orch-inner)" in str(info.value)
        with pytest.raises(ConnectError, match="Connection refused"):
            await orch.arun("refused", command="true")
        with pytest.raises(ConnectError) as info:
            await orch.arun("beyond", command="true")
        assert info.value.hop == 2 and "ssh orch-bastion could not open" in str(info.value)
        # the run that never started, as `--json` and a fleet's row give it (api tester)
        never = info.value.result
        assert never is not None and never.returncode is None and not never.ok
        assert json.loads(never.json())["error"] == str(info.value)
    finally:
        await orch.aclose()


async def test_auth_failure(ssh_lab, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    wrong = str(ssh_lab.root / "other_key")
    orch = _orch(ssh_lab, badkey=[ssh_lab.layer("orch-loop", identity_file=wrong)],
                 badkey2=[ssh_lab.layer("orch-bastion"),
                          ssh_lab.layer("orch-inner", identity_file=wrong)])
    try:
        with pytest.raises(AuthError) as info:
            await orch.arun("badkey", command="true")
        assert info.value.hop == 1 and "authentication failed for orch-loop" in str(info.value)
        with pytest.raises(AuthError) as info:
            await orch.arun("badkey2", command="true")
        assert info.value.hop == 2
    finally:
        await orch.aclose()


async def test_host_key_unknown_changed_and_opt_out(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    empty = str(ssh_lab.root / "known_hosts_empty")
    wrong = str(ssh_lab.root / "known_hosts_wrong")
    port = ssh_lab.loop.port
    orch = _orch(ssh_lab, unknown=[ssh_lab.layer("orch-loop", known_hosts=empty)],
                 changed=[ssh_lab.layer("orch-loop", known_hosts=wrong)],
                 inner_unknown=[ssh_lab.layer("orch-bastion"),
                                ssh_lab.layer("orch-inner", known_hosts=empty)],
                 optout=[ssh_lab.layer("orch-loop", known_hosts=empty,
                                       insecure_accept_host_key=True)])
    fingerprint = os.popen(f"ssh-keygen -lf {ssh_lab.root / 'host_key.pub'}").read().split()[1]
    try:
        with pytest.raises(HostKeyError) as info:
            await orch.arun("unknown", command="true")
        msg = str(info.value)
        assert f"[127.0.0.1]:{port}" in msg and fingerprint in msg and "unknown" in msg
        assert "ssh-keyscan" in msg and "insecure_accept_host_key" in msg
        with pytest.raises(HostKeyError) as info:
            await orch.arun("changed", command="true")
        msg = str(info.value)
        assert "CHANGED" in msg and fingerprint in msg and "ssh-keygen" in msg
        with pytest.raises(HostKeyError) as info:
            await orch.arun("inner_unknown", command="true")
        assert info.value.hop == 2 and ssh_lab.inner_addr in str(info.value)
        assert (await orch.arun("optout", command="echo ok")).stdout == "ok\n"
    finally:
        await orch.aclose()


def test_password_must_be_a_secret_placeholder(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="secret"):
        _orch(ssh_lab, pw=[ssh_lab.layer("orch-loop", password="hunter2")])


async def test_connection_dropped_mid_stream_keeps_output(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    token = f"977.{os.getpid()}1"
    orch = _orch(ssh_lab)
    seen = asyncio.Event()

    class FirstOutput:
        def feed(self, event: object) -> None:
            if isinstance(event, Stdout):
                seen.set()

        def close(self) -> None:
            pass

    try:
        run = asyncio.ensure_future(orch.arun(
            "loop", command=f"echo before; exec sleep {token}", sinks=[FirstOutput()]))
        await asyncio.wait_for(seen.wait(), 10)
        assert ssh_lab.loop.kill_sessions()
        result = await asyncio.wait_for(run, 15)
        assert result.stdout == "before\n", (result.exit, result.stderr)
        assert isinstance(result.exit.error, StreamError)
        assert result.exit.error.hop == 1 and "connection lost" in str(result.exit.error)
        # The far end was cleaned up by reconnecting, and the error says so.
        assert "reconnected and killed process group" in str(result.exit.error)
        assert await gone(token, zombies=False) == []
        # The next run on the same orchestrator reconnects transparently.
        assert (await orch.arun("loop", command="echo again")).stdout == "again\n"
    finally:
        kill_all(processes_with(token))  # only if the cleanup above failed
        await orch.aclose()


async def test_interrupt_at_depth_two_leaves_no_remote_process(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    token = f"978.{os.getpid()}2"
    orch = _orch(ssh_lab)
    # Children ignore INT and TERM (inherited SIG_IGN): only the ladder's KILL stops them.
    line = (f"trap '' INT TERM; sleep {token} & sleep {token} & echo started; "
            f"sleep {token}; wait")
    try:
        run = orch.begin(orch.plan("two", command=line), RunOptions(grace=(0.5, 0.5)))
        await asyncio.wait_for(run.started.wait(), 10)
        assert run.handle is not None
        for _ in range(200):
            if len(processes_with(token, ssh_lab.inner_ns)) >= 3:
                break
            await asyncio.sleep(0.05)
        assert len(processes_with(token, ssh_lab.inner_ns)) >= 3
        assert not processes_with(token, ssh_lab.bastion_ns)  # nothing runs on the bastion
        run.stop()
        result = await asyncio.wait_for(run.wait(), 20)
        assert result.interrupted and result.exit.signal == signal.SIGKILL
        assert "started" in result.stdout
        assert run.handle.signals_sent == [signal.SIGINT, signal.SIGTERM, signal.SIGKILL]
        for _ in range(40):
            if not processes_with(token, ssh_lab.inner_ns):
                break
            await asyncio.sleep(0.05)
        assert processes_with(token, ssh_lab.inner_ns) == []
    finally:
        kill_all(processes_with(token))
        await orch.aclose()


async def test_stop_plain_command_at_depth_two(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    """An ordinary program stops at the first step (INT) and nothing is left."""
    token = f"979.{os.getpid()}3"
    orch = _orch(ssh_lab)
    try:
        handle = await orch.launch("two", command=f"echo up; sleep {token}; echo never")
        events = handle.events().__aiter__()
        assert await asyncio.wait_for(events.__anext__(), 10) == Stdout(b"up\n")
        exit_event = await asyncio.wait_for(handle.stop((2.0, 2.0)), 10)
        assert exit_event.signal == signal.SIGINT
        assert await asyncio.to_thread(left_after,
                                       lambda: processes_with(token, ssh_lab.inner_ns)) == []
    finally:
        kill_all(processes_with(token))
        await orch.aclose()


async def test_unknown_host_name_says_it_does_not_resolve(ssh_lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "ssh_config"
    (tmp_path / "extra.conf").write_text("Host orch-included\n  HostName 127.0.0.1\n")
    config.write_text(f"Include {tmp_path}/extra*.conf\n" + ssh_lab.ssh_config.read_text()
                      + "Host orch-broken\n  HostName no-such-name.invalid\n")
    orch = _orch(ssh_lab,
                 nohost=[ssh_lab.layer("no-such-host-orch.invalid")],
                 broken=[ssh_lab.layer("orch-broken", ssh_config=str(config))],
                 deeper=[ssh_lab.layer("orch-loop"), ssh_lab.layer("also-missing.invalid")],
                 typo=[ssh_lab.layer("orch-lop")],  # s9-docker #1: a misspelt Host alias
                 included=[ssh_lab.layer("orch-incuded", ssh_config=str(config))],
                 typo2=[ssh_lab.layer("orch-loop"), ssh_lab.layer("orch-lopo")])
    try:
        with pytest.raises(ConnectError) as info:
            await orch.arun("nohost", command="true")
        text = str(info.value)
        assert text.startswith("hop 1 (ssh no-such-host-orch.invalid): ")
        assert "does not resolve" in text and "no `Host` entry" in text
        assert str(ssh_lab.ssh_config) in text and "Unknown error" not in text
        with pytest.raises(ConnectError) as info:
            await orch.arun("broken", command="true")
        text = str(info.value)
        assert "does not resolve" in text and "`Host orch-broken`" in text
        with pytest.raises(ConnectError) as info:  # resolved by the previous hop
            await orch.arun("deeper", command="true")
        assert info.value.hop == 2 and "Unknown error" not in str(info.value)
        with pytest.raises(ConnectError) as info:
            await orch.arun("typo", command="true")
        assert str(info.value).startswith(
            f"hop 1 (ssh orch-lop): the host name 'orch-lop' does not resolve (did you mean "
            f"'orch-loop', a `Host` of {ssh_lab.ssh_config}?)"), info.value
        with pytest.raises(ConnectError) as info:  # an alias from an Included file
            await orch.arun("included", command="true")
        assert "(did you mean 'orch-included', a `Host` of" in str(info.value), info.value
        with pytest.raises(ConnectError) as info:  # behind a hop: its resolver's raw words
            await orch.arun("typo2", command="true")
        assert str(info.value).startswith(
            f"hop 2 (ssh orch-lopo): the host name 'orch-lopo' does not resolve on ssh "
            f"orch-loop (did you mean 'orch-loop', a `Host` of {ssh_lab.ssh_config}?)"), \
            info.value
    finally:
        await orch.aclose()


async def test_dropped_connection_that_cannot_be_restored_says_what_is_left() -> None:
    """The host cannot be reached again: the error names the process group and the host."""
    from fixtures.sshd import SSHLab

    token = f"981.{os.getpid()}"
    with SSHLab(with_netns=False) as lab:
        orch = _orch(lab)
        try:
            handle = await orch.launch("loop", command=f"echo up; sleep {token}")
            events = handle.events()
            assert await asyncio.wait_for(events.__anext__(), 10) == Stdout(b"up\n")
            sessions = lab.loop.session_pids()
            lab.loop.proc.kill()  # the listener first: no reconnect is possible
            lab.loop.proc.wait()
            assert sessions
            kill_all(sessions)
            end = [e async for e in events][-1]
            text = str(end.error)  # type: ignore[union-attr]
            assert isinstance(end.error, StreamError), end  # type: ignore[union-attr]
            assert "connection lost" in text and "may still be running as process group" in text
            assert "on orch-loop" in text and "reconnecting failed" in text
            assert processes_with(token), "the test expects the orphan it describes"
        finally:
            kill_all(processes_with(token))
            await orch.aclose()


async def test_a_connection_lost_for_good_leaves_no_group_of_the_session() -> None:
    """With no reconnect, the wrapper's parent watch is what cleans up: its KILL reached only
    the wrapper's own group, so a GNU `timeout` (a group of its own in the session) whose
    command ignores TERM was left running for ever (review22 F11), where a stop kills it."""
    from fixtures.sshd import SSHLab

    token = f"982.{os.getpid()}"
    with SSHLab(with_netns=False) as lab:
        orch = _orch(lab)
        try:
            handle = await orch.launch(
                "loop", command=f"timeout 300 sh -c \"trap '' TERM; echo up; sleep {token}\"")
            events = handle.events()
            assert await asyncio.wait_for(events.__anext__(), 10) == Stdout(b"up\n")
            sessions = lab.loop.session_pids()
            lab.loop.proc.kill()  # the listener first: no reconnect is possible
            lab.loop.proc.wait()
            kill_all(sessions)
            [e async for e in events]
            # the watch looks once a second, then TERM, 2 s, KILL
            assert await asyncio.to_thread(
                left_after, lambda: processes_with(token, zombies=False), 15) == []
        finally:
            kill_all(processes_with(token))
            await orch.aclose()


def test_a_host_that_does_not_answer_again_is_one_line_with_the_reason(tmp_path) -> None:
    """Reconnecting timed out: the error said "(reconnecting failed: )" (an asyncio timeout's
    empty text, chains finding 3); it names what timed out, within the 5 s documented."""
    from fixtures.sshd import SSHLab

    with SSHLab(with_netns=False) as lab:
        config = tmp_path / "orch.yaml"
        config.write_text(lab.config_yaml())
        status, err, took = run_while_unanswered(lab.loop, config, "loop", f"978.{os.getpid()}")
    assert status == 255 and err.count("\n") == 1, err
    assert err.startswith("orch: loop/") and "may still be running as process group" in err
    assert err.endswith(" on orch-loop (reconnecting failed: timed out connecting to orch-loop "
                        "after 5 s)\n"), err
    assert took < 30, took  # no hang: not the engine client's 60 s, nor attempts in a row


@pytest.mark.parametrize("carrier", ["bastion", "inner"])
async def test_dropped_hop_under_two_hops_kills_the_command(ssh_lab, carrier: str) -> None:  # type: ignore[no-untyped-def]
    """Whichever hop's connection dies (the bastion's carries the inner one), the command on
    the inner host is killed after reconnecting through the chain, and the error says so,
    naming the hop that lost it (a bastion's drop was blamed on the inner hop)."""
    token = f"982.{os.getpid()}{len(carrier)}"
    orch = _orch(ssh_lab)
    try:
        handle = await orch.launch("two", command=f"echo up; sleep {token}")
        events = handle.events()
        assert await asyncio.wait_for(events.__anext__(), 10) == Stdout(b"up\n")
        assert processes_with(token, ssh_lab.inner_ns)
        assert ssh_lab.servers[carrier].kill_sessions()
        end = [e async for e in events][-1]
        text = str(end.error)  # type: ignore[union-attr]
        assert isinstance(end.error, StreamError), end  # type: ignore[union-attr]
        lost_by = {"bastion": "hop 1 (ssh orch-bastion)", "inner": "hop 2 (ssh orch-inner)"}
        assert text.startswith(f"{lost_by[carrier]}: connection lost"), text
        assert "reconnected and killed process group" in text and "on orch-inner" in text
        assert await gone(token, zombies=False) == []
    finally:
        kill_all(processes_with(token))
        await orch.aclose()


async def test_a_dropped_connection_leaves_no_error_unretrieved(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    """Both output streams fail when the connection drops; the second one's error was left in
    its task, and Python printed "Task exception was never retrieved" with a traceback under
    the one-line message (`orch cp`, `orch run`)."""
    token = f"979.{os.getpid()}3"
    orch = _orch(ssh_lab)
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    loop.set_exception_handler(lambda _, context: reported.append(context["message"]))
    both = asyncio.Event()
    kinds: set[type] = set()

    class BothStreams:
        def feed(self, event: object) -> None:
            kinds.add(type(event))
            if {Stdout, Stderr} <= kinds:
                both.set()

        def close(self) -> None:
            pass

    try:
        run = asyncio.ensure_future(orch.arun(
            "loop", command=f"exec sh -c 'while :; do echo out; echo err >&2; done; : {token}'",
            sinks=[BothStreams()]))
        await asyncio.wait_for(both.wait(), 10)
        assert ssh_lab.loop.kill_sessions()
        result = await asyncio.wait_for(run, 15)
        assert isinstance(result.exit.error, StreamError)
        del run, result
        for _ in range(3):
            gc.collect()
            await asyncio.sleep(0.1)
        assert reported == []
    finally:
        loop.set_exception_handler(None)
        kill_all(processes_with(token))
        await orch.aclose()


@pytest.mark.parametrize("mistake", ["not-utf8", "bad-port", "no-value", "included", "range",
                                     "include-loop"])
def test_a_mistake_in_the_ssh_config_is_a_config_error_naming_it(ssh_lab, tmp_path, mistake: str) -> None:  # type: ignore[no-untyped-def]
    """Before: "cannot reach HOST: 'utf-8' codec can't decode byte 0xff …" (no file named), or
    "cannot reach HOST: FILE line 3: Invalid Port …" (a ConnectError, as if the network failed)."""
    config = tmp_path / "ssh_config"
    included = tmp_path / "more.conf"
    lines = {"not-utf8": b"Host x\n  HostName 127.0.0.1\n  User r\xff\xfeot\n",
             "bad-port": b"Host x\n  HostName 127.0.0.1\n  Port abc\n",
             "no-value": b"Host x\n  HostName 127.0.0.1\n  IdentityFile\n",
             "included": f"Include {included}\nHost x\n  HostName 127.0.0.1\n".encode(),
             "range": b"Host x\n  HostName 127.0.0.1\n  Port 99999999\n",
             # a file that includes the one including it (config7: RecursionError)
             "include-loop": f"Include {included}\nHost x\n  HostName 127.0.0.1\n".encode()}
    config.write_bytes(lines[mistake])
    included.write_text(f"Include {config}\n" if mistake == "include-loop"
                        else "# more\nHost *\n  Port abc\n")
    bad = {"included": f"{included}:3", "range": f"{config}", "include-loop": f"{config}"}.get(
        mistake, f"{config}:3")
    orch = _orch(ssh_lab, bad=[ssh_lab.layer("x", ssh_config=str(config))],
                 deeper=[ssh_lab.layer("orch-loop"), ssh_lab.layer("x", ssh_config=str(config))])
    try:
        for env, hop in (("bad", 1), ("deeper", 2)):
            with pytest.raises(ConfigError) as info:
                orch.run(env, command="true")
            text = str(info.value)
            assert text.startswith(f"{bad}: "), text
            assert f"ssh_config of hop {hop} (ssh x)" in text and "cannot reach" not in text
    finally:
        orch.close()


async def test_a_server_that_does_not_speak_ssh_is_named_so(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    """An HTTP server on the port. Before: "127.0.0.1:PORT disconnected: Connection lost"."""
    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"HTTP/1.0 400 Bad request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    orch = _orch(ssh_lab, web=[ssh_lab.layer("orch-loop", port=port)])
    try:
        with pytest.raises(ConnectError) as info:
            await orch.arun("web", command="true")
        assert str(info.value).startswith(f"hop 1 (ssh orch-loop): orch-loop:{port} did not "
                                          f"answer as an SSH server"), str(info.value)
    finally:
        await orch.aclose()
        server.close()


@pytest.mark.parametrize("server", ["greets-then-waits", "writes-then-resets"])
async def test_a_server_of_another_protocol_is_named_so_however_it_ends(  # type: ignore[no-untyped-def]
        ssh_lab, server: str) -> None:
    """An SMTP/MySQL-like port that speaks first and waits was "timed out connecting to …";
    one that writes an error and closes unread input (a reset) was "Connection reset by peer"."""
    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mail.example ESMTP ready\r\n")
        await writer.drain()
        if server == "writes-then-resets":  # the client's version line comes to a closed
            writer.close()                      # socket: a reset
            return
        await asyncio.sleep(30)

    server_ = await asyncio.start_server(greet, "127.0.0.1", 0)
    port = server_.sockets[0].getsockname()[1]
    orch = _orch(ssh_lab, other=[ssh_lab.layer("orch-loop", port=port, connect_timeout=1)])
    try:
        with pytest.raises(ConnectError) as info:
            await orch.arun("other", command="true")
        text = str(info.value)
        assert text.startswith(f"hop 1 (ssh orch-loop): orch-loop:{port} did not answer as an "
                               f"SSH server: it sent "), text
        if server == "greets-then-waits":
            assert text.endswith("it sent 1 line of another protocol and no SSH version line "
                                 "in 1 s"), text
    finally:
        await orch.aclose()
        server_.close()
