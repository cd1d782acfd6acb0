"""Live runs and the cells that show them, in a real kernel driven as JupyterLab drives it:
running a cell again, the kernel shutting down under live runs, and how a stopped run ends."""

from __future__ import annotations

import os
import socket
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lab_kernel import lab_kernel
from processes import left_after, processes_with

CONFIG = textwrap.dedent("""
    environments:
      local: {layers: []}
      prod: {layers: [], protected: true}
      prod-0: {layers: [], protected: true, confirm_ttl: 0}
    services:
      cat: {command: cat, stdin_mode: streaming}
      guarded-cat: {command: cat, stdin_mode: streaming, dangerous: true}
      flaky:  # fails its first time, after reading a line
        command: 'read l; echo "got $l"; [ -e "$MARK" ] && exit 0; : > "$MARK"; exit 3'
        stdin_mode: streaming
        restart: on-failure
        max_restarts: 2
      flaky-eof:  # fails after each line it reads; says when it got EOF instead
        command: 'echo attempt; IFS= read -r l || { echo "eof seen"; exit 0; }; echo "got $l"; sleep 5 & exit 3'
        stdin_mode: streaming
        restart: on-failure
        max_restarts: 3
      sleepy: {command: 'echo up; sleep 60'}
      hello: {command: 'echo hello'}
      steps:  # each waits for its file, so the test sees every stage while it lasts
        pre_commands: [{command: 'echo pre-start; while [ ! -e "$GO/pre" ]; do sleep 0.05; done'}]
        command: 'echo main'
        post_commands: [{command: 'echo post-start; while [ ! -e "$GO/post" ]; do sleep 0.05; done',
                         when: always}]
      closer: {command: 'read -r l; echo "got:$l"; exec 0<&-; echo closed; sleep 30',
               stdin_mode: streaming}
      stubborn:
        command: trap '' INT TERM; echo up; while :; do sleep 0.2; done
        stdin_mode: streaming
""")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def load(kernel, tmp_path: Path) -> None:
    (tmp_path / "orch.yaml").write_text(CONFIG)
    assert kernel.run("load", f"%orch load {tmp_path / 'orch.yaml'}")["status"] == "ok"


def test_running_a_cell_again_stops_its_own_stdin_run(orch_kernel: str, tmp_path: Path) -> None:
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        assert kernel.run("c1", "%orch local cat --out c")["status"] == "ok"
        kernel.run("keep", "first = c\nc.send_line('hello')")
        kernel.wait_for("c1", "hello")
        kernel.run("pid", "print('PID', first.pid)")
        pid = int(kernel.text("pid").split()[1])
        assert alive(pid)
        assert kernel.run("c1", "%orch local cat --out c")["status"] == "ok"  # Shift+Enter again
        assert kernel.text("c1").startswith("stopped cat, the run this cell started when it "
                                            "last ran\n")
        assert not alive(pid)  # stopped before the new run started, not orphaned
        kernel.run("check", "print(first.state, first.result().interrupted, c is first, "
                            "c.state)\n%orch ps")
        said = kernel.text("check")
        assert said.startswith("stopped True False running\n"), said
        rows = [line for line in said.splitlines()[2:] if line.strip()]
        assert len(rows) == 1 and rows[0].split()[:4] == ["cat", "local", "cat", "running"]
        # two magics in one execution of a cell: the second does not stop the first
        kernel.run("c2", "a = %orch local cat\nb = %orch local cat")
        kernel.run("check2", "print(a.state, b.state, a.name, b.name)\nfirst2 = a, b")
        assert kernel.text("check2") == "running running cat-1 cat-2\n"
        # ... and running that cell again stops both of them (notebook4: only the last one)
        kernel.run("c2", "a = %orch local cat\nb = %orch local cat")
        assert kernel.text("c2").startswith("stopped cat-1, the run this cell started when it last "
                                     "ran\nstopped cat-2, the run this cell started when it "
                                     "last ran\n"), kernel.text("c2")
        kernel.run("check3", "print(*(r.state for r in first2), a.state, b.state)")
        assert kernel.text("check3") == "stopped stopped running running\n"


def test_a_cell_run_again_without_its_run_stops_the_run_it_started(
        orch_kernel: str, tmp_path: Path) -> None:
    """notebook4: edited to other code (or to a line with a mistake) and run again, the cell
    wiped the box of its run, which went on where only %orch ps could find it."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        for again in ("x = 1", "%orch local no-such-service"):
            kernel.run("c1", "%orch local cat --out c")
            kernel.run("pid", "print('PID', c.pid, c.name)")
            _, pid, name = kernel.text("pid").split()
            assert alive(int(pid))
            kernel.run("c1", again)
            assert kernel.text("c1").startswith(
                f"stopped {name}, the run this cell started when it last ran\n"), \
                kernel.text("c1")
            assert not alive(int(pid))



def test_a_refused_run_again_leaves_the_cell_s_last_run_going(orch_kernel: str,
                                                              tmp_path: Path) -> None:
    """Run again in a protected environment and refused at the question, a box cell had
    already stopped the run it started before (held-out tester browser3): the old run is
    stopped only once the new one is admitted."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        pids = []
        for answer in ("prod", "nope", "prod"):
            msg_id = kernel.send("c1", "%orch prod guarded-cat --out c")
            assert "'prod' is a protected environment" in \
                kernel.kc.get_stdin_msg(timeout=30)["content"]["prompt"]
            kernel.kc.input(answer)
            reply = kernel.reply(msg_id)
            assert (reply["status"] == "ok") == (answer == "prod"), kernel.text("c1")
            said = kernel.text("c1")
            assert ("stopped guarded-cat" in said) == (answer == "prod" and pids != []), said
            assert ("guarded-cat, started when this cell last ran, is still running (this run "
                    "did not start): %orch stop guarded-cat stops it\n" in said) == (
                answer == "nope"), said
            kernel.run("pid", "print('PID', c.pid)")
            pids.append(int(kernel.text("pid").split()[1]))
        assert pids[0] == pids[1] and pids[2] != pids[0]  # the refused run left c as it was
        assert not alive(pids[0]) and alive(pids[2])

