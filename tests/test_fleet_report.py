"""The summary of a fleet run is orch's own report: what targets print cannot repaint it, its
columns line up whatever the labels, and its options read one way."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from fixtures.fleet import SSHFleet
from orch_magics import ConfigError, OrchError, Orchestrator, load_config, load_config_text
from orch_magics.fleet import FleetOptions, expand
from orch_magics.fleet.targets import describe


@pytest.fixture
def orch(ssh_fleet: SSHFleet, tmp_path: Path):
    """Targets with short inventory names (w1, w2) on real sshd."""
    (tmp_path / "inv.ini").write_text("[web]\nw1 ansible_host=127.0.1.1\n"
                                      "w2 ansible_host=127.0.1.2\n")
    (tmp_path / "orch.yaml").write_text(
        "inventory: [inv.ini]\nenvironments:\n"
        f"  web: {{layers: [{{type: ssh, config: {{host: 'group:web', "
        f"{ssh_fleet.ssh_config()}}}}}]}}\n"
        "services:\n  stepped:\n    command: 'echo main'\n"  # w1's pre and w2's post fail
        "    pre_commands: [{command: 'case $SSH_CONNECTION in *127.0.1.1\\ *) "
        "echo prefail >&2; exit 4;; esac'}]\n"
        "    post_commands: [{command: 'case $SSH_CONNECTION in *127.0.1.2\\ *) "
        "echo postfail >&2; exit 5;; esac', when: always}]\n")
    with Orchestrator(load_config(tmp_path / "orch.yaml")) as o:
        yield o


def test_a_failed_step_s_row_says_how_it_ended_and_why(orch: Orchestrator) -> None:
    """fleets21: a failed pre command's row gave the whole command quoted, no status and no
    reason, where a single run says `(exit 4)`; a post command's named no line."""
    res = orch.run("web", "stepped")
    assert res.causes == {"w1": "pre command failed (exit 4): prefail",
                          "w2": "post command failed (exit 5): postfail"}, res.causes


@pytest.mark.parametrize("command, shown", [
    (r'printf "ab\033]0;pwned\007\033[2J\n"', "ab"),  # last line
    (r'printf "x\033[8m\033[1A\r\n" >&2; exit 4', "exit 4: x"),  # cause
    (r'printf "\033[31mERROR: disk full\033[0m\n" >&2; exit 4', "exit 4: ERROR: disk full"),
    (r'printf "a\001b\n"', r"a\x01b"),  # a control character that is no sequence: escaped
])
def test_escape_sequences_from_a_target_never_reach_the_table(
        orch: Orchestrator, command: str, shown: str) -> None:
    """Terminal sequences are taken out (colours read as `\x1b[31mERROR…` before: held-out
    tester), other control characters shown escaped: no target can repaint the report."""
    res = orch.run("web", command=command, limit="w1")
    table = res.table()
    assert "\x1b" not in table and "\x07" not in table and "\r" not in table
    assert table.splitlines()[1].endswith(f"  {shown}"), table
    html = res._repr_html_()
    assert "\x1b" not in html and "[31m" not in html and "[2J" not in html
    came = res["w1"].stdout + res["w1"].stderr  # the result keeps the bytes as they came
    assert "\x1b" in came or "\x01" in came


def test_a_line_ended_by_crlf_shows_without_its_cr(orch: Orchestrator) -> None:
    """s9-regress #6: a `tty: true` target's lines end in CRLF; the last line kept its `\r`
    in the table, rows() and the HTML (result.lines already drops it)."""
    res = orch.run("web", command=r'printf "first\r\ndone\r\n"', limit="w1")
    assert res.rows()[0]["last_line"] == "done" and res.table().splitlines()[1].endswith(" done")


def test_the_table_header_lines_up_with_short_labels(orch: Orchestrator) -> None:
    """Each row names its run's audit record (a saved notebook or a terminal log links to
    it, as a single run's status line does); a skipped target has none."""
    res = orch.run("web", command="echo hi")
    lines = res.table().splitlines()
    assert lines[0].index("STATE") == lines[1].index("ok") == lines[2].index("ok")
    assert lines[0].index("AUDIT") == lines[1].index(res["w1"].audit_id)
    assert re.match(rf"w1 +ok +0 +[0-9.]+s  {res['w1'].audit_id}  hi$", lines[1])
    assert len({res["w1"].audit_id, res["w2"].audit_id}) == 2
    skipped = orch.run("web", command="exit 3", parallel=1, max_fail=0).table().splitlines()
    assert re.match(r"w2 +skipped +[0-9.]+s  -  +skipped: ", skipped[2]), skipped


