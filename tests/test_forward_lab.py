"""Port forwards through the lab: an HTTP server on the inner host (reachable only through
the bastion) answered from this process through a forward; errors; closing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

from fixtures.ports import free_port
from orch_magics import ConfigError, Orchestrator
from orch_magics.config.loader import load_config_text
from orch_magics.transfer import ForwardError
from orch_magics.transfer.held import HOLD_FOR

pytestmark = pytest.mark.ssh


@pytest.fixture(scope="module")
def inner_http(ssh_lab) -> Iterator[int]:  # type: ignore[no-untyped-def]
    """python -m http.server in the inner host's namespace, on its loopback only."""
    port = 8765
    proc = subprocess.Popen(["ip", "netns", "exec", ssh_lab.inner_ns, sys.executable, "-m",
                             "http.server", str(port), "--bind", "127.0.0.1"],
                            cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        probe = subprocess.run(["ip", "netns", "exec", ssh_lab.inner_ns, sys.executable, "-c",
                                f"import socket; socket.create_connection(('127.0.0.1', {port}))"],
                               capture_output=True, check=False)
        if probe.returncode == 0:
            break
        time.sleep(0.1)
    yield port
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def orch(ssh_lab) -> Iterator[Orchestrator]:  # type: ignore[no-untyped-def]
    o = Orchestrator(load_config_text(ssh_lab.config_yaml(extra_envs={"here": []})))
    yield o
    o.close()


def fetch(port: int) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/etc/hostname", timeout=10) as r:
        return bytes(r.read())


def test_inner_http_server_answers_through_two_hops(orch, inner_http) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(OSError):  # not reachable from here without the forward
        urllib.request.urlopen(f"http://127.0.0.1:{inner_http}/", timeout=2)
    fwd = orch.forward("two", inner_http)
    assert fwd.port and fwd.via == "ssh orch-inner"
    assert fetch(fwd.port) == open("/etc/hostname", "rb").read()
    assert [f.id for f in orch.forwards.list()] == [fwd.id]
    orch.forwards.stop(fwd.id)
    assert orch.forwards.list() == []
    with pytest.raises(OSError):
        fetch(fwd.port)
    other = orch.forward("two", inner_http)
    other.close()  # closed by itself, it leaves the list too
    assert orch.forwards.list() == [] and other.closed


def test_chosen_local_port_and_close_at_orchestrator_close(orch, inner_http) -> None:  # type: ignore[no-untyped-def]
    local = free_port()
    fwd = orch.forward("two", inner_http, local=local, host="127.0.0.1")
    assert fwd.port == local and fetch(local)
    orch.close()
    with pytest.raises(OSError):
        fetch(local)


def test_errors_are_one_line(orch, inner_http) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ForwardError, match=r"127.0.0.1:1 is not reachable from ssh orch-inner"):
        orch.forward("two", 1, host="127.0.0.1")
    with pytest.raises(ForwardError, match=r"the remote port must be a TCP port \(1-65535\), got 0"):
        orch.forward("two", 0)
    with pytest.raises(ForwardError, match=r"--local must be a TCP port \(1-65535, 0 for any "
                                           r"free one\), got 70000"):
        orch.forward("two", inner_http, local=70000)
    with pytest.raises(ForwardError, match=r"the remote port must be a TCP port \(1-65535\), "
                                           r"got '80'"):
        orch.forward("two", "80")  # type: ignore[arg-type]
    fwd = orch.forward("two", inner_http)
    with pytest.raises(ForwardError) as taken:
        orch.forward("two", inner_http, local=fwd.port)
    assert str(taken.value) == (f"cannot listen on 127.0.0.1:{fwd.port}: Address already in use "
                                f"(choose another local port, or 0 for any free one)")
    with pytest.raises(ForwardError, match=r"no forward 'f9'.*open forwards: " + fwd.id):
        orch.forwards.stop("f9")


