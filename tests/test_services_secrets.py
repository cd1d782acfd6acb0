"""Secrets: every provider, the file permission check, errors, and the sentinel that never leaks.

The sentinel test runs a command that prints the secret in every form we mask and greps every
sink for it. It is parametrized over environment names: SSH and Docker environments join the
`ENVIRONMENTS` list (and the config) when those layers and their fixtures land.
"""

from __future__ import annotations

import base64
import dataclasses
import glob
import logging
import os
import subprocess
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus

import keyring
import keyring.backend
import pytest

from orch_magics import ConfigError, Orchestrator, RunError, Stdout, load_config, load_config_text
from orch_magics.config.model import SecretsSettings
from orch_magics.process.events import Exit, Stderr
from orch_magics.secrets import Resolver, ShortSecretWarning, mask_text
from orch_magics.secrets.masking import MASK, SecretRegistry
from orch_magics.secrets.stream import StreamMasker
from streams import Recorder
from terminal import ORCH, on_terminal

SENTINEL = "Sentinel/p@ss w+rd=Zq81"  # has characters that URL-encoding and base64 change
FORMS = {
    "plain": SENTINEL,
    "base64": base64.b64encode(SENTINEL.encode()).decode(),
    "base64-echo": base64.b64encode(SENTINEL.encode() + b"\n").decode(),
    "url": quote(SENTINEL, safe=""),
    "url-plus": quote_plus(SENTINEL, safe=""),
}

# The sentinel test runs at depth 1, through two SSH hops (bastion → inner host in network
# namespaces), in a container on the local engine, and in a container behind an SSH hop.
ENVIRONMENTS = ["local", "two", "docker", "ssh-docker"]

CONFIG = """\
environments:
  local: {layers: []}
services:
  leak:
    command: |
      echo "plain: $TOKEN"
      printf %s "$TOKEN" | base64
      echo "$TOKEN" | base64
      if command -v python3 >/dev/null; then python3 -c 'import os, urllib.parse as u; t = os.environ["TOKEN"]; print(u.quote(t, safe="")); print(u.quote_plus(t, safe=""))'; fi
      printf 'split: %s' "${TOKEN%%@*}"; sleep 0.3; printf '@%s\\n' "${TOKEN#*@}"
      printf '%s' "${TOKEN%%w+*}" >&2; sleep 0.1; printf 'w+%s\\n' "${TOKEN#*w+}" >&2
      echo "multi: $MULTI"
      echo "$MULTI" | tac
      printf 'pw=%s--%s--%s\\n' "$TOKEN" "$TOKEN" "$TOKEN" | base64
      printf 'pw=%s--%s--%s\\n' "$TOKEN" "$TOKEN" "$TOKEN" | base64 -w 64 | awk '{printf "%s\\r\\n", $0}' >&2
      sleep 0.5
      exit 3
    environment:
      TOKEN: "{{secret:sentinel_token}}"
      MULTI: "{{secret:multi}}"
    pre_commands: [{command: 'echo "pre sees $TOKEN"'}]
    post_commands: [{command: 'echo "post sees $TOKEN" >&2', when: always}]
  needs-missing:
    command: 'echo never'
    environment:
      OK: plain
      PASSWORD: "{{secret:db_password}}"
  from-store:
    command: 'printf %s "$V"'
    environment: {V: "{{secret:stored}}"}
"""

