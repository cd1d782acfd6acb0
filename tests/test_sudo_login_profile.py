"""A `sudo` layer with `login: true` whose target's login profile talks (finding combos 3).

`sudo -i` runs the target's login shell first, and its profile may print on stdout and stderr
(a welcome line, a warning). That text is not the command's output: without a terminal it is
kept, in order, on the run's stderr, so a run's stdout is the command's alone (pipes, jq, a
`json_lines()`) and a get through the layer reads its data first, instead of failing on
"unexpected output before the data". Under a terminal there is one stream: it stays there.
Each case runs on the real sudo lab, with a chatty `~/.profile` for its login user.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orch_magics import Orchestrator
from orch_magics.config.loader import load_config_text
from orch_magics.layers.sudo_handshake import Heading

#: What the profile says, on stdout then stderr, then stdout again.
PROFILE = "echo WELCOME-OUT\necho PROFILE-ERR >&2\necho SECOND-OUT\n"


def said(stderr: str) -> bool:
    """Is `stderr` the profile's words, each stream's in its order? (Two pipes carry them: how
    the streams interleave is how they arrived.)"""
    lines = stderr.splitlines()
    return (sorted(lines) == ["PROFILE-ERR", "SECOND-OUT", "WELCOME-OUT"]
            and lines.index("WELCOME-OUT") < lines.index("SECOND-OUT"))
SERVICES = """\
  steps:
    command: 'echo "{\\"main\\": 1}"'
    pre_commands: [{command: 'echo "{\\"pre\\": 1}"'}]
    post_commands: [{command: 'echo "{\\"post\\": 1}"', when: always}]
  term:
    command: echo hi
    tty: true
"""


def _own(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


@pytest.fixture
def chatty(sudo_lab: Any) -> Iterator[Path]:
    """The login user's `~/.profile` talks while the test runs (removed after)."""
    profile = sudo_lab.home / ".profile"
    profile.write_text(PROFILE)
    _own(profile, sudo_lab.login)
    data = sudo_lab.home / "data.txt"
    data.write_text("payload\n")
    _own(data, sudo_lab.login)
    try:
        yield profile
    finally:
        profile.unlink(missing_ok=True)
        data.unlink(missing_ok=True)


@pytest.fixture
def orch(sudo_lab: Any, chatty: Path, tmp_path: Path, monkeypatch: Any) -> Iterator[Orchestrator]:
    monkeypatch.setenv("ORCH_LOG_DIR", str(tmp_path / "logs"))
    layer = sudo_lab.layer(sudo_lab.login, login="true")
    text = (f"environments:\n  li:\n    layers:\n      - {layer}\n"
            f"services:\n{SERVICES}")
    o = Orchestrator(load_config_text(text))
    yield o
    o.close()


def test_the_profile_s_words_go_to_stderr(orch: Orchestrator) -> None:
    result = orch.run("li", command="echo hi; echo oops >&2")
    assert (result.returncode, result.stdout) == (0, "hi\n")
    assert result.stderr.endswith("\noops\n") and said(result.stderr[:-len("oops\n")])


def test_steps_through_the_layer_keep_stdout_for_the_command(orch: Orchestrator) -> None:
    """Every step is a run through the layer: each stdout is JSON, the profile's is not."""
    result = orch.run("li", "steps")
    assert result.ok, result.stderr
    runs = [result.steps[0], result, result.steps[1]]
    assert [json.loads(r.stdout) for r in runs] == [{"pre": 1}, {"main": 1}, {"post": 1}]
    assert all(said(r.stderr) for r in runs), [r.stderr for r in runs]


def test_a_tty_run_keeps_the_profile_on_its_one_stream(orch: Orchestrator) -> None:
    result = orch.run("li", "term")
    lines = result.stdout.replace("\r", "").splitlines()
    assert result.returncode == 0
    assert lines == ["WELCOME-OUT", "PROFILE-ERR", "SECOND-OUT", "hi"], lines


def test_get_and_put_through_the_layer(orch: Orchestrator, sudo_lab: Any,
                                       tmp_path: Path) -> None:
    got = tmp_path / "got.txt"
    orch.get("li", "~/data.txt", str(got))
    assert got.read_text() == "payload\n"
    orch.get("li", str(sudo_lab.home), str(tmp_path / "home"))
    assert (tmp_path / "home" / "data.txt").read_text() == "payload\n"
    src = tmp_path / "src.txt"
    src.write_text("sent\n")
    orch.put("li", str(src), "put.txt")
    try:
        assert (sudo_lab.home / "put.txt").read_text() == "sent\n"
    finally:
        (sudo_lab.home / "put.txt").unlink(missing_ok=True)


