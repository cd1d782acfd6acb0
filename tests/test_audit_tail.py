"""`orch audit -n N` / `%orch history -n N`: the last runs, read from the log's end (a log of
300,000 lines took 822 MB to show 3 runs: every record was held; guard2 tester)."""

from __future__ import annotations

import contextlib
import io
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


def test_history_in_a_cell_shows_the_last_runs_and_says_more_were_left_out(
        tmp_path: Path) -> None:
    """magics22: `%orch history` with no `-n` put every run of the log into the cell, and so
    into the saved notebook (a year of runs). It shows the last 50 and says how to see more;
    `-n` still shows as many as asked, and `--json` stays JSON lines."""
    from shells import orch_shell

    path = tmp_path / "audit.jsonl"
    _log(path, 120)
    config = f"environments: {{local: []}}\naudit: {{path: {path}}}\n"
    with orch_shell(config, tmp_path) as shell:
        for line, rows, said in (("history", 50, True), ("history -n 70", 70, False),
                                 ("history --env a", 50, True), ("history --json", 50, True)):
            with contextlib.redirect_stdout(io.StringIO()) as out, \
                    contextlib.redirect_stderr(io.StringIO()) as err:
                shell.run_line_magic("orch", line)
            shown = out.getvalue().splitlines()
            note = [x for x in (shown[:1] + err.getvalue().splitlines()) if x.startswith("…")]
            assert bool(note) == said, (line, note)
            if "--json" in line:
                ids = [json.loads(x)["id"] for x in shown]
                assert ids == [f"r{i}" for i in range(70, 120)], ids  # the newest, in order
                assert err.getvalue().startswith("… earlier runs not shown"), err.getvalue()
            else:
                assert len(shown) == rows + 1 + said, (line, len(shown))  # header, note
    assert len(audited_runs(AuditSettings(path=str(path)))) == 120  # the log itself is whole
