"""Pooled connections: reuse across runs, more than MaxSessions at once, dead ones replaced,
ssh_config ProxyJump and ProxyCommand, and unix-socket forwarding (what the Docker layer
uses)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Awaitable
from pathlib import Path

import pytest

from links import inner_link_down
from orch_magics.config.loader import load_config_text
from orch_magics.errors import ConnectError, LayerError
from orch_magics.executor import LayeredExecutor
from orch_magics.layers.base import LaunchContext
from orch_magics.layers.local import LocalLauncher
from orch_magics.layers.ssh_launcher import SSHLauncher
from orch_magics.layers.ssh_pool import Pool
from orch_magics.process.command import Command
from orch_magics.process.handle import ProcessHandle

pytestmark = pytest.mark.ssh


def chain(lab, env: str, context: LaunchContext, **extra: list[str]) -> SSHLauncher:  # type: ignore[no-untyped-def]
    config = load_config_text(lab.config_yaml(extra_envs=extra))
    launcher = LayeredExecutor(LocalLauncher(context), config.environment(env).layers).build()
    assert isinstance(launcher, SSHLauncher)
    return launcher


def pools(context: LaunchContext) -> list[Pool]:
    return [p for p in context.pools.values() if isinstance(p, Pool)]


async def run(launcher: SSHLauncher, line: str) -> bytes:
    handle = await launcher.launch(Command.shell(line))
    handle.stdin.close()
    out = b""
    async for event in handle.events():
        data = getattr(event, "data", None)
        if data is not None and type(event).__name__ == "Stdout":
            out += data
        elif data is None:
            assert event.code == 0, event  # type: ignore[union-attr]
    return out


async def test_connection_reused_across_runs(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    context = LaunchContext()
    try:
        first = chain(ssh_lab, "two", context)
        assert await run(first, "echo 1") == b"1\n"
        conns = [s.conn for p in pools(context) for s in p.slots]
        assert len(conns) == 2  # bastion + inner
        inner_sessions = len(ssh_lab.inner.session_pids())
        second = chain(ssh_lab, "two", context)  # a new build of the chain, as every cell does
        assert await run(second, "echo 2") == b"2\n"
        assert [s.conn for p in pools(context) for s in p.slots] == conns
        assert len(ssh_lab.inner.session_pids()) == inner_sessions
    finally:
        await context.aclose()
    assert all(c.is_closed() for c in conns)


async def test_more_runs_than_max_sessions(ssh_lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    context = LaunchContext()
    go = tmp_path / "go"  # the inner host shares this disk
    try:
        launcher = chain(ssh_lab, "two", context)
        most = 0

        async def watch() -> None:  # the sessions wait until three connections were seen
            nonlocal most
            deadline = time.monotonic() + 30
            while most < 3 and time.monotonic() < deadline:
                pool = context.pools.get(launcher.key)
                most = max(most, len(pool.slots) if pool else 0)
                await asyncio.sleep(0.02)
            go.touch()

        watcher = asyncio.ensure_future(watch())
        wait = f"while [ ! -e {go} ]; do sleep 0.02; done"
        outs = await asyncio.gather(*(run(launcher, f"{wait}; echo {i}") for i in range(25)))
        await watcher
        assert outs == [f"{i}\n".encode() for i in range(25)]
        assert most == 3  # 25 sessions at 9 per connection (sshd MaxSessions is 10)
        inner = context.pools[launcher.key]
        assert len(inner.slots) == 1  # the extra connections closed when idle
        bastion = [p for p in pools(context) if p is not inner][0]
        assert len(bastion.slots) == 1  # tunnels are not sessions: one bastion connection
    finally:
        await context.aclose()


async def test_dead_pooled_connection_replaced(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    context = LaunchContext()
    try:
        loop_hop = chain(ssh_lab, "loop", context)
        assert await run(loop_hop, "echo a") == b"a\n"
        before = [s.conn for p in pools(context) for s in p.slots]
        ssh_lab.loop.kill_sessions()
        await asyncio.sleep(0.2)
        assert await run(loop_hop, "echo b") == b"b\n"
        after = [s.conn for p in pools(context) for s in p.slots]
        assert before[0] not in after and before[0].is_closed()

        two = chain(ssh_lab, "two", context)
        assert await run(two, "echo c") == b"c\n"
        ssh_lab.bastion.kill_sessions()  # the tunnel under the inner connection dies too
        await asyncio.sleep(0.2)
        assert await run(two, "echo d") == b"d\n"
    finally:
        await context.aclose()


async def test_ssh_config_proxyjump_alias(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    context = LaunchContext()
    try:
        jump = chain(ssh_lab, "jump", context, jump=[ssh_lab.layer("orch-inner-jump")])
        assert await run(jump, "hostname -I") == f"{ssh_lab.inner_addr} \n".encode()
    finally:
        await context.aclose()


async def test_a_proxyjump_that_cannot_reach_its_host_is_named(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    """The connection is opened by the ProxyJump host, not by the place before the hop: the
    error said "local could not open a connection to orch-inner-jump"."""
    context = LaunchContext()
    try:
        jump = chain(ssh_lab, "jump", context, jump=[ssh_lab.layer("orch-inner-jump")])
        with inner_link_down(ssh_lab), pytest.raises(ConnectError) as err:
            await asyncio.wait_for(run(jump, "true"), 60)
        assert str(err.value).startswith(
            "hop 1 (ssh orch-inner-jump): its ProxyJump orch-bastion could not open a "
            "connection to orch-inner-jump: "), err.value
    finally:
        await context.aclose()


@pytest.mark.parametrize("jump, said", [
    ("orch-bastoin", "cannot reach target's ProxyJump orch-bastoin (from {config}): the host "
                     "name 'orch-bastoin' does not resolve (did you mean 'orch-bastion', a "
                     "`Host` of {config}?)"),
    ("root@127.0.0.1:1", "cannot reach target's ProxyJump root@127.0.0.1:1 (from {config}): "
                         "Connection refused"),
    # review26: an alias of the file whose HostName does not resolve was "did you mean" itself
    ("orch-nowhere", "cannot reach target's ProxyJump orch-nowhere (from {config}): the host "
                     "name 'orch-nowhere' does not resolve: {config} has `Host orch-nowhere` "
                     "for it, but the HostName it gives does not resolve either (or it gives "
                     "none: a keyword misspelt there is ignored, and the alias itself is looked "
                     "up)"),
])
async def test_a_proxyjump_this_machine_cannot_reach_is_named_not_the_target(  # type: ignore[no-untyped-def]
        ssh_lab, tmp_path, jump: str, said: str) -> None:
    """config14: a misspelt or refused ProxyJump was said of the target, whose name and port
    were fine ("the HostName it gives does not resolve either", "cannot reach target")."""
    from orch_magics import Orchestrator

    config = tmp_path / "ssh_config"
    config.write_text(f"Host *\n  ConnectTimeout 5\n"  # review27: said as the alias's Host
                      f"Host target\n  HostName 127.0.0.1\n  Port {ssh_lab.loop.port}\n"
                      f"  ProxyJump {jump}\nHost orch-nowhere\n  HostName nowhere.invalid\n"
                      + ssh_lab.ssh_config.read_text())
    orch = Orchestrator(load_config_text(
        f"environments:\n  t: [{{type: ssh, config: {{host: target, ssh_config: '{config}', "
        f"connect_timeout: 5}}}}]\naudit: {{enabled: false}}\n"))
    try:
        with pytest.raises(ConnectError) as err:
            await asyncio.wait_for(orch.arun("t", command="true"), 60)
        assert str(err.value) == "hop 1 (ssh target): " + said.format(config=config), err.value
    finally:
        await orch.aclose()


@pytest.mark.parametrize("jump, said", [
    ("nobody@orch-bastion", "its ProxyJump nobody@orch-bastion: authentication failed for "
                            "nobody@orch-bastion: "),
    ("orch-bastion-unknown", "its ProxyJump orch-bastion-unknown: host key for {bastion} is "
                             "unknown (not in {empty}); the server offered SHA256:"),
])
async def test_a_proxyjump_that_refuses_is_named_not_the_target(  # type: ignore[no-untyped-def]
        ssh_lab, tmp_path, jump: str, said: str) -> None:
    """review41: a ProxyJump host that refused the login, or whose host key was unknown, was
    said as the target's ("authentication failed for target … it may be that host's", "host
    key of target not accepted"): orch opens the jump itself, so it knows which one it was."""
    from orch_magics import Orchestrator

    empty = ssh_lab.root / "known_hosts_empty"
    config = tmp_path / "ssh_config"
    config.write_text(f"Host target\n  HostName {ssh_lab.inner_addr}\n  ProxyJump {jump}\n"
                      f"  User root\n  IdentityFile {ssh_lab.key}\n  IdentitiesOnly yes\n"
                      f"  UserKnownHostsFile {ssh_lab.known_hosts}\n"
                      f"Host orch-bastion-unknown\n  HostName {ssh_lab.bastion_addr}\n"
                      f"  User root\n  IdentityFile {ssh_lab.key}\n  IdentitiesOnly yes\n"
                      f"  UserKnownHostsFile {empty}\n" + ssh_lab.ssh_config.read_text())
    orch = Orchestrator(load_config_text(
        f"environments:\n  t: [{{type: ssh, config: {{host: target, ssh_config: '{config}', "
        f"connect_timeout: 10}}}}]\naudit: {{enabled: false}}\n"))
    try:
        with pytest.raises(LayerError) as err:
            await asyncio.wait_for(orch.arun("t", command="true"), 60)
        assert str(err.value).startswith("hop 1 (ssh target): " + said.format(
            bastion=ssh_lab.bastion_addr, empty=empty)), err.value
        assert "may be" not in str(err.value), err.value
        # review43: not the layer's options, which do not reach the jump host
        assert "insecure_accept_host_key" not in str(err.value), err.value
    finally:
        await orch.aclose()


