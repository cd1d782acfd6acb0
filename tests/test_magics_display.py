"""The live cell view (DisplaySink): what a person sees while a run streams and after it ends."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from orch_magics import Orchestrator, load_config_text
from orch_magics.process.events import Exit, Stderr, Stdout
from orch_magics.sinks.ansi import Colours
from orch_magics.sinks.cell_view import describe_end
from orch_magics.sinks.display import DisplaySink
from orch_magics.sinks.lines import terminal_view


def sink(**kw) -> DisplaySink:
    return DisplaySink(environment="sandbox", layers="local → env", what="job", **kw)


def test_output_and_status_are_never_math_or_markup():
    s = sink()
    s.feed(Stdout(b"$LEVEL $ORCH_DEMO_ENV $PWD <b>bold</b> &amp;\n"))
    s.finish("exit 0", True)
    page = s.render()["text/html"]
    assert "mathjax_ignore" in page and "tex2jax_ignore" in page
    assert "$LEVEL $ORCH_DEMO_ENV $PWD &lt;b&gt;bold&lt;/b&gt; &amp;amp;" in page
    assert "<b>" not in page


def test_ansi_colours_become_theme_classes_and_other_escapes_go():
    s = sink()
    s.feed(Stdout(b"\x1b[31mred\x1b[0m plain \x1b[1;92mbold green\x1b[0m\x1b[2K\x1b]0;title\x07\n"))
    page = s.render()["text/html"]
    assert '<span class="ansi-red-fg">red</span> plain ' in page
    assert '<span class="ansi-bold ansi-green-intense-fg">bold green</span>' in page
    # browser25: bold makes a basic colour intense, as JupyterLab draws a plain cell's
    # (`ls --color` directories, `01;34`); the background stays, and inverse swaps after it
    assert Colours().html("\x1b[01;34mdir\x1b[0m \x1b[1;41mx\x1b[0m") == (
        '<span class="ansi-bold ansi-blue-intense-fg">dir</span> '
        '<span class="ansi-bold ansi-red-bg">x</span>')
    assert "title" not in page and "\x1b" not in page
    assert "\x1b[31mred" in s.render()["text/plain"]  # text/plain keeps colours for terminals
    assert Colours().html("\x1b[38;5;208mx\x1b[44my") == (
        '<span style="color: rgb(255, 135, 0)">x</span>'
        '<span class="ansi-blue-bg" style="color: rgb(255, 135, 0)">y</span>')
    # browser22: the colon forms (ISO 8613-6) showed as text, `␛[38:5:196m…`
    s = sink()
    s.feed(Stdout(b"\x1b[38:5:196mred\x1b[0m \x1b[4:3mcurly\x1b[4:0m \x1b[38:2::0:0:255mblue\n"))
    page = s.render()["text/html"]
    assert '<span style="color: rgb(255, 0, 0)">red</span> ' in page
    assert '<span class="ansi-underline">curly</span> ' in page
    assert '<span style="color: rgb(0, 0, 255)">blue</span>' in page and "38:" not in page


def test_a_colour_holds_on_the_next_lines_of_its_stream_until_reset():
    """As in `%%bash` output (browser tester D3): each line was converted on its own, so
    the second line of a red block showed plain."""
    s = sink()
    s.feed(Stdout(b"\x1b[31mline one red\nline two red\x1b[0m\nplain\n"))
    s.feed(Stderr(b"err plain\n"))  # another stream: its own colours
    page = s.render()["text/html"]
    assert ('<span class="ansi-red-fg">line one red</span></span>\n<span class="orch-stdout">'
            '<span class="ansi-red-fg">line two red</span></span>\n<span class="orch-stdout">'
            'plain</span>') in page, page
    assert ">err plain</span>" in page


@pytest.mark.parametrize("chunked", [False, True], ids=["one chunk", "line by line"])
def test_a_colour_holds_on_after_the_line_that_set_it_scrolls_out_of_the_tail(chunked: bool):
    """A red block longer than the cell's tail showed plain once its first line (the one
    with the colour) had scrolled out: the colour was taken from the lines shown only."""
    s = sink(tail=3)
    block = [b"\x1b[31mstart of a red block\n", *(b"red %d\n" % i for i in range(10))]
    for chunk in (block if chunked else [b"".join(block)]):
        s.feed(Stdout(chunk))
    s.feed(Stderr(b"err\n"))  # another stream: its own colours, none
    page = s.render()["text/html"]
    assert '<span class="orch-stdout"><span class="ansi-red-fg">red 9</span></span>' in page, page
    assert ">err</span>" in page and "start of" not in page
    s.feed(Stdout(b"\x1b[0mplain again\n\x1b[1mbold\n"))
    page = s.render()["text/html"]
    assert '<span class="orch-stdout">plain again</span>' in page
    assert '<span class="ansi-bold">bold</span>' in page
    s.feed(Stdout(b"still bold\n" * 5))  # only lines without colours come: it holds
    assert s.render()["text/html"].count('<span class="ansi-bold">still bold</span>') == 3


def test_a_colour_set_early_in_a_big_chunk_holds_on_its_last_lines():
    """A pipe's 10 KB write: the colour was set ~8,000 characters before the tail, past the
    window the carry looked at (browser3 D6)."""
    s = sink()
    s.feed(Stdout(b"\x1b[31m" + b"".join(b"red line %04d %s\n" % (i, b"x" * 36) for i in range(200))
                  + b"\x1b[0mplain\n"))
    page = s.render()["text/html"]
    assert page.count('<span class="ansi-red-fg">red line 0') == 39, page
    assert '<span class="orch-stdout">plain</span>' in page


def test_a_colour_set_past_the_cut_of_a_long_line_holds_on():
    """A line longer than the cell shows set a colour after the cut (browser3 D3)."""
    s = sink()
    s.feed(Stdout(b"0" * 5000 + b"\x1b[35m\nstill magenta\n\x1b[0mplain\n"))
    page = s.render()["text/html"]
    assert '<span class="ansi-magenta-fg">still magenta</span>' in page, page
    assert '<span class="orch-stdout">plain</span>' in page


def test_a_long_coloured_line_is_cut_in_shown_characters_and_never_inside_an_escape():
    """browser10: the cut and its count took escape sequences for characters: a line of 2,000
    coloured characters showed 333 of them, then a stray `␛[` and a "+10004 chars" note in
    the line's last colour."""
    from orch_magics.sinks.cell_view import MAX_LINE

    s = sink()
    colours = b"".join(b"\x1b[3%dmX" % (i % 8) for i in range(MAX_LINE + 7))
    s.feed(Stdout(colours + b"\x1b[0m\nnext-line\n"))
    s.close()
    page = s.render()["text/html"]
    tail = page[page.index('class="orch-tail"'):]
    assert tail.count("X") == MAX_LINE and "\x1b" not in tail and "[3" not in tail
    assert '</span><span class="orch-cut" style="opacity:0.6"> … (+7 chars)</span>' in page
    assert '<span class="orch-stdout">next-line</span>' in page  # the reset past the cut holds
    text = s.render()["text/plain"].splitlines()[0]
    assert text.count("X") == MAX_LINE and text.endswith("X … (+7 chars)")


