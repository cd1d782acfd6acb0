"""Files and ports through the layer kinds the chain tests do not cover: podman (on this
machine and behind an ssh hop) and a chain ending in sudo. Every kind takes the same
tar-or-cat stream and the forward rides the last ssh hop, whatever follows it."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import socket
import threading
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from orch_magics import Orchestrator
from orch_magics.config.loader import load_config_text
from processes import gone
from transfers import cancelled_at, remote, sparse

pytestmark = [pytest.mark.ssh]

NAME = "odd name é $x 'q'"


@pytest.fixture
async def orch(ssh_lab, podman, sudo_lab) -> AsyncIterator[Orchestrator]:  # type: ignore[no-untyped-def]
    sudo_lab.authorize(ssh_lab.root / "id_ed25519.pub")
    as_free = [ssh_lab.layer("orch-bastion"), ssh_lab.layer("orch-inner", user=sudo_lab.login),
               sudo_lab.layer(sudo_lab.free)]
    envs = {"pod": [podman.layer()], "loop-pod": [ssh_lab.layer("orch-loop"), podman.layer()],
            "as-free": as_free}
    o = Orchestrator(load_config_text(ssh_lab.config_yaml(extra_envs=envs)))
    yield o
    await o.aclose()


@pytest.fixture
def web() -> Iterator[int]:
    """An HTTP server on this machine's 127.0.0.1 (what the loop host sees as its own)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory="/etc")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("env", ["pod", "loop-pod"])
async def test_a_file_and_a_directory_round_trip_through_podman(orch, far, tmp_path, env) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / f"{NAME}.bin"
    src.write_bytes(os.urandom(2_000_000))
    src.chmod(0o640)
    tree = tmp_path / "tree"
    (tree / "sub é").mkdir(parents=True)
    (tree / "sub é" / "f 1").write_text("one\n")
    folder = await far.folder(env, "podman-cp")
    sent = await orch.aput(env, str(src), folder + "/")
    assert sent.destination == f"{folder}/{NAME}.bin" and sent.sha256 == sha(src)
    await orch.aput(env, str(tree), f"{folder}/tree")
    seen = await remote(orch, env, f"cd {folder} && sha256sum -- *.bin && stat -c %a -- *.bin "
                                   f"&& cat 'tree/sub é/f 1'")
    assert seen.split()[0] == sha(src) and seen.split()[-2:] == ["640", "one"]
    back = tmp_path / "back"
    back.mkdir()
    got = await orch.aget(env, f"{folder}/{NAME}.bin", str(back))
    assert sha(back / f"{NAME}.bin") == sha(src) == got.sha256
    assert (back / f"{NAME}.bin").stat().st_mode & 0o777 == 0o640
    await orch.aget(env, f"{folder}/tree", str(back / "tree"))
    assert (back / "tree" / "sub é" / "f 1").read_text() == "one\n"


async def test_a_file_put_as_another_user_through_sudo_is_theirs(orch, sudo_lab, far, tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "mine"
    src.write_text("for the free user\n")
    folder = await far.folder("as-free", "sudo-cp")
    await orch.aput("as-free", str(src), folder + "/")
    owner = await remote(orch, "as-free", f"stat -c %U {folder}/mine; cat {folder}/mine")
    assert owner == f"{sudo_lab.free}\nfor the free user\n"


@pytest.mark.parametrize("env, via", [("loop-pod", "ssh orch-loop"), ("pod", "this machine")])
def test_a_forward_rides_the_last_ssh_hop_before_a_podman_container(orch, web, env, via) -> None:  # type: ignore[no-untyped-def]
    fwd = orch.forward(env, web, host="127.0.0.1")
    try:
        assert fwd.via == via
        with urllib.request.urlopen(f"{fwd.url}/hostname", timeout=10) as answer:
            assert answer.read() == Path("/etc/hostname").read_bytes()
    finally:
        fwd.close()


def test_a_forward_through_a_chain_ending_in_sudo(orch, ssh_lab) -> None:  # type: ignore[no-untyped-def]
    """The sudo hop carries no connections: the inner host's ssh hop does (its sshd answers)."""
    fwd = orch.forward("as-free", 22, host=ssh_lab.inner_addr)
    try:
        assert fwd.via == "ssh orch-inner"
        with socket.create_connection(("127.0.0.1", fwd.port), timeout=10) as conn:
            assert conn.recv(64).startswith(b"SSH-2.0-")
    finally:
        fwd.close()


@pytest.mark.parametrize("env", ["pod", "loop-pod", "as-free"])
async def test_a_copy_stopped_half_way_leaves_nothing_through_podman_or_sudo(orch, far, tmp_path, env) -> None:  # type: ignore[no-untyped-def]
    size = 200_000_000
    src = sparse(tmp_path / "up", size)
    folder = await far.folder(env, "stop-kinds", big=size)
    put = await cancelled_at(size // 3, lambda p: orch.aput(env, str(src), f"{folder}/up",
                                                            progress=p))
    got = await cancelled_at(size // 3, lambda p: orch.aget(env, f"{folder}/big",
                                                            str(tmp_path / "got"), progress=p))
    assert put.fired is not None and got.fired is not None
    assert (await remote(orch, env, f"ls -A {folder}")).split() == ["big"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["up"]
    assert await gone(folder) == []  # podman's and sudo's processes show here too