def test_a_dry_run_or_help_in_the_cell_again_leaves_its_run_going(orch_kernel: str,
                                                                  tmp_path: Path) -> None:
    """magics17: adding --dry-run (or --help) to a stdin-box cell and running it again INT-
    killed the live run ("stopped cat, the run this cell started when it last ran"), in a
    protected environment too, with nobody asked. They show, and change nothing."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        kernel.run("c1", "%orch local cat --out c")
        kernel.run("pid", "print('PID', c.pid)")
        pid = int(kernel.text("pid").split()[1])
        for again in ("%orch local cat --dry-run", "%orch local cat --help",
                      "%orch status cat", "%orch ps"):  # magics18: the run it looks at
            assert kernel.run("c1", again)["status"] == "ok", kernel.text("c1")
            said = kernel.text("c1")
            assert "stopped" not in said and ("cat, started when this cell last ran, is still "
                                              "running (this run did not start)") in said, said
            assert alive(pid)
        kernel.run("c1", "%orch restart cat")  # magics18: restarted, then stopped by the cell
        time.sleep(1)
        kernel.run("pid", "h = %orch status cat\nprint('PID', h.pid)")
        restarted = int(kernel.text("pid").split()[1])
        assert "stopped cat" not in kernel.text("c1"), kernel.text("c1")
        assert restarted != pid and alive(restarted), (pid, restarted)
        pid = restarted
        kernel.run("c1", "%orch local cat --out c")  # run for real: then it is replaced
        assert kernel.text("c1").startswith("stopped cat, the run this cell started when it "
                                            "last ran\n"), kernel.text("c1")
        assert not alive(pid)


def test_a_stdin_run_without_a_box_says_its_name_and_how_to_feed_it(orch_kernel: str,
                                                                    tmp_path: Path) -> None:
    """browser19: with Orch.stdin_widget off, the cell of a streaming service returned at once
    as a named run waiting on its stdin, and said only `running`."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        kernel.run("cfg", "%config Orch.stdin_widget = False")
        assert kernel.run("c1", "%orch local cat")["status"] == "ok"
        assert ("started in the background as cat, waiting for its stdin: h = %orch status "
                "cat, then h.send_line(…) and h.close_stdin(); %orch stop cat stops it") \
            in kernel.text("c1"), kernel.text("c1")
        kernel.run("feed", "h = %orch status cat\nh.send_line('hi'); h.close_stdin()")
        assert "hi" in kernel.wait_for("c1", "exit 0"), kernel.text("c1")


def test_running_a_cell_again_leaves_its_bg_run_going_and_says_so(
        orch_kernel: str, tmp_path: Path) -> None:
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        kernel.run("bg", "%orch local sleepy --bg --out s")
        assert "started in the background as sleepy: %orch stop sleepy stops it\n" \
            in kernel.text("bg")
        kernel.run("keep", "first = s")
        kernel.run("bg", "%orch local sleepy --bg --out s")
        said = kernel.text("bg")
        assert said.startswith(
            "sleepy, started when this cell last ran, is still running (--bg and --name runs "
            "outlive their cell): %orch stop sleepy stops it\n")
        # the run the cell started now has a name of its own, and the cell says it
        assert "started in the background as sleepy-1: %orch stop sleepy-1 stops it\n" in said
        kernel.run("check", "print(first.state, s.name, s.state)")
        assert kernel.text("check") == "running sleepy-1 running\n"


def test_running_a_named_cell_again_starts_name_1_beside_the_run_still_going(
        orch_kernel: str, tmp_path: Path) -> None:
    """browser5: with --name, the cell said the old run goes on, then drew a failed status
    bar and raised "a run named 'u1' is still running"; docs/magics.md promises `NAME-1`."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        kernel.run("bg", "%orch local sleepy --bg --name u1 --out s")
        kernel.run("bg", "%orch local sleepy --bg --name u1 --out s")
        said = kernel.text("bg")
        assert said.startswith(
            "u1, started when this cell last ran, is still running (--bg and --name runs "
            "outlive their cell): %orch stop u1 stops it\n"), said
        assert "started in the background as u1-1: %orch stop u1-1 stops it\n" in said, said
        assert "failed" not in said and "Error" not in said, said
        kernel.run("bg", "%orch local sleepy --bg --name u1 --out s")  # magics14: the third
        said = kernel.text("bg")  # said 'u1' still running (two runs ago) and failed
        assert "started in the background as u1-2: %orch stop u1-2 stops it\n" in said, said
        assert "failed" not in said and "Error" not in said, said
        kernel.run("check", "print(s.name, s.state)\n%orch stop u1\n%orch stop u1-1\n"
                            "%orch stop u1-2")
        assert kernel.text("check").startswith("u1-2 running\n"), kernel.text("check")


def test_capture_around_orch_captures_the_run_as_text(orch_kernel: str, tmp_path: Path) -> None:
    """`%%capture` (and `capture_output()`) keep outputs and take no display updates: the run
    blocks and its output is captured as text, as under nbclient, instead of a traceback."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        assert kernel.run("cap", "%%capture cap\n%orch local hello --out r")["status"] == "ok"
        kernel.run("bg", "%%capture cap2\n%orch local sleepy --bg --name sl")
        kernel.run("py", "from IPython.utils.capture import capture_output\n"
                         "with capture_output() as cap3:\n"
                         "    r3 = get_ipython().run_line_magic('orch', 'local hello')")
        assert kernel.text("cap") == kernel.text("bg") == kernel.text("py") == ""
        kernel.run("check", "print(repr(r.stdout), repr(r3.stdout), cap.stdout.splitlines()[0],"
                            " cap3.stdout.splitlines()[0])\nprint(cap2.stdout, end='')\n"
                            "%orch stop sl")
        said = kernel.text("check").splitlines()
        assert said[0] == "'hello\\n' 'hello\\n' hello hello", said
        assert said[1].startswith("started in the background as sl: %orch logs sl"), said


