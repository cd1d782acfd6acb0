"""Output filters on real processes: each kind, their order, jq on JSON and non-JSON lines."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hangup import default_hangup
from orch_magics import ConfigError, Orchestrator, Stderr, Stdout, load_config_text
from orch_magics.config.model import GrepFilter, HeadFilter, JqFilter, TailFilter
from orch_magics.process.events import Exit
from orch_magics.sinks.filters import FilterChain
from streams import Recorder

LOG = """\
{"level":"info","msg":"started","n":1}
plain text line
{"level":"error","msg":"disk full","n":2}

[1,2]
{"level":"ERROR","msg":"oops","n":3}
{"level":"info","msg":"done","n":4}
"""

CONFIG = """\
environments:
  local: {layers: []}
services:
  grep: {command: 'cat @LOG@', filters: [{type: grep, pattern: error}]}
  grep-i: {command: 'cat @LOG@', filters: [{type: grep, pattern: error, ignore_case: true}]}
  grep-v: {command: 'cat @LOG@', filters: [{type: grep, pattern: '^\\{', invert: true}]}
  jq-pass: {command: 'cat @LOG@', filters: [{type: jq, query: .msg}]}
  jq-drop: {command: 'cat @LOG@', filters: [{type: jq, query: .msg, on_invalid: drop}]}
  jq-error: {command: 'cat @LOG@', filters: [{type: jq, query: .msg, on_invalid: error}]}
  jq-json:
    command: 'cat @LOG@'
    filters: [{type: jq, query: '{m: .msg}', raw: false, on_invalid: drop}]
  jq-many: {command: 'cat @LOG@', filters: [{type: jq, query: '.[]?', on_invalid: drop}]}
  head: {command: 'cat @LOG@', filters: [{type: head, lines: 2}]}
  tail: {command: 'cat @LOG@', filters: [{type: tail, lines: 2}]}
  replace:
    command: 'cat @LOG@'
    filters: [{type: replace, pattern: '"n":(\\d)', replacement: '"num":\\1'}]
  grep-then-head:
    command: 'cat @LOG@'
    filters: [{type: grep, pattern: level}, {type: head, lines: 2}]
  head-then-grep:
    command: 'cat @LOG@'
    filters: [{type: head, lines: 2}, {type: grep, pattern: level}]
  pipeline:
    command: 'cat @LOG@'
    filters:
      - {type: grep, pattern: error, ignore_case: true}
      - {type: jq, query: '"\\(.n): \\(.msg)"'}
      - {type: replace, pattern: '^', replacement: '> '}
  slow-partial:
    command: "printf 'keep me'; sleep 0.2; printf ' please\\ndrop\\nkeep last'"
    filters: [{type: grep, pattern: keep}]
  binary: {command: 'head -c 300000 /dev/urandom > /tmp/orch-bin-$$; cat /tmp/orch-bin-$$; rm /tmp/orch-bin-$$'}
