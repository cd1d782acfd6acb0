"""Lines sent to a live run arrive in the order they were sent, also while it starts.

Each `send_line` is a call on the run's loop; those made before the process had started
waited for it, and those made just after it had started did not, so the first lines could
be written after later ones (2 runs in 15 of 2,000 lines sent at once came out reordered).
"""

from __future__ import annotations

import pytest

from orch_magics import Orchestrator, load_config_text

pytestmark = pytest.mark.ssh


@pytest.mark.parametrize("env", ["local", "loop"])
def test_lines_sent_as_the_run_starts_keep_their_order(ssh_lab, env: str) -> None:  # type: ignore[no-untyped-def]
    lines = [f"line {i}" for i in range(2000)]
    with Orchestrator(load_config_text(ssh_lab.config_yaml(extra_envs={"local": []}))) as orch:
        for _ in range(8):
            live = orch.spawn(env, command=["cat"], close_stdin=False)
            for line in lines:
                live.send_line(line)
            live.close_stdin()
            assert live.wait(60).stdout.splitlines() == lines
