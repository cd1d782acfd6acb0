"""The sudo layer on a real sudo: password and NOPASSWD rules, refusals, secrets, signals.

Every chain starts as root, so an unprivileged user is reached first: locally with a sudo
layer from root (root needs no password), behind ssh by logging in as that user on the ssh
lab's inner host (`ssh → ssh → sudo`). The password rule and the NOPASSWD rule are the
sudo_lab fixture's (tests/fixtures/sudo.py).
"""

from __future__ import annotations

import asyncio
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from orch_magics import Orchestrator
from orch_magics.config.loader import load_config_text
from orch_magics.config.model import SecretsSettings
from orch_magics.errors import AuthError, LayerError, PasswordRejected
from orch_magics.executor import LayeredExecutor
from orch_magics.plan import resolve_layers
from orch_magics.process.command import Command
from orch_magics.process.events import Exit
from orch_magics.secrets import prompt, providers
from orch_magics.secrets.masking import REGISTRY
from orch_magics.secrets.placeholders import Resolver
from processes import processes_with
from streams import collect


def chain(sudo_lab: Any, ssh_lab: Any | None, last: str) -> list[str]:
    """The layers that reach `sudo_lab.login`, then `last` (a sudo layer)."""
    if ssh_lab is None:
        return [sudo_lab.layer(sudo_lab.login), last]
    sudo_lab.authorize(ssh_lab.root / "id_ed25519.pub")
    return [ssh_lab.layer("orch-bastion"), ssh_lab.layer("orch-inner", user=sudo_lab.login),
            last]


def config_text(envs: dict[str, list[str]], services: str = "") -> str:
    text = "environments:\n"
    for name, layers in envs.items():
        text += f"  {name}:\n    layers:" + ("".join(f"\n      - {x}" for x in layers) or " []") + "\n"
    return text + (f"services:\n{services}" if services else "")


def executor(base: Any, layers: list[str]) -> LayeredExecutor:
    environment = load_config_text(config_text({"it": layers})).environments["it"]
    return LayeredExecutor(base, resolve_layers(environment, Resolver()))


async def run(ex: LayeredExecutor, command: Command, stdin: bytes = b"") -> tuple[bytes, bytes, Exit]:
    handle = await ex.launch(command)
    handle.stdin.write(stdin)
    handle.stdin.close()
    return await asyncio.wait_for(collect(handle), 60)


async def test_password_rule_runs_as_the_target(base, sudo_lab, where, monkeypatch) -> None:
    monkeypatch.setenv("ORCH_SECRET_SUDO_PW", sudo_lab.password)
    ex = executor(base, chain(sudo_lab, where, sudo_lab.layer(sudo_lab.target, password=True)))
    out, err, end = await run(ex, Command.shell("id -un; cat"), b"fed on stdin\n")
    assert (out.decode(), err, end) == (f"{sudo_lab.target}\nfed on stdin\n", b"", Exit(code=0))


async def test_sudo_s_lecture_is_kept_on_stderr(base, sudo_lab, monkeypatch) -> None:
    """kinds11: what sudo said before its prompt (its lecture, a notice of PAM's) was dropped,
    where the docs say what the place said before the command started is kept."""
    monkeypatch.setenv("ORCH_SECRET_SUDO_PW", sudo_lab.password)
    ex = executor(base, [sudo_lab.layer(sudo_lab.login),
                         sudo_lab.layer(sudo_lab.target, password=True)])
    with sudo_lab.rules(f"Defaults:{sudo_lab.login} lecture=always\n"):
        out, err, end = await run(ex, Command(("id", "-un")))
        assert (out, end) == (f"{sudo_lab.target}\n".encode(), Exit(code=0))
        assert b"usual lecture" in err and sudo_lab.password.encode() not in err, err
        out, err, end = await run(ex, Command(("id", "-un"), tty=True))
        assert end == Exit(code=0) and b"usual lecture" in out, out
        assert out.replace(b"\r", b"").endswith(f"\n{sudo_lab.target}\n".encode()), out


async def test_nopasswd_rule_needs_no_password(base, sudo_lab, where) -> None:
    ex = executor(base, chain(sudo_lab, where, sudo_lab.layer(sudo_lab.free)))
    out, err, end = await run(ex, Command.shell("id -un"))
    assert (out.decode(), err, end) == (f"{sudo_lab.free}\n", b"", Exit(code=0))


async def test_wrong_password_is_a_one_line_error(base, sudo_lab, where, monkeypatch) -> None:
    monkeypatch.setenv("ORCH_SECRET_SUDO_PW", "not-the-password")
    ex = executor(base, chain(sudo_lab, where, sudo_lab.layer(sudo_lab.target, password=True)))
    with pytest.raises(AuthError) as err:
        await ex.launch(Command.shell("id"))
    text = str(err.value)
    assert "did not accept the password" in text and "\n" not in text
    assert f"sudo {sudo_lab.target}" in text and "not-the-password" not in text