def test_a_fleet_rows_colour_holds_on_after_its_line_scrolled_out():
    """A target's row drew its shown lines from fresh colours (browser3 D2)."""
    from orch_magics.fleet.rows import TargetRow
    from orch_magics.sinks.cell_view import lines_html

    for tail in (5, 40):
        row = TargetRow("web-1", lambda row: None, tail=tail)
        row.feed(Stdout(b"\x1b[31m" + b"".join(b"red %d\n" % i for i in range(60))))
        page = lines_html(*row.view())
        assert page.count('<span class="ansi-red-fg">red ') == tail, (tail, page)
        row.feed(Stdout(b"\x1b[0mplain\n"))
        assert '<span class="orch-stdout">plain</span>' in lines_html(*row.view())


def test_a_tab_in_a_fleet_rows_last_line_is_whitespace_not_an_escape():
    """browser26: `du -sh` over a fleet read `4.0K\\t/var/log` in every row and title."""
    from orch_magics.fleet.rows import TargetRow
    from orch_magics.magics.fleet_table import _said, _title

    row = TargetRow("web-1", lambda row: None, tail=5)
    row.feed(Stdout(b"4.0K\t/var/log\n"))
    assert "4.0K    /var/log" in _said(row) and "4.0K    /var/log" in _title(row)
    row.feed(Stdout(b"a\x01b\n"))  # other control characters are still shown escaped
    assert "a\\x01b" in _said(row)


