"""Protected environments and allow lists, on real runs through the API and the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orch_magics import ConfigError, OrchError, Orchestrator, load_config, load_config_text
from orch_magics.admission import Ticket
from orch_magics.guard import ConfirmationRefused
from terminal import on_terminal

CONFIG = """\
environments:
  local: {layers: []}
  prod:
    layers: []
    protected: true
    allow_services: [touch, wipe, flaky]
    allow_adhoc: true
  quick:
    layers: []
    protected: true
    confirm_ttl: 0
  locked:
    layers: []
    allow_adhoc: false
    allow_services: [touch]
services:
  touch: {command: 'touch "$MARK"; echo touched', environment: {MARK: '{{env:MARK}}'}}
  wipe: {command: 'touch "$MARK"; echo wiped', dangerous: true, environment: {MARK: '{{env:MARK}}'}}
  flaky:
    command: 'echo attempt >> "$MARK"; exit 1'
    environment: {MARK: '{{env:MARK}}'}
    restart: on-failure
    max_restarts: 2
  other: {command: 'echo other'}
"""

#: A fleet that is protected and narrowed: refused before anything connects to its hosts.
FLEET = """\
  fleet:
    layers: [{type: ssh, config: {host: [nowhere-1.invalid, nowhere-2.invalid]}}]
    protected: true
    allow_adhoc: false
    allow_services: [touch]
"""


@pytest.fixture
def mark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ran"
    monkeypatch.setenv("MARK", str(path))
    return path


@pytest.fixture
def orch(tmp_path: Path) -> Orchestrator:
    o = Orchestrator(load_config_text(CONFIG.replace("\nservices:", "\n" + FLEET + "services:")),
                     log_dir=tmp_path / "logs",
                     restart_backoff=(0.05, 0.05))
    yield o  # type: ignore[misc]
    o.close()


class Answers:
    """A person at the prompt: answers in order, and counts the questions."""

    def __init__(self, *answers: str | None) -> None:
        self.answers = list(answers)
        self.questions: list[str] = []

    def __call__(self, question: str) -> str | None:
        self.questions.append(question)
        return self.answers.pop(0) if self.answers else None


def test_nobody_to_ask_refuses_and_nothing_runs(orch: Orchestrator, mark: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The API's refusal said the magic's and CLI's `--yes prod`, not the call's `yes=`; a
    misspelt `ORCH_CONFRIM=prod` went unnamed (cliapi findings #7, #8)."""
    monkeypatch.setenv("ORCH_CONFRIM", "prod")
    with pytest.raises(ConfirmationRefused) as info:
        orch.run("prod", "touch")
    assert str(info.value) == ("environment 'prod' is protected and nobody can confirm here: "
                               "pass yes='prod' or set ORCH_CONFIRM=prod (ORCH_CONFRIM is set: "
                               "did you mean ORCH_CONFIRM?)")
    assert not mark.exists()


def test_yes_and_orch_confirm_must_name_the_environment(orch: Orchestrator, mark: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfirmationRefused) as info:
        orch.run("prod", "touch", yes="quick")
    assert str(info.value).startswith("environment 'prod' is protected and yes='quick' "
                                      "does not name it, and nobody can confirm here")
    assert not mark.exists()
    assert orch.run("prod", "touch", yes="prod").stdout == "touched\n"
    mark.unlink()
    fresh = Orchestrator(load_config_text(CONFIG))
    monkeypatch.setenv("ORCH_CONFIRM", "staging, prod")
    try:
        assert fresh.run("prod", "touch").ok and mark.exists()
    finally:
        fresh.close()


def test_a_misspelt_yes_is_said_with_did_you_mean_and_nothing_runs(
        orch: Orchestrator, mark: Path, tmp_path: Path) -> None:
    """config tester: `--yes prodution` was taken in silence: where a person is asked, the
    typo went unnoticed; on an unprotected environment it confirmed nothing without a word."""
    orch.gate.ask = Answers("prod")
    for environment, service in (("prod", "touch"), ("local", "touch")):
        with pytest.raises(ConfigError) as info:
            orch.run(environment, service, yes=["prod", "prdo"])
        assert str(info.value).startswith("yes='prdo': unknown environment 'prdo'")
        assert str(info.value).endswith("(did you mean 'prod'?)")
    with pytest.raises(ConfigError, match="^yes='production': .*did you mean 'prod'"):
        orch.start("local", "touch", yes="production")
    assert orch.gate.ask.questions == [] and not mark.exists()
    r = _cli(tmp_path, "run", "local", "touch", "--yes", "prodution")
    assert r.returncode == 2 and not mark.exists(), r.stderr
    assert "--yes prodution: unknown environment 'prodution'" in r.stderr
    assert "did you mean 'prod'?" in r.stderr and "Traceback" not in r.stderr
    # files10: of names as near, the one the run is for (`prd` was offered the first, `pod`)
    two = Orchestrator(load_config_text(
        "environments:\n  pod: {layers: []}\n  prod: {layers: [], protected: true}\n"))
    try:
        with pytest.raises(ConfigError, match=r"did you mean 'prod'\?\)$"):
            two.run("prod", command="true", yes="prd")
    finally:
        two.close()


def test_the_question_shows_the_command_as_a_shell_reads_it(orch: Orchestrator) -> None:
    """review24: the question showed the command through repr(), which doubled the
    backslashes of `$'x\\ty'`: bash reads that as another word than the one run."""
    ask = orch.gate.ask = Answers("prod")
    assert orch.run("prod", command=["printf", "%s", "x\ty"]).stdout == "x\ty"
    assert "run command `printf %s $'x\\ty'` there" in ask.questions[0], ask.questions
    # safety19: a 60-line cell's script was the question, on one line, its `\n`s escaped
    script = "\n".join(f"echo line {n}  # step {n} of the runbook" for n in range(60))
    ask = orch.gate.ask = Answers("quick")
    assert orch.run("quick", command=script).lines[-1] == "line 59"
    # review36: cut before it was masked, a secret past the cut showed in part
    from orch_magics.secrets.masking import register

    secret = "Zq" + "x7Kp" * 16
    register(secret)
    orch.gate.ask = Answers("quick")
    orch.run("quick", command=f"echo {'x' * 70} {secret}\n" + script)
    asked = orch.gate.ask.questions[0]  # type: ignore[union-attr]
    assert "Zq" not in asked and "x7Kp" not in asked and "****" in asked, asked
    assert ask.questions[0].endswith(
        "to run command `echo line 0  # step 0 of the runbook…` (60 lines, 2319 characters) "
        "there: ")