@pytest.mark.parametrize("provider", ["prompt", "command"])
def test_a_refused_password_is_asked_or_fetched_again(sudo_lab, tmp_path, provider) -> None:
    """Finding sudo #5: a password sudo refused stayed remembered for the session, so every
    later run sent it again (one more failed login each) and the error told the user to
    check a secret they could not re-enter."""
    answers = tmp_path / "answers"  # one answer per line: a typo, then the password
    answers.write_text(f"mistyped-pw\n{sudo_lab.password}\n")
    asked: list[str] = []

    def person(text: str) -> str:
        asked.append(text)
        return answers.read_text().splitlines()[len(asked) - 1]

    manager = tmp_path / "manager.sh"  # a password manager fixed after the first failure
    manager.write_text(f'#!/bin/sh\necho x >> {tmp_path / "asked"}\n'
                       f'sed -n "$(wc -l < {tmp_path / "asked"})p" {answers}\n')
    manager.chmod(0o755)
    spec = "prompt" if provider == "prompt" else {"type": "command", "argv": [str(manager)]}
    text = config_text({"loc": chain(sudo_lab, None, sudo_lab.layer(sudo_lab.target,
                                                                     password=True))})
    settings = load_config_text(text + f"secrets: {{providers: [{spec}]}}\n").secrets
    orch = Orchestrator(load_config_text(text), resolver_factory=lambda: Resolver.from_settings(
        SecretsSettings(providers=settings.providers), prompt=person))
    prompt._PROMPTED.clear()  # the session caches: each test is a new session
    providers._FETCHED.clear()
    again = ("typed at the prompt is forgotten: the next run asks for it again"
             if provider == "prompt" else "is forgotten: the next run fetches it again")
    try:
        with pytest.raises(PasswordRejected) as err:
            orch.run("loc", command="id -un")
        assert "the secret 'sudo_pw' " in str(err.value) and again in str(err.value)
        assert "did not accept the password" in str(err.value) and "\n" not in str(err.value)
        for _ in range(2):  # the right answer is remembered as before
            assert orch.run("loc", command="id -un").stdout == f"{sudo_lab.target}\n"
    finally:
        orch.close()
        prompt._PROMPTED.clear()
        providers._FETCHED.clear()
    fetched = tmp_path / "asked"
    times = len(asked) if provider == "prompt" else len(fetched.read_text().splitlines())
    assert times == 2  # the typo once, the right answer once


async def test_a_password_with_a_line_break_is_refused_saying_why(base, sudo_lab, monkeypatch) -> None:
    """sudo -S reads one line: such a password could never work, and was reported as a
    wrong one ('check the secret')."""
    monkeypatch.setenv("ORCH_SECRET_SUDO_PW", sudo_lab.password + "\nmore")
    ex = executor(base, [sudo_lab.layer(sudo_lab.target, password=True)])
    try:
        with pytest.raises(LayerError, match="holds a line break, which sudo cannot read"):
            await ex.launch(Command(("true",)))
    finally:  # the secret's line "more" would be masked in every later test's messages
        REGISTRY.clear()


@pytest.mark.parametrize("command", [Command.of(["true"], env={"BIG": "a" * 200_000}),
                                     Command.of(["echo", *["a" * 1000] * 3000])],
                         ids=["one-variable", "all-arguments"])
async def test_a_command_too_long_to_run_as_the_user_is_said_so(base, sudo_lab, where,
                                                                command: Command) -> None:
    """A 200 KB variable "succeeded" with status 126 and the wrapper's `exec: /bin/sh:
    Argument list too long` on stderr; 3 MB of arguments were blamed on sudo (tester
    layers3). Refused before anything is sent, as every other layer does."""
    ex = executor(base, chain(sudo_lab, where, sudo_lab.layer(sudo_lab.free)))
    with pytest.raises(LayerError) as err:
        await ex.launch(command)
    text = str(err.value)
    assert f"(sudo {sudo_lab.free}): the command is too long to run as {sudo_lab.free!r} (" \
        in text and text.endswith("pass large data on stdin or in a file"), text
    assert "\n" not in text


async def test_password_asked_but_none_configured(base, sudo_lab, where) -> None:
    ex = executor(base, chain(sudo_lab, where, sudo_lab.layer(sudo_lab.target)))
    with pytest.raises(AuthError, match=r"asks for a password .* has none: add password: "
                                        r"\"\{\{secret:NAME\}\}\""):
        await ex.launch(Command.shell("id"))


