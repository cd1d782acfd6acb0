"""`orch run` of a `tty: true` service from a terminal: the user's terminal is raw for the run,
as under `ssh -t`, and as it was afterwards, however the run ends (cliapi finding #2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from terminal import ORCH, on_terminal

SERVICES = """\
  pw:
    command: 'stty -echo; printf "Password: "; read pw; stty echo; echo; echo "len ${#pw}"'
    stdin_mode: interactive
    tty: true
  size: {command: 'stty size', stdin_mode: interactive, tty: true}
  wait: {command: 'echo ready; sleep 30', stdin_mode: interactive, tty: true}
  winch:
    command: 'trap "stty size; exit 0" WINCH; stty size; while :; do sleep 0.1; done'
    stdin_mode: interactive
    tty: true
  sized: {command: 'stty size', tty: true}
  term: {command: 'echo ready; kill -TERM $PPID; sleep 30', stdin_mode: interactive, tty: true}
"""
CONFIG = f"""\
environments:
  local: {{layers: []}}
  refused: {{layers: [{{type: ssh, config: {{host: 127.0.0.1, port: 1, connect_timeout: 3}}}}]}}
services:
{SERVICES}"""
#: A shell on the terminal that sizes it, then shows its settings around the run.
AROUND = ('stty rows 33 cols 111; stty -g; "$@"; echo "status $?"; stty -g')


def run_on_terminal(tmp_path: Path, args: list[str],
                    script: list[tuple[bytes, bytes | tuple[int, int]]],
                    text: str = CONFIG) -> tuple[bytes, int, list[bytes]]:
    """The run's screen, its status, and the terminal's settings before and after it."""
    config = tmp_path / "orch.yaml"
    config.write_text(text)
    orch = [*ORCH, "-c", str(config), "run", *args]
    status, screen = on_terminal(["sh", "-c", AROUND, "sh", *orch], script)
    assert status == 0, screen
    before, *shown, said, after = screen.split(b"\r\n")[:-1]
    last, _, status = said.partition(b"status ")  # `^C`, echoed by the program's terminal
    assert status, screen
    return b"\r\n".join([*shown, last]).strip(), int(status), [before, after]


def test_a_password_typed_at_a_hidden_prompt_is_not_shown(tmp_path: Path) -> None:
    """Before: `Password: S3cretPass\\r\\n\\r\\r\\nlen 10`: our terminal, cooked, echoed each key
    the program's own terminal was told to hide."""
    screen, status, settings = run_on_terminal(tmp_path, ["local", "pw"],
                                               [(b"Password: ", b"S3cretPass\r")])
    assert (screen, status) == (b"Password: \r\nlen 10", 0)
    assert settings[0] == settings[1]


@pytest.mark.parametrize("service", ["size", "sized"])
def test_the_program_gets_the_size_of_the_terminal(tmp_path: Path, service: str) -> None:
    """chains19: a `tty` service that reads no stdin (`sized`) got a terminal of 0 0."""
    screen, status, _ = run_on_terminal(tmp_path, ["local", service], [])
    assert (screen, status) == (b"33 111", 0)


@pytest.mark.parametrize(("args", "typed", "expected"), [
    (["local", "wait"], b"\x03", 130),  # Ctrl-C: a key for the program; its terminal INTs it
    (["local", "term"], b"", 143),  # SIGTERM to orch: it stops the run
    (["local", "wait", "--timeout", "1"], b"", 124),
    (["refused", "wait"], b"", 1),  # the first hop cannot be reached: an error, no process
], ids=["ctrl-c", "sigterm", "timeout", "error"])
def test_the_terminal_is_put_back_however_the_run_ends(tmp_path: Path, args: list[str],
                                                       typed: bytes, expected: int) -> None:
    wait_for = b"status" if expected == 1 else b"ready"
    screen, status, settings = run_on_terminal(tmp_path, args, [(wait_for, typed)])
    assert status == expected, screen
    assert settings[0] == settings[1], screen


