"""The curated public API: the names users and later issues rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

import orch_magics


def test_exported_names() -> None:
    for name in ("load_config", "Orchestrator", "ConfigError", "RunResult", "LayeredExecutor",
                 "LocalLauncher", "Command", "ProcessHandle", "Stdout", "Stderr", "Exit"):
        assert name in orch_magics.__all__ and hasattr(orch_magics, name)
    assert sorted(orch_magics.__all__) == sorted(set(orch_magics.__all__))
    for name in orch_magics.__all__:
        assert getattr(orch_magics, name).__doc__, f"{name} has no docstring"


def test_typed_package_marker() -> None:
    from importlib.resources import files

    assert files("orch_magics").joinpath("py.typed").is_file()


def test_the_names_load_on_first_use_and_nothing_else_is_made_up() -> None:
    """`import orch_magics` loads no engine (so `orch` can take over Ctrl-C first); each
    public name loads its module when first asked for, once."""
    import subprocess
    import sys

    code = ("import sys, orch_magics\n"
            "print(sorted(m for m in sys.modules if m.startswith('orch_magics')))\n"
            "from orch_magics import Orchestrator\n"
            "print(Orchestrator is orch_magics.Orchestrator, 'orch_magics.orchestrator' in sys.modules)\n"
            "try:\n    orch_magics.Orchestrater\nexcept AttributeError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["['orch_magics', 'orch_magics.version']", "True True",
                   "module 'orch_magics' has no attribute 'Orchestrater'"]
    assert set(orch_magics.__all__) <= set(dir(orch_magics))


def test_the_entry_point_stays_a_function_once_the_command_line_is_loaded() -> None:
    """`orch_magics.cli:main` is the console script's target. While the command line lived
    in `cli/main.py`, loading it replaced the package's `main` with that module."""
    import orch_magics.cli
    import orch_magics.cli.app  # noqa: F401 (what the first call of main() loads)

    assert callable(orch_magics.cli.main)
    from orch_magics.cli import main

    assert main is orch_magics.cli.main and main.__module__ == "orch_magics.cli"


def test_a_config_found_on_its_own_is_read_again_when_it_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """config13: a notebook that found ./orch.yaml itself kept the first one it read: after
    an edit, or a %cd to another project, runs used the old file and said a service the file
    holds was unknown, where each `orch` reads the files anew."""
    from orch_magics import Orchestrator

    one, two = tmp_path / "one", tmp_path / "two"
    for folder, services in ((one, "s: {command: 'echo s'}"), (two, "u: {command: 'echo u'}")):
        folder.mkdir()
        (folder / "orch.yaml").write_text(f"environments: {{local: []}}\nservices: {{{services}}}\n"
                                          "audit: {enabled: false}\n")
    monkeypatch.chdir(one)
    with Orchestrator() as orch:
        assert orch.run("local", "s").stdout == "s\n"
        (one / "orch.yaml").write_text((one / "orch.yaml").read_text().replace(
            "services: {", "services: {t: {command: 'echo t'}, "))
        assert orch.run("local", "t").stdout == "t\n"  # the edit is read
        monkeypatch.chdir(two)
        assert orch.run("local", "u").stdout == "u\n"  # the other project's file
        orch.load(str(one / "orch.yaml"))  # a file named is kept, wherever one stands
        assert orch.run("local", "t").stdout == "t\n"


@pytest.mark.parametrize("how", ["load", "path"])
def test_files_named_are_read_again_when_they_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """config18 (high): after `%orch load orch.yaml` (or `Orchestrator('orch.yaml')`) the file
    was read once: a `protected: true` added to prod later was never applied, a service
    added was "unknown … in orch.yaml", an edited inventory kept its old hosts."""
    from orch_magics import ConfigError, Orchestrator
    from orch_magics.fleet.targets import expand
    from orch_magics.guard import ConfirmationRefused

    conf, hosts = tmp_path / "orch.yaml", tmp_path / "hosts.ini"
    hosts.write_text("[web]\nh1\n")
    conf.write_text("inventory: hosts.ini\nenvironments: {prod: [], web: [ssh group:web]}\n"
                    "services: {wipe: {command: 'echo wiped'}}\naudit: {enabled: false}\n")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # named: read from where it is, not found here
    with Orchestrator(str(conf) if how == "path" else None) as orch:
        if how == "load":
            orch.load(str(conf))
        assert orch.run("prod", "wipe").stdout == "wiped\n"
        conf.write_text(conf.read_text().replace("prod: []", "prod: {protected: true, "
                                                 "layers: []}").replace(
            "services: {", "services: {add: {command: 'echo added'}, "))
        with pytest.raises(ConfirmationRefused, match="'prod' is protected"):
            orch.run("prod", "wipe")
        assert orch.run("prod", "add", yes="prod").stdout == "added\n"
        hosts.write_text("[web]\nh1\nh2\n")
        assert [t.label for t in expand(orch.config.environment("web").layers)] == ["h1", "h2"]
        conf.write_text(conf.read_text().replace("command: 'echo wiped'", "comand: x"))
        for _ in range(2):  # saved with a mistake: refused at every run, never the old one
            with pytest.raises(ConfigError, match="comand"):
                orch.run("prod", "wipe", yes="prod")


