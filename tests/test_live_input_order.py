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


@pytest.mark.parametrize("env", ["local", "loop"])
def test_input_after_eof_is_refused_even_while_the_run_starts(ssh_lab, env: str) -> None:  # type: ignore[no-untyped-def]
    """docs tester: `send` after `close_stdin` while the run was still starting returned
    None and the bytes were dropped (the result said ok); so was input sent to a run given
    its whole stdin at the start. Both are refused at once, as once it runs."""
    from orch_magics import OrchError
    with Orchestrator(load_config_text(ssh_lab.config_yaml(extra_envs={"local": []}))) as orch:
        live = orch.spawn(env, command=["cat"])
        live.send("before\n")
        live.close_stdin()
        with pytest.raises(OrchError, match=r"stdin is closed \(EOF was sent\)"):
            live.send("after\n")
        with pytest.raises(OrchError, match=r"stdin is closed \(EOF was sent\)"):
            live.send_line("after")
        assert live.wait(60).stdout == "before\n"
        given = orch.spawn(env, command=["cat"], stdin="all of it\n")
        with pytest.raises(OrchError, match=r"stdin is closed \(EOF was sent\)"):
            given.send("more\n")
        assert given.wait(60).stdout == "all of it\n"
        kept = orch.spawn(env, command=["cat"], stdin="first\n", close_stdin=False)
        kept.send("then\n")  # the input given first, then this: EOF is the caller's
        kept.close_stdin()
        assert kept.wait(60).stdout == "first\nthen\n"
