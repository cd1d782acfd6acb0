"""Results travel: a RunResult or FleetResult made in a worker process comes back whole, and a
deep copy is a value of its own (cliapi finding #4: both raised "cannot pickle memoryview")."""

from __future__ import annotations

import copy
import hashlib
import multiprocessing
import pickle
from pathlib import Path

import pytest

from fixtures.fleet import SSHFleet
from orch_magics import OrchError, Orchestrator, RunResult, load_config, load_config_text
from orch_magics.sinks.buffer import SPILL_THRESHOLD

#: More than a buffer keeps in memory: this output lives in a spill file.
BIG = SPILL_THRESHOLD + (1 << 20)
COMMANDS = ["echo small",
            f"f=$(mktemp); head -c {BIG} /dev/urandom >$f; md5sum <$f >&2; cat $f; rm $f"]


def _run_in_worker(config: str, command: str) -> RunResult:
    with Orchestrator(load_config(config)) as orch:
        return orch.run("local", command=command)


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "orch.yaml"
    path.write_text("environments:\n  local: {layers: []}\n")
    return str(path)


def test_results_come_back_from_a_process_pool(config: str) -> None:
    """Before: Pool.map raised MaybeEncodingError after every command had run."""
    with multiprocessing.get_context("fork").Pool(2) as pool:
        small, big = pool.starmap(_run_in_worker, [(config, c) for c in COMMANDS])
    assert (small.ok, small.stdout, small.command) == (True, "small\n", "echo small")
    assert big.ok and big.stdout_buffer.size == BIG and big.stdout_buffer.spilled
    assert big.stderr_bytes.endswith(f"{_md5(big.stdout_bytes)}  -\n".encode())
    assert big.stdout_buffer.memory == 0  # on disk again past the threshold, not in memory


def test_a_deep_copy_keeps_the_output_of_its_own(config: str) -> None:
    with Orchestrator(load_config(config)) as orch:
        result = orch.run("local", command=COMMANDS[1])
    assert result.stdout_buffer.spilled
    for made in (copy.deepcopy(result), pickle.loads(pickle.dumps(result))):
        assert made.stdout_buffer.spilled and made.stdout_buffer.memory == 0
        assert made.stdout_bytes == result.stdout_bytes and made.stderr == result.stderr
        assert made.duration == result.duration and made.exit == result.exit
        made.stdout_buffer.close()  # the original keeps its file
    assert result.stdout_buffer.size == len(result.stdout_bytes) == BIG


@pytest.mark.ssh
def test_a_fleet_result_pickles_without_its_rerun(ssh_fleet: SSHFleet) -> None:
    orch = Orchestrator(load_config_text(
        "environments:\n  web:\n    layers:\n      - {type: ssh, config: {host: "
        f'"127.0.1.[1:2]", {ssh_fleet.ssh_config()}}}}}\n'))
    with orch:
        result = orch.run("web", command="echo hi")
    for made in (copy.deepcopy(result), pickle.loads(pickle.dumps(result))):
        assert made.ok and made.states == result.states
        assert {k: r.stdout for k, r in made.items()} == {"127.0.1.1": "hi\n", "127.0.1.2": "hi\n"}
    with pytest.raises(OrchError, match="unpickled: rerun"):
        pickle.loads(pickle.dumps(result)).rerun()


def _no_config_in(directory: str) -> None:
    import os
    os.chdir(directory)
    os.environ.pop("ORCH_CONFIG", None)
    load_config()


def test_a_no_configuration_error_comes_back_from_a_worker_as_it_was_said(
        tmp_path: Path) -> None:
    """Its message is made from where it looked: unpickled, it was said twice over
    ("… in no configuration found: … in /x")."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        with pytest.raises(OrchError) as err:
            pool.apply(_no_config_in, (str(tmp_path),))
    said = str(err.value)
    assert said.startswith("no configuration found: give files with load_config(FILE, …)")
    assert said.count("no configuration found") == 1 and said.endswith(f"in {tmp_path}"), said