def test_a_kernel_shutting_down_ends_every_live_cell_in_words(orch_kernel: str,
                                                              tmp_path: Path) -> None:
    """Before, both cells said `running` for ever and the box kept its buttons."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        kernel.run("box", "%orch local cat")
        kernel.run("bg", "%orch local sleepy --bg")
        kernel.wait_for("bg", "up")
        kernel.km.shutdown_kernel()  # a shutdown_request, as "Shut Down Kernel" sends
        kernel.drain(1.0)
        for cell in ("box", "bg"):
            assert "✗ stopped: the kernel shut down" in kernel.text(cell), kernel.text(cell)
            assert "running" not in kernel.text(cell)
        assert "[stdin of cat: closed when the kernel shut down, 0 lines sent from the box]" \
            in kernel.text("box")


@pytest.mark.parametrize("script", ["trap '' INT; echo start; sleep 1004",
                                    "trap '' INT TERM; echo start; sleep 1004"],
                         ids=["ignores-int", "ignores-int-and-term"])
@pytest.mark.parametrize("how", ["manager", "request"])
def test_a_kernel_shutting_down_ends_a_blocked_cell_in_words(orch_kernel: str, tmp_path: Path,
                                                             script: str, how: str) -> None:
    """jupyter_client interrupts a busy kernel before it asks it to shut down: the blocked
    cell read `✗ interrupted`, as if a person had pressed Interrupt, or (a process that
    ignores INT and TERM) was killed mid-stop with a neutral `killed by SIGKILL` (notebook5).
    (A process that INT ends may end before the shutdown request arrives: an interrupt then.)
    magics25: a shutdown request alone (a kernel gateway's, a raw client's) left
    `RunError: … was interrupted` under `✗ stopped: the kernel shut down`."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        kernel.send("blk", f"%%orch local\n{script}")
        kernel.wait_for("blk", "start")
        if how == "manager":
            kernel.km.shutdown_kernel()
        else:
            kernel.kc.shutdown()
        kernel.drain(1.0)
        said = kernel.text("blk").rstrip().splitlines()
        assert " · ✗ stopped: the kernel shut down · " in said[-2], said
        assert said[-1].startswith("RunInterrupted: local/trap ") and said[-1].endswith(
            "s: the kernel shut down"), said
        assert not any("interrupted" in line for line in said), said
    deadline = time.monotonic() + 10
    while processes_with("sleep 1004"):
        assert time.monotonic() < deadline, processes_with("sleep 1004")
        time.sleep(0.1)


@contextmanager
def silent_server() -> Iterator[int]:
    """A TCP port that accepts and never says a word: an ssh connection to it hangs."""
    server = socket.create_server(("127.0.0.1", 0))
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def test_stopping_or_timing_out_while_connecting_reads_right(orch_kernel: str,
                                                             tmp_path: Path) -> None:
    """Before: `✗ failed, interrupted, failed: stopped before the process started`; and
    while it connected the cell said `running · 20s · 0 B`, where `ps` said starting
    (browser14: a person blames the command, not the hop)."""
    with silent_server() as port, lab_kernel(orch_kernel) as kernel:
        hang = (f"  hang:\n    layers:\n      - {{type: ssh, config: {{host: 127.0.0.1, "
                f"port: {port}, user: nobody, connect_timeout: 60}}}}\n")
        (tmp_path / "orch.yaml").write_text(CONFIG.replace("environments:\n",
                                                           "environments:\n" + hang))
        kernel.run("load", f"%orch load {tmp_path / 'orch.yaml'}")
        kernel.run("box", "%orch hang cat --out c")
        said = kernel.wait_for("box", "s · stdout")  # refreshed while it connects
        assert " · starting · " in said and " · running · " not in said, said
        kernel.run("stop", "c.interrupt()")
        said = kernel.wait_for("box", "✗")
        assert "✗ interrupted: stopped before the process started" in said, said
        assert "[stdin of cat: closed, 0 lines sent from the box]" in said
        kernel.run("late", "%orch hang cat --timeout 1")
        said = kernel.wait_for("late", "✗")
        assert "✗ timed out before the process started" in said, said
        kernel.run("script", "%%orch local --stdin\ncat")
        kernel.run("eof", "_.close_stdin()")
        said = kernel.wait_for("script", "exit 0")
        assert "[stdin of the script: closed, 0 lines sent from the box]" in said, said