def test_to_dataframe_keeps_its_columns_with_no_target_and_exit_codes_whole(
        orch: Orchestrator) -> None:
    """`res.failed.to_dataframe()` after a run where all succeeded raised pandas' KeyError
    ("None of ['label'] are in the columns"); exit codes came out 3.0 and NaN."""
    import pandas  # a test extra: this test runs wherever the tests do

    res = orch.run("web", command="exit 3", parallel=1, max_fail=0)  # w2: skipped, no code
    assert res.states == {"w1": "failed", "w2": "skipped"}, res.causes
    columns = ["state", "returncode", "duration", "stdout_bytes", "stderr_bytes", "cause",
               "last_line", "audit_id"]
    frame = res.to_dataframe()
    assert list(frame.columns) == columns and list(frame.index) == ["w1", "w2"]
    assert str(frame["returncode"].dtype) == "Int64"
    assert frame.loc["w1", "returncode"] == 3 and frame.loc["w2", "returncode"] is pandas.NA
    for empty in (res.succeeded, orch.run("web", command="true").failed):
        nothing = empty.to_dataframe()
        assert nothing.empty and list(nothing.columns) == columns
        assert nothing.index.name == "label"
        # fleets6: every column but returncode was `object`, so frames of reruns joined
        # with pd.concat turned the numbers into objects
        assert dict(nothing.dtypes) == dict(frame.dtypes), nothing.dtypes
        assert nothing.index.dtype == frame.index.dtype
        joined = pandas.concat([frame, nothing])
        assert dict(joined.dtypes) == dict(frame.dtypes)


def test_groups_roll_up_the_same_bytes_and_keep_targets_that_never_ran_apart(
        orch: Orchestrator) -> None:
    """fleets6: groups() compared outputs as text, where bytes that are not UTF-8 all read
    as U+FFFD (\\xfe and \\xff were one group), and a target that never ran sat in the group
    of those that printed nothing: one group read 'every host agrees'."""
    res = orch.run("web", command='[ "${SSH_CONNECTION#* * 127.0.1.1 }" = "$SSH_CONNECTION" ]'
                                   ' && printf "\\377\\n" || printf "\\376\\n"')
    assert {k: r.stdout_bytes for k, r in res.items()} == {"w1": b"\xfe\n", "w2": b"\xff\n"}
    assert sorted(labels for labels, _ in res.groups()) == [["w1"], ["w2"]]
    same = orch.run("web", command='printf "\\377\\n"')
    assert same.groups() == [(["w1", "w2"], "\ufffd\n")]
    res = orch.run("web", command="exit 3", parallel=1, max_fail=0)  # w2 skipped: never ran
    assert res.groups() == [(["w1"], ""), (["w2"], "")]
    # fleets21: one failing with the same (empty) output rolled up with the ok one
    res = orch.run("web", command='[ "${SSH_CONNECTION#* * 127.0.1.1 }" = "$SSH_CONNECTION" ]')
    assert res.returncodes == {"w1": 1, "w2": 0}
    assert res.groups() == [(["w1"], ""), (["w2"], "")]