async def test_refused_user_is_a_clear_error(base, sudo_lab, where, monkeypatch) -> None:
    monkeypatch.setenv("ORCH_SECRET_SUDO_PW", sudo_lab.password)
    ex = executor(base, chain(sudo_lab, where, sudo_lab.layer("root", password=True)))
    with pytest.raises(AuthError) as err:
        await ex.launch(Command.shell("id"))
    text = str(err.value)
    assert "sudo refused" in text and "is not allowed to execute '" in text
    assert "-c …' as root" in text and "the sudoers rule must allow a shell" in text
    assert "\n" not in text and "orch-sudo" not in text  # not the inner workings


async def test_a_rule_for_given_commands_only_says_that_a_shell_is_needed(
        base, sudo_lab, monkeypatch) -> None:
    """`alice ALL=(postgres) /usr/bin/psql` cannot serve the layer, which runs `sh -c …`: the
    errors said "not allowed to run commands as root" (the login user may run /usr/bin/id) and,
    for a NOPASSWD rule, to add a password or a NOPASSWD rule (it has one)."""
    login = sudo_lab.login
    with sudo_lab.rules(f"{login} ALL=(root) /usr/bin/id\n"
                        f"{login} ALL=(root) NOPASSWD: /usr/bin/whoami\n"):
        monkeypatch.setenv("ORCH_SECRET_SUDO_PW", sudo_lab.password)
        ex = executor(base, chain(sudo_lab, None, sudo_lab.layer("root", password=True)))
        with pytest.raises(AuthError) as err:
            await ex.launch(Command(("id",)))
        assert re.fullmatch(
            rf"hop 2 \(sudo root\): sudo refused: Sorry, user {login} is not allowed to execute "
            rf"'\S*sh -c …' as root on \S+ \(the sudo layer runs each command through "
            rf"`\S*sh -c …` as 'root': the sudoers rule must allow a shell, such as ALL, not only "
            rf"given commands\) \(at sudo {login}\)", str(err.value)), str(err.value)
        ex = executor(base, chain(sudo_lab, None, sudo_lab.layer("root")))
        with pytest.raises(AuthError) as err:
            await ex.launch(Command(("whoami",)))
        assert ("or use a NOPASSWD rule; it must allow a shell: the layer runs `sh -c …` as "
                "'root'") in str(err.value)


async def test_an_expired_password_is_refused_at_once_in_sudo_s_words(
        base, sudo_lab, monkeypatch) -> None:
    """PAM asks for a new password (`chage -d 0`): the run waited the whole timeout, then said
    only "did not start the command within 15 s"."""
    monkeypatch.setenv("ORCH_SECRET_SUDO_PW", sudo_lab.password)
    ex = executor(base, chain(sudo_lab, None, sudo_lab.layer(sudo_lab.target, password=True)))
    with sudo_lab.expired():
        started = time.monotonic()
        with pytest.raises(AuthError) as err:
            await ex.launch(Command(("id",)))
    assert time.monotonic() - started < 5
    text = str(err.value)
    assert re.fullmatch(rf"hop 2 \(sudo {sudo_lab.target}\): sudo refused: .*expired.* \(the "
                        r"login user's password has expired and PAM asks for a new one, which "
                        r"the sudo layer does not give: change it at that place first\) "
                        rf"\(at sudo {sudo_lab.login}\)", text), text


@pytest.mark.parametrize("password", [True, False])
async def test_an_expired_account_is_said_as_sudo_says_it(
        base, sudo_lab, monkeypatch, password) -> None:
    """`chage -E` (the login user's account, not its password, expired): sudo says "account
    validation failure, is your account locked?" and then "a password is required"; the
    error quoted only the last line, false when a password is configured."""
    monkeypatch.setenv("ORCH_SECRET_SUDO_PW", sudo_lab.password)
    user = sudo_lab.target if password else sudo_lab.free
    ex = executor(base, chain(sudo_lab, None, sudo_lab.layer(user, password=password)))
    with sudo_lab.expired("account"), pytest.raises(AuthError) as err:
        await ex.launch(Command(("id",)))
    text = str(err.value)
    assert re.fullmatch(rf"hop 2 \(sudo {user}\): sudo refused: account validation failure, "
                        r"is your account locked\? \(the login user's account there has "
                        r"expired or is locked: sudo checks it before any password\) "
                        rf"\(at sudo {sudo_lab.login}\)",
                        text), text


async def test_a_timeout_quotes_what_sudo_said_last(base, sudo_lab, tmp_path) -> None:
    """A PAM prompt of another kind (an OTP code) is waited for until the timeout, and the
    error quotes it; the handshake quoted only what came before one of its own prompts. (A
    stand-in sudo: no PAM stack of this machine asks for a code.)"""
    fake = tmp_path / "sudo"
    fake.write_text("#!/bin/sh\necho 'sudo: a note' >&2; printf 'Verification code: ' >&2\n"
                    "read -r code\n")
    fake.chmod(0o755)
    place = "{type: local, config: {environment: {PATH: '" + f"{tmp_path}:/usr/bin:/bin" + "'}}}"
    ex = executor(base, [place, sudo_lab.layer(sudo_lab.free, timeout=1)])
    with pytest.raises(LayerError, match=r"^hop 1 \(sudo \S+\): sudo did not start the command "
                                         r"within 1 s \(at this machine\) \(it said: "
                                         r"Verification code:\)$"):
        await ex.launch(Command(("id",)))


