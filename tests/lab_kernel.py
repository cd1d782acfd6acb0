"""A real "Python 3 (orch)" kernel driven the way JupyterLab drives it, without a browser:
execute requests allow stdin and name their cell (`cellId`), and the outputs are kept as a
front end keeps them (a display is replaced by its `update_display_data` messages)."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel


class LabKernel:
    """One kernel, its client, and what each cell shows (by cell id)."""

    def __init__(self, km: KernelManager, kc: BlockingKernelClient) -> None:
        self.km, self.kc = km, kc
        self.outputs: dict[str, list[dict[str, Any]]] = {}  # cell id -> its outputs
        self._cell_of: dict[str, str] = {}  # request msg_id -> cell id
        self._displays: dict[str, dict[str, Any]] = {}  # display id -> its output
        self.buttons: dict[str, str] = {}  # a widget button's label -> its comm id
        self.fields: list[str] = []  # the comm ids of the text fields shown, in order

    def run(self, cell: str, code: str, timeout: float = 60) -> dict[str, Any]:
        """Execute `code` as cell `cell` (its outputs replaced, as a re-run does); the reply."""
        return self.reply(self.send(cell, code), timeout)

    def send(self, cell: str, code: str) -> str:
        """Start executing `code` as cell `cell`; the request's id (for `reply`)."""
        content = {"code": code, "silent": False, "store_history": True,
                   "user_expressions": {}, "allow_stdin": True, "stop_on_error": True}
        msg = self.kc.session.msg("execute_request", content, metadata={"cellId": cell})
        self._cell_of[msg["header"]["msg_id"]] = cell
        self.outputs[cell] = []
        self.kc.shell_channel.send(msg)
        return str(msg["header"]["msg_id"])

    def reply(self, msg_id: str, timeout: float = 60) -> dict[str, Any]:
        """The execute reply to request `msg_id`, once the outputs it sent are taken in."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self.kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                self.drain(0.3)
                return dict(reply["content"])

    def drain(self, quiet: float = 0.3) -> None:
        """Take in every IOPub message until none came for `quiet` seconds (a widget's state
        updates, which a live fleet table sends ~10 times a second, do not count)."""
        until = time.monotonic() + quiet
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=max(0.0, until - time.monotonic()))
            except queue.Empty:
                return
            self._take(msg)
            if msg["header"]["msg_type"] != "comm_msg":
                until = time.monotonic() + quiet

    def _take(self, msg: dict[str, Any]) -> None:
        kind, content = msg["header"]["msg_type"], msg["content"]
        display_id = (content.get("transient") or {}).get("display_id")
        if kind == "update_display_data":
            if display_id in self._displays:
                self._displays[display_id]["data"] = content["data"]
            return
        if kind == "comm_open":
            state = (content.get("data") or {}).get("state") or {}
            if state.get("_model_name") == "ButtonModel":
                self.buttons[state["description"]] = content["comm_id"]
            elif state.get("_model_name") == "TextareaModel":
                self.fields.append(content["comm_id"])
            return
        cell = self._cell_of.get(msg["parent_header"].get("msg_id", ""))
        if cell is None or kind not in ("stream", "display_data", "execute_result", "error"):
            return
        output = {"type": kind, **content}
        self.outputs[cell].append(output)
        if display_id:
            self._displays[display_id] = output

    def click(self, label: str) -> None:
        """Click the (last shown) widget button labelled `label`, as the browser would."""
        content = {"comm_id": self.buttons[label],
                   "data": {"method": "custom", "content": {"event": "click"}}}
        self.kc.shell_channel.send(self.kc.session.msg("comm_msg", content))

    def type(self, value: str) -> None:
        """Set the (last shown) text field's value, as the browser sends a person's keys."""
        content = {"comm_id": self.fields[-1],
                   "data": {"method": "update", "state": {"value": value}, "buffer_paths": []}}
        self.kc.shell_channel.send(self.kc.session.msg("comm_msg", content))

    def text(self, cell: str) -> str:
        """What the cell shows as text: streams, text/plain of displays, error lines."""
        parts = []
        for out in self.outputs.get(cell, []):
            if out["type"] == "stream":
                parts.append(out["text"])
            elif out["type"] == "error":
                parts.append("\n".join(out["traceback"]) + "\n")
            else:
                parts.append(out["data"].get("text/plain", "") + "\n")
        return "".join(parts)

    def wait_for(self, cell: str, needle: str, timeout: float = 30) -> str:
        """The cell's text once it holds `needle` (fails with what it holds after `timeout`)."""
        deadline = time.monotonic() + timeout
        while needle not in self.text(cell):
            assert time.monotonic() < deadline, f"{needle!r} not in cell {cell}:\n{self.text(cell)}"
            self.drain(0.1)
        return self.text(cell)


@contextmanager
def lab_kernel(kernel_name: str) -> Iterator[LabKernel]:
    """A started kernel, shut down (now) at the end whatever happened."""
    km, kc = start_new_kernel(kernel_name=kernel_name)
    try:
        yield LabKernel(km, kc)
    finally:
        kc.stop_channels()
        if km.is_alive():
            km.shutdown_kernel(now=True)
