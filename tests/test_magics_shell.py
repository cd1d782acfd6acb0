"""The magics through a real IPython InteractiveShell (no kernel: every run blocks)."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator

import pytest
from IPython.core.completer import provisionalcompleter
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from orch_magics import LiveRun, RunResult
from orch_magics.magics import Orch, OrchMagics
from orch_magics.magics.settings import SettingRefused
from shells import orch_shell

CONFIG = textwrap.dedent("""
    environments:
      local: {layers: []}
      marked:
        layers:
          - {type: local, config: {environment: {MARK: from-layer}}}
      ps:  # named like a subcommand (config tester: it loaded, and no run could reach it)
        layers:
          - {type: local, config: {environment: {WHO: ps-env}}}
    services:
      upper:
        command: while IFS= read -r l; do printf '%s\\n' "$l" | tr a-z A-Z; done
        stdin_mode: streaming
      hello:
        command: echo "hello $WHO"; echo "to stderr" >&2
        environment: {WHO: world}
      many:
        command: seq 1 5000
      fail:
        command: echo "about to fail" >&2; exit 3
      quiet:
        command: echo secret-ish
        stdout_mode: capture
      sleepy:
        command: sleep 30
      counter:
        command: for i in 1 2 3; do echo "tick $i"; sleep 0.2; done
