"""`orch` in the surroundings a shell gives it: a Latin-1 locale, a working directory removed
under it, a HOME that does not exist (found by the cli2 tester)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ORCH = [sys.executable, "-m", "orch_magics.cli"]
CONFIG = """\
environments:
  local: []
  staging:
    description: Staging — the one before prod
    layers: [local]
services:
  snow: {command: "echo ☃ é"}
audit: {path: audit.jsonl}
"""


@pytest.fixture(scope="module")
def latin1(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a shell in de_DE.ISO-8859-1, built with localedef into a private
    folder (the machine itself has C.UTF-8 only)."""
    folder = tmp_path_factory.mktemp("locales")
    subprocess.run(["localedef", "-i", "de_DE", "-f", "ISO-8859-1",
                    str(folder / "de_DE.ISO-8859-1")], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LC_", "PYTHONUTF8", "PYTHONIOENCODING"))}
    env.update(LOCPATH=str(folder), LANG="de_DE.ISO-8859-1")
    said = subprocess.run([sys.executable, "-c", "import sys; print(sys.stdout.encoding)"],
                          env=env, capture_output=True, text=True, check=True).stdout
    assert said.strip() == "iso8859-1"  # the locale is real, not C's UTF-8 mode
    return env


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "orch.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def orch(*args: str | bytes, env: dict[str, str] | None = None, cwd: str | None = None
         ) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*ORCH, *args], capture_output=True, timeout=60, env=env, cwd=cwd,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("words", [["--help"], ["run", "--help"], ["ls"], ["check"],
                                   ["audit"]])
def test_orchs_own_text_in_a_latin1_locale_is_escaped_not_a_crash(
        latin1: dict[str, str], cfg: Path, words: list[str]) -> None:
    """Before: `--help` was a traceback (its `…`), `ls`/`check` an internal error (`—`, `→`)."""
    orch("-c", str(cfg), "run", "local", "--", "true", env=latin1)  # something for `audit`
    done = orch("-c", str(cfg), *words, env=latin1)
    assert (done.returncode, b"Traceback" in done.stderr, b"internal error" in done.stderr) \
        == (0, False, False), done.stderr.decode("latin-1")
    if words == ["ls"]:
        assert b"Staging \\u2014 the one before prod" in done.stdout
        assert "echo \\u2603 é".encode("latin-1") in done.stdout  # é is Latin-1's own


def test_commands_reach_the_program_as_utf8_in_a_latin1_locale(latin1: dict[str, str],
                                                              cfg: Path) -> None:
    """A service's `echo ☃` was an internal error (subprocess encoded argv in Latin-1), and
    `--json` of it printed nothing; UTF-8 is what every remote layer sends and what output
    is read back as."""
    done = orch("-c", str(cfg), "run", "local", "snow", env=latin1)
    assert (done.returncode, done.stdout) == (0, "☃ é\n".encode())
    done = orch("-c", str(cfg), "run", "local", "--json", "snow", env=latin1)
    assert json.loads(done.stdout)["stdout"] == "☃ é\n"


def test_words_typed_after_dashes_reach_the_program_as_typed(latin1: dict[str, str],
                                                            cfg: Path) -> None:
    """In a Latin-1 shell `é` is the byte E9: the program gets E9, as from the shell itself;
    so does a variable given with -e (it went out re-encoded, C3 A4 for E4: streams2)."""
    done = orch("-c", str(cfg), "run", "local", "-e", b"X=\xe4", "--", "sh", "-c",
                'printf "%s|" "$X" "$@"', "sh", b"caf\xe9", b"\xe2\x98\x83", env=latin1)
    assert (done.returncode, done.stdout) == (0, b"\xe4|caf\xe9|\xe2\x98\x83|")


def test_the_api_sends_text_as_utf8_in_a_latin1_locale(latin1: dict[str, str],
                                                       tmp_path: Path) -> None:
    """Before: a raw UnicodeEncodeError for `☃` in a command, a variable or a working
    directory, and `echo é` came back as U+FFFD."""
    (tmp_path / "☃").mkdir()
    script = (
        "import sys\n"
        "from orch_magics import Orchestrator, load_config_text\n"
        "orch = Orchestrator(load_config_text('environments: {local: []}\\n"
        "audit: {enabled: false}'))\n"
        f"r = orch.run('local', command=['sh', '-c', 'echo \"$1 $X\"; pwd', 'sh', 'é'],\n"
        f"             env={{'X': '☃'}}, cwd={str(tmp_path / '☃')!r})\n"
        "sys.stdout.buffer.write(r.stdout.encode('utf-8'))\n")
    (tmp_path / "script.py").write_text(script, encoding="utf-8")  # argv would be Latin-1
    done = subprocess.run([sys.executable, str(tmp_path / "script.py")], env=latin1,
                          capture_output=True, timeout=60)
    assert done.stdout.decode() == f"é ☃\n{tmp_path / '☃'}\n", done.stderr.decode("latin-1")