@pytest.mark.ssh
def test_over_ssh_too(ssh_lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The size goes with the pty request, as `ssh -t` sends it."""
    text = ssh_lab.config_yaml(services=SERVICES)
    screen, status, settings = run_on_terminal(tmp_path, ["loop", "pw"],
                                               [(b"Password: ", b"S3cretPass\r")], text)
    assert (screen, status, settings[0]) == (b"Password: \r\nlen 10", 0, settings[1])
    assert run_on_terminal(tmp_path, ["loop", "size"], [], text)[:2] == (b"33 111", 0)


def test_a_container_layers_tty_makes_the_terminal_raw_too(dockerd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """s9-docker #4: a docker layer's `tty: true` gave the process a terminal, but only a
    service's `tty: true` made ours raw: the password typed at a hidden prompt was shown,
    every line came twice, and Ctrl-C ended the whole run."""
    pw = SERVICES.split("\n")[1].split("command: ", 1)[1]
    text = (f"environments:\n  dock: [{dockerd.layer(tty=True)}]\nservices:\n"
            f"  plain: {{command: {pw}, stdin_mode: interactive}}\n")
    screen, status, settings = run_on_terminal(tmp_path, ["dock", "plain"],
                                               [(b"Password: ", b"S3cretPass\r")], text)
    assert (screen, status) == (b"Password: \r\nlen 10", 0)
    assert settings[0] == settings[1]


def test_a_container_layers_tty_gets_the_size_of_the_terminal(dockerd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The container's terminal started at the engine's default size (s9-docker #4)."""
    text = (f"environments:\n  dock: [{dockerd.layer(tty=True)}]\nservices:\n"
            f"  size: {{command: 'stty size', stdin_mode: interactive}}\n")
    assert run_on_terminal(tmp_path, ["dock", "size"], [], text)[:2] == (b"33 111", 0)


@pytest.mark.parametrize("service", ["wait", "reader"])
def test_a_closed_terminal_stops_the_run_as_its_sighup(tmp_path: Path, service: str) -> None:
    """The terminal window closed under a `tty: true` run: putting the dead terminal back
    raised EIO (`orch: internal error`, status 70), and reading it was taken as EOF, so the
    program ended on its own (status 1) instead of being stopped (129); cli2 #4."""
    import json
    import os
    import pty
    import subprocess
    import time

    from terminal import _read

    audit, config = tmp_path / "audit.jsonl", tmp_path / "orch.yaml"
    config.write_text(CONFIG + "  reader: {command: 'echo ready; cat', stdin_mode: interactive, "
                      f"tty: true}}\naudit: {{path: {audit}}}\n")
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(ORCH[0], [*ORCH, "-c", str(config), "run", "local", service])
    screen, deadline = b"", time.monotonic() + 15
    while b"ready" not in screen:
        chunk = _read(fd, deadline)
        assert chunk, screen
        screen += chunk
    os.close(fd)  # the window is closed
    deadline = time.monotonic() + 10
    while not (ended := os.waitpid(pid, os.WNOHANG))[0]:
        assert time.monotonic() < deadline, "orch still runs 10 s after its terminal closed"
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(ended[1]) == 129
    assert [json.loads(line)["event"] for line in audit.read_text().splitlines()] == [
        "start", "end"]
    assert subprocess.run(["pgrep", "-f", str(config)], capture_output=True).stdout == b""


def test_a_closed_terminal_under_streaming_output_is_its_hangup_not_an_output_error(
        tmp_path: Path) -> None:
    """chains9: output still being written when the terminal closed failed with EIO before
    the SIGHUP was handled: `orch: cannot write the output: Input/output error`, status 1,
    where a closed terminal is 129. orch is stopped (SIGSTOP) while the window closes, so
    both come at once, as they do on a loaded machine."""
    import os
    import pty
    import signal
    import time

    from terminal import _read

    config, said = tmp_path / "orch.yaml", tmp_path / "signals"
    config.write_text(CONFIG)
    pid, fd = pty.fork()
    if pid == 0:  # it goes on printing after the INT: the ladder's TERM ends it
        os.execvp(ORCH[0], [*ORCH, "-c", str(config), "run", "local", "--", "sh", "-c",
                            f"trap 'echo INT >> {said}' INT; trap 'echo TERM >> {said}; exit' "
                            f"TERM; while :; do echo tick; sleep 0.05; done"])
    screen, deadline = b"", time.monotonic() + 15
    while screen.count(b"tick") < 3:
        chunk = _read(fd, deadline)
        assert chunk, screen
        screen += chunk
    os.kill(pid, signal.SIGSTOP)
    time.sleep(0.5)  # output piles up for the terminal
    os.close(fd)  # the window is closed
    time.sleep(0.2)
    os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + 10
    while not (ended := os.waitpid(pid, os.WNOHANG))[0]:
        assert time.monotonic() < deadline, "orch still runs 10 s after its terminal closed"
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(ended[1]) == 129
    # review18: one hang-up, said by the kernel and by each failed write, is one stop signal:
    # the ladder ran (INT, then TERM), no second signal killed the command at once
    assert said.read_text().split() == ["INT", "TERM"]


@pytest.mark.parametrize("env", ["local", "loop", "two", "dock", "sudo"])
def test_the_program_follows_the_window_when_it_changes(request: pytest.FixtureRequest,
                                                       tmp_path: Path, env: str) -> None:
    """chains19: the size went once, at the start: a window made larger later never reached
    the program (a pager, `top`, an editor drew in the old size), where `ssh -t` passes the
    change on."""
    text = CONFIG
    if env in ("loop", "two"):
        text = request.getfixturevalue("ssh_lab").config_yaml(services=SERVICES)
    elif env == "dock":
        text = (f"environments:\n  dock: [{request.getfixturevalue('dockerd').layer()}]\n"
                f"services:\n{SERVICES}")
    elif env == "sudo":
        sudo_lab = request.getfixturevalue("sudo_lab")
        text = f"environments:\n  sudo: [{sudo_lab.layer(sudo_lab.free)}]\nservices:\n{SERVICES}"
    screen, status, settings = run_on_terminal(tmp_path, [env, "winch"],
                                               [(b"33 111\r\n", (122, 44))], text)
    assert (screen, status) == (b"33 111\r\n44 122", 0)


@pytest.mark.ssh
def test_a_fleet_of_tty_runs_has_a_raw_terminal_of_the_windows_size(ssh_fleet,  # type: ignore[no-untyped-def]
                                                                    tmp_path: Path) -> None:
    """fleets19: on a fleet the terminal stayed cooked, so the answer to every target's hidden
    prompt was echoed here in clear, and each target's terminal was 0x0. Each key goes to
    every target as typed, each of which hides it; their terminals are the window's size."""
    text = (f"environments:\n  web: [{{type: ssh, config: {{host: '127.0.1.[1:2]', "
            f"{ssh_fleet.ssh_config()}}}}}]\nservices:\n{SERVICES}"
            "  hidden:\n    command: 'stty -echo; echo ready; read pw; stty echo; echo \"len ${#pw}\"'\n"
            "    stdin_mode: interactive\n    tty: true\n")
    screen, status, settings = run_on_terminal(
        tmp_path, ["web", "hidden"], [(b"ready", b""), (b"ready", b"S3cretPass\r")], text)
    assert b"S3cretPass" not in screen and status == 0, screen
    assert screen.count(b" | len 10\r\n") == 2 and settings[0] == settings[1], screen
    screen, status, _ = run_on_terminal(tmp_path, ["web", "sized"], [], text)
    assert [line.split(b" | ")[-1].rstrip(b"\r") for line in screen.split(b"\r\n")[:2]] == [
        b"33 111"] * 2, screen


@pytest.mark.parametrize("sig", [15, 1], ids=["sigterm", "sighup"])
def test_a_signal_at_the_secret_prompt_is_said_in_the_exit_status(tmp_path: Path,
                                                                  sig: int) -> None:
    """chains24: TERM or HUP while `orch run` asked `secret pw:` exited 130, Ctrl-C's
    status, where the docs (and the protected environment's question) say 128 + signal."""
    import os
    import pty
    import time

    from terminal import _read

    config = tmp_path / "orch.yaml"
    config.write_text("environments: {local: []}\nsecrets: {providers: [prompt]}\n"
                      "services: {pw: {command: 'echo ran', environment: {P: '{{secret:pw}}'}}}\n")
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(ORCH[0], [*ORCH, "-c", str(config), "run", "local", "pw"])
    screen, deadline = b"", time.monotonic() + 30
    try:
        while b"secret pw: " not in screen:
            chunk = _read(fd, deadline)
            assert chunk, screen
            screen += chunk
        os.kill(pid, sig)
        while chunk := _read(fd, deadline):
            screen += chunk
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 128 + sig, screen
    assert b"ran" not in screen.split(b"secret pw: ")[1], screen
