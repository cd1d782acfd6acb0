"""Mistakes in a notebook, executed by nbclient on the real orch kernel: each cell gets one
clear line saying what is wrong (never a traceback, never a misleading hint), and nothing runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from notebook_cells import notebook_with, run_notebook, stream_text

CONFIG = """\
environments:
  local: {layers: []}
services:
  hello: {command: echo hello}
"""

#: A magic line, and the one line it must get (the start of it), whatever follows the mistake.
TYPOS = [
    ("%orch histroy -n 2", "unknown subcommand or environment 'histroy' (did you mean 'history'?)"),
    ("%orch lgos st1 -n 5", "unknown subcommand or environment 'lgos' (did you mean 'logs'?)"),
    ("%orch forwad local 22", "unknown subcommand or environment 'forwad' (did you mean 'forward'?)"),
    ("%orch gte local /etc/hostname x", "unknown subcommand or environment 'gte' (did you mean 'get'?)"),
    ("%orch pu local a b", "unknown subcommand or environment 'pu' (did you mean 'put'?)"),
    ("%orch pu", "unknown subcommand or environment 'pu' (did you mean 'ps'?)"),
    ("%orch pu x", "unknown subcommand or environment 'pu' (did you mean 'ps' or 'put'?)"),
    ("%orch stpo st1 --tail 3", "unknown subcommand or environment 'stpo' (did you mean 'stop'?)"),
    ("%orch lcoal hello extra -n 2", "unknown subcommand or environment 'lcoal' (did you mean 'local'?)"),
    ("%orch nowhere hello extra -n 2", "unknown environment 'nowhere'"),
    ("%%orch histroy -n 2\necho x", "unknown subcommand or environment 'histroy' (did you mean 'history'?)"),
    # browser11: a cell's body runs in an environment; `local` was not taken for `load`
    ("%%orch lood\necho x", "unknown environment 'lood' in "),
    ("%%orch lcoal\necho x", "unknown environment 'lcoal' in "),
    ("%orch forward stp f1", "unknown environment 'stp' (did you mean 'stop'?)"),
    ("%orch forward stop", "give the forward's id: %orch forward stop ID"),
    ("%orch forward local", "give the remote port: %orch forward local PORT"),
    ("%orch history -n -2", "%orch history: argument -n/--tail: needs a number >= 0, not -2"),
    ("%orch logs st1 -n -2", "%orch logs: argument -n/--tail: needs a number >= 0, not -2"),
    ("%orch logs st1 --tail=-1", "%orch logs: argument -n/--tail: needs a number >= 0, not -1"),
    # the CLI's ad-hoc form: not a service named `seq` given an argument `1`
    ("%orch local -- seq 1 5", "%orch local -- COMMAND is the orch CLI's form; in a notebook, "
                               "run a command as the cell body of %%orch local"),
    ("%orch local -- seq", "%orch local -- COMMAND is the orch CLI's form"),
    ("%%orch local -- seq 1 5\necho x", "%orch local -- COMMAND is the orch CLI's form"),
    # guard2: the terminal's words said as the notebook says them
    ("%orch audit -n 3", "unknown environment 'audit': the audit trail in a notebook is "
                         "%orch history [-n N]"),
    ("%orch cp a local:/tmp/b", "unknown environment 'cp': files are copied with %orch get "
                                "and %orch put"),
    # config13: `ls` was offered `ps` (which lists runs), `run` and `check` nothing
    ("%orch ls", "unknown environment 'ls': %orch envs and %orch services list what is loaded"),
    ("%orch run local hello", "unknown environment 'run': a run in a notebook is %orch ENV "
                              "SERVICE, or a %%orch ENV cell holding the script"),
    ("%orch check", "unknown environment 'check': %orch load FILE reads a config and says "
                    "each mistake in it"),
]

#: `%config` values an Orch setting cannot take: refused at the %config line, in one line.
SETTINGS = [
    ("tail = -3", "Orch.tail needs a number of lines >= 0, not -3"),
    ("headless_lines = -5", "Orch.headless_lines needs a number of lines > 0, or None"),
    ("headless_lines = 0", "Orch.headless_lines needs a number of lines > 0, or None"),
    ("headless_bytes = 0", "Orch.headless_bytes needs a number of bytes > 0, or None"),
    ("timeout = -1", "Orch.timeout needs a number of seconds > 0 and at most 1e+09, or None"),
    ("timeout = 0", "Orch.timeout needs a number of seconds > 0 and at most 1e+09, or None"),
    # basics12: taken, then every cell without its own --timeout refused it
    ("timeout = 2e9", "Orch.timeout needs a number of seconds > 0 and at most 1e+09, or None"),
    ("update_interval = 1e10", "Orch.update_interval needs a number of seconds > 0 and at most"),
    ("update_interval = -1", "Orch.update_interval needs a number of seconds > 0"),
    ("update_interval = float('inf')", "Orch.update_interval needs a number of seconds > 0"),
    # config tester: True became a 1-second timeout on every run, 1e3 a tail of 1000
    ("timeout = True", "Orch.timeout needs a number, not True"),
    ("tail = True", "Orch.tail needs a whole number, not True"),
    ("tail = 1e3", "Orch.tail needs a whole number, not 1000.0"),
    # headless2 tester: traitlets' own "The 'headless_lines' trait of an Orch instance …"
    ("headless_lines = 'abc'", "Orch.headless_lines needs a whole number, not 'abc'"),
    ("update_interval = [1]", "Orch.update_interval needs a number, not [1]"),
    ("tail = None", "Orch.tail needs a whole number, not None"),  # None is no limit's, not tail's
]


def test_a_mistyped_subcommand_or_count_is_one_line_whatever_follows(orch_kernel,
                                                                    tmp_path: Path) -> None:
    (tmp_path / "orch.yaml").write_text(CONFIG)
    nb = notebook_with(f"%orch load {tmp_path / 'orch.yaml'}", *(line for line, _ in TYPOS),
                       "%orch local hello")
    run_notebook(nb, orch_kernel, allow_errors=True)
    for (line, message), cell in zip(TYPOS, nb.cells[1:len(TYPOS) + 1], strict=True):
        said = stream_text(cell, "stderr")
        assert said.startswith(f"UsageError: {message}"), (line, said)
        assert said.count("\n") == 1 and stream_text(cell) == "", (line, said)
        assert not [o for o in cell.outputs if o["output_type"] == "error"], line
    assert stream_text(nb.cells[-1]) == "hello\n"  # the kernel goes on as before


def test_a_bad_setting_is_refused_at_the_config_line(orch_kernel, tmp_path: Path) -> None:
    (tmp_path / "orch.yaml").write_text(CONFIG)
    nb = notebook_with(f"%orch load {tmp_path / 'orch.yaml'}",
                       *(f"%config Orch.{value}" for value, _ in SETTINGS),
                       "%config Orch.timeout = None\n%config Orch.headless_lines = None\n"
                       "%config Orch.tail = 0",
                       "s = next(c for c in get_ipython().configurables "
                       "if type(c).__name__ == 'Orch')\n"
                       "print(s.tail, s.headless_lines, s.headless_bytes, s.timeout, "
                       "s.update_interval)",
                       "%%orch local\nseq 1 3")
    run_notebook(nb, orch_kernel, allow_errors=True)
    for (value, message), cell in zip(SETTINGS, nb.cells[1:len(SETTINGS) + 1], strict=True):
        said = stream_text(cell, "stderr")
        assert message in said and said.count("\n") == 1, (value, said)
    checks = nb.cells[len(SETTINGS) + 1:]
    assert stream_text(checks[0], "stderr") == ""  # None where None means "no limit"
    assert stream_text(checks[1]) == "0 None 262144 None 0.1\n"  # the refused ones left alone
    assert stream_text(checks[2]) == "1\n2\n3\n"  # every line written: no limit is not 0


def test_a_refused_setting_does_not_keep_the_extension_from_loading_again(
        orch_kernel, tmp_path: Path) -> None:
    """notebook4: IPython keeps a value `%config` refused in the shell's config, so
    `%reload_ext orch_magics` failed on it (a 60-line TraitError for raise_error) and %orch
    was gone until the kernel restarted. review13: a value set before the refused one stays."""
    (tmp_path / "orch.yaml").write_text(CONFIG)
    nb = notebook_with("%config Orch.tail = -3", "%config Orch.raise_error = 3",
                       "%reload_ext orch_magics",
                       f"%orch load {tmp_path / 'orch.yaml'}\n%orch local hello",
                       "%config Orch.tail",
                       "%config Orch.tail = 5", "%config Orch.tail = -3",
                       "%reload_ext orch_magics", "%config Orch.tail")
    run_notebook(nb, orch_kernel, allow_errors=True)
    for reload in (nb.cells[2], nb.cells[7]):
        assert stream_text(reload, "stderr") == ""
        assert not [o for o in reload.outputs if o["output_type"] == "error"]
    assert stream_text(nb.cells[3]).endswith("hello\n")
    assert [nb.cells[i].outputs[0]["data"]["text/plain"] for i in (4, 8)] == ["40", "5"]


def test_a_refused_value_in_the_shell_s_config_is_dropped_in_one_line(capsys) -> None:
    """`c.Orch.tail = -3` in ipython_config.py: the orch kernel started without its magics
    (the extension failed to load, its traceback only in the server's log)."""
    from traitlets.config import Config, Configurable

    from orch_magics.magics.settings import settings_for

    shell = Configurable(config=Config({"Orch": {"tail": -3, "raise_error": 3, "timeout": 9}}))
    settings = settings_for(shell)
    said = capsys.readouterr().err.splitlines()
    assert said[0] == ("orch_magics: Orch.tail needs a number of lines >= 0, not -3; Orch.tail "
                       "keeps its default")
    assert said[1].startswith("orch_magics: ") and said[1].endswith(
        "; Orch.raise_error keeps its default") and len(said) == 2, said
    assert (settings.tail, settings.raise_error, settings.timeout) == (40, True, 9)


def test_asking_for_help_before_anything_is_loaded_points_at_the_help(orch_kernel,
                                                                     tmp_path: Path) -> None:
    """s9-newcomer #4: the first thing a newcomer types, before loading a config, was
    answered "no configuration found"; with a config loaded the same line pointed at --help."""
    nb = notebook_with("%orch help", "%orch usage", "%orch hello")
    run_notebook(nb, orch_kernel, allow_errors=True,
                 resources={"metadata": {"path": str(tmp_path)}})  # no orch.yaml there
    for cell in nb.cells[:2]:
        assert stream_text(cell, "stderr") == (
            "UsageError: %orch --help shows how to use it (%orch SUBCOMMAND --help for one "
            "subcommand; %orch envs and %orch services what is loaded)\n"), cell.source
    assert "no configuration found" in stream_text(nb.cells[2], "stderr")  # as before


def test_history_reads_the_users_audit_log_with_no_configuration_loaded(
        orch_kernel, tmp_path: Path) -> None:
    """notebook5: `%orch history` said "no configuration found", where `orch audit` reads
    the user's own log (it is per user, not per configuration)."""
    from orch_magics.audit import AuditLog, default_audit_path

    AuditLog(default_audit_path()).append({
        "event": "start", "id": "a1", "time": "2026-12-04T10:00:00+00:00", "user": "me",
        "environment": "staging", "command": "uptime"})
    nb = notebook_with("%orch history -n 1", "%orch history --env stagign")
    run_notebook(nb, orch_kernel, resources={"metadata": {"path": str(tmp_path)}})
    table = stream_text(nb.cells[0]).splitlines()
    assert table[0].split()[:3] == ["time", "(UTC)", "who"] and len(table) == 2, table
    assert "staging" in table[1] and "uptime" in table[1] and "a1" in table[1]
    assert stream_text(nb.cells[1]) == "no audited runs match (did you mean --env staging?)\n"


def test_a_trailing_semicolon_hides_the_value_and_is_no_part_of_a_word(tmp_path: Path) -> None:
    """magics18: IPython's trailing `;` (show no value) was read into the last word:
    "unknown service 'hello;'", "invalid int value: '3;'"."""
    from shells import orch_shell

    config = ("environments:\n  local: {layers: []}\naudit: {enabled: false}\n"
              "services:\n  hello: {command: 'echo hi'}\n")
    with orch_shell(config, tmp_path) as sh:
        result = sh.run_line_magic("orch", "local hello;")
        assert result.stdout == "hi\n"
        assert sh.run_line_magic("orch", "local hello --tail 3 ;").stdout == "hi\n"


def test_orch_cp_s_env_path_typed_into_get_or_put_is_said(tmp_path: Path) -> None:
    """config18: `%orch get local local:/etc/hostname` went looking for a remote path named
    `local:/etc/hostname` ("no such file or directory"), `put` for a folder `local:/tmp`."""
    from IPython.core.error import UsageError

    from shells import orch_shell

    with orch_shell("environments:\n  local: {layers: []}\naudit: {enabled: false}\n",
                    tmp_path) as sh:
        for line in ("get local local:/etc/hostname ./got", "put local /etc/hostname local:/tmp/x",
                     "get local:/etc/hostname ./got"):
            with pytest.raises(UsageError, match="PATH is orch cp's form in a terminal"):
                sh.run_line_magic("orch", line)
        # review35: orch cp's upload form, and a get with no LOCAL, got "REMOTE is required"
        for line, said in (("put /etc/hostname local:/tmp/x", "%orch put local /etc/hostname "
                                                              "/tmp/x"),
                           ("get local:/etc/hostname", "%orch get local /etc/hostname"),
                           ("put './a b' local:/tmp/x --limit w1", "%orch put local './a b' /tmp/x")):
            with pytest.raises(UsageError, match="PATH is orch cp's form") as err:
                sh.run_line_magic("orch", line)
            assert f"a word of its own: {said} (local:PATH" in str(err.value), str(err.value)
    assert not (tmp_path / "got").exists()
