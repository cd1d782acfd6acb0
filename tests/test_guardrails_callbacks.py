"""A run started outside a cell (a widget's callback: its comm message, or a task it started)
cannot ask the person at the notebook, so a protected environment is refused there, never let
in by an ORCH_CONFIRM the kernel inherited (held-out tester safety14: a button's on_click ran
in prod, recorded as confirmed by ORCH_CONFIRM, and covered the next cells for 15 minutes).
Headless (nbclient sends cells without stdin) the variable still answers."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from jupyter_client.manager import start_new_kernel

SETUP = """
from orch_magics import Orchestrator, load_config
import asyncio, comm
o = Orchestrator(load_config({cfg!r}))
get_ipython().run_line_magic("orch", "load " + {cfg!r})
def said(c, run):
    try:
        c.send({{"ran": run().stdout}})
    except BaseException as e:
        c.send({{"refused": str(e)}})
def api(c, msg):
    c.on_msg(lambda m: said(c, lambda: o.run("prod", "touch")))
def magic(c, msg):
    c.on_msg(lambda m: said(c, lambda: get_ipython().run_line_magic("orch", "prod touch")))
def task(c, msg):
    async def job():
        try:
            c.send({{"ran": (await Orchestrator(load_config({cfg!r})).arun("prod", "touch")).stdout}})
        except BaseException as e:
            c.send({{"refused": str(e)}})
    c.on_msg(lambda m: asyncio.ensure_future(job()))
for name, target in (("api", api), ("magic", magic), ("task", task)):
    comm.get_comm_manager().register_target(name, target)
"""


def comm_said(kc: Any, target: str, timeout: float = 60) -> dict[str, str]:
    """Open a comm to `target`, send it a message (a click), and return what it sent back."""
    cid = uuid.uuid4().hex
    kc.shell_channel.send(kc.session.msg("comm_open", {"comm_id": cid, "target_name": target,
                                                       "data": {}}))
    kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": cid, "data": {"click": 1}}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=1)
        except Exception:  # noqa: BLE001 - queue.Empty: wait on
            continue
        if msg["msg_type"] == "comm_msg" and msg["content"]["comm_id"] == cid:
            return dict(msg["content"]["data"])
    raise AssertionError(f"no answer from the comm {target}")


def test_a_callback_is_refused_a_protected_environment_despite_orch_confirm(
        orch_kernel: str, tmp_path: Path) -> None:
    audit, mark = tmp_path / "audit.jsonl", tmp_path / "ran"
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(f"environments:\n  prod: {{layers: [], protected: true}}\nservices:\n"
                   f"  touch: {{command: 'echo ran; touch {mark}'}}\naudit: {{path: {audit}}}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env["ORCH_CONFIRM"] = "prod"  # exported for scheduled jobs, inherited by the server
    km, kc = start_new_kernel(kernel_name=orch_kernel, env=env, cwd=str(tmp_path))
    try:
        reply = kc.execute_interactive(SETUP.format(cfg=str(cfg)), allow_stdin=True, timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
        for target in ("api", "magic", "task"):
            said = comm_said(kc, target)
            assert "cannot be asked from a widget's callback (only a cell can ask)" in \
                said.get("refused", ""), (target, said)
        assert not mark.exists()
        # headless, as nbclient sends a cell: nobody can be asked, the variable answers
        reply = kc.execute_interactive('print(o.run("prod", "touch").stdout)', allow_stdin=False,
                                       timeout=60)
        assert reply["content"]["status"] == "ok" and mark.exists()
    finally:
        km.shutdown_kernel(now=True)
    starts = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [r["confirmation"]["how"] for r in starts if r["event"] == "start"] == ["ORCH_CONFIRM"]
