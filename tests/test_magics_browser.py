"""A real browser: JupyterLab in headless Chromium, typing into the stdin box of a live run.

JupyterLab never runs widget callbacks while a cell executes, so this only passes if the run
returned at once and the box feeds the process afterwards.
"""

from __future__ import annotations

import nbformat
import pytest

from lab import browse_notebook, save_notebook

pytestmark = pytest.mark.browser


STDIN_CELLS = [
    "%orch load --demo",
    "%orch local upper --out r",
    "res = r.wait(30)\nprint('RESULT', res.lines, res.returncode)",
    # a cell body is the input: sent, EOF, and the cell blocks ("Run all" stays in order)
    "%%orch local upper --out blocked\nfirst\nsecond",
    "print('BLOCKED', type(blocked).__name__, blocked.lines)",
]


def test_stdin_box_feeds_a_live_run(jupyterlab, chromium, artifacts):
    save_notebook(jupyterlab, "stdin.ipynb", *STDIN_CELLS)
    with browse_notebook(chromium, jupyterlab, "stdin.ipynb", "loaded 2 environment(s)",
                         screenshot=artifacts / "magics-browser-stdin.png") as (page, cells, run):
        run(1)
        box = cells.nth(1).locator(".orch-stdin textarea")
        box.wait_for(timeout=30_000)
        box.click()
        box.press_sequentially("hello from chromium")
        box.press("Enter")
        page.wait_for_selector("text=HELLO FROM CHROMIUM", timeout=20_000)
        page.wait_for_function(
            "() => document.querySelector('.orch-stdin textarea').value === ''", timeout=10_000)
        box.press_sequentially("second line")
        box.press("Enter")
        page.wait_for_selector("text=SECOND LINE", timeout=20_000)
        cells.nth(1).locator(".orch-eof").click()
        status = cells.nth(1).locator(".orch-status")
        status.filter(has_text="exit 0").wait_for(timeout=20_000)
        output = cells.nth(1).locator(".orch-tail").inner_text()
        assert "HELLO FROM CHROMIUM" in output and "SECOND LINE" in output and "bye" in output
        assert "exit 0" in status.inner_text()
        # the box is replaced by a line of text: a saved notebook has no widget left
        cells.nth(1).get_by_text("[stdin of upper: closed, 2 lines sent from the box]").wait_for(
            timeout=20_000)
        assert cells.nth(1).locator(".orch-stdin-box").count() == 0
        run(2)
        result = cells.nth(2).locator(".jp-OutputArea-output").filter(has_text="RESULT")
        result.wait_for(timeout=30_000)
        assert "['HELLO FROM CHROMIUM', 'SECOND LINE', 'bye'] 0" in result.inner_text()
        run(3)
        run(4)  # queued at once, as "Run all" would: it must see the finished result
        blocked = cells.nth(4).locator(".jp-OutputArea-output").filter(has_text="BLOCKED")
        blocked.wait_for(timeout=30_000)
        assert "BLOCKED RunResult ['FIRST', 'SECOND', 'bye']" in blocked.inner_text()
        assert cells.nth(3).locator(".orch-stdin-box").count() == 0  # no box for a given body


# ---- what a person sees in a cell (issue 11, #13–#20) -----------------------------------------
VIEW_CELLS = [
    "%orch load --demo",                                                           # 0
    "print('plain stream output')",                                                # 1
    "%%orch sandbox -e LEVEL=debug\necho '$x$ and $y$'; echo $LEVEL $ORCH_DEMO_ENV $PWD\n"
    "printf '\\033[31mred\\033[0m\\n'; echo oops >&2",                             # 2
    "%%orch local\nsleep 4; echo woke",                                            # 3
    "%%orch local\nfor i in 1 2 3 4 5; do printf '\\rprogress %d/5' $i; sleep 0.7; done; echo",
    "%orch local disk-report",                                                     # 5
    "%orch start local ticker --name tk",                                          # 6
    "%orch stop tk",                                                               # 7
    "%orch local upper",                                                           # 8
    "%%orch local --no-raise-error\necho bad >&2; exit 3",                         # 9
]


def _left_and_size(locator) -> tuple[float, str]:
    return locator.evaluate(
        "e => { const r = document.createRange(); r.selectNodeContents(e);"
        " return [r.getClientRects()[0].left, getComputedStyle(e).fontSize]; }")


