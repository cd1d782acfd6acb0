"""get / put on a fleet (containers on the test dockerd): a get lands each target's copy in
LOCAL/<label>/, a put reaches every target, a target that cannot be reached fails alone (its
folder is not left behind), and the CLI exits 1 when any target failed."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.dockerd import Engine
from orch_magics import ConfigError, FleetResult, Orchestrator, load_config_text
from orch_magics.transfer import FleetCopied, TransferError, Transferred
from transfers import receiving, stop_cli_copy

pytestmark = pytest.mark.docker
NAMES = [f"orch-cp-{i}" for i in range(1, 4)]


@pytest.fixture(scope="module")
def boxes(dockerd: Engine) -> Iterator[list[str]]:
    """Three running containers labelled orch.fleet=cp, each with /tmp/who naming itself."""
    with dockerd.labelled({"orch.fleet": "cp"}, NAMES) as names:
        for name in names:
            run = dockerd.api.exec_create(name, ["sh", "-c", f"echo {name} > /tmp/who"])
            dockerd.api.exec_start(run["Id"])
        yield names


def config(dockerd: Engine, tmp_path: Path) -> Path:
    def layer(selector: dict[str, object]) -> str:
        return json.dumps({"type": "docker", "config": {**selector, "docker_host": dockerd.host}})

    path = tmp_path / "orch.yaml"
    path.write_text(
        "environments:\n"
        f"  cp: {{layers: [{layer({'label': 'orch.fleet=cp'})}]}}\n"
        f"  some: {{layers: [{layer({'container': [NAMES[0], 'orch-cp-nope', NAMES[2]]})}]}}\n"
        f"  one: {{layers: [{layer({'container': NAMES[0]})}]}}\n"
        f"  guarded: {{protected: true, layers: [{layer({'container': NAMES})}]}}\n")
    return path


@pytest.fixture
def orch(dockerd: Engine, boxes: list[str], tmp_path: Path) -> Iterator[Orchestrator]:
    o = Orchestrator(load_config_text(config(dockerd, tmp_path).read_text()))
    yield o
    o.close()


def test_a_fleet_get_puts_each_copy_in_a_folder_per_target(orch: Orchestrator,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "out"  # made by the get
    got = orch.get("cp", "/tmp/who", str(out))
    assert isinstance(got, FleetCopied) and got.ok
    assert list(got) == NAMES
    for name in NAMES:
        assert (out / name / "who").read_text() == f"{name}\n"
        done = got[name]
        assert isinstance(done, Transferred) and done.destination == str(out / name / "who")
    assert sorted(os.listdir(out)) == NAMES
    audit = Path(os.environ["XDG_STATE_HOME"]) / "orch_magics" / "audit.jsonl"
    starts = [json.loads(line) for line in audit.read_text().splitlines()]
    assert sorted((r["target"], r["command"]) for r in starts if r["event"] == "start") == [
        (name, f"orch-get /tmp/who {out / name / 'who'}") for name in NAMES]  # not `out`


@pytest.mark.parametrize("way", ["get", "put"])
def test_a_protected_fleet_s_copy_says_a_bad_limit_first_and_asks_for_its_targets(
        orch: Orchestrator, tmp_path: Path, way: str) -> None:
    """fleets14: a copy asked for the name of a protected fleet, then said that its limit kept
    nothing; and its question named no target. A run's says the limit's targets."""
    asked: list[str] = []
    orch.gate.ask = lambda question: asked.append(question) or "guarded"  # type: ignore
    src = tmp_path / "src.txt"
    src.write_text("x\n")

    def copy(limit: str) -> object:
        if way == "get":
            return orch.get("guarded", "/tmp/who", str(tmp_path / "out"), limit=limit)
        return orch.put("guarded", str(src), "/tmp/", limit=limit)

    with pytest.raises(ConfigError, match="'orch-cp-9' matches no target"):
        copy("orch-cp-9")
    assert asked == []
    assert copy(f"{NAMES[0]},{NAMES[2]}").ok  # type: ignore[attr-defined]
    assert len(asked) == 1 and NAMES[0] in asked[0] and NAMES[2] in asked[0], asked
    assert NAMES[1] not in asked[0], asked


class Told:
    """A progress that writes down what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def start(self, label: str, total: int | None) -> None:
        self.calls.append(("start", label))

    def update(self, done: int) -> None:
        pass

    def finish(self, ok: bool) -> None:
        self.calls.append(("finish", ok))


