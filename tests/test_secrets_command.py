"""The `command` secrets provider against a real password manager: Debian `pass` over a
throw-away gpg key the fixture makes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orch_magics import ConfigError, Orchestrator, load_config, load_config_text
from orch_magics.secrets import providers

SENTINEL = "pass-sentinel-Zq81vW"


@pytest.fixture
def password_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A gpg home with a passphrase-less key and a pass store holding orch/db_password."""
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    store = tmp_path / "store"
    env = {**os.environ, "GNUPGHOME": str(home), "PASSWORD_STORE_DIR": str(store)}
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key",
                    "orch test <orch@test.invalid>", "default", "default", "never"],
                   env=env, check=True, capture_output=True, timeout=120)
    subprocess.run(["pass", "init", "orch@test.invalid"], env=env, check=True,
                   capture_output=True, timeout=60)
    subprocess.run(["pass", "insert", "-m", "orch/db_password"], env=env, check=True,
                   input=f"{SENTINEL}\nuser: app\n".encode(), capture_output=True, timeout=60)
    for key in ("GNUPGHOME", "PASSWORD_STORE_DIR"):
        monkeypatch.setenv(key, env[key])
    providers._FETCHED.clear()  # the session cache: each test is a new session
    yield store
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, check=False, timeout=30)


CONFIG = """\
environments:
  local: {layers: []}
services:
  db:
    command: 'printf %s "$PW" | sha256sum; echo "pw=$PW"'
    environment: {PW: '{{secret:db_password}}'}
secrets:
  providers: [{type: command, argv: ARGV}]
"""


def ended(pid: int) -> bool:
    """Whether process `pid` has ended within 5 s (a zombie until init reaps it counts)."""
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(FileNotFoundError):
        return open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    return True


def test_a_secret_comes_from_pass_and_is_masked(password_store: Path) -> None:
    orch = Orchestrator(load_config_text(CONFIG.replace('ARGV', '[pass, show, "orch/{name}"]')))
    try:
        res = orch.run("local", "db")
    finally:
        orch.close()
    digest = hashlib.sha256(SENTINEL.encode()).hexdigest()
    assert res.lines[0].startswith(digest)  # the first line of `pass show` is the value
    assert res.lines[1] == "pw=****" and SENTINEL not in res.stdout


def test_the_value_is_fetched_once_per_session(password_store: Path, tmp_path: Path) -> None:
    count = tmp_path / "count"
    script = tmp_path / "manager.sh"
    script.write_text(f'#!/bin/sh\necho x >> {count}\nexec pass show "orch/$1"\n')
    script.chmod(0o755)
    orch = Orchestrator(load_config_text(CONFIG.replace('ARGV', f'[{script}, "{{name}}"]')))
    try:
        assert orch.run("local", "db").ok and orch.run("local", "db").ok
    finally:
        orch.close()
    assert count.read_text() == "x\n"


def test_unknown_secret_missing_program_and_a_hang_are_clear_errors(password_store: Path,
                                                                    tmp_path: Path) -> None:
    orch = Orchestrator(load_config_text(
        (CONFIG.replace('ARGV', '[pass, show, "orch/{name}"]')).replace("db_password", "nope")))
    with pytest.raises(ConfigError) as info:
        orch.plan("local", "db")
    text = str(info.value)
    assert "nope" in text and "pass show orch/nope" in text and "exited 1" in text
    orch = Orchestrator(load_config_text(CONFIG.replace('ARGV', "[no-such-manager, '{name}']")))
    with pytest.raises(ConfigError, match="'no-such-manager' is not installed"):
        orch.plan("local", "db")
    hang = (CONFIG.replace('ARGV', "[sleep, '30']")).replace("argv: [sleep, '30']}",
                                            "argv: [sleep, '30'], timeout: 0.5}")
    with pytest.raises(ConfigError, match=r"did not answer within 0\.5s") as info:
        Orchestrator(load_config_text(hang)).plan("local", "db")
    assert SENTINEL not in str(info.value)
    # safety21: `exited -9` for a command killed; `printed nothing` for a value on line 2
    for argv, said in (("[sh, -c, 'kill -9 $$']", "(killed by SIGKILL)"),
                       ("[sh, -c, 'echo; echo Sup3rValue99']", "(its first line is empty (the "
                        "value is the first line of its stdout; `line: all` takes all of it))")):
        with pytest.raises(ConfigError) as info:
            Orchestrator(load_config_text(CONFIG.replace("ARGV", argv))).plan("local", "db")
        assert said in str(info.value), info.value