def test_orch_confirm_does_not_answer_for_a_person_who_can_be_asked(
        orch: Orchestrator, mark: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ORCH_CONFIRM is for where nobody can be asked: exported for scheduled jobs, it turns off
    no question in a terminal or JupyterLab, for a dangerous service least of all."""
    monkeypatch.setenv("ORCH_CONFIRM", "prod")
    ask = orch.gate.ask = Answers("prdo", "prod", "prod")
    with pytest.raises(ConfirmationRefused, match="not the environment's name"):
        orch.run("prod", "touch")
    assert not mark.exists()
    assert orch.run("prod", "touch").ok and orch.run("prod", "wipe").ok
    assert len(ask.questions) == 3 and "dangerous" in ask.questions[2]
    orch.gate.ask = Answers()  # the asker finds nobody there (nbclient): the variable confirms
    assert orch.run("prod", "wipe").ok


def test_a_typed_name_confirms_for_the_ttl_and_a_wrong_one_refuses(orch: Orchestrator,
                                                                    mark: Path) -> None:
    ask = orch.gate.ask = Answers("prdo", "prod")
    with pytest.raises(ConfirmationRefused, match="not the environment's name"):
        orch.run("prod", "touch")
    assert not mark.exists()
    assert orch.run("prod", "touch").ok and mark.exists()
    assert orch.run("prod", "touch").ok  # within confirm_ttl: not asked again
    assert len(ask.questions) == 2 and "'prod' is a protected environment" in ask.questions[0]


def test_the_question_masks_a_secret_in_the_command(orch: Orchestrator, mark: Path) -> None:
    """The question is shown (a terminal's scroll-back, a notebook's input request): a known
    secret in the command was in it in clear, though the run's output and record masked it."""
    from orch_magics.secrets import register

    secret = "s7-question-SENTINEL-9f2c"
    register(secret)
    ask = orch.gate.ask = Answers("quick")
    res = orch.run("quick", command=f"echo /srv/{secret}/x")
    assert res.ok and res.stdout == "/srv/****/x\n"
    assert len(ask.questions) == 1 and secret not in ask.questions[0], ask.questions
    assert "echo /srv/****/x" in ask.questions[0]


@pytest.mark.parametrize("entry", ["spawn", "start", "launch"])
def test_a_ticket_admits_only_what_it_was_issued_for(orch: Orchestrator, mark: Path,
                                                    entry: str) -> None:
    """A `Ticket()` made by hand, or one admitted for another environment or service, is no
    way around a confirmation or an allow list."""
    start = ENTRY_POINTS[entry]
    for ticket in (Ticket(), orch.admit(orch.plan("local", "touch")),
                   Orchestrator(orch.config).admit(orch.plan("prod", "touch"), yes="prod")):
        with pytest.raises(ConfirmationRefused):
            start(orch, "prod", "touch", ticket=ticket)
    with pytest.raises(OrchError, match="may not run in 'locked'"):
        start(orch, "locked", "other", ticket=orch.admit(orch.plan("locked", "touch")))
    as_written = orch.admit(orch.plan("locked", "touch"))  # inputs #3: env=/cwd= rode on it
    with pytest.raises(OrchError, match="-e PATH would change what runs"):
        start(orch, "locked", "touch", env={"PATH": "/nowhere"}, ticket=as_written)
    with pytest.raises(OrchError, match="a working directory would change what runs"):
        start(orch, "locked", "touch", cwd="/etc", ticket=as_written)
    assert not mark.exists()
    start(orch, "prod", "touch", ticket=orch.admit(orch.plan("prod", "touch"), yes="prod"))
    assert mark.exists()


def test_a_confirmation_covers_the_environment_as_it_was_confirmed(orch: Orchestrator,
                                                                   mark: Path,
                                                                   tmp_path: Path) -> None:
    """A config loaded since may keep the name and change what it means: asked again."""
    ask = orch.gate.ask = Answers("prod", "prod")
    text = CONFIG.replace("\nservices:", "\n" + FLEET + "services:")
    same, changed = tmp_path / "same.yaml", tmp_path / "changed.yaml"
    same.write_text("# the same environments, loaded again\n" + text)
    changed.write_text(text.replace(
        "  prod:\n    layers: []",
        "  prod:\n    layers: [{type: local, config: {environment: {HOP: changed}}}]"))
    assert orch.run("prod", "touch").ok and len(ask.questions) == 1
    orch.load(same)
    assert orch.run("prod", "touch").ok and len(ask.questions) == 1
    orch.load(changed)
    assert orch.run("prod", "touch").ok and len(ask.questions) == 2
    assert orch.run("prod", "touch").ok and len(ask.questions) == 2  # this one is confirmed


def test_a_dry_run_says_a_protected_environment_asks_first(orch: Orchestrator,
                                                           mark: Path) -> None:
    assert "protected:   a person confirms it first (or --yes prod)" in \
        orch.plan("prod", "touch").describe()
    assert "protected:" not in orch.plan("local", "touch").describe()


def test_a_bad_restart_policy_is_said_before_anyone_is_asked(orch: Orchestrator,
                                                             mark: Path) -> None:
    ask = orch.gate.ask = Answers("prod")
    with pytest.raises(ConfigError, match="restart must be one of"):
        orch.start("prod", "touch", restart="sometimes")
    assert ask.questions == [] and not mark.exists()


def test_dangerous_services_and_a_zero_ttl_ask_every_time(orch: Orchestrator, mark: Path) -> None:
    ask = orch.gate.ask = Answers("prod", "prod", "prod", "quick", "quick")
    orch.run("prod", "touch")
    orch.run("prod", "wipe")
    orch.run("prod", "wipe")
    assert len(ask.questions) == 3 and "dangerous" in ask.questions[2]
    orch.run("quick", command="true")
    orch.run("quick", command="true")
    assert len(ask.questions) == 5


def test_allow_lists_refuse_what_may_not_run_there(orch: Orchestrator, mark: Path) -> None:
    with pytest.raises(OrchError, match="may not run in 'locked'") as info:
        orch.run("locked", "other")
    assert "allowed there: touch" in str(info.value)
    with pytest.raises(OrchError, match="services only"):
        orch.run("locked", command=f"touch {mark}")
    assert not mark.exists()
    assert orch.run("locked", "touch").ok
    mark.unlink()
    refused = ("environment 'locked' runs services only (allow_adhoc: false); ad-hoc commands, "
               "cell scripts, copies and forwards are refused there")
    for call in (lambda: orch.get("locked", "/etc/hostname", str(mark)),
                 lambda: orch.put("locked", "/etc/hostname", str(mark)),
                 lambda: orch.forward("locked", 22)):
        with pytest.raises(OrchError) as err:
            call()
        assert str(err.value) == refused
    assert not mark.exists() and orch.forwards.list() == []


def test_a_refused_run_asks_no_secret_provider(tmp_path: Path, mark: Path) -> None:
    """A run the allow lists refuse fetched its secrets first: the password manager was run
    (and a prompt would have asked for a password) for a run that never could start."""
    asked = tmp_path / "asked"
    text = CONFIG.replace("  other: {command: 'echo other'}",
                          "  other: {command: 'echo other', environment: {PW: '{{secret:pw}}'}}")
    text += ("secrets:\n  providers:\n    - {type: command, argv: [sh, -c, "
             f"'echo {{name}} >> {asked}; echo pw-from-the-manager']}}\n")
    (tmp_path / "orch.yaml").write_text(text)
    o = Orchestrator(load_config_text(text))
    try:
        with pytest.raises(OrchError, match="may not run in 'locked'"):
            o.run("locked", "other")
        with pytest.raises(OrchError, match="-e X would change what runs"):
            o.run("locked", "touch", env={"X": "{{secret:pw}}"})
        assert not asked.exists()
        assert o.run("local", "other").ok  # where it may run, the provider is asked
        assert asked.read_text() == "pw\n"
        # a restart or a rerun under a config that now refuses it: refused before its layers'
        # secrets (a sudo password here) are asked for (review)
        sudo = text.replace("  locked:\n    layers: []", "  locked:\n    layers: [{type: sudo, "
                            "config: {user: root, password: '{{secret:pw}}'}}]")
        (tmp_path / "now.yaml").write_text(sudo.replace("allow_services: [touch]",
                                                        "allow_services: [other]"))
        (tmp_path / "then.yaml").write_text(sudo)
        o.load(tmp_path / "then.yaml")
        plan = o.plan("locked", "touch", dry_run=True)
        o.load(tmp_path / "now.yaml")
        with pytest.raises(OrchError, match="service 'touch' may not run in 'locked'"):
            o.replanned(plan)
        assert asked.read_text() == "pw\n"
    finally:
        o.close()
    cli = [sys.executable, "-m", "orch_magics.cli", "-c", str(tmp_path / "orch.yaml"), "run"]
    said = subprocess.run([*cli, "locked", "other"], capture_output=True, text=True, timeout=60)
    assert said.returncode == 1 and "may not run in 'locked'" in said.stderr
    # the CLI confirms a protected environment before it asks for secrets
    said = subprocess.run([*cli, "prod", "touch", "-e", "X={{secret:pw}}"], capture_output=True,
                          text=True, timeout=60, start_new_session=True, stdin=subprocess.DEVNULL)
    assert said.returncode == 1 and "nobody can confirm" in said.stderr
    assert asked.read_text() == "pw\n" and not mark.exists()
    said = subprocess.run([*cli, "prod", "touch", "-e", "X={{secret:pw}}", "--yes", "prod"],
                          capture_output=True, text=True, timeout=60)
    assert (said.returncode, said.stdout) == (0, "touched\n")
    assert asked.read_text() == "pw\npw\n"


def test_a_run_covered_by_a_confirmation_records_when_and_how_it_was_given(
        tmp_path: Path, mark: Path) -> None:
    """s9-guard #5: a run covered by an earlier confirmation recorded its own start as the
    confirmation's time, and lost how that one was given (typed, --yes, ORCH_CONFIRM)."""
    log = tmp_path / "audit.jsonl"
    o = Orchestrator(load_config_text(CONFIG + f"audit: {{path: {log}}}\n"))
    try:
        assert o.run("prod", "touch", yes="prod").ok
        time.sleep(1.2)  # the record's time is to the second
        assert o.run("prod", "touch").ok
    finally:
        o.close()
    first, covered = (json.loads(line)["confirmation"] for line in log.read_text().splitlines()
                      if json.loads(line)["event"] == "start")
    assert first["how"] == "--yes prod" and "first" not in first
    assert covered == {**first, "how": "confirmed earlier in this session",
                       "first": "--yes prod"}


@pytest.mark.parametrize("verb", ["spawn", "start"])
def test_a_plan_whose_command_was_replaced_is_no_service_there(
        orch: Orchestrator, mark: Path, verb: str) -> None:
    """safety15: an allowed service's plan with its command replaced (`dataclasses.replace`)
    ran any command in an `allow_adhoc: false` environment, and the audit trail named the
    service. The plan as made still runs."""
    import dataclasses

    from orch_magics.config.loader import layer_spec
    from orch_magics.engine import RunOptions
    from orch_magics.layers.local import LocalConfig

    plan = orch.plan("locked", "touch")
    forged = [dataclasses.replace(plan, command=dataclasses.replace(
        plan.command, argv=("sh", "-c", f"echo FORGED > {mark}"))),  # review28: and its
              dataclasses.replace(plan, command=plan.command.with_env(  # variables, or
                  {"PATH": "/nonexistent", "BASH_ENV": "/tmp/x"})),  # through begin(); and
              dataclasses.replace(plan, layers=(layer_spec(  # review29: a layer of its own
                  "local", LocalConfig(environment={"BASH_ENV": "/tmp/x"})),))]
    call = getattr(orch, verb)
    refused = "runs its services as written .* this plan's commands are not those of service"
    for changed in forged:
        with pytest.raises(OrchError, match=refused):
            call("locked", plan=changed)
        ticket = orch.admit(plan)

        async def begun(changed: object = changed, ticket: object = ticket) -> object:
            return orch.begin(changed, RunOptions(), ticket)  # type: ignore[arg-type]
        with pytest.raises(OrchError, match=refused):
            orch.loop.submit(begun()).result(30)
    assert not mark.exists()
    assert call("locked", plan=plan).wait(30).ok and mark.exists()


def test_a_plan_handed_in_runs_only_through_its_environments_layers(tmp_path: Path) -> None:
    """safety17 F2: a fleet's plan (allow_adhoc: false) with its layers swapped ran anywhere
    (another container, user, folder, variables), and the trail named the service; a
    variable around a `{{secret:…}}` took any text (another URL); and where ad-hoc commands
    may run, a `dev` plan carrying `prod`'s layers ran on prod, unasked. A target's own
    layers, the whole fan-out, and the plans as made still run."""
    import dataclasses

    from orch_magics.config.loader import layer_spec
    from orch_magics.layers.local import LocalConfig

    mark = tmp_path / "mark"
    text = (f"environments:\n"
            f"  web: {{allow_adhoc: false, layers: [{{type: ssh, config: {{host: [web-1, "
            f"web-2], port: 1, connect_timeout: 2}}}}]}}\n"
            f"  locked: {{allow_adhoc: false, layers: []}}\n"
            f"  dev: [{{type: local, config: {{environment: {{WHERE: dev}}}}}}]\n"
            f"  prod: {{protected: true, layers: [{{type: local, config: {{environment: "
            f"{{WHERE: prod}}}}}}]}}\n"
            f"services:\n"
            f"  name: {{command: 'echo \"$WHERE\" > {mark}'}}\n"
            f"  call: {{command: 'echo \"$URL\" > {mark}', environment: {{URL: "
            f"'https://api.internal/v1?key={{{{secret:tok}}}}'}}}}\n"
            f"secrets: {{providers: [env]}}\naudit: {{enabled: false}}\n")
    os.environ["ORCH_SECRET_TOK"] = "s3cr3t"
    try:
        with Orchestrator(load_config_text(text)) as orch:
            fleet = orch.plan("web", "name")
            ssh = fleet.layers_to_run[0]
            other = dataclasses.replace(ssh, config=dataclasses.replace(ssh.config, host="evil"),
                                        fanout=None)
            member = dataclasses.replace(ssh, config=dataclasses.replace(
                ssh.config, host="web-2"), label="ssh web-2", fanout=None)
            for swapped in (other, layer_spec("local", LocalConfig())):
                with pytest.raises(OrchError, match="this plan's commands are not those of "):
                    asyncio.run(orch.arun("web", plan=dataclasses.replace(fleet,
                                                                          layers=(swapped,))))
            for runs, tried in ((fleet, {"web-1", "web-2"}),
                                (dataclasses.replace(fleet, layers=(member,)), {"web-2"})):
                ran = asyncio.run(orch.arun("web", plan=runs))  # let in; no web-N resolves
                assert {re.search(r"ssh (web-\d)", cause)[1]  # type: ignore[index]
                        for cause in ran.causes.values()} == tried, ran.causes

            call = orch.plan("locked", "call")
            elsewhere = dataclasses.replace(call, command=call.command.with_env(
                {"URL": "https://elsewhere.example/collect"}))
            with pytest.raises(OrchError, match="this plan's commands are not those of service"):
                orch.spawn("locked", plan=elsewhere)
            assert orch.spawn("locked", plan=call).wait(30).ok
            assert mark.read_text() == "https://api.internal/v1?key=s3cr3t\n"

            carried = dataclasses.replace(orch.plan("dev", "name"),
                                          layers=orch.plan("prod", "name").layers)
            with pytest.raises(OrchError, match=r"this plan's layers \(local\) are not "
                                                r"environment 'dev''s"):
                orch.spawn("dev", plan=carried)
            assert orch.spawn("dev", plan=orch.plan("dev", "name")).wait(30).ok
            assert mark.read_text() == "dev\n"
    finally:
        del os.environ["ORCH_SECRET_TOK"]


def test_a_plan_handed_in_naming_a_container_a_label_would_select_is_refused() -> None:
    """review32: for a fleet whose containers a label selects, the check took the container
    named by the plan itself as one found: any container (`postgres-prod`) passed, where only
    services as written run. Such a container is known once found: a plan naming one is
    refused (the fleet's own target plans are vouched for)."""
    import dataclasses

    from orch_magics.config.loader import load_config_text as load
    from orch_magics.plan import make_plan
    from orch_magics.plan_written import check_written

    config = load("environments:\n  web: {allow_adhoc: false, layers: [{type: docker, config: "
                  "{label: app=web}}]}\nservices:\n  name: {command: 'echo hi'}\n")
    plan = make_plan(config, "web", "name", dry_run=True)
    spec = plan.layers_to_run[0]
    forged = dataclasses.replace(spec, config=dataclasses.replace(
        spec.config, container="postgres-prod", label=None), fanout=None,
        label="docker postgres-prod")
    check_written(plan, config)  # the fleet as written
    with pytest.raises(OrchError, match="this plan's commands are not those of service"):
        check_written(dataclasses.replace(plan, layers=(forged,)), config)


def test_a_services_only_environment_runs_its_services_as_written(
        orch: Orchestrator, mark: Path, tmp_path: Path) -> None:
    """s9-guard #1: `-e PATH=…` (env=) put another `touch` first and ran it where only the
    service's own commands may run; the audit could not tell the two runs apart."""
    (evil := tmp_path / "evil").mkdir()
    (evil / "touch").write_text("#!/bin/sh\necho ARBITRARY\n")
    (evil / "touch").chmod(0o755)
    path = f"{evil}:{os.environ['PATH']}"
    for entry in ENTRY_POINTS.values():
        with pytest.raises(OrchError) as info:
            entry(orch, "locked", "touch", env={"PATH": path})
        assert str(info.value) == (
            "environment 'locked' runs its services as written (allow_adhoc: false): -e PATH "
            "would change what runs; set it in the service instead")
        with pytest.raises(OrchError, match="a working directory would change what runs"):
            entry(orch, "locked", "touch", cwd=str(evil))
    assert not mark.exists()
    cli = [sys.executable, "-m", "orch_magics.cli", "-c", str(tmp_path / "orch.yaml"), "run"]
    (tmp_path / "orch.yaml").write_text(CONFIG)
    said = subprocess.run([*cli, "locked", "touch", "-e", f"PATH={path}"], capture_output=True,
                          text=True, timeout=60)
    assert (said.returncode, said.stdout) == (1, "") and "-e PATH would change" in said.stderr
    assert not mark.exists()
    # where the caller may add variables, the audit record names them (not their values)
    log = tmp_path / "audit.jsonl"
    o = Orchestrator(load_config_text(CONFIG + f"audit: {{path: {log}}}\n"))
    try:
        assert o.run("local", "touch", env={"EXTRA": "s3cr3t"}, cwd=str(tmp_path)).ok
    finally:
        o.close()
    start = json.loads(log.read_text().splitlines()[0])
    assert (start["given_env"], start["given_cwd"]) == (["EXTRA"], str(tmp_path))
    assert "s3cr3t" not in log.read_text()


async def _launched(orch: Orchestrator, *args: Any, **kw: Any) -> object:
    return await (await orch.launch(*args, **kw)).wait()


#: Every public call that starts a process, as (orch, environment, service, command) → ends.
ENTRY_POINTS: dict[str, Callable[..., object]] = {
    "run": lambda o, *a, **kw: o.run(*a, **kw),
    "arun": lambda o, *a, **kw: asyncio.run(o.arun(*a, **kw)),
    "spawn": lambda o, *a, **kw: o.spawn(*a, **kw).wait(20),
    "start": lambda o, *a, **kw: o.start(*a, **kw).wait(20),
    "launch": lambda o, *a, **kw: asyncio.run(_launched(o, *a, **kw)),
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_every_way_to_start_a_process_goes_through_the_guardrails(
        orch: Orchestrator, mark: Path, entry: str) -> None:
    start = ENTRY_POINTS[entry]
    one_process = entry in ("spawn", "launch")  # a fleet is refused there, before any question
    ask = orch.gate.ask = Answers()
    for environment in ("prod", "fleet"):
        refused = ("fans out to several targets" if one_process and environment == "fleet"
                   else f"{environment!r} is protected")
        with pytest.raises(OrchError, match=refused):
            start(orch, environment, "touch")
    assert len(ask.questions) == (1 if one_process else 2)  # s9-guard: asked, then refused
    for environment in ("locked", "fleet"):  # the allow lists refuse first, on every entry
        with pytest.raises(OrchError, match=f"may not run in {environment!r}"):
            start(orch, environment, "other")
        with pytest.raises(OrchError, match="services only"):
            start(orch, environment, command=f"touch {mark}")
    assert not mark.exists()
    ask = orch.gate.ask = Answers("prod")
    start(orch, "prod", "touch")
    assert mark.exists() and len(ask.questions) == 1


def test_allow_services_names_are_checked_at_load() -> None:
    bad = CONFIG.replace("allow_services: [touch]", "allow_services: [tuch]")
    with pytest.raises(ConfigError, match="allow_services: unknown service 'tuch'") as info:
        load_config_text(bad)
    assert "did you mean 'touch'" in str(info.value)
    line = bad.splitlines().index(next(x for x in bad.splitlines() if "[tuch]" in x)) + 1
    column = bad.splitlines()[line - 1].index("tuch") + 1
    assert f"<string>:{line}:{column}:" in str(info.value)  # config7: at the name, not the env


def test_an_unknown_allowed_service_is_said_at_its_name_in_a_second_file(tmp_path: Path) -> None:
    (tmp_path / "environments.yaml").write_text(
        "environments:\n  prod:\n    layers: []\n    allow_services:\n      - deploy\n"
        "      - restrat\n")
    (tmp_path / "services.yaml").write_text(
        "services:\n  deploy: {command: 'true'}\n  restart: {command: 'true'}\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "environments.yaml", tmp_path / "services.yaml")
    assert "environments.yaml:6:9:" in str(info.value)
    assert "did you mean 'restart'" in str(info.value)


def test_a_named_run_is_confirmed_once_for_every_attempt(orch: Orchestrator, mark: Path) -> None:
    ask = orch.gate.ask = Answers("prod")
    live = orch.start("prod", "flaky", name="f")
    live.supervisor.finished.result(20)  # type: ignore[attr-defined]
    assert mark.read_text().count("attempt") == 3 and len(ask.questions) == 1


def test_a_restart_is_admitted_again_as_a_start(orch: Orchestrator, mark: Path) -> None:
    """A manual restart is a new run asked for now: a dangerous service asks again, a protected
    environment past its confirm_ttl too; refused, the current attempt runs on."""
    ask = orch.gate.ask = Answers("prod", "prod", "nope")
    orch.start("prod", "wipe", name="w").wait(20)
    mark.unlink()
    assert orch.restart("w").wait(20).ok and mark.exists()
    assert len(ask.questions) == 2 and "dangerous" in ask.questions[1]
    mark.unlink()
    with pytest.raises(ConfirmationRefused, match="not the environment's name"):
        orch.restart("w")
    orch.gate.ask = None  # nobody to ask: refused unless `yes` names it
    with pytest.raises(ConfirmationRefused, match="pass yes='prod'"):
        orch.restart("w")
    assert not mark.exists()
    assert orch.restart("w", yes="prod").wait(20).ok and mark.exists()
    ask = orch.gate.ask = Answers("quick", "nope")  # confirm_ttl: 0
    sleeping = orch.start("quick", command="sleep 30", name="s")
    with pytest.raises(ConfirmationRefused, match="not the environment's name"):
        orch.restart("s")
    assert len(ask.questions) == 2 and orch.status("s") is sleeping and not sleeping.done


def test_a_restart_is_admitted_under_the_guardrails_the_config_has_now(
        tmp_path: Path, mark: Path) -> None:
    """A config loaded since the start protects the environment and narrows it: a restart
    ran at once, unasked, under the guardrails the run started with (held-out tester)."""
    before, after = tmp_path / "before.yaml", tmp_path / "after.yaml"
    before.write_text(CONFIG)
    after.write_text(CONFIG.replace("  local: {layers: []}",
                                    "  local: {layers: [], protected: true, allow_adhoc: false,\n"
                                    "          allow_services: [touch]}"))
    with Orchestrator(load_config(before)) as orch:
        orch.start("local", "other", name="o").wait(20)
        orch.start("local", command=f"touch {mark}", name="adhoc").wait(20)
        mark.unlink()
        orch.load(after)
        with pytest.raises(OrchError, match="service 'other' may not run in 'local'"):
            orch.restart("o")
        with pytest.raises(OrchError, match="runs services only"):
            orch.restart("adhoc")
        assert not mark.exists()
    guarded = CONFIG.replace("  local: {layers: []}", "  local: {layers: [], protected: true}")
    plain, dangerous = tmp_path / "plain.yaml", tmp_path / "dangerous.yaml"
    plain.write_text(guarded)
    dangerous.write_text(guarded.replace("  other: {command: 'echo other'}",  # made dangerous
                                         "  other: {command: 'echo other', dangerous: true}"))
    with Orchestrator(load_config(plain)) as orch:  # confirmed once, for its confirm_ttl
        orch.start("local", "other", name="o", yes="local").wait(20)
        orch.load(dangerous)
        with pytest.raises(ConfirmationRefused, match="pass yes='local'"):
            orch.restart("o")


def test_a_restart_under_a_config_that_cannot_run_is_refused_before_anyone_is_asked(
        tmp_path: Path, mark: Path) -> None:
    """review22: a config loaded since the start protects the environment and gives it a
    chain whose settings reach no command: the person was asked, then the run refused."""
    before, after = tmp_path / "before.yaml", tmp_path / "after.yaml"
    before.write_text(CONFIG)
    after.write_text(CONFIG.replace(
        "  local: {layers: []}",
        "  local:\n    protected: true\n    layers:\n"
        "      - {type: local, config: {environment: {A: b}}}\n"
        "      - {type: ssh, config: {host: nowhere.invalid}}"))
    with Orchestrator(load_config(before)) as orch:
        orch.start("local", "other", name="o").wait(20)
        orch.load(after)
        ask = orch.gate.ask = Answers("local")
        with pytest.raises(ConfigError, match=f"{after}:5: environment 'local': ") as err:
            orch.restart("o")
        assert "has no effect" in str(err.value) and ask.questions == []


def test_automatic_restarts_stop_when_a_load_narrows_or_protects_the_environment(
        tmp_path: Path) -> None:
    """runs6: restarts of a policy went on under the guardrails the run started with: a
    service the new allow list refuses, an ad-hoc command where allow_adhoc is now false, an
    environment now protected (never confirmed): each attempt audited with no confirmation,
    while a manual restart in the same state was refused."""
    counts = tmp_path / "count"
    looping = ("  tick: {command: 'echo tick >> \"$MARK\"; sleep 0.2; exit 1', restart: always,"
               " max_restarts: 50, environment: {MARK: '{{env:MARK}}'}}\n")
    before, narrowed, guarded = (tmp_path / n for n in ("b.yaml", "n.yaml", "g.yaml"))
    before.write_text(CONFIG + looping)
    narrowed.write_text(CONFIG.replace("  local: {layers: []}", "  local: {layers: [], "
                                       "allow_adhoc: false, allow_services: [touch]}") + looping)
    guarded.write_text(CONFIG.replace("  local: {layers: []}", "  local: {layers: [], "
                                      "protected: true}") + looping)
    os.environ["MARK"] = str(counts)
    for after, said in ((narrowed, "service 'tick' may not run in 'local'"),
                        (guarded, "environment 'local' is protected")):
        with Orchestrator(load_config(before), restart_backoff=(0.05, 0.05),
                          log_dir=tmp_path / "logs") as orch:
            orch.start("local", "tick", name="t")
            orch.start("local", command="sleep 0.2; exit 1", name="a", restart="always",
                       max_restarts=50)
            time.sleep(1.0)
            orch.load(after)
            for name in ("t", "a"):  # the policies stop themselves
                for _ in range(100):
                    if "restart refused" in orch.logs(name):
                        break
                    time.sleep(0.1)
                assert orch.status(name).restarts < 10, orch.logs(name)
            assert f"restart refused: {said}" in orch.logs("t"), orch.logs("t")
            if after is narrowed:
                assert "restart refused: environment 'local' runs services only" in \
                    orch.logs("a")


@contextlib.contextmanager
def reloaded(tmp_path: Path, before: str, after: str, service: str) -> Iterator[Orchestrator]:
    """An Orchestrator of config `before` that started `service` as a named run of that name
    (restarts 0.05 s apart), then loaded config `after`."""
    first, then = tmp_path / "b.yaml", tmp_path / "a.yaml"
    first.write_text(before)
    then.write_text(after)
    with Orchestrator(load_config(first), restart_backoff=(0.05, 0.05),
                      log_dir=tmp_path / "logs") as orch:
        orch.start("local", service, name=service)
        time.sleep(0.5)
        orch.load(then)
        yield orch


def test_automatic_restarts_stop_when_the_service_is_removed(tmp_path: Path) -> None:
    """config15: a crash-looping service deleted from the file kept coming back, its old
    command run by every restart, where a removed environment ended the policy."""
    looping = "  tick: {command: 'sleep 0.2; exit 3', restart: always, max_restarts: 50}\n"
    with reloaded(tmp_path, CONFIG + looping, CONFIG, "tick") as orch:
        for _ in range(100):
            if "restart refused" in orch.logs("tick"):
                break
            time.sleep(0.1)
        assert "restart refused: unknown service 'tick'" in orch.logs("tick"), orch.logs("tick")
        assert orch.status("tick").restarts < 10


@pytest.mark.parametrize("verb", ["spawn", "start", "arun"])
def test_a_plan_made_before_a_load_is_admitted_under_the_guardrails_of_now(
        tmp_path: Path, mark: Path, verb: str) -> None:
    """A plan made, then a config loaded that protects and narrows its environment, then the
    plan passed in: it ran at once, unasked, under the guardrails it was made under, with
    `confirmation: null` in its audit record (held-out tester)."""
    before, after = tmp_path / "before.yaml", tmp_path / "after.yaml"
    before.write_text(CONFIG)
    locked = "  local: {layers: [], protected: true, allow_adhoc: false, allow_services: [touch]}"
    after.write_text(CONFIG.replace("  local: {layers: []}", locked))
    with Orchestrator(load_config(before), log_dir=tmp_path / "logs") as orch:
        def given(plan: Any, **yes: str) -> Any:
            if verb == "arun":
                return asyncio.run(orch.arun("local", plan=plan, **yes))
            if verb == "start":
                return orch.start("local", plan=plan, name=f"p{len(yes)}", **yes).wait(20)
            return orch.spawn("local", plan=plan, **yes).wait()

        adhoc, other, touch = (orch.plan("local", command=f"touch {mark}"),
                               orch.plan("local", "other"), orch.plan("local", "touch"))
        orch.load(after)
        with pytest.raises(OrchError, match="runs services only"):
            given(adhoc)
        with pytest.raises(OrchError, match="service 'other' may not run in 'local'"):
            given(other)
        with pytest.raises(ConfirmationRefused, match="pass yes='local'"):
            given(touch)
        assert not mark.exists()
        given(touch, yes="local")
        assert mark.exists()


def _cli(tmp_path: Path, *args: str, tty: bool = False) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(CONFIG)
    argv = [sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), *args]
    # Without a controlling terminal (a new session), /dev/tty cannot be opened: nobody to ask.
    return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          start_new_session=not tty, stdin=subprocess.DEVNULL)


def test_cli_without_a_terminal_refuses_unless_yes_names_it(tmp_path: Path, mark: Path) -> None:
    r = _cli(tmp_path, "run", "prod", "touch")
    assert r.returncode == 1 and "--yes prod" in r.stderr and "Traceback" not in r.stderr
    assert not mark.exists()
    # runs6: a name with a space was said `--yes prod east`, which a shell splits
    from orch_magics.guard import _nobody_confirms
    assert str(_nobody_confirms("prod east", [], "cli")).endswith(
        "run with --yes 'prod east' or set ORCH_CONFIRM='prod east'")
    r = _cli(tmp_path, "run", "prod", "touch", "--yes", "prod")
    assert r.returncode == 0 and r.stdout == "touched\n"


@pytest.mark.parametrize(("words", "said"), [
    (["prod", "touch"], "'prod' is protected and nobody can confirm here"),
    (["locked", "other"], "service 'other' may not run in 'locked'"),
    (["locked", "--", "touch", "x"], "runs services only (allow_adhoc: false)"),
])
def test_cli_json_says_a_refusal_on_stdout_too(tmp_path: Path, mark: Path, words: list[str],
                                               said: str) -> None:
    """inputs tester: `orch run … --json | jq` got nothing on stdout when the guardrails
    refused; now the never-started result, as for an unreachable hop."""
    r = _cli(tmp_path, "run", words[0], "--json", *words[1:])
    result = json.loads(r.stdout)
    assert r.returncode == 1 and said in r.stderr, r.stderr
    assert (result["returncode"], result["ok"], result["environment"]) == (None, False, words[0])
    assert said in result["error"]
    assert not mark.exists()


def test_cli_json_says_a_missing_secret_on_stdout_too(tmp_path: Path, mark: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """cli2 #1: a secret no provider has left stdout empty under `--json`, status 2."""
    monkeypatch.delenv("ORCH_SECRET_NOPE", raising=False)
    text = CONFIG.replace("  other: {command: 'echo other'}",
                          "  other: {command: 'echo other', environment: {P: '{{secret:nope}}'}}")
    (tmp_path / "orch.yaml").write_text(text + "secrets: {providers: [env]}\n")
    r = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(tmp_path / "orch.yaml"),
                        "run", "local", "other", "--json"], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    result = json.loads(r.stdout)
    assert r.returncode == 2 and "secret 'nope' is not available" in r.stderr
    assert result["returncode"] is None and "secret 'nope' is not available" in result["error"]


@pytest.mark.parametrize(("words", "command"), [
    (["local", "other"], "echo other"),
    (["local", "-e", "X={{env:ORCH_TEST_UNSET}}", "--", "echo", "hi"], "echo hi"),
    (["fleet", "touch"], None),
])
def test_cli_json_says_an_unset_variable_on_stdout_too(tmp_path: Path, mark: Path,
                                                       words: list[str], command: str | None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A `{{env:VAR}}` that is not set left stdout empty under `--json` (stderr only)."""
    monkeypatch.delenv("ORCH_TEST_UNSET", raising=False)
    text = CONFIG.replace("  other: {command: 'echo other'}", "  other: {command: 'echo other', "
                          "environment: {P: '{{env:ORCH_TEST_UNSET}}'}}")
    text = text.replace("\nservices:", "\n" + FLEET.replace(
        "nowhere-2.invalid]", "nowhere-2.invalid], user: '{{env:ORCH_TEST_UNSET}}'") + "services:")
    (tmp_path / "orch.yaml").write_text(text)
    r = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(tmp_path / "orch.yaml"),
                        "run", "--json", *words], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    said = "variable 'ORCH_TEST_UNSET' is not set"
    result = json.loads(r.stdout)
    assert r.returncode == 2 and said in r.stderr and said in result["error"]
    assert result["ok"] is False and result["environment"] == words[0]
    if command is None:
        assert result["targets"] == {}  # a fleet's keys
    else:
        assert (result["command"], result["returncode"]) == (command, None)


def test_cli_json_says_a_fleets_refusal_in_a_fleet_results_keys(tmp_path: Path, mark: Path) -> None:
    """review: a fleet's refusal printed a single run's JSON (no `targets`)."""
    (cfg := tmp_path / "orch.yaml").write_text(
        CONFIG.replace("\nservices:", "\n" + FLEET + "services:"))
    r = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run", "fleet",
                        "touch", "--json"], capture_output=True, text=True, timeout=60,
                       start_new_session=True, stdin=subprocess.DEVNULL)
    result = json.loads(r.stdout)
    assert r.returncode == 1 and "nobody can confirm here" in result["error"], r.stderr
    assert (result["ok"], result["targets"]) == (False, {})


def test_cli_on_a_terminal_asks_for_the_name(tmp_path: Path, mark: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Asked even with ORCH_CONFIRM set: the variable is for where nobody can be asked."""
    import pty

    cfg = tmp_path / "orch.yaml"
    cfg.write_text(CONFIG)
    monkeypatch.setenv("ORCH_CONFIRM", "prod")
    said = {b"nope\n": b"not the environment's name",
            b"\x04": b"not run: nothing was typed (the environment's name, prod, confirms it)",
            b"\x03": b"orch: interrupted"}
    for answer, status in ((b"prod\n", 0), (b"nope\n", 1), (b"\x04", 1),  # \x04: Ctrl-D
                           (b"\x03", 130)):  # Ctrl-C
        pid, fd = pty.fork()
        if pid == 0:  # the child: its controlling terminal is the pty
            os.execv(sys.executable, [sys.executable, "-m", "orch_magics.cli", "-c", str(cfg),
                                      "run", "prod", "touch"])
        seen = b""
        while b"Type its name" not in seen:
            seen += os.read(fd, 1024)
        os.write(fd, answer)
        while True:
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        _, code = os.waitpid(pid, 0)
        os.close(fd)
        assert os.waitstatus_to_exitcode(code) == status, seen
        assert (b"touched" in seen) == (status == 0) and mark.exists() == (status == 0)
        if status:
            assert said[answer] in seen, seen
            # on a line of its own, not after the question (held-out tester cli3)
            assert b"there: orch:" not in seen and b"^Corch:" not in seen, seen
        mark.unlink(missing_ok=True)


@pytest.mark.parametrize("typed", [b"prod\r", b"nope\r"])
def test_terminal_ipython_asks_the_person_at_the_terminal(tmp_path: Path, mark: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         typed: bytes) -> None:
    """s9-guard #4: `%orch` in terminal IPython said "nobody can confirm here" to the person
    at the terminal, and an exported ORCH_CONFIRM (for scheduled jobs) answered for them."""
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(CONFIG)
    script = tmp_path / "cells.ipy"
    script.write_text(f"%load_ext orch_magics\n%orch load {cfg}\n%orch prod touch\n")
    monkeypatch.setenv("ORCH_CONFIRM", "prod")  # never answers where a person can be asked
    ipython = str(Path(sys.executable).with_name("ipython"))
    status, screen = on_terminal([ipython, "--no-banner", "--colors=NoColor", str(script)],
                                 [(b"Type its name to run service 'touch' there: ", typed)])
    assert (b"touched" in screen) == (typed == b"prod\r") == mark.exists(), screen
    if typed != b"prod\r":
        assert b"not run: the answer is not the environment's name 'prod'" in screen


def test_a_test_shell_at_a_terminal_asks_nobody(tmp_path: Path, mark: Path) -> None:
    """s9-regress #1: IPython's own test shell (globalipapp, a TerminalInteractiveShell too)
    was taken for terminal IPython and waited on /dev/tty for ever: a user's pytest run from
    a terminal hung where it had been refused at once."""
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(CONFIG)
    code = ("from IPython.testing.globalipapp import start_ipython\n"
            "shell = start_ipython()\n"
            "shell.run_line_magic('load_ext', 'orch_magics')\n"
            f"shell.run_line_magic('orch', 'load {cfg}')\n"
            "try:\n    shell.run_line_magic('orch', 'prod touch')\n"
            "except Exception as exc:\n    print('REFUSED', exc)\n")
    status, screen = on_terminal([sys.executable, "-c", code], [], timeout=60)
    assert status == 0 and b"REFUSED" in screen and b"nobody can confirm here" in screen, screen
    assert not mark.exists()


#: Protected environments whose runs need a secret: a service's variable, a layer's password.
SECRET_CONFIG = """\
environments:
  vault: {layers: [], protected: true}
  vault-sudo:
    layers: [{type: sudo, config: {user: root, password: '{{secret:pw}}'}}]
    protected: true
services:
  touch: {command: 'touch "$MARK"; echo touched', environment: {MARK: '{{env:MARK}}', PW: '{{secret:pw}}'}}
secrets:
  providers:
    - {type: command, argv: [sh, -c, 'echo {name} >> "$ASKED"; echo pw-from-the-manager']}
"""

#: Copies and forwards through a protected chain whose layer needs a secret.
TRANSFERS: dict[str, Callable[[Orchestrator, Path], object]] = {
    "get": lambda o, d: o.get("vault-sudo", "/etc/hostname", d / "got"),
    "put": lambda o, d: o.put("vault-sudo", d / "logs", "/tmp/never"),
    "forward": lambda o, d: o.forward("vault-sudo", 22),
}


@pytest.mark.parametrize("entry", [*ENTRY_POINTS, *TRANSFERS])
def test_a_protected_environment_is_confirmed_before_any_secret_is_asked(
        tmp_path: Path, mark: Path, monkeypatch: pytest.MonkeyPatch, entry: str) -> None:
    """The API and the magic resolved every `{{secret:…}}` first: the password manager ran
    (a prompt asked for a password) for a run nobody confirmed, or that was refused."""
    asked = tmp_path / "asked"
    monkeypatch.setenv("ASKED", str(asked))
    secret = f"pw-{entry}"  # a value fetched once is kept for the session: one per test
    (tmp_path / "logs").mkdir()
    o = Orchestrator(load_config_text(SECRET_CONFIG.replace("secret:pw", f"secret:{secret}")),
                     log_dir=tmp_path / "logs")
    try:
        def start() -> object:
            if entry in TRANSFERS:
                return TRANSFERS[entry](o, tmp_path)
            return ENTRY_POINTS[entry](o, "vault", "touch")

        with pytest.raises(ConfirmationRefused, match="nobody can confirm"):
            start()
        ask = o.gate.ask = Answers("nope")
        with pytest.raises(ConfirmationRefused, match="not the environment's name"):
            start()
        assert len(ask.questions) == 1 and not asked.exists() and not mark.exists()
        if entry in TRANSFERS:
            return
        o.gate.ask = Answers("vault")
        start()
        assert mark.exists() and asked.read_text() == f"{secret}\n"  # confirmed: asked once
    finally:
        o.close()


@pytest.mark.parametrize(("call", "said"), [
    (lambda o: o.run("locked", "other", sinks=lambda label: ()), "may not run in 'locked'"),
    (lambda o: o.start("locked", "other", restart="bogus"), "may not run in 'locked'"),
    (lambda o: o.run("fleet", "other", limit="zzz"), "may not run in 'fleet'"),
    (lambda o: o.run("locked", command="true", limit="a"), "runs services only"),
    (lambda o: o.get("locked", "/etc/hostname", limit="a"), "runs services only"),
    (lambda o: o.forward("fleet", 22), "runs services only"),
    (lambda o: o.start("local", command="true", sinks=lambda label: (), restart="bogus"),
     "restart must be one of"),  # a policy is said before the sinks, as it was
])
def test_the_allow_lists_refuse_first_as_they_did(orch: Orchestrator, mark: Path,
                                                  call: Callable[[Orchestrator], object],
                                                  said: str) -> None:
    """review3: admitting before resolving moved the allow lists after the fleet options,
    sinks, restart policy and `--limit` checks (a forward into a services-only fleet said
    "name it with --limit", then refused the --limit for allow_adhoc)."""
    ask = orch.gate.ask = Answers()
    with pytest.raises(OrchError, match=said):
        call(orch)
    assert ask.questions == [] and not mark.exists()


def test_a_refused_run_is_audited_and_listed_as_refused(tmp_path: Path, mark: Path) -> None:
    """Who tried what at a protected environment's door, and why it stayed shut: a wrong
    answer, nobody to ask, a Ctrl-C at the question. Refusals wrote nothing before."""
    log = tmp_path / "audit.jsonl"
    cfg = tmp_path / "audited.yaml"
    cfg.write_text(f"{CONFIG}audit: {{path: {log}}}\n")
    orch = Orchestrator(load_config(str(cfg)))
    try:
        orch.gate.ask = Answers("prdo", "prod")
        with pytest.raises(ConfirmationRefused):
            orch.run("prod", "touch")
        assert orch.run("prod", "touch").ok
        orch.gate.ask = Answers()  # nobody there
        with pytest.raises(ConfirmationRefused):
            orch.run("quick", command="id")

        def interrupted(question: str) -> str:
            raise KeyboardInterrupt
        orch.gate.ask = interrupted
        with pytest.raises(KeyboardInterrupt):
            orch.run("quick", "touch")
    finally:
        orch.close()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), *args],
                              capture_output=True, text=True, timeout=60,
                              start_new_session=True, stdin=subprocess.DEVNULL)
    assert cli("run", "prod", "wipe").returncode == 1
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["event"] for r in records] == ["refused", "start", "end", "refused", "refused",
                                             "refused"]
    wrong, _, _, nobody, ctrl_c, by_cli = records
    assert (wrong["environment"], wrong["service"], wrong["front_end"]) == ("prod", "touch", "api")
    # basics10: what was typed (a password at the wrong prompt?) is not kept in the trail
    assert wrong["reason"] == ("not run: the answer is not the environment's name 'prod' "
                               "(type it exactly as the config spells it)")
    assert "prdo" not in log.read_text()
    assert (nobody["service"], nobody["command"]) == (None, "id")
    assert nobody["reason"].startswith("environment 'quick' is protected and nobody can confirm")
    assert ctrl_c["reason"] == "not run: interrupted at the confirmation"
    assert (by_cli["front_end"], by_cli["service"], by_cli["chain"]) == ("cli", "wipe", "local")
    assert by_cli["user"] and by_cli["pid"] != os.getpid()
    table = cli("audit", "--failed").stdout.splitlines()[1:]
    assert len(table) == 4 and all(" refused " in row for row in table), table
    listed = [json.loads(line) for line in cli("audit", "--json").stdout.splitlines()]
    assert [r["event"] for r in listed] == ["refused", "start", "refused", "refused", "refused"]
    assert cli("audit", "-n", "2").stdout.count(" refused ") == 2
    assert cli("audit", "verify").returncode == 0


