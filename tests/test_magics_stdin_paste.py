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


def test_on_a_terminal_the_box_sends_ctrl_d_and_echoes_nothing_itself() -> None:
    """A tty run's terminal echoes what it reads, or hides it: the box's own `› line` showed
    a password read under `stty -echo` and saved it in the notebook; and EOF closed the box
    though ^D ends one read, not the terminal: a program reading again had only Stop left
    (browser2 tester)."""
    script = ("stty -echo; printf 'Password: '; read -r p; stty echo; echo; echo len=${#p}; "
              "cat; echo AFTER-EOF; read -r x; echo got:$x")
    sink = DisplaySink(environment="local", layers="local", what="tty", tail=20)
    with Orchestrator(load_config_text(CONFIG)) as orch:
        live = orch.spawn("local", command=["sh", "-c", script], sinks=[sink],
                          close_stdin=False, plan=orch.plan("local", command=["sh", "-c", script],
                                                            tty=True))
        box = StdinBox(live, sink)
        _wait_for(lambda: any("Password:" in line for line in live.lines))  # typed before
        # `stty -echo` ran, the password was echoed (a race the test lost on a busy machine)
        box.text.value = "hunter2\n"
        _wait_for(lambda: "len=7" in live.lines)
        box.text.value = "typed\n"  # to cat: the terminal echoes it, cat prints it again
        box.eof()
        _wait_for(lambda: "AFTER-EOF" in live.lines)
        assert not box.text.disabled and not box.eof_button.disabled
        box.text.value = "again\n"
        res = live.wait(30)
    assert res.ok and res.lines[-1] == "got:again", res.lines
    shown = sink.render()["text/plain"]
    assert "hunter2" not in shown and "hunter2" not in res.stdout
    assert "›" not in shown and shown.count("typed") == 2  # the terminal's echo, then cat's


def _wait_for(condition, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_lines_typed_for_a_run_that_never_started_are_said_unsent() -> None:
    """browser16: lines typed while an ssh hop was still connecting, for a run that then
    failed to connect, were reported as `2 lines sent from the box`; no process had them."""
    import socket

    from orch_magics import LayerError

    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never says a word
    port = silent.getsockname()[1]
    config = (f"environments: {{silent: [{{type: ssh, config: {{host: 127.0.0.1, port: {port},"
              f" connect_timeout: 2}}}}]}}\naudit: {{enabled: false}}\n")
    sink = DisplaySink(environment="silent", layers="ssh", what="cat", tail=10)
    with silent, Orchestrator(load_config_text(config)) as orch:
        live = orch.start("silent", command="cat", sinks=[sink], close_stdin=False)
        box = StdinBox(live, sink)
        box.text.value = "one\ntwo\n"
        assert box.lines_sent == 2
        try:
            live.wait(30)
        except LayerError:
            box.never_started()
    shown = sink.render()["text/plain"]
    assert box.lines_sent == 0 and "not sent: 2 lines typed while it started (it never did)" \
        in shown, shown