""")


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InteractiveShell]:
    with orch_shell(CONFIG, tmp_path_factory.mktemp("cfg")) as sh:
        yield sh


def magics(shell: InteractiveShell) -> OrchMagics:
    return next(m for m in shell.magics_manager.registry.values() if isinstance(m, OrchMagics))


def test_cell_body_is_stdin_and_out_holds_result(shell, capsys):
    assert shell.run_cell_magic("orch", "local upper --out r", "one\ntwo\n") is None
    out = capsys.readouterr().out
    assert "ONE\nTWO\n" in out and "exit 0" in out
    assert " · stdin 8 B" in out  # browser6: the status counted the box's lines only
    r = shell.user_ns["r"]
    assert isinstance(r, RunResult) and r.lines == ["ONE", "TWO"]
    assert shell.user_ns["_"] is r


def test_line_form_returns_result_and_separates_streams(shell, capsys):
    r = shell.run_line_magic("orch", "local hello")
    captured = capsys.readouterr()
    assert r.stdout == "hello world\n" and r.stderr == "to stderr\n"
    assert "hello world" in captured.out and "to stderr" in captured.err
    assert "to stderr" not in captured.out.split("[")[0]


def test_script_cell_runs_in_the_environment_with_env_option(shell, capsys):
    shell.run_cell_magic("orch", "marked -e EXTRA=x1 --out s", 'echo "$MARK $EXTRA"\n')
    assert shell.user_ns["s"].stdout == "from-layer x1\n"
    assert "local → " in capsys.readouterr().out  # layers in the status line


def test_failure_raises_run_error_without_traceback(shell, capsys):
    result = shell.run_cell("%orch local fail --out f")
    assert result.error_in_exec is not None
    assert type(result.error_in_exec).__name__ == "RunError"
    err = capsys.readouterr()
    text = err.out + err.err
    assert "RunError: local/fail failed (exit 3): about to fail" in text
    assert "Traceback" not in text
    assert shell.user_ns["f"].returncode == 3



def test_an_error_of_ours_from_python_in_a_cell_is_one_line(shell, capsys):
    """A stale handle's method (the run has ended) showed a 15-line traceback into the
    library (held-out tester magics2); every error of ours reads as `Type: message`."""
    shell.run_cell("from orch_magics import Orchestrator, load_config_text\n"
                   "o = Orchestrator(load_config_text('environments: {here: {layers: []}}'))\n"
                   "h = o.spawn('here', command='true')\n"
                   "h.wait()")
    capsys.readouterr()
    result = shell.run_cell("h.send_line('late')")
    shell.run_cell("o.close()")
    assert type(result.error_in_exec).__name__ == "OrchError"
    err = capsys.readouterr()
    text = err.out + err.err
    assert "OrchError: (command) in here has ended: its stdin is gone" in text, text
    assert "Traceback" not in text and "live.py" not in text, text


def test_timeout_stops_the_run(shell, capsys):
    result = shell.run_cell("%orch local sleepy --timeout 0.5 --out t")
    assert type(result.error_in_exec).__name__ == "RunTimeout"
    assert shell.user_ns["t"].timed_out


def test_the_default_timeout_bounds_what_a_cell_waits_for_not_a_bg_run(shell, capsys):
    """notebook5: `%config Orch.timeout` killed a --bg run after its seconds, and not a
    `%orch start` one: both go on; a blocking run is bounded by it."""
    shell.run_line_magic("config", "Orch.timeout = 0.5")
    try:
        bg = shell.run_line_magic("orch", "local sleepy --bg --name default-timeout")
        result = shell.run_cell("%orch local sleepy --out capped")
        assert type(result.error_in_exec).__name__ == "RunTimeout"
        assert not bg.done and bg.state == "running"
    finally:
        shell.run_line_magic("config", "Orch.timeout = None")
        shell.run_line_magic("orch", "stop default-timeout")
        magics(shell).orchestrator.runs.forget("default-timeout")  # the module's ps stays empty


def test_tail_is_bounded_but_result_is_whole(shell, capsys):
    m = shell.run_line_magic("orch", "local many --tail 3")
    assert len(m.lines) == 5000 and m.lines[-1] == "5000"
    # no front end: a head and a tail are written to the cell, the result keeps everything
    out = capsys.readouterr().out.splitlines()
    assert out[:500] == [str(i) for i in range(1, 501)]
    assert out[501:1001] == [str(i) for i in range(4501, 5001)]
    assert out[500].startswith("… 4000 lines / ") and "elided" in out[500]
    assert "RunResult" in out[500]  # where the rest is


def test_capture_mode_shows_no_stdout(shell, capsys):
    r = shell.run_line_magic("orch", "local quiet")
    out = capsys.readouterr().out
    assert r.stdout == "secret-ish\n"
    assert "secret-ish" not in out and "captured" in out


def test_variable_expansion(shell, capsys):
    shell.user_ns["svc"] = "hello"
    shell.run_cell("%orch local {svc} --out v")
    assert shell.user_ns["v"].stdout == "hello world\n"


def test_a_placeholder_on_the_magic_line_survives_variable_expansion(shell, capsys,
                                                                    monkeypatch):
    """IPython's `{var}` expansion turns `{{` into `{`: `-e T={{secret:tok}}` set T to the
    text `{secret:tok}`; the magic reads it as the placeholder it was written as."""
    monkeypatch.setenv("ORCH_SECRET_TOK", "s3cr3t-value")
    shell.user_ns["who"] = "you"
    shell.run_cell('%%orch local -e T={{secret:tok}} -e W={who} -e E={{env:HOME}} --out p\n'
                   'test "$T" = s3cr3t-value && echo "ok $W $E"')
    assert shell.user_ns["p"].stdout == f"ok you {os.environ['HOME']}\n"
    assert "s3cr3t-value" not in capsys.readouterr().out


@pytest.mark.parametrize(("written", "meant"), [
    ("{{secrt:tok}}", "secret"), ("{{Secret:tok}}", "secret"), ("{{secrets:tok}}", "secret"),
    ("{{envv:HOME}}", "env")])
def test_a_misspelt_placeholder_kind_on_the_magic_line_is_refused(shell, capsys, written,
                                                                  meant):
    """config15: IPython's expansion halved `{{secrt:tok}}` to `{secrt:tok}`, which only the
    kinds' exact names were restored from: the run went with that literal text as its token,
    where the CLI and the config refuse the value with a did-you-mean."""
    shell.run_cell(f"%orch local hello -e T={written} --out never_set")
    captured = capsys.readouterr()
    assert f"did you mean {{{{{meant}:…}}}}?" in captured.err, captured
    assert "never_set" not in shell.user_ns
    shell.run_cell("%%orch local -e T={{a:b}} --out q\necho \"$T\"")  # no kind: text, as ever
    assert shell.user_ns["q"].stdout == "{a:b}\n"
    # review28: a format (`{sec:02d}` is near `secret`) is no misspelt placeholder either
    shell.run_cell("%%orch local -e 'F={min:02d}:{sec:02d}' --out f\necho \"$F\"")
    assert shell.user_ns["f"].stdout == "{min:02d}:{sec:02d}\n"


def test_dry_run_runs_nothing(shell, capsys):
    assert shell.run_line_magic("orch", "marked hello --dry-run") is None
    out = capsys.readouterr().out
    assert "environment: marked" in out and 'echo "hello $WHO"' in out
    assert "blocks until the run ends" in out
    # without a front end, --bg starts a named run (config tester: it said "blocks")
    assert shell.run_line_magic("orch", "marked hello --bg --dry-run") is None
    out = capsys.readouterr().out
    assert "in this cell: starts a named run in the background (its output: %orch logs NAME)" \
        in out and "blocks" not in out


def test_dry_run_reads_no_secret(shell, capsys):
    """frontends finding #3: a dry run asked the providers, and refused to show the plan of a
    secret this machine lacks."""
    shell.run_cell("%orch local hello -e PW={{secret:not_set_here}} --dry-run")
    captured = capsys.readouterr()
    assert "env:         PW={{secret:not_set_here}}" in captured.out
    assert "not available" not in captured.out + captured.err


@pytest.mark.parametrize("line, message", [
    ("nowhere hello", "unknown environment 'nowhere'"),
    ("local helo", "did you mean 'hello'"),
    ("local", "needs a SERVICE"),
    ("hello", "'hello' is a service: name the environment first"),  # said 'needs a SERVICE'
    ("nowhere", "unknown environment 'nowhere'"),
    ("local hello --tail x", "invalid int value"),
    ("local hello -e NOEQUALS", "KEY=VALUE"),
    ("local hello --bg --name 'bad name'", "run name 'bad name': use letters"),  # was ignored
    ("local hello --timeout -1", "timeout must be a positive number of seconds"),
    ("local upper --stdin --no-stdin", "not allowed with argument --stdin"),  # was taken
    ("local hello --name ../up", "run name '../up': use letters"),
    ("local hello --out 1x", "variable name"),
    ("local hello --out if", "variable name"),
    # notebook5: `--out get_ipython` broke every later %orch line, `--out In` the history
    ("local hello --out get_ipython", "^--out get_ipython would hide IPython's get_ipython, "
                                      "which later cells need: pick another name$"),
    ("local hello --out Out", "would hide IPython's Out"),
    ("local hello --out _i3", "would hide IPython's _i3"),
    ("local hello --out _", "would hide IPython's _"),
    ("local hello --out print", r"^--out print would hide the builtin print\(\): pick "),
    ("local hello --out __builtins__", "would hide IPython's __builtins__"),  # review14
    # notebook6: Python reads `ｕ` (fullwidth) as `u`: the handle was out of reach
    ("local hello --out \uff55", "^--out \uff55 is read by Python as u \\(it folds such "
                                  "letters\\): write --out u$"),
    ("logs nothing-here", "no run named"),
    ("lcoal hello", "did you mean 'local'"),  # the environment, not the subcommand `load`
])
def test_user_mistakes_are_usage_errors(shell, line, message, capsys):
    with pytest.raises(UsageError, match=message):
        shell.run_line_magic("orch", line)
    assert capsys.readouterr().out == ""  # no status line of a run that never started


@pytest.mark.parametrize("body", ["\n", "   \n\t\n"])  # "": IPython says it first
def test_an_empty_cell_says_so(shell, body):
    with pytest.raises(UsageError, match=r"the cell is empty: write the script to run below "
                                         r"%%orch local, or name a SERVICE"):
        shell.run_cell_magic("orch", "local", body)


def test_config_traitlet(shell, capsys):
    shell.run_line_magic("config", "Orch.tail = 7")
    settings = next(c for c in shell.configurables if isinstance(c, Orch))
    assert settings.tail == 7
    shell.run_line_magic("config", "Orch.tail = 40")


def test_a_bad_setting_assigned_in_python_is_refused_in_one_line(shell, capsys):
    """Set in Python (or ipython_config.py) rather than with %config: the same check, and
    IPython shows it as one line."""
    settings = next(c for c in shell.configurables if isinstance(c, Orch))
    with pytest.raises(SettingRefused, match=r"^Orch\.tail needs a number of lines >= 0, not -1$"):
        settings.tail = -1
    shell.user_ns["orch_settings"] = settings
    shell.run_cell("orch_settings.headless_bytes = 0")
    said = capsys.readouterr()
    assert (said.out + said.err).strip() == ("SettingRefused: Orch.headless_bytes needs a number "
                                             "of bytes > 0, or None (no limit), not 0")
    assert (settings.tail, settings.headless_bytes) == (40, 256 * 1024)


def test_listing_subcommands(shell, capsys):
    shell.run_line_magic("orch", "envs")
    shell.run_line_magic("orch", "services")
    shell.run_line_magic("orch", "ps")
    out = capsys.readouterr().out
    assert "marked" in out and "local → " in out and "upper" in out and "streaming" in out
    assert "no named runs" in out


def test_listings_show_a_configs_control_characters_escaped(shell, tmp_path, capsys):
    """Before: `%orch envs` / `services` printed a description's terminal sequences raw (in
    IPython in a terminal, ESC[2K clears the line), as `orch ls` did before it was fixed."""
    config = ('environments:\n  local: {description: "Local \\e[2Khidden\\a", layers: []}\n'
              'services:\n  s: {command: "echo", description: "\\e]0;title\\a"}\n')
    (tmp_path / "marked.yaml").write_text(config)
    (tmp_path / "orch.yaml").write_text(CONFIG)
    try:
        shell.run_line_magic("orch", f"load {tmp_path / 'marked.yaml'}")
        shell.run_line_magic("orch", "envs")
        shell.run_line_magic("orch", "services")
    finally:  # the module's own config back, for the tests after this one
        shell.run_line_magic("orch", f"load {tmp_path / 'orch.yaml'}")
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\a" not in out, out
    assert "Local \\x1b[2Khidden\\x07" in out and "\\x1b]0;title\\x07" in out, out


def test_named_runs_ps_logs_stop(shell, capsys):
    orch = magics(shell).orchestrator
    live = orch.start("local", "sleepy", name="napper")
    assert isinstance(live, LiveRun)
    shell.run_line_magic("orch", "ps")
    assert "napper" in capsys.readouterr().out
    result = shell.run_line_magic("orch", "stop napper")
    assert result.interrupted


def test_start_then_follow_logs_then_stop(shell, capsys):
    live = shell.run_line_magic("orch", "start local counter --name c1")
    assert isinstance(live, LiveRun) and live.name == "c1"
    assert "started c1 (local/counter)" in capsys.readouterr().out
    shell.run_line_magic("orch", "logs c1 --follow")  # returns when the run is over
    assert capsys.readouterr().out.splitlines() == [
        "orch: c1: start local/counter (attempt 1)", "tick 1", "tick 2", "tick 3", "orch: c1: exit 0"]
    shell.run_line_magic("orch", "ps")
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("c1 "))
    assert "counter" in row and "exit 0" in row
    sleeper = shell.run_line_magic("orch", "start local sleepy")
    assert sleeper.name == "sleepy" and not sleeper.done
    assert shell.run_line_magic("orch", "stop sleepy").interrupted
    with pytest.raises(UsageError, match="usage: %orch start ENV SERVICE"):
        shell.run_line_magic("orch", "start local")
    with pytest.raises(UsageError, match="did you mean 'counter'"):
        shell.run_line_magic("orch", "start local countr")


def test_start_takes_a_timeout(shell, capsys):
    """fleets18: `%orch start … --timeout 30` was an unknown option, though `--bg --timeout`
    and `orch.start(timeout=)` take it (a fleet's per-target limit above all)."""
    live = shell.run_line_magic("orch", "start local sleepy --name timed --timeout 0.5")
    result = live.wait(30)
    assert result.timed_out and "limit 0.5s" in result.describe_failure(), result


def test_trailing_comment_on_the_magic_line(shell, capsys):
    r = shell.run_line_magic("orch", "local hello --no-raise-error   # says hello")
    assert r.stdout == "hello world\n"
    r = shell.run_line_magic("orch", "local hello -e WHO=#1  # comment")
    assert r.stdout == "hello #1\n"
    shell.run_line_magic("orch", "envs  # list them")
    assert "marked" in capsys.readouterr().out


def test_tab_completion(shell):
    with provisionalcompleter():
        envs = [c.text for c in shell.Completer.completions("%orch mar", 9)]
        services = [c.text for c in shell.Completer.completions("%orch local hel", 15)]
        cell = [c.text for c in shell.Completer.completions("%%orch local up", 15)]
    assert "marked" in envs and "hello" in services and "upper" in cell
    assert "--no-raise-error" in magics(shell).completions("%orch local hello --no-r")



def test_tab_completion_offers_orch_words_on_every_orch_line(shell):
    """`--yes p` and `--env p` offered `%page`, `%pdb`…, and `r = %orch local t` offered
    `%tb`, `%time`: no environment or service names (tester)."""
    def texts(line: str) -> list[str]:
        with provisionalcompleter():
            return [c.text for c in shell.Completer.completions(line, len(line))]

    assert texts("%orch local hello --yes ma") == ["marked"]
    assert texts("%orch history --env ma") == ["marked"]
    # browser10: on a run line --env is -e KEY=VAL; an environment taken from there was
    # "-e expects KEY=VALUE". No orch word is offered (IPython's matchers may answer).
    for line in ("%orch local hello --env ma", "%%orch local --env ma"):
        assert "marked" not in texts(line) and "local" not in texts(line)
    assert texts("r = %orch local hel") == ["hello"]
    assert texts("r.x = %orch mar") == ["marked"]
    assert "start" in texts("x = %orch sta")
    for sub in ("get", "put", "forward"):  # offered `%load`, `%load_ext`… (magics2 tester)
        assert texts(f"%orch {sub} loc") == ["local"]


def test_unload_and_reload(shell, capsys, tmp_path):
    """Unloading stops what the magics started: a reload gets a new Orchestrator, so a run
    left going could no longer be reached by name (ps, stop), yet ran until the kernel ended.
    It says so (notebooks tester: `%reload_ext` ended a --bg run without a word)."""
    live = shell.run_line_magic("orch", "start local sleepy --name before-unload")
    assert live.state in ("starting", "running")
    capsys.readouterr()
    shell.run_line_magic("unload_ext", "orch_magics")
    assert "orch" not in shell.magics_manager.magics["line"]
    assert live.done and live.result().interrupted
    assert capsys.readouterr().out == (
        "orch_magics unloaded: stopped 1 named run(s) (before-unload); the next %load_ext "
        "starts afresh (%orch load the config again)\n")
    shell.run_line_magic("load_ext", "orch_magics")
    assert "orch" in shell.magics_manager.magics["cell"]
    shell.run_line_magic("unload_ext", "orch_magics")  # nothing going: nothing to say
    shell.run_line_magic("load_ext", "orch_magics")
    assert capsys.readouterr().out == ""
    # magics15: a cell's blocking run, from another thread, was stopped without a word
    import threading

    ended: list[BaseException] = []

    def blocking() -> None:
        try:
            shell.run_line_magic("orch", "local sleepy")
        except BaseException as exc:  # noqa: BLE001 - what the thread's run ended with
            ended.append(exc)

    import time

    (tmp_path / "orch.yaml").write_text(CONFIG)
    shell.run_line_magic("orch", f"load {tmp_path / 'orch.yaml'}")
    worker = threading.Thread(target=blocking)
    worker.start()
    time.sleep(1.0)  # a local `sleep` has started by then
    capsys.readouterr()
    shell.run_line_magic("unload_ext", "orch_magics")
    worker.join(30)
    said = capsys.readouterr()
    assert "stopped 1 run(s) of a cell (sleepy)" in said.out, (said, ended)
    shell.run_line_magic("load_ext", "orch_magics")




def test_an_environment_named_like_a_subcommand_runs_where_the_subcommand_cannot(
        shell, capsys, tmp_path):
    """`%orch ps hello` said "%orch ps: unexpected argument 'hello'" with `ps:` loaded."""
    (tmp_path / "orch.yaml").write_text(CONFIG)  # the module's (a test may load another)
    shell.run_line_magic("orch", f"load {tmp_path / 'orch.yaml'}")
    result = shell.run_line_magic("orch", "ps quiet")
    assert result.stdout == "secret-ish\n" and result.environment == "ps"
    capsys.readouterr()
    shell.run_line_magic("orch", "ps")  # alone: still the list of named runs
    assert "secret-ish" not in capsys.readouterr().out
    with pytest.raises(UsageError, match="unexpected argument"):  # no such environment
        shell.run_line_magic("orch", "logs a b")



def test_a_cells_status_line_masks_the_script_before_cutting_it(shell, capsys,
                                                                  no_known_secrets):
    """safety21: the status line cut the script's first line to 40 characters, then masked
    it: a known secret the cut fell inside showed its first 20 characters."""
    from orch_magics.secrets import register

    secret = "Tok3nSecretValue1234567890abcdef"
    register(secret)
    shell.run_cell_magic("orch", "local", f'export H="Bearer {secret}"; true\n')
    out = capsys.readouterr().out
    assert "exit 0" in out and 'export H="Bearer ****"' in out, out
    assert secret[:8] not in out, out


def test_an_interrupt_as_a_blocking_run_ends_is_one_line_and_out_holds_this_run(
        shell, capsys, monkeypatch):
    """magics21: a kernel interrupt that landed just as the run ended (in the view's last
    flush, 2 in 60 tries under nbclient) was a 40-line traceback, and `--out r` still held
    the run before. The interrupt is provoked in that flush: the race is too narrow to aim."""
    from orch_magics import RunInterrupted
    from orch_magics.magics import presenters

    shell.run_line_magic("orch", "local hello --out r")
    first = shell.user_ns["r"]

    def interrupted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt
    for kind in (presenters.LivePresenter, presenters.HeadlessPresenter):
        monkeypatch.setattr(kind, "finish", interrupted)
    with pytest.raises(RunInterrupted) as err:
        shell.run_line_magic("orch", "local hello --out r")
    assert shell.user_ns["r"] is not first and shell.user_ns["r"].stdout == "hello world\n"
    assert err.value._render_traceback_() == [f"RunInterrupted: {err.value}"]


def test_unload_names_a_run_waiting_to_restart(shell, capsys, tmp_path):
    """magics21: a named run in its restart back-off (`ps`: restarting) was stopped by
    `%unload_ext` without a word: its row carried its last attempt's exit."""
    import time

    cfg = tmp_path / "flap.yaml"
    cfg.write_text("environments: {local: []}\naudit: {enabled: false}\nservices:\n"
                   "  flap: {command: 'exit 1', restart: always, max_restarts: 100}\n")
    shell.run_line_magic("orch", f"load {cfg}")
    shell.run_line_magic("orch", "start local flap --name flapper")
    orch = magics(shell).orchestrator
    deadline = time.monotonic() + 20
    while orch.ps()[-1].state != "restarting":
        assert time.monotonic() < deadline, orch.ps()
        time.sleep(0.02)
    capsys.readouterr()
    shell.run_line_magic("unload_ext", "orch_magics")
    shell.run_line_magic("load_ext", "orch_magics")
    assert capsys.readouterr().out.startswith(
        "orch_magics unloaded: stopped 1 named run(s) (flapper);")