def test_a_refusal_names_the_chain_a_run_would_and_json_carries_its_audit_id(
        tmp_path: Path) -> None:
    """runs6: the refused record named `local → env(X)` where the start records of the same
    environment say `local` (a local layer only edits commands), and `orch run --json` of a
    refused run had `audit_id: null` though a record with an id was written for it."""
    log = tmp_path / "audit.jsonl"
    cfg = tmp_path / "orch.yaml"
    cfg.write_text("environments:\n  p:\n    protected: true\n    layers: [{type: local, "
                   "config: {environment: {X: '1'}}}]\n"
                   f"audit: {{path: {log}}}\n")
    argv = [sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run", "--json", "p", "--"]
    refused = subprocess.run([*argv, "true"], capture_output=True, text=True, timeout=60,
                             start_new_session=True, stdin=subprocess.DEVNULL)
    ran = subprocess.run([*argv[:-1], "--yes", "p", "--", "true"], capture_output=True,
                         text=True, timeout=60, start_new_session=True, stdin=subprocess.DEVNULL)
    assert refused.returncode == 1 and ran.returncode == 0, (refused.stderr, ran.stderr)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["event"] for r in records] == ["refused", "start", "end"]
    assert records[0]["chain"] == records[1]["chain"] == "local"
    said = json.loads(refused.stdout)
    assert said["audit_id"] == records[0]["id"] and said["chain"] == "local"