def test_the_command_gets_no_secret_variable(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding sudo #8: the password manager ran with this process's whole environment, the
    sudo password given as ORCH_SECRET_SUDO_PW among it."""
    providers._FETCHED.clear()
    seen = tmp_path / "env"
    script = tmp_path / "manager.sh"
    script.write_text(f'#!/bin/sh\nenv > {seen}\necho "value-of-$1"\n')
    script.chmod(0o755)
    monkeypatch.setenv("ORCH_SECRET_SUDO_PW", "sudo-pw-Kx93")
    monkeypatch.setenv("ORCH_PLAIN_SETTING", "kept")
    orch = Orchestrator(load_config_text(CONFIG.replace('ARGV', f'[{script}, "{{name}}"]')))
    try:
        assert orch.run("local", "db").lines[1] == "pw=****"
    finally:
        orch.close()
    env = seen.read_text()
    assert "ORCH_PLAIN_SETTING=kept" in env  # the rest of the environment is passed on
    assert "ORCH_SECRET" not in env and "sudo-pw-Kx93" not in env


def test_a_command_past_its_timeout_is_ended_with_what_it_started(tmp_path: Path) -> None:
    """safety14: only the command itself was killed: a wrapper script's child (`op`, `gpg`)
    went on under init, and the timeout waited for it to close the pipes."""
    pid_file = tmp_path / "child.pid"
    # review27: one detached from the tree, holding the pipes, is not waited for either
    script = f"(sleep 20 &); sleep 300 & echo $! > {pid_file}; wait"  # the first: gone in 20 s
    hang = CONFIG.replace("argv: ARGV}", f"argv: [sh, -c, {json.dumps(script)}], timeout: 0.5}}")
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"did not answer within 0\.5s"):
        Orchestrator(load_config_text(hang)).plan("local", "db")
    assert time.monotonic() - started < 10
    child = int(pid_file.read_text())
    assert ended(child)


def test_a_helper_left_holding_the_command_s_output_is_ended_and_said(tmp_path: Path) -> None:
    """safety20: a command that printed its value and exited 0, leaving a helper (an agent) it
    started holding its stdout, was said to "not answer", and the helper ran on under init."""
    pid_file = tmp_path / "helper.pid"
    script = f"echo val123456; sleep 347 & echo $! > {pid_file}; exit 0"
    held = CONFIG.replace("argv: ARGV}", f"argv: [sh, -c, {json.dumps(script)}], timeout: 1}}")
    with pytest.raises(ConfigError) as err:
        Orchestrator(load_config_text(held)).plan("local", "db")
    assert str(err.value).endswith(
        f"the command `sh -c {shlex.quote(script)}` ended, but a process it started held its "
        f"output open past 1s (ended now): start such a helper with its output redirected "
        f"(> /dev/null)"), str(err.value)
    helper = int(pid_file.read_text())
    assert ended(helper)


def test_a_command_that_shuts_its_output_and_lingers_is_said_and_ended(tmp_path: Path) -> None:
    """safety24: a helper that printed its value, closed its stdout and stayed past the
    timeout ended orch with "internal error: ValueError: I/O operation on closed file"."""
    pid_file = tmp_path / "helper.pid"
    script = f"echo val12345; exec >&-; echo $$ > {pid_file}; sleep 94"
    held = CONFIG.replace("argv: ARGV}", f"argv: [sh, -c, {json.dumps(script)}], timeout: 1}}")
    with pytest.raises(ConfigError, match=r"did not answer within 1s"):
        Orchestrator(load_config_text(held)).plan("local", "db")
    assert ended(int(pid_file.read_text()))


def test_an_interrupt_while_a_command_fetches_is_one_line_and_ends_it(tmp_path: Path) -> None:
    """magics14: Ctrl-C (a kernel interrupt) while the command ran was a 150-line traceback
    in a notebook, and its child went on."""
    import signal
    import threading

    pid_file = tmp_path / "child.pid"
    script = f"sleep 300 & echo $! > {pid_file}; wait"
    slow = CONFIG.replace("argv: ARGV}", f"argv: [sh, -c, {json.dumps(script)}]}}")
    orch = Orchestrator(load_config_text(slow))
    threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    with pytest.raises(providers.PromptInterrupted) as info:
        orch.plan("local", "db")
    assert str(info.value) == (f"not run: interrupted while the command `sh -c "
                               f"{shlex.quote(script)}` fetched secret 'db_password'")
    child = int(pid_file.read_text())
    assert ended(child)


def test_a_relative_provider_program_is_the_one_beside_its_config(tmp_path: Path) -> None:
    """safety17: `argv: [./get.sh, "{name}"]` ran the `./get.sh` of whatever folder orch ran
    from (another project's, after a `cd` or a notebook's `%cd`), whose output became the
    secret sent; from elsewhere it was "not installed". Read beside the config, as
    `secrets.file` and `audit.path` are."""
    proj, other = tmp_path / "proj", tmp_path / "other"
    for folder, said in ((proj, "proj-secret"), (other, "OTHER-SCRIPT")):
        folder.mkdir()
        (folder / "get.sh").write_text(f"#!/bin/sh\necho \"{said}-$1\"\n")
        (folder / "get.sh").chmod(0o755)
    sent = tmp_path / "sent"
    (proj / "orch.yaml").write_text(
        "secrets:\n  providers: [{type: command, argv: [./get.sh, '{name}']}]\n"
        "environments: {local: []}\n"
        f"services:\n  show: {{command: 'printf %s \"$T\" > {sent}', "
        "environment: {T: '{{secret:tok}}'}}\n")
    for argv in ("[./get.sh, '{name}']", "[sh, get.sh, '{name}']"):  # review32: its script
        (proj / "orch.yaml").write_text((proj / "orch.yaml").read_text().replace(  # as an
            "[./get.sh, '{name}']", argv))  # argument too
        for cwd in (other, tmp_path, proj):
            sent.unlink(missing_ok=True)
            done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c",
                                   str(proj / "orch.yaml"), "run", "local", "show"], cwd=cwd,
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            assert sent.read_text() == "proj-secret-tok", (argv, cwd)
    # review33: a script missing, or the config's folder gone since, read "not on PATH"
    (proj / "orch.yaml").write_text((proj / "orch.yaml").read_text().replace(
        "[sh, get.sh, '{name}']", "[./gone.sh, '{name}']"))
    config = load_config(proj / "orch.yaml")
    with pytest.raises(ConfigError, match=f"cannot run: {proj}/gone.sh does not exist$"):
        Orchestrator(config).plan("local", "show")
    shutil.rmtree(proj)
    with pytest.raises(ConfigError, match=f"cannot run: it runs in {proj}, which is gone$"):
        Orchestrator(config).plan("local", "show")


def test_an_answer_typed_at_the_prompt_answers_for_its_own_config_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """safety18: the answer typed for project A's staging was sent, unasked, by project B's
    protected prod and by any new Orchestrator: the prompt's answers were kept by name only."""
    from orch_magics.secrets import prompt

    asked: list[str] = []
    answers = iter(["staging-pass", "prod-pass"])
    monkeypatch.setattr(prompt, "default_prompt", lambda text: asked.append(text) or next(answers))
    monkeypatch.setattr(prompt, "_PROMPTED", {})  # this test's session
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "orch.yaml").write_text(
            "environments: {local: []}\nsecrets: {providers: [prompt]}\naudit: {enabled: false}\n"
            "services: {show: {command: 'echo \"${DB%%-*}\"', environment: {DB: '{{secret:db}}'}}}\n")
    with Orchestrator(str(tmp_path / "a" / "orch.yaml")) as a:
        assert a.run("local", "show").stdout == "staging\n"  # (the part before `-` of it)
        assert a.run("local", "show").stdout == "staging\n"  # asked once
        a.load(str(tmp_path / "b" / "orch.yaml"))
        assert a.run("local", "show").stdout == "prod\n"
    with Orchestrator(str(tmp_path / "b" / "orch.yaml")) as b:
        assert b.run("local", "show").stdout == "prod\n"  # the same files: the session's
    assert asked == ["secret db: ", "secret db: "]
    # review34: configs made from text shared one scope (no files): each is its own
    answers = iter(["text1-pass", "text2-pass"])
    text = (tmp_path / "a" / "orch.yaml").read_text()
    for want in ("text1\n", "text2\n"):
        with Orchestrator(load_config_text(text)) as orch:
            assert orch.run("local", "show").stdout == want
    assert len(asked) == 4
    # review35: a Config loaded from files (the README's form), or one Config object made from
    # text, answers for every Orchestrator given it: a notebook's setup cell run again
    for config in (load_config(str(tmp_path / "a" / "orch.yaml")), load_config_text(text)):
        answers = iter(["again-pass"])
        for _ in range(2):
            with Orchestrator(config) as orch:
                assert orch.run("local", "show").stdout in ("staging\n", "again\n")
    assert len(asked) == 5  # the files' answer was typed before: only the text's is asked


