"""Finding a label's containers logs in to each host first: those logins are targets' work
too, so `--parallel` bounds them (fleets10: 200 hosts were connected within 1.5 s whatever
`--parallel 2` said, enough to exhaust a bastion's MaxStartups or the controller's fds)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from orch_magics import Orchestrator, load_config_text

pytestmark = pytest.mark.ssh
HOSTS = [f"127.0.4.{i}" for i in range(1, 7)]


class Silent:
    """Listeners on HOSTS that accept and never send an SSH banner, counting the connections
    open at once."""

    def __init__(self) -> None:
        self.port = 0
        self.open = self.most = self.accepted = 0
        self._lock = threading.Lock()
        self._servers: list[socket.socket] = []
        for host in HOSTS:
            server = socket.create_server((host, self.port))
            self.port = server.getsockname()[1]
            self._servers.append(server)
            threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with self._lock:
                self.open += 1
                self.accepted += 1
                self.most = max(self.most, self.open)
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        with conn:
            while conn.recv(4096):  # until the client gives up and closes
                pass
        with self._lock:
            self.open -= 1

    def close(self) -> None:
        for server in self._servers:
            server.close()


@pytest.fixture
def silent() -> Iterator[Silent]:
    listeners = Silent()
    yield listeners
    listeners.close()


def test_a_label_fleet_logs_in_to_at_most_parallel_hosts_at_once(silent: Silent) -> None:
    hosts = ", ".join(HOSTS)
    orch = Orchestrator(load_config_text(
        f"environments:\n  apps:\n    layers:\n"
        f"      - {{type: ssh, config: {{host: [{hosts}], port: {silent.port}, "
        f"connect_timeout: 1}}}}\n"
        f"      - {{type: docker, config: {{label: app=web}}}}\n"
        f"services:\n  name: {{command: hostname}}\n"))
    try:
        res = orch.run("apps", "name", parallel=2)
    finally:
        orch.close()
    assert silent.accepted == len(HOSTS) and 1 <= silent.most <= 2, (silent.accepted,
                                                                     silent.most)
    assert sorted(res.states.values()) == ["failed"] * len(HOSTS)