def _through_bast(ssh_lab, tmp_path, bastion_known: Path, layer: str):  # type: ignore[no-untyped-def]
    """An Orchestrator whose environment `t` reaches the inner host through an ssh_config
    `ProxyJump bast`, the bastion's key looked up in `bastion_known`; `layer`: more options
    of the hop (YAML flow entries)."""
    from orch_magics import Orchestrator

    common = f"  User root\n  IdentityFile {ssh_lab.key}\n  IdentitiesOnly yes\n"
    config = tmp_path / "ssh_config"
    config.write_text(f"Host bast\n  HostName {ssh_lab.bastion_addr}\n"
                      f"  UserKnownHostsFile {bastion_known}\n{common}"
                      f"Host inner\n  HostName {ssh_lab.inner_addr}\n  ProxyJump bast\n"
                      f"  UserKnownHostsFile {ssh_lab.known_hosts}\n{common}")
    return Orchestrator(load_config_text(
        f"environments:\n  t: [{{type: ssh, config: {{host: inner, ssh_config: '{config}', "
        f"connect_timeout: 10, {layer}}}}}]\naudit: {{enabled: false}}\n"))


async def test_insecure_accept_host_key_is_the_hops_own_not_its_proxyjumps(  # type: ignore[no-untyped-def]
        ssh_lab, tmp_path) -> None:
    """safety24: `insecure_accept_host_key: true` on a hop also skipped the host key check
    of its ssh_config's ProxyJump host: a changed bastion key (a man in the middle) was
    taken. docs/ssh.md: "this hop only"."""
    from fixtures.sshd import known_host

    wrong = tmp_path / "known_hosts_wrong_bastion"
    wrong.write_text(known_host(ssh_lab.bastion_addr, 22, ssh_lab.root / "other_key.pub"))
    orch = _through_bast(ssh_lab, tmp_path, wrong, "insecure_accept_host_key: true")
    try:
        with pytest.raises(LayerError) as err:
            await asyncio.wait_for(orch.arun("t", command="echo reached"), 60)
        assert str(err.value).startswith(f"hop 1 (ssh inner): its ProxyJump bast: host key for "
                                         f"{ssh_lab.bastion_addr} CHANGED"), err.value
    finally:
        await orch.aclose()


