"""What a config found in the folder orch runs in reads is judged as that config is
(safety20): another user's inventory, group_vars, ssh_config, known_hosts, key or secrets
script beside a config of one's own in a shared folder decided where runs and their secrets
went, or ran as root. One named (-c, ORCH_CONFIG) is the person's choice, files and all.
And ~/.ssh/config is refused as OpenSSH refuses it. The tests run as root: any other user's
file will do."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

NOBODY = 65534
CONFIGS = {
    "inventory": ("inventory: [hosts.ini]\nenvironments:\n  web: {layers: [{type: ssh, "
                  "config: {host: 'group:web', connect_timeout: 2}}]}\n",
                  "hosts.ini", "inventory file"),
    "group_vars": ("inventory: [hosts.ini]\nenvironments:\n  web: {layers: [{type: ssh, "
                   "config: {host: 'group:web', connect_timeout: 2}}]}\n",
                   "group_vars/web.yml", "inventory vars file"),
    "ssh_config": ("environments:\n  web: {layers: [{type: ssh, config: {host: somehost, "
                   "ssh_config: sshcfg}}]}\n", "sshcfg", "ssh layer's ssh_config"),
    "known_hosts": ("environments:\n  web: {layers: [{type: ssh, config: {host: somehost, "
                    "known_hosts: kh}}]}\n", "kh", "ssh layer's known_hosts"),
    "provider": ("secrets: {providers: [{type: command, argv: [./getpw.sh, '{name}']}]}\n"
                 "environments: {web: {layers: []}}\n",
                 "getpw.sh", "a file the secrets provider `command` runs"),
    # review38: the form the docs show first, the script an argument of `sh`
    "provider_arg": ("secrets: {providers: [{type: command, argv: [sh, getpw.sh, '{name}']}]}\n"
                     "environments: {web: {layers: []}}\n",
                     "getpw.sh", "a file the secrets provider `command` runs"),
}


def _orch(folder: Path, *words: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ORCH_CONFIG"}
    return subprocess.run([sys.executable, "-m", "orch_magics.cli", *words],
                          capture_output=True, text=True, cwd=folder, env=env, timeout=60)


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_a_file_another_user_could_write_is_refused_when_a_found_config_reads_it(
        tmp_path: Path, case: str) -> None:
    config, name, what = CONFIGS[case]
    # (a folder others may add to is refused itself: the next tests)
    (tmp_path / "orch.yaml").write_text(config + "audit: {enabled: false}\n"
                                        "services: {hello: {command: 'echo I ran'}}\n")
    (tmp_path / "hosts.ini").write_text("[web]\nweb1 ansible_host=127.0.0.1\n")
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "web.yml").write_text("ansible_port: 1\n")
    (tmp_path / "sshcfg").write_text("Host *\n  Port 1\n")
    (tmp_path / "kh").write_text("")
    (tmp_path / "getpw.sh").write_text("#!/bin/sh\necho s3cret-value\n")
    (tmp_path / "getpw.sh").chmod(0o755)
    (tmp_path / name).chmod(0o666 if "provider" not in case else 0o777)  # anybody may write it
    said = _orch(tmp_path, "ls")
    assert said.returncode == 2, said
    assert said.stderr.startswith("orch: config error: "), said.stderr
    assert (f"{tmp_path / name}: {what} may be written by any user (mode 0"
            in said.stderr), said.stderr
    assert ("; refusing to use it, as the config found here reads it (name that config with "
            "-c, an absolute ORCH_CONFIG or %orch load to use it anyway)" in said.stderr), said
    (tmp_path / name).chmod(0o644 if "provider" not in case else 0o755)
    os.chown(tmp_path / name, NOBODY, NOBODY)
    said = _orch(tmp_path, "ls")
    assert (said.returncode, f"{what} belongs to user nobody" in said.stderr) == (2, True), said
    named = _orch(tmp_path, "-c", "orch.yaml", "ls")
    assert named.returncode == 0 and "web" in named.stdout, named
    os.chown(tmp_path / name, 0, 0)
    assert _orch(tmp_path, "ls").returncode == 0


def _nobodys(path: Path, text: str) -> None:
    """A file of user nobody's that anyone may write: what another user could have put."""
    path.write_text(text)
    os.chown(path, NOBODY, NOBODY)
    path.chmod(0o666)