"""


@pytest.fixture(scope="module")
def orch(tmp_path_factory: pytest.TempPathFactory) -> Orchestrator:
    log = tmp_path_factory.mktemp("filters") / "app.log"
    log.write_text(LOG)
    o = Orchestrator(load_config_text(CONFIG.replace("@LOG@", str(log))))
    yield o
    o.close()


def lines(orch: Orchestrator, service: str) -> list[str]:
    res = orch.run("local", service)
    assert res.ok, res.describe_failure()
    return res.stdout.splitlines()


def test_grep(orch: Orchestrator) -> None:
    assert lines(orch, "grep") == ['{"level":"error","msg":"disk full","n":2}']


def test_grep_ignore_case(orch: Orchestrator) -> None:
    assert lines(orch, "grep-i") == ['{"level":"error","msg":"disk full","n":2}',
                                     '{"level":"ERROR","msg":"oops","n":3}']


def test_grep_invert(orch: Orchestrator) -> None:
    assert lines(orch, "grep-v") == ["plain text line", "", "[1,2]"]


def test_jq_passes_non_json_lines_through(orch: Orchestrator) -> None:
    assert lines(orch, "jq-pass") == ["started", "plain text line", "disk full", "",
                                      "[1,2]", "oops", "done"]


def test_jq_drops_non_json_lines(orch: Orchestrator) -> None:
    assert lines(orch, "jq-drop") == ["started", "disk full", "oops", "done"]


def test_jq_reports_invalid_lines_on_stderr(orch: Orchestrator) -> None:
    res = orch.run("local", "jq-error")
    assert res.stdout.splitlines() == ["started", "disk full", "oops", "done"]
    report = res.stderr.splitlines()
    assert len(report) == 3
    assert report[0].startswith("jq: parse error") and report[0].endswith("plain text line")
    assert "Cannot index array" in report[2]


def test_jq_json_output_and_several_outputs_per_line(orch: Orchestrator) -> None:
    assert lines(orch, "jq-json")[:2] == ['{"m":"started"}', '{"m":"disk full"}']
    # `.[]?` yields every value of objects and arrays: several lines from one input line
    assert lines(orch, "jq-many")[:6] == ["info", "started", "1", "error", "disk full", "2"]


@pytest.mark.parametrize(("query", "raw", "expected"), [
    (".id", False, ["1234567890123456789", "100000000000000000001"]),
    (".", False, ['{"id":1234567890123456789,"v":1.0,"s":"é"}', '{"id":100000000000000000001}']),
    (".s // .id", True, ["é", "100000000000000000001"]),
    (".id # the id, a comment to the end of the query", False,  # it swallowed the wrap
     ["1234567890123456789", "100000000000000000001"]),
])
def test_jq_writes_numbers_as_the_jq_tool_does(query: str, raw: bool,
                                               expected: list[str]) -> None:
    """An id above 2**53 (a snowflake, a bigint, a trace id) went through a Python float
    and printed as another number that looked exact; `1.0` printed as `1` (held-out
    tester). libjq now writes the values, as the jq tool does."""
    chain = FilterChain([JqFilter(query=query, raw=raw)])
    data = (b'{"id": 1234567890123456789, "v": 1.0, "s": "\\u00e9"}\n'
            b'{"id": 100000000000000000001}\n')
    out = chain(Stdout(data)) + chain(Exit(code=0))
    assert b"".join(e.data for e in out if isinstance(e, Stdout)).decode().splitlines() == \
        expected


def test_head_and_tail(orch: Orchestrator) -> None:
    assert len(lines(orch, "head")) == 2
    assert lines(orch, "tail") == ['{"level":"ERROR","msg":"oops","n":3}',
                                   '{"level":"info","msg":"done","n":4}']


def test_replace(orch: Orchestrator) -> None:
    out = lines(orch, "replace")
    assert out[0] == '{"level":"info","msg":"started","num":1}' and out[1] == "plain text line"


def test_filters_apply_in_order(orch: Orchestrator) -> None:
    assert [line[-6:] for line in lines(orch, "grep-then-head")] == ['"n":1}', '"n":2}']
    assert len(lines(orch, "head-then-grep")) == 1  # head kept 2 lines, one has "level"
    assert lines(orch, "pipeline") == ["> 2: disk full", "> 3: oops"]


def test_unfiltered_output_stays_reachable_and_sinks_see_filtered(orch: Orchestrator) -> None:
    sink = Recorder()
    res = orch.run("local", "pipeline", sinks=[sink])
    assert res.raw_stdout.count("\n") == 7 and "plain text line" in res.raw_stdout
    assert res.raw_stdout_buffer is not None
    shown = b"".join(e.data for e in sink.events if isinstance(e, Stdout)).decode()
    assert shown == res.stdout == "> 2: disk full\n> 3: oops\n"
    assert isinstance(sink.events[-1], Exit)


def test_partial_lines_wait_for_their_end(orch: Orchestrator) -> None:
    res = orch.run("local", "slow-partial")
    assert res.stdout == "keep me please\nkeep last"  # the unterminated last line stays so


BAR = r"""
environments: {local: {layers: []}}
services:
  bar:
    command: |
      for i in $(seq 1 200); do head -c 100000 /dev/zero | tr '\0' a; printf '\r'; done
      echo; echo done
    filters: [@FILTER@]
  doc:
    command: |
      printf '{"n": 42, "a": "'; head -c 17000000 /dev/zero | tr '\0' x; printf '"}\n'
    filters: [{type: jq, query: .n}]
