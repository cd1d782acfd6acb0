"""Following a named run's log in a notebook cell that uses top-level await: Interrupt ends
the follow there as in any cell, and the run goes on."""

from __future__ import annotations

import pytest

from lab_kernel import lab_kernel

AWAITS = "import asyncio\nawait asyncio.sleep(0)\n"


@pytest.mark.parametrize("follow", [
    "%orch logs t -f",
    "for line in orch.logs('t', follow=True):\n    print(line)"], ids=["magic", "api"])
def test_interrupt_ends_a_follow_in_a_cell_that_uses_await(orch_kernel: str,
                                                           follow: str) -> None:
    """magics22: there ipykernel turns Interrupt into a cancellation of the cell's coroutine,
    which a follow polling on the kernel's thread never yielded to: ■ did nothing, twice,
    and a run that never ends (the demo's ticker) held the kernel until it was restarted;
    papermill's execution timeout could not end the notebook either."""
    with lab_kernel(orch_kernel) as k:
        k.run("l", "%orch load --demo\nfrom orch_magics import Orchestrator, load_config\n"
                   "from orch_magics.config import demo_config_files\n"
                   "orch = Orchestrator(load_config(*demo_config_files()))\n"
                   "orch.start('local', 'ticker', name='t')\n"
                   "%orch local ticker --bg --name t")
        asked = k.send("f", AWAITS + follow)
        k.wait_for("f", "tick ", 30)  # following, and shown as it comes
        k.km.interrupt_kernel()
        reply = k.reply(asked, 15)
        said = k.text("f")
        if follow.startswith("%"):
            assert reply["status"] == "ok" and said.endswith(
                "(stopped following; the run goes on)\n"), said
        else:
            assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt", reply
        k.run("p", "print([(r.name, r.state) for r in orch.ps()])\n%orch ps")
        assert "('t', 'running')" in k.text("p") and "ticker" in k.text("p"), k.text("p")  # both go on
        k.run("s", "orch.stop('t')\n%orch stop t")