def _with_home_ssh_config(tmp_path: Path, text: str, host: str
                          ) -> subprocess.CompletedProcess[str]:
    """`orch run` of a named config's ssh layer to `host`, with ~/.ssh/config holding
    `text` (HOME in `tmp_path`)."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(text)
    (home / ".ssh" / "config").chmod(0o600)
    (tmp_path / "o.yaml").write_text("environments:\n  w: {layers: [{type: ssh, config: "
                                     f"{{host: {host}, connect_timeout: 5}}}}]}}\n"
                                     "audit: {enabled: false}\n")
    env = {k: v for k, v in os.environ.items() if k != "ORCH_CONFIG"} | {"HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", "o.yaml", "run", "w",
                           "--", "true"], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=60)


PROVIDED = ("audit: {enabled: false}\nenvironments: {local: []}\n"
            "services: {web: {command: 'echo got $PW', environment: {PW: '{{secret:pw}}'}}}\n"
            "secrets: {providers: [{type: command, argv: %s}]}\n")


def test_a_found_configs_secrets_command_runs_in_no_folder_another_user_may_add_to(
        tmp_path: Path) -> None:
    """review39: the folder a found config's secrets command runs in is where `python3 -m
    getpw` (or `make`, `node .`) finds its code: in a shared folder, nobody's getpw.py ran as
    root, no file name in argv to judge."""
    (tmp_path / "orch.yaml").write_text(PROVIDED % "[python3, -m, getpw, '{name}']")
    (tmp_path / "getpw.py").write_text("import os\nopen('RAN', 'w').close()\nprint('pw-1234')\n")
    os.chown(tmp_path / "getpw.py", NOBODY, NOBODY)
    for mode, owner, why in ((0o1777, 0, "may be written by any user (mode 1777), who could "
                              "put a program in it for orch to run as you: chmod o-w it"),
                             (0o755, NOBODY, "belongs to user nobody, who could put a program "
                              "in it for orch to run as you: have it made yours")):
        tmp_path.chmod(mode)
        os.chown(tmp_path, owner, owner)
        said = _orch(tmp_path, "run", "local", "web")
        assert said.returncode == 2, said
        assert (f"orch: config error: {tmp_path}: the folder the secrets provider `command` "
                f"runs in {why}" in said.stderr), said.stderr
        assert not (tmp_path / "RAN").exists()
    os.chown(tmp_path, 0, 0)
    # review40/41: in a folder of root's, nobody's getpw.py still ran as root: a found config
    # whose folder holds another user's file is refused (what it runs reads what is beside it)
    said = _orch(tmp_path, "run", "local", "web")
    assert said.returncode == 2 and not (tmp_path / "RAN").exists(), said
    assert (f"{tmp_path / 'getpw.py'}: beside the config found here: it belongs to user "
            f"nobody" in said.stderr), said.stderr
    away = tmp_path.parent / f"{tmp_path.name}-away"  # moved away: the found config's command
    away.mkdir()  # runs in an empty folder, no module there
    (tmp_path / "getpw.py").rename(away / "getpw.py")
    said = _orch(tmp_path, "run", "local", "web")
    assert "No module named getpw; a found config's command runs in an empty folder: name " \
           "its files by path, or the config with -c" in said.stderr, said.stderr
    (away / "getpw.py").rename(tmp_path / "getpw.py")
    named = _orch(tmp_path, "-c", "orch.yaml", "run", "local", "web")  # your choice
    assert (named.returncode, named.stdout) == (0, "got ****\n"), named
    (tmp_path / "RAN").unlink()
    (tmp_path / "getpw.py").chmod(0o644)
    os.chown(tmp_path / "getpw.py", 0, 0)  # yours, named by path: found, it runs
    (tmp_path / "orch.yaml").write_text(PROVIDED % "[python3, getpw.py, '{name}']")
    said = _orch(tmp_path, "run", "local", "web")
    assert (said.returncode, said.stdout) == (0, "got ****\n"), said
    assert not (tmp_path / "RAN").exists()  # it ran in its empty folder, which is gone


def test_a_script_that_appears_after_the_load_is_judged_before_it_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """review39: a script missing when the config was found and loaded was never judged: a
    notebook loads once and fetches much later."""
    from orch_magics import ConfigError, Orchestrator, load_config

    monkeypatch.delenv("ORCH_CONFIG", raising=False)
    tmp_path.chmod(0o755)
    (tmp_path / "orch.yaml").write_text(PROVIDED % "[sh, getpw.sh, '{name}']")
    with Orchestrator(load_config(cwd=tmp_path)) as orch:
        (tmp_path / "getpw.sh").write_text("touch RAN; echo pw-1234\n")
        os.chown(tmp_path / "getpw.sh", NOBODY, NOBODY)
        with pytest.raises(ConfigError, match=r"getpw.sh: (beside the config found here: it|"
                                              r"a file the secrets provider `command` runs) "
                                              r"belongs to user nobody"):
            orch.run("local", "web")
        assert not (tmp_path / "RAN").exists()
        os.chown(tmp_path / "getpw.sh", 0, 0)
        assert orch.run("local", "web").stdout == "got ****\n"


def test_an_ssh_config_in_home_is_refused_as_openssh_refuses_it(tmp_path: Path) -> None:
    home = tmp_path.parent / f"{tmp_path.name}-home"  # not under the found config's folder
    (home / ".ssh").mkdir(parents=True)
    cfg = home / ".ssh" / "config"
    cfg.write_text("Host somehost\n  ProxyCommand sh -c 'touch ran; exit 1'\n")
    (tmp_path / "orch.yaml").write_text(
        "environments:\n  w: {layers: [{type: ssh, config: {host: somehost}}]}\n"
        "audit: {enabled: false}\n")
    env = {k: v for k, v in os.environ.items() if k != "ORCH_CONFIG"} | {"HOME": str(home)}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "orch_magics.cli", "run", "w", "--",
                               "true"], capture_output=True, text=True, cwd=tmp_path, env=env,
                              timeout=60)
    os.chown(cfg, NOBODY, NOBODY)
    said = run()
    assert said.returncode == 2, said
    assert (f"{cfg}: bad owner or permissions (owner nobody, mode 0644): ssh refuses it too"
            in said.stderr), said.stderr
    os.chown(cfg, 0, 0)
    cfg.chmod(0o664)
    assert "bad owner or permissions (owner root, mode 0664)" in run().stderr
    assert not (tmp_path / "ran").exists()
    cfg.chmod(0o600)
    said = run()  # its own: read, and its ProxyCommand is what fails
    assert "bad owner" not in said.stderr and said.returncode != 0, said


def test_a_relative_orch_config_is_judged_as_found(tmp_path: Path) -> None:
    """review38: `ORCH_CONFIG=orch.yaml` names a file in whatever folder orch runs in: one of
    nobody's there ran as root, where `./orch.yaml` found is refused."""
    (tmp_path / "orch.yaml").write_text("environments: {local: []}\naudit: {enabled: false}\n")
    os.chown(tmp_path / "orch.yaml", NOBODY, NOBODY)
    env = {**os.environ, "ORCH_CONFIG": "orch.yaml"}
    said = subprocess.run([sys.executable, "-m", "orch_magics.cli", "ls"], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=60)
    assert said.returncode == 2 and "config file belongs to user nobody" in said.stderr, said
    env["ORCH_CONFIG"] = f"{tmp_path / 'base.yaml'}{os.pathsep}orch.yaml"  # review39: one
    (tmp_path / "base.yaml").write_text("audit: {enabled: false}\n")  # relative in a list too
    said = subprocess.run([sys.executable, "-m", "orch_magics.cli", "ls"], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=60)
    assert said.returncode == 2 and "config file belongs to user nobody" in said.stderr, said
    env["ORCH_CONFIG"] = str(tmp_path / "orch.yaml")  # an absolute one names it: your choice
    said = subprocess.run([sys.executable, "-m", "orch_magics.cli", "ls"], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=60)
    assert said.returncode == 0, said


def test_what_an_ssh_config_includes_is_judged_as_it_is(tmp_path: Path) -> None:
    """safety21: only the top ssh_config was judged; an `Include` of nobody's file (mode
    0666) ran its ProxyCommand as root, through ~/.ssh/config (OpenSSH: "Bad owner or
    permissions") and through a found config's own ssh_config; a UserKnownHostsFile that
    ssh_config named was trusted unjudged, where the layer's `known_hosts:` is refused."""
    inc = tmp_path / "inc.conf"
    _nobodys(inc, f"Host *\n  ProxyCommand sh -c 'touch {tmp_path}/ran; exit 1'\n")
    said = _with_home_ssh_config(tmp_path, f"Include {inc}\n", "somehost")
    assert said.returncode == 2 and (f"{inc}: bad owner or permissions (owner nobody, mode "
                                     f"0666)" in said.stderr), said
    shared = tmp_path / "shared"  # a found config, its ssh_config root's
    shared.mkdir()
    (shared / "orch.yaml").write_text("environments:\n  w: {layers: [{type: ssh, config: "
                                      "{host: somehost, ssh_config: sshcfg, "
                                      "connect_timeout: 5}}]}\naudit: {enabled: false}\n")
    (tmp_path / "elsewhere").mkdir()  # not beside the config: that is judged as a whole
    kh = tmp_path / "elsewhere" / "kh"
    kh.write_text("")
    os.chown(kh, NOBODY, NOBODY)
    for text, file, what in ((f"Include {inc}\n", inc, "ssh_config of hop 1 (ssh somehost)"),
                             (f"Host *\n  UserKnownHostsFile {kh}\n", kh,
                              "file the ssh_config of hop 1 (ssh somehost) names")):
        (shared / "sshcfg").write_text(text)
        said = _orch(shared, "run", "w", "--", "true")
        assert said.returncode == 2 and f"{file}: {what} " in said.stderr, said
        assert "belongs to user nobody" in said.stderr or "any user" in said.stderr, said
    assert not (tmp_path / "ran").exists()


def test_a_proxyjump_hosts_ssh_config_is_judged_as_the_hops_own(tmp_path: Path) -> None:
    """review40: asyncssh opened a ProxyJump host itself, reading the ssh_config for it on its
    own: an `Include` in that host's block (nobody's, mode 0666) was never judged, and its
    ProxyCommand ran as root. orch opens the jump, judging what it reads for it."""
    inc = tmp_path / "inc.conf"
    _nobodys(inc, f"ProxyCommand sh -c 'touch {tmp_path}/ran; exit 1'\n")
    said = _with_home_ssh_config(tmp_path, "Host target\n  HostName 127.0.0.1\n  ProxyJump "
                                           f"jumpx\nHost jumpx\n  Include {inc}\n", "target")
    assert said.returncode == 2 and (f"{inc}: bad owner or permissions (owner nobody, mode "
                                     f"0666)" in said.stderr), said
    assert "ssh_config of the ProxyJump jumpx of hop 1 (ssh target)" in said.stderr, said
    assert not (tmp_path / "ran").exists()


def test_an_include_is_judged_however_the_ssh_config_was_named(tmp_path: Path) -> None:
    """review40: OpenSSH checks every file an ssh_config includes, whichever way the top one
    was given; `ssh_config: ~/.ssh/config` written in a named config took another user's
    0666 Include that the default path refuses, and ran its ProxyCommand."""
    inc = tmp_path / "inc.conf"
    _nobodys(inc, f"Host *\n  ProxyCommand sh -c 'touch {tmp_path}/ran; exit 1'\n")
    (tmp_path / "sshcfg").write_text(f"Include {inc}\n")
    (tmp_path / "o.yaml").write_text("environments:\n  w: {layers: [{type: ssh, config: "
                                     f"{{host: somehost, ssh_config: {tmp_path / 'sshcfg'}, "
                                     "connect_timeout: 5}}]}\naudit: {enabled: false}\n")
    env = {k: v for k, v in os.environ.items() if k != "ORCH_CONFIG"}
    said = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", "o.yaml", "run", "w",
                           "--", "true"], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=60)
    assert said.returncode == 2 and (f"{inc}: bad owner or permissions (owner nobody, mode "
                                     f"0666)" in said.stderr), said
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("case", ["import", "import-sub", "proxycommand", "match-exec"])
def test_another_users_file_beside_what_a_found_config_runs_is_refused(
        tmp_path: Path, case: str) -> None:
    """review41, safety23: a found config in a folder of root's ran nobody's code as root
    through what lies beside what it names: Python imports `helper.py` from the folder of
    `getpw.py` (the empty working folder did not help), and an ssh_config's `ProxyCommand sh
    proxy.sh` or `Match exec "sh check.sh"` ran nobody's script in the config's folder."""
    tmp_path.chmod(0o755)
    mark = tmp_path.parent / f"ran-{case}"
    mark.unlink(missing_ok=True)
    script = f"import os\nopen({str(mark)!r}, 'w').write(str(os.getuid()))\n"
    sub = tmp_path / "sub" if case == "import-sub" else tmp_path
    sub.mkdir(exist_ok=True)
    if case.startswith("import"):
        (sub / "getpw.py").write_text("import helper\nprint('pw-1234')\n")
        (sub / "helper.py").write_text(script)
        os.chown(sub / "helper.py", NOBODY, NOBODY)
        word = "sub/getpw.py" if case == "import-sub" else "getpw.py"
        (tmp_path / "orch.yaml").write_text(PROVIDED % f"[python3, {word}, '{{name}}']")
        bad = sub / "helper.py"
    else:
        (tmp_path / "check.py").write_text(script)
        os.chown(tmp_path / "check.py", NOBODY, NOBODY)
        line = ("Match exec \"python3 check.py\"\n  Port 2\nHost nowhere\n  HostName 127.0.0.1\n"
                if case == "match-exec" else
                "Host nowhere\n  HostName 127.0.0.1\n  ProxyCommand python3 check.py %h %p\n")
        (tmp_path / "sshcfg").write_text(line)
        (tmp_path / "orch.yaml").write_text(
            "audit: {enabled: false}\nenvironments:\n  local: [{type: ssh, config: {host: "
            "nowhere, ssh_config: sshcfg, connect_timeout: 5}}]\nservices: {web: {command: "
            "'true'}}\n")
        bad = tmp_path / "check.py"
    said = _orch(tmp_path, "run", "local", "web")
    assert said.returncode == 2 and f"{bad}: beside the config found here: it belongs to " \
        f"user nobody" in said.stderr, said
    assert not mark.exists()


def test_an_ssh_config_match_exec_gets_no_secret_variable(tmp_path: Path) -> None:
    """safety23: asyncssh runs `Match exec` with this process's whole environment: the
    secret provider's ORCH_SECRET_* variables reached it, where no child of orch gets them."""
    seen = tmp_path / "seen"
    (tmp_path / "sshcfg").write_text(f"Match exec \"env > {seen}\"\n  Port 2\n"
                                     "Host nowhere\n  HostName 127.0.0.1\n")
    (tmp_path / "o.yaml").write_text("audit: {enabled: false}\nenvironments:\n  w: [{type: ssh, "
                                     f"config: {{host: nowhere, ssh_config: {tmp_path / 'sshcfg'}"
                                     ", connect_timeout: 5}}]\n")
    env = {**os.environ, "ORCH_SECRET_SENTINEL": "never-shown-7Qx"}
    said = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", "o.yaml", "run", "w",
                           "--", "true"], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=60)
    assert said.returncode != 0 and seen.exists(), said  # it ran, and could not connect
    assert "PATH=" in seen.read_text() and "ORCH_SECRET_" not in seen.read_text()


def test_a_slow_match_exec_holds_no_other_run_and_ends_with_the_runs_timeout(
        tmp_path: Path) -> None:
    """review42: `Match exec` ran on the event loop with no bound: `--timeout 3` took 31 s
    (asyncssh ran it a second time as it connected), Ctrl-C waited for it, and every other
    run of the process froze. It runs once per connect now, beside the loop, and ends with
    what gave up on it."""
    from orch_magics import Orchestrator, load_config_text

    class Times:
        def __init__(self) -> None:
            self.at: list[float] = []

        def feed(self, event: object) -> None:
            self.at.append(time.monotonic())

        def close(self) -> None:
            pass

    count = tmp_path / "count"
    (tmp_path / "sshcfg").write_text(f"Match exec \"echo >> {count}; sleep 307\"\n  Port 2\n"
                                     "Host nowhere\n  HostName 127.0.0.1\n")
    ticks = Times()
    with Orchestrator(load_config_text(
            "audit: {enabled: false}\nenvironments:\n  local: []\n  w: [{type: ssh, config: "
            f"{{host: nowhere, ssh_config: {tmp_path / 'sshcfg'}, connect_timeout: 30}}}}]\n")) as orch:
        ticker = threading.Thread(target=orch.run, args=("local",), kwargs={
            "command": "for i in $(seq 40); do echo $i; sleep 0.1; done", "sinks": [ticks]})
        ticker.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        res = orch.run("w", command="true", timeout=2)
        took = time.monotonic() - t0
        ticker.join(30)
    assert res.timed_out and took < 6, (took, res)
    assert max(b - a for a, b in itertools.pairwise(ticks.at)) < 1.5  # the other run's lines
    time.sleep(0.5)
    assert subprocess.run(["pgrep", "-f", "sleep 307"], capture_output=True).stdout == b""
    assert count.read_text() == "\n"  # once


def _refused(folder: Path, file: Path, why: str) -> None:
    """`orch ls` in `folder` refuses its found config, naming `file` and `why`."""
    said = _orch(folder, "ls")
    assert said.returncode == 2 and f"orch: config error: {file}: " in said.stderr, said
    assert why in said.stderr, said.stderr


def test_what_lies_under_or_behind_a_link_beside_a_found_config_is_judged(
        tmp_path: Path) -> None:
    """review42, safety24: the folder check looked at the config folder's own entries only:
    nobody's `lib/helper.py`, imported by a secrets script, and nobody's file reached through
    a link of root's beside it, ran as root; a config in a folder anyone may add to, or one a
    group root is not in may rewrite, was taken. A socket or a pipe, which hold no code, no
    longer refuse the config."""
    here = tmp_path / "project"
    (here / "lib").mkdir(parents=True)
    (here / "orch.yaml").write_text("audit: {enabled: false}\nenvironments: {local: []}\n")
    assert _orch(here, "ls").returncode == 0
    with socket.socket(socket.AF_UNIX) as sock:  # a dev server's socket made under umask 0
        sock.bind(str(here / "app.sock"))
        (here / "app.sock").chmod(0o777)
        os.mkfifo(here / "fifo", 0o666)
        os.chmod(here / "fifo", 0o666)
        assert _orch(here, "ls").returncode == 0, _orch(here, "ls")
    helper = here / "lib" / "helper.py"
    helper.write_text("x = 1\n")
    os.chown(helper, NOBODY, NOBODY)
    _refused(here, helper, "beside the config found here: it belongs to user nobody")
    helper.unlink()
    theirs = tmp_path / "theirs.py"
    theirs.write_text("x = 1\n")
    os.chown(theirs, NOBODY, NOBODY)
    (here / "lib" / "helper.py").symlink_to(theirs)  # root's link, to nobody's file
    _refused(here, helper, "beside the config found here: it belongs to user nobody")
    helper.unlink()
    shared = tmp_path / "shared"  # review43: a link of root's to a folder holding nobody's
    shared.mkdir()
    (shared / "helper.py").write_text("x = 1\n")
    os.chown(shared / "helper.py", NOBODY, NOBODY)
    (here / "lib" / "shared").symlink_to(shared)
    _refused(here, here / "lib" / "shared" / "helper.py", "belongs to user nobody")
    (here / "lib" / "shared").unlink()
    big = here / "aa_node_modules"  # review43: a big tree sorted first took the whole budget
    big.mkdir()
    for i in range(20_001):
        (big / f"m{i}").touch()
    helper.write_text("x = 1\n")
    os.chown(helper, NOBODY, NOBODY)
    _refused(here, helper, "beside the config found here: it belongs to user nobody")
    helper.unlink()
    os.chown(here / "orch.yaml", 0, NOBODY)  # group nogroup, which root is not in
    (here / "orch.yaml").chmod(0o664)
    _refused(here, here / "orch.yaml", "may be written by group nogroup, which you are not in")
    (here / "orch.yaml").chmod(0o644)
    here.chmod(0o1777)  # anyone may add a file beside it, sticky bit or not
    _refused(here, here, "the folder of the config found here may be written by any user")
    here.chmod(0o755)
    assert _orch(here, "ls").returncode == 0


def test_a_file_put_beside_a_loaded_found_config_is_judged_before_the_next_run(
        tmp_path: Path) -> None:
    """safety24, magics24: the folder was judged at the load only; a kernel keeps its config,
    so nobody's `proxy.sh` added beside it afterwards ran as root at the next connect."""
    from orch_magics import ConfigError, Orchestrator, load_config

    (tmp_path / "orch.yaml").write_text("audit: {enabled: false}\nenvironments: {local: []}\n")
    with Orchestrator(load_config(cwd=tmp_path)) as orch:
        assert orch.run("local", command="echo ok").stdout == "ok\n"
        _nobodys(tmp_path / "proxy.sh", "echo theirs\n")
        with pytest.raises(ConfigError, match="proxy.sh: beside the config found here: it "
                                              "belongs to user nobody"):
            orch.run("local", command="echo ok")


@pytest.mark.parametrize("key", ["identity_file", "known_hosts"])
def test_a_found_configs_key_files_are_judged_as_resolved(tmp_path: Path, key: str) -> None:
    """safety24: a found config's known_hosts or identity_file written with a placeholder
    (or given by an inventory) escaped the judgement of what such a config reads: another
    user's known_hosts chose which host key was trusted."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    theirs = elsewhere / key
    theirs.write_text("")
    os.chown(theirs, NOBODY, NOBODY)
    here = tmp_path / "project"
    here.mkdir()
    (here / "orch.yaml").write_text(
        "audit: {enabled: false}\nenvironments:\n  r: [{type: ssh, config: {host: 127.0.0.1, "
        f"port: 1, connect_timeout: 3, {key}: '{{{{env:ORCH_T_FILE:-{theirs}}}}}'}}}}]\n")
    said = _orch(here, "run", "r", "--", "true")
    assert said.returncode == 2, said
    assert f"{theirs}: ssh layer's {key} belongs to user nobody" in said.stderr, said.stderr
