"""Fleets of containers on the test dockerd: a label selects every running container with it,
resolved at run time; a container list and a range pattern name them."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.dockerd import Engine
from orch_magics import OrchError, Orchestrator, load_config_text
from orch_magics.fleet import FleetResult

pytestmark = pytest.mark.docker
NAMES = [f"orch-web-{i:02d}" for i in range(1, 11)]


@pytest.fixture(scope="module")
def web(dockerd: Engine) -> Iterator[list[str]]:
    """Ten running containers labelled orch.fleet=web, and one stopped one with the label."""
    with dockerd.labelled({"orch.fleet": "web"}, NAMES, stopped=["orch-web-stopped"]) as names:
        yield names


def _orch(dockerd: Engine, docker: dict[str, object]) -> Orchestrator:
    layer = json.dumps({"type": "docker", "config": {**docker, "docker_host": dockerd.host}})
    return Orchestrator(load_config_text(
        f"environments:\n  web: {{layers: [{layer}]}}\n"
        "services:\n  name: {command: 'cat /etc/hostname'}\n  same: {command: 'echo same'}\n"))


def test_a_label_fans_out_to_every_running_container_with_it(dockerd: Engine,
                                                              web: list[str]) -> None:
    orch = _orch(dockerd, {"label": "orch.fleet=web"})
    try:
        res = orch.run("web", "name")
    finally:
        orch.close()
    assert isinstance(res, FleetResult) and res.ok
    assert sorted(res) == web  # the stopped one is not a target
    assert all(res[name].stdout == f"{name}\n" for name in web)


def test_a_carriage_return_in_the_last_stderr_line_cannot_hide_the_cause(
        dockerd: Engine, web: list[str]) -> None:
    """fleets15: `disk full\\rok` on stderr made every target's cause `exit 5: ok`."""
    with _orch(dockerd, {"label": "orch.fleet=web"}) as orch:
        res = orch.run("web", command="printf 'ok\\nreal error: disk full\\rok\\r\\n\\n' >&2; "
                                      "exit 5")
    assert set(res.causes.values()) == {"exit 5: real error: disk full\rok"}, res.causes