def test_a_kernel_interrupt_says_stopping_while_a_stubborn_process_is_taken_down(
        orch_kernel: str, tmp_path: Path) -> None:
    """The toolbar's ■ left the cell saying `running` for the seconds INT and TERM were
    ignored (the Stop button said `stopping…`): a person presses it again (tester browser)."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        msg_id = kernel.send("cell", "%%orch local\ntrap '' INT TERM; echo up; sleep 30")
        kernel.wait_for("cell", "up")
        kernel.km.interrupt_kernel()
        said = kernel.wait_for("cell", "stopping…", timeout=3)
        assert "· running ·" not in said.splitlines()[-1], said
        kernel.reply(msg_id, timeout=30)
        said = kernel.wait_for("cell", "✗", timeout=30)
        assert "✗ interrupted, killed by SIGKILL" in said, said


def test_an_interrupt_stops_a_run_in_a_cell_that_uses_top_level_await(
        orch_kernel: str, tmp_path: Path) -> None:
    """magics19: in a cell that awaits, ipykernel turns ■ into a cancellation of the cell's
    coroutine, which a blocking wait never saw: the run went on for ever (a finite one ended
    `✓ exit 0`), and a second ■ changed nothing. So did `h.wait()` on a background run, and
    `await orch.arun(…)` until its command printed."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        msg_id = kernel.send("cell", "import asyncio\nawait asyncio.sleep(0.1)\nget_ipython()"
                                     ".run_cell_magic('orch', 'local', 'echo up; sleep 1007')")
        kernel.wait_for("cell", "up")
        kernel.km.interrupt_kernel()
        kernel.reply(msg_id, timeout=30)
        said = kernel.wait_for("cell", "✗", timeout=30)
        assert "✗ interrupted" in said and "RunInterrupted" in said, said
        kernel.run("bg", "h = %orch start local sleepy --name waited")
        msg_id = kernel.send("wait", "import asyncio\nawait asyncio.sleep(0.1)\nh.wait()")
        time.sleep(1)
        kernel.km.interrupt_kernel()
        assert kernel.reply(msg_id, timeout=30)["status"] == "error"
        kernel.run("stop", "%orch stop waited")
        # `await orch.arun(…)`: the cancellation waited for the command's next output
        kernel.run("api", f"from orch_magics import Orchestrator\n"
                          f"o = Orchestrator({str(tmp_path / 'orch.yaml')!r})")
        msg_id = kernel.send("arun", "await o.arun('local', command='echo before; "
                                     "exec sleep 1007')")
        time.sleep(2)
        kernel.km.interrupt_kernel()
        reply = kernel.reply(msg_id, timeout=10)  # magics20: a bare CancelledError, the output
        assert (reply["status"], reply["ename"]) == ("error", "RunCancelled"), reply  # lost
        assert reply["traceback"][0].startswith("RunCancelled: local/"), reply["traceback"]
        kernel.run("kept", "import sys; print(repr(sys.last_value.result.stdout))")
        assert kernel.wait_for("kept", "before") == "'before\\n'\n", kernel.text("kept")
        # review38: a KeyboardInterrupt raised in gather's tasks left the loop: kernel dead
        msg_id = kernel.send("both", "await asyncio.gather(o.arun('local', command='exec "
                                     "sleep 1007'), o.arun('local', command='exec sleep 1007'))")
        time.sleep(2)
        kernel.km.interrupt_kernel()
        assert kernel.reply(msg_id, timeout=10)["status"] == "error"
        assert kernel.run("alive", "print('alive')")["status"] == "ok"
        # review37: two aruns that ended in the order they began left a handler behind, and
        # a blocking run after them in the cell ignored ■
        msg_id = kernel.send("gather", "await asyncio.gather(o.arun('local', command='true'), "
                                       "o.arun('local', command='sleep 0.3'))\n"
                                       "print('both'); o.run('local', command='exec sleep 1007')")
        kernel.wait_for("gather", "both")
        time.sleep(1)
        kernel.km.interrupt_kernel()
        assert kernel.reply(msg_id, timeout=10)["status"] == "error"
    assert not left_after(lambda: processes_with("sleep 1007"))


def test_stop_says_stopping_while_a_stubborn_process_is_taken_down(orch_kernel: str,
                                                                   tmp_path: Path) -> None:
    """Before, the cell said `running` for the seconds INT and TERM were ignored."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        kernel.run("box", "%orch local stubborn")
        kernel.wait_for("box", "up")
        kernel.click("Stop")
        said = kernel.wait_for("box", "stopping…", timeout=3)
        assert "· running ·" not in said.splitlines()[-2], said
        said = kernel.wait_for("box", "✗", timeout=30)
        assert "✗ interrupted, killed by SIGKILL" in said, said


def test_a_box_cell_follows_its_named_run_across_restarts(orch_kernel: str,
                                                          tmp_path: Path) -> None:
    """Restarted by its policy, a box run went on with its stdin open but no box to reach it,
    under a cell that said it had failed (held-out tester browser3; known since issue 3). The
    cell now says how the attempt ended, shows the next one, and its box writes to it."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        kernel.run("env", f"%env MARK={tmp_path / 'mark'}")
        assert kernel.run("c1", "%orch local flaky --out c")["status"] == "ok"
        kernel.type("one\n")
        said = kernel.wait_for("c1", "restart 1/2 in 1.00s")
        assert "got one" in said and "✗" not in said, said
        assert "[stdin box of flaky: live while the run lasts]" in said
        # browser21: the status read the last exit, its clock stopped, for the back-off
        said = kernel.wait_for("c1", "exit 3, restarting", timeout=5)
        kernel.wait_for("c1", "running", timeout=10)  # the next attempt, in the same view
        kernel.type("two\n")
        said = kernel.wait_for("c1", "✓ exit 0", timeout=30)
        assert said.index("got one") < said.index("restart 1/2") < said.index("got two"), said
        assert "[stdin of flaky: closed, 2 lines sent from the box]" in said, said
        assert "stdin 8 B" in said, said  # browser15: the last attempt's 4 B alone was said
        kernel.run("ps", "%orch ps")
        row = kernel.text("ps").split("\n")[1].split()
        assert row[:4] == ["flaky", "local", "flaky", "exited"] and row[-1] == "0", row


def test_a_box_cell_follows_its_run_through_a_manual_restart(orch_kernel: str,
                                                             tmp_path: Path) -> None:
    """`%orch restart` of a box run: its new attempt had no box anywhere, and its output went
    nowhere on the page. The cell's view and box now go on with it."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        assert kernel.run("c1", "%orch local cat --out c")["status"] == "ok"
        kernel.type("first\n")
        kernel.wait_for("c1", "\nfirst\n")
        assert kernel.run("r", "%orch restart cat")["status"] == "ok"
        said = kernel.wait_for("c1", "orch: cat: interrupted, killed by SIGINT (stopped)\n"
                                     "orch: cat: restart 1 asked for")
        kernel.wait_for("c1", "running")
        kernel.type("second\n")
        kernel.wait_for("c1", "\nsecond\n")
        kernel.click("EOF")
        said = kernel.wait_for("c1", "✓ exit 0")
        assert said.index("first") < said.index("restart 1 asked for") < said.index("second")
        assert "[stdin of cat: closed, 2 lines sent from the box]" in said, said


def test_stop_in_the_box_of_a_restarting_run_ends_the_run(orch_kernel: str,
                                                          tmp_path: Path) -> None:
    """Stop interrupted the attempt only, which a restart policy then restarted."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        kernel.run("env", f"%env MARK={tmp_path / 'never'}/x")  # cannot be made: fails each time
        assert kernel.run("c1", "%orch local flaky --out c")["status"] == "ok"
        kernel.type("one\n")
        kernel.wait_for("c1", "restart 1/2 in 1.00s")
        kernel.wait_for("c1", "running", timeout=10)
        kernel.click("Stop")
        said = kernel.wait_for("c1", "✗ interrupted", timeout=30)
        time.sleep(2.5)  # a second attempt's back-off (2 s) would be over
        kernel.drain(0.3)
        assert "restart 2/2" not in kernel.text("c1"), kernel.text("c1")
        assert "(stopped)" in said