def test_256_and_true_colours_show_as_a_terminal_shows_them():
    """They were dropped (plain text), where JupyterLab colours them in a `print()`."""
    assert Colours().html("\x1b[38;5;9mx") == '<span class="ansi-red-intense-fg">x</span>'  # theme's
    assert Colours().html("\x1b[48;5;232mx") == '<span style="background-color: rgb(8, 8, 8)">x</span>'
    assert Colours().html("\x1b[38;2;1;2;3mx\x1b[39my") == (
        '<span style="color: rgb(1, 2, 3)">x</span>y')
    assert Colours().html("\x1b[31m\x1b[38;5;21mx\x1b[31my") == (
        '<span style="color: rgb(0, 0, 255)">x</span><span class="ansi-red-fg">y</span>')
    assert Colours().html("\x1b[38;5;300mx\x1b[38;2;1mz") == "xz"  # malformed: no colour, no text lost


def test_reverse_video_swaps_the_colours_as_jupyterlab_shows_it():
    """notebook16: `ESC[7m` (a selected row in a TUI, `grep --color` setups) was dropped, where
    `%%bash` shows it: JupyterLab swaps the colours, the theme's inverse standing for unset
    ones."""
    assert Colours().html("\x1b[7mrev\x1b[27m plain") == (
        '<span class="ansi-default-inverse-fg ansi-default-inverse-bg">rev</span> plain')
    assert Colours().html("\x1b[31;7mx\x1b[0my") == (
        '<span class="ansi-red-bg ansi-default-inverse-fg">x</span>y')
    assert Colours().html("\x1b[38;2;1;2;3;44;7mx") == (
        '<span class="ansi-blue-fg" style="background-color: rgb(1, 2, 3)">x</span>')


def test_backspace_takes_back_a_character_as_jupyterlab_shows_it():
    assert terminal_view("a\bb") == "b"
    assert terminal_view("abc\b\bXY") == "aXY"
    assert terminal_view("\bq") == "q"
    s = sink()
    s.feed(Stdout(b"[ ]\b\bx]\n"))
    assert s.render()["text/plain"].splitlines()[0] == "[x]"


def test_carriage_return_updates_the_line_in_place_while_running():
    s = sink()
    s.feed(Stdout(b"progress 10%\rprogress 50%"))
    assert "progress 50%" in s.render()["text/plain"].splitlines()[0]  # shown before the \n
    s.feed(Stdout(b"\rprogress 100%\ndone\n"))
    lines = s.render()["text/plain"].splitlines()
    assert lines[:2] == ["progress 100%", "done"]
    assert terminal_view("abcdef\rXY") == "XYcdef"
    # browser22: escape sequences took columns and `ESC[K` erased nothing: `ok1;32m[####]`
    s = sink()
    s.feed(Stdout(b"\r\x1b[K\x1b[1;32m[######]\x1b[0m step 6 of 6\r\x1b[Kok\n"))
    assert s.render()["text/plain"].splitlines()[0] == "ok"
    assert terminal_view("Downloading 10%\r\x1b[Kdone") == "done"
    assert terminal_view("\x1b[1;32m5%\x1b[0m\r\x1b[32m10%\x1b[0m") == "\x1b[32m10%\x1b[0m"
    assert terminal_view("abcdef\r\x1b[2KXY") == "XY"


def test_stderr_and_outcome_read_right_without_colour():
    s = sink()
    s.feed(Stderr(b"boom\n"))
    s.feed(Exit(code=3))
    s.finish("exit 3", False)
    text = s.render()["text/plain"]
    assert "[stderr] boom" in text and "✗ failed, exit 3" in text
    assert "stderr 5 B" in text and "0 lines" in text
    s = sink()
    s.feed(Stdout(b"one\n"))
    s.finish("exit 0", True)
    assert "✓ exit 0" in s.render()["text/plain"] and "/ 1 line ·" in s.render()["text/plain"]


