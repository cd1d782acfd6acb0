"""Fleets on 30 real sshd beyond one blocking run: named fleets (ps, logs, logs -f, stop),
stdin sent to every target, unnamed background fleets stopped by close() and interpreter exit,
and fleets from an Ansible inventory selected by group (`--limit web`)."""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fixtures.fleet import SSHFleet
from orch_magics import Orchestrator, load_config_text
from orch_magics.errors import ConfigError, OrchError
from orch_magics.fleet import FleetOptions, FleetResult, LiveFleet

N = 30
ALL_GOOD = f"!127.0.1.{N}"  # the last server presents a changed host key
SERVICES = """\
services:
  ticker: {command: 'echo up; while :; do sleep 0.3; echo tick; done'}
  sleepy: {command: 'sleep 60'}
  who: {command: 'echo "$SSH_CONNECTION" | cut -d" " -f3'}
  first-fails: {command: 'case "$SSH_CONNECTION" in *" 127.0.1.1 "*) exit 3;; esac; sleep 60'}
  ask: {command: 'echo first; printf "Continue? [y/N] "; sleep 60'}
"""
TESTS = Path(__file__).parent


def config(fleet: SSHFleet, hosts: str = f'"127.0.1.[1:{N}]"', extra: str = "") -> str:
    return (f"{extra}environments:\n  web:\n    layers:\n"
            f"      - {{type: ssh, config: {{host: {hosts}, {fleet.ssh_config()}}}}}\n"
            + SERVICES)


@pytest.fixture
def orch(ssh_fleet: SSHFleet) -> Iterator[Orchestrator]:
    o = Orchestrator(load_config_text(config(ssh_fleet)))
    yield o
    o.close()