@pytest.mark.ssh
def test_fleet_targets_through_the_layer(sudo_lab: Any, chatty: Path, ssh_lab: Any,
                                         tmp_path: Path, monkeypatch: Any) -> None:
    """ssh to two hosts as root, then `sudo -i` to the login user on each."""
    monkeypatch.setenv("ORCH_LOG_DIR", str(tmp_path / "logs"))
    fleet = ssh_lab.layer("orch-loop").replace('"orch-loop"', "[orch-loop, orch-bastion]")
    envs = {"fl": [fleet, sudo_lab.layer(sudo_lab.login, login="true")]}
    o = Orchestrator(load_config_text(ssh_lab.config_yaml(extra_envs=envs)))
    try:
        result = o.run("fl", command="echo hi")
        assert len(result) == 2, result
        for one in result.values():
            assert (one.returncode, one.stdout, said(one.stderr)) == (0, "hi\n", True), one
        o.get("fl", "~/data.txt", str(tmp_path / "got"))
        assert sorted(p.read_text() for p in (tmp_path / "got").rglob("data.txt")) == \
            ["payload\n"] * 2
    finally:
        o.close()


#: A hostile login profile of the target: it looks for orch's sudo prompt in every process
#: it can read (argvs, environments, its own), and if it finds it, prints it and reads the
#: answer, as sudo would.
STEALING = """\
p=$(printf '%s' "${SUDO_PROMPT-}" | grep -o 'orch-sudo-prompt-[0-9a-f]*:')
[ -n "$p" ] || p=$(cat /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' \\
  | grep -o 'orch-sudo-prompt-[0-9a-f]*:' | head -n 1)
echo "profile found: ${p:-nothing}" >&2
[ -z "$p" ] || { printf '%s' "$p" >&2; IFS= read -r stolen; printf '%s\\n' "$stolen" > STOLEN; }
"""


#: sudoers rules that hand SUDO_PROMPT to the command (review23, sudo12): the profile of
#: `sudo -i` used to run with it, before anything of orch's.
KEEPS_PROMPT = {"default": "", "env_keep": "Defaults env_keep += SUDO_PROMPT\n",
                "env_keep SUDO_*": 'Defaults env_keep += "SUDO_*"\n',
                "env_check": "Defaults env_check += SUDO_PROMPT\n"}


@pytest.mark.parametrize("rules", list(KEEPS_PROMPT))
@pytest.mark.parametrize("target", ["free", "target"])
def test_the_target_s_profile_never_gets_the_password(sudo_lab: Any, tmp_path: Path,
                                                      monkeypatch: Any, target: str,
                                                      rules: str) -> None:
    """kinds11: sudo's prompt was on its argv, and with `login: true` orch answered it wherever
    it came before the command: the target's profile printed it and was sent the login user's
    password (a NOPASSWD target, or a cached ticket; where sudo had asked first, the right
    password was then said to be wrong). A sudoers that keeps SUDO_PROMPT gave the profile the
    prompt itself: the profile now runs only once sudo let orch in, without it."""
    user = getattr(sudo_lab, target)
    home = Path("/home") / user  # useradd -M: the target's home, made for the test
    stolen = tmp_path / "STOLEN"
    home.mkdir()
    try:
        (home / ".profile").write_text(STEALING.replace("> STOLEN", f"> {stolen}"))
        for path in (home, home / ".profile", tmp_path):
            _own(path, user)
        monkeypatch.setenv("ORCH_SECRET_SUDO_PW", sudo_lab.password)
        layers = [sudo_lab.layer(sudo_lab.login),
                  sudo_lab.layer(user, password=True, login="true")]
        text = "environments:\n  e:\n    layers:" + ("".join(f"\n      - {x}" for x in layers) or " []") + "\n"
        with sudo_lab.rules(KEEPS_PROMPT[rules]) if KEEPS_PROMPT[rules] else \
                contextlib.nullcontext(), Orchestrator(load_config_text(text)) as orch:
            for _ in range(2):  # the second with sudo's ticket cached: it does not ask
                result = orch.run("e", command="id -un")
                assert (result.returncode, result.stdout) == (0, f"{user}\n"), result.stderr
                assert "profile found: nothing" in result.stderr, result.stderr
        assert not stolen.exists()
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.parametrize("rules", ["", "Defaults env_keep += HOME\n"])
def test_the_login_shell_runs_in_the_home_with_the_target_s_environment(
        orch: Orchestrator, sudo_lab: Any, rules: str) -> None:
    """`login: true` starts the target's login shell after sudo (no longer `sudo -i`): it
    still runs in the target's home, with its HOME and USER, and keeps nothing of orch's;
    also where sudoers keeps the caller's HOME (review24: the caller's home and profile)."""
    with sudo_lab.rules(rules) if rules else contextlib.nullcontext():
        result = orch.run("li", command='pwd; echo "$HOME $USER ${OLDPWD-none} '
                                        '${SUDO_PROMPT-none}"')
    home = str(sudo_lab.home)
    assert (result.returncode, result.stdout) == (0, f"{home}\n{home} {sudo_lab.login} none "
                                                     f"none\n"), result.stderr