def test_a_line_typed_between_two_attempts_goes_to_the_next(orch_kernel: str,
                                                            tmp_path: Path) -> None:
    """Typed during the back-off, a line was echoed as sent and lost (review11)."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        kernel.run("env", f"%env MARK={tmp_path / 'mark'}")
        assert kernel.run("c1", "%orch local flaky --out c")["status"] == "ok"
        kernel.type("one\n")
        kernel.wait_for("c1", "restart 1/2 in 1.00s")
        kernel.type("two\n")  # the next attempt starts in a second
        said = kernel.wait_for("c1", "✓ exit 0", timeout=30)
        assert "got two" in said, said


def test_a_finished_cell_keeps_its_verdict_when_its_run_is_restarted(orch_kernel: str,
                                                                     tmp_path: Path) -> None:
    """`%orch restart` of a box run that had ended took over its finished cell: its verdict
    and audit id gave way to "running" (review11)."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        assert kernel.run("c1", "%orch local cat --out c")["status"] == "ok"
        kernel.type("first\n")
        kernel.wait_for("c1", "\nfirst\n")
        kernel.click("EOF")
        before = kernel.wait_for("c1", "[stdin of cat: closed, 1 line sent from the box]")
        assert "✓ exit 0 · audit" in before
        assert kernel.run("r", "%orch restart cat")["status"] == "ok"
        assert kernel.text("r").startswith("restarted cat (attempt 2); see %orch logs cat")
        kernel.run("stop", "%orch stop cat")
        kernel.drain(0.5)
        assert kernel.text("c1") == before


def test_an_interrupted_restart_still_ends_the_cell_it_left(orch_kernel: str,
                                                            tmp_path: Path) -> None:
    """Interrupted while the old attempt was being stopped, `%orch restart` showed a
    traceback, and the run's cell followed nothing for ever: no verdict, a live box (review11)."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        assert kernel.run("c1", "%orch local stubborn --out c")["status"] == "ok"
        kernel.wait_for("c1", "up")
        msg_id = kernel.send("r", "%orch restart stubborn")
        time.sleep(1)
        kernel.km.interrupt_kernel()
        assert kernel.reply(msg_id)["status"] == "error"
        assert kernel.text("r") == ("KeyboardInterrupt: the restart of 'stubborn' was "
                                    "interrupted: %orch ps shows where its run is\n")
        said = kernel.wait_for("c1", "[stdin of stubborn: closed", timeout=30)
        assert "✗" in said, said


def test_a_handle_display_follows_its_named_run_across_restarts(orch_kernel: str,
                                                                tmp_path: Path) -> None:
    """`%orch status NAME` shows the attempt running then; its display froze at that attempt's
    end (`restarting`, unstamped) while the run went on as attempts 2, 3 (held-out tester
    magics3). It now shows the attempt running now, stamped, and the run's end, unstamped."""
    (tmp_path / "orch.yaml").write_text(
        "environments: {local: {layers: []}}\n"
        "services:\n  waiter:\n    command: 'echo up; read l; exit 3'\n"
        "    stdin_mode: streaming\n    restart: on-failure\n    max_restarts: 5\n")
    with lab_kernel(orch_kernel) as kernel:
        assert kernel.run("load", f"%orch load {tmp_path / 'orch.yaml'}")["status"] == "ok"
        assert kernel.run("start", "h = %orch start local waiter")["status"] == "ok"
        kernel.run("st", "%orch status waiter")
        first = kernel.wait_for("st", "running")
        assert "as of" in first and "restart" not in first, first
        kernel.run("fail", "h.send_line('x')")
        said = kernel.wait_for("st", "restarting")
        assert "as of" in said, said
        said = kernel.wait_for("st", "1 restart(s)", timeout=10)
        kernel.wait_for("st", "running", timeout=10)
        assert "as of" in kernel.text("st")
        kernel.run("again", "%orch restart waiter")
        said = kernel.wait_for("st", "2 restart(s)", timeout=20)
        assert "running" in said and "as of" in said, said
        kernel.run("old", "h")  # attempt 1's handle, shown after the hand-over: the run now
        said = kernel.wait_for("old", "running", timeout=10)
        assert "2 restart(s)" in said and "as of" in said, said
        kernel.run("stop", "%orch stop waiter")
        for cell in ("st", "old"):
            said = kernel.wait_for(cell, "stopped", timeout=30)
            assert "2 restart(s)" in said and "as of" not in said, said
            assert said.count("<NamedRun") == 1, said  # one line, replaced in place


