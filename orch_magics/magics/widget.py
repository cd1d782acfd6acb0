"""The stdin box: a text field plus Send / EOF / Stop buttons wired to a LiveRun.

Callbacks run on the kernel's main thread when the kernel is idle (comm messages wait while a
cell executes), which is why runs that show this box return at once instead of blocking.
Every LiveRun method used here is thread-safe.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from ..live import LiveRun
from ..sinks.display import DisplaySink


class StdinBox:
    """Feeds `live`'s stdin line by line; disables itself with `finish()` when the run ends."""

    def __init__(self, live: LiveRun, sink: DisplaySink | None = None) -> None:
        self.live = live
        self.sink = sink
        self.text = widgets.Text(
            placeholder=f"stdin of {live.plan.name}: type a line, Enter sends it",
            continuous_update=False,  # the value syncs on Enter (and blur), in order
            layout=widgets.Layout(flex="1 1 auto", width="auto"))
        self.text.add_class("orch-stdin")
        self.send_button = self._button("Send", "Send the line (Enter does the same)",
                                        "orch-send")
        self.eof_button = self._button("EOF", "Close stdin (send the line first, if any)",
                                       "orch-eof")
        self.stop_button = self._button("Stop", "Interrupt the process (INT, TERM, KILL)",
                                        "orch-stop", style="danger")
        self.widget = widgets.HBox(
            [self.text, self.send_button, self.eof_button, self.stop_button],
            layout=widgets.Layout(width="100%"))
        self.widget.add_class("orch-stdin-box")
        self.text.observe(self._on_value, "value")
        self._clearing = False
        self.send_button.on_click(lambda _: self.send())
        self.eof_button.on_click(lambda _: self.eof())
        self.stop_button.on_click(lambda _: self.stop())
        self.lines_sent = 0

    @staticmethod
    def _button(label: str, tooltip: str, cls: str, style: str = "") -> widgets.Button:
        button = widgets.Button(description=label, tooltip=tooltip, button_style=style,
                                layout=widgets.Layout(width="auto"))
        button.add_class(cls)
        return button

    def _on_value(self, change: dict[str, Any]) -> None:
        # Enter (or leaving the field) synced a new value: that is a line to send. A custom
        # "submit" message would be wrong here: ipywidgets sends it at once while value
        # updates typed just before may still wait in the front end's buffer.
        if not self._clearing and change["new"]:
            self.send()

    # ---- actions (kernel main thread) ------------------------------------------------------
    def send(self) -> None:
        """Send the text in the box as one line, and empty the box."""
        line = self.text.value
        if self.text.disabled or not line:
            return
        self._clearing = True
        try:
            self.text.value = ""
        finally:
            self._clearing = False
        self.live.send_line(line)
        self.lines_sent += 1
        if self.sink is not None:
            self.sink.note_stdin(line)
            self.sink.flush()

    def eof(self) -> None:
        if self.text.value:
            self.send()
        self.live.close_stdin()
        self._disable(stop_too=False)

    def stop(self) -> None:
        self.live.interrupt()
        self._disable(stop_too=True)

    def finish(self) -> None:
        """The run ended: nothing can be sent or stopped any more."""
        self._disable(stop_too=True)

    def _disable(self, *, stop_too: bool) -> None:
        self.text.disabled = True
        self.text.placeholder = "stdin closed"
        self.send_button.disabled = True
        self.eof_button.disabled = True
        if stop_too:
            self.stop_button.disabled = True
