"""`orch audit -n N` / `%orch history -n N`: the last runs, read from the log's end (a log of
300,000 lines took 822 MB to show 3 runs: every record was held; guard2 tester)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orch_magics.audit.query import audited_runs
from orch_magics.config.model import AuditSettings


def _log(path: Path, runs: int, pad: int = 0) -> None:
    """Runs of two environments, their starts and ends interleaved (as concurrent runs
    write them), every third one failed; `pad` bytes of command make lines long."""
    with path.open("w") as f:
        for i in range(runs):
            start = {"event": "start", "id": f"r{i}", "environment": ("a", "b")[i % 2],
                     "time": f"2026-12-0{1 + i % 3}T00:00:00+00:00", "command": "x" * pad}
            f.write(json.dumps(start) + "\n")
            if i:
                end = {"event": "end", "id": f"r{i - 1}", "exit_code": (i - 1) % 3}
                f.write(json.dumps(end) + "\n")


@pytest.mark.parametrize("pad", [0, 300_000], ids=["short lines", "lines longer than a block"])
@pytest.mark.parametrize("filters", [{}, {"env": "b"}, {"failed": True},
                                     {"since": "2026-12-02T00:00:00"}, {"env": "zz"}])
def test_the_last_runs_are_the_whole_lists_last(tmp_path: Path, pad: int,
                                                filters: dict[str, object]) -> None:
    path = tmp_path / "audit.jsonl"
    _log(path, 40, pad)
    settings = AuditSettings(path=str(path))
    whole = [run.as_dict() for run in audited_runs(settings, **filters)]  # type: ignore[arg-type]
    for last in (0, 1, 3, 25, 100):
        tail = audited_runs(settings, last=last, **filters)  # type: ignore[arg-type]
        assert [run.as_dict() for run in tail] == (whole[-last:] if last else [])


def test_the_last_runs_of_a_big_log_take_little_memory(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _log(path, 150_000)  # ~20 MB
    code = ("import resource, sys; from orch_magics.audit.query import audited_runs; "
            "from orch_magics.config.model import AuditSettings; "
            f"found = audited_runs(AuditSettings(path={str(path)!r}), last=3); "
            "print(len(found), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    count, peak_kib = subprocess.run([sys.executable, "-c", code], capture_output=True,
                                     text=True, check=True).stdout.split()
    base = subprocess.run([sys.executable, "-c", "import resource, orch_magics.audit.query; "
                           "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"],
                          capture_output=True, text=True, check=True).stdout
    assert count == "3" and int(peak_kib) - int(base) < 16 * 1024, (peak_kib, base)
    code = code.replace("last=3", "last=3, env='nowhere'")  # fewer match: read to the start
    count, peak_kib = subprocess.run([sys.executable, "-c", code], capture_output=True,
                                     text=True, check=True).stdout.split()
    assert count == "0" and int(peak_kib) - int(base) < 16 * 1024, (peak_kib, base)