def test_the_clock_ticks_before_the_first_byte():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    seen: list[str] = []
    s = sink(interval=0.05)
    s.set_publisher(lambda bundle: seen.append(bundle["text/plain"]))
    try:
        s.start_clock(loop)
        deadline = time.monotonic() + 10
        while len({line for line in seen}) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(set(seen)) >= 3, seen  # the elapsed time moved with no output at all
        assert all("running" in line for line in seen)
    finally:
        s.finish("exit 0", True)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def test_a_cell_printing_all_the_time_refreshes_at_its_interval():
    """magics25: after its first refresh, the clock's quiet 0.5 s timer was kept when output
    came, so a cell printing all the time refreshed twice a second, whatever
    `Orch.update_interval` said (default 0.1: ~10 a second)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    seen: list[float] = []
    s = sink(interval=0.05)
    s.set_publisher(lambda bundle: seen.append(time.monotonic()))
    try:
        s.start_clock(loop)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2:  # a line every 20 ms for 2 s
            loop.call_soon_threadsafe(s.feed, Stdout(b"line\n"))
            time.sleep(0.02)
        assert len(seen) >= 12, seen  # 0.05 s apart: ~40; the quiet tick's: 4 or 5
    finally:
        s.finish("exit 0", True)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def test_tail_zero_counts_lines_and_shows_none():
    s = sink(tail=0)
    s.feed(Stdout(b"one\ntwo\nunterminated"))
    s.close()
    s.finish("exit 0", True)
    text = s.render()["text/plain"]
    assert text.splitlines()[:-1] == ["… 3 earlier lines hidden (all kept in the result)"]
    assert "/ 3 lines" in text and "stdout 20 B" in text


def test_a_named_run_does_not_promise_what_its_result_dropped(tmp_path: Path) -> None:
    """A background (named) run's result keeps the end of the output: the cell says so, and
    its status line at the end says how much was kept and names the log file."""
    orch = Orchestrator(load_config_text("environments: {local: {layers: []}}"),
                        log_dir=tmp_path, capture_limit=64 << 10)
    view = sink(tail=2, result_keeps=orch.capture_limit)
    try:
        res = orch.start("local", command="seq 100000", name="s", sinks=[view]).wait(30)
    finally:
        orch.close()
    view.finish(*describe_end(res))
    text = view.render()["text/plain"]
    assert text.splitlines()[:3] == [
        "… 99998 earlier lines hidden (the result keeps the last 64.0 KiB of each stream)",
        "99999", "100000"]
    status = text.splitlines()[-1]
    assert "✓ exit 0" in status and "stdout 575.1 KiB / 100000 lines" in status
    assert (f"stdout: last 64.0 KiB of 575.1 KiB kept ({res.stdout_dropped.lines} earlier "
            f"lines dropped); more in the log file {tmp_path / 's.log'} · ") in status


def test_a_prompt_shows_above_the_answer_typed_to_it():
    """A REPL read as `› select 1` / `sql> row:select 1`: the prompt not ended yet was always
    drawn last, and took the answer's line as its own (browser2 tester)."""
    s = sink()
    s.feed(Stdout(b"sql> "))
    s.note_stdin("select 1")
    s.feed(Stdout(b"row:select 1\nsql> "))
    s.note_stdin("select 2")
    s.feed(Stdout(b"row:select 2\nsql> "))
    assert s.snapshot().lines == [
        ("stdout", "sql> "), ("stdin", "select 1"), ("stdout", "row:select 1"),
        ("stdout", "sql> "), ("stdin", "select 2"), ("stdout", "row:select 2"),
        ("stdout", "sql> ")]
    s.close()
    assert s.snapshot().lines[-1] == ("stdout", "sql> ") and s.line_counts["stdout"] == 3


def test_a_line_of_one_stream_shows_below_the_other_streams_line_begun_before_it():
    s = sink()
    s.feed(Stdout(b"x" * 1000))
    s.feed(Stderr(b"END\n"))
    assert s.snapshot().lines == [("stdout", "x" * 1000), ("stderr", "END")]
    s.feed(Stdout(b"yz\nnext\n"))
    assert s.snapshot().lines == [("stdout", "x" * 1000), ("stderr", "END"), ("stdout", "yz"),
                                  ("stdout", "next")]


def test_a_line_sent_to_a_terminal_is_counted_not_echoed():
    """A tty run's terminal echoes what it reads, or hides it (`stty -echo` for a password):
    the cell showed `› hunter2` and saved it in the notebook (browser2 tester)."""
    s = sink()
    s.feed(Stdout(b"Password: "))
    s.note_stdin("hunter2", echo=False)
    s.finish("exit 0", True)
    assert "hunter2" not in s.render()["text/html"] + s.render()["text/plain"]
    assert s.stdin_bytes == len("hunter2\n")


def test_the_outcome_is_drawn_in_the_themes_own_success_and_error_colours():
    """JupyterLab Dark's ANSI intense red, dimmed, was 2.4:1 on its background (browser2)."""
    for ok, colour in ((True, "--jp-success-color1"), (False, "--jp-error-color1")):
        s = sink()
        s.finish("exit 0" if ok else "exit 3", ok)
        status = s.render()["text/html"].split('class="orch-status"')[1]
        assert f"color:var({colour}," in status and "opacity" not in status