def test_a_fleet_copy_shows_its_progress_only_once_a_target_copies(orch: Orchestrator,
                                                                   tmp_path: Path) -> None:
    """browser5: a fleet get refused on every target left `web: 3 targets: 0 B ✗ not
    copied` in the cell, where a one-target copy refused leaves no bar at all."""
    refused = Told()
    copied = orch.get("cp", "/tmp/no-such-file", str(tmp_path / "a"), progress=refused)
    assert not copied.ok and len(copied.failed) == 3
    assert refused.calls == []  # no start, so no finish either (review44)
    told = Told()
    assert orch.get("cp", "/tmp/who", str(tmp_path / "b"), progress=told).ok
    assert told.calls == [("start", "cp: 3 targets"), ("finish", True)]


def test_a_fleet_get_into_a_relative_folder_that_is_not_there_yet(
        orch: Orchestrator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding which folders it made walked `out/name` → `out` → "" → "" …: the copy never
    ended and its memory grew without bound (2.7 GB within ten minutes)."""
    monkeypatch.chdir(tmp_path)
    got = orch.get("some", "/tmp/who", "out/")
    assert isinstance(got, FleetCopied) and not got.ok and list(got) == [
        NAMES[0], "orch-cp-nope", NAMES[2]]
    assert sorted(os.listdir(tmp_path / "out")) == [NAMES[0], NAMES[2]]  # none for the failure
    assert (tmp_path / "out" / NAMES[2] / "who").read_text() == f"{NAMES[2]}\n"


def test_a_fleet_put_reaches_every_target_with_the_same_bytes(orch: Orchestrator,
                                                              tmp_path: Path) -> None:
    src = tmp_path / "payload"
    src.write_bytes(os.urandom(3_000_000))
    want = hashlib.sha256(src.read_bytes()).hexdigest()
    sent = orch.put("cp", str(src), "/tmp/payload")
    assert isinstance(sent, FleetCopied) and sent.ok and list(sent) == NAMES
    res = orch.run("cp", command="sha256sum /tmp/payload")
    assert {k: r.stdout.split()[0] for k, r in res.items()} == {n: want for n in NAMES}


def test_a_fleet_put_whose_file_is_replaced_meanwhile_fails_saying_so(
        orch: Orchestrator, tmp_path: Path) -> None:
    """files6: a file replaced while the put ran (an editor's save) reached 7 targets old and
    1 new, reported '8 ok': a fleet half old config, half new."""
    src = tmp_path / "payload"
    src.write_bytes(os.urandom(1_000_000))

    class Replacing(Told):
        def update(self, done: int) -> None:  # once the first target has it all (one at once)
            if done >= 1_000_000 and not (tmp_path / "replaced").exists():
                (tmp_path / "new").write_bytes(os.urandom(1_000_000))
                os.replace(tmp_path / "new", src)
                (tmp_path / "replaced").touch()

    from orch_magics.transfer import measure, prepare_put, run_blocking

    copy = prepare_put(orch, "cp", measure(str(src)), "/tmp/replaced-payload", parallel=1)
    sent = run_blocking(orch.loop, copy, Replacing())  # one target after the other
    assert isinstance(sent, FleetCopied) and not sent.ok and set(sent.failed) == set(NAMES), sent
    said = str(sent.failed[NAMES[0]])
    assert said.startswith("the source changed while the put ran, so the targets got 2 "
                           "versions (sha256 ") and said.endswith("this copy is in place: put "
                                                                  "it again"), said


def test_an_unreachable_target_fails_alone_and_leaves_no_folder(orch: Orchestrator,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "out"
    got = orch.get("some", "/tmp/who", str(out))
    assert isinstance(got, FleetCopied) and not got.ok
    assert sorted(got.succeeded) == [NAMES[0], NAMES[2]]
    assert list(got.failed) == ["orch-cp-nope"]
    assert "not found" in str(got.failed["orch-cp-nope"])
    assert sorted(os.listdir(out)) == [NAMES[0], NAMES[2]]
    with pytest.raises(TransferError, match="failed on 1 of 3 targets: orch-cp-nope"):
        got.check()

    src = tmp_path / "small"
    src.write_text("x")
    sent = orch.put("some", str(src), "/tmp/small", limit="orch-cp-1,orch-cp-nope")
    assert isinstance(sent, FleetCopied)
    assert list(sent.succeeded) == [NAMES[0]] and list(sent.failed) == ["orch-cp-nope"]


def test_limit_is_refused_on_one_target_and_a_file_is_no_fleet_folder(
        orch: Orchestrator, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="has one target: a limit applies to fleets only"):
        orch.get("one", "/tmp/who", str(tmp_path), limit="x")
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(TransferError, match="is not a directory: a fleet's copies go into"):
        orch.get("cp", "/tmp/who", str(afile))


def test_the_cli_copies_from_a_fleet_and_exits_1_when_a_target_failed(
        dockerd: Engine, boxes: list[str], tmp_path: Path) -> None:
    cfg = config(dockerd, tmp_path)
    cli = [sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "cp"]
    ok = subprocess.run([*cli, "cp:/tmp/who", str(tmp_path / "all")], capture_output=True,
                        text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert f"get on {len(NAMES)} targets of cp: {len(NAMES)} ok, 0 failed" in ok.stdout
    assert (tmp_path / "all" / NAMES[1] / "who").read_text() == f"{NAMES[1]}\n"
    bad = subprocess.run([*cli, "some:/tmp/who", str(tmp_path / "some")], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 1
    assert "2 ok, 1 failed" in bad.stdout and "orch-cp-nope:" in bad.stdout
    assert "Traceback" not in bad.stderr


def test_a_fleet_copy_stopped_keeps_the_targets_that_had_finished_and_names_them(
        dockerd: Engine, boxes: list[str], tmp_path: Path) -> None:
    """Copies that completed before the stop are whole and stay; `orch cp` said "nothing was
    kept" of them all the same."""
    sizes = {NAMES[0]: 1000, NAMES[1]: 400_000_000, NAMES[2]: 2000}
    for name, size in sizes.items():
        run = dockerd.api.exec_create(name, ["sh", "-c", f"head -c {size} /dev/zero > /tmp/part"])
        dockerd.api.exec_start(run["Id"])
    out = tmp_path / "out"
    small = [out / NAMES[0] / "part", out / NAMES[2] / "part"]

    def begun(pid: int) -> bool:
        big = out / NAMES[1]
        return all(p.exists() for p in small) and big.is_dir() and receiving(pid, big)

    try:
        done = stop_cli_copy(["-c", str(config(dockerd, tmp_path)), "cp", "cp:/tmp/part",
                              str(out)], begun, signal.SIGTERM)
    finally:
        for name in NAMES:
            dockerd.api.exec_start(dockerd.api.exec_create(name, ["rm", "-f", "/tmp/part"])["Id"])
    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"orch: interrupted; the copies on 2 targets had completed and were kept ({NAMES[0]}, "
        f"{NAMES[2]}); nothing else was kept")
    assert sorted(os.listdir(out)) == [NAMES[0], NAMES[2]]  # the stopped one left no folder
    assert [p.stat().st_size for p in small] == [1000, 2000]


def test_a_label_that_would_lead_out_of_the_folder_copies_nothing(tmp_path: Path) -> None:
    """A get joined each label to LOCAL as it was: a target `..` (an ssh alias, an inventory
    or an engine's name) wrote outside LOCAL, making folders on the way (held-out tester)."""
    cwd = tmp_path / "a" / "b"
    cwd.mkdir(parents=True)
    orch = Orchestrator(load_config_text(
        "environments:\n  odd: {layers: [{type: ssh, config: {host: ['..', 'x..y', '.'], "
        "connect_timeout: 1}}]}\n"))
    try:
        got = orch.get("odd", "/etc/hostname", str(cwd / "out"))
    finally:
        orch.close()
    assert isinstance(got, FleetCopied) and not got.ok
    for label in ("..", "."):
        assert str(got[label]) == (f"target {label!r} cannot name a folder in {cwd / 'out'} "
                                   f"(a part of it is empty, '.' or '..'): nothing was copied")
    assert "cannot name a folder" not in str(got["x..y"])  # an ordinary name: it was tried
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b"]  # nothing made anywhere


def test_a_label_folder_never_leads_out_of_local(orch: Orchestrator, tmp_path: Path) -> None:
    """LOCAL a shared folder like /tmp, where user nobody left `orch-cp-1 -> elsewhere`: the
    fleet get wrote that target's copy into `elsewhere` (held-out tester transfer2). A file
    where a label folder goes fails that target in the words of any failed copy."""
    shared, elsewhere = tmp_path / "shared", tmp_path / "elsewhere"
    shared.mkdir()
    shared.chmod(0o1777)
    elsewhere.mkdir()
    os.symlink(elsewhere, shared / NAMES[0])
    os.lchown(shared / NAMES[0], 65534, 65534)
    (shared / NAMES[1]).write_text("mine\n")
    got = orch.get("cp", "/tmp/who", str(shared))
    assert list(elsewhere.iterdir()) == []
    assert sorted(got.failed) == NAMES[:2] and (shared / NAMES[2] / "who").read_text() == \
        f"{NAMES[2]}\n"
    assert str(got[NAMES[0]]) == (
        f"get cp:/tmp/who → {shared}/{NAMES[0]} failed: not copying through "
        f"{shared}/{NAMES[0]}: a link to {elsewhere} that user nobody left in the shared folder "
        f"{shared} (a link there is followed only when it is your own); nothing was kept")
    assert str(got[NAMES[1]]) == (
        f"get cp:/tmp/who → {shared}/{NAMES[1]} failed: cannot create the folder "
        f"{shared}/{NAMES[1]}: File exists; nothing was kept")
    assert (shared / NAMES[1]).read_text() == "mine\n"


def test_an_interrupted_fleet_copy_says_each_reason_once_with_its_targets(tmp_path: Path) -> None:
    """magics15: a fleet get interrupted while its hosts connected said "stopped before the
    process started" once per target, unlabelled: `…; stopped before …; stopped before …`."""
    import _thread
    import socket
    import threading

    from orch_magics.transfer.model import CopyInterrupted

    one = socket.create_server(("127.0.0.1", 0))  # accept and say nothing: still connecting
    port = one.getsockname()[1]
    two = socket.create_server(("127.0.0.2", port))
    text = (f"environments:\n  silent: [{{type: ssh, config: {{host: [127.0.0.1, 127.0.0.2], "
            f"port: {port}, connect_timeout: 60}}}}]\naudit: {{enabled: false}}\n")
    timer = threading.Timer(1.0, _thread.interrupt_main)
    with one, two, Orchestrator(load_config_text(text)) as orch:
        timer.start()
        with pytest.raises(CopyInterrupted) as err:
            orch.get("silent", "/etc/hostname", str(tmp_path / "got"))
        timer.join()
    assert str(err.value) == ("interrupted; nothing was kept; stopped before the process "
                              "started (2 targets: 127.0.0.1, 127.0.0.2)"), err.value


def _rss() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_fleet_put_holds_no_file_s_worth_of_memory_per_target(orch: Orchestrator,
                                                                  tmp_path: Path) -> None:
    """files17: each target read its own 16 MiB frames ahead, so a put to ten targets held
    1.3 GB for a 100 MB file; puts at once now share the frames' memory."""
    src = tmp_path / "payload"
    src.write_bytes(os.urandom(96 << 20))
    orch.put("cp", str(src), "/tmp/warm")  # threads, buffers and pools a put makes: not growth

    class Peak(Told):
        peak = 0

        def update(self, done: int) -> None:
            self.peak = max(self.peak, _rss())

    base, peak = _rss(), Peak()
    sent = orch.put("cp", str(src), "/tmp/payload-big", progress=peak)
    assert isinstance(sent, FleetCopied) and sent.ok
    grew = peak.peak - base  # (about 430 MiB before, 170 MiB now)
    assert grew < len(NAMES) * (96 << 20), f"controller RSS grew by {grew >> 20} MiB"


def test_a_config_saved_with_a_mistake_does_not_fail_an_admitted_fleet(
        dockerd: Engine, boxes: list[str], tmp_path: Path) -> None:
    """config19: a fleet read the config file again for each target's audit record: a typo
    saved into another service while `parallel=1` ran failed every target not started yet,
    with that typo. What was admitted runs; what is planned next meets the mistake."""
    path = config(dockerd, tmp_path)
    with Orchestrator(str(path)) as orch:
        done: dict[str, FleetResult] = {}
        fleet = threading.Thread(target=lambda: done.update(result=orch.run(
            "cp", command="sleep 0.7; hostname", parallel=1)))
        fleet.start()
        time.sleep(0.3)
        path.write_text(path.read_text() + "services:\n  oops: {commnd: x}\n")
        fleet.join(60)
        assert sorted(r.stdout for r in done["result"].values()) == [f"{n}\n" for n in NAMES]
        with pytest.raises(ConfigError, match="unknown key 'commnd'"):
            orch.plan("cp", command="true")