async def test_unknown_user_and_missing_sudo(base, sudo_lab, tmp_path) -> None:
    ex = executor(base, [sudo_lab.layer("no-such-user-xyz")])
    with pytest.raises(LayerError, match="unknown user 'no-such-user-xyz'"):
        await ex.launch(Command.shell("id"))
    # kinds12: a misspelt user got no did-you-mean, where a misspelt container gets one; the
    # accounts looked at are the place's before sudo (here behind a first sudo)
    typo = sudo_lab.target[:-2] + sudo_lab.target[-1]
    ex = executor(base, chain(sudo_lab, None, sudo_lab.layer(typo)))
    with pytest.raises(LayerError) as err:
        await ex.launch(Command.shell("id"))
    assert str(err.value) == (f"hop 2 (sudo {typo}): sudo: unknown user {typo!r} (did you "
                              f"mean {sudo_lab.target!r}?) (at sudo {sudo_lab.login})")
    # kinds13: a uid written as a number is a name to sudo: its own form is '#UID'
    ex = executor(base, [sudo_lab.layer("'65534'")])
    with pytest.raises(LayerError, match=r"sudo: unknown user '65534' \(a uid is written "
                                         r"'#65534'\)"):
        await ex.launch(Command.shell("id"))
    # a place without sudo on its PATH
    no_sudo = "{type: local, config: {environment: {PATH: " + str(tmp_path) + "}}}"
    ex = executor(base, [no_sudo, sudo_lab.layer(sudo_lab.free)])
    with pytest.raises(LayerError, match="sudo is not installed there"):
        await ex.launch(Command.shell("id"))


@pytest.mark.parametrize("profile", ["echo 'profile: no config' >&2; exit 3", "exit 3"])
async def test_login_with_a_profile_that_exits_blames_the_profile(base, sudo_lab, profile) -> None:
    """sudo13: a profile that exited, saying why on stderr (or nothing), was said as "sudo
    failed (exit 3)": sudo had let the gate run, so it is the login shell that ended."""
    home = Path("/home") / sudo_lab.free
    home.mkdir()
    try:
        (home / ".profile").write_text(profile + "\n")
        ex = executor(base, [sudo_lab.layer(sudo_lab.free, login="true")])
        with pytest.raises(LayerError) as err:
            await ex.launch(Command(("id",)))
        said = ": profile: no config" if "echo" in profile else ""
        assert str(err.value).startswith(
            f"hop 1 (sudo {sudo_lab.free}): the login shell of '{sudo_lab.free}' ended before the "
            f"command started (exit 3){said} (login: true"), str(err.value)
    finally:
        shutil.rmtree(home, ignore_errors=True)


async def test_login_with_a_target_whose_shell_refuses(base, sudo_lab) -> None:
    """A service account (shell `nologin`) with `login: true`: its login shell's words are on
    stdout, and the error quoted sudo's side warning (no home) or nothing at all."""
    subprocess.run(["usermod", "-s", "/usr/sbin/nologin", sudo_lab.free], check=True)
    try:
        ex = executor(base, [sudo_lab.layer(sudo_lab.free, login="true")])
        with pytest.raises(LayerError) as err:
            await ex.launch(Command(("id",)))
        assert str(err.value).startswith(
            f"hop 1 (sudo {sudo_lab.free}): the login shell of '{sudo_lab.free}' ended before the "
            f"command started (exit 1): This account is currently not available. (login: true "
            f"needs a target whose shell runs commands given with -l -c"), str(err.value)
        ex = executor(base, [sudo_lab.layer(sudo_lab.free)])  # sudo runs sh: no login shell
        assert await run(ex, Command(("id", "-un"))) == (f"{sudo_lab.free}\n".encode(), b"",
                                                           Exit(code=0))
    finally:
        subprocess.run(["usermod", "-s", "/bin/sh", sudo_lab.free], check=True)


