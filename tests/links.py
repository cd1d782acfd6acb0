"""Links of the namespace lab made silent for a block: both ends of a veth down, so packets
vanish and nothing is reset (a host that crashed, a link or a VPN that dropped); or slow: both
ends limited to a rate by a token bucket (a busy WAN link or VPN)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def _down(ends: list[tuple[str | None, str]]) -> Iterator[None]:
    """Each (namespace or None for this one, interface) down for the block, then up again."""
    def ip(ns: str | None, link: str, state: str) -> None:
        subprocess.run(["ip", *(["-n", ns] if ns else []), "link", "set", link, state],
                       check=True)

    for ns, link in ends:
        ip(ns, link, "down")
    try:
        yield
    finally:
        for ns, link in ends:
            ip(ns, link, "up")
        time.sleep(0.5)  # the addresses and routes on the link come back with it


def outer_link_down(lab: Any) -> Any:
    """This machine's side of the link to the bastion down, for the block."""
    return _down([(None, f"orchh{lab.slot}")])


def inner_link_down(lab: Any) -> Any:
    """The bastion ↔ inner host link down at both ends, for the block."""
    return _down([(lab.bastion_ns, f"orchbi{lab.slot}"), (lab.inner_ns, f"orchi{lab.slot}")])


@contextmanager
def inner_link_slow(lab: Any, rate: str, sndbuf: int = 1 << 20) -> Iterator[None]:
    """The bastion ↔ inner host link limited to `rate` (tc's units: `2mbit`) both ways, and
    the inner host's TCP send buffers to `sndbuf` bytes for connections opened in the block
    (autotuning grows them to 4 MiB, a minute at 512 kbit/s): what the link holds in flight,
    and so what an answer queues behind, is bounded."""
    ends = [(lab.bastion_ns, f"orchbi{lab.slot}"), (lab.inner_ns, f"orchi{lab.slot}")]
    sysctl = ["ip", "netns", "exec", lab.inner_ns, "sysctl", "-q"]
    was = subprocess.run([*sysctl, "-n", "net.ipv4.tcp_wmem"], check=True, capture_output=True,
                         text=True).stdout.split()
    subprocess.run([*sysctl, "-w", f"net.ipv4.tcp_wmem={was[0]} {was[1]} {sndbuf}"], check=True)
    try:
        for ns, link in ends:
            subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", link,
                            "root", "tbf", "rate", rate, "burst", "32kbit", "latency", "2s"],
                           check=True)
        yield
    finally:
        for ns, link in ends:  # both, whichever was limited
            subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", link, "root"],
                           check=False, capture_output=True)
        subprocess.run([*sysctl, "-w", f"net.ipv4.tcp_wmem={' '.join(was)}"], check=True)