def test_a_view_keeps_its_attempt_when_a_named_run_restarts():
    """A restart's output went into the first attempt's cell, under its `✗ interrupted` and
    audit id, its bytes counted in (magics2 tester)."""
    s = sink()
    s.feed(Stdout(b"first\n"))
    s.close()
    s.finish("interrupted", False)
    s.feed(Stdout(b"second-attempt\n"))  # the same sinks serve the next attempt
    s.close()
    assert s.snapshot().lines == [("stdout", "first")] and s.byte_counts["stdout"] == 6


def test_a_progress_bar_redrawn_with_cr_is_not_copied_between_the_other_streams_lines():
    """tqdm on stderr while a loop prints losses on stdout: each state of the bar stayed as a
    row at every loss line (review10): a line a `\\r` redraws is not placed."""
    s = sink()
    for i in range(1, 6):
        s.feed(Stderr(f"\r{i * 20:3d}%|{'#' * i}{' ' * (5 - i)}|".encode()))
        s.feed(Stdout(f"loss {i}\n".encode()))
    rows = s.snapshot().lines
    assert [r for r in rows if r[0] == "stdout"] == [("stdout", f"loss {i}") for i in range(1, 6)]
    assert [terminal_view(line) for stream, line in rows if stream == "stderr"] == ["100%|#####|"]


def test_a_line_whose_placed_start_scrolled_out_shows_whole():
    s = sink(tail=3)
    s.feed(Stdout(b"Progress: "))
    for i in range(3):
        s.feed(Stderr(f"e{i}\n".encode()))
    s.feed(Stdout(b"done\n"))
    assert s.snapshot().lines[-1] == ("stdout", "Progress: done")


def test_the_hidden_marker_counts_echoed_lines_that_scrolled_out():
    """browser11: 10 lines sent from the box and 10 answers with a tail of 5 said "7 earlier
    lines hidden" (echoes not counted), and 41 rows with a tail of 40 said nothing."""
    s = sink(tail=5)
    for i in range(10):
        s.note_stdin(f"l{i}")
        s.feed(Stdout(f"L{i}\n".encode()))
    shot = s.snapshot()
    assert shot.lines == [("stdout", "L7"), ("stdin", "l8"), ("stdout", "L8"), ("stdin", "l9"),
                          ("stdout", "L9")]
    assert shot.hidden == 15
    assert "15 earlier lines hidden" in s.render()["text/plain"]
    s = sink(tail=4)
    s.note_stdin("only the echo scrolls out")
    s.feed(Stdout(b"1\n2\n3\n4\n"))
    assert s.snapshot().hidden == 1


@pytest.mark.parametrize(("written", "hidden"), [
    ([Stdout(b"Password: ")], True),
    ([Stderr(b"[sudo] password for ops: ")], True),
    # notebook14: colours after the colon, a prompt ended by echo or CRLF, other words
    ([Stdout(b"\x1b[1;33mPassword:\x1b[0m ")], True),
    ([Stdout(b"Password: \x1b[?25l")], True),
    ([Stdout(b"Enter your password:\n")], True),
    ([Stdout(b"Password:\r\n")], True),
    ([Stdout(b"API key: ")], True),
    ([Stdout(b"Verification code: ")], True),
    ([Stdout("[sudo] Passwort für x: ".encode())], True),
    # notebook15: OpenSSL's two words, a prompt ended by `>`, a blank line after the prompt
    ([Stdout(b"Enter PEM pass phrase:")], True),
    ([Stdout(b"Enter secret> ")], True),
    ([Stdout(b"Token:\n\n")], True),
    # review22: a log line or a progress bar on stdout after a prompt on stderr, a colour
    # reset after an ended prompt, sudo in any language
    ([Stderr(b"Password: "), Stdout(b"connecting to db\n")], True),
    ([Stderr(b"Password: "), Stdout(b"\r[##  ] 20%")], True),
    ([Stdout(b"\x1b[33mEnter password:\n\x1b[0m")], True),
    ([Stderr("[sudo] ops için parola: ".encode())], True),
    ([Stderr("[sudo] ops 的密码：".encode())], True),
    ([Stdout(b"password> ")], True),
    # a prompt answered, then a plain one on the same stream
    ([Stdout(b"Password: "), Stdout(b"\ngot\nYour name: ")], False),
    ([Stdout(b"Your name: ")], False),
    ([Stdout(b"hello\n")], False),
])
def test_a_line_sent_after_a_prompt_for_a_secret_is_shown_as_dots(written: list[Stdout],
                                                                 hidden: bool) -> None:
    """browser13: a password typed in the stdin box was shown in the cell, and saved."""
    sink = DisplaySink(environment="e", layers="l", what="w")
    for event in written:
        sink.feed(event)
    sink.note_stdin("S3cr3tValue")
    shown = sink.render()["text/plain"]
    assert ("S3cr3tValue" not in shown) == hidden, shown
    assert ("········ (hidden" in shown) == hidden, shown


