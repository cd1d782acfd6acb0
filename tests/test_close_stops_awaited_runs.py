"""`Orchestrator.close()` stops every run it started, also those awaited on the caller's own
loop (`await orch.arun(...)` in a notebook cell, `orch.launch(...)`): it closed their pooled
connections only, so a local run, or a remote one until its connection went, ran on after
close() as if nothing had happened (review).
"""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from orch_magics import Orchestrator, load_config_text
from processes import kill_all, left_after, processes_with

pytestmark = pytest.mark.ssh


@pytest.mark.parametrize("env", ["local", "loop"])
async def test_close_stops_an_arun_awaited_on_this_loop(ssh_lab, env: str) -> None:  # type: ignore[no-untyped-def]
    token = f"78{len(env)}.{os.getpid()}"
    orch = Orchestrator(load_config_text(ssh_lab.config_yaml(extra_envs={"local": []})))
    try:
        awaited = asyncio.ensure_future(orch.arun(env, command=f"echo up; exec sleep {token}"))
        while not processes_with(token):
            await asyncio.sleep(0.05)
        orch.close()  # from the loop's own thread: it cannot wait here
        result = await asyncio.wait_for(awaited, 20)
        assert result.interrupted and result.stdout == "up\n", result
        assert await asyncio.to_thread(left_after, lambda: processes_with(token), 10) == []
    finally:
        kill_all(processes_with(token))


async def test_close_stops_a_launched_process_and_from_another_thread() -> None:
    token = f"79.{os.getpid()}"
    orch = Orchestrator(load_config_text("environments: {local: {layers: []}}"))
    try:
        handle = await orch.launch("local", command=f"exec sleep {token}")
        awaited = asyncio.ensure_future(orch.arun("local", command=f"exec sleep {token}"))
        while len(processes_with(token)) < 2:
            await asyncio.sleep(0.05)
        closer = threading.Thread(target=orch.close)  # a kernel's shutdown, say
        closer.start()
        end = await asyncio.wait_for(handle.wait(), 20)
        result = await asyncio.wait_for(awaited, 20)
        await asyncio.to_thread(closer.join, 20)
        assert end.signal is not None and result.interrupted, (end, result)
        assert await asyncio.to_thread(left_after, lambda: processes_with(token), 10) == []
    finally:
        kill_all(processes_with(token))


@pytest.mark.parametrize("then", ["raise RuntimeError('a bug after the launch')", "return h"],
                         ids=["raised", "returned"])
def test_a_launched_process_ends_with_the_loop_that_launched_it(tmp_path, then: str) -> None:  # type: ignore[no-untyped-def]
    """safety22: `asyncio.run(main())` whose main launched a local command and then raised
    (or returned the handle) left the command running under PID 1 to its end, while the
    audit trail said it was interrupted after 8 ms; close() did not stop it either."""
    import json
    import subprocess
    import sys
    import textwrap

    token = f"81.{os.getpid()}{len(then)}"
    (tmp_path / "o.yaml").write_text("environments:\n  local: {layers: []}\n"
                                     f"audit: {{path: {tmp_path / 'audit.jsonl'}}}\n")
    script = textwrap.dedent(f"""
        import asyncio
        from orch_magics import Orchestrator, load_config
        o = Orchestrator(load_config("o.yaml"))
        async def main():
            h = await o.launch("local", command="sleep {token}; echo migrated")
            {then}
        try:
            asyncio.run(main())
        finally:
            o.close()
        """)
    try:
        subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                       timeout=60)
        assert left_after(lambda: processes_with(token), 10) == []
        end = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()
               ][-1]
        assert end["event"] == "end" and end["interrupted"] is True, end
    finally:
        kill_all(processes_with(token))
