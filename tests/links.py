"""Links of the namespace lab made silent for a block: both ends of a veth down, so packets
vanish and nothing is reset (a host that crashed, a link or a VPN that dropped)."""

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