async def test_a_directory_the_target_may_not_enter_is_not_called_missing(base, sudo_lab) -> None:
    """A directory that exists for root, not for the target, is "permission denied", not "working
    directory not found"; so is one behind a folder the target may not search (docs2 tester:
    `[ -d ]` cannot see it there, and dash's `cd` says no reason)."""
    ex = executor(base, [sudo_lab.layer(sudo_lab.login)])
    behind = Path(f"/root/orch-behind-{os.getpid()}")
    behind.mkdir(exist_ok=True)
    cases = [("/root", f"cannot enter working directory /root as {sudo_lab.login}: "
                               f"permission denied"),
                     (str(behind), f"cannot enter working directory {behind} as "
                                   f"{sudo_lab.login}: permission denied"),
                     ("/etc/passwd", "not a directory: /etc/passwd"),
                     ("/no/such/dir", "working directory not found: /no/such/dir")]
    try:
        for cwd, why in cases:
            assert await run(ex, Command(("pwd",), cwd=cwd)) == (
                b"", f"orch: {why}\n".encode(), Exit(code=126))
            # kinds11: under a terminal it ended before the terminal was ready, and was said
            # as sudo not started, "check that layer's workdir", an error with no status
            out, err, end = await run(ex, Command(("pwd",), cwd=cwd, tty=True))
            assert (out.replace(b"\r", b""), err, end) == (
                f"orch: {why}\n".encode(), b"", Exit(code=126)), (out, err, end)
    finally:
        behind.rmdir()


async def test_bytes_that_are_not_utf8_pass_through_sudo(base, sudo_lab, tmp_path) -> None:
    """A Latin-1 file name in the argv, a variable and the directory: each run through sudo
    ended in a UnicodeEncodeError (the CLI's "internal error")."""
    name = os.fsdecode(b"caf\xe9-\xff")
    folder = Path(f"/tmp/orch-sudo-{os.getpid()}-{name}")
    folder.mkdir(mode=0o755)
    try:
        ex = executor(base, chain(sudo_lab, None, sudo_lab.layer(sudo_lab.free)))
        script = 'printf "%s|%s|" "$1" "$F"; pwd'
        out, err, end = await run(ex, Command(("sh", "-c", script, "sh", name),
                                              env={"F": name}, cwd=str(folder)))
        assert (out, err, end) == (b"caf\xe9-\xff|caf\xe9-\xff|" + os.fsencode(folder) + b"\n",
                                   b"", Exit(code=0))
    finally:
        folder.rmdir()


async def test_login_shell_and_preserved_variables(base, sudo_lab, monkeypatch) -> None:
    monkeypatch.setenv("ORCH_KEPT", "kept value")
    monkeypatch.setenv("ORCH_DROPPED", "dropped value")
    profile = sudo_lab.home / ".profile"
    profile.write_text("export ORCH_PROFILE=read\n")
    args = ["$HOME", "a b", "line\nbreak", "`id`", "$(id)", "'\"", "\\", ""]
    script = ('printf "[%s]" "$PWD" "$ORCH_KEPT" "$ORCH_DROPPED" "${ORCH_PROFILE-}"; '
              'printf "<%s>" "$@"')
    try:
        for login in (False, True):
            ex = executor(base, [sudo_lab.layer(sudo_lab.login, login=str(login).lower(),
                                                preserve_env="[ORCH_KEPT]")])
            out, err, end = await run(ex, Command(("sh", "-c", script, "sh", *args),
                                                  cwd=None if login else "/tmp"))
            assert (end, err) == (Exit(code=0), b"")
            # the argv arrives unchanged, even through the login shell of `sudo -i`
            assert out.decode() == (f"[{sudo_lab.home if login else '/tmp'}][kept value][]"
                                    f"[{'read' if login else ''}]"
                                    + "".join(f"<{a}>" for a in args))
    finally:
        profile.unlink()



async def test_a_login_profile_that_waits_is_named_when_the_start_times_out(
        base, sudo_lab) -> None:
    """A `~/.profile` reading stdin held `sudo -i`, and the error sent the user to sudo:
    "sudo did not start the command within 15 s" (held-out tester streams3)."""
    profile = sudo_lab.home / ".profile"
    profile.write_text("read -r line\n")
    try:
        ex = executor(base, [sudo_lab.layer(sudo_lab.login, login="true", timeout=2)])
        with pytest.raises(LayerError) as err:
            await ex.launch(Command(("true",)))
        assert str(err.value).endswith(
            f"; with login: true, {sudo_lab.login}'s login shell runs its profile first: one "
            f"that waits (reads stdin, asks something) holds the command"), str(err.value)
    finally:
        profile.unlink()