def test_a_canary_s_confirmation_does_not_cover_the_whole_fleet() -> None:
    """safety15: confirming a protected fleet for one target (the question says `1 target:
    web-1`) let a run on every target through, unasked, for confirm_ttl. The same targets
    again are covered; others are asked for."""
    text = ("environments:\n  web:\n    protected: true\n    layers: [{type: ssh, config: "
            "{host: [web-1, web-2, web-3], port: 1, connect_timeout: 2}}]\n"
            "audit: {enabled: false}\n")
    with Orchestrator(load_config_text(text)) as orch:
        ask = orch.gate.ask = Answers("web", "web")
        for limit in ("web-1", "web-1", None):
            orch.run("web", command="true", limit=limit)  # nothing resolves: each target fails
    assert [q.rpartition("(")[2] for q in ask.questions] == [
        "1 target: web-1): ", "3 targets: web-1, web-2, web-3): "], ask.questions


def test_a_forward_s_confirmation_covers_its_one_target_not_the_fleet() -> None:
    """safety17: a forward confirmed for one target (`--limit web-1`; its question named no
    target) let a run on the whole fleet through, unasked, for confirm_ttl: it was admitted
    with no scope, and no scope covered every one."""
    text = ("environments:\n  web:\n    protected: true\n    layers: [{type: ssh, config: "
            "{host: [web-1, web-2, web-3], port: 1, connect_timeout: 2}}]\n"
            "audit: {enabled: false}\n")
    with Orchestrator(load_config_text(text)) as orch:
        ask = orch.gate.ask = Answers("web", "web")
        with pytest.raises(OrchError):  # confirmed, then web-1 does not resolve
            orch.forward("web", 80, limit="web-1")
        orch.run("web", command="true")
    assert [q.rpartition("(")[2] for q in ask.questions] == [
        "1 target: web-1): ", "3 targets: web-1, web-2, web-3): "], ask.questions
    with Orchestrator(load_config_text(text)) as orch:  # admitted with no scope (the API's
        ask = orch.gate.ask = Answers("web")  # admit): it covers no named targets
        orch.admit(orch.plan("web", command="true"), yes="web")
        orch.run("web", command="true", limit="web-2")
    assert [q.rpartition("(")[2] for q in ask.questions] == ["1 target: web-2): "]


