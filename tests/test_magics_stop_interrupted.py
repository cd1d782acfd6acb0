"""`%orch stop NAME` waits while a stubborn process goes through INT → TERM → KILL; pressing
Interrupt meanwhile stops the wait, not the stop, and says so in one line. It was a 40-line
traceback ending in KeyboardInterrupt (FleetInterrupted for a fleet): held-out tester."""

from __future__ import annotations

import time
from pathlib import Path

from jupyter_client.manager import start_new_kernel

from test_magics_confirm import replies

CONFIG = "environments:\n  local: {layers: []}\n"


def test_an_interrupt_while_stop_waits_is_said_in_one_line(orch_kernel: str,
                                                           tmp_path: Path) -> None:
    (tmp_path / "orch.yaml").write_text(CONFIG)
    km, kc = start_new_kernel(kernel_name=orch_kernel)
    try:
        kc.execute_interactive(f"%orch load {tmp_path / 'orch.yaml'}", timeout=60)
        started = kc.execute_interactive(
            "%%orch local --bg --name stubborn\ntrap '' INT TERM; echo up; sleep 200",
            timeout=60)
        assert started["content"]["status"] == "ok"
        msg_id = kc.execute("%orch stop stubborn")
        time.sleep(1.0)  # INT and TERM are ignored: the stop waits its grace before KILL
        km.interrupt_kernel()
        reply, outputs = replies(kc, msg_id)
        errors = [o for o in outputs if o["type"] == "error"]
        assert reply["status"] == "error" and len(errors) == 1, outputs
        assert errors[0]["traceback"] == [
            "KeyboardInterrupt: waiting for 'stubborn' to stop was interrupted; it is still "
            "being stopped (INT, TERM, KILL; a clean-up post command that runs is ended too): "
            "%orch ps shows when it has ended"], errors
        shown = ""
        for _ in range(60):  # the stop goes on to its KILL
            _, outputs = replies(kc, kc.execute("%orch ps"))
            shown = "".join(o.get("text", "") for o in outputs if o["type"] == "stream")
            if "running" not in shown:
                break
            time.sleep(0.5)
        assert "stubborn" in shown and "stopped" in shown, shown
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