def wait_for(check: Callable[[], bool], what: Callable[[], object], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what()
        time.sleep(0.05)


def running(fleet: SSHFleet, word: str) -> list[str]:
    return [p for p in fleet.session_processes() if word in p]


def wait_running(fleet: SSHFleet, word: str, count: int = N - 1) -> None:
    wait_for(lambda: len(running(fleet, word)) >= count, fleet.session_processes)


def assert_nothing_left(fleet: SSHFleet) -> None:
    wait_for(lambda: running(fleet, "sleep") == [] and running(fleet, "cat") == [],
             fleet.session_processes, seconds=5)


# ---- named fleets -------------------------------------------------------------------------------
def test_named_fleet_ps_logs_follow_and_stop(orch: Orchestrator, ssh_fleet: SSHFleet) -> None:
    live = orch.start("web", "ticker", name="pulse", limit=ALL_GOOD)
    assert isinstance(live, LiveFleet) and live.name == "pulse"
    wait_for(lambda: orch.logs("pulse").count("| up") == N - 1, lambda: orch.logs("pulse"))
    [row] = [info for info in orch.ps() if info.name == "pulse"]
    assert row.state == f"fleet: {N - 1} running" and row.environment == "web"
    ups = [line for line in orch.logs("pulse").splitlines() if line.endswith("| up")]
    assert sorted(ups) == sorted(f"127.0.1.{i} | up" for i in range(1, N))  # labelled
    followed: list[str] = []
    follow = orch.logs("pulse", follow=True)
    assert not isinstance(follow, str)
    reader = threading.Thread(target=lambda: followed.extend(follow), daemon=True)
    reader.start()
    wait_for(lambda: sum("| tick" in line for line in followed) >= 2 * (N - 1),
             lambda: followed[-5:])  # new lines arrive while following
    result = orch.stop("pulse")
    reader.join(30)
    assert not reader.is_alive()  # following ends once every target has ended
    assert isinstance(result, FleetResult) and set(result.states.values()) == {"stopped"}
    assert len(result) == N - 1
    [row] = [info for info in orch.ps() if info.name == "pulse"]
    # basics10: in the result's words ("failed" said of a fleet every target of which stopped)
    assert row.state == f"fleet: {N - 1} stopped" and row.exit == "stopped"
    assert_nothing_left(ssh_fleet)



def test_states_are_counted_in_one_order_whichever_target_came_first(
        orch: Orchestrator, ssh_fleet: SSHFleet) -> None:
    """The first target failed, so ps said `fleet: 1 failed, 2 running` (label order), where
    the docs and the result say live states first, then ok, failed, stopped, skipped."""
    live = orch.start("web", "first-fails", name="mixed", limit="127.0.1.[1:3]")
    assert isinstance(live, LiveFleet)
    wait_for(lambda: live.counts() == {"running": 2, "failed": 1}, live.counts)
    [row] = [info for info in orch.ps() if info.name == "mixed"]
    assert row.state == "fleet: 2 running, 1 failed"
    result = orch.stop("mixed")
    assert isinstance(result, FleetResult) and result.summary() == "3 targets: 1 failed, 2 stopped"
    assert_nothing_left(ssh_fleet)

def test_a_target_whose_host_does_not_answer_is_starting_not_running(
        ssh_fleet: SSHFleet) -> None:
    """browser14: a target whose hop hung (a host that takes the connection and says
    nothing) counted as `running` in ps and the live table, where no process was there."""
    with socket.socket() as silent:
        silent.bind(("127.0.2.9", ssh_fleet.port))
        silent.listen()
        hosts = '["127.0.1.1", "127.0.2.9"]'
        orch = Orchestrator(load_config_text(config(ssh_fleet, hosts=hosts)))
        try:
            live = orch.start("web", "sleepy", name="half")
            assert isinstance(live, LiveFleet)
            wait_for(lambda: live.counts() == {"starting": 1, "running": 1}, live.counts)
            assert live.fleet.rows["127.0.2.9"].state == "starting"
            [row] = [info for info in orch.ps() if info.name == "half"]
            assert row.state == "fleet: 1 starting, 1 running"
            assert orch.stop("half").summary() == "2 targets: 2 stopped"
        finally:
            orch.close()
    assert_nothing_left(ssh_fleet)


def test_logs_show_the_line_each_target_is_writing(orch: Orchestrator,
                                                    ssh_fleet: SSHFleet) -> None:
    """fleets24: a single named run's `logs` ends with the line it is writing (a prompt
    waiting for its answer); a fleet's showed only complete lines, so three targets waiting
    at a prompt looked like output that had stopped."""
    orch.start("web", "ask", name="asks", limit="127.0.1.[1:3]")
    try:
        wait_for(lambda: orch.logs("asks").count("Continue? [y/N] ") == 3,
                 lambda: orch.logs("asks"))
        shown = orch.logs("asks").splitlines()
        assert sorted(shown[-3:]) == [f"127.0.1.{i} | Continue? [y/N] " for i in (1, 2, 3)]
        assert sorted(shown[:-3]) == [f"127.0.1.{i} | first" for i in (1, 2, 3)]
    finally:
        orch.stop("asks")
    assert_nothing_left(ssh_fleet)


def test_logs_say_how_each_target_ended(orch: Orchestrator, ssh_fleet: SSHFleet) -> None:
    """fleets16: a target that never started (a changed host key) left no line in `logs
    NAME`, nor did `exit 3` or a stop, where a single named run's log says each. Said in the
    words of the fleet's table (review25: not "failed to start" for one that had started)."""
    live = orch.start("web", "first-fails", name="ends", limit=f"127.0.1.[1:2],127.0.1.{N}")
    # 127.0.1.2 running, not still connecting (a loaded machine: "stopped before the process
    # started", which its own test says)
    wait_for(lambda: live.counts() == {"failed": 2, "running": 1}, live.counts)
    orch.stop("ends")
    ends = sorted(line for line in orch.logs("ends").splitlines() if " | orch: " in line)
    assert ends[:2] == ["127.0.1.1 | orch: exit 3", "127.0.1.2 | orch: stopped"], ends
    assert len(ends) == 3 and ends[2].startswith(f"127.0.1.{N} | orch: hop 1 (ssh "
                                                 f"127.0.1.{N}): host key"), ends
    assert_nothing_left(ssh_fleet)


def test_a_rerun_of_a_named_fleet_writes_nothing_into_its_log(orch: Orchestrator) -> None:
    """fleets22: `result.failed.rerun()` wrote the rerun's lines into the named fleet's
    `logs NAME`, after its end lines and with no end lines of its own."""
    live = orch.start("web", command="echo ran; exit 2", name="again", limit="127.0.1.[1:2]")
    kept = orch.logs("again") if live.wait(30) else ""
    again = live.result().failed.rerun()
    assert again.summary() == "2 targets: 2 failed" and orch.logs("again") == kept, kept
    assert kept.count("| ran") == 2


def test_logs_keep_which_target_ended_past_its_neighbours_lines(orch: Orchestrator) -> None:
    """fleets21: the end line of a failed target went out of the fleet's 10,000 kept lines
    once busy neighbours printed more: `ps` said 1 failed, and nothing said which."""
    command = ('case "$SSH_CONNECTION" in *" 127.0.1.1 "*) echo full >&2; exit 3;; esac; '
               "sleep 1; seq 1 12000; sleep 60")
    live = orch.start("web", command=command, name="busy", limit="127.0.1.[1:2]")
    try:
        wait_for(lambda: "12000" in orch.logs("busy", tail=1), lambda: orch.logs("busy", tail=3))
        lines = str(orch.logs("busy")).splitlines()
        assert lines[0].startswith("orch: ") and "earlier lines" in lines[0], lines[:2]
        assert lines[1] == "127.0.1.1 | orch: exit 3: full", lines[:3]
        assert len(lines) == 10_002 and lines[-1] == "127.0.1.2 | 12000"
    finally:
        live.stop()


def test_a_finished_named_fleets_time_stops_at_its_end(orch: Orchestrator) -> None:
    """Its `ps` time kept counting after its end (0.1 s of work shown as minutes), where a
    single run's stops."""
    live = orch.start("web", "who", name="quick", limit="127.0.1.[1:2]")
    live.wait(60)
    [first] = [info for info in orch.ps() if info.name == "quick"]
    time.sleep(1.0)
    [later] = [info for info in orch.ps() if info.name == "quick"]
    assert first.exit == "ok" and later.elapsed == first.elapsed < 30


def test_a_running_name_is_refused_and_a_free_one_is_numbered(orch: Orchestrator,
                                                              ssh_fleet: SSHFleet) -> None:
    first = orch.start("web", "sleepy", limit="127.0.1.1")
    second = orch.start("web", "sleepy", limit="127.0.1.2")
    assert (first.name, second.name) == ("sleepy", "sleepy-1")
    with pytest.raises(Exception, match="still running"):
        orch.start("web", "sleepy", name="sleepy", limit="127.0.1.3")
    orch.stop_all()
    assert first.done and second.done
    assert_nothing_left(ssh_fleet)


def test_a_named_fleet_takes_no_restart_policy(orch: Orchestrator) -> None:
    """restart= and max_restarts= were ignored on a fleet without a word."""
    for kw in (dict(restart="always"), dict(max_restarts=3)):
        with pytest.raises(ConfigError, match="restart and max_restarts are for a single run"):
            orch.start("web", "sleepy", limit="127.0.1.1", **kw)  # type: ignore[arg-type]
    assert orch.ps() == []


def test_a_services_restart_policy_on_a_named_fleet_is_said_not_to_apply(
        ssh_fleet: SSHFleet) -> None:
    """runs7 F4: a service's `restart: on-failure` was dropped for a fleet without a word."""
    text = config(ssh_fleet, hosts='"127.0.1.[1:2]"') + \
        "  flaky: {command: 'echo f; exit 1', restart: on-failure, max_restarts: 2}\n"
    with Orchestrator(load_config_text(text)) as orch:
        orch.start("web", "flaky", name="F").wait(timeout=60)
        logs = str(orch.logs("F")).splitlines()
    assert logs[0] == ("orch: F: the service's restart: on-failure is for single runs: a named "
                       "fleet is not restarted (rerun its failed targets: "
                       "result.failed.rerun())"), logs
    assert sorted(logs[1:]) == ["127.0.1.1 | f", "127.0.1.1 | orch: exit 1", "127.0.1.2 | f",
                                "127.0.1.2 | orch: exit 1"], logs


def test_runs_and_fleets_share_one_namespace(ssh_fleet: SSHFleet) -> None:
    """A name a running single run has is refused to a fleet and the other way round, a
    finished one is taken over, and a default name is made valid for both kinds."""
    text = (config(ssh_fleet).replace("environments:\n", "environments:\n  local: {layers: []}\n")
            + "  'odd/name: x': {command: 'sleep 60'}\n")
    orch = Orchestrator(load_config_text(text))
    try:
        orch.start("local", command="sleep 60", name="shared")
        with pytest.raises(Exception, match="'shared' is still running"):
            orch.start("web", "sleepy", name="shared", limit="127.0.1.1")
        fleet = orch.start("web", "odd/name: x", limit="127.0.1.1")
        assert fleet.name == "odd_name__x"  # as a single run of that service would be called
        with pytest.raises(Exception, match="'odd_name__x' is still running"):
            orch.start("local", command="true", name="odd_name__x")
        assert orch.start("local", "odd/name: x").name == "odd_name__x-1"
        with pytest.raises(Exception, match="'odd_name__x' is a fleet: restart is for a single"):
            orch.restart("odd_name__x")
        assert sorted(info.name for info in orch.ps()) == ["odd_name__x", "odd_name__x-1",
                                                           "shared"]
        orch.stop("shared")
        taken_over = orch.start("web", "who", name="shared", limit="127.0.1.1")
        assert isinstance(taken_over.wait(30), FleetResult)
        assert [info.name for info in orch.ps()].count("shared") == 1
        assert "127.0.1.1 | 127.0.1.1" in orch.logs("shared")  # the fleet's lines, labelled
    finally:
        orch.close()
    assert_nothing_left(ssh_fleet)


# ---- stdin to every target ----------------------------------------------------------------------
@pytest.mark.parametrize("source", [
    "hello fleet\n",
    b"hello fleet\n",
    io.BytesIO(b"hello fleet\n"),
    iter([b"hello ", "fleet\n"]),
    bytearray(b"hello fleet\n"),  # iterated, it gave ints, each sent as that many NUL bytes
    memoryview(b"hello fleet\n"),
], ids=["text", "bytes", "file", "iterable", "bytearray", "memoryview"])
def test_stdin_reaches_every_target(orch: Orchestrator, source: object) -> None:
    # parallel=4: most targets start after the source was read; they get the same input
    res = orch.run("web", command="cat", stdin=source, limit=ALL_GOOD, parallel=4)
    assert isinstance(res, FleetResult) and res.ok and len(res) == N - 1
    assert {r.stdout for r in res.values()} == {"hello fleet\n"}


def test_a_stdin_source_a_fleet_cannot_use_is_refused_before_any_target_starts(
        orch: Orchestrator) -> None:
    with pytest.raises(ConfigError, match="stdin takes str, bytes, .* not int"):  # as for a run
        orch.run("web", command="cat", stdin=123, limit=ALL_GOOD)


def test_a_stream_that_breaks_part_way_fails_every_target_without_an_eof(
        orch: Orchestrator) -> None:
    """A stream is sent as it comes (it may never end), so a bad item is found once targets
    run: each is stopped, none takes the part it got for the whole input."""
    res = orch.run("web", command="cat", stdin=iter([b"a", 3]), limit="127.0.1.[1:3]")
    assert set(res.states.values()) == {"failed"}
    assert set(res.causes.values()) == {
        "stdin source failed: TypeError: stdin takes bytes or str, got int"}


def test_lines_sent_to_a_live_fleet_reach_every_running_target(orch: Orchestrator,
                                                                ssh_fleet: SSHFleet) -> None:
    live = orch.fleets.start(orch.plan("web", command="cat"), FleetOptions(limit=ALL_GOOD),
                             close_stdin=False)
    wait_running(ssh_fleet, "cat")
    live.send_line("typed once")
    live.send(b"and bytes\n")
    live.close_stdin()
    res = live.wait(30)
    assert res.ok and {r.stdout for r in res.values()} == {"typed once\nand bytes\n"}


def test_lines_sent_at_once_reach_queued_targets_and_none_is_dropped_unsaid(
        orch: Orchestrator) -> None:
    """Lines sent right after the start, or to targets queued behind --parallel, reached no
    one; and a send to a fleet that had ended returned None, the line gone without a word (a
    single run's send raises) (held-out tester)."""
    live = orch.fleets.start(orch.plan("web", command="cat"),
                             FleetOptions(limit="127.0.1.[1-4]", parallel=2), close_stdin=False)
    live.send_line("sent at once")  # every target is still queued or starting
    live.close_stdin()
    with pytest.raises(OrchError, match=r"stdin is closed \(EOF was sent\)"):
        live.send_line("after EOF")
    res = live.wait(60)
    assert res.ok and {r.stdout for r in res.values()} == {"sent at once\n"} and len(res) == 4
    with pytest.raises(OrchError, match=r"has ended: its stdin is gone"):
        live.send_line("too late")
    closed = orch.fleets.start(orch.plan("web", command="sleep 30"),  # EOF sent at its start
                               FleetOptions(limit="127.0.1.[12]"))
    try:
        wait_for(lambda: closed.counts() == {"running": 2}
                 and not closed.fleet.takes_input(), closed.counts)
        with pytest.raises(OrchError, match=r"no target takes input"):
            closed.send_line("nobody reads")
    finally:
        closed.stop()
        closed.settle(30)
    # fleets12: a service that takes no input (stdin_mode: none) started with its stdin kept
    # open took a line and dropped it (each target had EOF at its start)
    none = orch.fleets.start(orch.plan("web", "sleepy"), FleetOptions(limit="127.0.1.[12]"),
                             close_stdin=False)
    try:
        with pytest.raises(OrchError, match=r"its service takes no input \(stdin_mode: none\)"):
            none.send_line("dropped before")
    finally:
        none.stop()
        none.settle(30)


# ---- unnamed background fleets are stopped too --------------------------------------------------
def test_close_stops_an_unnamed_background_fleet(ssh_fleet: SSHFleet) -> None:
    o = Orchestrator(load_config_text(config(ssh_fleet)))
    live = o.fleets.start(o.plan("web", "sleepy"), FleetOptions(limit=ALL_GOOD))
    wait_running(ssh_fleet, "sleep 60")
    o.close()
    assert live.done
    result = live.result()
    assert result is not None and set(result.states.values()) == {"stopped"}
    assert_nothing_left(ssh_fleet)


def test_interpreter_exit_stops_an_unnamed_background_fleet(ssh_fleet: SSHFleet,
                                                            tmp_path: Path) -> None:
    script = tmp_path / "leave.py"
    script.write_text(
        "import sys\n"
        "from orch_magics import Orchestrator, load_config_text\n"
        "from orch_magics.fleet import FleetOptions\n"
        f"o = Orchestrator(load_config_text({config(ssh_fleet)!r}))\n"
        f"live = o.fleets.start(o.plan('web', 'sleepy'), FleetOptions(limit={ALL_GOOD!r}))\n"
        "print('started', flush=True)\n"
        "sys.stdin.read()  # the test lets the interpreter end once every target runs\n")
    env = {**os.environ, "PYTHONPATH": str(TESTS.parent)}
    proc = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "started\n"
        wait_running(ssh_fleet, "sleep 60")
        proc.communicate("", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert_nothing_left(ssh_fleet)


# ---- an inventory-group fleet, end to end -------------------------------------------------------
INVENTORY = """\
[web]
web-[1:4]
[db]
db-a ansible_host=127.0.1.11
db-b ansible_host=127.0.1.12
[prod:children]
web
db
[prod:vars]
ansible_port={port}
ansible_user={user}
"""


@pytest.fixture
def inventory_orch(ssh_fleet: SSHFleet, tmp_path: Path) -> Iterator[tuple[Orchestrator, Path]]:
    from fixtures.fleet import USER

    text = INVENTORY.format(port=ssh_fleet.port, user=USER)
    text += "".join(f"[web]\nweb-{i} ansible_host=127.0.1.{i}\n" for i in range(1, 5))
    (tmp_path / "hosts.ini").write_text(text)
    cfg = tmp_path / "orch.yaml"
    cfg.write_text("inventory: [hosts.ini]\nenvironments:\n  inv:\n    layers:\n"
                   f"      - {{type: ssh, config: {{host: \"group:prod\", "
                   f"identity_file: {ssh_fleet.key}, known_hosts: {ssh_fleet.known_hosts}, "
                   f"connect_timeout: 5}}}}\n" + SERVICES)
    o = Orchestrator()
    o.load(cfg)
    yield o, cfg
    o.close()


def test_inventory_group_fleet_runs_on_every_host_of_the_group(inventory_orch) -> None:
    orch, _ = inventory_orch
    res = orch.run("inv", "who")
    assert isinstance(res, FleetResult) and res.ok
    assert {label: r.stdout for label, r in res.items()} == {
        **{f"web-{i}": f"127.0.1.{i}\n" for i in range(1, 5)},
        "db-a": "127.0.1.11\n", "db-b": "127.0.1.12\n"}


@pytest.mark.parametrize(("limit", "labels"), [
    ("db", ["db-a", "db-b"]),
    ("web,!web-2", ["web-1", "web-3", "web-4"]),
    ("prod,&db", ["db-a", "db-b"]),
    ("web-1,db", ["web-1", "db-a", "db-b"]),
    ("all,!web", ["db-a", "db-b"]),
])
def test_limit_takes_inventory_group_names(inventory_orch, limit: str,
                                           labels: list[str]) -> None:
    orch, _ = inventory_orch
    res = orch.run("inv", "who", limit=limit)
    assert sorted(res) == sorted(labels) and res.ok


def test_a_copy_takes_inventory_group_names_in_limit(inventory_orch, tmp_path: Path) -> None:
    """Copies select targets as runs do (they once matched labels only, not groups)."""
    orch, _ = inventory_orch
    got = orch.get("inv", "/etc/hostname", str(tmp_path / "out"), limit="prod,&db")
    assert sorted(got) == ["db-a", "db-b"] and got.ok
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["db-a", "db-b"]


def test_a_mistyped_group_in_limit_suggests_the_group(inventory_orch) -> None:
    orch, _ = inventory_orch
    with pytest.raises(ConfigError) as err:
        orch.run("inv", "who", limit="dbb")
    assert "matches no target" in str(err.value) and "groups: db, prod, web" in str(err.value)
    assert "db" in (err.value.suggestion or "")


def test_cli_lists_and_runs_an_inventory_group_fleet(inventory_orch) -> None:
    _, cfg = inventory_orch
    env = {**os.environ, "PYTHONPATH": str(TESTS.parent)}
    cli = [sys.executable, "-m", "orch_magics.cli", "-c", str(cfg)]
    listing = subprocess.run([*cli, "ls"], capture_output=True, text=True, env=env, timeout=60)
    assert "6 targets" in listing.stdout and "db-b" in listing.stdout
    done = subprocess.run([*cli, "run", "inv", "who", "--limit", "db"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^db-a +\| 127\.0\.1\.11$", done.stdout, re.M)
    assert "web-1" not in done.stdout
    assert "2 targets: 2 ok" in done.stdout


def test_the_html_summary_stays_bounded_and_shows_failures_first(ssh_fleet: SSHFleet) -> None:
    hosts = '["127.0.1.[1:29]", "127.0.2.[1:60]"]'  # nothing listens on 127.0.2.x: refused
    with Orchestrator(load_config_text(config(ssh_fleet, hosts))) as o:
        res = o.run("web", "who", parallel=89)
    assert len(res.succeeded) == 29 and len(res.failed) == 60
    html = res._repr_html_()
    assert html.count("<tr>") == 51 and html.count("<td>ok</td>") == 0  # header + 50 failed
    assert "… 39 more targets" in html and "89 targets: 29 ok, 60 failed" in html
    assert len(res.table().splitlines()) == 91  # the text table keeps every target


def test_lines_sent_while_the_targets_start_reach_them_in_order(orch: Orchestrator) -> None:
    """A target whose process was still starting was skipped: a line typed right after the
    fleet began reached none (or some) of them, silently."""
    live = orch.fleets.start(orch.plan("web", command="cat"), FleetOptions(limit=ALL_GOOD),
                             close_stdin=False)
    live.send_line("typed at once")
    live.send(b"and bytes\n")
    live.close_stdin()
    res = live.wait(30)
    assert res.ok and {r.stdout for r in res.values()} == {"typed at once\nand bytes\n"}
