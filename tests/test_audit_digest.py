"""The audit's output digest over chunk sizes a relay delivers: tiny, exactly a buffer, and
larger than several buffers, on both streams at once."""

from __future__ import annotations

import hashlib
import random

import pytest

from orch_magics.audit.digest import OutputDigest
from orch_magics.process.events import Exit, Stderr, Stdout
from orch_magics.sinks.batches import BATCH


@pytest.mark.parametrize("sizes", [
    [1, BATCH - 1, 1, 1, BATCH, 3 * BATCH + 5, 7],      # crosses the inline prefix and buffers
    [BATCH, BATCH, BATCH],                               # exactly whole buffers
    [5 * BATCH + 17],                                    # one chunk spanning six buffers
    [random.Random(7).randrange(1, 300_000) for _ in range(200)],
])
def test_digest_covers_every_byte_in_order(sizes: list[int]) -> None:
    rng = random.Random(len(sizes))
    digest = OutputDigest()
    sent: dict[type, list[bytes]] = {Stdout: [], Stderr: []}
    for size in sizes:
        kind = rng.choice((Stdout, Stderr))
        data = rng.randbytes(size)
        sent[kind].append(data)
        digest.feed(kind(data))
    digest.feed(Exit(code=0))  # not output: ignored
    out, err = digest.finish()
    for (size, sha), kind in zip((out, err), (Stdout, Stderr), strict=True):
        whole = b"".join(sent[kind])
        assert (size, sha) == (len(whole), hashlib.sha256(whole).hexdigest())


def test_without_hashing_only_bytes_are_counted() -> None:
    digest = OutputDigest(hashing=False)
    digest.feed(Stdout(b"x" * (2 * BATCH + 1)))
    digest.feed(Stderr(b"err"))
    assert digest.finish() == ((2 * BATCH + 1, None), (3, None))
