"""The protected-environment question in a real kernel driven as JupyterLab drives it (stdin
allowed): pressing Interrupt instead of answering refuses the run in one line, runs nothing,
and the kernel goes on."""

from __future__ import annotations

import os
import queue
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import start_new_kernel

CONFIG = """\
environments:
  local: {layers: []}
  prod: {layers: [], protected: true}
services:
  touch: {command: 'echo touched > "$MARK"'}
  nuke: {command: 'echo nuked > "$MARK"', dangerous: true}
"""


def replies(kc: Any, msg_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The execute reply of `msg_id` and the IOPub outputs it sent (until idle)."""
    reply = kc.get_shell_msg(timeout=60)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=60)
    outputs = []
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=5)
        except queue.Empty:
            break
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["header"]["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
        outputs.append({"type": msg["header"]["msg_type"], **msg["content"]})
    return reply["content"], outputs


@pytest.mark.parametrize("cell", [
    "%%orch prod\necho ran > \"$MARK\"",  # a script cell
    "%orch prod touch",  # the line form
    "%orch prod nuke",  # a dangerous service: asked every time
    "%orch put prod {mark} /tmp/x",  # a copy into the protected environment
    # safety13: in a cell using top-level await, ipykernel turns the interrupt into a task
    # cancellation that could not land: the cell hung, and ran once the name was typed
    "import asyncio\nawait asyncio.sleep(0)\n%orch prod touch",
])
def test_an_interrupt_at_the_question_refuses_in_one_line(orch_kernel: str, tmp_path: Path,
                                                          cell: str) -> None:
    mark = tmp_path / "mark"
    (tmp_path / "orch.yaml").write_text(CONFIG)
    km, kc = start_new_kernel(kernel_name=orch_kernel)
    try:
        kc.execute_interactive(f"%orch load {tmp_path / 'orch.yaml'}\n"
                               f"%env MARK={mark}", timeout=60)
        (tmp_path / "src").write_text("data")
        msg_id = kc.execute(cell.format(mark=tmp_path / "src"), allow_stdin=True)
        asked = kc.get_stdin_msg(timeout=30)  # the field JupyterLab shows
        assert asked["msg_type"] == "input_request"
        assert "'prod' is a protected environment" in asked["content"]["prompt"]
        # safety19: a plain field's answer is echoed into the cell and saved with the
        # notebook, a password typed at the wrong prompt too
        assert asked["content"]["password"]
        time.sleep(0.3)  # the kernel waits for the answer now
        km.interrupt_kernel()  # the user presses ■ instead of answering
        reply, outputs = replies(kc, msg_id)
        said = "".join(o.get("text", "") for o in outputs if o["type"] == "stream")
        errors = [o for o in outputs if o["type"] == "error"]
        assert errors == [] and said == \
            "UsageError: not run: interrupted at the confirmation\n", (said, errors)
        assert reply["status"] == "error"
        assert not mark.exists()  # nothing ran
        after = kc.execute_interactive("print('next', 6 * 7)", timeout=30)
        assert after["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_restart_and_orch_confirm_still_ask_in_jupyterlab(orch_kernel: str, tmp_path: Path) -> None:
    """ORCH_CONFIRM inherited from the server does not answer for the person at the notebook,
    and `%orch restart` of a dangerous service asks again, as its start did."""
    mark = tmp_path / "mark"
    (tmp_path / "orch.yaml").write_text(CONFIG)
    km, kc = start_new_kernel(kernel_name=orch_kernel, env={**os.environ, "ORCH_CONFIRM": "prod"})
    try:
        kc.execute_interactive(f"%orch load {tmp_path / 'orch.yaml'}\n%env MARK={mark}",
                               timeout=60)
        for cell, answer, said in (("%orch start prod nuke --name n", "prod", "started n"),
                                   ("%orch restart n", "nope", "not the environment's name"),
                                   ("%orch restart n", "prod", "")):
            mark.unlink(missing_ok=True)
            msg_id = kc.execute(cell, allow_stdin=True)
            asked = kc.get_stdin_msg(timeout=30)["content"]["prompt"]
            assert "a dangerous service: asked every time" in asked, cell
            kc.input(answer)
            reply, outputs = replies(kc, msg_id)
            assert said in "".join(o.get("text", "") for o in outputs if o["type"] == "stream")
            assert (reply["status"] == "ok") == (answer == "prod"), outputs
            assert _exists_soon(mark) == (answer == "prod"), cell
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _exists_soon(path: Path, timeout: float = 5) -> bool:
    """Whether `path` is there within `timeout` seconds (what a background run writes)."""
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return path.exists()


def test_ctrl_d_in_the_question_is_nothing_typed(orch_kernel: str, tmp_path: Path) -> None:
    """Ctrl-D in the field (ipykernel raises EOFError): refused as an empty answer, one line."""
    mark = tmp_path / "mark"
    (tmp_path / "orch.yaml").write_text(CONFIG)
    km, kc = start_new_kernel(kernel_name=orch_kernel)
    try:
        kc.execute_interactive(f"%orch load {tmp_path / 'orch.yaml'}\n%env MARK={mark}",
                               timeout=60)
        msg_id = kc.execute("%orch prod touch", allow_stdin=True)
        assert kc.get_stdin_msg(timeout=30)["msg_type"] == "input_request"
        kc.input("\x04")
        reply, outputs = replies(kc, msg_id)
        said = "".join(o.get("text", "") for o in outputs if o["type"] == "stream")
        assert said == ("UsageError: not run: nothing was typed (the environment's name, prod, "
                        "confirms it)\n"), outputs
        assert reply["status"] == "error" and not mark.exists()
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.mark.parametrize("call", [
    "r = o.run('prod', 'touch')",
    "r = await o.arun('prod', 'touch')",
    "r = o.start('prod', 'touch', name='t').wait(30)",
])
def test_the_api_in_a_notebook_asks_the_person_there(orch_kernel: str, tmp_path: Path,
                                                     call: str) -> None:
    """safety12: an Orchestrator made in the notebook's own Python asked nobody, so an
    ORCH_CONFIRM inherited from the server let it into a protected environment (and without
    it the run was refused, with a person right there). It asks, as the magic does."""
    mark = tmp_path / "mark"
    (tmp_path / "orch.yaml").write_text(CONFIG)
    km, kc = start_new_kernel(kernel_name=orch_kernel, env={**os.environ, "ORCH_CONFIRM": "prod",
                                                            "MARK": str(mark)})
    try:
        setup = kc.execute_interactive(f"import orch_magics\no = orch_magics.Orchestrator("
                                       f"{str(tmp_path / 'orch.yaml')!r})", timeout=60)
        assert setup["content"]["status"] == "ok"
        for answer in ("nope", "prod"):
            msg_id = kc.execute(call, allow_stdin=True)
            asked = kc.get_stdin_msg(timeout=30)
            assert "'prod' is a protected environment" in asked["content"]["prompt"]
            kc.input(answer)
            reply, outputs = replies(kc, msg_id)
            assert (reply["status"] == "ok") == (answer == "prod"), outputs
            assert _exists_soon(mark) == (answer == "prod")
        # nbclient / papermill (no stdin): nobody can be asked, so the variable answers
        mark.unlink()
        done = kc.execute_interactive(call.replace("name='t'", "name='t2'"), allow_stdin=False,
                                      timeout=60)
        assert done["content"]["status"] == "ok" and _exists_soon(mark)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.mark.parametrize("before", ["", "import asyncio\nawait asyncio.sleep(0)\n"])
def test_an_interrupt_at_a_secret_prompt_refuses_in_one_line(orch_kernel: str,
                                                             tmp_path: Path,
                                                             before: str) -> None:
    """browser13: pressing Interrupt while the `prompt` provider asked for a secret printed
    60 lines of traceback through orch's code; the question's interrupt is one line. In a
    cell using top-level await too (safety13: it hung, then ran once a secret was typed)."""
    mark = tmp_path / "mark"
    (tmp_path / "orch.yaml").write_text(
        "environments:\n  local: {layers: []}\nsecrets: {providers: [prompt]}\nservices:\n"
        "  usesec: {command: 'echo \"$TOKEN\" > \"$MARK\"', environment: {TOKEN: "
        "'{{secret:api_token}}'}}\n")
    km, kc = start_new_kernel(kernel_name=orch_kernel)
    try:
        kc.execute_interactive(f"%orch load {tmp_path / 'orch.yaml'}\n%env MARK={mark}",
                               timeout=60)
        msg_id = kc.execute(before + "%orch local usesec", allow_stdin=True)
        asked = kc.get_stdin_msg(timeout=30)
        assert asked["content"]["password"] and "api_token" in asked["content"]["prompt"]
        time.sleep(0.3)
        km.interrupt_kernel()
        reply, outputs = replies(kc, msg_id)
        said = "".join(o.get("text", "") for o in outputs if o["type"] == "stream")
        errors = [o for o in outputs if o["type"] == "error"]
        assert errors == [] and said == \
            "UsageError: not run: interrupted at the secret prompt\n", (said, errors)
        assert reply["status"] == "error" and not mark.exists()
        after = kc.execute_interactive("print('next', 6 * 7)", timeout=30)
        assert after["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_the_api_from_a_thread_of_a_notebook_is_refused_not_confirmed_by_the_variable(
        orch_kernel: str, tmp_path: Path) -> None:
    """notebook14: from a worker thread nobody can be asked, and an ORCH_CONFIRM inherited
    from the server then let the run into the protected environment; a person is at this
    notebook, so it is refused (yes= still confirms)."""
    mark = tmp_path / "mark"
    (tmp_path / "orch.yaml").write_text(CONFIG)
    km, kc = start_new_kernel(kernel_name=orch_kernel, env={**os.environ, "ORCH_CONFIRM": "prod",
                                                            "MARK": str(mark)})
    try:
        code = (f"import threading, orch_magics\no = orch_magics.Orchestrator("
                f"{str(tmp_path / 'orch.yaml')!r})\nsaid = []\n"
                "def go(**kw):\n    try:\n        said.append(o.run('prod', 'touch', **kw).ok)\n"
                "    except Exception as exc:\n        said.append(str(exc))\n"
                "t = threading.Thread(target=go); t.start(); t.join()\n"
                "t = threading.Thread(target=go, kwargs={'yes': 'prod'}); t.start(); t.join()\n"
                "print(said)")
        outputs: list[dict[str, Any]] = []
        done = kc.execute_interactive(code, allow_stdin=True, timeout=60,
                                      output_hook=lambda msg: outputs.append(msg))
        assert done["content"]["status"] == "ok"
        text = "".join(m["content"].get("text", "") for m in outputs)
        assert "a person is at this notebook, and cannot be asked from this thread" in text, text
        assert text.rstrip().endswith("True]"), text  # yes= confirms from the thread
        # review22: a completion (or any message) the front end sent since made the thread's
        # view of "a person is there" the completion's, and the variable confirmed the run
        late = (f"said.clear()\nimport time\no = orch_magics.Orchestrator("  # unconfirmed
                f"{str(tmp_path / 'orch.yaml')!r})\nthreading.Thread(target=lambda: ("
                f"time.sleep(2), go())).start()")
        assert kc.execute_interactive(late, allow_stdin=True, timeout=60)["content"][
            "status"] == "ok"
        kc.complete("o.ru", 4)
        time.sleep(4)
        outputs.clear()
        kc.execute_interactive("print(said)", allow_stdin=True, timeout=60,
                               output_hook=lambda msg: outputs.append(msg))
        text = "".join(m["content"].get("text", "") for m in outputs)
        assert "cannot be asked from this thread" in text, text
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)



def test_the_magic_from_a_thread_asks_nobody_and_is_refused(orch_kernel: str,
                                                             tmp_path: Path) -> None:
    """magics21: `%orch` run from a thread asked the protected environment's question through
    the kernel; unanswered when its cell ended, it took the answer the person typed at a
    later cell's question, which started the thread's run instead of theirs."""
    mark = tmp_path / "mark"
    (tmp_path / "orch.yaml").write_text(CONFIG)
    km, kc = start_new_kernel(kernel_name=orch_kernel, env={**os.environ, "MARK": str(mark)})
    asked: list[str] = []
    try:
        code = (f"%orch load {tmp_path / 'orch.yaml'}\nimport threading\nsaid = []\n"
                "def go():\n    try:\n        get_ipython().run_line_magic('orch', 'prod touch')\n"
                "    except Exception as exc:\n        said.append(str(exc))\n"
                "t = threading.Thread(target=go); t.start(); t.join()\nprint(said)")
        outputs: list[dict[str, Any]] = []

        def answer(msg: dict[str, Any]) -> None:
            asked.append(msg["content"]["prompt"])
            kc.input("prod")
        done = kc.execute_interactive(code, allow_stdin=True, timeout=60, stdin_hook=answer,
                                      output_hook=lambda msg: outputs.append(msg))
        assert done["content"]["status"] == "ok"
        text = "".join(m["content"].get("text", "") for m in outputs)
        assert "a person is at this notebook, and cannot be asked from this thread" in text, text
        assert asked == [] and not mark.exists()
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_an_interrupt_at_a_secret_prompt_from_the_api_is_one_line(orch_kernel: str,
                                                                  tmp_path: Path) -> None:
    """notebook15: the API interrupted at a secret's prompt showed 134 lines of traceback,
    where the magic (and the API at a protected environment's question) say one."""
    (tmp_path / "orch.yaml").write_text(
        "environments:\n  local: {layers: []}\nsecrets: {providers: [prompt]}\nservices:\n"
        "  usesec: {command: 'true', environment: {TOKEN: '{{secret:api_token}}'}}\n")
    km, kc = start_new_kernel(kernel_name=orch_kernel)
    try:
        kc.execute_interactive(f"import orch_magics\no = orch_magics.Orchestrator("
                               f"{str(tmp_path / 'orch.yaml')!r})", timeout=60)
        msg_id = kc.execute("o.run('local', 'usesec')", allow_stdin=True)
        assert kc.get_stdin_msg(timeout=30)["content"]["password"]
        time.sleep(0.3)
        km.interrupt_kernel()
        reply, outputs = replies(kc, msg_id)
        errors = [o for o in outputs if o["type"] == "error"]
        assert [e["traceback"] for e in errors] == [
            ["PromptInterrupted: not run: interrupted at the secret prompt"]], outputs
        assert reply["status"] == "error"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.mark.parametrize("kernel", ["orch", "python3"])
def test_the_cli_run_from_a_cell_is_not_let_in_by_an_inherited_orch_confirm(
        orch_kernel: str, tmp_path: Path, kernel: str) -> None:
    """safety16: with ORCH_CONFIRM inherited by the kernel, `%orch prod touch` asked while
    `%%bash orch run prod touch` and subprocess in the next cell ran in prod unasked (the
    trail said "confirmed by ORCH_CONFIRM"), and `!orch run prod touch` hung the cell on a
    question asked on a terminal nobody types in. A person's cell passes the variable on to
    no command; the CLI there asks nobody and refuses; a headless cell's CLI keeps it.
    safety18: under a kernel without orch_magics (`python3`) all of it ran in prod, and the
    secret prompt hung `!orch`: nothing there tells a person's cell from papermill's, so the
    CLI takes no ORCH_CONFIRM and asks on no terminal under any kernel orch does not watch."""
    mark = tmp_path / "mark"
    (tmp_path / "orch.yaml").write_text(CONFIG + "  tok: {command: 'echo ${#TOK}', environment: "
                                        "{TOK: '{{secret:tok}}'}}\n"
                                        "secrets: {providers: [env, prompt]}\n")
    km, kc = start_new_kernel(kernel_name=orch_kernel if kernel == "orch" else kernel,
                              env={**os.environ, "ORCH_CONFIRM": "prod"})
    orch = os.path.join(os.path.dirname(sys.executable), "orch")
    cli = f"{orch} -c {tmp_path / 'orch.yaml'} run prod touch"
    try:
        kc.execute_interactive(f"%env MARK={mark}", timeout=60)
        for cell in (f"%%bash\n{cli}", f"import subprocess; print(subprocess.run({cli.split()!r}, capture_output=True, "
                     f"text=True).stderr)",
                     f"!{cli}"):
            msg_id = kc.execute(cell, allow_stdin=True)
            reply, outputs = replies(kc, msg_id)
            said = "".join(o.get("text", "") for o in outputs if o["type"] == "stream")
            assert "nobody can confirm here: run with --yes prod" in said, (cell, said)
            assert not mark.exists(), cell
        msg_id = kc.execute(f"!{cli.replace('prod touch', 'local tok')}", allow_stdin=True)
        reply, outputs = replies(kc, msg_id)  # asked on no terminal: said at once, no hang
        said = "".join(o.get("text", "") for o in outputs if o["type"] == "stream")
        assert "secret 'tok' is not available" in said, said
        msg_id = kc.execute(f"!{cli}", allow_stdin=False)  # papermill's: the variable holds
        reply, outputs = replies(kc, msg_id)  # in the orch kernel, which tells them apart
        assert _exists_soon(mark) == (kernel == "orch"), outputs
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