def test_an_interrupted_wait_on_a_live_handle_is_one_line(orch_kernel: str,
                                                         tmp_path: Path) -> None:
    """notebook4: a kernel interrupt during `h.wait()` showed an 11-line traceback ending in
    RunInterrupted, which the blocking `%%orch` cell shows as one line."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        kernel.run("box", "h = %orch local cat")
        msg_id = kernel.send("wait", "h.wait()")
        time.sleep(1)
        kernel.km.interrupt_kernel()
        assert kernel.reply(msg_id, timeout=30)["status"] == "error"
        errors = [out for out in kernel.outputs["wait"] if out["type"] == "error"]
        assert [e["traceback"] for e in errors] == [
            [f"RunInterrupted: local/cat was interrupted after {errors[0]['evalue'].split()[-1]}"]
        ], errors


def test_a_line_refused_for_a_mistake_at_admission_stops_the_cell_s_last_run(
        orch_kernel: str, tmp_path: Path) -> None:
    """review13: a run refused at admission for a mistake nobody was asked about (a service
    outside the environment's allow list) left the old stdin run going, boxless, as if a
    person had said no."""
    with lab_kernel(orch_kernel) as kernel:
        (tmp_path / "orch.yaml").write_text(CONFIG.replace(
            "environments:\n", "environments:\n  narrow: {layers: [], allow_services: [hello]}\n"))
        assert kernel.run("load", f"%orch load {tmp_path / 'orch.yaml'}")["status"] == "ok"
        kernel.run("c1", "%orch local cat --out c")
        kernel.run("pid", "print('PID', c.pid)")
        pid = int(kernel.text("pid").split()[1])
        kernel.run("c1", "%orch narrow cat")
        said = kernel.text("c1")
        assert said.startswith("stopped cat, the run this cell started when it last ran\n"), said
        assert not alive(pid)


def test_an_interrupt_while_a_cell_stops_its_last_run_or_unloads_is_one_line(
        orch_kernel: str, tmp_path: Path) -> None:
    """notebook5: Interrupt pressed while a re-run cell waited for its stubborn stdin run to
    end (INT, TERM, then KILL: seconds) showed a 60-line traceback through orch's insides, and
    an interrupted %reload_ext left the old extension half unloaded, saying nothing."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        kernel.run("c1", "%orch local stubborn")
        kernel.wait_for("c1", "up")
        request = kernel.send("c1", "%orch local stubborn")  # run again: stops the first
        time.sleep(1.0)
        kernel.km.interrupt_kernel()
        assert kernel.reply(request)["status"] == "error"
        said = kernel.text("c1")
        assert said == ("KeyboardInterrupt: waiting for 'stubborn', the run this cell started "
                        "when it last ran, to stop was interrupted; it is still being stopped "
                        "(INT, TERM, KILL; a clean-up post command that runs is ended too), and "
                        "the cell started nothing: %orch ps shows when it has ended\n"), said
        kernel.run("c2", "s = %orch local stubborn --name second")
        kernel.wait_for("c2", "up")
        request = kernel.send("reload", "%reload_ext orch_magics")
        time.sleep(1.0)
        kernel.km.interrupt_kernel()
        assert kernel.reply(request)["status"] == "error"
        assert kernel.text("reload").endswith(
            "KeyboardInterrupt: orch_magics is unloaded, but waiting for its runs to stop was "
            "interrupted: they are still being stopped (INT, TERM, KILL); %load_ext orch_magics "
            "loads it again\n"), kernel.text("reload")
        kernel.run("gone", "%orch ps")
        assert "UsageError: Line magic function `%orch` not found" in kernel.text("gone")
        assert kernel.run("again", "%load_ext orch_magics")["status"] == "ok"
        assert "already loaded" not in kernel.text("again")  # review14: IPython thought so
        kernel.run("back", "%orch ps")
        assert "not found" not in kernel.text("back"), kernel.text("back")
        time.sleep(4.5)  # the stops go on: INT, TERM, then KILL after a few seconds
        kernel.run("pids", "print(s.state)")
        assert kernel.text("pids") == "stopped\n", kernel.text("pids")


def test_a_box_line_the_process_can_no_longer_read_is_said_not_sent(orch_kernel: str,
                                                                   tmp_path: Path) -> None:
    """The line was echoed and counted as if it went; the box's placeholder alone said it did
    not, and a saved notebook lost that (notebook7)."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        assert kernel.run("c1", "%orch local closer --out c")["status"] == "ok"
        kernel.type("first\n")
        kernel.wait_for("c1", "\nclosed\n")
        time.sleep(0.3)  # the loop sees the pipe's end
        kernel.type("second\n")
        said = kernel.wait_for("c1", "not sent: ")
        assert said.index("› second") < said.index("not sent: "), said
        assert "not sent: closer in local: the process no longer reads its stdin" in said, said
        kernel.run("stop", "%orch stop closer")
        said = kernel.wait_for("c1", "1 line sent from the box")
        assert " · stdin 6 B" in said, said


def test_pre_and_post_commands_show_in_the_cell_as_they_run(orch_kernel: str,
                                                           tmp_path: Path) -> None:
    """magics14: a cell showed `starting` and nothing else for the whole pre command, and a
    finished-looking `exit 0` for the whole post command; their lines came when they ended.
    The CLI prints them as they come, and so does the cell now, its status saying which runs."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        kernel.run("go", f"import os; os.environ['GO'] = {str(tmp_path)!r}")
        kernel.send("c", "%orch local steps")
        said = kernel.wait_for("c", "pre-start")
        assert "main" not in said and "· pre command running ·" in said, said
        (tmp_path / "pre").touch()
        said = kernel.wait_for("c", "post-start")
        assert "· exit 0, post command running ·" in said and "✓" not in said, said
        assert said.index("pre-start") < said.index("main") < said.index("post-start"), said
        (tmp_path / "post").touch()
        said = kernel.wait_for("c", "✓ exit 0")
        assert said.count("pre-start") == said.count("post-start") == 1, said
        assert said.index("pre-start") < said.index("main") < said.index("post-start"), said


def test_eof_clicked_between_two_attempts_is_the_next_ones(orch_kernel: str,
                                                          tmp_path: Path) -> None:
    """browser17: EOF clicked while a restarting run waited to start its next attempt went to
    the attempt that had ended (it took it without a word), and the box opened again for the
    next one, which then waited for input for ever. The next attempt gets it."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        assert kernel.run("c1", "%orch local flaky-eof --out c")["status"] == "ok"
        kernel.type("one\n")
        kernel.wait_for("c1", "restart 1/3 in 1.00s")
        said = kernel.wait_for("c1", "restart 1/3 in 1.00s\nattempt\n", timeout=10)
        kernel.type("two\n")
        kernel.wait_for("c1", "restart 2/3 in 2.00s")
        kernel.click("EOF")
        said = kernel.wait_for("c1", "✓ exit 0", timeout=30)
        assert said.index("got two") < said.index("restart 2/3") < said.index("eof seen"), said


def test_running_a_forward_cell_again_replaces_its_forward(orch_kernel: str,
                                                           tmp_path: Path) -> None:
    """magics16: a `%orch forward ENV PORT --local P` cell run again failed "Address already
    in use (choose another local port)" on the port its own last run holds, and a plain one
    left one more listener at each run. Running it again closes what it opened first."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            local = probe.getsockname()[1]
        with lab_kernel(orch_kernel) as kernel:
            load(kernel, tmp_path)
            for _ in range(2):
                assert kernel.run("f", f"%orch forward local {port} --local {local}")[
                    "status"] == "ok", kernel.text("f")
                assert kernel.run("g", f"%orch forward local {port}")["status"] == "ok"
            assert ("(this cell opened it when it last ran, or the same cell of a copy of this "
                    "notebook did)") in kernel.text("f")
            kernel.run("list", "%orch forwards")
            rows = kernel.text("list").strip().splitlines()[1:]
    assert len(rows) == 2 and f"127.0.0.1:{local}" in "".join(rows), rows


def test_a_forward_cell_run_again_and_refused_keeps_its_forward(orch_kernel: str,
                                                                tmp_path: Path) -> None:
    """magics17: a forward cell run again and refused at the protected question had already
    closed the forward it opened before. It is closed only once the new one is admitted."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with lab_kernel(orch_kernel) as kernel:
            load(kernel, tmp_path)
            for answer in ("prod-0", "nope", "prod-0"):
                msg_id = kernel.send("f", f"%orch forward prod-0 {port}")
                assert "'prod-0' is a protected environment" in \
                    kernel.kc.get_stdin_msg(timeout=30)["content"]["prompt"]
                kernel.kc.input(answer)
                kernel.reply(msg_id)
                kernel.run("list", "%orch forwards")
                rows = kernel.text("list").strip().splitlines()[1:]
                assert len(rows) == 1, (answer, rows, kernel.text("f"))
            assert ("(this cell opened it when it last ran, or the same cell of a copy of this "
                    "notebook did)") in kernel.text("f")


def test_a_run_a_thread_starts_is_no_cells_to_stop(orch_kernel: str, tmp_path: Path) -> None:
    """magics16: a stdin-box run a worker thread started was charged to the cell running then
    (or the last that ran): running that unrelated cell again stopped it, saying "the run
    this cell started when it last ran"."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        kernel.run("a", "import threading, time\nres = {}\ndef f():\n    time.sleep(1)\n"
                        "    res['h'] = get_ipython().run_line_magic('orch', 'local cat')\n"
                        "threading.Thread(target=f).start()")
        kernel.run("b", "time.sleep(2.5)")  # running as the thread starts its run
        kernel.run("b", "x = 2")
        assert "stopped" not in kernel.text("b"), kernel.text("b")
        kernel.run("ps", "print(res['h'].state)")
        assert kernel.text("ps").strip() == "running", kernel.text("ps")
        kernel.run("stop", "res['h'].interrupt()")


def test_eof_clicked_then_a_cell_that_waits_for_the_run_gets_its_end(orch_kernel: str,
                                                                     tmp_path: Path) -> None:
    """browser23: a click on EOF (or Send) acts a moment later, for the keys typed before it;
    the next cell, `r.wait()`, run within that moment blocked the kernel's loop the click
    needed: the wait waited for the run, the run for its EOF. A cell that starts acts on the
    clicks made before it first (the shell channel is ordered: its keys have all come)."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        assert kernel.run("c1", "%orch local cat --out c")["status"] == "ok"
        kernel.type("hello box")
        kernel.click("EOF")
        reply = kernel.run("c2", "res = c.wait(20)\nprint('DONE', repr(res.stdout), res.returncode)")
        assert reply["status"] == "ok", kernel.text("c2")
        assert kernel.text("c2") == "DONE 'hello box\\n' 0\n"


def test_a_copied_notebook_on_the_same_kernel_leaves_the_others_run_going(
        orch_kernel: str, tmp_path: Path) -> None:
    """browser23: a duplicated notebook keeps its cell ids; opened on the same kernel, its
    first run of a cell stopped the run the original's cell of that id had started, and said
    "the run this cell started when it last ran". Cells are told apart by page too: the
    other page's run goes on, said in one line, and its own cell run again still stops it."""
    from lab_kernel import LabKernel

    with lab_kernel(orch_kernel) as first:
        load(first, tmp_path)
        assert first.run("c1", "%orch local cat --out mine")["status"] == "ok"
        from jupyter_client.session import Session

        client = first.km.client()  # a second page: its own connection (session) to it
        client.session = Session(key=first.km.session.key,
                                 signature_scheme=first.km.session.signature_scheme)
        assert client.session.session != first.kc.session.session
        client.start_channels()
        client.wait_for_ready(timeout=30)
        try:
            copy = LabKernel(first.km, client)
            assert copy.run("c1", "%orch local cat --out theirs")["status"] == "ok"
            assert copy.text("c1").startswith(
                "cat, started by a cell with this id in another notebook on this kernel (or "
                "before this page was reloaded), goes on: %orch stop cat stops it\n"), \
                copy.text("c1")
            first.run("check", "print(mine.state, theirs.state, theirs.name)")
            assert first.text("check") == "running running cat-1\n"
            first.run("c1", "%orch local cat --out mine")  # its own page's cell, run again
            assert first.text("c1").startswith(  # stops its own, says the other's goes on
                "cat-1, started by a cell with this id in another notebook on this kernel (or "
                "before this page was reloaded), goes on: %orch stop cat-1 stops it\nstopped "
                "cat, the run this cell started when it last ran\n"), first.text("c1")
            first.run("check", "print(theirs.state)")
            assert first.text("check") == "running\n"
        finally:
            client.stop_channels()


def test_after_a_reload_a_forward_cell_takes_its_port_again_and_plain_code_says_nothing(
        orch_kernel: str, tmp_path: Path) -> None:
    """magics23: with cells told apart by page, a `%orch forward … --local P` cell run again
    after a page reload found its own old forward on P ("Address already in use"), and a
    plain `x = 1` in a cell whose id had started a run on the old page said that run goes
    on at every execution."""
    from jupyter_client.session import Session

    from fixtures.ports import free_port
    from lab_kernel import LabKernel

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    local = free_port()
    cell = f"%orch forward local {server.getsockname()[1]} --local {local}"
    try:
        with lab_kernel(orch_kernel) as first:
            load(first, tmp_path)
            assert first.run("f", cell)["status"] == "ok", first.text("f")
            first.run("r", "%orch local cat --out c")
            client = first.km.client()  # the page reloaded: a new connection
            client.session = Session(key=first.km.session.key,
                                     signature_scheme=first.km.session.signature_scheme)
            client.start_channels()
            client.wait_for_ready(timeout=30)
            try:
                page = LabKernel(first.km, client)
                assert page.run("f", cell)["status"] == "ok", page.text("f")
                assert page.text("f").startswith("closed forward f1: "), page.text("f")
                assert page.run("r", "x = 1")["status"] == "ok"
                assert page.text("r") == "", page.text("r")
            finally:
                client.stop_channels()
    finally:
        server.close()


def test_a_line_sent_just_before_stop_reaches_the_run_first(orch_kernel: str,
                                                            tmp_path: Path) -> None:
    """magics23: Send waits a moment for the keys typed before it, Stop acted at once: the
    process got its INT before the line, and the box said no line was sent."""
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        assert kernel.run("c1", "%orch local cat --out c")["status"] == "ok"
        kernel.type("last words")
        kernel.click("Send")
        kernel.click("Stop")
        kernel.run("w", "res = c.wait(20)\nprint(repr(res.stdout))")
        assert kernel.text("w") == "'last words\\n'\n", kernel.text("w")


def test_lines_typed_for_a_run_stopped_while_it_connected_are_said_unsent(
        orch_kernel: str, tmp_path: Path) -> None:
    """browser24: lines typed while the run still connected, for a run its timeout (or Stop)
    ended before it started, were said "1 line sent from the box"; only a failed connect
    said them unsent."""
    import socket

    with socket.create_server(("127.0.0.1", 0)) as silent, lab_kernel(orch_kernel) as kernel:
        port = silent.getsockname()[1]  # accepts, never says a word
        (tmp_path / "orch.yaml").write_text(
            f"environments: {{silent: [{{type: ssh, config: {{host: 127.0.0.1, port: {port}, "
            f"connect_timeout: 30}}}}]}}\naudit: {{enabled: false}}\n"
            "services: {cat: {command: cat, stdin_mode: streaming}}\n")
        assert kernel.run("load", f"%orch load {tmp_path / 'orch.yaml'}")["status"] == "ok"
        reply = kernel.run("c1", "%orch silent cat --timeout 3")
        assert reply["status"] == "ok", kernel.text("c1")
        kernel.type("one\n")
        said = kernel.wait_for("c1", "not sent: ")
        assert "not sent: 1 line typed while it started (it never did)" in said, said
        said = kernel.wait_for("c1", "0 lines sent from the box")
        assert "1 line sent" not in said, said


def test_a_background_run_that_already_ended_is_not_said_to_run(capsys) -> None:  # type: ignore[no-untyped-def]
    """magics24: a quick `--bg` cell's run had ended (its status line said `✓ exit 0`), and
    the cell still said "started in the background … %orch stop NAME stops it"."""
    from orch_magics import Orchestrator, load_config_text
    from orch_magics.magics.cells import announce

    with Orchestrator(load_config_text("environments: {local: []}\naudit: {enabled: false}\n"
                                       )) as orch:
        live = orch.start("local", command="true", name="quick")
        live.wait(20)
        announce(live, logs=False)
        ticking = orch.start("local", command="sleep 30", name="slow")
        announce(ticking, logs=True)
        orch.stop("slow")
    assert capsys.readouterr().out.splitlines() == [
        "ran in the background as quick, and has ended (exited): %orch logs quick shows its "
        "output",
        "started in the background as slow: %orch logs slow shows its output, %orch stop slow "
        "stops it"]


def test_a_copy_refused_before_it_starts_leaves_no_widget_behind(orch_kernel: str,
                                                                tmp_path: Path) -> None:
    """Once a progress object heard `finish` only after `start` (review44), the bar a refused
    copy had made but never shown was no longer closed: three widget models per refused copy
    stayed in the kernel and the front end. The bar is made when the copy starts."""
    count = ("from ipywidgets.widgets.widget import _instances\n"
             "print('widgets', len(_instances))")
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        kernel.run("before", count)
        for n in range(3):
            kernel.run(f"get{n}", f"%orch get local /nonexistent/{n} '{tmp_path}/x{n}'")
        kernel.run("after", count)
        kernel.drain()
        assert "no such file or directory" in kernel.text("get2"), kernel.text("get2")
        assert kernel.text("after") == kernel.text("before"), kernel.text("after")
        (tmp_path / "src").write_text("data\n")
        kernel.run("ok", f"%orch get local '{tmp_path}/src' '{tmp_path}/copied'")
        kernel.drain()
        assert "got file" in kernel.text("ok") and "✓" in kernel.text("ok"), kernel.text("ok")