"""


@pytest.mark.parametrize("kind", ["grep", "replace"])
def test_a_line_that_never_ends_goes_through_the_filters_in_bounded_pieces(kind: str) -> None:
    """A progress bar redrawn with `\\r` never ends its line: the filters held all of it
    (445 MB of memory for 147 MB of output, growing as long as the run lasted; services
    tester #6). Past MAX_LINE characters, what came goes through as a line; nothing is lost."""
    from orch_magics.sinks.filters import MAX_LINE

    spec = ("{type: grep, pattern: .}" if kind == "grep"
            else "{type: replace, pattern: 'a{1000}', replacement: 'A'}")
    with Orchestrator(load_config_text(BAR.replace("@FILTER@", spec))) as orch:
        res = orch.run("local", "bar")
    pieces = res.stdout.split("\n")
    assert res.ok and pieces[-2:] == ["done", ""] and len(pieces) > 3, [len(p) for p in pieces]
    assert all(len(p) <= MAX_LINE + (4 << 20) for p in pieces)  # what came past the bound
    assert res.stdout.count("\r") == 199  # every redraw came (the last, with "\\n", ends a line)
    assert sum(p.count("A") * 1000 + p.count("a") for p in pieces) == 20_000_000


def test_jq_takes_a_document_longer_than_the_bound_whole() -> None:
    """The cut gave jq a 17 MB JSON document in pieces, each invalid: passed through as they
    were, with the run ok, instead of the answer (review)."""
    with Orchestrator(load_config_text(BAR.replace("@FILTER@", "{type: grep, pattern: a}"))) as o:
        res = o.run("local", "doc")
    assert res.ok and res.stdout == "42\n"


def test_a_cut_keeps_a_carriage_return_that_may_start_a_crlf() -> None:
    from orch_magics.sinks.lines import LineDecoder

    decoder = LineDecoder()
    assert decoder.feed(b"a" * 10 + b"\r") == []
    assert decoder.cut_long(5) == ["a" * 10]
    assert decoder.feed(b"\nnext\n") == ["", "next"]  # the \r\n ended the (empty) rest


def test_bad_jq_program_fails_before_anything_runs() -> None:
    """Compiled when the config loads, so `orch check` catches it and nothing ever runs."""
    with pytest.raises(ConfigError, match=r"jq filter '\.\[' does not compile") as err:
        load_config_text("services:\n  bad-jq: {command: 'true', filters: [{type: jq, "
                         "query: '.['}]}\n")
    assert (err.value.line, err.value.column) == (2, 57)


def test_jq_sees_the_environment_a_child_gets_without_the_secret_variables(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """basics9: libjq runs in this process, so `$ENV` and `env` in a filter printed this
    machine's ORCH_SECRET_* values in clear (masking knows only the secrets a run resolved).
    They see what a started process inherits; the other variables are still there."""
    monkeypatch.setenv("ORCH_SECRET_TOK", "TopSecretJQ123")
    monkeypatch.setenv("ORCH_TEST_PLAIN", "plain-value")
    query = "[$ENV.ORCH_SECRET_TOK, env.ORCH_SECRET_TOK, $ENV.ORCH_TEST_PLAIN, env.ORCH_TEST_PLAIN]"
    orch = Orchestrator(load_config_text(
        "environments: {local: {layers: []}}\nservices:\n  s: {command: 'echo {}', filters: "
        f"[{{type: jq, query: '{query}'}}]}}\n"))
    res = orch.run("local", "s")
    assert res.stdout == '[null,null,"plain-value","plain-value"]\n'
    assert "TopSecretJQ123" not in orch.run("local", command=["sh", "-c", "env"]).stdout


def test_a_jq_module_directive_is_refused_at_load(tmp_path: Path) -> None:
    """A filter is one expression, compiled inside the definitions above: `include` and
    `import` (which read modules from this machine's files) are refused, at the query."""
    (tmp_path / "m.jq").write_text("def g: 7;\n")
    with pytest.raises(ConfigError, match=r"module directives \(import, include\) are not "
                                          r"supported") as err:
        load_config_text("services:\n  s: {command: 'true', filters: [{type: jq, query: "
                         f"'include \"m\" {{search: \"{tmp_path}\"}}; g'}}]}}\n")
    assert (err.value.line, err.value.column) == (2, 52)


def test_a_jq_query_ending_in_a_comment_with_a_backslash_still_runs() -> None:
    """review18: jq 1.7 continues a comment that ends in a backslash on the next line, which
    swallowed the closing parenthesis of the definitions around it: the query was refused,
    said to hold module directives."""
    orch = Orchestrator(load_config_text(
        "environments: {local: {layers: []}}\nservices:\n  s: {command: [echo, '{\"a\":7}'], "
        "filters: [{type: jq, query: '.a # the answer \\'}]}\n"))
    assert orch.run("local", "s").stdout == "7\n"


def test_no_filters_means_exact_bytes(orch: Orchestrator) -> None:
    res = orch.run("local", "binary")
    assert res.ok and len(res.stdout_bytes) == 300000
    assert res.raw_stdout_buffer is None
    # the raw view is the same buffer: no copy, no decoding on the way
    assert hashlib.sha256(res.stdout_bytes).digest() == hashlib.sha256(
        res.stdout_buffer.getvalue()).digest()


def test_chain_is_a_pure_event_transform_across_chunk_boundaries() -> None:
    chain = FilterChain([GrepFilter(pattern="x"), JqFilter(query=".x", on_invalid="drop"),
                         HeadFilter(lines=5), TailFilter(lines=2)])
    out = []
    for chunk in (b'{"x":', b' "a"}\n{"x":"b"}\n', b'nope\n{"x"', b':"c"}'):
        out += chain(Stdout(chunk))
    assert out == []  # tail holds everything until the end
    out += chain(Stderr(b"err"))
    final = chain(Exit(code=0))
    assert isinstance(final[-1], Exit)
    assert b"".join(e.data for e in final if isinstance(e, Stdout)) == b"b\nc"
    assert out == [Stderr(b"err")]


RUNAWAY = """\
environments:
  local: {layers: []}
services:
  runaway:
    command: "echo '{\\"a\\": 1}'; sleep 300 & echo $! > @PID@; wait"
    filters: [@FILTERS@]
"""
ENDLESS_JQ = "{type: jq, query: '.a as $x | range(1e9) | $x'}"
CUT_SHORT = "orch: output filters cut short: the run is stopping and they were still working"


def runaway_config(tmp_path: Path, filters: str) -> tuple[Path, Path]:
    pidfile = tmp_path / "pid"
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(RUNAWAY.replace("@PID@", str(pidfile)).replace("@FILTERS@", filters))
    return cfg, pidfile


def assert_gone(pidfile: Path) -> None:
    child = int(pidfile.read_text())
    for _ in range(100):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail("the command's child outlived the run")


@pytest.mark.parametrize("filters", [
    ENDLESS_JQ, f"{ENDLESS_JQ}, {{type: tail, lines: 2}}", f"{ENDLESS_JQ}, {{type: grep, pattern: x}}"],
    ids=["streams", "holds-everything", "lets-nothing-through"])
def test_a_filter_that_never_ends_still_times_out(tmp_path: Path, filters: str) -> None:
    """Before, jq built a billion results in memory on the event loop: no timeout, no stop."""
    cfg, pidfile = runaway_config(tmp_path, filters)
    orch = Orchestrator(load_config_text(cfg.read_text(), str(cfg)))
    try:
        t0 = time.monotonic()
        res = orch.run("local", "runaway", timeout=1.5)
        assert time.monotonic() - t0 < 10
    finally:
        orch.close()
    assert res.timed_out and not res.ok
    assert CUT_SHORT in res.stderr
    if filters == ENDLESS_JQ:
        assert res.stdout.startswith("1\n1\n1\n")  # streamed as it came, not built whole
    assert_gone(pidfile)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "term"])
def test_a_filter_that_never_ends_stops_on_a_signal(tmp_path: Path, sig: signal.Signals) -> None:
    cfg, pidfile = runaway_config(tmp_path, ENDLESS_JQ)
    out = tmp_path / "out"
    with out.open("wb") as stdout:
        proc = subprocess.Popen([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run",
                                 "local", "runaway"], stdout=stdout, stderr=subprocess.PIPE,
                                preexec_fn=default_hangup)
    try:
        for _ in range(200):
            if pidfile.exists() and out.stat().st_size > 0:
                break
            time.sleep(0.05)
        proc.send_signal(sig)
        assert proc.wait(15) == 128 + sig
    finally:
        proc.kill()
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    assert CUT_SHORT in err and "Traceback" not in err
    assert out.read_bytes().startswith(b"1\n1\n")
    assert_gone(pidfile)