def test_what_a_cell_shows(jupyterlab, chromium, artifacts):
    save_notebook(jupyterlab, "view.ipynb", *VIEW_CELLS)
    shot = artifacts / "magics-browser-view.png"
    with browse_notebook(chromium, jupyterlab, "view.ipynb", "loaded 2 environment(s)",
                         height=1400, screenshot=shot) as (page, cells, run):
        run(1)
        run(2)
        status = cells.nth(2).locator(".orch-status")
        status.filter(has_text="exit 0").wait_for(timeout=30_000)
        # #14: never math, never markup; #20: ANSI colours as %%bash shows them
        tail = cells.nth(2).locator(".orch-tail")
        assert "$x$ and $y$" in tail.inner_text()
        assert "debug sandbox /tmp" in tail.inner_text()
        assert "$x$ and $y$" in status.inner_text()  # the script's first line, as typed
        assert cells.nth(2).locator("mjx-container, .MathJax").count() == 0
        red = tail.locator(".ansi-red-fg")
        assert red.inner_text() == "red"
        assert red.evaluate("e => getComputedStyle(e).color") != tail.evaluate(
            "e => getComputedStyle(e).color")
        # #20: orch output lines up with ordinary output, same font size
        plain = cells.nth(1).locator(".jp-OutputArea-output pre")
        first = tail.locator(".orch-stdout").first
        (plain_left, plain_size), (orch_left, orch_size) = (_left_and_size(plain),
                                                            _left_and_size(first))
        assert abs(plain_left - orch_left) < 1.5 and plain_size == orch_size
        # #13: a silent command's clock moves before its first byte
        run(3)
        clock = cells.nth(3).locator(".orch-status")
        page.wait_for_function(
            "() => { const s = document.querySelectorAll('.jp-Cell')[3]"
            ".querySelector('.orch-status'); return s && /running · [1-9]/.test(s.textContent); }",
            timeout=20_000)
        assert cells.nth(3).locator(".orch-tail").count() == 0  # no output yet
        clock.filter(has_text="exit 0").wait_for(timeout=30_000)
        # #16: \r updates the line in place while running, and leaves one line
        run(4)
        page.wait_for_function(
            "() => { const c = document.querySelectorAll('.jp-Cell')[4];"
            " const t = c.querySelector('.orch-tail'); const s = c.querySelector('.orch-status');"
            " return t && /progress [2-4]\\/5/.test(t.textContent) && /running/.test("
            "s.textContent); }", timeout=20_000)
        bar = cells.nth(4).locator(".orch-status")
        bar.filter(has_text="exit 0").wait_for(timeout=30_000)
        assert cells.nth(4).locator(".orch-tail").inner_text().strip() == "progress 5/5"
        # #18: pre and post step output is in the cell
        run(5)
        cells.nth(5).locator(".orch-status").filter(has_text="exit 0").wait_for(timeout=30_000)
        text = cells.nth(5).locator(".orch-tail").inner_text()
        assert text.startswith("checking ") and text.rstrip().endswith("report done")
        # #15: a handle shows what is true now, or nothing
        run(6)
        started = cells.nth(6).locator(".jp-OutputArea-output").filter(has_text="<NamedRun tk")
        started.wait_for(timeout=20_000)
        assert " as of " in started.inner_text()
        run(7)
        started.filter(has_text="stopped").wait_for(timeout=30_000)
        assert " as of " not in started.inner_text()
        run(8)
        box = cells.nth(8).locator(".orch-stdin textarea")
        box.wait_for(timeout=30_000)
        assert "<LiveRun" not in cells.nth(8).inner_text()  # the cell shows the run itself
        # #19: leaving the box does not send the half-typed line; Enter sends it whole
        box.click()
        box.press_sequentially("half")
        cells.nth(7).locator(".cm-content").click()  # focus elsewhere: the box loses it
        page.wait_for_function(
            "() => document.activeElement.tagName !== 'TEXTAREA'", timeout=5_000)
        box.click()
        box.press("End")
        box.press_sequentially(" done")
        box.press("Enter")
        page.wait_for_selector("text=HALF DONE", timeout=20_000)
        cells.nth(8).locator(".orch-eof").click()
        cells.nth(8).locator(".orch-status").filter(has_text="exit 0").wait_for(timeout=20_000)
        lines = cells.nth(8).locator(".orch-tail").inner_text().splitlines()
        assert lines == ["› half done", "HALF DONE", "bye"]
        run(9)
        # the final status (the verdict), not the interim one the exit event shows first
        cells.nth(9).locator(".orch-status").filter(has_text="✗ failed, exit 3").wait_for(
            timeout=20_000)
        page.keyboard.press("Control+s")
        page.wait_for_function("() => !document.querySelector('.jp-mod-dirty')",
                               timeout=20_000)
    _saved_copy_reads_right(jupyterlab, chromium, artifacts)


def _saved_copy_reads_right(jupyterlab, chromium, artifacts) -> None:
    """#17: the saved notebook, opened as an untrusted copy, still tells what happened."""
    nb = nbformat.read(jupyterlab.root / "view.ipynb", as_version=4)
    bundles = [o.get("data", {}) for c in nb.cells for o in c.get("outputs", [])]
    assert not any("application/vnd.jupyter.widget-view+json" in b for b in bundles)
    nb.cells.append(nbformat.v4.new_markdown_cell("A shared copy."))  # a new hash: untrusted
    nbformat.write(nb, jupyterlab.root / "view-copy.ipynb")
    shot = artifacts / "magics-browser-untrusted.png"
    with browse_notebook(chromium, jupyterlab, "view-copy.ipynb", height=1400,
                         screenshot=shot) as (page, cells, _):
        failed = cells.nth(9)
        failed.locator(".orch-status").wait_for(timeout=30_000)
        assert "✗ failed, exit 3" in failed.locator(".orch-status").inner_text()
        stderr = failed.locator(".orch-stderr")
        assert stderr.inner_text() == "bad"
        assert page.locator("[title^='Notebook not trusted']").count() == 1
        assert stderr.evaluate("e => getComputedStyle(e).backgroundColor") not in (
            "rgba(0, 0, 0, 0)", "transparent")
        assert "stdin of upper: closed" in cells.nth(8).inner_text()
        plain = _left_and_size(cells.nth(1).locator(".jp-OutputArea-output pre"))
        orch = _left_and_size(failed.locator(".orch-stderr"))
        assert abs(plain[0] - orch[0]) < 1.5 and plain[1] == orch[1]
        assert "Error displaying widget" not in page.locator(".jp-Notebook").inner_text()