def test_a_fleet_s_confirmation_covers_its_targets_not_a_text_that_reads_the_same() -> None:
    """review28: the confirmation was kept as the question's text, which cuts a long list
    (`10 targets: web-01, …, web-07, …, web-20`): another ten that read the same were covered,
    web-15 and web-16 never asked for; and a rerun of one target of a confirmed fleet asked
    again. Labels are compared now: the same targets or fewer are covered."""
    text = ("environments:\n  web:\n    protected: true\n    layers: [{type: ssh, config: "
            "{host: 'web-[01:20]', port: 1, connect_timeout: 2}}]\naudit: {enabled: false}\n")
    with Orchestrator(load_config_text(text)) as orch:
        ask = orch.gate.ask = Answers("web", "web")
        orch.run("web", command="true")  # asked: all twenty
        orch.run("web", command="true", limit="web-03")  # covered: one of them
    assert len(ask.questions) == 1, ask.questions
    with Orchestrator(load_config_text(text)) as orch:
        ask = orch.gate.ask = Answers("web", "web")
        orch.run("web", command="true", limit="web-0*,web-20")
        orch.run("web", command="true", limit="web-0[1:7],web-15,web-16,web-20")
    assert len(ask.questions) == 2 and ask.questions[0] == ask.questions[1], ask.questions