def test_one_process_calls_refuse_a_fleet_environment(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    """spawn() and launch() start one process: before, each silently went through the first
    of the fleet's targets. A forward asks which one (--limit)."""
    fleet = ssh_lab.layer("orch-loop").replace('host: "orch-loop"', 'host: [orch-loop, orch-bastion]')
    orch = Orchestrator(load_config_text(ssh_lab.config_yaml(extra_envs={"both": [fleet]})))
    message = ("environment 'both' fans out to several targets and this starts one process: "
               "run(), arun() and start() (orch run, %orch) run every target")
    try:
        for call in (lambda: orch.spawn("both", command="true"),
                     lambda: asyncio.run(orch.launch("both", command="true"))):
            with pytest.raises(ConfigError) as err:
                call()
            assert str(err.value) == message
        with pytest.raises(ConfigError) as err:
            orch.forward("both", 22)
        assert str(err.value) == ("environment 'both' fans out to several targets and a "
                                  "forward reaches one: name it with --limit "
                                  "(e.g. --limit orch-loop)")
        assert orch.forwards.list() == [] and orch.run("both", command="true").ok
    finally:
        orch.close()


def test_a_forward_reaches_the_fleet_target_its_limit_names(ssh_lab, inner_http, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """bastion → [orch-inner, orch-loop]: --limit orch-inner reaches the inner host's server
    (orch-loop is not even reachable from the bastion, so nothing else was tried); the forward
    is listed and audited with its target's label."""
    hosts = ssh_lab.layer("orch-inner").replace('host: "orch-inner"', 'host: [orch-inner, orch-loop]')
    text = ssh_lab.config_yaml(extra_envs={"pair": [ssh_lab.layer("orch-bastion"), hosts]})
    audit = tmp_path / "audit.jsonl"
    orch = Orchestrator(load_config_text(text + f"audit:\n  path: {audit}\n"))
    try:
        fwd = orch.forward("pair", inner_http, limit="orch-in*")
        assert fetch(fwd.port) == open("/etc/hostname", "rb").read()
        assert fwd.via == "ssh orch-inner"
        assert [f.as_row()[1] for f in orch.forwards.list()] == ["pair [orch-inner]"]
        started = json.loads(audit.read_text().splitlines()[0])
        assert (started["environment"], started["target"]) == ("pair", "orch-inner")
        assert fwd.audit_id == started["id"] and f" · audit {started['id']}" in str(fwd)
        with pytest.raises(ConfigError, match=r"limit 'orch-\*' keeps 2 targets: orch-inner, "
                                              r"orch-loop; name one of them"):
            orch.forward("pair", inner_http, limit="orch-*")
        with pytest.raises(ConfigError, match=r"matches no target .*did you mean 'orch-inner'"):
            orch.forward("pair", inner_http, limit="orch-iner")
        with pytest.raises(ConfigError, match="'two' has one target: a limit applies to fleets only"):
            orch.forward("two", inner_http, limit="orch-inner")
        assert len(orch.forwards.list()) == 1
    finally:
        orch.close()


def test_no_ssh_hop_forwards_directly(orch) -> None:  # type: ignore[no-untyped-def]
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory="/")
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        fwd = orch.forward("here", server.server_address[1])
        assert fwd.via == "this machine" and fetch(fwd.port)
        target = f"localhost:{server.server_address[1]}"  # browser25: its fields, stale once saved
        assert re.fullmatch(rf"<Forward f1 127\.0\.0\.1:{fwd.port} → {target} from this machine: "
                            r"open as of \d\d:\d\d:\d\d>", repr(fwd)), repr(fwd)
        for wrong in (None, 1):  # files13: Python's AttributeError from inside orch
            with pytest.raises(ForwardError, match="a forward is stopped by its id .str, such "
                               f"as 'f1'. or the Forward itself, not {type(wrong).__name__}$"):
                orch.forwards.stop(wrong)
        other = Orchestrator(orch.config)  # its forwards are numbered from f1 too
        try:
            theirs = other.forward("here", server.server_address[1])
            assert theirs.id == fwd.id
            assert orch.forwards.stop(theirs) is theirs  # that one, not orch's f1 (review26)
            assert other.forwards.list() == [] and orch.forwards.list() == [fwd]
        finally:
            other.close()
        assert orch.forwards.stop(fwd) is fwd and orch.forwards.list() == []  # the object too
        assert repr(fwd) == f"<Forward f1 127.0.0.1:{fwd.port} → {target} from this machine: closed>"
    finally:
        server.shutdown()


def test_a_forward_asks_for_no_secret_of_a_layer_past_its_last_ssh_hop(ssh_lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """kinds19: a forward goes from the last ssh host, yet every layer's secrets were asked
    first: the password manager was called (or the terminal prompted) for a sudo password
    after it, which nothing would use; with no provider holding it, the forward was refused."""
    import functools
    import http.server
    import threading

    calls = tmp_path / "calls"
    ask = tmp_path / "ask.sh"
    ask.write_text(f"#!/bin/sh\necho \"$1\" >> {calls}\necho pw\n")
    ask.chmod(0o755)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory="/")
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    text = (f"environments:\n  db: [{ssh_lab.layer('orch-loop')}, {{type: sudo, config: "
            f"{{user: nobody, password: '{{{{secret:sudo_pw}}}}'}}}}]\n"
            f"secrets: {{providers: [{{type: command, argv: [{ask}, '{{name}}']}}]}}\n"
            f"audit: {{enabled: false}}\n")
    try:
        with Orchestrator(load_config_text(text)) as orch:
            fwd = orch.forward("db", server.server_address[1], host="127.0.0.1")
            assert fwd.via.startswith("ssh orch-loop") and fetch(fwd.port), fwd
    finally:
        server.shutdown()
    assert not calls.exists(), calls.read_text()


def test_forward_closes_at_interpreter_exit(ssh_lab, inner_http, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A process that opened a forward and exits leaves no session on the bastion."""
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(ssh_lab.config_yaml())
    code = (f"from orch_magics import Orchestrator, load_config\n"
            f"o = Orchestrator(load_config({str(cfg)!r}))\n"
            f"f = o.forward('two', {inner_http})\n"
            f"import urllib.request\n"
            f"print(len(urllib.request.urlopen(f.url + '/etc/hostname').read()))\n")
    before = len(ssh_lab.bastion.session_pids())
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 0 and out.stdout.strip().isdigit(), out.stderr
    for _ in range(50):
        if len(ssh_lab.bastion.session_pids()) <= before:
            break
        time.sleep(0.1)
    assert len(ssh_lab.bastion.session_pids()) <= before


def test_cli_cp_round_trip_and_errors(ssh_lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(ssh_lab.config_yaml())
    src = tmp_path / "a file.txt"
    src.write_text("hello\n")
    orch = [sys.executable, "-m", "orch_magics.cli", "-c", str(cfg)]
    put = subprocess.run([*orch, "cp", str(src), "two:/tmp/"], capture_output=True, text=True,
                         timeout=60, check=False)
    assert put.returncode == 0 and "put file" in put.stdout and put.stderr == "", put.stderr
    get = subprocess.run([*orch, "cp", "two:/tmp/a file.txt", str(tmp_path / "b.txt")],
                         capture_output=True, text=True, timeout=60, check=False)
    assert get.returncode == 0 and (tmp_path / "b.txt").read_text() == "hello\n", get.stderr
    bad = subprocess.run([*orch, "cp", "tow:/x", "y"], capture_output=True, text=True,
                         timeout=60, check=False)
    assert bad.returncode == 2 and "did you mean 'two'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    missing = subprocess.run([*orch, "cp", "two:/nope", str(tmp_path / "n")],
                             capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == 1 and "no such file or directory: /nope" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1 and not (tmp_path / "n").exists()
    limited = subprocess.run([*orch, "cp", "two:/tmp/a file.txt", "c.txt", "--limit", "x"],
                             capture_output=True, text=True, timeout=60, check=False)
    assert limited.returncode == 2 and limited.stderr == (
        "orch: config error: environment 'two' has one target: a limit applies to fleets only\n")


def test_cli_forward_to_a_fleet_needs_one_target(ssh_lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fleet = ssh_lab.layer("orch-loop").replace('host: "orch-loop"', 'host: [orch-loop, orch-bastion]')
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(ssh_lab.config_yaml(extra_envs={"both": [fleet]}))
    orch = [sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "forward", "both", "22"]
    for extra, message in (
            ([], "orch: config error: environment 'both' fans out to several targets and a "
                 "forward reaches one: name it with --limit (e.g. --limit orch-loop)\n"),
            (["--limit", "orch-*"], "orch: config error: limit 'orch-*' keeps 2 targets: "
                                    "orch-loop, orch-bastion; name one of them\n")):
        out = subprocess.run([*orch, *extra], capture_output=True, text=True, timeout=60,
                             check=False)
        assert (out.returncode, out.stderr) == (2, message)


def test_the_magic_forwards_to_the_fleet_target_its_limit_names(ssh_lab, inner_http, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from shells import orch_shell

    hosts = ssh_lab.layer("orch-inner").replace('host: "orch-inner"', 'host: [orch-inner, orch-loop]')
    text = ssh_lab.config_yaml(extra_envs={"pair": [ssh_lab.layer("orch-bastion"), hosts]})
    with orch_shell(text + f"audit:\n  path: {tmp_path / 'audit.jsonl'}\n", tmp_path) as sh:
        fwd = sh.run_line_magic("orch", f"forward pair {inner_http} --limit orch-inner")
        assert fetch(fwd.port) == open("/etc/hostname", "rb").read()
        sh.run_line_magic("orch", "forwards")
        listed = capsys.readouterr().out
        assert "pair [orch-inner]" in listed and f"localhost:{inner_http}" in listed
        sh.run_line_magic("orch", f"forward stop {fwd.id}")
    started = json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[0])
    assert (started["target"], started["front_end"]) == ("orch-inner", "magic")
    assert f"· audit {started['id']}" in listed  # the line said when it opened


@contextlib.contextmanager
def target_server(ssh_lab, env: str, script: str) -> Iterator[tuple[int, subprocess.Popen[str]]]:  # type: ignore[no-untyped-def]
    """`script` listening on a free port of the inner host ("two") or this machine ("here"),
    once it says so; killed after."""
    port = free_port()
    netns = ["ip", "netns", "exec", ssh_lab.inner_ns] if env == "two" else []
    server = subprocess.Popen([*netns, sys.executable, "-c", script, str(port)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline() == "listening\n"
        yield port, server
    finally:
        server.kill()
        server.wait()


def talk(port: int, line: bytes, host: str = "127.0.0.1") -> tuple[bytes, bytes]:
    """Through the forward at `port`: the target's first line, then its answer to `line`."""
    with socket.create_connection((host, port), timeout=10) as client:
        stream = client.makefile("rwb")
        first = stream.readline()
        stream.write(line)
        stream.flush()
        return first, stream.readline()


ONE_SHOT = """\
import socket, sys
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print("listening", flush=True)
conn, _ = server.accept()  # one connection, as nc -l or a remote debugger takes
conn.sendall(b"ready\\n")
line = conn.makefile("rb").readline()
conn.sendall(b"got: " + line)
print("served", line, flush=True)
"""


@pytest.mark.parametrize("env", ["two", "here"])
def test_a_listener_of_one_connection_serves_the_first_client(orch, ssh_lab, env: str) -> None:  # type: ignore[no-untyped-def]
    """files13 F1: opening a forward checked the target with a connection it closed at once,
    which used up a listener of one connection (`nc -l`, a remote debugger, which read that
    end of file as "quit"): the user's connection was refused. That connection is now the
    first client's, the target's first words included."""
    with target_server(ssh_lab, env, ONE_SHOT) as (port, server):
        fwd = orch.forward(env, port)
        time.sleep(0.5)
        assert server.poll() is None  # the check took nothing from it
        assert talk(fwd.port, b"hello\n") == (b"ready\n", b"got: hello\n")
        assert server.stdout is not None
        assert server.stdout.readline() == "served b'hello\\n'\n"
        assert server.wait(10) == 0
        fwd.close()


@pytest.mark.parametrize("env", ["two", "here"])
def test_a_local_port_in_use_costs_a_one_connection_listener_nothing(orch, ssh_lab, env: str) -> None:  # type: ignore[no-untyped-def]
    """files17: the target was reached (the check's connection) before the local port was
    asked for: with that port in use the forward failed, having used up a listener of one
    connection, and the retry on a free port was refused."""
    with target_server(ssh_lab, env, ONE_SHOT) as (port, server), \
            socket.create_server(("127.0.0.1", 0)) as busy:
        with pytest.raises(ForwardError, match="cannot listen on 127.0.0.1:.*in use"):
            orch.forward(env, port, local=busy.getsockname()[1])
        fwd = orch.forward(env, port)  # the retry on a free port: the listener still waits
        assert talk(fwd.port, b"hello\n") == (b"ready\n", b"got: hello\n")
        fwd.close()


#: Another account's client that writes and is gone before the forward takes it.
SEND_AND_GO = ("import socket, sys\n"
               "c = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10)\n"
               "c.sendall(b'FLUSHALL\\n'); c.close()\n")
#: What another account of this machine does with a forward's port: connect, and read.
def as_nobody(code: str, port: int) -> subprocess.CompletedProcess[str]:
    """Python `code` run as user nobody, given the forward's `port`: another account."""
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                           "/usr/bin/python3", "-c", code, str(port)], capture_output=True,
                          text=True, timeout=30)