def test_a_home_that_cannot_be_entered_is_said(sudo_lab: Any, tmp_path: Path,
                                               monkeypatch: Any) -> None:
    """A target without a home (a service account): said on stderr, the run goes on where
    sudo started (as `sudo -i` does)."""
    monkeypatch.chdir(tmp_path)
    text = f"environments:\n  e:\n    layers:\n      - {sudo_lab.layer(sudo_lab.free, login='true')}\n"
    with Orchestrator(load_config_text(text)) as orch:
        result = orch.run("e", command="pwd")
    assert (result.returncode, result.stdout) == (0, f"{tmp_path}\n"), result.stderr
    assert result.stderr == (f"orch: login: true: cannot enter the home directory "
                             f"/home/{sudo_lab.free}\n")


class _Said:
    """A sudo's handle as Conversation reads it: chunks on its talking stream (stderr), and
    what was written to its stdin."""

    tty = False

    def __init__(self, *chunks: bytes) -> None:
        self.chunks, self.written = chunks, []
        self.stdin = self

    def write(self, data: bytes) -> None:
        self.written.append(data)

    async def events(self) -> Any:
        from orch_magics.process.events import Stderr

        for chunk in self.chunks:
            yield Stderr(chunk)


def test_no_prompt_is_answered_after_the_gate_even_in_the_same_read() -> None:
    """review24: a prompt that came after the gate's token, in the same chunk, was answered:
    it is the target's, printed once sudo let orch in. A race real sudo cannot be made to
    lose on purpose, so a handle stands in for it."""
    import asyncio

    from orch_magics.layers.sudo_handshake import Conversation, build
    from orch_magics.process.command import Command

    script = build(Command(("true",)), ["-u", "t"], login=True)
    assert script.gate is not None
    handle = _Said(script.gate + b"\n" + script.prompt + b"\n" + script.token + b"\n",
                   b"\x1eorch-pid 42\n")
    started = asyncio.run(Conversation(handle, script, "pw", "t").run())  # type: ignore[arg-type]
    assert started.pid == 42 and b"pw\n" not in handle.written, handle.written


def test_the_mark_is_found_across_chunks_and_output_is_not_held() -> None:
    heading = Heading(b"orch-sudo-out-1f")
    assert heading.feed(b"Welcome\norch-su") == (b"Welcome\n", b"")  # may be the mark: held
    assert heading.feed(b"do-out-1f\nfirst") == (b"", b"first")
    assert heading.done and heading.feed(b"orch-sudo-out-1f\n") == (b"", b"orch-sudo-out-1f\n")
    other = Heading(b"orch-sudo-out-1f")
    assert other.feed(b"text o") == (b"text ", b"")
    assert other.feed(b"k\n") == (b"ok\n", b"") and other.flush() == b""
    assert other.feed(b"orch-") == (b"", b"") and other.flush() == b"orch-"


def test_a_timeout_that_passes_while_the_profile_runs_starts_no_command(
        sudo_lab: Any, tmp_path: Path, monkeypatch: Any) -> None:
    """chains19: a `timeout` shorter than the launch (here a login profile taking a second)
    let the command start after its deadline: its `touch` acted, then it was stopped. The
    run now ends unstarted, saying so, and the command never acts."""
    monkeypatch.setenv("ORCH_LOG_DIR", str(tmp_path / "logs"))
    profile = sudo_lab.home / ".profile"
    profile.write_text("sleep 1\n")
    _own(profile, sudo_lab.login)
    mark = sudo_lab.home / "mark"
    layer = sudo_lab.layer(sudo_lab.login, login="true")
    try:
        with Orchestrator(load_config_text(f"environments:\n  li:\n    layers:\n"
                                           f"      - {layer}\n")) as orch:
            result = orch.run("li", command=f"touch {mark}; echo RAN", timeout=0.3)
            assert "timed out before the process started" in repr(result), repr(result)
            assert (result.stdout, result.timed_out, mark.exists()) == ("", True, False)
            assert orch.run("li", command="echo ok", timeout=30).stdout == "ok\n"
    finally:
        profile.unlink(missing_ok=True)
        mark.unlink(missing_ok=True)