def test_a_working_directory_removed_under_orch_is_a_config_error(tmp_path: Path) -> None:
    """Before: `internal error: FileNotFoundError`, status 70."""
    gone = tmp_path / "gone"
    gone.mkdir()
    script = (f"import os, runpy, sys; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r}); "
              f"sys.argv = ['orch', 'ls']; runpy.run_module('orch_magics.cli', "
              f"run_name='__main__')")
    env = {k: v for k, v in os.environ.items() if k != "ORCH_CONFIG"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60,
                          env=env)
    assert (done.returncode, done.stderr.decode()) == (
        2, "orch: config error: the working directory no longer exists, so there is no "
           "./orch.yaml to read: cd to a folder, or give -c FILE or ORCH_CONFIG\n")
    # review42: a relative -c (or ORCH_CONFIG) there was "internal error: FileNotFoundError"
    for argv, extra in ((["-c", "rel.yaml", "check"], {}), (["check"], {"ORCH_CONFIG": "rel.yaml"})):
        gone.mkdir()
        done = subprocess.run([sys.executable, "-c", script.replace("['orch', 'ls']", repr(
            ["orch", *argv]))], capture_output=True, timeout=60, env={**env, **extra})
        assert (done.returncode, done.stderr.decode()) == (
            2, "orch: config error: the working directory no longer exists, so there is no "
               "rel.yaml to read: cd to a folder, or give an absolute path\n"), done.stderr


def test_a_home_that_does_not_exist_is_not_made_for_the_audit_log(cfg: Path,
                                                                  tmp_path: Path) -> None:
    """Debian's service users have HOME=/nonexistent, which must stay so: the audit log's
    default folder under it was made, HOME included."""
    home = tmp_path / "nonexistent"
    cfg.write_text(CONFIG.replace("audit: {path: audit.jsonl}\n", ""))
    env = {k: v for k, v in os.environ.items() if k != "XDG_STATE_HOME"} | {"HOME": str(home)}
    done = orch("-c", str(cfg), "run", "local", "--", "echo", "hi", env=env)
    assert (done.returncode, done.stdout, home.exists()) == (1, b"", False)
    assert b"that home folder does not exist" in done.stderr


def test_a_remote_path_of_a_copy_goes_out_as_typed(latin1: dict[str, str], cfg: Path,
                                                   tmp_path: Path) -> None:
    """`orch cp f ENV:/tmp/ä` in a Latin-1 shell: the far name is the byte E4, as scp makes it."""
    (tmp_path / "f").write_bytes(b"data\n")
    far = os.fsencode(tmp_path) + b"/\xe4"
    done = orch("-c", str(cfg), "cp", str(tmp_path / "f"), b"local:" + far, env=latin1)
    assert done.returncode == 0, done.stderr.decode("latin-1")
    assert open(far, "rb").read() == b"data\n"


@pytest.mark.parametrize(("path", "shown"), [
    (b"/tmp/a\nb.yaml", b"/tmp/a\\nb.yaml"),
    (b"/tmp/\x1b[31mRED.yaml", b"/tmp/\\x1b[31mRED.yaml"),
    (b"/tmp/\xff.yaml", b"/tmp/\\xff.yaml"),
], ids=["newline", "escape", "not-utf8"])
def test_a_config_path_in_an_error_is_one_escaped_line(path: bytes, shown: bytes) -> None:
    """A newline split the message in two, an escape repainted the terminal, a byte not UTF-8
    showed as `\\udcff` (tester cli3): a path is shown as the config's own text is."""
    for done, why in ((orch("-c", path, "ls"), b""),
                      (orch("ls", env={**os.environ, "ORCH_CONFIG": os.fsdecode(path)}),
                       b" (named by ORCH_CONFIG: fix or unset it, or give -c FILE)")):
        assert (done.returncode, done.stderr) == (
            2, b"orch: config error: " + shown + b": config file not found" + why + b"\n")