PROMPTING = """\
environments: {local: []}
services:
  filtered:
    command: >-
      printf 'Password: '; IFS= read -r p; echo "ERROR got ${#p}"; cat
    stdin_mode: streaming
    filters: [{type: grep, pattern: ERROR}]
  tofile:
    command: >-
      printf 'Password: '; IFS= read -r p; echo "got ${#p}"; cat
    stdin_mode: streaming
    stdout_mode: file
    stdout_file: FILE
  session:
    command: >-
      printf 'Enter passphrase: ' >&2; IFS= read -r p; echo unlocked; cat
    stdin_mode: streaming
  getpass:
    command: >-
      printf 'Password: ' >&2; IFS= read -r p; echo >&2; echo unlocked; cat
    stdin_mode: streaming
audit: {enabled: false}
"""


@pytest.mark.parametrize("service", ["filtered", "tofile", "session", "getpass"])
def test_a_box_line_is_hidden_after_a_prompt_the_program_wrote_only(tmp_path: Path,
                                                                   service: str) -> None:
    """browser16: a prompt a stdout filter dropped (or held until its line ended), or one
    written to the stdout file, was never seen by the view: the password typed after it was
    shown, and saved in the notebook. A prompt on stderr, once answered, hid every later
    line of the session."""
    text = PROMPTING.replace("FILE", str(tmp_path / "out.txt"))
    sink = DisplaySink(environment="local", layers="local", what=service)
    with Orchestrator(load_config_text(text)) as orch:
        live = orch.start("local", service, sinks=[sink], close_stdin=False)
        deadline = time.monotonic() + 30
        time.sleep(1)  # the program has asked (at once: its first words)
        sink.note_stdin("Hunter2-Secret")
        live.send_line("Hunter2-Secret")
        if service in ("session", "getpass"):  # (getpass: its newline after the secret)
            while "unlocked" not in sink.render()["text/plain"]:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        sink.note_stdin("ls -l /tmp")
        live.send_line("ls -l /tmp")
        live.close_stdin()
        assert live.wait(30).ok
    shown = sink.render()["text/plain"]
    assert "Hunter2" not in shown and "› ········ (hidden" in shown, shown
    assert "› ls -l /tmp" in shown, shown


def test_the_live_status_counts_what_the_process_took_on_stdin(tmp_path: Path) -> None:
    """browser16: while a `%%orch ENV SERVICE --stdin` cell ran, its status left out the cell
    body already sent (the process had echoed it); only the final status counted it."""
    sink = DisplaySink(environment="local", layers="local", what="rd")
    text = ("environments: {local: []}\naudit: {enabled: false}\nservices:\n"
            "  rd: {command: 'while IFS= read -r l; do echo \"R:$l\"; done', "
            "stdin_mode: streaming}\n")
    with Orchestrator(load_config_text(text)) as orch:
        live = orch.start("local", "rd", sinks=[sink], stdin="body-a\nbody-b\n",
                          close_stdin=False)
        sink.follow(live)
        deadline = time.monotonic() + 30
        while "R:body-b" not in sink.render()["text/plain"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert "stdin 14 B" in sink.render()["text/plain"].splitlines()[-1]
        live.close_stdin()
        live.wait(30)


def test_a_pre_command_that_never_started_is_not_said_to_run_on() -> None:
    """review30: a pre command that could not start (its host unreachable) left the status
    saying `pre command running` through the end of its attempt and a restart's next one."""
    s = sink()
    s.step_started("pre", "migrate")
    assert "· pre command running ·" in s.render()["text/plain"]
    s.next_attempt()
    assert "pre command" not in s.render()["text/plain"]
    s.step_started("pre", "migrate")
    s.finish("failed: cannot reach db", False)
    assert "pre command" not in s.render()["text/plain"]