def test_an_inventory_and_its_vars_are_read_again_when_they_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fleets17/config14: a notebook kept the hosts of the inventory it first read (and their
    group_vars), where `orch ls` in the same folder showed the new ones."""
    from orch_magics import Orchestrator
    from orch_magics.fleet.targets import expand

    (tmp_path / "hosts.ini").write_text("[web]\nh1\nh2\n")
    (tmp_path / "orch.yaml").write_text("inventory: hosts.ini\nenvironments: {web: "
                                        "[ssh group:web]}\naudit: {enabled: false}\n")
    monkeypatch.chdir(tmp_path)

    def targets(orch: Orchestrator) -> list[tuple[str, int | None]]:
        return [(t.label, t.layers[0].config.port)
                for t in expand(orch.config.environment("web").layers)]

    with Orchestrator() as orch:
        assert targets(orch) == [("h1", None), ("h2", None)]
        (tmp_path / "hosts.ini").write_text("[web]\nh1\nh3\n")
        assert targets(orch) == [("h1", None), ("h3", None)]
        (tmp_path / "group_vars" / "web").mkdir(parents=True)  # a folder of files, made later
        (tmp_path / "group_vars" / "web" / "port.yml").write_text("ansible_port: 2222\n")
        assert targets(orch) == [("h1", 2222), ("h3", 2222)]
        (tmp_path / "group_vars" / "web" / "port.yml").write_text("ansible_port: 22000\n")
        assert targets(orch) == [("h1", 22000), ("h3", 22000)]


def test_a_config_saved_broken_or_taken_away_is_refused_at_every_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """config14 F1 (high): the first run after a broken save said the error, the next one ran
    the config read before it (a `protected: true` saved with a typo beside it went
    unconfirmed); the same after the file was removed. Once fixed, the new file is read."""
    from orch_magics import ConfigError, Orchestrator

    conf = tmp_path / "orch.yaml"
    conf.write_text("environments: {prod: []}\nservices: {s: {command: 'echo s'}}\n"
                    "audit: {enabled: false}\n")
    monkeypatch.chdir(tmp_path)
    with Orchestrator() as orch:
        assert orch.run("prod", "s").stdout == "s\n"
        conf.write_text("environments: {prod: {protected: true, layers: []}}\n"
                        "services: {s: {comand: 'echo s'}}\naudit: {enabled: false}\n")
        for _ in range(3):
            with pytest.raises(ConfigError, match="unknown key 'comand'"):
                orch.run("prod", "s")
        conf.unlink()
        for _ in range(2):
            with pytest.raises(ConfigError, match="no configuration found"):
                orch.run("prod", "s")
        conf.write_text("environments: {prod: []}\nservices: {t: {command: 'echo t'}}\n"
                        "audit: {enabled: false}\n")
        assert orch.run("prod", "t").stdout == "t\n"


def _failing_job() -> None:
    """A process pool's job: a run that fails, checked."""
    from orch_magics import Orchestrator, load_config_text

    config = "environments: {local: []}\naudit: {enabled: false}\n"
    with Orchestrator(load_config_text(config)) as orch:
        orch.run("local", command="echo half-done; exit 3").check()


def test_a_run_error_crosses_a_process_pool_with_its_result() -> None:
    """safety20: a job whose `r.check()` raised RunError broke the whole pool
    (BrokenProcessPool): the error could not be unpickled, its result taken for its text."""
    import concurrent.futures
    import multiprocessing

    from orch_magics import RunError

    with concurrent.futures.ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("fork")) as pool:
        with pytest.raises(RunError) as err:
            pool.submit(_failing_job).result(timeout=60)
        assert (err.value.result.returncode, err.value.result.stdout) == (3, "half-done\n")
        assert "exit 3" in str(err.value)
        assert pool.submit(int, "7").result(timeout=60) == 7  # the pool still works


def test_an_error_a_magic_marked_quiet_still_pickles() -> None:
    """review38: the magic's mark (shown without a traceback) was a lambda in the error's
    state, so an error caught in a cell could not go to a process pool."""
    import pickle

    from orch_magics.errors import ConfigError
    from orch_magics.magics.frontend import quiet

    back = pickle.loads(pickle.dumps(quiet(ConfigError("bad thing", file="x.yaml", line=3))))
    assert (str(back), back._render_traceback_()) == (
        "x.yaml:3: bad thing", ["ConfigError: x.yaml:3: bad thing"])
