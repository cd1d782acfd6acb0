"""Batches: chunks consumed in order by one worker thread, memory bounded, failures said."""

from __future__ import annotations

import threading

import pytest

from orch_magics.sinks.batches import Batches


def test_every_chunk_is_consumed_once_in_order() -> None:
    seen: list[bytes] = []
    batches = Batches(seen.append, name="t", size=10, pending=2)
    chunks = [bytes([i]) * 7 for i in range(50)]
    for chunk in chunks:
        batches.add(chunk)
    batches.finish()
    assert seen == chunks


def test_a_failed_consume_neither_blocks_the_caller_nor_goes_unsaid() -> None:
    """review9 #4: once `consume` raised, the worker thread ended, and the next `add`s blocked
    their caller (the event loop every run shares) for ever."""
    def boom(data: bytes) -> None:
        raise ValueError("disk says no")

    batches = Batches(boom, name="t", size=10, pending=2)
    done = threading.Event()

    def feed() -> None:
        for _ in range(20):
            batches.add(b"x" * 10)
        done.set()

    threading.Thread(target=feed, daemon=True).start()
    assert done.wait(10), "add blocked after the worker's consume failed"
    with pytest.raises(ValueError, match="disk says no"):
        batches.finish()
