"""What the Python API is handed is checked before anything starts, in one line."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest

from orch_magics import (
    ConfigError,
    OrchError,
    Orchestrator,
    StillRunning,
    load_config,
    load_config_text,
)

CONFIG = """\
environments:
  local: {layers: []}
  prod: {protected: true, layers: []}
services:
  mark: {command: touch marker}
"""


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "orch.yaml"
    path.write_text(CONFIG)
    return path


def _audit() -> Path:
    return Path(os.environ["XDG_STATE_HOME"]) / "orch_magics" / "audit.jsonl"


def test_orchestrator_takes_a_config_files_path(cfg: Path, tmp_path: Path) -> None:
    """Before: `Orchestrator("orch.yaml").run(…)` → AttributeError: 'str' … 'secrets'."""
    for given in (str(cfg), cfg):
        with Orchestrator(given) as orch:
            assert orch.run("local", command=["echo", "hi"]).stdout == "hi\n"
    with pytest.raises(ConfigError, match="config file not found"):
        Orchestrator(str(tmp_path / "nope.yaml"))


@pytest.mark.parametrize("given", [{"environments": {}}, 5, ["orch.yaml"], b"orch.yaml"],
                         ids=["dict", "int", "list", "bytes"])
def test_orchestrator_refuses_anything_else_at_once(given: object) -> None:
    """Before: a dict failed at the first run with AttributeError; an int was accepted."""
    with pytest.raises(ConfigError) as err:
        Orchestrator(given)  # type: ignore[arg-type]
    text = str(err.value)
    assert "\n" not in text and "Orchestrator(load_config('orch.yaml'))" in text
    assert text.endswith(f"not {type(given).__name__}")


@pytest.mark.parametrize("given", [5, ["a.yaml"], ("a.yaml", "b.yaml"), None, b"a.yaml"],
                         ids=["int", "list", "tuple", "none", "bytes"])
def test_load_config_refuses_what_is_not_a_path(given: object, cfg: Path) -> None:
    """Before: TypeError: expected str, bytes or os.PathLike object, not list. The
    Orchestrator's `load` says its own call too (config13: it named load_config only)."""
    with pytest.raises(ConfigError) as err:
        load_config(given)  # type: ignore[arg-type]
    assert "\n" not in str(err.value) and "load_config('a.yaml', 'b.yaml')" in str(err.value)
    with Orchestrator(cfg) as orch, pytest.raises(ConfigError) as err:
        orch.load(given)  # type: ignore[arg-type]
    assert "orch.load('a.yaml', 'b.yaml')" in str(err.value)


BAD_STDIN = [5, 3.5, object(), True]


@pytest.mark.parametrize("stdin", BAD_STDIN, ids=["int", "float", "object", "bool"])
@pytest.mark.parametrize("how", ["run", "spawn", "start", "arun"])
@pytest.mark.parametrize("env", ["local", "prod"])
def test_a_stdin_of_the_wrong_type_is_refused_before_anything_starts(
        cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stdin: object, how: str,
        env: str) -> None:
    """Before: the command started (and was audited), then was killed: 'killed by SIGINT'.
    In a protected environment the mistake is said before anyone is asked."""
    monkeypatch.chdir(tmp_path)
    with Orchestrator(load_config(cfg)) as orch:
        call = getattr(orch, how)
        with pytest.raises(ConfigError) as err:
            if how == "arun":
                asyncio.run(call(env, "mark", stdin=stdin))
            else:
                call(env, "mark", stdin=stdin)
    assert str(err.value) == (f"stdin takes str, bytes, a binary file, or an iterable or "
                              f"async iterable of bytes/str, not {type(stdin).__name__}")
    assert not (tmp_path / "marker").exists()
    assert not _audit().exists()


def _closed_file(tmp_path: Path) -> object:
    f = open(tmp_path / "in", "wb")  # noqa: SIM115 - closed on purpose
    f.close()
    return f


@pytest.mark.parametrize(("make", "message"), [
    (_closed_file, r"stdin: the file '.*in' is closed or not open for reading"),
    (lambda tmp_path: open(tmp_path / "w", "wb"),  # noqa: SIM115
     r"stdin: the file '.*w' is closed or not open for reading"),
    (lambda tmp_path: "a\ud800b", r"stdin text holds '\\ud800' at 1, a surrogate that stands "
                                   r"for no byte: send bytes instead"),
], ids=["closed", "write-only", "surrogate"])
def test_a_stdin_that_cannot_be_read_or_sent_is_refused_before_anything_starts(
        cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make, message: str
) -> None:  # type: ignore[no-untyped-def]
    """api tester: a closed file, or text no bytes stand for, started the command, was
    audited, then killed it ('killed by SIGINT', the cause only in `.error`)."""
    monkeypatch.chdir(tmp_path)
    with Orchestrator(load_config(cfg)) as orch, pytest.raises(ConfigError, match=message):
        orch.run("local", "mark", stdin=make(tmp_path))
    assert not (tmp_path / "marker").exists() and not _audit().exists()


