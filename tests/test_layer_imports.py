"""The import graph: kinds load without their SDK, no cycles, no secrets, and a single
run from the CLI loads neither an SDK it does not use nor the fleet machinery.

Each check runs in a fresh interpreter (`python -c`), so modules imported by other tests of
this session cannot hide an import.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import pytest

from orch_magics.layers.registry import OWN, kind_names
from processes import left_after, processes_with

REPO = Path(__file__).resolve().parent.parent
LAYERS = REPO / "orch_magics" / "layers"
SDKS = ("asyncssh", "docker", "requests")

CONFIG = """\
environments:
  prod:
    layers:
      - {type: ssh, config: {host: bastion, port: 2222, password: "{{secret:pw}}"}}
      - {type: ssh, config: {host: app}}
      - {type: docker, config: {container: web, docker_host: "unix:///run/docker.sock"}}
      - {type: local, config: {environment: {A: "1"}}}
services:
  hi: {command: echo hi}
"""


def fresh(code: str, *path: Path) -> object:
    """Run `code` in a new interpreter of this checkout (and `path` on sys.path after it);
    it prints one JSON value."""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=120, env={"PYTHONPATH": os.pathsep.join(
                             map(str, (REPO, *path))), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_loading_a_config_with_ssh_and_docker_layers_imports_no_sdk(tmp_path: Path) -> None:
    path = tmp_path / "orch.yaml"
    path.write_text(CONFIG)
    loaded = fresh(
        "import json, sys\n"
        "from orch_magics.config.loader import load_config\n"
        f"cfg = load_config({str(path)!r})\n"
        "from orch_magics.executor import LayeredExecutor\n"
        "assert [s.type for s in cfg.environments['prod'].layers] == "
        "['ssh', 'ssh', 'docker', 'local']\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {SDKS!r})))\n")
    assert loaded == []


def test_a_local_run_from_the_cli_loads_no_sdk_and_no_fleet_runner(tmp_path: Path) -> None:
    """Start-up time is what `orch run local -- true` costs (issue 15): the fleet's runner,
    result and targets and the ssh/docker SDKs are loaded when a run needs them."""
    path = tmp_path / "orch.yaml"
    path.write_text(CONFIG.replace("environments:\n", "environments:\n  local: []\n")
                    + f"audit: {{path: {tmp_path / 'a.jsonl'}}}\n")
    loaded = fresh(
        "import json, sys\n"
        "from orch_magics.cli.app import main\n"
        f"assert main(['-c', {str(path)!r}, 'run', 'local', '--', 'true']) == 0\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{SDKS!r} or m.startswith(('orch_magics.fleet.', 'orch_magics.transfer.')))))\n")
    assert loaded == ["orch_magics.fleet.options"]


def test_every_kind_and_its_config_import_without_the_sdk() -> None:
    names = kind_names()
    assert {"local", "ssh", "docker"} <= set(names)
    loaded = fresh(
        "import json, sys\n"
        "from orch_magics.layers.registry import get_kind, kind_names\n"
        "configs = [get_kind(n).Config.__name__ for n in kind_names()]\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {SDKS!r})))\n")
    assert loaded == []


def test_our_kinds_are_the_entry_points_the_installed_package_declares() -> None:
    declared = distribution("orch_magics").entry_points.select(group="orch_magics.layers")
    assert OWN == {ep.name: ep.value for ep in declared}


def test_a_config_of_our_kinds_loads_without_reading_package_metadata(tmp_path: Path) -> None:
    path = tmp_path / "orch.yaml"
    path.write_text(CONFIG)
    assert fresh("import json, sys\n"
                 "from orch_magics.config.loader import load_config\n"
                 f"load_config({str(path)!r})\n"
                 "print(json.dumps('importlib.metadata' in sys.modules))\n") is False


def test_a_third_party_kind_is_found_through_its_entry_point(tmp_path: Path) -> None:
    """An installed distribution (a real dist-info on sys.path) adds a kind without editing
    orch_magics; a misspelling of it gets did-you-mean like ours."""
    site = tmp_path / "site"
    (site / "extkind-1.0.dist-info").mkdir(parents=True)
    (site / "extkind-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: extkind\nVersion: 1.0\n")
    (site / "extkind-1.0.dist-info" / "entry_points.txt").write_text(
        "[orch_magics.layers]\nmyhost = extkind:KIND\n")
    (site / "extkind.py").write_text("from orch_magics.layers.local import LocalKind\n"
                                     "KIND = LocalKind()\n")
    got = fresh(
        "import json\n"
        "from orch_magics.config.loader import load_config_text\n"
        "from orch_magics.errors import ConfigError\n"
        "from orch_magics.layers.registry import kind_names\n"
        "cfg = load_config_text('environments:\\n  e: {layers: [{type: myhost}]}\\n')\n"
        "try:\n"
        "    load_config_text('environments:\\n  e: {layers: [{type: myhots}]}\\n')\n"
        "except ConfigError as exc:\n"
        "    error = str(exc)\n"
        "print(json.dumps([cfg.environments['e'].layers[0].label, 'myhost' in kind_names(),"
        " error]))\n", site)
    assert isinstance(got, list)
    label, listed, error = got
    assert listed is True and label
    assert "myhots" in error and "myhost" in error


def installed(tmp_path: Path, dist: str, entry_points: str, **modules: str) -> Path:
    """A site folder holding distribution `dist` 1.0 (its layer kinds' `entry_points` lines)
    and `modules` (name → source), as pip would install it."""
    site = tmp_path / "site"
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[orch_magics.layers]\n{entry_points}\n")
    for name, source in modules.items():
        (site / f"{name}.py").write_text(source)
    return site


ENV_KIND = """\
import dataclasses
from orch_magics.layers.base import Launcher
from orch_magics.layers.remote import prefixed

@dataclasses.dataclass(frozen=True)
class EnvConfig:
    args: tuple[str, ...] = ()

class EnvLauncher(Launcher):
    def __init__(self, config, inner, label):
        self.adopt(inner, label)
        self.config = config
    async def launch(self, command):
        return await self.inner.launch(prefixed(command, "env", *self.config.args))

class EnvKind:
    Config = EnvConfig
    def label(self, config):
        return "env"
    def wrap(self, config, inner, label):
        return EnvLauncher(config, inner, label)

KIND = EnvKind()
"""


def test_placeholders_in_a_plugin_kind_s_list_field_are_filled_in(tmp_path: Path) -> None:
    """kinds16: in a `tuple[str, ...]` field of a plugin's Config, `{{secret:…}}` and
    `{{env:…}}` were checked at load but reached the plugin as written, and a secret no
    provider knows ran anyway."""
    site = installed(tmp_path, "envkind", "withenv = envkind:KIND", envkind=ENV_KIND)
    (tmp_path / "orch.yaml").write_text(
        "environments:\n  e: [{type: withenv, config: {args: ['A={{secret:k16a}}', "
        "'B={{env:K16B}}', 'C=plain']}}]\n  f: [{type: withenv, config: {args: "
        "['A={{secret:nosuch}}']}}]\naudit: {enabled: false}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, (REPO, site))),
           "ORCH_SECRET_K16A": "sekrit-value-123", "K16B": "bee"}

    def orch(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "orch_magics.cli", *args],
                              capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)

    shown = orch("run", "e", "--", "sh", "-c", 'echo "$A|$B|$C|${#A}"')
    assert (shown.returncode, shown.stdout) == (0, "****|bee|plain|16\n"), shown
    missing = orch("run", "f", "--", "true")
    assert missing.returncode == 2 and "nosuch" in missing.stderr, missing


LATE_KINDS = """\
import asyncio
from envkind import EnvKind, EnvLauncher

class SlowLauncher(EnvLauncher):
    async def launch(self, command):
        handle = await super().launch(command)
        await asyncio.sleep(30)  # waits for something after starting the command
        return handle

class LeakLauncher(EnvLauncher):
    async def launch(self, command):
        await super().launch(command)
        raise RuntimeError("the plugin failed after starting the command")

class Slow(EnvKind):
    def wrap(self, config, inner, label):
        return SlowLauncher(config, inner, label)

class Leak(EnvKind):
    def wrap(self, config, inner, label):
        return LeakLauncher(config, inner, label)

SLOW, LEAK = Slow(), Leak()
"""


def test_a_plugin_launch_given_up_after_its_command_started_leaves_no_process(
        tmp_path: Path) -> None:
    """kinds16: a plugin's launch() that still awaited after its inner launch started the
    command (a timeout came), or raised then, left the command running after orch exited."""
    site = installed(tmp_path, "latekinds", "slow = latekinds:SLOW\nleak = latekinds:LEAK",
                     envkind=ENV_KIND, latekinds=LATE_KINDS)
    (tmp_path / "orch.yaml").write_text("environments:\n  slow: [{type: slow}]\n"
                                        "  leak: [{type: leak}]\naudit: {enabled: false}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, (REPO, site)))}
    for words, status in ((["--timeout", "1", "slow"], 124), (["leak"], 1)):
        token = f"73{len(words)}1.5"  # in the shell's argv and its sleep's
        ran = subprocess.run([sys.executable, "-m", "orch_magics.cli", "run", *words, "--",
                              "sh", "-c", f"sleep {token}; echo after"], capture_output=True,
                             text=True, cwd=tmp_path, env=env, timeout=120)
        assert ran.returncode == status and "bug in orch_magics" not in ran.stderr, ran
        assert "is closed" not in ran.stderr, ran.stderr  # asyncio's words on a lost child
        assert not left_after(functools.partial(processes_with, token)), ran


BROKEN_KINDS = """\
import dataclasses, datetime
from orch_magics.layers.local import LocalKind

class NotDataclass(LocalKind):
    Config = object

@dataclasses.dataclass(frozen=True)
class WhenConfig:
    at: datetime.datetime | None = None

class When(LocalKind):
    Config = WhenConfig

class LabelBoom(LocalKind):
    def label(self, config):
        raise ValueError("boom in label")

class LabelInt(LocalKind):
    def label(self, config):
        return 5

class WrapBoom(LocalKind):
    def wrap(self, config, inner, label):
        raise RuntimeError("boom in wrap")

class BadNeeds(LocalKind):
    def needs(self, config):
        return "ssh"

class BadCarries(LocalKind):
    carries = 5

class BadTarget(LocalKind):
    target = "nope"

class BoomLauncher:
    def __init__(self, inner):
        self.inner = inner
    def __getattr__(self, name):
        return getattr(self.inner, name)
    async def launch(self, command):
        raise KeyError("boom in launch")

class LaunchBoom(LocalKind):
    def wrap(self, config, inner, label):
        return BoomLauncher(inner)

class Handed:  # one launcher handed out to every chain
    launcher = None

class HandedOut(LocalKind):
    def wrap(self, config, inner, label):
        Handed.launcher = Handed.launcher or BoomLauncher(inner)
        return Handed.launcher

class WrapNone(LocalKind):  # kinds13: each of these three was an orch "internal error"
    def wrap(self, config, inner, label):
        return None

from orch_magics.layers.base import Launcher

class NoAdoptLauncher(Launcher):
    def __init__(self, inner):
        self.inner = inner  # adopt(inner, label) left out
    async def launch(self, command):
        return await self.inner.launch(command)

class NoAdopt(LocalKind):
    def wrap(self, config, inner, label):
        return NoAdoptLauncher(inner)

class StrLauncher(BoomLauncher):
    async def launch(self, command):
        return "a handle"

class BadHandle(LocalKind):
    def wrap(self, config, inner, label):
        return StrLauncher(inner)

class ReadBoomBackend:  # its output breaks after a line; the process then exits 0
    pid = None
    async def _out(self):
        yield b"hi\\n"
        raise RuntimeError("read exploded")
    def stdout(self):
        return self._out()
    def stderr(self):
        return None
    async def write(self, data):
        pass
    async def write_eof(self):
        pass
    def stdin_gone(self):
        return True
    async def wait(self):
        from orch_magics.process.events import Exit
        return Exit(code=0)
    async def signal(self, sig):
        pass
    async def close(self):
        pass
    async def cut_if_silent(self):
        return False

class ReadBoomLauncher(BoomLauncher):
    async def launch(self, command):
        from orch_magics.process.handle import ProcessHandle
        return ProcessHandle(ReadBoomBackend(), command)

class ReadBoom(LocalKind):
    def wrap(self, config, inner, label):
        return ReadBoomLauncher(inner)

NOTDC, WHEN, LABELBOOM, WRAPBOOM, BADNEEDS = (NotDataclass(), When(), LabelBoom(), WrapBoom(),
                                              BadNeeds())
LAUNCHBOOM, HANDED = LaunchBoom(), HandedOut()
WRAPNONE, NOADOPT, BADHANDLE, READBOOM = WrapNone(), NoAdopt(), BadHandle(), ReadBoom()
LABELINT, BADCARRIES, BADTARGET = LabelInt(), BadCarries(), BadTarget()
"""


def test_a_broken_third_party_kind_is_named_and_breaks_only_what_uses_it(
        tmp_path: Path) -> None:
    """layers7: one broken plugin, installed and unused, made `orch check` of a config of our
    kinds and `orch schema` an "internal error … a bug in orch_magics"; used, it was one too,
    naming neither the kind nor its plugin."""
    site = tmp_path / "site"
    (site / "badkinds-0.1.dist-info").mkdir(parents=True)
    (site / "badkinds-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: badkinds\nVersion: 0.1\n")
    (site / "badkinds-0.1.dist-info" / "entry_points.txt").write_text(
        "[orch_magics.layers]\nbrokenimport = badkinds_missing:KIND\nnotdc = badkinds:NOTDC\n"
        "when = badkinds:WHEN\nlabelboom = badkinds:LABELBOOM\nwrapboom = badkinds:WRAPBOOM\n"
        "badneeds = badkinds:BADNEEDS\nlaunchboom = badkinds:LAUNCHBOOM\n"
        "docker = badkinds:WRAPBOOM\nhanded = badkinds:HANDED\n"  # kinds12: a plugin
        "giveup = badkinds_exit:KIND\nwrapnone = badkinds:WRAPNONE\n"
        "noadopt = badkinds:NOADOPT\nbadhandle = badkinds:BADHANDLE\n"
        "readboom = badkinds:READBOOM\nlabelint = badkinds:LABELINT\n"
        "badcarries = badkinds:BADCARRIES\n"  # named as one of ours; one handing its launcher
        "badtarget = badkinds:BADTARGET\n")
    # out again; one giving up at import with SystemExit (kinds13: it ended orch)
    (site / "badkinds.py").write_text(BROKEN_KINDS)
    (site / "badkinds_exit.py").write_text("raise SystemExit('kubectl not found, giving up')\n")
    (site / "otherkinds-0.2.dist-info").mkdir()  # kinds13: two packages, one kind name
    (site / "otherkinds-0.2.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: otherkinds\nVersion: 0.2\n")
    (site / "otherkinds-0.2.dist-info" / "entry_points.txt").write_text(
        "[orch_magics.layers]\ntwice = badkinds:WHEN\n")
    (site / "badkinds-0.1.dist-info" / "entry_points.txt").write_text(
        (site / "badkinds-0.1.dist-info" / "entry_points.txt").read_text()
        + "twice = badkinds:LABELBOOM\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, (REPO, site)))}

    def orch(config: str, *args: str) -> subprocess.CompletedProcess[str]:
        (tmp_path / "orch.yaml").write_text(config)
        return subprocess.run([sys.executable, "-m", "orch_magics.cli", *args],
                              capture_output=True, text=True, cwd=tmp_path, env=env,
                              timeout=120)

    ours = orch("environments:\n  e:\n    layers:\n      - docker app\n      - docker b\n",
                "check")
    assert ours.returncode == 2 and "docker b cannot follow docker app" in ours.stderr, ours
    fine = orch("environments:\n  e: {layers: []}\n", "check")
    assert fine.returncode == 0 and fine.stdout.startswith("ok: "), fine
    docker, twice = sorted(fine.stderr.splitlines(), key=lambda note: "'twice'" in note)
    assert docker == ("orch: note: the installed layer kind 'docker' (badkinds:WRAPBOOM "
                      "from badkinds 0.1) is not used: orch's own kind has that name "
                      "(publish it under another one)"), fine.stderr
    assert re.fullmatch(r"orch: note: the installed layer kind 'twice' \(badkinds:\w+ from "
                        r"(bad|other)kinds 0\.[12]\) is not used: 'twice' \(badkinds:\w+ "
                        r"from (bad|other)kinds 0\.[12]\) has that name too, and is the one "
                        r"used \(uninstall one, or publish it under another name\)", twice), twice
    schema = orch("", "schema")
    assert schema.returncode == 0 and '"const": "docker"' in schema.stdout, schema.stderr
    assert '"const": "when"' not in schema.stdout
    for kind, said in [
        ("brokenimport", "layer kind 'brokenimport' (badkinds_missing:KIND from badkinds 0.1) "
                         "cannot be loaded: ModuleNotFoundError: No module named "
                         "'badkinds_missing'"),
        ("notdc", "layer kind 'notdc' (badkinds:NOTDC from badkinds 0.1) cannot be loaded: "
                  "TypeError: it is no layer kind: it needs a dataclass `Config`"),
        ("when", "layer kind 'when' (badkinds:WHEN from badkinds 0.1) failed on this layer: "
                 "TypeError: unsupported config type"),
        ("labelboom", "failed on this layer: ValueError: boom in label"),
        # kinds14: a label that is no string broke every front end ("a bug in orch_magics")
        ("labelint", "failed on this layer: TypeError: its label() gave int 5, not a string"),
        ("badneeds", "failed in needs(): ValueError: needs() said 'ssh', which is none of"),
        # kinds16: read for every chain error, installed and unused it made those "a bug"
        ("badcarries", "cannot be loaded: TypeError: its carries is 5, not None or a set of"),
        # kinds18: `badtarget x` blamed the user's config: "unknown key 'nope'"
        ("badtarget", "cannot be loaded: TypeError: its target 'nope' is no field of its "
                      "Config"),
        ("giveup", "layer kind 'giveup' (badkinds_exit:KIND from badkinds 0.1) cannot be "
                   "loaded: SystemExit: kubectl not found, giving up"),
    ]:
        done = orch(f"environments:\n  e:\n    layers:\n      - {{type: {kind}}}\n", "check")
        assert done.returncode == 2 and "orch.yaml:4:" in done.stderr, done
        assert said in done.stderr and "bug in orch_magics" not in done.stderr, done.stderr
    run = orch("environments:\n  e:\n    layers:\n      - {type: wrapboom}\n",
               "run", "e", "--", "true")
    assert run.returncode != 0 and "bug in orch_magics" not in run.stderr, run
    assert ("hop 1 (env): layer kind 'wrapboom' (badkinds:WRAPBOOM from badkinds 0.1) "
            "failed to wrap its layer: RuntimeError: boom in wrap") in run.stderr, run.stderr
    # kinds12: an exception of its launch() was "a bug in orch_magics" (exit 70)
    run = orch("environments:\n  e:\n    layers:\n      - {type: launchboom}\n",
               "run", "e", "--", "true")
    assert run.returncode == 1 and "bug in orch_magics" not in run.stderr, run
    assert ("hop 1 (env): layer kind 'launchboom' (badkinds:LAUNCHBOOM from badkinds 0.1) "
            "failed to launch: KeyError: 'boom in launch'") in run.stderr, run.stderr
    for kind, said in [
        ("wrapnone", "failed to wrap its layer: TypeError: its wrap() returned NoneType, not "
                     "a Launcher"),
        ("noadopt", "failed to wrap its layer: TypeError: its wrap() returned a "
                    "NoAdoptLauncher that did not call self.adopt(inner, label)"),
        ("badhandle", "failed to launch: TypeError: its launch() returned str, not a "
                      "ProcessHandle"),
    ]:  # kinds13: each was "internal error … a bug in orch_magics" (exit 70)
        run = orch(f"environments:\n  e:\n    layers:\n      - {{type: {kind}}}\n",
                   "run", "e", "--", "true")
        assert run.returncode == 1 and "bug in orch_magics" not in run.stderr, run
        assert f"hop 1 (env): layer kind '{kind}' (badkinds:{kind.upper()} from badkinds " \
            f"0.1) {said}" in run.stderr, run.stderr
    # kinds13: its stream broke after a line, the process exited 0: exit 1 and no word
    run = orch("environments:\n  e:\n    layers:\n      - {type: readboom}\n",
               "run", "e", "--", "true")
    assert (run.returncode, run.stdout) == (1, "hi\n"), run
    assert run.stderr.startswith("orch: e/true failed: read exploded"), run.stderr
    # review25: a launcher the plugin hands out again is said at the hop of each chain
    script = ("from orch_magics import Orchestrator, load_config_text\n"
              "o = Orchestrator(load_config_text('environments:\\n  a: [{type: handed}]\\n"
              "  b: [{type: local}, {type: handed}]\\n'))\n"
              "for env in ('a', 'b'):\n"
              "    try:\n        o.run(env, command='true')\n"
              "    except Exception as exc:\n        print(exc)\n")
    said = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=120).stdout.splitlines()
    assert [line.split(": layer kind")[0] for line in said] == ["hop 1 (env)", "hop 2 (env)"], said


def test_building_a_chain_is_what_loads_the_sdk() -> None:
    """The check above can fail: wrapping an ssh layer does import asyncssh."""
    loaded = fresh(
        "import json, sys\n"
        "from orch_magics.layers.registry import get_kind\n"
        "from orch_magics.layers.local import LocalLauncher\n"
        "kind = get_kind('ssh')\n"
        "kind.wrap(kind.Config(host='h'), LocalLauncher(), 'ssh h')\n"
        "print(json.dumps('asyncssh' in sys.modules))\n")
    assert loaded is True


def _imports(path: Path) -> set[str]:
    """Modules `path` imports at module level or anywhere, as dotted names under orch_magics."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    package = "orch_magics.layers"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = f"{base}.{node.module}" if base and node.module else (node.module or base)
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level:
            found.add(f"orch_magics.layers.{node.module}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_no_import_cycle_between_layer_modules() -> None:
    graph = {p.stem: {m.rsplit(".", 1)[-1] for m in _top_level_imports(p)
                      if m.startswith("orch_magics.layers.")}
             for p in LAYERS.glob("*.py")}
    assert "local" not in graph["local_pty"] and "local" not in graph["local_process"]

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    assert [m for m in graph if reaches(m, m, {m})] == []


def test_layers_never_import_secrets_resolution() -> None:
    offenders = {p.name: sorted(m for m in _imports(p) if ".secrets" in m or m == "secrets")
                 for p in LAYERS.glob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


SELECTOR_KINDS = """\
import dataclasses
from orch_magics.layers.local import LocalKind

@dataclasses.dataclass(frozen=True)
class SelConfig:
    name: str | None = None
    pick: str | None = None

class Delegating:
    def __init__(self, inner):
        self.inner = inner
    def __getattr__(self, name):
        return getattr(self.inner, name)

class Boom(Delegating):
    async def matching(self):
        raise RuntimeError("the plugin's API is down")

class Twice(Delegating):
    async def matching(self):
        return ["alpha", "alpha", 7]

class Odd(Delegating):
    async def matching(self):
        return ["web-1", "c/keys/lnk"]

class Forged(Delegating):
    async def matching(self):
        return ["web-1", "c\\x1b]0;T\\x07\\nweb-2"]

class Sel(LocalKind):
    Config = SelConfig
    target, selector = "name", "pick"
    launcher = Delegating
    def label(self, config):
        return config.name or f"pick {config.pick}"
    def sets_for_commands(self, config):
        return False
    def wrap(self, config, inner, label):
        return self.launcher(inner)

class SelBoom(Sel):
    launcher = Boom

class SelTwice(Sel):
    launcher = Twice

class SelOdd(Sel):
    launcher = Odd

class SelForged(Sel):
    launcher = Forged

NONE, BOOM, TWICE, ODD, FORGED = Sel(), SelBoom(), SelTwice(), SelOdd(), SelForged()
"""


@pytest.mark.parametrize(("kind", "said"), [
    ("selboom", "layer kind 'selboom' (selkinds:BOOM from selkinds 0.1) failed to find its "
                "targets: RuntimeError: the plugin's API is down"),
    ("selnone", "layer kind 'selnone' selects targets at run time (`selector`), but its "
                "launcher has no `matching()`"),
    ("seltwice", "layer kind 'seltwice' found targets that are not names, or the same one "
                 "twice: ['alpha', 'alpha', 7]"),
    ("selodd", "layer kind 'selodd' found a target named 'c/keys/lnk', which no target may be "
               "named (it has '/': a host or container name has none"),
    ("selforged", "layer kind 'selforged' found a target named 'c\\x1b]0;T\\x07\\nweb-2', "
                  "which no target may be named (it has the character '\\x1b'"),
])
def test_a_plugin_kind_whose_run_time_selection_fails_is_named(tmp_path: Path, kind: str,
                                                               said: str) -> None:
    """kinds15: a plugin kind with a run-time `selector` whose `matching()` raised (or which
    had none, or found a name twice) was "internal error … a bug in orch_magics"; with a name
    found twice the command ran twice under one label first. Said naming the kind, nothing run.
    safety25: a name no written target may have (a `/` nested its label, and a get wrote
    through a link another target's get had made; a newline forged a line) is refused too."""
    site = tmp_path / "site"
    (site / "selkinds-0.1.dist-info").mkdir(parents=True)
    (site / "selkinds-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: selkinds\nVersion: 0.1\n")
    (site / "selkinds-0.1.dist-info" / "entry_points.txt").write_text(
        "[orch_magics.layers]\nselnone = selkinds:NONE\nselboom = selkinds:BOOM\n"
        "seltwice = selkinds:TWICE\nselodd = selkinds:ODD\nselforged = selkinds:FORGED\n")
    (site / "selkinds.py").write_text(SELECTOR_KINDS)
    (tmp_path / "orch.yaml").write_text(
        f"environments:\n  e: {{layers: [{{type: {kind}, config: {{pick: app}}}}]}}\n"
        "audit: {enabled: false}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, (REPO, site)))}
    done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "run", "e", "--", "echo",
                           "ran"], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=120)
    assert done.returncode == 1 and "ran" not in done.stdout, done
    assert said in done.stdout + done.stderr and "bug in orch_magics" not in done.stderr, done