MULTI = "first-line-secret\nsecond-line-secret"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "orch.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def orch(config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Orchestrator:
    monkeypatch.setenv("ORCH_SECRET_SENTINEL_TOKEN", SENTINEL)
    monkeypatch.setenv("ORCH_SECRET_MULTI", MULTI)
    o = Orchestrator(load_config(config_file), log_dir=tmp_path / "logs",
                     restart_backoff=(0.05, 0.1))
    yield o
    o.close()


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A real keyring backend (the keyring API's extension point) holding values in memory."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.values.pop((service, username), None)


class Fixed:
    """A secret provider (the `SecretProvider` protocol) that knows one value for every name."""

    label = "fixed"

    def __init__(self, value: str) -> None:
        self.value = value

    def lookup(self, name: str) -> str | None:
        return self.value

    def describe(self, name: str) -> str:
        return "fixed"


@pytest.fixture
def memory_keyring() -> MemoryKeyring:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def with_secrets(orch: Orchestrator, **settings: object) -> Orchestrator:
    config = dataclasses.replace(orch.config, secrets=SecretsSettings(**settings))  # type: ignore[arg-type]
    return Orchestrator(config, log_dir=orch.log_dir)


# ---- the sentinel ------------------------------------------------------------------------------


def secret_chars(secret: bytes, offset: int, encode: Callable[[bytes], bytes]) -> str:
    """The base64 characters that only `secret` decides when `offset` bytes precede it: the
    longest run on which encodings with other bytes around it agree."""
    texts = [encode(bytes([b]) * offset + secret + bytes([b, b])).decode()
             for b in (0, 255, 0x55)]
    same = "".join(t0 if t0 == t1 == t2 else "\0" for t0, t1, t2 in zip(*texts, strict=True))
    return max(same.split("\0"), key=len)


def leaks_encoded(secret: str, text: str, window: int = 8) -> bool:
    """True when `window` characters in a row of any base64 encoding of `secret` (any
    alignment, either alphabet) are in `text`, line breaks taken out."""
    flat = text.replace("\r", "").replace("\n", "")
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for offset in range(3):
            core = secret_chars(secret.encode(), offset, encode)
            if any(core[i:i + window] in flat for i in range(len(core) - window + 1)):
                return True
    return False


def leaked(text: str) -> list[str]:
    """Which sentinel forms (or lines of the multi-line secret) appear in `text`."""
    found = [name for name, form in FORMS.items() if form in text]
    found += [f"multi:{line}" for line in MULTI.splitlines() if line in text]
    found += ["base64-wrapped"] if leaks_encoded(SENTINEL, text) else []
    return found


class CmdlineWatcher(threading.Thread):
    """Reads every /proc/*/cmdline while a run goes on, collecting any that holds the secret."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.hits: list[str] = []
        self.scans = 0

    def run(self) -> None:
        while not self.stop.is_set():
            for path in glob.glob("/proc/[0-9]*/cmdline"):
                try:
                    with open(path, "rb") as f:
                        text = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
                except OSError:
                    continue
                if leaked(text):
                    self.hits.append(text)
            self.scans += 1
            time.sleep(0.01)


def remote_environments(request: pytest.FixtureRequest, environment: str) -> str:
    """Config text defining `environment` on the real SSH lab / Docker engine fixtures."""
    if environment == "local":
        return ""
    if environment == "two":
        return request.getfixturevalue("ssh_lab").config_yaml()
    engine = request.getfixturevalue("dockerd")
    if environment == "docker":
        return ("environments:\n  docker:\n    layers:\n      - {type: docker, config: "
                f"{{container: orch-test, docker_host: '{engine.host}'}}}}\n")
    lab = request.getfixturevalue("ssh_lab")
    box = f"{{type: docker, config: {{container: orch-test, docker_host: '{engine.host}'}}}}"
    return lab.config_yaml(extra_envs={environment: [lab.layer("orch-loop"), box]})


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_sentinel_secret_never_leaks(orch: Orchestrator, environment: str,
                                     caplog: pytest.LogCaptureFixture,
                                     request: pytest.FixtureRequest, tmp_path: Path) -> None:
    extra = remote_environments(request, environment)
    if extra:
        (tmp_path / "remote.yaml").write_text(extra)
        orch = Orchestrator(load_config(*orch.config.files, tmp_path / "remote.yaml"),
                            log_dir=orch.log_dir, restart_backoff=(0.05, 0.1))
        request.addfinalizer(orch.close)
    caplog.set_level(logging.DEBUG)
    display = Recorder()

    # the process really got the values (through its environment, not its argv)
    check = orch.run(environment, command='test "$T" = "$E" && echo same',
                     env={"T": "{{secret:sentinel_token}}", "E": SENTINEL})
    assert check.stdout == "same\n"

    watcher = CmdlineWatcher()
    watcher.start()
    try:
        result = orch.run(environment, "leak", sinks=[display])
        named = orch.start(environment, "leak", name="leaky")
        named.wait(20)
    finally:
        watcher.stop.set()
        watcher.join()
    assert watcher.scans > 5 and watcher.hits == []

    # the command did print the secret in every form: each was masked
    assert result.returncode == 3
    has_python = "docker" not in environment  # the busybox test image has no python3
    assert result.stdout.count(MASK) >= (9 if has_python else 7), result.stdout
    assert "split: ****" in result.stdout
    assert "multi: ****\n****\n****\n" in result.stdout  # whole value, then each line alone
    assert result.stderr.startswith("****")

    texts = {
        "stdout": result.stdout,
        "stderr": result.stderr,
        "raw_stdout": result.raw_stdout,
        "repr": repr(result),
        "json": result.json(),
        "steps": " ".join(s.stdout + s.stderr + s.json() for s in result.steps),
        "display": display.output().decode("utf-8", "replace"),
        "describe_failure": result.describe_failure(),
        "dry-run": orch.plan(environment, "leak").describe(),
        "dry-run-adhoc": orch.plan(environment, command="true",
                                   env={"X": "{{secret:sentinel_token}}"}).describe(),
        "ps": repr(orch.ps()) + " ".join(" ".join(r.as_row()) for r in orch.ps()),
        "status": repr(orch.status("leaky")),
        "logs": orch.logs("leaky"),
        "log-file": Path(orch.status("leaky").log_file or "").read_text(),
        "debug-log": caplog.text,
    }
    assert "pre sees ****" in texts["steps"] and "post sees ****" in texts["steps"]
    assert "{{secret:sentinel_token}}" in texts["dry-run"]
    try:
        result.check()
    except RunError as exc:
        texts["exception"] = str(exc) + "".join(traceback.format_exception(exc))
    else:
        pytest.fail("check() should raise")
    leaks = {where: leaked(text) for where, text in texts.items() if leaked(text)}
    assert leaks == {}


ARGV = ("placeholders are expanded in a service's `environment` (and in layer settings), so "
        "that secrets never reach an argv "
        "(visible in `ps`): set a variable in `environment` and use $VAR in the command")
LITERAL = ("placeholders are expanded in a service's `environment` (and in layer settings); "
           "here '{{secret:x}}' would be used "
           "as literal text: set a variable in `environment` and use it from the command")


@pytest.mark.parametrize("service, where, message", [
    ("{command: 'echo {{secret:x}}'}", "command", ARGV),
    ("{command: [echo, '{{ env:HOME }}']}", "command", ARGV),
    ("{command: x, pre_commands: [{command: 'echo {{secret:x}}'}]}", "pre_commands[0].command",
     ARGV),
    ("{command: x, post_commands: [{command: y}, {command: 'echo {{secret:x}}'}]}",
     "post_commands[1].command", ARGV),
    ("{command: x, working_dir: '{{secret:x}}'}", "working_dir", LITERAL),
    ("{command: x, stdout_mode: file, stdout_file: 'out-{{secret:x}}'}", "stdout_file", LITERAL),
    ("{command: x, description: 'uses {{secret:x}}'}", "description", LITERAL),
    ("{command: x, post_commands: [{command: y, working_dir: '{{secret:x}}'}]}",
     "post_commands[0].working_dir", LITERAL),
])
def test_a_placeholder_where_it_is_not_expanded_is_refused_at_load(
        service: str, where: str, message: str) -> None:
    """Before, `check` passed these; `run` refused commands at the service's line only, and
    used a working_dir or stdout_file with `{{secret:x}}` in it as literal text."""
    with pytest.raises(ConfigError) as err:
        load_config_text(f"services:\n  a: {service}\n", "conf.yaml")
    assert err.value.message == f"services.a.{where}: {message}"
    key = where.rpartition(".")[2].partition("[")[0]
    at = service.rfind(f"{key}: ") + len(key) + 2  # the value of the last such key
    if "_commands[" in where and key == "command":
        at = service.rfind("{command: 'echo") + len("{command: ")
    assert (err.value.line, err.value.column) == (2, len("  a: ") + at + 1)


def test_orch_check_refuses_a_placeholder_in_a_command(tmp_path: Path) -> None:
    cfg = tmp_path / "orch.yaml"
    cfg.write_text("environments: {local: {layers: []}}\nservices:\n"
                   "  a: {command: echo, pre_commands: [{command: 'echo {{secret:x}}'}]}\n")
    r = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "check"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"orch: config error: {cfg}:3:47: services.a.pre_commands[0]."
                               f"command: {ARGV}\n")


def test_masking_logging_filter(caplog: pytest.LogCaptureFixture,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    from orch_magics.secrets.masking import get_logger

    orch_secret = "logged-secret-XYZ"
    Resolver([Fixed(orch_secret)]).secret("x")
    caplog.set_level(logging.DEBUG)
    log = get_logger("orch_magics.test")
    log.debug("value %s and %r", orch_secret, {"k": orch_secret})
    try:
        raise ValueError(f"boom {orch_secret}")
    except ValueError:
        log.debug("failed", exc_info=True)
    assert orch_secret not in caplog.text and "****" in caplog.text


# ---- masking mechanics -------------------------------------------------------------------------


def test_stream_masker_holds_back_only_possible_secret_starts() -> None:
    reg = SecretRegistry()
    reg.add("hunter2-secret")
    masker = StreamMasker(reg)
    out: list[object] = []
    out += masker(Stdout(b"prompt> "))  # cannot start the secret: passes at once
    assert out == [Stdout(b"prompt> ")]
    out += masker(Stdout(b"pw=hunt"))  # "hunt" may be the secret's start: held back
    assert out[-1] == Stdout(b"pw=")
    out += masker(Stdout(b"er2-sec"))
    out += masker(Stderr(b"hunter2-secret!"))
    out += masker(Stdout(b"ret and hun"))
    out += masker(Exit(code=0))
    stdout = b"".join(e.data for e in out if isinstance(e, Stdout))  # type: ignore[attr-defined]
    assert stdout == b"prompt> pw=**** and hun"
    assert Stderr(b"****!") in out and isinstance(out[-1], Exit)


def test_every_split_position_is_masked() -> None:
    reg = SecretRegistry()
    secret = "abcdefgh-1234"
    reg.add(secret)
    data = f"xx {secret} yy {base64.b64encode(secret.encode()).decode()} zz".encode()
    for cut in range(len(data)):
        masker = StreamMasker(reg)
        events = masker(Stdout(data[:cut])) + masker(Stdout(data[cut:])) + masker(Exit(code=0))
        joined = b"".join(e.data for e in events if isinstance(e, Stdout))  # type: ignore[attr-defined]
        assert joined == b"xx **** yy **** zz", cut


def test_short_secrets_warn_and_are_not_masked() -> None:
    reg = SecretRegistry()
    with pytest.warns(ShortSecretWarning):
        assert reg.add("abc") is False
    assert reg.mask_text("abc") == "abc"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert reg.add("abcd") is True
    assert reg.mask_text("xabcdx") == "x****x"


def test_short_secret_from_a_provider_warns(orch: Orchestrator,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_SECRET_DB_PASSWORD", "pw")
    with pytest.warns(ShortSecretWarning):
        orch.plan("local", "needs-missing")


# ---- providers ---------------------------------------------------------------------------------


def test_env_provider_name_mangling(orch: Orchestrator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_SECRET_STORED", "from-env-value")
    res = orch.run("local", "from-store")
    assert res.stdout == "****"  # it arrived, and it is masked on the way back
    assert mask_text("from-env-value") == MASK


def test_an_orch_secret_variable_read_as_env_is_masked_as_a_secret(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """safety20: `{{env:ORCH_SECRET_TOK}}` (the variable the env provider reads for
    `{{secret:tok}}`) gave the command its value, which came back in clear, base64 too."""
    monkeypatch.setenv("ORCH_SECRET_TOK_S20", "hunter2hunter-s20")
    config = load_config_text(
        "environments: {local: []}\naudit: {enabled: false}\nservices:\n  a:\n"
        "    command: echo \"A=$A\"; printf %s \"$A\" | base64\n"
        "    environment: {A: '{{env:ORCH_SECRET_TOK_S20}}'}\n")
    with Orchestrator(config) as orch:
        res = orch.run("local", "a")
    assert res.stdout == f"A={MASK}\n{MASK}\n", res.stdout


def test_a_secret_that_is_not_utf8_arrives_byte_exact_and_masked(
        tmp_path: Path) -> None:
    """A legacy Latin-1 password: from the environment it was 'internal error:
    UnicodeEncodeError' (exit 70), from a command provider U+FFFD silently replaced the byte;
    `{{env:…}}` already carried such bytes exactly (held-out tester)."""
    script = tmp_path / "pw.sh"
    script.write_text('#!/bin/sh\nprintf "c\\351mmand-%s\\n" "$1"\n')
    script.chmod(0o755)
    (tmp_path / "orch.yaml").write_text(
        "environments: {local: {layers: []}}\n"
        f"secrets: {{providers: [env, {{type: command, argv: [{script}, '{{name}}']}}]}}\n"
        "services:\n  show: {command: 'printf %s \"$A\" | od -An -to1; echo \"$A/$B\"', "
        "environment: {A: '{{secret:from_env}}', B: '{{secret:from_cmd}}'}}\n")
    env = {**os.environ, "ORCH_SECRET_FROM_ENV": "p\udce9ssword"}
    done = subprocess.run([*ORCH, "-c", str(tmp_path / "orch.yaml"), "run", "local", "show"],
                          capture_output=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [b"160", b"351", b"163", b"163", b"167", b"157", b"162",
                                   b"144", b"****/****"], done.stdout  # (octal: hex is masked)
    # as orch itself writes such bytes (`\xe9`, in its messages), it is masked too (review)
    from orch_magics.secrets import register

    register("p\udce9ssword")
    assert mask_text("is p\\xe9ssword here") == "is **** here"


def test_keyring_provider(orch: Orchestrator, memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password("orch_magics", "stored", "from-keyring-value")
    plan = orch.plan("local", "from-store")
    assert plan.command.env["V"] == "from-keyring-value"
    custom = with_secrets(orch, providers=("keyring",), keyring_service="team-vault")
    memory_keyring.set_password("team-vault", "stored", "team-keyring-value")
    assert custom.plan("local", "from-store").command.env["V"] == "team-keyring-value"


def test_env_wins_over_keyring(orch: Orchestrator, memory_keyring: MemoryKeyring,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    memory_keyring.set_password("orch_magics", "stored", "keyring-loses")
    monkeypatch.setenv("ORCH_SECRET_STORED", "env-wins-value")
    assert orch.plan("local", "from-store").command.env["V"] == "env-wins-value"
    reordered = with_secrets(orch, providers=("keyring", "env"))
    assert reordered.plan("local", "from-store").command.env["V"] == "keyring-loses"


def test_a_secrets_file_another_account_could_rewrite_is_refused(orch: Orchestrator,
                                                                   tmp_path: Path) -> None:
    """safety15: a 0600 secrets file another user owns, or one in a folder anyone may write,
    was used without a word: that account chooses the values production commands get."""
    import pwd

    theirs = tmp_path / "theirs.yaml"
    theirs.write_text("stored: planted\n")
    os.chmod(theirs, 0o600)
    os.chown(theirs, pwd.getpwnam("nobody").pw_uid, -1)
    o = with_secrets(orch, providers=("file",), file=str(theirs))
    with pytest.raises(ConfigError, match=f"secrets file {theirs} belongs to user nobody, who "
                                          f"could read and rewrite it"):
        o.plan("local", "from-store")
    (shared := tmp_path / "shared").mkdir()
    os.chmod(shared, 0o777)
    (ours := shared / "s.yaml").write_text("stored: planted\n")
    os.chmod(ours, 0o600)
    o = with_secrets(orch, providers=("file",), file=str(ours))
    with pytest.raises(ConfigError, match=r"which group/others may write \(mode 0777\)"):
        o.plan("local", "from-store")
    os.chmod(shared, 0o1777)  # sticky, as /tmp: nobody else may replace it
    assert o.plan("local", "from-store").command.env["V"] == "planted"


def test_a_secrets_file_reached_through_another_users_folder_or_link_is_refused(
        orch: Orchestrator, tmp_path: Path) -> None:
    """safety22: only the file and its folder's mode were judged: nobody's link in a folder
    of theirs, or their swap of the file's folder through a 0777 grandparent, made a staging
    run read another of your secrets files (prod's), without a word. The walk is the audit
    log's: every folder and link on the way, as written and as the links lead."""
    (prod := tmp_path / "prod").mkdir()
    (prod / "secrets.yaml").write_text("stored: prod-only\n")
    os.chmod(prod / "secrets.yaml", 0o600)
    (theirs := tmp_path / "nob").mkdir()
    os.chown(theirs, 65534, 65534)
    (theirs / "secrets.yaml").symlink_to(prod / "secrets.yaml")
    o = with_secrets(orch, providers=("file",), file=str(theirs / "secrets.yaml"))
    with pytest.raises(ConfigError, match=f"secrets file {theirs / 'secrets.yaml'} is in "
                                          f"{theirs}, which belongs to user nobody, who could "
                                          f"point it at another file"):
        o.plan("local", "from-store")
    (shared := tmp_path / "gp").mkdir()
    os.chmod(shared, 0o777)
    (shared / "proj").mkdir(mode=0o700)
    (shared / "proj" / "secrets.yaml").write_text("stored: staging\n")
    os.chmod(shared / "proj" / "secrets.yaml", 0o600)
    o = with_secrets(orch, providers=("file",), file=str(shared / "proj" / "secrets.yaml"))
    with pytest.raises(ConfigError, match=f"under {shared}, any user may write \\(mode 0777, "
                                          f"no sticky bit\\)"):
        o.plan("local", "from-store")
    os.chmod(shared, 0o755)  # your own tree: read
    assert o.plan("local", "from-store").command.env["V"] == "staging"
    (mine := tmp_path / "mine").symlink_to(shared)  # review40: your link into it, as written
    os.chmod(shared, 0o777)  # fine, the place it leads to is judged too
    o = with_secrets(orch, providers=("file",), file=str(mine / "proj" / "secrets.yaml"))
    with pytest.raises(ConfigError, match=f"under {mine}, any user may write"):
        o.plan("local", "from-store")
    (tmp_path / "via").symlink_to(shared / "proj")  # safety23: `..` after a link goes up from
    (tmp_path / "staging").mkdir()  # where it leads, through the 0777 folder, which neither
    (tmp_path / "staging" / "secrets.yaml").write_text("stored: staging\n")  # the written
    (tmp_path / "staging" / "secrets.yaml").chmod(0o600)  # nor the real path holds
    dotted = f"{tmp_path / 'via'}/../../staging/secrets.yaml"
    o = with_secrets(orch, providers=("file",), file=dotted)
    with pytest.raises(ConfigError, match=f"is reached through {shared}, which any user may"):
        o.plan("local", "from-store")


def test_file_provider_and_its_permission_check(orch: Orchestrator, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("stored: from-file-value\nnumber: 123456\n")
    os.chmod(secrets, 0o600)
    o = with_secrets(orch, providers=("env", "file"), file=str(secrets))
    assert o.plan("local", "from-store").command.env["V"] == "from-file-value"
    os.chmod(secrets, 0o640)
    o = with_secrets(orch, providers=("env", "file"), file=str(secrets))
    with pytest.raises(ConfigError, match=r"group/others \(mode 0640\).*chmod 600"):
        o.plan("local", "from-store")
    os.chmod(secrets, 0o604)
    with pytest.raises(ConfigError, match="mode 0604"):
        with_secrets(orch, providers=("file",), file=str(secrets)).plan("local", "from-store")


def test_a_secrets_file_not_there_names_the_secret_and_lets_no_later_provider_answer(
        orch: Orchestrator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """s9-newcomer #5: the example config run as written said only "secrets file … does not
    exist": not the secret, not the service, not the ORCH_SECRET_… that would answer it.
    review-s9 #5: it must still stop the run: a file put first is meant to win, and a value
    from a provider after it (the shell's, a prompt) would be used with nothing said."""
    missing = tmp_path / "secrets.yaml"
    with pytest.raises(ConfigError) as info:
        with_secrets(orch, providers=("env", "file"), file=str(missing)).plan("local",
                                                                              "from-store")
    said = str(info.value)
    assert said.startswith("service 'from-store' (") and said.endswith(
        f"environment.V: secret 'stored' is not available: the secrets file {missing} "
        f"(secrets.file in the config) does not exist (tried before it: env "
        f"ORCH_SECRET_STORED) (e.g. set ORCH_SECRET_STORED, or create the file)"), said
    # docs tester: what the providers before the file found was not said: the variable the
    # user set empty (a failed `$(pass show …)`), or set under a near name
    for variable, value, said in (
            ("ORCH_SECRET_STORED", "", "(set but empty)"),
            ("ORCH_SECRET_STORD", "x", "(it has 'ORCH_SECRET_STORD': did you mean that?)")):
        monkeypatch.setenv(variable, value)
        with pytest.raises(ConfigError) as info:
            with_secrets(orch, providers=("env", "file"), file=str(missing)).plan(
                "local", "from-store")
        assert f"does not exist (tried before it: env ORCH_SECRET_STORED {said})" in str(
            info.value)
        monkeypatch.delenv(variable)
    with pytest.raises(ConfigError) as info:  # the file first: nothing was tried before it
        with_secrets(orch, providers=("file",), file=str(missing)).plan("local", "from-store")
    assert "tried" not in str(info.value)
    monkeypatch.setenv("ORCH_SECRET_STORED", "from-env")
    first = with_secrets(orch, providers=("file", "env"), file=str(missing))
    with pytest.raises(ConfigError, match="the secrets file .* does not exist"):
        first.plan("local", "from-store")  # the file comes first: the shell's value is not used
    later = with_secrets(orch, providers=("env", "file"), file=str(missing))
    assert later.plan("local", "from-store").command.env["V"] == "from-env"  # env answers first


def secrets_file(tmp_path: Path, text: str, name: str = "secrets.yaml") -> Path:
    """A secrets file holding `text`, mode 600 (as the file provider asks)."""
    path = tmp_path / name
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


def test_an_empty_value_is_no_secret_the_next_provider_is_asked(
        orch: Orchestrator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`export ORCH_SECRET_X=$(pass show x)` with a failing `pass` ran the command with an
    empty password, silently, and the secrets file after it was never read."""
    monkeypatch.setenv("ORCH_SECRET_STORED", "")
    secrets = secrets_file(tmp_path, "stored: from-file-value\nblank: ''\n")
    o = with_secrets(orch, providers=("env", "file"), file=str(secrets))
    assert o.plan("local", "from-store").command.env["V"] == "from-file-value"
    with pytest.raises(ConfigError) as info:
        with_secrets(orch, providers=("env",)).plan("local", "from-store")
    assert "secret 'stored' is not available (tried: env ORCH_SECRET_STORED (set but empty)" \
        in str(info.value)
    with pytest.raises(ConfigError) as info:
        o.run("local", command="true", env={"P": "{{secret:blank}}"})
    assert f"file {secrets} (set but empty)" in str(info.value)


def test_an_entry_left_empty_in_the_file_is_no_secret_and_the_file_still_serves(
        orch: Orchestrator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """basics11: `db:` (YAML's null) failed the whole file ("secret 'db' must be a string"):
    the env provider after it was never asked, nor the file for its other secrets."""
    monkeypatch.setenv("ORCH_SECRET_STORED", "from-env-value")
    secrets = secrets_file(tmp_path, "stored:\nother: other-file-value\n")
    o = with_secrets(orch, providers=("file", "env"), file=str(secrets))
    assert o.plan("local", "from-store").command.env["V"] == "from-env-value"
    res = o.run("local", command="true", env={"P": "{{secret:other}}"})
    assert res.ok


def test_the_hints_of_a_missing_secret_name_only_providers_that_are_asked(
        orch: Orchestrator, tmp_path: Path) -> None:
    """basics11: "e.g. set ORCH_SECRET_STORED" was said with no env provider configured, and
    setting it changed nothing; a folder given as the file was first a `chmod 600` problem."""
    with pytest.raises(ConfigError) as info:
        with_secrets(orch, providers=("file",), file=str(tmp_path / "none.yaml")).plan(
            "local", "from-store")
    assert "ORCH_SECRET_" not in str(info.value) and "(create the file)" in str(info.value)
    # review20: nor when env comes after the missing file, which stops the lookup
    with pytest.raises(ConfigError) as info:
        with_secrets(orch, providers=("file", "env"), file=str(tmp_path / "none.yaml")).plan(
            "local", "from-store")
    assert "ORCH_SECRET_" not in str(info.value) and "(create the file)" in str(info.value)
    empty = secrets_file(tmp_path, "other: x-value\n", "empty.yaml")
    with pytest.raises(ConfigError) as info:
        with_secrets(orch, providers=("file",), file=str(empty)).plan("local", "from-store")
    assert str(info.value).endswith(f"(tried: file {empty}; add env to secrets.providers "
                                    f"to take it from ORCH_SECRET_STORED)"), info.value
    folder = tmp_path / "folder.yaml"
    folder.mkdir(mode=0o755)
    with pytest.raises(ConfigError, match="secrets file is a directory, not a file"):
        with_secrets(orch, providers=("file",), file=str(folder)).plan("local", "from-store")
    fifo = tmp_path / "fifo.yaml"  # config17: a pipe there hung the run for ever, /dev/null
    os.mkfifo(fifo, 0o600)  # was told `chmod 600 /dev/null`
    for special, kind in ((fifo, "a pipe"), (Path("/dev/null"), "a device")):
        with pytest.raises(ConfigError) as info:
            with_secrets(orch, providers=("file",), file=str(special)).plan("local", "from-store")
        assert str(info.value) == f"{special}: secrets file is {kind}, not a file"


def test_a_near_name_in_the_file_or_environment_is_suggested(
        orch: Orchestrator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("STORD: x-value\n")
    os.chmod(secrets, 0o600)
    monkeypatch.setenv("ORCH_SECRET_STORE", "y-value")
    with pytest.raises(ConfigError) as info:
        with_secrets(orch, providers=("env", "file"), file=str(secrets)).plan("local",
                                                                              "from-store")
    assert (f"(tried: env ORCH_SECRET_STORED (it has 'ORCH_SECRET_STORE': did you mean "
            f"that?), file {secrets} (it has 'STORD': did you mean that?)") in str(info.value)


def test_secrets_file_from_config_is_relative_to_it(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "vault.yaml").write_text("stored: relative-file-value\n")
    os.chmod(tmp_path / "vault.yaml", 0o600)
    cfg = tmp_path / "with-secrets.yaml"
    cfg.write_text(CONFIG + "secrets: {providers: [file], file: vault.yaml}\n")
    o = Orchestrator(load_config(cfg))
    assert o.plan("local", "from-store").command.env["V"] == "relative-file-value"


def test_prompt_provider_only_when_someone_can_answer(orch: Orchestrator) -> None:
    asked: list[str] = []

    def frontend(text: str) -> str:
        asked.append(text)
        return "typed-secret-value"

    o = with_secrets(orch, providers=("env", "prompt"))
    o._resolver_factory = lambda: Resolver.from_settings(  # a frontend that can prompt
        SecretsSettings(providers=("env", "prompt")), prompt=frontend)
    assert o.plan("local", "from-store").command.env["V"] == "typed-secret-value"
    assert asked == ["secret stored: "]
    # no terminal, no kernel (stdin is not a tty under pytest): no prompt, a clear error
    with pytest.raises(ConfigError, match="prompt \\(no frontend can prompt\\)"):
        with_secrets(orch, providers=("prompt",)).plan("local", "needs-missing")


PROMPTED = """\
environments:
  local: {layers: []}
secrets:
  providers: [prompt, {type: command, argv: [sh, -c, 'echo asked >> %s']}]
services:
  s: {command: 'echo "$PW"', environment: {PW: '{{secret:db_pw}}'}}
"""
API = """\
import sys
from orch_magics import OrchError, Orchestrator, load_config
try:
    Orchestrator(load_config(sys.argv[1])).run("local", "s")
except OrchError as exc:
    print("OrchError:", exc)
except KeyboardInterrupt:
    print("KeyboardInterrupt")
"""


def test_ctrl_c_at_a_secret_prompt_interrupts(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """cliapi finding #5: Ctrl-C at the prompt was "no answer": `config error: … is not
    available`, status 2 (130 everywhere else), a ConfigError from the API, and the providers
    after the prompt were asked still. Ctrl-D stays "no answer"."""
    asked, cfg = tmp_path / "asked", tmp_path / "orch.yaml"
    cfg.write_text(PROMPTED % asked)
    monkeypatch.delenv("ORCH_SECRET_DB_PW", raising=False)
    cli = [*ORCH, "-c", str(cfg), "run", "local", "s"]
    status, screen = on_terminal(cli, [(b"secret db_pw: ", b"\x03")])
    assert (status, screen) == (130, b"secret db_pw: orch: interrupted\r\n")
    status, screen = on_terminal([sys.executable, "-c", API, str(cfg)],
                                 [(b"secret db_pw: ", b"\x03")])
    assert (status, screen) == (0, b"secret db_pw: KeyboardInterrupt\r\n")
    assert not asked.exists()
    status, screen = on_terminal(cli, [(b"secret db_pw: ", b"\x04")])  # Ctrl-D: next provider
    assert status == 2 and b"secret 'db_pw' is not available" in screen
    assert asked.read_text() == "asked\n"


def test_a_dry_run_plan_asks_no_provider_and_cannot_run(orch: Orchestrator) -> None:
    """frontends finding #3: the plan `--dry-run` shows was resolved like a real one (a
    prompt asked, a password manager ran, a secret missing here refused the preview)."""
    asked: list[str] = []
    o = with_secrets(orch, providers=("env", "prompt"))
    o._resolver_factory = lambda: Resolver.from_settings(  # a frontend that can prompt
        SecretsSettings(providers=("env", "prompt")), prompt=lambda text: asked.append(text))
    plan = o.plan("local", "needs-missing", dry_run=True)
    assert asked == [] and plan.command.env["PASSWORD"] == "{{secret:db_password}}"
    assert "env:         PASSWORD={{secret:db_password}}" in plan.describe()
    with pytest.raises(ConfigError, match="a dry run's plan cannot run"):
        o.spawn("local", "needs-missing", plan=plan)


def test_unresolved_secret_fails_before_anything_runs(orch: Orchestrator, config_file: Path,
                                                      memory_keyring: MemoryKeyring,
                                                      tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(ConfigError) as info:
        orch.run("local", command=f"touch {marker}",
                 env={"P": "{{secret:db_password}}"})
    assert not marker.exists()
    with pytest.raises(ConfigError) as info:
        orch.run("local", "needs-missing")
    msg = str(info.value)
    assert "'needs-missing'" in msg and "environment.PASSWORD" in msg
    assert f"{config_file}:" in msg  # file and line of the service
    line = CONFIG.splitlines().index("  needs-missing:") + 1
    assert f"{config_file}:{line}" in msg
    assert "ORCH_SECRET_DB_PASSWORD" in msg and "keyring orch_magics/db_password" in msg


def test_layer_config_placeholders_resolve_through_the_chain(
        monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config_text(
        "environments:\n  vaulted:\n    layers:\n"
        "      - {type: local, config: {environment: {LAYER_TOKEN: '{{secret:layer_token}}'}}}\n")
    orch = Orchestrator(cfg)
    with pytest.raises(ConfigError, match=r"environment 'vaulted', layer env\(LAYER_TOKEN\).*"
                                          r"environment.LAYER_TOKEN: secret 'layer_token' is "
                                          r"not available"):
        orch.plan("vaulted", command="true")  # before anything runs
    monkeypatch.setenv("ORCH_SECRET_LAYER_TOKEN", "layer-secret-value-42")
    res = orch.run("vaulted", command='test "$LAYER_TOKEN" = layer-secret-value-42 && '
                                      'echo "$LAYER_TOKEN"')
    assert res.stdout == "****\n"
    assert "layer-secret-value-42" not in repr(orch.plan("vaulted", command="true"))


@pytest.mark.parametrize("backend", ["nosuch.Backend", "keyring.backends.SecretService.Keyring"])
def test_a_keyring_backend_that_cannot_start_counts_as_not_found(tmp_path: Path,
                                                                 backend: str) -> None:
    """safety14: a backend named in the environment (or keyringrc.cfg) that cannot be loaded,
    or SecretService with no D-Bus (an ssh session, cron, papermill), was an "internal error"
    (exit 70), and the provider after it, which had the value, was never asked."""
    (tmp_path / "orch.yaml").write_text(
        "environments: {local: []}\naudit: {enabled: false}\n"
        "secrets: {providers: [keyring, env]}\n"
        "services:\n  show: {command: 'echo \"v=$V\"', environment: {V: '{{secret:tok}}'}}\n")
    env = {k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    env.update(PYTHON_KEYRING_BACKEND=backend, ORCH_SECRET_TOK="fromenv12345")
    done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "run", "local", "show"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert (done.returncode, done.stdout) == (0, "v=****\n"), done.stderr
    del env["ORCH_SECRET_TOK"]  # nobody has it: the keyring's problem is said
    done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "run", "local", "show"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert done.returncode == 2 and "internal error" not in done.stderr, done.stderr
    assert "keyring orch_magics/tok (" in done.stderr, done.stderr


@pytest.mark.parametrize("command", ['echo "Bearer {{secret:tok}}"',
                                     ["curl", "-H", "Authorization: {{ env:TOKEN }}"]])
def test_a_placeholder_in_an_ad_hoc_command_is_refused_with_how_to_pass_it(
        orch: Orchestrator, command: str | list[str]) -> None:
    """safety15: `orch run ENV -- … {{secret:tok}}` sent the placeholder as literal text,
    where a service's command refuses it; a Go template (`{{.State}}`) is no placeholder."""
    with pytest.raises(ConfigError, match=r"would reach the command as literal text: .* "
                                          r"pass -e VAR='\{\{ ?(secret|env):"):
        orch.run("local", command=command)
    assert orch.run("local", command="echo '{{.State}}'").stdout == "{{.State}}\n"


class HangingKeyring(MemoryKeyring):
    """A backend whose lookups do not return: a locked Secret Service waiting for an unlock
    dialog nobody sees (a fault a real backend cannot be made to show here)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:
        self.release.wait(60)
        return None


def test_a_keyring_that_does_not_answer_is_passed_over_in_bounded_time(
        orch: Orchestrator, monkeypatch: pytest.MonkeyPatch) -> None:
    """safety16: the keyring, asked by default, had no time limit: a backend waiting to be
    unlocked hung every run for ever, with no word of why. After KEYRING_TIMEOUT it counts as
    not found (the next provider is asked) and the error names it."""
    from orch_magics.secrets import providers

    hanging, previous = HangingKeyring(), keyring.get_keyring()
    keyring.set_keyring(hanging)
    monkeypatch.setattr(providers, "KEYRING_TIMEOUT", 0.5)
    try:
        monkeypatch.setenv("ORCH_SECRET_STORED", "from-env")  # env first: no keyring asked
        assert orch.plan("local", "from-store").command.env["V"] == "from-env"
        monkeypatch.delenv("ORCH_SECRET_STORED")
        custom = with_secrets(orch, providers=("keyring", "env"))
        started = time.monotonic()
        with pytest.raises(ConfigError) as err:
            custom.plan("local", "from-store")
        assert time.monotonic() - started < 10
        assert "keyring orch_magics/stored (no answer within 0.5 s: a locked keyring waiting " \
               "to be unlocked?)" in str(err.value), err.value
    finally:
        hanging.release.set()
        keyring.set_keyring(previous)
