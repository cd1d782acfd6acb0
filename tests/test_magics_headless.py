"""Headless cells (terminal IPython here; nbclient in test_magics_nbclient.py): bounded output.

A saved notebook is not a log store: the cell gets a head and a tail of the output, a note of
what was elided and where the rest is, and the result still holds every byte.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator

import pytest
from IPython.core.interactiveshell import InteractiveShell

from orch_magics import RunError, RunTimeout
from orch_magics.magics import Orch
from orch_magics.magics.bounded import Limit
from shells import orch_shell

CONFIG = textwrap.dedent("""
    environments:
      local: {layers: []}
    services:
      steps:
        pre_commands: [{command: echo "pre says hi"}]
        command: echo main-out; echo main-err >&2
        post_commands: [{command: echo "post says bye", when: always}]
      noisy-fail: {command: 'seq 1 6; exit 3'}
      cat: {command: cat, stdin_mode: streaming}
      noisy-slow: {command: 'seq 1 6; sleep 30'}
      dump: {command: 'head -c 3000000 /dev/zero', stdout_mode: file,
             stdout_file: 'orch-dump-{env}.bin'}
      dump-fails: {command: 'head -c 3000 /dev/zero; exit 2', stdout_mode: file,
                   stdout_file: 'orch-dump-{env}.bin'}
      failing-pre:
        pre_commands: [{command: echo "pre broke" >&2; exit 2}]
        command: echo never
      noisy-steps:
        pre_commands: [{command: 'seq -f "pre %g" 1 800'}]
        command: echo "MAIN RESULT"; seq -f "main %g" 1 30
        post_commands: [{command: 'seq -f "post %g" 1 800', when: always}]
