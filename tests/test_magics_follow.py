"""`%orch logs NAME -f` on a real kernel, as JupyterLab drives it: a fast run's lines go out a
batch a look, not a message a line (one per line passed the server's 1,000 messages a second
and it dropped the rest: 8,829 of 20,000 lines reached the browser, magics2 tester)."""

from __future__ import annotations

from pathlib import Path

from lab_kernel import lab_kernel

CONFIG = "environments: {local: []}\naudit: {enabled: false}\n"


def test_following_a_fast_run_sends_every_line_in_few_messages(orch_kernel: str,
                                                               tmp_path: Path) -> None:
    (tmp_path / "orch.yaml").write_text(CONFIG)
    with lab_kernel(orch_kernel) as kernel:
        assert kernel.run("load", f"%orch load {tmp_path / 'orch.yaml'}")["status"] == "ok"
        kernel.run("bg", "%%orch local --bg --name fast\nseq 1 8000")
        assert kernel.run("follow", "%orch logs fast -f -n 10000", timeout=120)["status"] == "ok"
        streams = [out for out in kernel.outputs["follow"] if out["type"] == "stream"]
        lines = "".join(out["text"] for out in streams).splitlines()
    assert [line for line in lines if not line.startswith("orch: ")] == [
        str(i) for i in range(1, 8001)]
    assert len(streams) < 100, len(streams)  # a look every 0.1 s: ~10 a second at most


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