@pytest.mark.parametrize("how", ["timeout", "interrupt"])
async def test_a_start_given_up_during_a_login_profile_leaves_nothing_behind_a_hop(
        base, sudo_lab, tmp_path, how) -> None:
    """layers7 F5: behind another hop (here a sudo to the login user) the user before sudo
    may not signal the target's processes, so a profile still running when the start was
    given up (the layer's timeout, an interrupt) outlived it as the target user."""
    import pwd
    import shutil

    home = Path(pwd.getpwnam(sudo_lab.free).pw_dir)
    token = f"{7000 + os.getpid() % 1000}.{len(how)}"
    home.mkdir(exist_ok=True)
    entry = pwd.getpwnam(sudo_lab.free)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    (home / ".profile").write_text(f"sleep {token}\n")
    timeout = 3 if how == "timeout" else 60
    ex = executor(base, [sudo_lab.layer(sudo_lab.login),
                         sudo_lab.layer(sudo_lab.free, login="true", timeout=timeout)])
    try:
        launching = asyncio.ensure_future(ex.launch(Command(("echo", "never"))))
        deadline = time.monotonic() + 20
        while not processes_with(token):
            assert time.monotonic() < deadline and not launching.done(), "the profile never ran"
            await asyncio.sleep(0.1)
        if how == "interrupt":
            launching.cancel()
        with pytest.raises(LayerError if how == "timeout" else asyncio.CancelledError):
            await launching
        deadline = time.monotonic() + 10
        while processes_with(token) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert processes_with(token) == []
    finally:
        for pid in processes_with(token):
            os.kill(pid, 9)
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.parametrize("login", [False, True])
async def test_a_kill_says_nothing_on_stderr(base, sudo_lab, login) -> None:
    """A command that ignores INT and TERM ends by the ladder's KILL; with `login: true` the
    login shell of `sudo -i` waited for it and said `Killed` on stderr, as if the command had."""
    ex = executor(base, [sudo_lab.layer(sudo_lab.login, login=str(login).lower())])
    a, b = f"615.{os.getpid()}{int(login)}", f"616.{os.getpid()}{int(login)}"
    handle = await ex.launch(Command.shell(f"trap '' INT TERM HUP; sleep {a} & sleep {b}"))
    collected = asyncio.ensure_future(collect(handle))
    for _ in range(100):
        if processes_with(a) and processes_with(b):
            break
        await asyncio.sleep(0.05)
    end = await asyncio.wait_for(handle.stop((0.3, 0.3)), 30)
    out, err, _ = await asyncio.wait_for(collected, 30)
    assert (end.returncode, out, err) == (-9, b"", b"")


async def test_tty_run_through_sudo(base, sudo_lab) -> None:
    ex = executor(base, [sudo_lab.layer(sudo_lab.free)])
    command = Command(("sh", "-c", 'test -t 0 && echo "tty $X"; read line; echo "got $line"'),
                      env={"X": "set"}, tty=True)
    out, _, end = await run(ex, command, b"typed\n")
    assert end == Exit(code=0)
    lines = out.decode().replace("\r", "").splitlines()
    # the terminal echoes what was typed (ahead of the command, as any terminal does)
    assert "tty set" in lines and lines[-1] == "got typed", lines


async def test_interrupt_at_depth_3_leaves_nothing(base, sudo_lab, ssh_lab, monkeypatch) -> None:
    """ssh → ssh → sudo: the stop ladder reaches the target user's process group."""
    monkeypatch.setenv("ORCH_SECRET_SUDO_PW", sudo_lab.password)
    ex = executor(base, chain(sudo_lab, ssh_lab, sudo_lab.layer(sudo_lab.target,
                                                                 password=True)))
    a, b = f"613.{os.getpid()}", f"614.{os.getpid()}"  # unique: other sessions run this too
    handle = await ex.launch(Command.shell(f"trap '' INT; sleep {a} & sleep {b}; echo never"))
    for _ in range(100):
        if processes_with(a) and processes_with(b):
            break
        await asyncio.sleep(0.05)
    owners = {Path(f"/proc/{p}").stat().st_uid for p in processes_with(b)}
    assert owners == {_uid(sudo_lab.target)}
    end = await asyncio.wait_for(handle.stop((0.5, 0.5)), 30)
    assert end.signal is not None, end
    for _ in range(50):
        if not processes_with(a) and not processes_with(b) and not processes_with("sudo -S"):
            break
        await asyncio.sleep(0.1)
    assert (processes_with(a), processes_with(b), processes_with("sudo -S")) == ([], [], [])


