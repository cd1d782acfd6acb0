"""A block of lines pasted into a cell's stdin box is one display update, not one per line.

Pasting 5,000 lines sent ~4,400 updates to the page over 11 s (the page stayed busy for
seconds); output is throttled to ~10 updates a second, and the echo of a paste now is too.
Real widgets, a real `cat` run, and a DisplaySink whose updates are counted.
"""

from __future__ import annotations

import time

from orch_magics import Orchestrator, load_config_text
from orch_magics.magics.widget import StdinBox
from orch_magics.sinks.display import DisplaySink

CONFIG = ("environments: {local: {layers: []}}\n"
          "services: {cat: {command: cat, stdin_mode: interactive}}\n")


def test_a_pasted_block_is_sent_whole_with_one_update() -> None:
    updates: list[dict[str, str]] = []
    sink = DisplaySink(environment="local", layers="local", what="cat", tail=3)
    with Orchestrator(load_config_text(CONFIG)) as orch:
        live = orch.spawn("local", "cat", sinks=[sink], close_stdin=False)
        box = StdinBox(live, sink)
        sink.set_publisher(updates.append)
        began = time.monotonic()
        box.text.value = "".join(f"pasted {i}\n" for i in range(2000)) + "half"
        took = time.monotonic() - began
        # the echo of the block is one update; `cat` answering meanwhile may add the throttled
        # ones (one per interval) on a slow machine — one per line would be 2,000
        assert len(updates) <= 3 + took / sink.interval, (len(updates), took)
        assert box.text.value == "half" and box.lines_sent == 2000
        deadline = time.monotonic() + 30
        while len(live.lines) < 2000 and time.monotonic() < deadline:
            time.sleep(0.05)
        live.close_stdin()
        res = live.wait(30)
    assert res.stdout.splitlines() == [f"pasted {i}" for i in range(2000)]