def test_finding_a_labels_containers_waits_for_a_log_that_can_be_written(
        dockerd: Engine, web: list[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    """s9-guard #2: the lookup of a label's containers logged in to the (protected) host and
    ran commands there even when the audit log could not be written; the table then showed
    the engine's error, not the log's. Runs, copies and forwards check the log first. With a
    log, a label fleet writes its targets' records and no others."""
    def orch(docker: dict[str, object], log: object) -> Orchestrator:
        layer = json.dumps({"type": "docker", "config": docker})
        return Orchestrator(load_config_text(
            f"environments:\n  web: {{layers: [{layer}]}}\n"
            f"services:\n  name: {{command: 'cat /etc/hostname'}}\naudit: {{path: {log}}}\n"))

    (tmp_path / "blocker").write_text("")  # a file where the log's folder should be
    blocked = tmp_path / "blocker" / "audit.jsonl"
    said = f"cannot write the audit log {blocked}: Not a directory"
    nowhere = {"label": "orch.fleet=web", "docker_host": f"unix://{tmp_path}/no-engine.sock"}
    with orch(nowhere, blocked) as o:  # no engine: only a lookup that connected would say so
        assert list(o.run("web", "name").causes.values()) == [said]
        copied = o.get("web", "/etc/hostname", str(tmp_path / "got"))
        assert not copied.ok and said in str(copied), copied
        with pytest.raises(OrchError, match=said):
            o.forward("web", 80, host="127.0.0.1", limit="*")
    log = tmp_path / "audit.jsonl"
    with orch({"label": "orch.fleet=web", "docker_host": dockerd.host}, log) as o:
        assert o.run("web", "name").ok
    starts = [r for line in log.read_text().splitlines()
              if (r := json.loads(line))["event"] == "start"]
    assert sorted(r["target"] for r in starts) == web


def test_a_container_list_and_a_pattern_with_limit(dockerd: Engine, web: list[str]) -> None:
    orch = _orch(dockerd, {"container": "orch-web-[01:10]"})
    try:
        res = orch.run("web", "name", limit="orch-web-0*,!orch-web-05")
    finally:
        orch.close()
    assert sorted(res) == [n for n in web[:9] if n != "orch-web-05"]
    assert res.ok and len(res.groups()) == 8  # every container answers its own name


def test_identical_outputs_roll_up_into_one_group(dockerd: Engine, web: list[str]) -> None:
    orch = _orch(dockerd, {"label": "orch.fleet=web"})
    try:
        res = orch.run("web", "same", parallel=3)
    finally:
        orch.close()
    assert res.groups() == [(web, "same\n")]


def test_a_forward_picks_one_container_found_by_label(dockerd: Engine, web: list[str]) -> None:
    """--limit is applied once the label's containers are found: one of them is the forward's
    target (a chain without an SSH hop forwards from this machine), several are refused.
    Without --limit the error suggests one as for an ssh fleet (combos finding 4: it said
    only "name it with --limit", the containers were not looked up)."""
    import functools
    import http.server
    import threading
    import urllib.request

    from orch_magics import ConfigError

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory="/etc")
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    orch = _orch(dockerd, {"label": "orch.fleet=web"})
    try:
        fwd = orch.forward("web", server.server_address[1], host="127.0.0.1", limit="*-03")
        assert fwd.environment == "web [orch-web-03]" and fwd.via == "this machine"
        with urllib.request.urlopen(f"{fwd.url}/hostname", timeout=10) as answer:
            assert answer.read() == open("/etc/hostname", "rb").read()
        with pytest.raises(ConfigError, match=r"limit 'orch-web-0\*' keeps 9 targets"):
            orch.forward("web", server.server_address[1], limit="orch-web-0*")
        with pytest.raises(ConfigError, match=r"limit pattern 'orch-web-99' matches no target"):
            orch.forward("web", server.server_address[1], limit="orch-web-99")
        with pytest.raises(ConfigError) as err:
            orch.forward("web", server.server_address[1])
        assert str(err.value) == ("environment 'web' fans out to several targets and a forward "
                                  "reaches one: name it with --limit (e.g. --limit orch-web-01)")
        assert [f.environment for f in orch.forwards.list()] == ["web [orch-web-03]"]
    finally:
        orch.close()
    # fleets27: a label that finds one container was "fans out to several targets"
    try:
        with dockerd.labelled({"orch.fleet": "lone"}, ["orch-lone-1"]):
            lone = _orch(dockerd, {"label": "orch.fleet=lone"})
            try:
                fwd = lone.forward("web", server.server_address[1], host="127.0.0.1")
                assert fwd.environment == "web [orch-lone-1]"
            finally:
                lone.close()
    finally:
        server.shutdown()


def test_a_label_no_running_container_has_is_an_error_not_an_empty_success(
        dockerd: Engine, web: list[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Before: '0 targets:' and exit 0 for a run, 'get on 0 targets: 0 ok' for a copy: a
    mistyped label, or every container down, looked like success. Here the only container
    with the label is stopped."""
    from orch_magics import OrchError

    with dockerd.labelled({"orch.fleet": "down"}, [], stopped=["orch-down-1"]):
        orch = _orch(dockerd, {"label": "orch.fleet=down"})
        message = ("environment 'web' has no target: no running container has the label "
                   "orch.fleet=down")
        try:
            for call in (lambda: orch.run("web", "name"),
                         lambda: orch.get("web", "/etc/hostname", str(tmp_path / "got")),
                         lambda: orch.forward("web", 80, limit="orch-down-1"),
                         lambda: orch.forward("web", 80)):
                with pytest.raises(OrchError) as err:
                    call()
                assert str(err.value) == f"{message} (<string>:2)"  # where it was written
        finally:
            orch.close()
        # `orch run --json`: still a JSON document, not ok, saying why (s8-fleet #4: nothing)
        cfg = tmp_path / "orch.yaml"
        layer = json.dumps({"type": "docker", "config": {"label": "orch.fleet=down",
                                                          "docker_host": dockerd.host}})
        cfg.write_text(f"environments:\n  web: {{layers: [{layer}]}}\n")
        done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run",
                               "--json", "web", "--", "true"], capture_output=True, text=True,
                              timeout=120)
        assert (done.returncode, json.loads(done.stdout)) == (1, {
            "environment": "web", "ok": False, "summary": "0 targets", "targets": {},
            "error": f"{message} ({cfg}:2)"})
        assert done.stderr.strip().endswith(f"{message} ({cfg}:2)")
    assert not (tmp_path / "got").exists()


@contextlib.contextmanager
def one_paused(dockerd: Engine, label: str, running: list[str],
               paused: str) -> Iterator[None]:
    """This test's containers with `label` (and a stopped one), `paused` paused; unpaused
    before they are removed."""
    key, value = label.split("=")
    with dockerd.labelled({key: value}, [*running, paused], stopped=[f"{paused}-stopped"]):
        dockerd.api.pause(paused)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                dockerd.api.unpause(paused)


def test_a_paused_container_with_the_label_is_a_target_that_fails(dockerd: Engine) -> None:
    """Held-out tester: a paused container (which `docker ps` lists among the running ones) was
    dropped from a label's fleet without a word, one target short. It is a target whose row
    says it is paused; the others run, the fleet exits 1; a stopped one is still no target."""
    with one_paused(dockerd, "orch.fleet=pz", ["orch-pz-1"], "orch-pz-2"):
        orch = _orch(dockerd, {"label": "orch.fleet=pz"})
        try:
            res = orch.run("web", "name")
        finally:
            orch.close()
    assert isinstance(res, FleetResult) and sorted(res) == ["orch-pz-1", "orch-pz-2"]
    assert res["orch-pz-1"].ok and res["orch-pz-1"].stdout == "orch-pz-1\n"
    assert not res["orch-pz-2"].ok and res.exit_status == 1
    assert str(res["orch-pz-2"].exit.error) == ("hop 1 (docker orch-pz-2): container "
                                               "'orch-pz-2' is paused")


async def test_one_container_by_label_counts_a_paused_one(base, dockerd: Engine) -> None:  # type: ignore[no-untyped-def]
    """Outside a fleet a label picks its one running container: a paused one is one of them
    (two are ambiguous, not the other picked in silence), and alone it is said to be paused."""
    from orch_magics import Command, LayeredExecutor, LayerError
    from orch_magics.config.loader import layer_spec
    from orch_magics.layers.docker import DockerConfig

    def launch(label: str):  # type: ignore[no-untyped-def]
        return LayeredExecutor(base, [layer_spec("docker", DockerConfig(
            label=label, docker_host=dockerd.host))]).launch(Command.of(["true"]))

    with one_paused(dockerd, "orch.one=two", ["orch-two-1"], "orch-two-2"):
        with pytest.raises(LayerError, match=r"label 'orch.one=two' matches 2 running "
                                             r"containers \(orch-two-1, orch-two-2\)"):
            await launch("orch.one=two")
    with one_paused(dockerd, "orch.one=paused", [], "orch-alone"):
        with pytest.raises(LayerError, match=r"container 'orch-alone' is paused$"):
            await launch("orch.one=paused")


def test_a_rerun_gives_a_row_to_a_target_that_is_gone(dockerd: Engine) -> None:
    """`res.failed.rerun()` after the paused container was stopped returned '0 targets' with
    `.ok` true, and a full rerun after one container stopped had no row for it: a "retry the
    failed ones" loop reported success after running nothing (held-out tester)."""
    with one_paused(dockerd, "orch.fleet=rr", ["orch-rr-1", "orch-rr-2"], "orch-rr-3"):
        orch = _orch(dockerd, {"label": "orch.fleet=rr"})
        try:
            res = orch.run("web", "name")
            assert sorted(res.failed) == ["orch-rr-3"]
            dockerd.api.unpause("orch-rr-3")
            dockerd.api.stop("orch-rr-3", timeout=0)
            dockerd.api.stop("orch-rr-2", timeout=0)
            again, everything = res.failed.rerun(), res.rerun()
        finally:
            orch.close()
    assert list(again) == ["orch-rr-3"] and not again.ok and again.exit_status == 1
    assert str(again["orch-rr-3"].exit.error) == (
        "'orch-rr-3' is no longer a target of 'web': it was not found when the fleet was "
        "resolved again")
    assert sorted(everything) == ["orch-rr-1", "orch-rr-2", "orch-rr-3"]
    assert everything.states == {"orch-rr-1": "ok", "orch-rr-2": "failed",
                                 "orch-rr-3": "failed"}


def test_an_engine_that_cannot_be_reached_is_said_by_each_targets_own_hop(
        tmp_path: Path) -> None:
    """fleets10: the pooled engine connect failed once, in the words of the first container's
    launch: x-2 and x-3's rows said `hop 1 (docker x-1)`."""
    orch = Orchestrator(load_config_text(
        f"environments:\n  f:\n    layers:\n      - {{type: docker, config: {{container: "
        f"'x-[1:3]', docker_host: 'unix://{tmp_path}/none.sock'}}}}\n"
        f"services:\n  n: {{command: hostname}}\n"))
    try:
        res = orch.run("f", "n")
    finally:
        orch.close()
    for label in ("x-1", "x-2", "x-3"):
        assert res.causes[label].startswith(f"hop 1 (docker {label}): cannot reach the docker "
                                            f"engine"), res.causes


def test_a_label_whose_containers_cannot_be_found_is_audited_as_its_row(tmp_path: Path) -> None:
    """fleets25: a label fleet's row for a place whose containers could not be listed (an
    engine out of reach, a refused host, a changed key) counted as a target but left no
    record: `orch audit --failed` had nothing of an admitted, maybe protected, attempt."""
    log = tmp_path / "audit.jsonl"
    orch = Orchestrator(load_config_text(
        f"audit: {{path: {log}}}\nenvironments:\n  f:\n    layers:\n      - {{type: docker, "
        f"config: {{label: 'a=b', docker_host: 'unix://{tmp_path}/none.sock'}}}}\n"
        f"services:\n  n: {{command: hostname}}\n"))
    try:
        res = orch.run("f", "n")
    finally:
        orch.close()
    (label, row), = res.items()
    assert row.audit_id is not None and "cannot reach the docker engine" in res.causes[label]
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["event"], r["id"]) for r in records] == [("start", row.audit_id),
                                                        ("end", row.audit_id)]
    assert records[0]["target"] == label and records[1]["ok"] is False
    assert "cannot reach the docker engine" in records[1]["error"]
    assert "AUDIT" in res.table()


def test_a_mistyped_label_gets_a_did_you_mean_and_where_it_was_written(
        dockerd: Engine, web: list[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    """kinds17: a label one edit from the running containers' said only 'no running container
    has the label', as an outage would; a mistyped service or container name gets a hint."""
    from orch_magics import OrchError

    orch = _orch(dockerd, {"label": "orch.fleet=wbe"})
    try:
        with pytest.raises(OrchError, match=r"has the label orch\.fleet=wbe \(.*:2\) "
                                            r"\(did you mean label 'orch\.fleet=web'\?\)$"):
            orch.run("web", "name")
    finally:
        orch.close()
    cfg = tmp_path / "orch.yaml"
    for written, hint in (("orch.flet", "'orch.fleet'"), ("orch.fleet=dowm", None)):
        layer = json.dumps({"type": "docker", "config": {"label": written,
                                                          "docker_host": dockerd.host}})
        cfg.write_text(f"environments:\n  web:\n    layers: [{layer}]\n")
        done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "cp",
                               "web:/etc/hostname", str(tmp_path / "got")],
                              capture_output=True, text=True, timeout=120)
        said = f" (did you mean label {hint}?)" if hint else ""
        assert (done.returncode, done.stderr.strip().splitlines()[-1]) == (1, (
            f"orch: environment 'web' has no target: no running container has the label "
            f"{written} ({cfg}:3){said}")), done.stderr
    assert not (tmp_path / "got").exists()


def test_a_limit_that_keeps_only_hosts_without_the_label_says_so(
        dockerd: Engine, ssh_fleet, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """fleets24: `--limit HOST` keeping a host whose engine runs no container with the label
    read 'no running container has the label', as if none ran anywhere: the limit, which
    decided it, went unsaid."""
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(f"environments:\n  zz:\n    layers:\n"
                   f"      - {{type: ssh, config: {{host: '127.0.1.[1:2]', "
                   f"{ssh_fleet.ssh_config(user='root')}}}}}\n"  # the engine's socket is root's
                   f"      - {{type: docker, config: {{label: orch.none=zz, docker_host: "
                   f"'{dockerd.host}'}}}}\n")
    done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run", "zz",
                           "--limit", "127.0.1.2", "--", "true"], capture_output=True,
                          text=True, timeout=120)
    assert (done.returncode, done.stderr.strip().splitlines()[-1:]) == (1, [
        f"orch: environment 'zz' has no target: the limit '127.0.1.2' keeps 127.0.1.2, where "
        f"no running container has the label orch.none=zz ({cfg}:5)"]), done


def test_a_copy_to_a_label_whose_containers_cannot_be_found_is_audited(tmp_path: Path) -> None:
    """fleets26: the row of a copy to a label fleet whose place could not be looked at left
    no record, where a run's has one since fleets25."""
    log = tmp_path / "audit.jsonl"
    (tmp_path / "orch.yaml").write_text(
        f"audit: {{path: {log}}}\nenvironments:\n  f:\n    layers:\n      - {{type: docker, "
        f"config: {{label: 'a=b', docker_host: 'unix://{tmp_path}/none.sock'}}}}\n")
    (tmp_path / "x").write_text("x\n")
    done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c",
                           str(tmp_path / "orch.yaml"), "cp", str(tmp_path / "x"), "f:/tmp/x"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "no such socket" in done.stdout + done.stderr, done
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["event"] for r in records] == ["start", "end"], records
    assert records[0]["target"] == "label a=b" and records[1]["ok"] is False, records