async def test_the_layers_known_hosts_is_the_hops_own_not_its_proxyjumps(  # type: ignore[no-untyped-def]
        ssh_lab, tmp_path) -> None:
    """review43: the layer's `known_hosts` (the target's) was read for its ssh_config
    ProxyJump host's key too: a bastion whose key is in its own UserKnownHostsFile was
    refused, with the advice to add it to the target's file. OpenSSH's -o does not reach a
    jump host either."""
    from fixtures.sshd import known_host

    inner_only = tmp_path / "inner_only"
    inner_only.write_text(known_host(ssh_lab.inner_addr, 22, ssh_lab.root / "host_key.pub"))
    orch = _through_bast(ssh_lab, tmp_path, ssh_lab.known_hosts, f"known_hosts: '{inner_only}'")
    try:
        res = await asyncio.wait_for(orch.arun("t", command="echo reached"), 60)
        assert res.stdout == "reached\n", res
    finally:
        await orch.aclose()


async def test_a_proxyjump_a_hop_before_stands_in_for_is_not_named(ssh_lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """review26: behind another hop, asyncssh uses that hop's tunnel and never the ssh_config
    ProxyJump, yet the hop's failure was said as the ProxyJump's."""
    from orch_magics import Orchestrator

    config = tmp_path / "ssh_config"
    config.write_text("Host target\n  HostName 127.0.0.1\n  Port 1\n  ProxyJump nowhere.invalid\n"
                      + ssh_lab.ssh_config.read_text())
    orch = Orchestrator(load_config_text(ssh_lab.config_yaml(extra_envs={"t": [
        ssh_lab.layer("orch-loop"),
        f"{{type: ssh, config: {{host: target, ssh_config: '{config}', connect_timeout: 5}}}}"]})))
    try:
        with pytest.raises(ConnectError) as err:
            await asyncio.wait_for(orch.arun("t", command="true"), 60)
        assert str(err.value).startswith("hop 2 (ssh target): ssh orch-loop could not open a "
                                         "connection to "), err.value
        assert "ProxyJump" not in str(err.value), err.value
    finally:
        await orch.aclose()


LISTEN = ("import socket, sys, time\n"
          "s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(); print('up', flush=True)\n")


async def serving(hop: SSHLauncher, serve: str, path: str) -> ProcessHandle:
    """A Python server listening on unix socket `path` at `hop`, then running `serve` (which
    accepts from `s`), once it says `up`."""
    handle = await hop.launch(Command((sys.executable, "-c", LISTEN + serve, path)))
    events = handle.events().__aiter__()
    assert (await asyncio.wait_for(events.__anext__(), 10)).data == b"up\n"  # type: ignore[union-attr]
    return handle


async def test_forward_unix_through_two_hops(ssh_lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    context = LaunchContext()
    remote = str(tmp_path / "echo.sock")
    server = ("while True:\n"
              "    c, _ = s.accept(); data = c.recv(100); c.sendall(b'echo:' + data); c.close()\n")
    try:
        inner = chain(ssh_lab, "two", context)
        handle = await serving(inner, server, remote)
        local = await inner.forward_unix(remote)
        assert local != remote and os.path.exists(local)
        assert await inner.forward_unix(remote) == local  # one forward per path, reused
        for word in (b"one", b"two"):
            reader, writer = await asyncio.open_unix_connection(local)
            writer.write(word)
            assert await asyncio.wait_for(reader.read(100), 10) == b"echo:" + word
            writer.close()
        await handle.stop((0.5, 0.5))
    finally:
        await context.aclose()
    assert not os.path.exists(local)


class AbortOnEof(asyncio.Protocol):
    """Sends a lot at once, aborts at the peer's EOF (as the docker exec stream does), and
    notes when it lost the connection."""

    def __init__(self) -> None:
        self.eof = asyncio.get_running_loop().create_future()
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"x" * (64 << 20))  # more than the far end will ever read

    def eof_received(self) -> bool:
        self.eof.set_result(None)
        self.transport.abort()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


async def test_a_direct_unix_channel_aborted_at_eof_ends_at_once(ssh_lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A peer that ends its side and never reads again (an exec that died with input queued)
    must not hold the connection open: abort ends it here at once, whatever sshd still holds."""
    context = LaunchContext()
    remote = str(tmp_path / "mute.sock")
    server = "c, _ = s.accept(); c.sendall(b'bye'); c.shutdown(socket.SHUT_WR); time.sleep(600)\n"
    try:
        hop = chain(ssh_lab, "loop", context)
        handle = await serving(hop, server, remote)
        try:
            protocol = AbortOnEof()
            await hop.connect_unix(remote, protocol)
            await asyncio.wait_for(protocol.eof, 10)
            assert await asyncio.wait_for(protocol.lost, 5) is None
            assert await run(hop, "echo still usable") == b"still usable\n"  # the pool
        finally:
            await handle.stop((0.5, 0.5))
    finally:
        await context.aclose()


async def test_a_missing_unix_socket_is_an_oserror_naming_it(ssh_lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    context = LaunchContext()
    try:
        hop = chain(ssh_lab, "loop", context)
        with pytest.raises(OSError, match="no-such.sock"):
            await hop.connect_unix(str(tmp_path / "no-such.sock"), asyncio.Protocol())
    finally:
        await context.aclose()


FORKED = """
import multiprocessing, sys
from orch_magics import Orchestrator, load_config_text
orch = Orchestrator(load_config_text(sys.stdin.read()))
assert orch.run("loop", command="echo warm").ok  # a pooled connection and the loop thread
named = orch.start("loop", command="sleep 30", name="keeps")

def child(i):
    return orch.run("loop", command=f"echo child{i}").stdout.strip(), orch.runs.names()

with multiprocessing.get_context("fork").Pool(2) as pool:
    print(pool.map_async(child, [1, 2]).get(timeout=30))
print(orch.run("loop", command="echo parent").stdout.strip(), named.done, flush=True)
orch.close()
"""


def test_an_orchestrator_works_in_a_forked_child_and_leaves_the_parents_alone(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    """multiprocessing forks without the loop's thread: a child used to hang on its first run
    (waiting for a loop that no thread ran), sharing the parent's ssh sockets. A child now
    starts its own loop and connections, sees none of the parent's runs, and leaves them."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", FORKED], input=ssh_lab.config_yaml(),
                          capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[('child1', []), ('child2', [])]", "parent False"]


PROXY = """\
import os, socket, sys, threading
host, port, dump = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(dump, "w") as f:
    f.write("".join(f"{k}={v}\\n" for k, v in os.environ.items()))
s = socket.create_connection((host, port))
def said(what):
    with open(dump + ".end", "a") as f:
        f.write(what + "\\n")
def up():
    while data := os.read(0, 65536):
        s.sendall(data)
    said("stdin EOF")
    s.shutdown(socket.SHUT_WR)
threading.Thread(target=up, daemon=True).start()
while data := s.recv(65536):
    os.write(1, data)
said("server closed")
"""


async def test_ssh_config_proxycommand_gets_no_secret_variable(  # type: ignore[no-untyped-def]
        ssh_lab, tmp_path, monkeypatch) -> None:
    """Finding sudo #8: asyncssh started a ProxyCommand with this process's environment, so
    the proxy held ORCH_SECRET_SUDO_PW for the life of the pooled connection."""
    monkeypatch.setenv("ORCH_SECRET_SUDO_PW", "sudo-pw-Px41")
    dump = tmp_path / "proxy-env"
    environment = load_config_text(_proxied(ssh_lab, tmp_path, dump))
    context = LaunchContext()
    try:
        hop = LayeredExecutor(LocalLauncher(context), environment.environment("px").layers
                              ).build()
        assert isinstance(hop, SSHLauncher)
        assert await run(hop, "echo through the proxy") == b"through the proxy\n"
        env = dump.read_text()
        assert "ORCH_SECRET" not in env and "sudo-pw-Px41" not in env
        assert f"PATH={os.environ['PATH']}\n" in env  # the rest of the environment is kept
        proxy = str(tmp_path / "proxy.py")
        proxies = [p for p in os.listdir("/proc") if p.isdigit() and _runs(p, proxy)]
        assert proxies  # alive while the pooled connection is
    finally:
        await context.aclose()
    # ended with the connection, and reaped before aclose returned (finding chains #6: one
    # still running when the loop closed made asyncio warn on the CLI's stderr)
    assert not any(os.path.exists(f"/proc/{p}") for p in proxies)


def _proxied(ssh_lab, tmp_path, dump) -> str:  # type: ignore[no-untyped-def]
    """A config with environment `px`: an ssh hop to the loop host through a ProxyCommand
    (that writes its environment to `dump`)."""
    (tmp_path / "proxy.py").write_text(PROXY)
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host orch-px\n  HostName 127.0.0.1\n  Port {ssh_lab.loop.port}\n  User root\n"
        f"  IdentityFile {ssh_lab.key}\n  UserKnownHostsFile {ssh_lab.known_hosts}\n"
        f"  IdentitiesOnly yes\n"
        f"  ProxyCommand {sys.executable} {tmp_path / 'proxy.py'} %h %p {dump}\n")
    layer = ssh_lab.layer("orch-px", ssh_config=str(config))
    return f"environments:\n  px:\n    layers:\n      - {layer}\n"


def test_runs_through_a_proxycommand_say_nothing_of_their_own(  # type: ignore[no-untyped-def]
        ssh_lab, tmp_path) -> None:
    """Finding chains #6: about one run in ten ended with asyncio's child watcher's warning
    ("Loop … that handles pid N is closed", "Unknown child process pid N") on stderr. And
    on a busy machine (here: busy loops on every core), about one in twelve still did: closing
    the proxy's transport polled a proxy that had just exited, before the watcher could."""
    config = tmp_path / "orch.yaml"
    config.write_text(_proxied(ssh_lab, tmp_path, tmp_path / "proxy-env"))
    busy = [subprocess.Popen(["sh", "-c", "while :; do :; done"])
            for _ in range(2 * (os.cpu_count() or 1))]
    try:
        for _ in range(20):
            done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(config),
                                   "run", "px", "--", "echo", "hi"], capture_output=True,
                                  timeout=120)
            assert (done.returncode, done.stdout, done.stderr) == (0, b"hi\n", b"")
    finally:
        for loop in busy:
            loop.kill()
            loop.wait()