def test_to_dataframe_without_pandas_says_how_to_install_it(orch: Orchestrator,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """pandas is an optional extra: a machine without it gets one clear line, no traceback.
    (pandas is installed for the tests, so its absence is what is provoked here.)"""
    import sys

    res = orch.run("web", command="true")
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` raises ImportError
    with pytest.raises(OrchError) as err:
        res.to_dataframe()
    assert str(err.value) == "to_dataframe() needs pandas: pip install 'orch_magics[pandas]'"


@pytest.mark.parametrize("bad", ["1.5", "50.5%", "10 %", "101%", "-1", "%"])
def test_max_fail_takes_whole_counts_and_percentages_only(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"max_fail \(--max-fail\) takes a count or a percentage"):
        FleetOptions(max_fail=bad)
    assert FleetOptions(max_fail=" 10% ").fail_budget(30) == 3


@pytest.mark.parametrize("layers, shown", [
    ("[{type: docker, config: {label: app=web}}]",
     "every running container with app=web (found at run time)"),
    ("[{type: ssh, config: {host: [b1, b2]}}, {type: docker, config: {label: app=web}}]",
     "2 targets × every running container with app=web: b1, b2"),
])
def test_a_label_fleet_is_described_without_a_placeholder(layers: str, shown: str) -> None:
    """`orch ls` said `1 target × every running container with app=web: (one)`."""
    env = load_config_text(f"environments:\n  c: {{layers: {layers}}}\n").environment("c")
    assert describe(expand(env.layers)) == shown


def test_rerun_on_a_protected_fleet_takes_a_confirmation(ssh_fleet: SSHFleet,
                                                         tmp_path: Path) -> None:
    """From plain Python only ORCH_CONFIRM could confirm a rerun: it took no `yes=`."""
    (tmp_path / "orch.yaml").write_text(
        "environments:\n  web:\n    protected: true\n    confirm_ttl: 0\n"
        f"    layers: [{{type: ssh, config: {{host: '127.0.1.[1:2]', "
        f"{ssh_fleet.ssh_config()}}}}}]\n")
    with Orchestrator(load_config(tmp_path / "orch.yaml")) as orch:
        asked: list[str] = []
        orch.gate.ask = lambda question: asked.append(question) or "web"  # type: ignore
        res = orch.run("web", command="echo hi", yes="web")
        again = res.rerun(yes="web")
        assert again.ok and list(again) == ["127.0.1.1", "127.0.1.2"] and asked == []
        assert res.rerun().ok and len(asked) == 1  # without it, asked again as before
        # safety12: the question says which targets (it read the same for 2 or for 1)
        assert asked[0].endswith("there (2 targets: 127.0.1.1, 127.0.1.2): "), asked
        assert orch.run("web", command="echo hi", limit="127.0.1.2").ok
        assert asked[1].endswith("there (1 target: 127.0.1.2): "), asked


def test_the_html_table_reads_output_as_text_and_a_stop_shows_no_python_number(
        orch: Orchestrator) -> None:
    """A FleetResult's table typeset `$5 and $7` as math in JupyterLab (the live table does
    not), and showed Python's -2 in the exit column of a stopped target (held-out tester)."""
    res = orch.run("web", command="echo 'cost $5 and $7'; exit 3")
    page = res._repr_html_()
    assert "class='orch-fleet mathjax_ignore tex2jax_ignore'" in page
    cell = "<td style='text-align:left;vertical-align:top;white-space:nowrap'>"
    assert "cost $5 and $7" in page and f"{cell}3</td>" in page
    ids = [res[label].audit_id for label in res]  # each row names its record (s9-guard #3)
    assert all(ids) and all(f"{cell}{audit_id}</td>" in page for audit_id in ids), page
    # browser13: left-aligned in a fixed layout, long texts cut (JupyterLab right-aligned a
    # bare table, and a long cause pushed the audit column off)
    assert "<table style='table-layout:fixed;width:100%;min-width:50em'>" in page
    assert [row["audit_id"] for row in res.rows()] == ids
    live = orch.fleets.start(orch.plan("web", command="sleep 30"), FleetOptions())
    deadline = time.monotonic() + 30
    while live.counts().get("running") != 2:
        assert time.monotonic() < deadline, live.counts()
        time.sleep(0.05)
    live.stop()
    stopped = live.wait(30)
    assert set(stopped.states.values()) == {"stopped"}
    page = stopped._repr_html_()
    assert f"{cell}-2</td>" not in page and f"{cell}stopped</td>" in page


def test_a_fleets_check_raises_a_run_error_holding_the_fleet(orch: Orchestrator) -> None:
    """api tester: it raised a bare OrchError, so `except RunError as e: e.result` written
    for one run missed a fleet's failure (the same run() returns either)."""
    from orch_magics import FleetError, RunError

    res = orch.run("web", command='[ "$(hostname)" = x ] || exit 3', limit="w1")
    with pytest.raises(RunError) as err:
        res.check()
    assert isinstance(err.value, FleetError) and err.value.result is res
    assert str(err.value) == "1 of 1 target did not succeed: w1 (exit 3)"  # magics24: not
    # "1 targets", nor in a live view's title (fleet_table)
    ok = orch.run("web", command="true")
    assert ok.check() is ok