def test_an_answer_typed_for_a_text_config_goes_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """review37: once a Config made from text was collected, its prompt token went, but the
    secret typed for it stayed in the process for good, under a scope nothing could reach."""
    import gc

    from orch_magics.secrets import prompt

    monkeypatch.setattr(prompt, "default_prompt", lambda text: "typed-Hunter2-r37")
    monkeypatch.setattr(prompt, "_PROMPTED", {})
    config = load_config_text(
        "environments: {local: []}\nsecrets: {providers: [prompt]}\naudit: {enabled: false}\n"
        "services: {show: {command: 'true', environment: {DB: '{{secret:db}}'}}}\n")
    with Orchestrator(config) as orch:
        assert orch.run("local", "show").ok
    assert list(prompt._PROMPTED.values()) == ["typed-Hunter2-r37"]  # kept while it lives
    del orch, config
    gc.collect()
    assert prompt._PROMPTED == {}


def test_an_interrupt_while_a_helper_holds_the_command_s_output_is_an_interrupt(
        tmp_path: Path) -> None:
    """review38: a Ctrl-C that came after the command had exited, its helper holding its
    stdout, was said as "held its output open past 30s", a config error."""
    import signal

    pid_file = tmp_path / "helper.pid"
    script = f"echo val123456; sleep 347 & echo $! > {pid_file}; exit 0"
    (tmp_path / "orch.yaml").write_text(CONFIG.replace(
        "argv: ARGV}", f"argv: [sh, -c, {json.dumps(script)}], timeout: 30}}"))
    child = subprocess.Popen([sys.executable, "-m", "orch_magics.cli", "-c",
                              str(tmp_path / "orch.yaml"), "run", "local", "db"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not pid_file.exists():
        assert time.monotonic() < deadline and child.poll() is None
        time.sleep(0.05)
    time.sleep(0.5)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=30)
    assert child.returncode == 130 and "held its output open" not in err, err
    helper = int(pid_file.read_text())
    assert ended(helper)