""")


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InteractiveShell]:
    with orch_shell(CONFIG, tmp_path_factory.mktemp("cfg")) as sh:
        yield sh


@pytest.fixture
def limits(shell):
    settings = next(c for c in shell.configurables if isinstance(c, Orch))
    yield settings
    settings.headless_lines, settings.headless_bytes = 1000, 256 * 1024


def test_one_huge_line_is_cut_by_bytes(shell, limits, capsys):
    limits.headless_bytes = 2000
    shell.run_cell_magic("orch", "local --out big", "yes x | tr -d '\\n' | head -c 3000000\n")
    out = capsys.readouterr().out
    big = shell.user_ns["big"]
    assert len(big.stdout) == 3_000_000  # the result keeps every byte
    body = out[:out.rindex("[local")]
    assert len(body) < 3000
    assert body.startswith("x" * 1000 + "\n… part of one line / 2.9 MiB elided; full output in "
                           "`big.stdout`")  # not "0 lines": that reads as nothing elided
    assert body.endswith("x" * 1000 + "\n")


def test_runs_a_cell_calls_from_code_are_handed_back_and_the_notes_say_so(
        shell, limits, capsys):  # type: ignore[no-untyped-def]
    """magics12: five `run_cell_magic` calls in one cell each said "full output in `_`",
    which held only the last; the others were held nowhere. Such a call returns its result,
    as the line form does, and the note says so; a `%%orch {var}` cell still moves `_`."""
    limits.headless_lines = 4
    shell.run_cell("kept = [get_ipython().run_cell_magic('orch', 'local', f'seq {i} {i + 9}')"
                   " for i in (100, 200)]", store_history=True)
    out = capsys.readouterr().out
    assert out.count("elided; full output in the returned RunResult (`.stdout` / `.stderr`)") \
        == 2 and "`_.stdout`" not in out, out
    assert [r.lines[0] for r in shell.user_ns["kept"]] == ["100", "200"]
    # review25: under another cell magic (`%%time`), and after a cell the code ran itself
    shell.run_cell("%%time\nkept = [get_ipython().run_cell_magic('orch', 'local', 'seq 5 5')]\n"
                   "get_ipython().run_cell('1')\n"
                   "kept.append(get_ipython().run_cell_magic('orch', 'local', 'seq 6 6'))",
                   store_history=True)
    assert [r.lines for r in shell.user_ns["kept"]] == [["5"], ["6"]]
    capsys.readouterr()
    shell.user_ns["where"] = "local"
    shell.run_cell("%%orch {where}\nseq 300 309", store_history=True)
    out = capsys.readouterr().out
    assert "full output in `_.stdout` / `_.stderr`" in out and "309" in out, out
    assert shell.user_ns["_"].lines[-1] == "309"
    # magics18: from another thread (no cell running, or a `%%orch` one) it returned None
    import threading

    got: list[object] = []
    thread = threading.Thread(target=lambda: got.append(
        shell.run_cell_magic("orch", "local", "seq 7 7")))
    thread.start()
    thread.join(60)
    assert [r.lines for r in got] == [["7"]], got  # type: ignore[attr-defined]
    assert shell.user_ns["_"].lines[-1] == "309"  # `_` is the cell's, untouched


@pytest.mark.parametrize("piece", ["😀", "é€", "\x1b[31mR\x1b[0m😀"])
@pytest.mark.parametrize("size", [2000, 2001, 2002, 2003])
def test_a_cut_never_splits_a_character_or_an_escape(shell, limits, capsys, piece, size):
    """A byte cut in the middle of a character wrote `���` where the program printed none,
    and one inside `\x1b[31m` left a broken escape in the notebook (browser3 D5)."""
    limits.headless_bytes = size
    script = f"python3 -c \"import sys; sys.stdout.write('a' + {piece!r} * 30000)\"\n"
    shell.run_cell_magic("orch", "local --out cut", script)
    out = capsys.readouterr().out
    body = out[:out.rindex("[local")]
    head, note, tail = body.partition("… part of one line")
    assert note, body[:300]
    assert "\ufffd" not in body
    escapes = [h for h in (head, tail.partition("\n")[2]) if "\x1b" in h]
    for half in escapes:  # each escape whole: ESC [ digits m
        assert all(e[:1] == "[" and "m" in e[:4] for e in half.split("\x1b")[1:]), half[:80]


@pytest.mark.parametrize(("script", "tail_starts"), [
    # red set in the head, reset in the elided middle: the note and the tail are not red
    ("for i in $(seq 1 300); do [ $i = 5 ] && printf '\\033[31m'; [ $i = 150 ] && "
     "printf '\\033[0m'; echo \"line $i\"; done", "\x1b[0mline 291\n"),
    # green set in the elided middle: the tail is green, as the program left it
    ("for i in $(seq 1 300); do [ $i = 150 ] && printf '\\033[1;32m'; echo \"line $i\"; done",
     "\x1b[0m\x1b[1;32mline 291\n"),
    # bold in the head; the elided part resets it, then sets green, then (a chunk later)
    # underline: the tail is green and underlined, not bold
    ("for i in $(seq 1 300); do [ $i = 5 ] && printf '\\033[31m\\033[1m'; [ $i = 100 ] && "
     "printf '\\033[0m\\033[32m'; [ $i = 200 ] && sleep 0.3 && printf '\\033[4m'; "
     "echo \"line $i\"; done", "\x1b[0m\x1b[32m\x1b[4mline 291\n"),
])
def test_the_elided_part_leaves_the_tail_its_colours(shell, limits, capsys, script, tail_starts):
    """The head was written as it came and the tail after the note as it was: a reset in the
    elided part left the note and the whole tail red, a colour set there was lost (browser3
    D4). The note starts with no colour, and the tail from the colours the elided part left."""
    limits.headless_lines = 20
    shell.run_cell_magic("orch", "local", script + "\n")
    out = capsys.readouterr().out
    head, note, tail = out.partition("… 280 lines")
    assert head.endswith("\x1b[0m") == ("31m" in head), head[-40:]
    assert tail.partition("\n")[2].startswith(tail_starts), tail[:200]


def test_streams_keep_their_order_and_names_in_the_tail(shell, limits, capsys):
    limits.headless_lines = 4
    shell.run_cell_magic("orch", "local --out r",
                         "for i in 1 2 3 4 5 6; do echo out-$i; done; echo err-last >&2\n")
    captured = capsys.readouterr()
    assert captured.out.splitlines()[:2] == ["out-1", "out-2"]
    assert "… 3 lines / 18 B elided; full output in `r.stdout`" in captured.out
    assert captured.out.splitlines()[3] == "out-6"
    assert captured.err == "err-last\n"
    assert shell.user_ns["r"].lines == [f"out-{i}" for i in range(1, 7)]


@pytest.mark.parametrize(("lines", "size", "script", "shown"), [
    (1, None, "echo only", ["only"]),  # fits the limit of 1: written whole, nothing elided
    (3, None, "seq 1 5", ["1", "2", "… 2 lines / 4 B elided", "5"]),  # 3 shown of 5
    (2, None, "printf 'a\\nb\\nc\\nd'", ["a", "… 2 lines / 4 B elided", "d"]),  # open last
    # a first line longer than the head: its start; the tail keeps whole lines only (no
    # empty line made of the last newline, as before)
    (None, 1, "printf 'hello\\nworld\\n'", ["h", "… 1 line and part of another / 11 B elided"]),
    (None, 3, "printf 'hello\\nworld\\n'", ["he", "… 1 line and part of another / 10 B elided"]),
])
def test_a_limit_of_n_writes_n_lines_or_bytes(shell, limits, capsys, lines, size, script,
                                              shown) -> None:  # type: ignore[no-untyped-def]
    """Head and tail share the limit, the head taking an odd one: N lines / bytes are
    written (before, each had N // 2, so a limit of 1 wrote nothing and 3 wrote 2)."""
    limits.headless_lines, limits.headless_bytes = lines, size
    shell.run_cell_magic("orch", "local --out r", script + "\n")
    out = capsys.readouterr().out
    body = [line.split(";")[0] for line in out[:out.rindex("[local")].splitlines()]
    assert body == shown


def test_a_stderr_line_is_ended_on_stderr(shell, limits, capsys) -> None:  # type: ignore[no-untyped-def]
    """The newline that ends an output without one goes to the stream of that output."""
    shell.run_cell_magic("orch", "local", "printf 'x\\ny' >&2\n")
    captured = capsys.readouterr()
    assert captured.err == "x\ny\n"
    assert captured.out.startswith("[local")  # the status line only: no stray newline


def test_no_limit_writes_everything(shell, limits, capsys):
    limits.headless_lines = limits.headless_bytes = None
    shell.run_cell_magic("orch", "local", "seq 1 3000\n")
    out = capsys.readouterr().out
    assert out.splitlines()[:3000] == [str(i) for i in range(1, 3001)]
    assert "elided" not in out


def test_pre_and_post_step_output_is_in_the_cell_in_order(shell, capsys):
    shell.run_line_magic("orch", "local steps")
    captured = capsys.readouterr()
    assert captured.out.splitlines()[:3] == ["pre says hi", "main-out", "post says bye"]
    assert captured.err == "main-err\n"


def test_noisy_steps_never_elide_the_commands_own_output(shell, limits, capsys):
    """basics8 F2: 800 lines before and after took the whole head and tail, so the cell
    showed no line of the command's own; each step is bounded by itself now, its note
    saying where its whole output is (s8-output #2: not in `r.stdout`)."""
    limits.headless_lines = 20
    shell.run_line_magic("orch", "local noisy-steps --out r")
    lines = capsys.readouterr().out.splitlines()
    note = ("… {} lines / {} elided; full output in {} (limit: %config Orch.headless_lines / "
            "headless_bytes)")
    pre = [f"pre {i}" for i in range(1, 801)]
    main = ["MAIN RESULT", *(f"main {i}" for i in range(1, 31))]
    post = [f"post {i}" for i in range(1, 801)]
    assert lines[:-1] == [
        *pre[:10], note.format(780, "6.0 KiB", "the pre command's result (`.steps`)"),
        *pre[-10:],
        *main[:10], note.format(11, "88 B", "`r.stdout` / `.stderr`"), *main[-10:],
        *post[:10], note.format(780, "6.8 KiB", "the post command's result (`.steps`)"),
        *post[-10:]]
    assert "✓ exit 0" in lines[-1]
    r = shell.user_ns["r"]
    assert r.stdout.startswith("MAIN RESULT\n") and len(r.steps[0].stdout.splitlines()) == 800


def test_failed_pre_step_shows_why(shell, capsys):
    result = shell.run_cell("%orch local failing-pre")
    assert type(result.error_in_exec).__name__ == "RunError"
    captured = capsys.readouterr()
    assert "pre broke" in captured.err
    assert "never" not in captured.out


def test_status_line_says_the_outcome_in_words(shell, capsys):
    shell.run_cell("%%orch local --no-raise-error\nexit 3")
    out = capsys.readouterr().out
    assert "✗ failed, exit 3" in out
    shell.run_cell("%%orch local\necho one")
    out = capsys.readouterr().out
    assert "✓ exit 0" in out and "1 line ·" in out  # and not "1 lines"


def test_a_file_mode_run_says_the_file_its_bytes_and_rate(shell, capsys, tmp_path,  # type: ignore[no-untyped-def]
                                                         monkeypatch) -> None:
    """stdout goes to the file only: the status said `stdout 0 B … to file at 0 B/s` for a
    3 MB dump, and nowhere where the file went (held-out tester)."""
    monkeypatch.chdir(tmp_path)
    shell.run_cell("%orch local dump")
    said = capsys.readouterr().out
    out = tmp_path / "orch-dump-local.bin"
    assert f"stdout 2.9 MiB → {out} at " in said and " 0 B/s" not in said, said
    assert out.stat().st_size == 3_000_000
    shell.run_cell("%orch local dump-fails")  # basics8 F7: where a failed one's bytes are
    said = capsys.readouterr().out
    assert f"stdout 2.9 KiB → {out}.partial at " in said, said
    assert f"its stdout so far is in {out}.partial" in said, said


class _Result:
    def table(self) -> str:
        return "TARGET  STATE"


@pytest.mark.parametrize(("limit", "lines", "expected"), [
    # 10 lines at most: 5 first, a note, 5 last
    (Limit(10, None), [f"t{i % 3} | line {i}" for i in range(40)],
     [*(f"t{i % 3} | line {i}" for i in range(5)),
      "… 30 lines / 385 B elided; full output in `fb` (`fb[LABEL].stdout`) (limit: %config "
      "Orch.headless_lines / headless_bytes)",
      *(f"t{i % 3} | line {i}" for i in range(35, 40)), "TARGET  STATE"]),
    # one 2 MB line under a 64 KiB limit: cut, and said so (it went whole into the cell)
    (Limit(None, 65536), ["t0 | " + "x" * 2_000_000, "t1 | short"],
     ["t0 | " + "x" * 32762 + "… (1,967,238 more bytes)", "t1 | short", "TARGET  STATE"]),
    # bytes, not characters: 30 lines of 3-byte characters under a 200-byte limit
    (Limit(None, 200), [f"t | {'東' * 9}" for _ in range(30)],
     [*[f"t | {'東' * 9}"] * 3, "… 24 lines / 768 B elided; full output in `fb` "
      "(`fb[LABEL].stdout`) (limit: %config Orch.headless_lines / headless_bytes)", *[f"t | {'東' * 9}"] * 3,
      "TARGET  STATE"]),  # 32 bytes a line: 3 fit in each half of 100

])
def test_a_fleets_labelled_lines_are_bounded_like_one_runs(capsys, limit, lines, expected) -> None:  # type: ignore[no-untyped-def]
    from orch_magics.magics.fleet_view import LabelledOutput

    view = LabelledOutput(limit, lambda raised, part: f"`fb` (`fb[LABEL].{part}`)")  # --out fb
    for line in lines:  # as target w's labelled lines come, one by one
        view._add("w", False, line)
    view.finish(None, _Result())  # type: ignore[arg-type]
    assert capsys.readouterr().out.splitlines() == expected


@pytest.mark.parametrize("line, error", [("local noisy-fail", RunError),
                                         ("local noisy-slow --timeout 1", RunTimeout)])
def test_a_line_that_raises_leaves_its_output_where_the_note_says(shell, limits, capsys, line,
                                                                   error):
    """The line form returns its result, unless it raises: then `_` holds it, and the note
    says so (it said "the returned RunResult", and nothing was returned)."""
    limits.headless_lines = 2
    with pytest.raises(error) as info:
        shell.run_line_magic("orch", line)
    out = capsys.readouterr().out
    assert "… 4 lines / 8 B elided; full output in `_.stdout` / `_.stderr` (limit: " in out
    assert shell.user_ns["_"] is info.value.result
    assert shell.user_ns["_"].lines == [str(i) for i in range(1, 7)]
    assert shell.run_line_magic("orch", "local noisy-fail --no-raise-error").returncode == 3
    assert "full output in the returned RunResult (`.stdout` / `.stderr`)" in \
        capsys.readouterr().out


def test_logs_without_a_count_shows_a_bounded_end_and_where_the_rest_is(shell, capsys):
    """notebook4: `%orch logs NAME` wrote all 10,000 kept lines (10 MB) into the cell, and
    `-f` as much again."""
    shell.run_cell_magic("orch", "local --bg --name spew", "seq 1 3000\n")
    shell.run_line_magic("orch", "status spew").wait(30)
    log_file = shell.run_line_magic("orch", "status spew").log_file
    capsys.readouterr()
    shell.run_line_magic("orch", "logs spew")
    shown = capsys.readouterr().out.splitlines()
    # kept: orch's start line, 3,000 lines, orch's exit line; shown: the last 1,000
    assert shown[0] == (f"… earlier kept lines not shown (%orch logs spew -n N shows the last "
                        f"N; its log file {log_file} has the output ({log_file}.1 once "
                        f"rotated))")
    assert shown[1:] == [str(i) for i in range(2002, 3001)] + ["orch: spew: exit 0"]
    shell.run_line_magic("orch", "logs spew -f")  # the run is over: the same, then the end
    assert capsys.readouterr().out.splitlines()[:1001] == shown
    shell.run_line_magic("orch", "logs spew -n 2500")  # asked for: as many as kept
    assert capsys.readouterr().out.splitlines() == [
        *(str(i) for i in range(502, 3001)), "orch: spew: exit 0"]
    shell.run_line_magic("orch", "logs spew -n 0")  # magics12: a blank line, as if logged
    assert capsys.readouterr().out == ""
    shell.run_cell_magic("orch", "local --bg --name blank", "echo a; echo; exec sleep 30\n")
    blank = shell.run_line_magic("orch", "status blank")
    while blank.lines[-1:] != [""]:
        time.sleep(0.05)
    capsys.readouterr()
    shell.run_line_magic("orch", "logs blank -n 1")  # basics13: a blank last line is a line
    assert capsys.readouterr().out == "\n"
    shell.run_line_magic("orch", "stop blank")
    shell.run_cell_magic("orch", "local --bg --name wide", "yes 0123456789 | tr -d '\\n' | "
                         "fold -w 1000 | head -n 600\n")
    shell.run_line_magic("orch", "status wide").wait(30)
    capsys.readouterr()
    shell.run_line_magic("orch", "logs wide")  # 600 lines of 1,000 bytes: 256 KiB of them
    shown = capsys.readouterr().out.splitlines()  # the exit line and 261 of 1,001 bytes
    assert shown[0].startswith("… earlier kept lines not shown") and len(shown) == 263


def test_a_background_run_given_stdin_headless_keeps_it_open(shell):
    """magics17: under nbclient/papermill (or inside %%capture) `%orch ENV SERVICE --stdin
    --bg --out h` sent EOF at once: `h.send_line()` failed "stdin is closed", where JupyterLab
    and `%orch start` keep it open for the handle."""
    shell.run_line_magic("orch", "local cat --stdin --bg --name fed --out h")
    handle = shell.user_ns["h"]
    handle.send_line("one")
    handle.send_line("two")
    handle.close_stdin()
    assert handle.wait(30).lines == ["one", "two"]
    shell.run_cell_magic("orch", "local cat --stdin --bg --name fed2 --out h2", "body\n")
    after = shell.user_ns["h2"]
    after.send_line("more")
    after.close_stdin()
    assert after.wait(30).lines == ["body", "more"]
    # magics19: `--stdin` alone was dropped headless (EOF at once, a RunResult in `c`, and
    # the notebook's next cell an AttributeError): kept open for the handle as with --bg
    shell.run_line_magic("orch", "local cat --stdin --out c")
    fed = shell.user_ns["c"]
    fed.send_line("hello")
    fed.close_stdin()
    assert fed.wait(30).lines == ["hello"]
    shell.run_cell_magic("orch", "local cat --stdin --out c2", "first\n")
    fed = shell.user_ns["c2"]
    fed.send_line("second")
    fed.close_stdin()
    assert fed.wait(30).lines == ["first", "second"]