def _uid(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_uid


class Watcher(threading.Thread):
    """Reads every process's argv and environment while runs go on, keeping any with `needle`."""

    def __init__(self, needle: bytes) -> None:
        super().__init__(daemon=True)
        self.needle = needle
        self.done = threading.Event()
        self.hits: dict[int, str] = {}
        self.scans = 0

    def run(self) -> None:
        while not self.done.is_set():
            for path in glob.glob("/proc/[0-9]*/cmdline") + glob.glob("/proc/[0-9]*/environ"):
                try:
                    if self.needle in Path(path).read_bytes():
                        pid = path.split("/")[2]
                        argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                        self.hits[int(pid)] = f"{path}: {argv.decode(errors='replace')[:120]}"
                except OSError:
                    continue
            self.scans += 1
            time.sleep(0.005)


def test_sentinel_password_never_leaks(sudo_lab, ssh_lab, tmp_path, monkeypatch,
                                       capfd) -> None:
    """Not on any argv or environment of any process, not in output, logs or errors."""
    monkeypatch.setenv("ORCH_SECRET_SUDO_PW", sudo_lab.password)
    monkeypatch.setenv("ORCH_LOG_DIR", str(tmp_path / "logs"))
    last = sudo_lab.layer(sudo_lab.target, password=True)
    text = config_text({"local": chain(sudo_lab, None, last),
                        "deep": chain(sudo_lab, ssh_lab, last)},
                       services="  slow:\n    command: id -un; sleep 1; echo done\n")
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(text)
    watcher = Watcher(sudo_lab.password.encode())
    watcher.start()
    try:
        orch = Orchestrator(load_config_text(text))
        seen = []
        for env in ("local", "deep"):
            result = orch.run(env, "slow")
            assert result.ok, result.stderr
            seen += [result.stdout, result.stderr, repr(result)]
            named = orch.start(env, "slow", name=f"slow-{env}")
            named.wait()
            seen.append(orch.logs(f"slow-{env}"))
        orch.close()
        # the CLI reads the secret from its environment (the env provider), as the user set it
        cli = subprocess.Popen([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run",
                                "deep", "slow"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = cli.communicate(timeout=120)
        assert cli.returncode == 0, err
        seen += [out.decode(), err.decode()]
    finally:
        watcher.done.set()
        watcher.join()
    # only the two orch processes (this one and the CLI) hold it, in the provider's variable;
    # a fork of either shows their memory until it execs, under their command line
    assert watcher.scans > 10
    ours = (Path("/proc/self/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120],
            " ".join(cli.args)[:120])
    assert {pid: hit for pid, hit in watcher.hits.items()
            if pid not in (os.getpid(), cli.pid) and hit.split(": ", 1)[1] not in ours} == {}
    files = [*(tmp_path / "logs").rglob("*"), *Path(os.environ["XDG_STATE_HOME"]).rglob("*")]
    logs = "".join(p.read_text(errors="replace") for p in files if p.is_file())
    assert "slow" in logs  # the logs and the audit trail were written
    captured = capfd.readouterr()
    for text_seen in (*map(str, seen), logs, captured.out, captured.err):
        assert sudo_lab.password not in text_seen


def test_a_service_variable_is_held_by_its_command_alone(sudo_lab, ssh_lab, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Behind ssh (two hops) and sudo the wrapper set the variables, then started the watch of
    its parent: every `sleep 1` of that watch held them too (secrets7)."""
    needle = f"S3NT1NEL-{os.getpid()}"
    monkeypatch.setenv("ORCH_SECRET_SUDO_PW", sudo_lab.password)
    last = sudo_lab.layer(sudo_lab.target, password=True)
    text = config_text({"deep": chain(sudo_lab, ssh_lab, last),
                        "two": [ssh_lab.layer("orch-bastion"), ssh_lab.layer("orch-inner")]},
                       services=f"  held:\n    command: exec sleep 2.75\n"
                                f"    environment: {{TOK: {needle}}}\n"
                                f"  left:\n    command: (trap '' TERM INT HUP; sleep 4.25) & "
                                f"exec sleep 30.5\n    environment: {{TOK: {needle}}}\n")
    watcher = Watcher(needle.encode())
    watcher.start()
    try:
        with Orchestrator(load_config_text(text)) as orch:
            for env in ("two", "deep"):
                result = orch.run(env, "held")
                assert result.ok, result.stderr
                # safety19: after a stop, the wrapper's own `sleep`s (its clean-up of what
                # is left) held them too
                live = orch.spawn(env, "left")
                time.sleep(1.5)
                live.stop()
                assert live.wait(30).interrupted
                time.sleep(1.5)
    finally:
        watcher.done.set()
        watcher.join()
    assert watcher.scans > 10
    others = {pid: seen for pid, seen in watcher.hits.items()
              if not any(own in seen for own in ("sleep 2.75", "sleep 4.25", "sleep 30.5"))}
    assert others == {}
    assert len(watcher.hits) >= 2  # the command's own, on each chain


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGUSR1])
async def test_a_terminal_run_under_requiretty_can_be_signalled_and_stopped(
        base, sudo_lab, monkeypatch, sig) -> None:  # type: ignore[no-untyped-def]
    """kinds14: under sudoers `requiretty` a `tty: true` run through sudo started, but each
    signal went through a second sudo run without a terminal, which sudo refused: a stop
    waited out the ladder and said the process "may still be there". The signal's sudo run
    has a terminal when the run it signals has one."""
    monkeypatch.setenv("ORCH_SECRET_SUDO_PW", sudo_lab.password)
    ex = executor(base, chain(sudo_lab, None, sudo_lab.layer(sudo_lab.target, password=True)))
    with sudo_lab.rules(f"Defaults:{sudo_lab.login} requiretty\n"):
        handle = await ex.launch(Command.shell("trap 'echo got-usr1; exit 7' USR1; echo ready; "
                                               "sleep 600 & wait", tty=True))
        events = handle.events()
        seen = b""
        while b"ready" not in seen:
            event = await asyncio.wait_for(events.__anext__(), 30)
            seen += getattr(event, "data", b"")
        t0 = time.monotonic()
        if sig == signal.SIGINT:
            end = await asyncio.wait_for(handle.stop((2.0, 2.0)), 30)
            assert end.signal is not None and time.monotonic() - t0 < 5, (end, seen)
        else:
            await handle.send_signal(sig)
            async for event in events:
                seen += getattr(event, "data", b"")
                if isinstance(event, Exit):
                    end = event
            assert b"got-usr1" in seen and end == Exit(code=7), (seen, end)


@pytest.mark.parametrize("login", ["false", "true"])
@pytest.mark.parametrize("rule", ["Defaults:{login} noexec\n",
                                  "{login} ALL=({free}) NOPASSWD:NOEXEC: ALL\n"])
async def test_a_sudoers_noexec_is_said_as_the_reason(base, sudo_lab, rule: str,  # type: ignore[no-untyped-def]
                                                      login: str) -> None:
    """kinds14: under sudoers `noexec` the layer's shell cannot start `dd` (nor a login shell
    its `$SHELL`): the run failed as "sudo failed (exit 0)", or blamed the target's login
    shell and profile."""
    ex = executor(base, [sudo_lab.layer(sudo_lab.login),
                         sudo_lab.layer(sudo_lab.free, login=login)])
    with sudo_lab.rules(rule.format(login=sudo_lab.login, free=sudo_lab.free)):
        with pytest.raises(LayerError, match=f"sudo runs commands as '{sudo_lab.free}' with "
                                             f"noexec .*allow it with EXEC: or !noexec"):
            await ex.launch(Command(("echo", "hi")))


def test_a_refused_password_is_in_no_frame_of_the_error_s_traceback(
        sudo_lab, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """safety21: a local of the sudo layer's start held the password: a traceback of the
    raised PasswordRejected printed with its locals showed it in clear."""
    import traceback

    monkeypatch.setenv("ORCH_SECRET_SUDO_PW", "Wr0ngSud0PwXYZ")
    text = config_text({"loc": chain(sudo_lab, None, sudo_lab.layer(sudo_lab.target,
                                                                     password=True))})
    with Orchestrator(load_config_text(text)) as orch:
        with pytest.raises(PasswordRejected) as err:
            orch.run("loc", command="id -un")
    shown = "".join(traceback.TracebackException.from_exception(
        err.value, capture_locals=True).format())
    assert "in start" in shown and "Wr0ngSud0PwXYZ" not in shown


def test_a_short_timeout_still_says_a_wrong_password_and_forgets_it(sudo_lab) -> None:  # type: ignore[no-untyped-def]
    """kinds18: sudo takes about 2 s to refuse a wrong password (PAM's fail delay); a layer
    `timeout` under that reported 'did not start the command within 1 s', never named the
    password, and kept a typed one: each later run sent it again, unasked."""
    asked: list[str] = []

    def person(text: str) -> str:
        asked.append(text)
        return "typo-k18"
    text = config_text({"it": chain(sudo_lab, None, sudo_lab.layer(
        sudo_lab.target, password=True, timeout=1))})
    prompt._PROMPTED.clear()
    try:
        with Orchestrator(load_config_text(text), resolver_factory=lambda: Resolver.from_settings(
                SecretsSettings(providers=("prompt",)), prompt=person)) as orch:
            for _ in range(2):
                with pytest.raises(PasswordRejected, match="did not accept the password.*is "
                                                           "forgotten: the next run asks"):
                    orch.run("it", command="id -un")
    finally:
        prompt._PROMPTED.clear()
    assert len(asked) == 2


def test_every_run_refused_one_typed_password_says_it_was_forgotten(sudo_lab) -> None:  # type: ignore[no-untyped-def]
    """kinds18: in a fleet refused one typed sudo password, only the first target to fail
    said it was forgotten (it was, by then, for the others): 1 row in 29 had the note."""
    from orch_magics.config.model import LayerSpec
    from orch_magics.credentials import forgotten
    from orch_magics.layers.sudo import SudoConfig
    from orch_magics.secrets.prompt import PromptProvider

    prompt._PROMPTED.clear()
    try:  # typed once, as the fleet's first target to need it asks
        assert PromptProvider(lambda _: "typo-k18f5").lookup("sudo_pw") == "typo-k18f5"
        layers = [LayerSpec("sudo", SudoConfig(user=sudo_lab.target, password="typo-k18f5"),
                            f"sudo {sudo_lab.target}")]
        said = [str(forgotten(PasswordRejected("sudo did not accept the password", hop=2,
                                               layer=f"sudo {sudo_lab.target}"), layers))
                for _ in range(3)]
    finally:
        prompt._PROMPTED.clear()
    assert len(set(said)) == 1 and "typed at the prompt is forgotten" in said[0], said