AS_NOBODY = ("import socket, sys\n"
             "c = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10)\n"
             "print(repr(c.recv(100)))\n")


@pytest.mark.parametrize("env", ["two", "here"])
def test_another_user_of_this_machine_cannot_use_a_forward(orch, ssh_lab, env: str) -> None:  # type: ignore[no-untyped-def]
    """safety18: a forward listened on 127.0.0.1 for anyone: `nobody` read the inner host's
    service through root's forward into prod. Only its own user's connections are carried;
    the forward says it refused one, and its user's next connection is served."""
    with target_server(ssh_lab, env, ONE_SHOT) as (port, server):
        fwd = orch.forward(env, port)
        other = as_nobody(AS_NOBODY, fwd.port)
        assert other.stdout == "b''\n", (other.stdout, other.stderr)  # closed: nothing read
        assert "a connection from another user (uid " in fwd.problem, fwd.problem
        # review34: one that sends and closes before it is taken is listed as root's, without
        # an inode: refused too (the loop is held busy meanwhile, as a notebook's may be)
        orch.loop.call(time.sleep, 1.5)
        sent = as_nobody(SEND_AND_GO, fwd.port)
        assert sent.returncode == 0, sent.stderr
        time.sleep(2)
        assert "whose user cannot be told" in fwd.problem, fwd.problem
        assert talk(fwd.port, b"hello\n") == (b"ready\n", b"got: hello\n")  # the held one
        fwd.close()