def _runs(pid: str, text: str) -> bool:
    try:
        return text in open(f"/proc/{pid}/cmdline").read().replace("\0", " ")
    except OSError:
        return False


def _connections_to(port: int) -> int:
    """Established TCP connections from this process to 127.0.0.1:port."""
    out = subprocess.run(["ss", "-tnpH", "state", "established"], capture_output=True,
                         text=True, check=True).stdout
    return sum(1 for line in out.splitlines()
               if f"127.0.0.1:{port} " in line and f"pid={os.getpid()}," in line)


def test_connections_of_ended_loops_are_closed(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    """api tester: each `asyncio.run(orch.arun(...))` left its pooled connection open for the
    process's life, and close() closed none of them. A new loop now ends those of loops that
    have ended, and close() those left."""
    from orch_magics import Orchestrator

    port = ssh_lab.loop.port
    before = _connections_to(port)
    orch = Orchestrator(load_config_text(ssh_lab.config_yaml()))
    try:
        for _ in range(3):
            assert asyncio.run(orch.arun("loop", command="echo hi")).stdout == "hi\n"
            assert _connections_to(port) - before <= 1  # this loop's; the ended ones' are shut
    finally:
        orch.close()
    assert _waited(lambda: max(0, _connections_to(port) - before)) == 0


async def test_close_in_a_running_loop_closes_its_connections_there(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    """A sync close() on the caller's running loop (a notebook cell after `await arun`)
    dropped that loop's connections from the table without closing them."""
    from orch_magics import Orchestrator

    port = ssh_lab.loop.port
    before = _connections_to(port)
    orch = Orchestrator(load_config_text(ssh_lab.config_yaml()))
    assert (await orch.arun("loop", command="echo hi")).stdout == "hi\n"
    assert _connections_to(port) - before == 1
    orch.close()
    for _ in range(100):  # closed on this loop once it is free
        await asyncio.sleep(0.05)
        if _connections_to(port) <= before:
            break
    assert _connections_to(port) <= before


def _waited(count, within: float = 5.0) -> int:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while (n := count()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return int(n)


def test_a_channels_window_is_its_share_when_many_runs_go_at_once() -> None:
    """fleets9: every channel took an 8 MiB window, so 250 chatty targets at once buffered
    1.26 GB in the controller; runs going at once (a fleet's --parallel) share 256 MiB."""
    import contextvars

    from orch_magics.layers.ssh_launcher import MIN_WINDOW, WINDOW, window
    from orch_magics.process.sharing import RUNS_AT_ONCE

    def at(runs: int) -> int:
        context = contextvars.copy_context()
        context.run(RUNS_AT_ONCE.set, runs)
        return context.run(window)

    assert window() == at(32) == WINDOW == 8 << 20
    assert at(250) == (256 << 20) // 250 and at(100_000) == MIN_WINDOW


@pytest.mark.parametrize(("program", "said"), [
    ("cloudflared-not-installed", "cloudflared-not-installed: not found"),
    ("{tmp}/proxy.py", "{tmp}/proxy.py: permission denied")])  # not executable
def test_a_proxycommand_that_cannot_start_is_said_with_its_program(  # type: ignore[no-untyped-def]
        ssh_lab, tmp_path, program: str, said: str) -> None:
    """config16 F5: a ProxyCommand whose program is not installed was said "cannot reach
    orch-px: No such file or directory", read as a missing key or config file."""
    config = tmp_path / "orch.yaml"
    config.write_text(_proxied(ssh_lab, tmp_path, tmp_path / "proxy-env"))
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(re.sub(r"ProxyCommand \S+ \S+", "ProxyCommand " + program.format(
        tmp=tmp_path), ssh_config.read_text()))
    done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(config), "run",
                           "px", "--", "echo", "hi"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (f"orch: hop 1 (ssh orch-px): its ProxyCommand (ssh_config "
                           f"{ssh_config}) could not start: {said.format(tmp=tmp_path)}\n")


def test_a_proxycommand_is_told_the_end_of_its_connection_not_killed(  # type: ignore[no-untyped-def]
        ssh_lab, tmp_path) -> None:
    """review46: asyncssh aborts its transport on every close, and the proxy was killed at
    once after each run: the DISCONNECT it was given never reached the server, and a cloud
    tunnel (`aws ssm`, IAP) could not end its session. As under OpenSSH, it is told EOF, and
    it ends once the server has closed."""
    config = tmp_path / "orch.yaml"
    config.write_text(_proxied(ssh_lab, tmp_path, tmp_path / "proxy-env"))
    done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(config), "run",
                           "px", "--", "echo", "hi"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "hi\n", "")
    ends = tmp_path / "proxy-env.end"  # (it may exit before its thread reads the EOF)
    deadline = time.monotonic() + 10
    while "server closed" not in (ends.read_text() if ends.exists() else ""):
        assert time.monotonic() < deadline, "the proxy was killed before it saw its end"
        time.sleep(0.05)


def test_a_stop_while_a_proxycommand_is_stuck_connecting_ends_at_once(  # type: ignore[no-untyped-def]
        ssh_lab, tmp_path) -> None:
    """chains30: a ProxyCommand stuck in its own connect (`ssh -W` to a jump host that never
    answers; here `sleep`, which reads no stdin either) was only told EOF when the connect was
    given up, and killed 2 s later: a Ctrl-C took 2 s, `--timeout 1` 3 s. asyncssh aborts
    the connection it was making: the proxy is killed then, with what it started (review45:
    a wrapper's child stuck connecting was left running)."""
    from orch_magics import Orchestrator
    from processes import left_after, processes_with

    token = f"600.{os.getpid()}"
    config = tmp_path / "orch.yaml"
    config.write_text(_proxied(ssh_lab, tmp_path, tmp_path / "proxy-env"))
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(re.sub(r"ProxyCommand .*", f"ProxyCommand sh -c 'sleep {token}; :'",
                                 ssh_config.read_text()))  # a wrapper, as `aws ssm …` is
    with Orchestrator(config=str(config)) as orch:
        live = orch.spawn("px", command="echo hi")
        while not processes_with(token):
            time.sleep(0.01)
        t0 = time.monotonic()
        live.stop()
        result, took = live.wait(30), time.monotonic() - t0
    assert result.interrupted and result.stdout == "", result
    assert took < 1.5, f"the stop took {took:.2f} s: the proxy was waited for"
    assert left_after(lambda: processes_with(token), 5) == []


async def test_a_retired_connection_that_carries_a_tunnel_closes_when_it_ends(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    """review40: a session open that timed out retires its connection, which then closed at
    once though it carried the next hop's tunnel (no session: not counted), and every run
    riding on that hop ended with it. It is set aside and closes once nothing rides on it."""
    import asyncssh

    from orch_magics.layers.ssh_pool import Slot

    def connect() -> Awaitable[asyncssh.SSHClientConnection]:
        return asyncssh.connect("127.0.0.1", ssh_lab.loop.port, username="root",
                                client_keys=[str(ssh_lab.key)],
                                known_hosts=str(ssh_lab.known_hosts))

    pool = Pool(lambda slot: None)
    slot = Slot(await connect(), None)
    pool.slots.append(slot)
    reader, writer = await slot.conn.open_connection("127.0.0.1", ssh_lab.loop.port)
    assert (await reader.readline()).startswith(b"SSH-2.0-")  # the next hop rides on it
    pool.retire(slot)
    await asyncio.sleep(0.5)
    assert not slot.conn.is_closed() and not reader.at_eof()
    assert pool.slots == []  # handed out no more
    writer.close()
    for _ in range(50):  # the tunnel ended: nothing rides on it, the next look closes it
        pool.prune()
        if slot.conn.is_closed():
            break
        await asyncio.sleep(0.1)
    assert slot.conn.is_closed()
    bare = Slot(await connect(), None)  # one nothing rides on closes at once
    pool.slots.append(bare)
    pool.retire(bare)
    await asyncio.sleep(0.2)
    assert bare.conn.is_closed()


def test_a_proxyjump_entry_is_read_as_openssh_reads_it() -> None:
    """safety23: `ProxyJump ssh://root@bastion` (the URI form OpenSSH takes) was read with
    the user `ssh://root` once orch opened jump hosts itself."""
    from orch_magics.layers.ssh_jump import jump_spec

    assert jump_spec("ssh://root@bastion:2222") == ("root", "bastion", 2222)
    assert jump_spec("ssh://bastion") == (None, "bastion", None)
    assert jump_spec("ops@[::1]:22") == ("ops", "::1", 22)
    assert jump_spec("bastion") == (None, "bastion", None)
