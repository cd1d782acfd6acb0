"""`%orch logs NAME -f` on a real kernel, as JupyterLab drives it: a fast run's lines go out a
batch a look, not a message a line (one per line passed the server's 1,000 messages a second
and it dropped the rest: 8,829 of 20,000 lines reached the browser, magics2 tester)."""

from __future__ import annotations

import re
from pathlib import Path

from lab_kernel import lab_kernel
from notebook_cells import notebook_with, run_notebook, stream_text

CONFIG = "environments: {local: []}\naudit: {enabled: false}\n"


#: A background run printing 2,000 lines over about two seconds, while it is followed.
FLOOD = ("%%orch local --bg --name fast\n"  # after a second: it is followed by then
         "sleep 1; for i in $(seq 1 20); do seq $((i * 100 - 99)) $((i * 100)); sleep 0.1; done")


def test_following_a_fast_run_shows_its_last_lines_in_one_display(orch_kernel: str,
                                                                   tmp_path: Path) -> None:
    """magics2: a message a line passed the server's 1,000 messages a second, which dropped
    the rest; browser14: every followed line went into the cell (200,000 lines: 3 MB, the
    page slowed down, the saved notebook grew as much). A front end's cell shows the last
    lines in one display replaced in place, and says how many it does not show."""
    (tmp_path / "orch.yaml").write_text(CONFIG)
    with lab_kernel(orch_kernel) as kernel:
        assert kernel.run("load", f"%orch load {tmp_path / 'orch.yaml'}")["status"] == "ok"
        kernel.run("bg", FLOOD)
        assert kernel.run("follow", "%orch logs fast -f -n 0", timeout=120)["status"] == "ok"
        shown = kernel.text("follow").splitlines()
        outputs = kernel.outputs["follow"]
    note = re.fullmatch(r"… (\d+) lines followed and not shown here \(%orch logs fast -n N "
                        r"shows the last N kept\)", shown[0])
    assert note is not None and len(outputs) == 1, shown[:2]  # one display, replaced
    assert shown[1:] == [*map(str, range(1962, 2001)), "orch: fast: exit 0"], shown[1:]
    assert int(note[1]) + len(shown) - 1 == 2001  # every line followed: shown or counted


def test_an_idle_runs_last_lines_are_shown_while_it_is_followed(orch_kernel: str,
                                                                tmp_path: Path) -> None:
    """review25: lines that came just after a refresh waited for the next output, which an
    idle service never sends: `listening` stayed unseen behind `starting`."""
    (tmp_path / "orch.yaml").write_text(CONFIG)
    with lab_kernel(orch_kernel) as kernel:
        assert kernel.run("load", f"%orch load {tmp_path / 'orch.yaml'}")["status"] == "ok"
        kernel.run("bg", "%%orch local --bg --name idle\n"
                         "sleep 1; echo starting; sleep 0.1; echo listening; sleep 60")
        msg_id = kernel.send("follow", "%orch logs idle -f -n 0")
        kernel.wait_for("follow", "listening", timeout=10)
        kernel.km.interrupt_kernel()
        kernel.reply(msg_id)
        kernel.run("stop", "%orch stop idle")


def test_following_headless_writes_its_first_and_last_lines(orch_kernel: str,
                                                            tmp_path: Path) -> None:
    """browser14, under nbclient: the saved notebook is not a log store either; the first
    and the last 500 followed lines are kept, and a note says how many are between."""
    (tmp_path / "orch.yaml").write_text(CONFIG)
    nb = notebook_with(f"%orch load {tmp_path / 'orch.yaml'}",
                       FLOOD.replace("seq 1 20", "seq 1 30"), "%orch logs fast -f -n 0")
    run_notebook(nb, orch_kernel, timeout=120)
    lines = stream_text(nb.cells[2]).splitlines()
    assert lines[:500] == [str(i) for i in range(1, 501)], lines[:3]
    assert lines[500] == ("… 2001 lines followed and not shown here (%orch logs fast -n N "
                          "shows the last N kept)"), lines[500]
    assert lines[501:] == [*map(str, range(2502, 3001)), "orch: fast: exit 0"], lines[-3:]

    # review25: a line too big for the head's bytes closes it; later small ones stay in order
    nb = notebook_with(f"%orch load {tmp_path / 'orch.yaml'}",
                       "%%orch local --bg --name big\nsleep 1; echo one; for c in a b c; do "
                       "head -c 60000 /dev/zero | tr '\\0' $c; echo; done; echo three",
                       "%orch logs big -f -n 0")  # a and b fill the head's 128 KiB; c not
    run_notebook(nb, orch_kernel, timeout=120)
    lines = stream_text(nb.cells[2]).splitlines()
    assert [line[:5] for line in lines] == ["one", "aaaaa", "bbbbb", "ccccc", "three",
                                            "orch:"], [line[:5] for line in lines]


def test_lines_held_for_a_restart_that_never_comes_are_counted_as_lines(tmp_path: Path) -> None:
    """review16: a pasted block is one send; held between two attempts and dropped when no
    attempt followed, it was said as "1 input(s)" (50 lines before the block went whole)."""
    from orch_magics import Orchestrator, load_config_text
    from orch_magics.magics.following import FollowedRun

    config = CONFIG + ("services:\n  flaky: {command: 'exit 1', stdin_mode: streaming, "
                       "restart: on-failure, max_restarts: 1}\n")
    with Orchestrator(load_config_text(config), log_dir=tmp_path,
                      restart_backoff=(30.0, 30.0)) as orch:
        first = orch.start("local", "flaky", name="f")
        followed = FollowedRun(first)  # type: ignore[arg-type]
        first.wait(timeout=30)  # over; the next attempt waits out its back-off
        followed.send("a\nb\nc\n")  # between two attempts: held for the next one
        followed.send("d")  # a line without its newline is one too
        first.supervisor.request_stop()  # type: ignore[attr-defined]  # no attempt follows
        assert followed.end() == 4


def test_a_followed_progress_bar_shows_its_last_state_on_one_line(orch_kernel: str,
                                                                  tmp_path: Path) -> None:
    """browser17: under `%orch logs NAME -f` each `\\r` frame of a progress bar was a row of
    its own (300 frames, 305 rows): a display's text/plain breaks lines at `\\r`, where a
    stream rewrites them. The followed view shows a line as a terminal does."""
    (tmp_path / "orch.yaml").write_text(CONFIG)
    with lab_kernel(orch_kernel) as kernel:
        assert kernel.run("load", f"%orch load {tmp_path / 'orch.yaml'}")["status"] == "ok"
        kernel.run("bg", "%%orch local --bg --name bar\nsleep 1; echo starting; "
                         "for i in $(seq 1 50); do printf '\\rprogress %d%%' $i; sleep 0.01; "
                         "done; echo; echo done")
        assert kernel.run("follow", "%orch logs bar -f -n 0", timeout=60)["status"] == "ok"
        shown = kernel.text("follow").splitlines()
    assert shown[-4:] == ["starting", "progress 50%", "done", "orch: bar: exit 0"], shown
    assert "\r" not in kernel.text("follow") and len(shown) <= 6, shown
