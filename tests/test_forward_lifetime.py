"""A forward's lifetime through the lab: closing it cuts the connections it carries (not only
the listening port), and the connection under it dropping neither kills the port silently nor
leaves it listed as if it worked: the next client reconnects, and a reconnect that fails is
told (`problem`, `%orch forwards`, the CLI's stderr) until one succeeds."""

from __future__ import annotations

import _thread
import contextlib
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.ports import free_port
from fixtures.sshd import known_host, launch_sshd, stop_servers
from orch_magics import ConfigError, Orchestrator
from orch_magics.config.loader import load_config_text

pytestmark = pytest.mark.ssh

#: A server that numbers its connections ("N\n" first), then sends to each without end, and
#: logs "ended N" once a connection is gone: what a forward still carries shows on both ends.
ENDLESS = r"""
import itertools, socket, sys, threading, time
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen()
log = open(sys.argv[2], "a", buffering=1)
def serve(conn, n):
    try:
        conn.sendall(b"%d\n" % n)
        while True:
            conn.sendall(b"x" * 65536)
            time.sleep(0.02)
    except OSError:
        log.write("ended %d\n" % n)
for n in itertools.count(1):
    threading.Thread(target=serve, args=(srv.accept()[0], n), daemon=True).start()
"""
#: Bytes that may still arrive after a cut (in socket buffers and channel windows); a
#: connection still carrying traffic passes this within seconds.
IN_FLIGHT = 32 << 20


@dataclass
class Endless:
    port: int
    log: Path

    def ended(self, number: int) -> bool:
        """Whether the server saw connection `number` end (waits up to 10 s for it)."""
        for _ in range(100):
            if f"ended {number}" in self.log.read_text().split("\n"):
                return True
            time.sleep(0.1)
        return False


