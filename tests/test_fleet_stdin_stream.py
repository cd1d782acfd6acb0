"""stdin to a fleet is streamed to every target as it arrives, in bounded memory, and never
keeps a stop waiting: a pipe that stays open, an endless producer, slow and queued targets."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from fixtures.fleet import SSHFleet
from orch_magics import Orchestrator, load_config_text
from processes import left_after

HOSTS = "127.0.1.[1:4]"
TESTS = Path(__file__).parent


def _config(fleet: SSHFleet) -> str:
    return (f"environments:\n  web:\n    layers:\n"
            f"      - {{type: ssh, config: {{host: '{HOSTS}', {fleet.ssh_config()}}}}}\n")


@pytest.fixture
def orch(ssh_fleet: SSHFleet) -> Iterator[Orchestrator]:
    o = Orchestrator(load_config_text(_config(ssh_fleet)))
    yield o
    o.close()


def _orch_run(fleet: SSHFleet, tmp_path: Path, stdin: int, *command: str) -> subprocess.Popen[str]:
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(_config(fleet))
    return subprocess.Popen([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run",
                             "web", "--", *command], stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(TESTS.parent)})


def _read_until(proc: subprocess.Popen[str], pattern: str, count: int) -> str:
    """Output until `pattern` matched `count` lines (30 s at most)."""
    assert proc.stdout is not None
    seen, deadline = "", time.monotonic() + 30
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while len(re.findall(pattern, seen, re.M)) < count:
            assert time.monotonic() < deadline, seen
            if sel.select(0.2):
                data = os.read(proc.stdout.fileno(), 65536)  # not readline: no hidden buffer
                assert data, seen
                seen += data.decode()
    return seen


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "term"])
def test_cli_streams_a_pipe_that_stays_open_and_a_signal_stops_it(
        ssh_fleet: SSHFleet, tmp_path: Path, sig: signal.Signals) -> None:
    """`tail -f log | orch run web -- cat`: each line reaches every target as it comes, and
    Ctrl-C / TERM stop the fleet while the producer is still writing (it never ends)."""
    read_end, write_end = os.pipe()
    proc = _orch_run(ssh_fleet, tmp_path, read_end, "cat")
    os.close(read_end)
    try:
        os.write(write_end, b"first line\n")
        _read_until(proc, r"^127\.0\.1\.\d +\| first line$", 4)  # before any EOF
        os.write(write_end, b"second line\n")
        _read_until(proc, r"^127\.0\.1\.\d +\| second line$", 4)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
    finally:
        os.close(write_end)
        proc.kill()
    assert proc.returncode == 128 + sig and "4 targets: 4 stopped" in out
    assert left_after(lambda: [p for p in ssh_fleet.session_processes() if "cat" in p]) == []


def test_cli_endless_stdin_to_a_fleet_runs_each_target(ssh_fleet: SSHFleet,
                                                       tmp_path: Path) -> None:
    """`yes | orch run web -- head -1` read the whole endless stream before starting anyone."""
    yes = subprocess.Popen(["yes"], stdout=subprocess.PIPE)
    assert yes.stdout is not None
    proc = _orch_run(ssh_fleet, tmp_path, yes.stdout.fileno(), "head", "-1")
    yes.stdout.close()
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
        yes.kill()
        yes.wait()
    assert proc.returncode == 0, out
    assert len(re.findall(r"^127\.0\.1\.\d +\| y$", out, re.M)) == 4
    assert "4 targets: 4 ok" in out


def test_an_endless_generator_is_read_only_as_far_as_targets_take_it(orch) -> None:
    """Memory stays bounded: the source is read a few MiB ahead of the slowest target."""
    pulled = itertools.count()

    def endless() -> Iterator[bytes]:
        while True:
            next(pulled)
            yield b"x" * 65536

    res = orch.run("web", command="head -c 300000 | wc -c", stdin=endless())
    assert res.ok and {r.stdout.strip() for r in res.values()} == {"300000"}
    assert next(pulled) * 65536 < 64 << 20


def test_queued_targets_get_the_whole_stream_from_its_start(orch) -> None:
    """`--parallel 1`: later targets start after the earlier ones took the input."""
    data = os.urandom(3 << 20)
    sources = [io.BytesIO(data), iter([data[:1000], data[1000:]])]
    for source in sources:
        res = orch.run("web", command="md5sum", stdin=source, parallel=1)
        digest = hashlib.md5(data).hexdigest()
        assert res.ok and [r.stdout.split()[0] for r in res.values()] == [digest] * 4


def test_a_source_that_blocks_does_not_keep_a_stop_waiting(orch, ssh_fleet: SSHFleet) -> None:
    """A file-like source whose read never returns (a pipe nobody writes to)."""
    read_end, write_end = os.pipe()
    try:
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            orch.start("web", command="cat", name="blocked", stdin=pipe)
            deadline = time.monotonic() + 30
            while len([p for p in ssh_fleet.session_processes() if "cat" in p]) < 4:
                assert time.monotonic() < deadline
                time.sleep(0.1)
            res = orch.stop("blocked", timeout=30)
    finally:
        os.close(write_end)
    assert set(res.states.values()) == {"stopped"}



def test_stopping_a_named_fleet_that_floods_output_wins(ssh_fleet: SSHFleet) -> None:
    """`yes` on 9 targets under a name: the stop waited behind millions of queued lines."""
    text = _config(ssh_fleet).replace(HOSTS, "127.0.1.[1:9]")
    with Orchestrator(load_config_text(text)) as orch:
        orch.start("web", command="yes", name="flood")
        deadline = time.monotonic() + 30
        while len(str(orch.logs("flood")).splitlines()) < 1000:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(2)
        res = orch.stop("flood", timeout=15)
        assert set(res.states.values()) == {"stopped"}
        said = [line for line in str(orch.logs("flood")).splitlines() if " | orch: " not in line]
        assert re.match(r"127\.0\.1\.\d \| y$", said[-1]), said[-1]
    assert left_after(lambda: [p for p in ssh_fleet.session_processes() if "yes" in p]) == []


def test_a_queued_target_the_stream_outran_fails_saying_why(orch, monkeypatch) -> None:
    """Past the bound kept for queued targets, they fail rather than get part of the input
    (the bound is lowered here so the test sends 3 MiB, not 256)."""
    from orch_magics.fleet import stdin as shared_stdin

    monkeypatch.setattr(shared_stdin, "KEEP_FOR_QUEUED", 1 << 20)
    chunks = (b"x" * 65536 for _ in range(48))  # 3 MiB
    res = orch.run("web", command="wc -c", stdin=chunks, parallel=1, limit="127.0.1.[1:2]")
    assert res.states == {"127.0.1.1": "ok", "127.0.1.2": "failed"}
    assert res["127.0.1.1"].stdout.strip() == str(48 * 65536)
    assert "more than 1 MiB came before this target could start" in res.causes["127.0.1.2"]


def test_a_host_that_never_answers_holds_no_other_targets_input_back(ssh_fleet: SSHFleet) -> None:
    """fleets9: a target counted as running while it still connected set the pace of the
    shared input, so past 4 MiB every other target waited for a host that accepts TCP and
    never speaks SSH, and with a timeout the healthy ones failed as "timed out"."""
    mute = socket.socket()
    mute.bind(("127.0.1.240", ssh_fleet.port))
    mute.listen(8)  # the kernel accepts; nobody ever answers
    text = _config(ssh_fleet).replace(f"host: '{HOSTS}'", "host: ['127.0.1.[1:2]', 127.0.1.240]")
    text = text.replace("connect_timeout: 5", "connect_timeout: 60")
    try:
        with Orchestrator(load_config_text(text)) as orch:
            res = orch.run("web", command="wc -c", stdin=io.BytesIO(os.urandom(8 << 20)),
                           timeout=8)
    finally:
        mute.close()
    assert res.states == {"127.0.1.1": "ok", "127.0.1.2": "ok", "127.0.1.240": "failed"}
    assert {res[h].stdout.strip() for h in ("127.0.1.1", "127.0.1.2")} == {str(8 << 20)}
    # given up at its deadline, not a second later (a connect is dropped at once; fleets9)
    assert re.match(r"timed out after 8\.\ds \(limit 8s\); timed out before the process "
                    r"started", res.causes["127.0.1.240"]), res.causes["127.0.1.240"]


def test_a_target_that_connects_slowly_still_gets_its_input_whole(monkeypatch) -> None:
    """review18: a target dropped while it connected (more than the bound read for the
    others meanwhile) was launched all the same, then stopped at its first read with "came
    before this target could start". Now reading waits for a connecting target past the
    bound; only one not yet starting (queued) is refused, before it starts."""
    import asyncio

    from orch_magics.errors import OrchError
    from orch_magics.fleet import stdin as shared_stdin

    monkeypatch.setattr(shared_stdin, "KEEP_FOR_QUEUED", 1 << 20)

    async def source() -> AsyncIterator[bytes]:
        for _ in range(16):
            yield b"x" * (256 << 10)  # 4 MiB

    async def taken(chunks: AsyncIterator[bytes], after: float = 0.0) -> int:
        await asyncio.sleep(after)  # its connect takes that long
        size = 0
        async for chunk in chunks:
            size += len(chunk)
        return size

    async def fleet() -> tuple[list[int], str]:
        shared = shared_stdin.SharedStdin(source())
        for label in ("fast", "slow", "queued"):
            shared.join(label)
        both = await asyncio.gather(taken(shared.attach("fast")),
                                    taken(shared.attach("slow"), 0.5))
        with pytest.raises(OrchError) as refused:
            shared.attach("queued")  # its turn came after more than the bound went by
        return both, str(refused.value)

    got, why = asyncio.run(fleet())
    assert got == [4 << 20, 4 << 20]
    assert "more than 1 MiB came before this target could start" in why


def test_a_fleet_run_from_a_terminal_reads_it_for_every_target(ssh_fleet: SSHFleet,
                                                               tmp_path: Path) -> None:
    """fleets18: a fleet run from a terminal never read it: each target's `read` got EOF at
    once and the fleet said ok, where one target reads what is typed. Each typed line goes to
    every target (as the notebook's stdin box sends it); ^D ends it. Labels that take two
    columns a character still line up."""
    from terminal import ORCH, on_terminal

    cfg = tmp_path / "orch.yaml"
    cfg.write_text(_config(ssh_fleet) + "services:\n  inter:\n    command: "
                   "'read x; echo \"got:$x\"'\n    stdin_mode: interactive\n")
    status, screen = on_terminal([*ORCH, "-c", str(cfg), "run", "web", "inter"],
                                 [(b"", b"hello\n")])
    got = sorted(line for line in screen.decode().splitlines() if "| got:" in line)
    assert status == 0 and got == [f"{a} | got:hello" for a in sorted(
        f"127.0.1.{i}" for i in range(1, 5))], screen


def test_a_line_typed_while_one_target_asks_for_a_password_is_dots_in_every_row(
        orch: Orchestrator) -> None:
    """review38: the box showed dots while any target asked for a secret, but each row chose
    by its own target: a host that did not ask showed the password typed, in clear."""
    from orch_magics.sinks.secret_prompt import HIDDEN

    live = orch.start("web", command='case "$SSH_CONNECTION" in *" 127.0.1.1 "*) '
                      'printf "Password: ";; esac; read -r x; echo "got ${#x}"',
                      limit="127.0.1.[1:2]", close_stdin=False)
    try:
        rows = live.fleet.rows
        deadline = time.monotonic() + 30
        while not (rows and bool(live.fleet.asking)):
            assert time.monotonic() < deadline, "no target asked"
            time.sleep(0.05)
        live.send("s3cret-r38\n", echo=["s3cret-r38"])
        result = live.wait(30)
    finally:
        live.stop()
    assert sorted(r.stdout for r in result.values()) == ["Password: got 10\n", "got 10\n"]
    for label, row in rows.items():
        shown = [line for stream, line in row.view()[0] if stream == "stdin"]
        assert shown == [HIDDEN], (label, shown)


def test_live_fleet_send_is_held_while_the_targets_read_nothing(orch: Orchestrator) -> None:
    """review39: `LiveFleet.send` took 64 MiB in 0.05 s and held them for each target that read
    nothing; it now waits as `LiveRun.send` does (about 16 MiB waiting per target, plus what
    the ssh channel takes), and a stop ends the wait."""
    from senders import Feeder

    live = orch.start("web", command="sleep 120", close_stdin=False, limit="127.0.1.[1:2]")
    feeder = Feeder(live.send, 120)
    try:  # held well before 120 MiB: the count stops
        assert feeder.held(1, 30, look=2) < 80 and feeder.thread.is_alive(), feeder.sent[-3:]
    finally:
        live.stop()
        feeder.thread.join(30)
        live.wait(60)
    assert not feeder.thread.is_alive(), feeder.sent[-3:]  # the stop ended its wait