def test_a_byte_that_is_no_utf8_in_stdin_text_is_sent_as_that_byte(cfg: Path) -> None:
    """`os.fsdecode` and `errors="surrogateescape"` keep such a byte as a lone surrogate: it
    is sent as the byte (as in a command or a variable), by run() and by LiveRun.send."""
    with Orchestrator(load_config(cfg)) as orch:
        assert orch.run("local", command="cat", stdin="a\udcffb").stdout_bytes == b"a\xffb"
        live = orch.spawn("local", command="cat", close_stdin=False)
        live.send("c\udcfe")
        with pytest.raises(ValueError, match="a surrogate that stands for no byte"):
            live.send("\ud800")
        live.close_stdin()
        assert live.wait().stdout_bytes == b"c\xfe"


@pytest.mark.parametrize("stdin", [b"x", "x", [b"a", "b"], iter([b"x"]), None],
                         ids=["bytes", "str", "list", "iterator", "none"])
def test_the_accepted_stdin_types_still_run(cfg: Path, stdin: object) -> None:
    with Orchestrator(load_config(cfg)) as orch:
        result = orch.run("local", command="cat", stdin=stdin)
    assert result.ok and result.stdout in ("", "x", "ab")


@pytest.mark.parametrize(("call", "message"), [
    (lambda o: o.run(o.plan("local", "mark", dry_run=True)),
     "the environment must be a name (str), not RunPlan: a plan from plan() runs as "
     "spawn(ENV, plan=PLAN) or arun(ENV, plan=PLAN)"),
    (lambda o: o.run("local", ["touch", "x"]), "the service must be a name (str), not list"),
    (lambda o: o.spawn(["local"], "mark"), "the environment must be a name (str), not list"),
    (lambda o: o.config.service({}), "the service must be a name (str), not dict"),
], ids=["plan", "argv-as-service", "list-env", "dict-service"])
def test_a_name_that_is_no_str_is_said(cfg: Path, call: Callable[[Orchestrator], object],
                                       message: str) -> None:
    """cliapi finding #8: `orch.run(orch.plan(…))` → TypeError: unhashable type:
    'mappingproxy'."""
    with Orchestrator(cfg) as orch, pytest.raises(ConfigError) as err:
        call(orch)
    assert str(err.value) == message
    assert not (cfg.parent / "marker").exists()


@pytest.mark.parametrize(("sinks", "message"), [
    ([print], "sinks: <built-in function print> is no sink: a sink has feed(event) and close()"),
    (5, "sinks must be a list of sinks, not int"),
    ("display", "sinks must be a list of sinks, not str"),
], ids=["callback", "int", "str"])
@pytest.mark.parametrize("how", ["run", "spawn", "start", "arun"])
def test_sinks_that_are_no_sinks_are_refused_before_anything_starts(
        cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sinks: object, message: str,
        how: str) -> None:
    """`sinks=[print]` ran the command, then failed on its first line with an AttributeError
    from the engine, its output lost; `sinks=5` was a TypeError (held-out tester)."""
    monkeypatch.chdir(tmp_path)
    with Orchestrator(load_config(cfg)) as orch:
        call = getattr(orch, how)
        with pytest.raises(ConfigError) as err:
            if how == "arun":
                asyncio.run(call("local", "mark", sinks=sinks))
            else:
                call("local", "mark", sinks=sinks)
    assert str(err.value).startswith(message)
    assert not (tmp_path / "marker").exists()


