"""Keys typed into the stdin box while the kernel's write that empties it is on its way.

The kernel empties the field after each line; the browser may have typed on meanwhile. Before,
that write overwrote the newer keys and a value sent before the browser saw it still held the
line already sent: typing `one⏎two⏎three⏎` quickly gave `ONE ONE '' THREE …`, and two lines
typed while another cell ran gave `A` (browser tester D1). First the kernel's side, fed the
values the browser sends in either order, then a person typing in JupyterLab.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from lab import browse_notebook, save_notebook
from orch_magics import Orchestrator, load_config_text
from orch_magics.magics.widget import StdinBox

CONFIG = ("environments: {local: {layers: []}}\n"
          "services: {cat: {command: cat, stdin_mode: interactive}}\n")


#: What the browser sends, in turn: a value; SEND (the Send button); or a pause (seconds).
SEND = "<send>"


@pytest.mark.parametrize(("values", "lines"), [
    # the write that emptied the field came after the next keys (not taken)
    (["one\n", "one\nt", "one\ntw", "one\ntwo\n", "one\ntwo\nth", "one\ntwo\nthree\n"],
     ["one", "two", "three"]),
    # the write was taken each time: each value starts afresh
    (["one\n", "t", "tw", "two\n", "three\n"], ["one", "two", "three"]),
    # taken once, not the next time
    (["one\n", "t", "two\n", "two\nx", "two\nx\n"], ["one", "two", "x"]),
    # Enter on an empty box, twice: taken, and not
    (["\n", "\n"], ["", ""]),
    (["\n", "\n\n"], ["", ""]),
    # a line typed again after it was sent
    (["ls\n", "l", "ls", "ls\n"], ["ls", "ls"]),
    # Send sends what is typed; keys after it start the next line, taken or not
    (["ab", "abc", SEND, "x", "x\n"], ["abc", "x"]),
    (["ab", "abc", SEND, "abcx", "abcx\n"], ["abc", "x"]),
    # a pasted block, then keys before the write came
    (["a\nb\nc", "a\nb\ncd", "a\nb\ncd\n"], ["a", "b", "cd"]),
    # box2 D1: a paste that starts with the line just sent, once the box was emptied
    (["ls\n", 0.6, "ls\npwd\n"], ["ls", "ls", "pwd"]),
    # browser8: after a block, the block and keys typed on, however late: the page held them
    (["a\nb\nc\n", 1.2, "a\nb\nc\nafter\n"], ["a", "b", "c", "after"]),
    (["ab", SEND, 0.6, "abc\n"], ["ab", "abc"]),
    # box2 D3: Enter with the caret mid-line sends the whole line
    (["ello world", "hello world", "h\nello world", "x\n"], ["hello world", "x"]),
])
def test_each_line_is_sent_once_whenever_the_write_arrives(
        values: list[str | float], lines: list[str]) -> None:
    with Orchestrator(load_config_text(CONFIG)) as orch:
        live = orch.spawn("local", "cat", close_stdin=False)
        box = StdinBox(live)
        sent: list[dict[str, Any]] = []  # what the kernel sends the browser
        box.text.comm.send = lambda data=None, buffers=None, **kw: sent.append(data)
        for value in values:
            if isinstance(value, float):
                time.sleep(value)
            elif value == SEND:
                box.send()
            else:
                box.text.set_state({"value": value})  # as the browser's message sets it
                if "\n" in value:  # the field is emptied of what was sent, by an echo only
                    assert sent[-1] == {"method": "echo_update", "state": {
                        "value": box.text.value}, "buffer_paths": []}
        assert all(m["method"] == "echo_update" for m in sent), sent
        assert box.lines_sent == len(lines)
        deadline = time.monotonic() + 20
        while len(live.lines) < len(lines) and time.monotonic() < deadline:
            time.sleep(0.02)
        live.close_stdin()
        res = live.wait(20)
    assert res.stdout.split("\n")[:-1] == lines


@pytest.mark.parametrize("second", ["none", "send", "eof"])
def test_clicks_held_for_their_keys_act_in_turn(second: str) -> None:
    """review43: with the field greyed while a Send waits for its keys (browser24), an EOF
    clicked in that second was dropped: stdin never closed and the program waited for ever.
    Each click acts, in turn; the field takes keys again once none waits."""
    import asyncio

    from orch_magics.magics import held_clicks

    with Orchestrator(load_config_text(CONFIG)) as orch:
        live = orch.spawn("local", "cat", close_stdin=False)

        async def clicks() -> tuple[bool, bool]:
            box = StdinBox(live)
            box.text.set_state({"value": "hello"})
            box.send_button.click()
            held = box.text.disabled
            await asyncio.sleep(0.05)
            box.text.set_state({"value": "hello world"})  # the keys before the click come
            if second == "send":
                box.send_button.click()
            elif second == "eof":
                box.eof_button.click()
            await asyncio.sleep(held_clicks.HELD_KEYS + 0.5)
            return held, box.text.disabled

        held, after = asyncio.run(clicks())
        if second != "eof":
            live.close_stdin()
        res = live.wait(20)
    assert held and after == (second == "eof")  # greyed while held; closed after an EOF
    assert res.stdout == "hello world\n"


def test_keys_after_a_paste_that_took_long_to_send_do_not_send_it_again() -> None:
    """browser7: a 2,000-line paste took the kernel over LATE to send (a front end slow to take
    its display updates); the browser's next value, the block plus the keys typed after it,
    sent before it had the write, was read as typed afresh and the block went twice."""
    from orch_magics.sinks.display import DisplaySink

    block = "".join(f"p{i}\n" for i in range(2000))
    sink = DisplaySink(environment="local", layers="local", what="cat", tail=3)
    with Orchestrator(load_config_text(CONFIG)) as orch:
        live = orch.spawn("local", "cat", sinks=[sink], close_stdin=False)
        box = StdinBox(live, sink)
        sink.set_publisher(lambda bundle: time.sleep(0.8))  # each update takes the page 0.8 s
        box.text.set_state({"value": block})
        box.text.set_state({"value": block + "after1\n"})
        assert box.lines_sent == 2001
        deadline = time.monotonic() + 20
        while len(live.lines) < 2001 and time.monotonic() < deadline:
            time.sleep(0.02)
        live.close_stdin()
        res = live.wait(20)
    assert res.stdout.splitlines() == [f"p{i}" for i in range(2000)] + ["after1"]


@pytest.mark.browser
def test_a_person_typing_fast_or_while_a_cell_runs(jupyterlab, chromium, artifacts):
    save_notebook(jupyterlab, "typing.ipynb", "%orch load --demo", "%orch local upper --out r",
                  "import time; time.sleep(4); print('SLEPT')",
                  "res = r.wait(30)\nprint('RESULT', res.lines)")
    with browse_notebook(chromium, jupyterlab, "typing.ipynb", "loaded 2 environment(s)",
                         screenshot=artifacts / "stdin-typing.png") as (page, cells, run):
        run(1)
        box = cells.nth(1).locator(".orch-stdin textarea")
        box.wait_for(timeout=30_000)
        box.click()
        for word in ["one", "two", "three", "four", "five"]:  # no pause between keys
            box.press_sequentially(word)
            box.press("Enter")
        page.wait_for_function(
            "() => document.querySelector('.orch-stdin textarea').value === ''", timeout=10_000)
        run(2)  # the kernel is busy: the browser holds the keys back meanwhile
        box.click()
        for word in ["alpha", "beta"]:
            box.press_sequentially(word, delay=100)
            box.press("Enter")
        cells.nth(2).get_by_text("SLEPT").wait_for(timeout=30_000)
        page.wait_for_function(
            "() => document.querySelector('.orch-stdin textarea').value === ''", timeout=10_000)
        cells.nth(1).locator(".orch-eof").click()
        cells.nth(1).locator(".orch-status").filter(has_text="exit 0").wait_for(timeout=20_000)
        run(3)
        out = cells.nth(3).locator(".jp-OutputArea-output").filter(has_text="'bye']")  # all of it
        out.wait_for(timeout=30_000)
        assert ("['ONE', 'TWO', 'THREE', 'FOUR', 'FIVE', 'ALPHA', 'BETA', 'bye']"
                in out.inner_text()), out.inner_text()


#: A kernel slow to answer, as on a loaded machine: a thread holding the GIL most of the time.
SLOW_KERNEL = ("import sys, threading\nsys.setswitchinterval(0.05)\n"
               "def hog():\n    while True:\n        sum(range(100000))\n"
               "threading.Thread(target=hog, daemon=True).start()")


def test_send_sends_the_whole_line_shown_even_from_a_slow_kernel(jupyterlab, chromium,
                                                                  artifacts):
    """browser5: ipywidgets holds a field's later keys until the kernel answers, and the Send
    click (another widget's message) overtook them: the run got "h", then "hello worlds"..."""
    save_notebook(jupyterlab, "send.ipynb", "%orch load --demo", SLOW_KERNEL,
                  "%orch local upper --out r", "print('RESULT', r.wait(30).lines)")
    with browse_notebook(chromium, jupyterlab, "send.ipynb", "loaded 2 environment(s)",
                         screenshot=artifacts / "stdin-send.png") as (page, cells, run):
        run(1)
        run(2)
        box = cells.nth(2).locator(".orch-stdin textarea")
        box.wait_for(timeout=30_000)
        for line in ("hello world", "second line"):
            box.click()
            box.press_sequentially(line, delay=30)
            cells.nth(2).locator(".orch-send").click()
            page.wait_for_function(  # a kernel slowed on purpose: its answer takes a while
                "() => document.querySelector('.orch-stdin textarea').value === ''",
                timeout=30_000)
        cells.nth(2).locator(".orch-eof").click()
        cells.nth(2).locator(".orch-status").filter(has_text="exit 0").wait_for(timeout=30_000)
        run(3)
        out = cells.nth(3).locator(".jp-OutputArea-output").filter(has_text="'bye']")  # all of it
        out.wait_for(timeout=30_000)
        assert "['HELLO WORLD', 'SECOND LINE', 'bye']" in out.inner_text(), out.inner_text()


def test_the_field_takes_no_keys_while_a_send_waits_for_those_before_it(jupyterlab, chromium,
                                                                         artifacts):
    """browser24: a Send click waits a moment for the keys typed before it (above); the
    field still took keys meanwhile, so a line typed then joined the clicked one
    (`firstsecond`), or, selected over, replaced it unsent. The field is greyed from the
    click until its line is sent."""
    save_notebook(jupyterlab, "held.ipynb", "%orch load --demo", "%orch local upper --out r",
                  "print('RESULT', r.wait(30).lines)")
    with browse_notebook(chromium, jupyterlab, "held.ipynb", "loaded 2 environment(s)",
                         screenshot=artifacts / "stdin-held.png") as (page, cells, run):
        run(1)
        box = cells.nth(1).locator(".orch-stdin textarea")
        box.wait_for(timeout=30_000)
        box.click()
        box.press_sequentially("first", delay=30)
        cells.nth(1).locator(".orch-send").click()
        page.wait_for_function("() => document.querySelector('.orch-stdin textarea').disabled",
                               timeout=5_000)
        assert box.input_value() == "first"  # shown, greyed, until it is sent
        page.wait_for_function(
            "() => { const t = document.querySelector('.orch-stdin textarea');"
            " return !t.disabled && t.value === ''; }", timeout=10_000)
        box.click()
        box.press_sequentially("second", delay=30)
        box.press("Enter")
        cells.nth(1).locator(".orch-eof").click()
        cells.nth(1).locator(".orch-status").filter(has_text="exit 0").wait_for(timeout=30_000)
        run(2)
        out = cells.nth(2).locator(".jp-OutputArea-output").filter(has_text="'bye']")
        out.wait_for(timeout=30_000)
        assert "['FIRST', 'SECOND', 'bye']" in out.inner_text(), out.inner_text()


@pytest.mark.browser
def test_send_waits_for_a_running_cell_and_enter_still_sends(jupyterlab, chromium, artifacts):
    """browser6: `first` Send `second` Send while another cell ran reached the run as one
    line, FIRSTSECOND: the browser held the keys until the kernel was free and the clicks,
    another widget's messages, carried no trace of where each line ended. While a cell runs,
    Send and EOF wait (disabled); Enter's newline travels with the keys."""
    save_notebook(jupyterlab, "busy.ipynb", "%orch load --demo", "%orch local upper --out r",
                  "import time; time.sleep(5); print('SLEPT')",
                  "print('RESULT', r.wait(30).lines)",
                  # notebook6: a box drawn by a cell that goes on was not held for its rest
                  "q = %orch local upper\nimport time; time.sleep(4); print('WOKE')")
    with browse_notebook(chromium, jupyterlab, "busy.ipynb", "loaded 2 environment(s)",
                         screenshot=artifacts / "stdin-busy.png") as (page, cells, run):
        run(1)
        box = cells.nth(1).locator(".orch-stdin textarea")
        box.wait_for(timeout=30_000)
        send = cells.nth(1).locator(".orch-send")
        assert send.is_enabled()
        run(2)
        page.wait_for_function(  # held while the cell runs
            "() => document.querySelector('.orch-send').disabled", timeout=10_000)
        assert cells.nth(1).locator(".orch-eof").is_disabled()
        stop = cells.nth(1).locator(".orch-stop")  # browser21: a click the kernel takes later,
        assert "takes this stop once that cell ends" in stop.get_attribute("title")  # said
        box.click()
        for word in ("first", "second"):
            box.press_sequentially(word, delay=50)
            box.press("Enter")
        cells.nth(2).get_by_text("SLEPT").wait_for(timeout=30_000)
        page.wait_for_function(
            "() => !document.querySelector('.orch-send').disabled", timeout=10_000)
        box.press_sequentially("third", delay=30)
        send.click()
        page.wait_for_function(
            "() => document.querySelector('.orch-stdin textarea').value === ''", timeout=10_000)
        cells.nth(1).locator(".orch-eof").click()
        cells.nth(1).locator(".orch-status").filter(has_text="exit 0").wait_for(timeout=30_000)
        run(3)
        out = cells.nth(3).locator(".jp-OutputArea-output").filter(has_text="'bye']")  # all of it
        out.wait_for(timeout=30_000)
        assert "['FIRST', 'SECOND', 'THIRD', 'bye']" in out.inner_text(), out.inner_text()
        run(4)
        own = cells.nth(4).locator(".orch-send")
        own.wait_for(timeout=30_000)
        assert own.is_disabled()  # its own cell still runs
        cells.nth(4).get_by_text("WOKE").wait_for(timeout=30_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.orch-send')].every(b => !b.disabled)",
            timeout=10_000)


def test_a_lone_surrogate_typed_is_sent_as_a_replacement_character() -> None:
    """review16: JSON from the browser can carry "\\ud800", which no UTF-8 holds: the box's
    observer raised out of set_state, sent nothing and showed nothing."""
    with Orchestrator(load_config_text(CONFIG)) as orch:
        live = orch.spawn("local", "cat", close_stdin=False)
        box = StdinBox(live)
        box.text.set_state({"value": "a\ud800b\n"})
        assert box.lines_sent == 1
        live.close_stdin()
        res = live.wait(20)
    assert res.stdout == "a\ufffdb\n"