def _start_endless(where: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    log.touch()
    proc = subprocess.Popen([*where, sys.executable, "-c", ENDLESS, str(port), str(log)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        probe = subprocess.run([*where, sys.executable, "-c", "import socket; socket."
                                f"create_connection(('127.0.0.1', {port}))"], check=False)
        if probe.returncode == 0:
            return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the endless server did not listen on {port}")


@pytest.fixture(scope="module")
def endless(ssh_lab, tmp_path_factory) -> Iterator[dict[str, Endless]]:  # type: ignore[no-untyped-def]
    """One endless server in the inner host's namespace (for `two`), one here (for `loop`,
    whose host is this machine, and for `here`, which has no ssh hop)."""
    root = tmp_path_factory.mktemp("endless")
    inner = Endless(8766, root / "inner.log")
    local = Endless(free_port(), root / "local.log")
    procs = [_start_endless(["ip", "netns", "exec", ssh_lab.inner_ns], inner.port, inner.log),
             _start_endless([], local.port, local.log)]
    yield {"two": inner, "loop": local, "here": local}
    for proc in procs:
        proc.kill()
        proc.wait(10)


@pytest.fixture
def orch(ssh_lab) -> Iterator[Orchestrator]:  # type: ignore[no-untyped-def]
    o = Orchestrator(load_config_text(ssh_lab.config_yaml(extra_envs={"here": []})))
    yield o
    o.close()


def stream(port: int) -> tuple[socket.socket, int]:
    """A connection through the forward on `port` that carries traffic: the server's number."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = b""
    while b"\n" not in head:
        chunk = sock.recv(1 << 16)
        assert chunk, f"the forward closed the connection at once (got {head!r})"
        head += chunk
    assert len(sock.recv(1 << 16)) > 0  # and it goes on
    return sock, int(head.split(b"\n")[0])


def cut(sock: socket.socket) -> bool:
    """Whether the connection ends (end of file or reset) before IN_FLIGHT more bytes come."""
    received = 0
    with sock:
        try:
            while chunk := sock.recv(1 << 16):
                received += len(chunk)
                if received > IN_FLIGHT:
                    return False
        except ConnectionResetError:
            pass
        except TimeoutError:  # neither carried nor ended
            return False
    return True


STOPS: dict[str, Callable[[Orchestrator, str], object]] = {
    "Forward.close": lambda orch, fid: [f for f in orch.forwards.list() if f.id == fid][0].close(),
    "forwards.stop": lambda orch, fid: orch.forwards.stop(fid),
}


@pytest.mark.parametrize("stop", list(STOPS))
@pytest.mark.parametrize("env", ["two", "here"])
def test_closing_a_forward_cuts_its_open_connections(orch, endless, env, stop) -> None:  # type: ignore[no-untyped-def]
    """Before, closing stopped only the listening port: an open connection went on carrying
    traffic until the SSH connection closed (for good, with the kernel)."""
    server = endless[env]
    fwd = orch.forward(env, server.port, host="127.0.0.1")
    sock, number = stream(fwd.port)
    STOPS[stop](orch, fwd.id)
    assert fwd.closed and orch.forwards.list() == []
    assert cut(sock), "the closed forward still carries the connection"
    assert server.ended(number), "the far end's connection is still open"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", fwd.port), timeout=10)


@pytest.mark.parametrize("env", ["two", "here"])
def test_a_connection_cut_by_a_close_is_reset_not_ended(orch, endless, env) -> None:  # type: ignore[no-untyped-def]
    """files7: a download cut by close() ended with a plain end of file, so a client read
    9.7 of 64 MB as a complete answer; a cut connection is now reset."""
    fwd = orch.forward(env, endless[env].port, host="127.0.0.1")
    sock, _number = stream(fwd.port)
    fwd.close()
    with sock, pytest.raises(ConnectionResetError):
        while sock.recv(1 << 16):
            pass


def test_the_magics_forward_stop_cuts_its_open_connections(ssh_lab, endless, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from shells import orch_shell

    with orch_shell(ssh_lab.config_yaml(), tmp_path) as sh:
        fwd = sh.run_line_magic("orch", f"forward two {endless['two'].port}")
        sock, number = stream(fwd.port)
        sh.run_line_magic("orch", f"forward stop {fwd.id}")
        assert cut(sock) and endless["two"].ended(number)


@pytest.mark.parametrize(("env", "dropped"), [("loop", "loop"), ("two", "bastion"),
                                              ("two", "inner")])
def test_a_forward_reconnects_after_its_connection_drops(orch, ssh_lab, endless, env, dropped) -> None:  # type: ignore[no-untyped-def]
    """Before, the listening port went with the connection: refused from then on, while the
    forward was still listed open and `orch forward` ran on saying nothing."""
    server = endless[env]
    fwd = orch.forward(env, server.port, host="127.0.0.1")
    notices: list[str] = []
    fwd.watch(notices.append)
    sock, _number = stream(fwd.port)
    assert ssh_lab.servers[dropped].kill_sessions()
    assert cut(sock)  # what the dropped connection carried ends, it does not hang
    again, number = stream(fwd.port)  # the port still listens; a fresh connection carries
    again.close()
    assert server.ended(number)
    assert notices == [f"forward {fwd.id}: the connection to {fwd.via} had dropped; reconnected"]
    assert orch.forwards.list() == [fwd] and not fwd.closed and fwd.problem is None


def cli_forward(ssh_lab, endless, tmp_path) -> tuple[subprocess.Popen[str], int]:  # type: ignore[no-untyped-def]
    """`orch forward loop PORT --local LOCAL` of the endless server, once it said it is open."""
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(ssh_lab.config_yaml())
    local = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "forward",
                             "loop", str(endless["loop"].port), "--local", str(local)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and "Ctrl-C stops it" in proc.stdout.readline()
    return proc, local


def test_the_cli_forward_reconnects_and_says_so(ssh_lab, endless, tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc, local = cli_forward(ssh_lab, endless, tmp_path)
    try:
        sock, _number = stream(local)
        assert ssh_lab.loop.kill_sessions()
        assert cut(sock)
        stream(local)[0].close()
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert err == "orch: forward f1: the connection to ssh orch-loop had dropped; reconnected\n"


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGHUP])
def test_a_supervisor_s_signal_ends_the_cli_forward_as_ctrl_c_does(ssh_lab, endless, tmp_path,  # type: ignore[no-untyped-def]
                                                                   how: int) -> None:
    """docs/files.md: once open, `orch forward` ends when told to and exits 0, whichever of
    INT, TERM and HUP told it; its port is free again."""
    proc, local = cli_forward(ssh_lab, endless, tmp_path)
    proc.send_signal(how)
    _out, err = proc.communicate(timeout=30)
    assert (proc.returncode, err) == (0, "")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", local))  # nothing listens there any more


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_sent_twice_still_ends_the_cli_forward_with_0(ssh_lab, endless, tmp_path,  # type: ignore[no-untyped-def]
                                                                    how: int) -> None:
    """`timeout` signals orch, then its process group; a double-tapped Ctrl-C sends two: the
    second one cut the close short, exit 130/143, "orch: interrupted" and an audit end saying
    the stop ran out of time (ports7)."""
    for pause in (0.001, 0.003, 0.01):
        proc, local = cli_forward(ssh_lab, endless, tmp_path)
        proc.send_signal(how)
        time.sleep(pause)
        proc.send_signal(how)
        _out, err = proc.communicate(timeout=30)
        assert (proc.returncode, err) == (0, ""), pause


@pytest.fixture
def own_sshd(ssh_lab, tmp_path) -> Iterator[tuple[str, Callable[[], object], Callable[[], None]]]:  # type: ignore[no-untyped-def]
    """An sshd of this test's own on loopback, as environment `own` (YAML), with ways to stop
    it (its connections drop, and no new one is taken) and to start it again."""
    port = free_port()
    known = tmp_path / "known_hosts"
    known.write_text(known_host("127.0.0.1", port, ssh_lab.root / "host_key.pub"))
    servers = []

    def start() -> object:
        server = launch_sshd(tmp_path, "own", "127.0.0.1", port, ssh_lab.sshd_config)
        servers.append(server)
        server.wait_listening(time.monotonic() + 10)
        return server

    start()
    layer = ssh_lab.layer("orch-loop", port=port, known_hosts=str(known))
    yield ssh_lab.config_yaml(extra_envs={"own": [layer]}), start, lambda: stop_servers(servers)
    stop_servers(servers)


def test_a_forward_that_cannot_reconnect_says_why_until_it_can(own_sshd, endless, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from shells import orch_shell

    config, start, stop = own_sshd
    server = endless["loop"]
    with orch_shell(config, tmp_path) as sh:
        fwd = sh.run_line_magic("orch", f"forward own {server.port} --host 127.0.0.1")
        notices: list[str] = []
        fwd.watch(notices.append)
        stream(fwd.port)[0].close()
        stop()
        refused = socket.create_connection(("127.0.0.1", fwd.port), timeout=10)
        assert cut(refused)  # the port listens, but this client could not be carried
        assert fwd.problem is not None and fwd.problem.startswith(
            "the last connection failed: hop 1 (ssh orch-loop): ")
        assert "refused" in fwd.problem.lower() and not fwd.closed
        assert notices == [f"forward {fwd.id}: {fwd.problem}; still listening, the next "
                           f"connection tries again"]
        capsys.readouterr()
        sh.run_line_magic("orch", "forwards")
        assert fwd.problem in capsys.readouterr().out
        start()
        stream(fwd.port)[0].close()
        assert fwd.problem is None and notices[1:] == [
            f"forward {fwd.id}: the connection to ssh orch-loop had dropped; reconnected"]
        sh.run_line_magic("orch", "forwards")
        assert "failed" not in capsys.readouterr().out


def test_ctrl_c_before_the_forward_opened_says_so(tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A server that accepts and never answers: Ctrl-C while `orch forward` still connected
    exited 0 with nothing said (a stopped `orch cp` says so and exits 130)."""
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen()
    port = mute.getsockname()[1]
    cfg = tmp_path / "orch.yaml"
    cfg.write_text("environments:\n  mute: {layers: [{type: ssh, config: {host: 127.0.0.1, "
                   f"port: {port}, connect_timeout: 30}}}}]}}\naudit: {{enabled: false}}\n")
    proc = subprocess.Popen([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "forward",
                             "mute", "80"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        mute.settimeout(30)
        try:
            conn, _ = mute.accept()  # orch is connecting now: its loop runs
        except TimeoutError:
            proc.kill()
            raise AssertionError(proc.communicate()) from None
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        conn.close()
    finally:
        mute.close()
        proc.kill()
    assert (proc.returncode, out, err) == (130, "", "orch: interrupted; the forward was not "
                                                    "opened\n")


def test_a_forward_target_is_checked_and_said_in_plain_words() -> None:  # type: ignore[no-untyped-def]
    """A forward with no ssh hop said asyncio's `Connect call failed ('127.0.0.1', N)` where
    the ssh one says `Connection refused`; `host=''` and `host=None` were not refused (one
    listed as `None:N`); an IPv6 target read `::1:N` and `[::1]` was refused (held-out
    tester)."""
    from orch_magics.transfer import ForwardError

    orch = Orchestrator(load_config_text("environments:\n  here: {layers: []}\n"))
    try:
        closed = free_port()
        with pytest.raises(ForwardError) as err:
            orch.forward("here", closed)
        assert str(err.value) == (f"localhost:{closed} is not reachable from this machine: "
                                  f"Connection refused")
        for bad in ("", " ", "-oProxyCommand=x", None, "a b"):
            with pytest.raises(ForwardError, match=r"^--host must be a host name or address"):
                orch.forward("here", closed, host=bad)  # type: ignore[arg-type]
        with socket.socket(socket.AF_INET6) as server:
            server.bind(("::1", 0))
            server.listen()
            port = server.getsockname()[1]
            for given in ("::1", "[::1]"):
                forward = orch.forward("here", port, host=given)
                assert f"→ [::1]:{port} " in str(forward) and forward.as_row()[3] == f"[::1]:{port}"
                forward.close()
    finally:
        orch.close()


def test_a_forward_host_is_refused_for_the_reason_a_config_host_is() -> None:
    """`--host` was checked by a copy of the config's target-name check, in other words and
    without the reason; it now says what is wrong, as a config's `host:` does (review twin)."""
    from orch_magics.transfer import ForwardError

    orch = Orchestrator(load_config_text("environments:\n  here: {layers: []}\n"))
    try:
        for bad, why in (("a b", "it has a space"), ("", "the name is empty"),
                         ("-oProxyCommand=x", "it starts with '-'"),
                         ("web\u200b1", "it has the character '\\u200b'"), ("[]", "is empty")):
            with pytest.raises(ForwardError) as err:
                orch.forward("here", 22, host=bad)
            assert str(err.value).startswith(f"--host must be a host name or address, got "
                                             f"{bad!r}: "), err.value
            assert why in str(err.value), err.value
        with pytest.raises(ForwardError) as err:  # one host: no word of a config's ranges
            orch.forward("here", 22, host="[::1")
        assert str(err.value) == ("--host must be a host name or address, got '[::1': it has "
                                  "'[': a host or container name has none")
        with pytest.raises(ForwardError) as err:
            orch.forward("here", 22, host="10.0.0.010")
        assert str(err.value).endswith("which reads it as 10.0.0.8: write 10.0.0.10")
        for given, bare in (("db.internal:5432", "db.internal"), ("[10.0.0.1]:5432", "10.0.0.1"),
                            ("[::1]:5432", "::1")):
            with pytest.raises(ForwardError) as err:  # kinds22: told of an ssh layer's keys
                orch.forward("here", 22, host=given)
            assert str(err.value) == (f"--host takes no port, got {given!r}: the port a "
                                      f"forward reaches is its PORT (forward ENV 5432 --host "
                                      f"{bare})")
    finally:
        orch.close()


def _listening() -> set[int]:
    """The TCP ports this process listens on."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    return {int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines()
            if f"pid={os.getpid()}," in line}


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.5, 1.0])
def test_a_forward_interrupted_while_it_opens_leaves_no_port(orch, endless, delay) -> None:  # type: ignore[no-untyped-def]
    """Ctrl-C (a kernel interrupt of `%orch forward`) while the forward connects. Before, the
    wait was given up but not the open: a port went on carrying connections to the far
    service, listed nowhere (so no `forward stop` could reach it), after `close()` too."""
    before = _listening()
    timer = threading.Timer(delay, _thread.interrupt_main)
    timer.start()
    try:  # an interrupt that comes as the forward returns is caught here too, not by pytest
        try:
            orch.forward("two", endless["two"].port)
        finally:
            timer.cancel()
            timer.join()
        sum(range(10_000))  # bytecode to run: a pending interrupt is raised here at the latest
    except KeyboardInterrupt:
        pass
    listed = {f.port for f in orch.forwards.list()}  # opened before the interrupt came
    assert _listening() - listed == before
    orch.close()
    assert _listening() == before


def test_a_watcher_that_raises_never_breaks_the_forward(orch, ssh_lab, endless, caplog) -> None:  # type: ignore[no-untyped-def]
    """api tester: a watcher that raised was called again for every client after a
    reconnect, and every client was cut; `problem` blamed the target. It is now told no
    more (a warning says so) and the forward goes on; a watcher that is no callable is
    refused."""
    server = endless["loop"]
    fwd = orch.forward("loop", server.port, host="127.0.0.1")
    with pytest.raises(ConfigError, match=r"watch\(\) takes a callable .*not int"):
        fwd.watch(5)  # type: ignore[arg-type]
    calls: list[str] = []
    fwd.watch(lambda message: calls.append(message) or 1 / 0)  # type: ignore[func-returns-value]
    sock, _number = stream(fwd.port)
    assert ssh_lab.servers["loop"].kill_sessions()
    assert cut(sock)
    for _ in range(3):  # every client after the reconnect is carried
        again, number = stream(fwd.port)
        again.close()
        assert server.ended(number)
    assert len(calls) == 1 and fwd.problem is None
    assert "a forward's watcher raised ZeroDivisionError: division by zero; it is told no " \
           "more" in caplog.text


def test_a_watcher_may_close_its_forward_without_stalling_the_loop(orch, ssh_lab,
                                                                   endless) -> None:  # type: ignore[no-untyped-def]
    """files6: close() from a watch() callback (on the orchestrator's loop) waited for a
    close only that loop could run: every run and forward of the orchestrator stood still
    for the 10 s the wait allows."""
    server = endless["loop"]
    fwd = orch.forward("loop", server.port, host="127.0.0.1")
    took: list[float] = []

    def give_up(message: str) -> None:
        start = time.monotonic()
        fwd.close()
        took.append(time.monotonic() - start)
    fwd.watch(give_up)
    sock, _number = stream(fwd.port)
    assert ssh_lab.servers["loop"].kill_sessions()  # the hop drops: the next client is told
    assert cut(sock)
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", fwd.port),
                                                                   timeout=10):
        time.sleep(0.3)  # open until taken: one gone before is nobody's to carry
    for _ in range(100):
        if took:
            break
        time.sleep(0.1)
    assert took and took[0] < 5, took  # the wait was the full 10 s
    assert fwd.closed and orch.run("here", command="echo alive").stdout == "alive\n"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", fwd.port), timeout=10)


#: A server whose accept queue is full until told (a file appears): connections to it wait,
#: their SYNs dropped, as to a service too busy to accept. Then it accepts and logs, per
#: connection, whether its client closed it ("eof") within 10 s or left it open ("open").
BUSY = r"""
import os, socket, sys, threading
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(0)
log = open(sys.argv[2], "a", buffering=1)
log.write("ready\n")
srv.accept()[0].close()  # the forward's probe, as it opens
filler = socket.create_connection(("127.0.0.1", int(sys.argv[1])))  # the queue is full now
filler.sendall(b"filler")
log.write("full\n")
while not os.path.exists(sys.argv[3]):
    threading.Event().wait(0.1)
def watch(conn):
    conn.settimeout(10)
    try:
        data = conn.recv(6, socket.MSG_PEEK)
    except OSError:
        data = b"?"
    if data == b"filler":
        return
    try:
        log.write("eof\n" if conn.recv(1) == b"" else "data\n")
    except socket.timeout:
        log.write("open\n")
    except OSError:
        log.write("eof\n")
while True:
    threading.Thread(target=watch, args=(srv.accept()[0],), daemon=True).start()
"""


def test_a_client_given_up_on_while_connecting_leaves_nothing_at_the_target(
        orch, ssh_lab, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """files7: a client the forward gave up on while sshd still connected (the target slow
    to accept) was forgotten, and once the target answered, sshd held that connection for as
    long as the ssh connection lived. The channel is now closed as soon as it opens."""
    from orch_magics.transfer import connectors

    monkeypatch.setattr(connectors, "CONNECT_TIMEOUT", 1.0)  # a short wait, as a knob
    port, log, go = 8772, tmp_path / "busy.log", tmp_path / "accept"
    log.touch()
    busy = subprocess.Popen(["ip", "netns", "exec", ssh_lab.inner_ns, sys.executable, "-c",
                             BUSY, str(port), str(log), str(go)])
    try:
        for _ in range(100):
            if "ready" in log.read_text():
                break
            time.sleep(0.1)
        fwd = orch.forward("two", port, host="127.0.0.1")
        for _ in range(100):
            if "full" in log.read_text():
                break
            time.sleep(0.1)
        client = socket.create_connection(("127.0.0.1", fwd.port), timeout=10)
        with client, contextlib.suppress(OSError):
            client.recv(1)  # the forward gives up after its second: an end or a reset
        go.touch()  # the target accepts now: sshd's connect, still retrying, gets through
        for _ in range(150):
            if "eof" in log.read_text() or "open" in log.read_text():
                break
            time.sleep(0.1)
        assert log.read_text().split()[2:] == ["eof"], log.read_text()
        fwd.close()
    finally:
        busy.kill()
        busy.wait(10)


def test_a_forward_out_of_file_descriptors_waits_and_says_so_once(ssh_lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """files12: with clients past the process's open-file limit, asyncio's server retried
    each failed accept a hundredfold a second with a traceback each (128 MB of stderr in a
    minute, a core busy). The forward now says once that new connections wait, and takes
    them as others end."""
    target = socket.create_server(("127.0.0.1", 0), backlog=256)
    held: list[int] = []  # connections that reached the target: each says nothing, and ends
    # when its client's end does

    def hold(conn: socket.socket) -> None:
        with conn:
            while conn.recv(1024):
                pass

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn = target.accept()[0]
                held.append(1)
                threading.Thread(target=hold, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(ssh_lab.config_yaml())
    local = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "forward", "loop",
         str(target.getsockname()[1]), "--local", str(local)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48)))
    clients = []
    try:
        assert proc.stdout is not None and "Ctrl-C stops it" in proc.stdout.readline()
        clients = [socket.create_connection(("127.0.0.1", local), timeout=10)
                   for _ in range(80)]  # more than 48 descriptors: the backlog holds the rest
        time.sleep(3)
        for client in clients:
            client.close()
        deadline = time.monotonic() + 30
        while True:  # the forward carries new connections again
            before = len(held)
            with socket.create_connection(("127.0.0.1", local), timeout=10):
                time.sleep(0.5)  # open until taken: one gone before is nobody's to carry
            if len(held) > before:
                break
            assert time.monotonic() < deadline, len(held)
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
        target.close()
    assert proc.returncode == 0 and "Traceback" not in err and len(err) < 2000, err[:2000]
    assert re.fullmatch(r"orch: forward f1: new connections wait: Too many open files \(\d+ "
                        r"connections carried\); they are taken as connections end\n", err), err


LIMITS_SEEN = """\
import resource, socket
from orch_magics import Orchestrator, load_config_text
resource.setrlimit(resource.RLIMIT_NOFILE, (512, 4096))
target = socket.create_server(("127.0.0.1", 0))
with Orchestrator(load_config_text("environments:\\n  local: []\\naudit: {enabled: false}\\n")) as orch:
    fwd = orch.forward("local", target.getsockname()[1])
    during = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    child = orch.run("local", command="ulimit -n").stdout.strip()
    fwd.close()
    after = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
print(during, child, after)
"""


def test_a_forward_raises_the_open_file_limit_for_itself_alone_while_open() -> None:
    """review44: a forward raised the process's soft limit for good: every command a kernel
    started afterwards, and while it was open, ran with it (1024 became the hard limit).
    Raised while it is open, never handed to the processes started meanwhile (as Go's runtime
    does), and put back when it closes."""
    done = subprocess.run([sys.executable, "-c", LIMITS_SEEN], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.split() == ["4096", "512", "512"], done


def test_a_forward_interrupted_while_its_hop_connects_says_so_in_one_line() -> None:
    """magics15: `%orch forward` interrupted while its ssh hop connected (a bastion that
    accepts and says nothing) showed a 77-line KeyboardInterrupt traceback, where a run and
    a copy say one line."""
    import socket

    from orch_magics.transfer.model import ForwardInterrupted

    silent = socket.create_server(("127.0.0.1", 0))
    text = (f"environments:\n  silent: [{{type: ssh, config: {{host: 127.0.0.1, port: "
            f"{silent.getsockname()[1]}, connect_timeout: 60}}}}]\naudit: {{enabled: false}}\n")
    timer = threading.Timer(0.5, _thread.interrupt_main)
    with silent, Orchestrator(load_config_text(text)) as orch:
        timer.start()
        with pytest.raises(ForwardInterrupted) as err:
            orch.forward("silent", 80)
        timer.join()
        assert orch.forwards.list() == []
    assert err.value._render_traceback_() == [
        "ForwardInterrupted: interrupted while the forward opened; nothing was left open"]


def test_a_shortage_of_descriptors_that_comes_back_at_once_is_said_once() -> None:
    """CI of 354a88b: at the limit, a connection that ended let one in and the next waited
    again, and the forward said "new connections wait" a second time, word for word. The
    problem stays shown (`%orch forwards`) each time; the watcher hears it once a minute."""
    from orch_magics.transfer.forward_health import Health

    heard: list[str] = []
    health = Health("127.0.0.1:80", watcher=heard.append)
    health.waiting("Too many open files (40 connections carried)")
    health.carried()
    assert health.problem is None
    health.waiting("Too many open files (40 connections carried)")
    assert health.problem == "new connections wait: Too many open files (40 connections carried)"
    assert heard == ["new connections wait: Too many open files (40 connections carried); they "
                     "are taken as connections end"]