@pytest.mark.parametrize("how", ["run", "spawn", "start", "arun"])
def test_a_fleets_sink_factory_on_one_target_is_refused_before_the_question(
        cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """A callable label → sinks is a fleet's; on a protected one-target environment `arun`
    and `start` asked (here: refused unconfirmed) first and named the sinks only after."""
    monkeypatch.chdir(tmp_path)
    with Orchestrator(load_config(cfg)) as orch:
        call = getattr(orch, how)
        with pytest.raises(ConfigError) as err:
            if how == "arun":
                asyncio.run(call("prod", "mark", sinks=lambda label: ()))
            else:
                call("prod", "mark", sinks=lambda label: ())
    assert str(err.value) == ("sinks must be a list of sinks, not function (a callable "
                              "label → sinks is for a fleet environment)")
    assert not (tmp_path / "marker").exists() and not _audit().exists()


@pytest.mark.parametrize("how", ["run", "spawn", "start", "arun"])
def test_sinks_given_as_an_iterator_or_none_still_work(cfg: Path, how: str) -> None:
    """The check must not use up what it checks: a generator of sinks was read by it and
    the run fed nothing (review); None is no sinks, as it was."""

    class Count:
        events = 0

        def feed(self, event: object) -> None:
            self.events += 1

        def close(self) -> None:
            pass

    with Orchestrator(cfg) as orch:
        for given in (lambda c: iter([c]), lambda c: (s for s in [c]), lambda c: None):
            count = Count()
            call = getattr(orch, how)
            kw = {"command": "echo hi", "sinks": given(count)}
            if how == "arun":
                res = asyncio.run(call("local", **kw))
            else:
                res = call("local", **kw)
                res = res if how == "run" else res.wait(30)
            assert res.ok and res.stdout == "hi\n"
            assert count.events >= (0 if given(count) is None else 2)


def test_a_sink_that_raises_loses_the_run_nothing(cfg: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """A caller's sink that raised part-way ended the run with its bare exception: the
    command was left half-way and the lines already captured were lost."""

    class Fragile:
        def __init__(self) -> None:
            self.seen: list[object] = []

        def feed(self, event: object) -> None:
            if len(self.seen) == 2:
                raise ValueError("sink bug")
            self.seen.append(event)

        def close(self) -> None:
            pass

    fragile, steady = Fragile(), Fragile()
    steady.feed = steady.seen.append  # type: ignore[method-assign]
    with Orchestrator(cfg) as orch:
        res = orch.run("local", command="for i in 1 2 3 4 5; do echo $i; sleep 0.05; done",
                       sinks=[fragile, steady])
    assert res.ok and res.stdout == "1\n2\n3\n4\n5\n"
    assert len(fragile.seen) == 2 and len(steady.seen) > 2  # the other sink got all of it
    assert "a sink of this run raised ValueError: sink bug" in caplog.text


def test_a_sink_that_raises_at_a_step_is_told_no_more_of_the_run(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Only feed() was guarded: a sink raising in step_started ended the run, and a sink
    that broke in one step was fed again by the next (review)."""

    class Marks:
        def __init__(self, bad: str) -> None:
            self.bad, self.seen = bad, []  # type: list[str]

        def feed(self, event: object) -> None:
            if self.bad == "feed" and self.seen:
                raise ValueError("feed bug")

        def close(self) -> None:
            pass

        def step_started(self, kind: str, label: str) -> None:
            self.seen.append(kind)
            if self.bad == "start" and kind == "main":
                raise ValueError("mark bug")

        def step_finished(self, kind: str, label: str, result: object) -> None:
            self.seen.append(f"/{kind}")

    path = tmp_path / "orch.yaml"
    path.write_text("environments: {local: {layers: []}}\nservices:\n  s:\n"
                    "    command: echo main\n    pre_commands: [{command: echo pre}]\n"
                    "    post_commands: [{command: echo post, when: always}]\n")
    with Orchestrator(path) as orch:
        start, feed = Marks("start"), Marks("feed")
        res = orch.run("local", "s", sinks=[start, feed])
    assert res.ok and res.stdout == "main\n" and [s.stdout for s in res.steps] == ["pre\n",
                                                                                   "post\n"]
    assert start.seen == ["pre", "/pre", "main"]  # raised there: nothing after
    assert feed.seen == ["pre", "/pre", "main"]  # its first line raised: no step after
    assert caplog.text.count("a sink of this run raised") == 2


def test_a_sink_whose_close_raises_is_named_and_the_others_still_close(
        cfg: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A sink's close() that raised (a file it could not rename) vanished without a word,
    while one whose feed raised was named (review8)."""

    class Closing:
        def __init__(self, bad: bool) -> None:
            self.bad, self.closed = bad, False

        def feed(self, event: object) -> None:
            pass

        def close(self) -> None:
            self.closed = True
            if self.bad:
                raise OSError("cannot rename out.part")

    bad, good = Closing(True), Closing(False)
    with Orchestrator(cfg) as orch:
        res = orch.run("local", command="echo hi", sinks=[bad, good])
    assert res.ok and res.stdout == "hi\n" and bad.closed and good.closed
    assert "a sink of this run raised OSError on close: cannot rename out.part" in caplog.text


@pytest.mark.parametrize("call", ["logs", "status", "stop", "restart"])
def test_a_run_name_that_is_no_str_is_said(cfg: Path, call: str) -> None:
    """`logs(5)` with named runs present was an AttributeError from the did-you-mean."""
    with Orchestrator(cfg) as orch:
        orch.start("local", command="echo one", name="one").wait(timeout=30)
        with pytest.raises(ConfigError, match=r"^a run's name is a str, not int 5$"):
            getattr(orch, call)(5)


@pytest.mark.parametrize("tail", ["2", 2.5, -1, True])
def test_logs_refuses_a_tail_that_is_no_count(cfg: Path, tail: object) -> None:
    """cliapi finding #8: `logs(name, tail="2")` → TypeError: '>=' not supported …;
    `tail=2.5` → slice indices must be integers; `tail=-1` → '' (meant nothing)."""
    with Orchestrator(cfg) as orch:
        orch.start("local", command="echo one; echo two", name="two").wait(timeout=30)
        assert orch.logs("two", 3).startswith("one\ntwo") and orch.logs("two", 0) == ""
        for follow in (False, True):
            with pytest.raises(ConfigError) as err:
                orch.logs("two", tail, follow=follow)  # type: ignore[arg-type]
            assert str(err.value) == (f"tail must be a whole number of lines, 0 or more "
                                      f"(None: all of them), got {tail!r}")


def test_a_wait_that_times_out_says_what_and_after_how_long(cfg: Path) -> None:
    """cliapi finding #8: `wait(timeout=0.2)` raised a TimeoutError with no message, and
    `wait(timeout="1")` Python's TypeError."""
    with Orchestrator(cfg) as orch:
        live = orch.spawn("local", command="sleep 30")
        with pytest.raises(TimeoutError) as err:
            live.wait(timeout=0.2)
        assert str(err.value) == ("run (command) in local is still running after waiting "
                                  "0.2 s (it was not stopped: wait again, or stop it)")
        # notebook4: a builtin TimeoutError showed a 25-line traceback in a notebook
        assert isinstance(err.value, StillRunning) and err.value._render_traceback_() == [
            f"StillRunning: {err.value}"]
        with pytest.raises(ConfigError, match=r"^timeout must be a number of seconds, 0 or "
                                              r"more \(at most 1e\+09; None: no limit\), "
                                              r"not '1'$"):
            live.wait(timeout="1")  # type: ignore[arg-type]
        # review35: a wait had a check of its own: 10**400 raised OverflowError, and a NumPy
        # integer (a DataFrame's) was "not a number" where a run's timeout takes it
        with pytest.raises(ConfigError, match=r"at most 1e\+09; None: no limit\), not 1000"):
            live.wait(timeout=10**400)
        with pytest.raises(StillRunning, match="after waiting 0.2 s"):
            live.wait(timeout=Fraction(1, 5))  # type: ignore[arg-type]
        assert not live.done
        live.interrupt()
        assert live.wait(timeout=30).signal is not None


def test_write_json_takes_a_path_or_any_open_file(cfg: Path, tmp_path: Path) -> None:
    """cliapi finding #8: `write_json("/tmp/x.json")` → AttributeError: 'str' object has no
    attribute 'write'; into a binary file → TypeError: a bytes-like object is required."""
    import io
    import json

    with Orchestrator(cfg) as orch:
        result = orch.run("local", command="echo hé")
    expected = result.json()
    for path in (tmp_path / "a.json", str(tmp_path / "b.json")):
        result.write_json(path)
        assert Path(path).read_text(encoding="utf-8") == expected
    binary = io.BytesIO()
    result.write_json(binary, ensure_ascii=False)
    assert json.loads(binary.getvalue().decode("utf-8"))["stdout"] == "hé\n"
    with open(tmp_path / "c.json", "wb") as f:
        result.write_json(f)
    assert (tmp_path / "c.json").read_text() == expected
    with pytest.raises(ConfigError, match=r"^write_json takes a file path or a file open for "
                                          r"writing, not int$"):
        result.write_json(3)  # type: ignore[arg-type]
    # api4: Python's IsADirectoryError, FileNotFoundError and io.UnsupportedOperation
    for target, said in ((tmp_path, f"cannot write '{tmp_path}': Is a directory"),
                         (tmp_path / "no" / "x.json", f"cannot write '{tmp_path}/no/x.json': "
                                                      f"No such file or directory")):
        with pytest.raises(ConfigError, match=f"^write_json {re.escape(said)}$"):
            result.write_json(target)
    with open(tmp_path / "a.json") as f, pytest.raises(
            ConfigError, match=r"not the file '.*a\.json', open for reading only$"):
        result.write_json(f)  # type: ignore[arg-type]
    assert (tmp_path / "a.json").read_text(encoding="utf-8") == expected
    # api5: a closed file, a full disk and option values json.dumps cannot use were
    # Python's ValueError, OSError and TypeError
    with pytest.raises(ConfigError, match=r"^write_json takes a file open for writing, not "
                                          r"the closed file '.*a\.json'$"):
        result.write_json(f)
    with pytest.raises(OrchError, match=r"^write_json could not write '/dev/full': No "
                                        r"space left on device$"):
        result.write_json("/dev/full")
    for options, said in (({"indent": float("nan")}, "json() cannot use indent=nan: "),
                          ({"separators": 5}, "json() cannot use separators=5: ")):
        with pytest.raises(ConfigError, match=f"^{re.escape(said)}"):
            result.json(**options)
        with pytest.raises(ConfigError, match=f"^write_{re.escape(said)}"):
            result.write_json(tmp_path / "d.json", **options)
    assert not (tmp_path / "d.json").exists()  # checked before the file was made


@pytest.mark.parametrize(("given", "said"), [
    ({"capture_limit": -1}, "capture_limit must be a whole number of bytes, at least 0, got -1"),
    ({"capture_limit": "x"}, "capture_limit must be a whole number of bytes"),
    ({"log_max_bytes": 0}, "log_max_bytes must be a whole number of bytes, at least 4096, "
                           "got 0"),
    ({"log_max_bytes": 1}, "at least 4096, got 1"),  # api6: a rotation every line stalled
    ({"restart_backoff": "x"}, "restart_backoff must be (first, longest) delays in seconds"),
    ({"restart_backoff": (5, 1)}, "0 <= first <= longest, got (5, 1)"),
    ({"restart_backoff": (float("nan"), 1)}, "restart_backoff must be"),
    ({"log_dir": 5}, "log_dir must be a folder's path, got int 5"),
])
def test_orchestrator_settings_are_checked_when_made(cfg: Path, given: dict[str, object],
                                                      said: str) -> None:
    """inputs #5: `Orchestrator(capture_limit=-1)` failed at the first named run with an
    IndexError inside a sink; a bad restart_backoff silently stopped restarts."""
    with pytest.raises(ConfigError, match=re.escape(said)):
        Orchestrator(str(cfg), **given)  # type: ignore[arg-type]


def test_a_relative_log_dir_is_where_it_was_when_the_orchestrator_was_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """runs5: `log_dir="logs"` (or ORCH_LOG_DIR) stayed relative: after a `%cd`, a rotation
    or the next attempt wrote elsewhere or failed, and `log_file` named the wrong place."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    monkeypatch.setenv("ORCH_LOG_DIR", "env-logs")
    for given, folder in (("logs", tmp_path / "a" / "logs"), (None, tmp_path / "a" / "env-logs")):
        with Orchestrator(load_config_text("environments:\n  local: []\n"),
                          log_dir=given) as orch:
            monkeypatch.chdir(tmp_path / "b")
            live = orch.start("local", command="echo hi", name="rel")
            live.wait(30)
            assert live.log_file == str(folder / "rel.log")
            assert "hi" in (folder / "rel.log").read_text()
            monkeypatch.chdir(tmp_path / "a")


@pytest.mark.parametrize("where", ["a-file", "a-file/below"])
def test_a_log_folder_that_cannot_be_made_stops_a_named_run_in_one_line(
        cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """inputs #4: ORCH_LOG_DIR naming a file gave FileExistsError / NotADirectoryError from
    os.makedirs; now an OrchError before anything starts."""
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("ORCH_LOG_DIR", str(tmp_path / where))
    monkeypatch.chdir(tmp_path)
    with Orchestrator(str(cfg)) as orch:
        with pytest.raises(OrchError, match=r"^not started: the named run's log .*mark\.log "
                                            r"cannot be written \((File exists|Not a directory)"
                                            r"\); give log_dir= or ORCH_LOG_DIR a folder"):
            orch.start("local", "mark")
        assert orch.ps() == [] and not (tmp_path / "marker").exists()


@pytest.mark.parametrize(("call", "said"), [
    (lambda o: o.run("local", servce="mark"), "run() takes no argument 'servce' (did you mean "
                                              "service=?)"),
    (lambda o: o.spawn("local", "mark", timout=3), "spawn() takes no argument 'timout' (did you "
                                                   "mean timeout=?)"),
    (lambda o: o.start("local", "mark", paralel=2), "start() takes no argument 'paralel' (did "
                                                    "you mean parallel=?)"),
    (lambda o: asyncio.run(o.arun("local", "mark", sinkz=[])), "arun() takes no argument "
                                                               "'sinkz' (did you mean sinks=?)"),
    (lambda o: o.get("local", "/etc/hostname", progres=None), "get() takes no argument "
                                                              "'progres' (did you mean progress=?)"),
    (lambda o: o.run("local", "mark", colour=True), "run() takes no argument 'colour'"),
    # files11, basics14: a word people reach for, no near spelling, or near a wrong one
    (lambda o: o.forward("local", 80, local_port=8080), "forward() takes no argument "
                                                        "'local_port' (did you mean local=?)"),
    (lambda o: o.run("local", "mark", stdin_file="x"), "run() takes no argument 'stdin_file' "
                                                       "(did you mean stdin=?)"),
    (lambda o: o.run("local", "mark", environment_variables={}), "run() takes no argument "
     "'environment_variables' (did you mean env=?)"),
    (lambda o: o.start("local", "mark", stdin_close=True), "start() takes no argument "
                                                           "'stdin_close' (did you mean "
                                                           "close_stdin=?)"),
    (lambda o: o.get("local", "/etc/hostname", local_path="x"), "get() takes no argument "
                                                                "'local_path' (did you mean "
                                                                "local=?)"),
    (lambda o: o.logs("x", tail_lines=3), "logs() takes no argument 'tail_lines' (did you "
                                          "mean tail=?)"),
    (lambda o: o.spawn("local", "mark", local_port=1), "spawn() takes no argument "
                                                       "'local_port'"),  # not one it takes
    # config13: cmd= was sent to cwd=, one letter away
    (lambda o: o.run("local", cmd="true"), "run() takes no argument 'cmd' (did you mean "
                                           "command=?)"),
    # review25: a port word is no hint for a path argument, nor a path word for a port
    (lambda o: o.get("local", "/etc/hostname", local_port=1), "get() takes no argument "
                                                               "'local_port'"),
    (lambda o: o.forward("local", 80, local_path="x"), "forward() takes no argument "
                                                       "'local_path'"),
    # basics8 F4: a service's setting given to the call, or spelt near one
    (lambda o: o.run("local", "mark", stdin_mod="x"), "run() takes no argument 'stdin_mod' "
     "(stdin_mode is a service setting: write it in the service's config; this call takes "
     "stdin=)"),
    (lambda o: o.spawn("local", "mark", stdout_mode="capture"), "spawn() takes no argument "
     "'stdout_mode' (stdout_mode is a service setting: write it in the service's config)"),
    # review17: only settings a config holds, only on calls that run one, naming the call
    (lambda o: o.run("local", "mark", restart="always"), "run() takes no argument 'restart' "
     "(restart is a service setting: write it in the service's config; start() takes "
     "restart=)"),
    (lambda o: o.run("local", "mark", location="/srv"), "run() takes no argument 'location'"),
    (lambda o: o.get("local", "/etc/hostname", "x", stdin_mode="none"), "get() takes no "
     "argument 'stdin_mode'"),
    (lambda o: o.run(env="local", service="mark"),  # docs/api.md said `run(env, …)` (docs3)
     "run() takes the environment first: run('local', …); env= is the command's variables "
     "(a mapping)"),
    (lambda o: o.start(env="local", service="mark"), "start() takes the environment first: "
     "start('local', …); env= is the command's variables (a mapping)"),
])
def test_a_misspelt_keyword_says_the_one_meant_before_anything_runs(
        cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        call: Callable[[Orchestrator], object], said: str) -> None:
    """config tester: `orch.run("local", servce="mark")` was Python's bare TypeError, with no
    did-you-mean as the CLI and the magic give for a misspelt option."""
    monkeypatch.chdir(tmp_path)
    with Orchestrator(cfg) as orch:
        with pytest.raises(ConfigError) as info:
            call(orch)
    assert str(info.value) == said and isinstance(info.value, TypeError)  # as Python's was
    assert not (tmp_path / "marker").exists() and not _audit().exists()


def test_a_misspelt_keyword_of_the_other_public_calls_says_the_one_meant(
        cfg: Path, tmp_path: Path) -> None:
    """tester api4: `load_config(cdw=…)` was Python's bare TypeError; so were the keywords of
    what a run hands back (`LiveRun.wait(timout=)`, `RunResult.label(widht=)`)."""
    from orch_magics import load_config, load_config_text

    calls: list[tuple[Callable[[], object], str]] = [
        (lambda: load_config(str(cfg), cdw=str(tmp_path)), "load_config() takes no argument "
                                                             "'cdw' (did you mean cwd=?)"),
        (lambda: load_config_text("environments: {}", nmae="x"), "load_config_text() takes no "
                                                                  "argument 'nmae' (did you mean "
                                                                  "name=?)"),
        # config13: the loaded Config's own lookups were Python's bare TypeError
        (lambda: load_config(str(cfg)).environment(nme="local"), "environment() takes no "
                                                                  "argument 'nme' (did you mean "
                                                                  "name=?)"),
        (lambda: load_config(str(cfg)).service(nam="mark"), "service() takes no argument 'nam' "
                                                            "(did you mean name=?)")]
    with Orchestrator(cfg) as orch:
        live = orch.start("local", command="sleep 0.3")
        result = orch.run("local", command="echo hi")
        calls += [(lambda: live.wait(timout=5), "wait() takes no argument 'timout' (did you "
                                                "mean timeout=?)"),
                  (lambda: result.label(widht=9), "label() takes no argument 'widht' (did you "
                                                  "mean width=?)")]
        for call, said in calls:
            with pytest.raises(ConfigError) as info:
                call()
            assert str(info.value) == said and isinstance(info.value, TypeError)
            assert info.value.suggestion == said.split("mean ")[1].split("=")[0]
        assert live.wait(timeout=5).ok and result.label(width=9)


@pytest.mark.parametrize("call", ["run", "plan", "spawn", "start"])
def test_a_service_environment_given_as_environment_says_env(cfg: Path, tmp_path: Path,
                                                             call: str) -> None:
    """basics9: `run("local", "mark", environment={…})` (the config key's name) was Python's
    bare "got multiple values for argument 'environment'"; the did-you-mean never fired."""
    with Orchestrator(cfg) as orch:
        with pytest.raises(ConfigError) as info:
            getattr(orch, call)("local", "mark", environment={"A": "1"})
        with pytest.raises(ConfigError, match=r"run\(\) got service twice") as twice:
            orch.run("local", "mark", service="mark")  # any argument given twice
    assert str(info.value) == (
        f"{call}() got environment twice: in its place among the arguments and as "
        f"environment= (environment= is the environment's name; a service's `environment` "
        f"variables are given to this call as env=)")
    assert isinstance(info.value, TypeError) and isinstance(twice.value, TypeError)
    assert not (tmp_path / "marker").exists()


def test_a_misspelt_keyword_of_an_async_method_is_said_at_the_call(cfg: Path) -> None:
    """review: `orch.arun(…, sinkz=[])` said it only when awaited; Python's own TypeError for
    an `async def` comes at the call, and the method still passes for a coroutine function."""
    with Orchestrator(cfg) as orch:
        with pytest.raises(ConfigError, match="did you mean sinks="):
            orch.arun("local", "mark", sinkz=[])  # not awaited: no coroutine left behind
        assert asyncio.iscoroutinefunction(orch.arun)
        assert asyncio.run(orch.arun("local", command="echo hi")).stdout == "hi\n"


@pytest.mark.parametrize("timeout", ["x", -1, True])
def test_a_refused_stop_timeout_stops_nothing(cfg: Path, tmp_path: Path, timeout: object
                                              ) -> None:
    """api tester: stop(name, timeout='x') and stop_all(timeout='x') raised ConfigError
    after they had stopped the run: a refused call reads as nothing done."""
    with Orchestrator(load_config(cfg), log_dir=tmp_path) as orch:
        orch.start("local", command="sleep 30", name="s1")
        for stop in (lambda: orch.stop("s1", timeout=timeout), lambda: orch.stop_all(timeout)):
            with pytest.raises(ConfigError, match="timeout must be a number of seconds"):
                stop()
            assert orch.status("s1").state in ("starting", "running")
        assert orch.stop("s1").interrupted


def test_a_blocking_run_from_a_sinks_feed_is_refused_not_a_hang(cfg: Path) -> None:
    """api tester: a sink whose feed called orch.run() waited on the loop that runs it: the
    whole Orchestrator hung for ever, silently. The inner call now raises at once; the sink
    that raised gets no more of the run, which goes on."""
    errors: list[BaseException] = []

    class Nested:
        def feed(self, event: object) -> None:
            for call in (lambda: orch.run("local", command="echo nested"), orch.close,
                         lambda: orch.start("local", command="echo nested", name="n")):
                try:
                    call()
                except OrchError as exc:
                    errors.append(exc)
            raise errors[0]

        def close(self) -> None:
            pass

    with Orchestrator(load_config(cfg)) as orch:
        result = orch.run("local", command="echo hi", sinks=[Nested()])
        assert result.stdout == "hi\n" and result.ok
        assert orch.run("local", command="echo after").stdout == "after\n"
    assert len(errors) == 3 and all("would wait for ever: that loop runs it; use arun() there"
                                    in str(error) for error in errors), errors
    # files7: the nested run was refused only once it had been sent to the loop: it ran,
    # audited, with nobody to see it end
    started = [json.loads(line)["command"] for line in _audit().read_text().splitlines()
               if json.loads(line)["event"] == "start"]
    assert "echo nested" not in started and "echo hi" in started, started


@pytest.mark.parametrize(("call", "message"), [
    (lambda: Orchestrator(capture_limt=5), "Orchestrator() takes no argument 'capture_limt' "
                                           "(did you mean capture_limit=?)"),
    (lambda: Orchestrator(resolver_factory=5), "resolver_factory must be a callable that makes "
                                               "a Resolver"),
])
def test_the_constructor_checks_its_keywords(call, message: str) -> None:  # type: ignore[no-untyped-def]
    """api tester: a misspelt keyword was a bare TypeError; resolver_factory=5 failed at the
    first run."""
    with pytest.raises(ConfigError) as err:
        call()
    assert str(err.value).startswith(message), err.value


def test_json_options_are_checked_before_anything_is_written(cfg: Path, tmp_path: Path) -> None:
    """`json(foo=1)` and `write_json(f, indnt=2)` were bare TypeErrors from json's encoder,
    a file already created."""
    with Orchestrator(load_config(cfg)) as orch:
        result = orch.run("local", command="echo hi")
    with pytest.raises(ConfigError, match=r"^write_json\(\) takes json.dumps's options, not "
                                          r"'indnt' \(did you mean indent=\?\)"):
        result.write_json(tmp_path / "r.json", indnt=2)  # named as called (basics8 F5)
    assert not (tmp_path / "r.json").exists()
    with pytest.raises(TypeError, match="^json\\(\\) takes json.dumps's options, not 'foo'"):
        result.json(foo=1)
    assert '"stdout": "hi\\n"' in result.json(indent=1)


def test_a_plan_runs_only_under_its_own_environment(cfg: Path) -> None:
    """spawn('prod', plan=<a plan for local>) ran in local, saying nothing of the 'prod'."""
    with Orchestrator(load_config(cfg)) as orch:
        plan = orch.plan("local", command="true")
        with pytest.raises(ConfigError, match=r"the plan is for environment 'local', not "
                                              r"'prod': pass spawn\('local', plan=PLAN\)"):
            orch.spawn("prod", plan=plan)
        assert orch.spawn("local", plan=plan).wait().ok


def test_a_run_that_could_not_start_raises_with_its_result(tmp_path: Path) -> None:
    """api tester: the 'never started' RunResult (no exit status, its error, audit id) that
    `--json` and a fleet's row give was out of the API's reach: the error had no `.result`.
    Here the engine's socket is missing (an ssh hop's is in test_ssh_faults)."""
    from orch_magics.errors import ConnectError

    with Orchestrator(load_config_text(
            "environments:\n  d: {layers: [{type: docker, config: {container: c, docker_host: "
            f"'unix://{tmp_path}/none.sock'}}}}]}}\n")) as orch:
        with pytest.raises(ConnectError) as err:
            orch.run("d", command="true")
    never = err.value.result
    assert never is not None and never.returncode is None and not never.ok
    assert never.audit_id is not None and never.error is err.value


@pytest.mark.parametrize("given, said", [
    (dict(tty="no"), "tty must be True, False or None (the service's), not 'no'"),
    (dict(stdin_mode="streming"), "stdin_mode must be one of none, streaming, interactive (or "
                                  "None: the service's), not 'streming' (did you mean "
                                  "'streaming'?)"),
    (dict(dry_run="no"), "dry_run must be True or False, not 'no'"),
])
def test_plans_own_switches_are_checked(cfg: Path, given: dict[str, object], said: str) -> None:
    """`plan(tty='no')` made a terminal, `dry_run='no'` a dry run, and a misspelt stdin_mode
    went into the plan unchecked (tester config)."""
    with Orchestrator(cfg) as orch:
        with pytest.raises(ConfigError) as err:
            orch.plan("local", command="true", **given)  # type: ignore[arg-type]
        assert str(err.value) == said
        assert orch.plan("local", command="true", tty=False, stdin_mode="none",
                         dry_run=True).dry_run


def test_fleets_start_given_names_says_which_call_starts_a_fleet(cfg: Path) -> None:
    """fleets9: docs/fleets.md named `orch.fleets.start(...)`, which takes a plan and options;
    given an environment and a service it was an AttributeError from inside the library."""
    with Orchestrator(cfg) as orch:
        with pytest.raises(TypeError, match=r"to start a fleet, call orch\.start\(ENV, SERVICE"):
            orch.fleets.start("local", "mark")  # type: ignore[arg-type]


@pytest.mark.parametrize("limit", [5, ["web-1"], ("web-*",)])
@pytest.mark.parametrize("call", ["get", "put", "forward", "run", "start"])
def test_a_limit_not_in_one_str_is_one_clear_error_on_every_call(
        cfg: Path, tmp_path: Path, call: str, limit: object) -> None:
    """config16 F7: `limit=5` (or a list) was a ConfigError on run and start, but an
    AttributeError traceback on get, put and forward; nothing is copied or opened."""
    orch = Orchestrator(load_config(str(cfg)))
    source = tmp_path / "source"
    source.write_text("data\n")
    calls: dict[str, Callable[[], object]] = {
        "get": lambda: orch.get("local", str(source), str(tmp_path / "got"), limit=limit),
        "put": lambda: orch.put("local", str(source), str(tmp_path / "put"), limit=limit),
        "forward": lambda: orch.forward("local", 9, limit=limit),
        "run": lambda: orch.run("local", "mark", limit=limit),
        "start": lambda: orch.start("local", "mark", limit=limit)}
    with pytest.raises(ConfigError, match=r"^limit takes patterns in one str \('web-\*,!web-03'"
                                          rf"\), not {type(limit).__name__}$"):
        calls[call]()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["source", cfg.name]) \
        and orch.forwards.list() == []


@pytest.mark.parametrize(("call", "said"), [
    (lambda orch: orch.load(file="orch.yaml"),
     "load() takes no argument 'file': give the files as arguments, in turn: "
     "load('orch.yaml', …)"),
    (lambda orch: load_config(config_file="orch.yaml"),
     "load_config() takes no argument 'config_file': give the files as arguments, in turn: "
     "load_config('orch.yaml', …)"),
    (lambda orch: orch.forwards.stop(idd="f1"),
     "stop() takes no argument 'idd' (did you mean forward_id=?)"),
    (lambda orch: orch.forwards.stop(forward="f1"),
     "stop() takes no argument 'forward' (did you mean forward_id=?)"),
])
def test_calls_given_their_arguments_under_another_name_say_how(
        cfg: Path, call: Callable[[Orchestrator], object], said: str) -> None:
    """config16 F7: `load(file=…)` got no hint (its files are `*files`), and
    `forwards.stop(idd=…)` was Python's bare TypeError."""
    with pytest.raises(ConfigError) as err:
        call(Orchestrator(load_config(str(cfg))))
    assert str(err.value) == said


@pytest.mark.parametrize("word", ["wait", "fan"])
def test_a_word_near_no_parameter_gets_no_far_fetched_suggestion(cfg: Path, word: str) -> None:
    """review32: a word near one part of a parameter's name by two edits (`wait=`, `fan=`
    near max_fail's `fail`) was offered that parameter."""
    with pytest.raises(ConfigError) as err:
        Orchestrator(load_config(str(cfg))).run("local", "mark", **{word: 1})
    assert str(err.value) == f"run() takes no argument {word!r}"


def test_numpy_numbers_are_numbers() -> None:
    """fleets21: `parallel=df.n.max()` (a NumPy integer) was "not a whole number", and
    `timeout=np.int64(3)` refused where `np.float64(3)` was taken."""
    import numpy as np

    from orch_magics.fleet.options import FleetOptions

    options = FleetOptions.of(parallel=np.int64(2), max_fail=np.int64(1), timeout=np.int64(3),
                              tail=np.int32(4))
    assert (options.parallel, options.max_fail, options.timeout, options.tail) == (2, 1, 3.0, 4)
    assert type(options.parallel) is int and options.fail_budget(10) == 1
    with Orchestrator(load_config_text("environments: {local: []}\naudit: {enabled: false}\n")
                      ) as orch:
        assert orch.run("local", command="echo ok", timeout=np.int64(3)).stdout == "ok\n"
        # review35: a wait refused them as "not a number"; a Fraction passed the run's check,
        # then broke the words that said its end
        live = orch.spawn("local", command="echo ok")
        assert live.wait(timeout=np.int64(30)).stdout == "ok\n"
        late = orch.run("local", command="sleep 5", timeout=Fraction(1, 2))
        assert late.timed_out and "(limit 0.5s)" in late.describe_failure()
    for huge in (10**400, np.uint64(2**64 - 1)):  # said as given, not as a float made of it
        with pytest.raises(ConfigError, match=re.escape(f"not {huge!r}"[:24])):
            FleetOptions.of(timeout=huge)
        with pytest.raises(ConfigError, match="parallel .* must be a whole number"):
            FleetOptions.of(parallel=np.float64(2.5))