def test_a_service_edited_where_only_services_run_still_restarts(tmp_path: Path) -> None:
    """review29: the plan-written check ran on a named run's next attempt too, against the
    config as edited since: a manual restart stopped the service and was then refused, and
    automatic restarts ended. A run's own plan restarts as made."""
    looping = "  w: {command: 'sleep 0.3; exit 3', restart: always, max_restarts: 3}\n"
    guarded = "  local: {layers: [], allow_adhoc: false}"
    before = CONFIG.replace("  local: {layers: []}", guarded) + looping
    with reloaded(tmp_path, before, before.replace("exit 3", "exit 4"), "w") as orch:
        for _ in range(100):
            if "restart refused" in orch.logs("w") or orch.status("w").restarts == 3 and \
                    orch.status("w").done:
                break
            time.sleep(0.1)
        assert "restart refused" not in orch.logs("w") and orch.status("w").restarts == 3, \
            orch.logs("w")
        again = orch.restart("w")  # a manual restart, as the service was planned
        assert again.wait(30).returncode == 3, orch.logs("w")


def test_an_environment_that_lists_its_services_runs_nothing_else_unless_told(
        tmp_path: Path) -> None:
    """safety18: `allow_services: [health]` ("only these services may run here") refused
    `orch run prod wipe` but ran `orch run prod -- sh -c 'echo wiped'`, copies and forwards.
    Where allow_services is given, allow_adhoc is false unless written."""
    cfg = tmp_path / "orch.yaml"
    cfg.write_text("environments:\n  prod: {layers: [], allow_services: [health]}\n"
                   "  open: {layers: [], allow_services: [health], allow_adhoc: true}\n"
                   "services:\n  health: {command: 'echo ok'}\naudit: {enabled: false}\n")
    src = tmp_path / "f"
    src.write_text("x\n")
    with Orchestrator(load_config(cfg)) as orch:
        assert orch.run("prod", "health").stdout == "ok\n"
        for attempt in (lambda: orch.run("prod", command="echo wiped"),
                        lambda: orch.put("prod", str(src), str(tmp_path / "copied"))):
            with pytest.raises(OrchError, match="environment 'prod' runs services only \\(its "
                                                "allow_services\\); ad-hoc commands, cell "
                                                "scripts, copies and forwards are refused"):
                attempt()
        assert orch.run("open", command="echo adhoc").stdout == "adhoc\n"
    assert not (tmp_path / "copied").exists()


def test_a_plan_refused_for_allow_services_alone_names_that_setting(tmp_path: Path) -> None:
    """review34: a plan handed in, refused only because allow_services keeps the environment
    to its services as written, said "allow_adhoc: false", which the config never wrote."""
    config = load_config_text("environments:\n  p: {layers: [], allow_services: [ok]}\n"
                              "services:\n  ok: {command: 'echo ok'}\naudit: {enabled: false}\n")
    with Orchestrator(config) as orch:
        plan = orch.plan("p", "ok")
        forged = dataclasses.replace(plan, command=dataclasses.replace(plan.command,
                                                                     argv=("echo", "other")))
        with pytest.raises(OrchError, match=r"runs its services as written \(its "
                                            r"allow_services\): this plan's commands"):
            orch.spawn("p", plan=forged)