#: Another account's flood: connect and close for 3 s, as a port scanner or checker may.
FLOOD = ("import socket, sys, time\n"
         "end, n = time.monotonic() + 3, 0\n"
         "while time.monotonic() < end:\n"
         "    try:\n"
         "        socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10).close()\n"
         "        n += 1\n"
         "    except OSError:\n"
         "        pass\n"
         "print(n)\n")


def test_a_flood_of_another_user_s_connections_holds_no_run_back(orch, ssh_lab) -> None:  # type: ignore[no-untyped-def]
    """kinds21: each client's user was found by reading the whole of /proc/net/tcp (16-32 ms)
    on the event loop, and a refused one never yielded it: 3 s of another user's connect and
    close (~4,000) held every run of the process back for 99 s, and the forward said each
    refusal, 4,183 lines. Now one question per client, the loop yielded, and said once."""
    heard: list[str] = []
    with target_server(ssh_lab, "here", ONE_AT_A_TIME) as (port, server):
        fwd = orch.forward("here", port)
        fwd.watch(heard.append)
        flood = subprocess.Popen(["setpriv", "--reuid=nobody", "--regid=nogroup",
                                  "--clear-groups", "/usr/bin/python3", "-c", FLOOD,
                                  str(fwd.port)], stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(1)
            t0 = time.monotonic()
            res = orch.run("here", command="echo alongside")
            took = time.monotonic() - t0
        finally:
            out, _ = flood.communicate(timeout=60)
        assert res.stdout == "alongside\n" and took < 10, (took, res)
        assert int(out) > 100, out  # a flood it was
        time.sleep(1)
        refusals = [m for m in heard if "another user" in m]
        assert len(refusals) == 1, heard[:5]
        assert talk(fwd.port, b"hello\n") == (b"ready\n", b"got: hello\n")  # still serving
        fwd.close()


#: A client whose socket is IPv6, as Java's and .NET's are: 127.0.0.1 as ::ffff:127.0.0.1.
AS_NOBODY_V6 = AS_NOBODY.replace("('127.0.0.1',", "('::ffff:127.0.0.1',")


def test_a_client_with_an_ipv6_socket_is_told_apart_too(orch, ssh_lab) -> None:  # type: ignore[no-untyped-def]
    """review35: the kernel lists a client of an IPv6 socket connected to ::ffff:127.0.0.1
    in /proc/net/tcp6 only: its own user's was refused without a word, as if its user could
    not be told. It is carried; another user's is refused for its uid."""
    with target_server(ssh_lab, "here", ONE_SHOT) as (port, server):
        fwd = orch.forward("here", port)
        other = as_nobody(AS_NOBODY_V6, fwd.port)
        assert other.stdout == "b''\n", (other.stdout, other.stderr)
        assert "a connection from another user (uid " in fwd.problem, fwd.problem
        assert talk(fwd.port, b"hello\n", host="::ffff:127.0.0.1") == (b"ready\n",
                                                                     b"got: hello\n")
        fwd.close()


AS_NOBODY_LOOPBACK_V6 = AS_NOBODY.replace("('127.0.0.1',", "('::1',")
SQUAT = ("import socket, sys\n"
         "s = socket.create_server(('::1', int(sys.argv[1])), family=socket.AF_INET6)\n"
         "print('held', flush=True)\nsys.stdin.read()\n")


def test_a_forward_holds_both_sides_of_localhost(orch, ssh_lab) -> None:  # type: ignore[no-untyped-def]
    """kinds20: a forward listened on 127.0.0.1 alone; another user took [::1] at its port,
    and a client of `localhost` that tries ::1 first (Python's, psql's with a stock
    /etc/hosts) sent its request there. Both are held, as `ssh -L` holds them: its own
    user's client on ::1 is carried, another user's refused; a port whose ::1 side another
    program holds is refused, naming it."""
    with target_server(ssh_lab, "here", ONE_SHOT) as (port, server):
        fwd = orch.forward("here", port)
        other = as_nobody(AS_NOBODY_LOOPBACK_V6, fwd.port)
        assert other.stdout == "b''\n", (other.stdout, other.stderr)
        assert "a connection from another user (uid " in fwd.problem, fwd.problem
        assert talk(fwd.port, b"hello\n", host="::1") == (b"ready\n", b"got: hello\n")
        fwd.close()
        local = free_port()
        squatter = subprocess.Popen(["setpriv", "--reuid=nobody", "--regid=nogroup",
                                     "--clear-groups", "/usr/bin/python3", "-c", SQUAT,
                                     str(local)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            assert squatter.stdout is not None and squatter.stdout.readline() == b"held\n"
            with pytest.raises(ForwardError, match=rf"cannot listen on \[::1\]:{local} \(the "
                                                rf"IPv6 side of localhost\): Address already "
                                                rf"in use"):
                orch.forward("here", port, local=local)
        finally:
            squatter.kill()
            squatter.wait()


GREETER = """\
import socket, sys
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print("listening", flush=True)
for n in range(1, 4):  # a server that greets, then drops a client silent for 1 s
    conn, _ = server.accept()
    conn.sendall(b"hello %d\\n" % n)
    conn.settimeout(1)
    try:
        conn.sendall(b"got: " + conn.makefile("rb").readline())
    except OSError:
        conn.sendall(b"timeout, bye\\n")
    conn.close()
"""


@pytest.mark.parametrize("env", ["two", "here"])
def test_a_first_client_after_the_target_dropped_the_check_gets_a_new_connection(  # type: ignore[no-untyped-def]
        orch, ssh_lab, env: str) -> None:
    """files13 F8: the check's connection, held for the first client, was handed over after
    the target had timed it out: the user read `hello … timeout, bye` and a closed session."""
    with target_server(ssh_lab, env, GREETER) as (port, _server):
        fwd = orch.forward(env, port)
        time.sleep(2)  # the server has greeted the check's connection and dropped it
        assert talk(fwd.port, b"hi\n") == (b"hello 2\n", b"got: hi\n")
        fwd.close()


SAYS_AND_GOES = """\
import socket, sys
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print("listening", flush=True)
conn, _ = server.accept()  # one connection: its words, then gone (`echo hi | nc -l`)
conn.sendall(b"hi\\n")
conn.close()
server.close()
"""


@pytest.mark.parametrize("env", ["two", "here"])
def test_what_a_listener_of_one_connection_said_before_it_went_reaches_the_client(  # type: ignore[no-untyped-def]
        orch, ssh_lab, env: str) -> None:
    """review26: its words had been read by the held check connection, which was dropped
    once ended; the new connection was refused and the client got a reset: `hi` was lost."""
    with target_server(ssh_lab, env, SAYS_AND_GOES) as (port, server):
        fwd = orch.forward(env, port)
        assert server.wait(10) == 0
        with socket.create_connection(("127.0.0.1", fwd.port), timeout=10) as client:
            assert client.makefile("rb").read() == b"hi\n"
        fwd.close()


ONE_AT_A_TIME = """\
import socket, sys
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print("listening", flush=True)
while True:  # one client at a time, as a plain HTTPServer or a dev server serves
    conn, _ = server.accept()
    try:  # a client gone already (the check's) is the next one's turn, as a server takes it
        conn.sendall(b"ready\\n")
        conn.sendall(b"got: " + conn.makefile("rb").readline())
    except OSError:
        pass
    conn.close()
"""


def direct(ssh_lab, env: str, port: int) -> bytes:  # type: ignore[no-untyped-def]
    """A client of the target's own host (a health check), not through the forward: its
    first line, or `timed out`."""
    netns = ["ip", "netns", "exec", ssh_lab.inner_ns] if env == "two" else []
    client = ("import socket, sys\ns = socket.create_connection(('127.0.0.1', int(sys.argv[1])),"
              " timeout=3)\ntry:\n    sys.stdout.write(s.makefile().readline())\n"
              "except OSError:\n    print('timed out')\n")
    return subprocess.run([*netns, sys.executable, "-c", client, str(port)], capture_output=True,
                          timeout=30).stdout


@pytest.mark.parametrize("env", ["two", "here"])
def test_a_forward_nobody_uses_leaves_a_server_of_one_connection_at_a_time_free(  # type: ignore[no-untyped-def]
        orch, ssh_lab, env: str) -> None:
    """files14: the check's connection, held for the first client, kept a server that serves
    one connection at a time busy for as long as the forward went unused: its own health
    checks timed out. It is held for a client that comes at once only (HOLD_FOR)."""
    with target_server(ssh_lab, env, ONE_AT_A_TIME) as (port, _server):
        fwd = orch.forward(env, port)
        time.sleep(HOLD_FOR + 1)
        assert direct(ssh_lab, env, port) == b"ready\n"
        assert talk(fwd.port, b"hi\n") == (b"ready\n", b"got: hi\n")
        fwd.close()


FEED = """\
import socket, sys, threading, time
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print("listening", flush=True)
def feed(conn):  # a record of 100 bytes every ms from the moment a client connects
    try:
        while True:
            conn.sendall(b"%-99.3f\\n" % time.time())
            time.sleep(0.001)
    except OSError:
        pass
while True:
    conn, _ = server.accept()
    threading.Thread(target=feed, args=(conn,), daemon=True).start()
"""


@pytest.mark.parametrize("env", ["two", "here"])
def test_a_feed_s_first_client_gets_records_of_its_own_time(orch, ssh_lab, env: str) -> None:  # type: ignore[no-untyped-def]
    """files14: a server that streams from connect gave the forward's first client, 10 s
    after opening, the records buffered since the check connected, as if current."""
    with target_server(ssh_lab, env, FEED) as (port, _server):
        fwd = orch.forward(env, port)
        time.sleep(HOLD_FOR + 1)
        with socket.create_connection(("127.0.0.1", fwd.port), timeout=10) as client:
            first = float(client.makefile("rb").readline())
        assert time.time() - first < 1.5, time.time() - first
        fwd.close()


QUIET_RECEIVER = """\
import socket, sys
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print("listening", flush=True)
conn, _ = server.accept()  # `nc -l > upload.bin` with stdin at its end: it sends nothing
server.close()
conn.shutdown(socket.SHUT_WR)
got = b"".join(iter(lambda: conn.recv(65536), b""))
print(len(got), got == bytes(range(256)) * 4096, flush=True)
"""


@pytest.mark.parametrize("env", ["two", "here"])
def test_a_receiver_of_one_connection_that_sends_nothing_gets_the_upload(  # type: ignore[no-untyped-def]
        orch, ssh_lab, env: str) -> None:
    """files14 (files13 F1's rest): a one-shot receiver that ended its sending side at once
    was taken as gone: the client got a reset, the upload was lost."""
    with target_server(ssh_lab, env, QUIET_RECEIVER) as (port, server):
        fwd = orch.forward(env, port)
        with socket.create_connection(("127.0.0.1", fwd.port), timeout=10) as client:
            client.sendall(bytes(range(256)) * 4096)
            client.shutdown(socket.SHUT_WR)
            assert client.makefile("rb").read() == b""
        assert server.stdout is not None and server.stdout.readline() == "1048576 True\n"
        fwd.close()


DEBUGGEE = """\
import socket, sys
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print("listening", flush=True)
conn, _ = server.accept()  # one connection, then no port (`nc -l`): a debuggee waiting
server.close()
conn.sendall(b"(Pdb) ")
print("got", conn.makefile("rb").readline(), flush=True)
"""


@pytest.mark.parametrize("env", ["two", "here"])
def test_a_listener_of_one_connection_is_held_for_a_client_that_comes_late(  # type: ignore[no-untyped-def]
        orch, ssh_lab, env: str) -> None:
    """review28: the check's connection was closed after HOLD_FOR whatever the target: a
    debuggee that takes one connection read its end as "quit", and a person attaching later
    got a reset. A target that refuses a new connection then keeps the held one."""
    with target_server(ssh_lab, env, DEBUGGEE) as (port, server):
        fwd = orch.forward(env, port)
        time.sleep(HOLD_FOR + 1)
        assert server.poll() is None
        with socket.create_connection(("127.0.0.1", fwd.port), timeout=10) as client:
            stream = client.makefile("rwb")
            assert stream.read(6) == b"(Pdb) "
            stream.write(b"continue\n")
            stream.flush()
            assert server.stdout is not None and server.stdout.readline() == \
                "got b'continue\\n'\n"
        fwd.close()