def test_a_line_sent_after_a_password_prompt_is_not_shown_nor_saved(jupyterlab, chromium,
                                                                     artifacts):
    """browser13: a password typed in the stdin box after the program's `Password: ` was
    echoed into the cell (`› hunter2-secret`) and saved in the .ipynb in clear."""
    cfg = jupyterlab.root / "pw.yaml"
    cfg.write_text("environments:\n  local: {layers: []}\nservices:\n  pw:\n    command: >-\n"
                   "      printf 'Password: '; read -r pw; echo \"got ${#pw} chars\";\n"
                   "      read -r next; echo \"then $next\"\n    stdin_mode: interactive\n")
    save_notebook(jupyterlab, "pw.ipynb", f"%orch load {cfg}", "%orch local pw")
    with browse_notebook(chromium, jupyterlab, "pw.ipynb", "loaded 1 environment(s)",
                         screenshot=artifacts / "magics-browser-password.png") as (page, cells,
                                                                                    run):
        run(1)
        box = cells.nth(1).locator(".orch-stdin textarea")
        box.wait_for(timeout=30_000)
        cells.nth(1).locator(".orch-tail").filter(has_text="Password:").wait_for(timeout=20_000)
        box.click()
        box.press_sequentially("hunter2-secret")
        # browser19: readable in the field while typed; dots, as a password field's
        assert _text_security(box) == "disc"
        assert "asks for a secret" in (box.get_attribute("placeholder") or "")
        box.press("Enter")
        cells.nth(1).get_by_text("got 14 chars").wait_for(timeout=20_000)
        page.wait_for_function(
            "() => getComputedStyle(document.querySelector('.orch-stdin textarea'))"
            ".webkitTextSecurity === 'none'", timeout=10_000)
        box.press_sequentially("plain words")  # no prompt for a secret: shown as typed
        box.press("Enter")
        cells.nth(1).locator(".orch-status").filter(has_text="exit 0").wait_for(timeout=20_000)
        shown = cells.nth(1).locator(".orch-tail").inner_text()
        assert "hunter2" not in shown and "········ (hidden" in shown, shown
        assert "› plain words" in shown and "then plain words" in shown, shown
        page.keyboard.press("Control+s")
        page.wait_for_function("() => !document.querySelector('.jp-mod-dirty')",
                               timeout=20_000)
    assert "hunter2" not in (jupyterlab.root / "pw.ipynb").read_text()


def _text_security(field) -> str:
    return field.evaluate("el => getComputedStyle(el).webkitTextSecurity")


POST_CONFIG = ("environments: {local: []}\naudit: {enabled: false}\nservices:\n  withpost:\n"
               "    command: exec cat\n    stdin_mode: interactive\n    post_commands:\n"
               "      - {command: 'echo cleaning; sleep 301; echo cleaned', when: always}\n")


def test_stop_stays_to_end_a_clean_up_post_command(jupyterlab, chromium, artifacts):
    """browser22: the first Stop disabled the button; the run's clean-up post command (as
    long as it likes) then ran on with nothing in the cell to end it. A second click ends
    it, as a second stop does from the API."""
    import subprocess

    save_notebook(jupyterlab, "post-stop.ipynb",
                  f"open('post-stop.yaml', 'w').write({POST_CONFIG!r})\n"
                  "get_ipython().run_line_magic('orch', 'load post-stop.yaml')",
                  "%orch local withpost")
    with browse_notebook(chromium, jupyterlab, "post-stop.ipynb", "loaded 1 environment(s)",
                         screenshot=artifacts / "stop-post.png") as (page, cells, run):
        run(1)
        stop = cells.nth(1).locator(".orch-stop")
        cells.nth(1).locator(".orch-stdin textarea").wait_for(timeout=30_000)
        stop.click()
        status = cells.nth(1).locator(".orch-status")
        status.filter(has_text="post command running").wait_for(timeout=30_000)
        cells.nth(1).get_by_text("cleaning").wait_for(timeout=30_000)
        assert stop.is_enabled() and "click again" in stop.get_attribute("title")
        stop.click()
        status.filter(has_text="during the post command").wait_for(timeout=30_000)
        assert "cleaned" not in cells.nth(1).locator(".orch-tail").inner_text()
    left = subprocess.run(["pgrep", "-f", "sleep 301"], capture_output=True, text=True)
    assert left.stdout == ""
