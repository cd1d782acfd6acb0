"""The stdin box: a text field plus Send / EOF / Stop buttons wired to a LiveRun
(or to a LiveFleet: each line goes to every running target, and the box says so).

Callbacks run on the kernel's main thread when the kernel is idle (comm messages wait while a
cell executes), which is why runs that show this box return at once instead of blocking.
Every LiveRun / LiveFleet method used here is thread-safe.

A line is sent by Enter or Send, never by leaving the field: the field is a one-row textarea
whose value syncs as typed, and a newline in the value is what Enter looks like to the kernel
(value updates arrive in order, unlike a separate "submit" message, which can overtake them).
When the run ends the box is replaced by a line of text, so a saved notebook has no widget.

Emptying the field after a line is the one write the kernel makes, and the browser may have
typed on meanwhile: a plain update would overwrite those keys, and a value sent before the
browser saw the write still holds the line already sent. So the write goes as the echo of the
value it answers (ipywidgets drops an echo when newer keys are on their way), and a value that
still starts with the text sent continues it (`_Typed`).
"""

from __future__ import annotations

import functools
import re
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import ipywidgets as widgets
from traitlets import Unicode

from ..errors import OrchError
from ..plan import RunPlan
from ..sinks.display import Bundle, DisplaySink
from ..text import plural
from .frontend import cells_running, close_widgets
from .held_clicks import act_on_held_clicks, after_held_keys


class Steerable(Protocol):
    """What the box drives: a LiveRun, or a LiveFleet (a line goes to every running target)."""

    @property
    def plan(self) -> RunPlan: ...

    @property
    def done(self) -> bool: ...

    def send(self, data: str | bytes, *, wait: bool = True) -> None: ...

    def close_stdin(self) -> None: ...

    def interrupt(self, *, again: bool = False) -> None: ...


class Asks(Protocol):
    """Tells whether the run asks for a secret: now, and whenever that changes."""

    def listen(self, listener: Callable[[bool], None]) -> None: ...


#: Sends a block of lines typed and shows them where they went: `echoed(data, lines)`.
Echoed = Callable[[str, Sequence[str]], None]


class _Box(widgets.HBox):
    """An HBox whose text/plain (shown without a kernel or widget state) says what it was."""

    fallback = "stdin box of a live run (needs the kernel that ran this cell)"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        data = super()._repr_mimebundle_(**kwargs)
        if isinstance(data, dict):
            data["text/plain"] = self.fallback
        return data


#: After our write, how long until a value that starts with the text sent is taken as typed
#: in the emptied field (seconds; a value the browser sent before it had the write comes in
#: well under this, unless a queued cell runs between the two).
LATE = 0.5
SEND_TIP = "Send the line (Enter does the same)"
BUSY_TIP = "Another cell is running: Enter sends the line; Send and EOF wait for that cell"
STOP_TIP = "Interrupt the process (INT, TERM, KILL)"
STOP_BUSY_TIP = ("Another cell is running: the kernel takes this stop once that cell ends "
                 "(■ interrupts that cell)")
STOP_AGAIN_TIP = "Stopping: click again to end a clean-up post command that runs now"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
#: The field's look while the program asks for a secret: dots, as a password field (a browser
#: without `-webkit-text-security` shows no text at all).
SECRET_CLASS = "orch-secret"
_SECRET_STYLE = (
    f"<style>.orch-stdin.{SECRET_CLASS} textarea {{-webkit-text-security: disc}}"
    f"@supports not (-webkit-text-security: disc) {{.orch-stdin.{SECRET_CLASS} textarea "
    f"{{color: transparent; caret-color: var(--jp-ui-font-color1, black)}}}}</style>")
SECRET_TIP = "the program asks for a secret: what you type shows as dots and is never echoed"
#: The boxes whose run goes on: a cell that starts holds their Send and EOF (StdinBox.hold).
_LIVE: weakref.WeakSet[StdinBox] = weakref.WeakSet()


class _Field(widgets.Textarea):
    """The box's text field. Its value is echoed by `StdinBox` alone (ipywidgets' own echo
    would carry the value the browser sent, not what is left once a line is sent)."""

    value = Unicode(help="String value").tag(sync=True, echo_update=False)


class _Typed:
    """What the browser's field holds, as far as the kernel can tell: `prefix`, the text in it
    already sent, which the browser's next value starts with unless it took the write of ours
    on its way (`written`; the field then holds only what was not sent), and `rest`, what is
    typed and not sent.

    A value that starts with the text sent continues it, unless it is that text unchanged (a
    key changes the value), or it comes `late` after the write, which the browser then had (a
    paste that starts with the line just sent), when what was sent is one line. One that was
    sent before the write came and reaches the kernel late (a queued cell ran between them)
    is read as typed afresh then; after a block of lines, never (the block is not sent twice)."""

    def __init__(self) -> None:
        self.prefix = self.rest = ""
        self.written = False

    def take(self, value: str, *, late: bool = False) -> list[str]:
        """The whole lines typed in `value` that are not sent yet (`rest` follows them)."""
        # `late` tells a paste that starts with the one line just sent; a value that starts
        # with several lines sent is the block the browser still held when it typed on (a
        # page slowed by a big paste held its next value for seconds: browser7, browser8)
        fresh_if_late = late and self.prefix.count("\n") <= 1
        if not value.startswith(self.prefix) or self.written and (
                value == self.prefix or fresh_if_late):
            self.prefix = ""  # typed after our write, or sent text edited
        self.written = False
        fresh = value[len(self.prefix):]
        if fresh.count("\n") == 1 and not fresh.endswith("\n") and \
                fresh.replace("\n", "") == self.rest:  # Enter mid-line sends the whole line
            fresh = self.rest + "\n"
        *lines, self.rest = fresh.split("\n")
        self.prefix = value[:len(value) - len(self.rest)] if self.rest else value
        return lines

    def sent_rest(self) -> str:
        """What Send sends: the rest, sent from now on."""
        rest, self.prefix, self.rest = self.rest, self.prefix + self.rest, ""
        return rest


class StdinBox:
    """Feeds `live`'s stdin (every running target's, for a fleet) line by line; becomes static text with `finish()` when the run ends."""

    def __init__(self, live: Steerable, sink: DisplaySink | None = None,
                 whom: str | None = None, echoed: Echoed | None = None,
                 asks: Asks | None = None) -> None:
        """`whom`: who reads what is sent (default: the service, or "the script"), e.g. every
        target of a fleet. `echoed(data, lines)`: sends `data` and shows `lines` where they
        went (a fleet's rows), for a run with no `sink` to show them; `asks` tells it when
        the run asks for a secret (default: the sink's prompt watch)."""
        self.live = live
        self.sink = sink
        self._echoed = echoed
        service = live.plan.service
        self.whom = whom = whom or (service.name if service else "the script")
        #: A terminal echoes what it reads (or hides it: a password), and its ^D ends one
        #: read, not the terminal: the box neither echoes nor closes on a tty run.
        self.tty = live.plan.command.tty
        self._placeholder = (f"stdin of {whom}: Enter sends a line; the EOF button "
                             f"{'sends ^D' if self.tty else 'ends the input'}")
        self.text = _Field(
            placeholder=self._placeholder, continuous_update=True, rows=1,
            layout=widgets.Layout(flex="1 1 auto", width="auto"))
        self.text.add_class("orch-stdin")
        self.send_button = self._button("Send", SEND_TIP, "orch-send")
        self.eof_button = self._button(
            "EOF", "Send the terminal's ^D (the line first, if any): the program may read "
            "again" if self.tty else "Close stdin (send the line first, if any)", "orch-eof")
        self.stop_button = self._button("Stop", STOP_TIP, "orch-stop", style="danger")
        style = widgets.HTML(_SECRET_STYLE, layout=widgets.Layout(display="none"))
        self.widget = _Box([self.text, self.send_button, self.eof_button, self.stop_button,
                            style], layout=widgets.Layout(width="100%"))
        self.widget.fallback = f"[stdin box of {whom}: live while the run lasts]"
        self.widget.add_class("orch-stdin-box")
        self.text.observe(self._on_value, "value")
        self.send_button.on_click(lambda _: self._clicked(self.send))
        self.eof_button.on_click(lambda _: self._eof_clicked())
        self.stop_button.on_click(lambda _: self.stop())
        self.lines_sent = 0
        self._held_for = 0  # clicks waiting for their keys, the field disabled meanwhile
        _LIVE.add(self)
        self.hold(cells_running() > 0)  # drawn by a cell that goes on (a sleep after it)
        self._typed = _Typed()
        self._writing = False  # our own write of the field's value, seen by _on_value
        self._written_at = 0.0
        self._replace: Callable[[Bundle], None] | None = None
        self._finished = False
        asks = asks if asks is not None or sink is None else sink.prompts
        if asks is not None:
            asks.listen(self._hide_typing)

    def _hide_typing(self, asking: bool) -> None:
        """The program asks for a secret (or no longer does): what is typed shows as dots
        until a line answers it (browser19: a password was readable as typed). From the
        engine's thread, at once: a cell that runs meanwhile must not delay it."""
        if asking:
            self.text.add_class(SECRET_CLASS)
        else:
            self.text.remove_class(SECRET_CLASS)
        if not self.text.disabled:
            self.text.placeholder = SECRET_TIP if asking else self._placeholder

    @staticmethod
    def _button(label: str, tooltip: str, cls: str, style: str = "") -> widgets.Button:
        button = widgets.Button(description=label, tooltip=tooltip, button_style=style,
                                layout=widgets.Layout(width="auto"))
        button.add_class(cls)
        return button

    def replace_with(self, publish: Callable[[Bundle], None]) -> None:
        """How to replace the box's display by static text when the run ends."""
        self._replace = publish

    def _on_value(self, change: dict[str, Any]) -> None:
        if self._writing or (self.text.disabled and not self._held_for):  # keys typed
            return  # before a held click come while it holds the field
        late = time.monotonic() - self._written_at > LATE
        # a lone surrogate (JSON can carry "\ud800") is no text UTF-8 can send: U+FFFD for it
        value = _LONE_SURROGATE.sub("\ufffd", change["new"])
        lines = self._typed.take(value, late=late)
        if not lines:  # no write: it would move the caret the person is typing at
            self._echo(value)  # answered: a later write (Send's) is not taken as stale
            return
        self._write(self._typed.rest)
        self._send(*lines)  # a pasted block: one display update, not one per line
        self._written_at = time.monotonic()  # LATE counts from here: values the browser sent
        # while a long block went out were sent before it had the write (browser7: resent)

    def _echo(self, value: str) -> None:
        """Answer the value being handled with `value`: the browser shows it unless newer keys
        are on their way (an echo, not an update: ipywidgets drops a stale echo)."""
        if self.text.comm is not None:
            self.text.comm.send(data={"method": "echo_update", "state": {"value": value},
                                      "buffer_paths": []})

    def _write(self, value: str) -> None:
        """Leave `value` (what is not sent) in the field: in the browser unless newer keys are
        on their way, and in the kernel's copy, as if the browser had sent it."""
        self._echo(value)
        self._typed.written, self._writing = True, True
        self._written_at = time.monotonic()
        try:
            self.text.set_state({"value": value})  # no update goes out for it, nor an echo
        finally:
            self._writing = False

    # ---- actions (kernel main thread) ------------------------------------------------------
    def _clicked(self, action: Callable[[], None]) -> None:
        """A Send or EOF click acts once the keys typed before it have come (held_clicks); the
        field takes none meanwhile (browser24: keys typed then joined or replaced the line)."""
        if self.text.disabled and not self._held_for:  # closed (a held click's is not: an
            return  # EOF clicked just after a Send waits too: review43, it was dropped)
        self._held_for += 1
        self.text.disabled = True

        def act() -> None:
            self._held_for -= 1
            if self._finished:  # the run ended meanwhile
                return
            if not self._held_for:
                self.text.disabled = False
            action()
        after_held_keys(act)

    def send(self) -> None:
        """Send the text in the box as one line, and empty the box."""
        if (self.text.disabled and not self._held_for) or not self._typed.rest:
            return
        line = self._typed.sent_rest()
        self._write("")
        self._send(line)
        self._written_at = time.monotonic()

    def _send(self, *lines: str) -> None:
        # The echo first: noted after the send, a fast answer (it comes back on the loop's
        # thread) could be shown above the line that caused it.
        if self.sink is not None:
            self.sink.note_stdin(*lines, echo=not self.tty)
            self.sink.flush()
        block = "".join(f"{line}\n" for line in lines)  # one write: all of it goes, or none
        send = functools.partial(self.live.send, block, wait=False) if self._echoed is None \
            or self.tty else functools.partial(self._echoed, block, lines)  # a typed line
        # never holds the kernel behind input the process has not read (review39)
        if self._sent(send, unsent=lines):
            self.lines_sent += len(lines)

    def never_started(self) -> None:
        """The run never started: the lines typed while it started went nowhere (browser16:
        the box said them sent)."""
        if self.lines_sent and self.sink is not None:
            self.sink.note(f"not sent: {plural(self.lines_sent, 'line')} typed while it "
                           f"started (it never did)")
        self.not_sent(self.lines_sent)

    def not_sent(self, lines: int) -> None:
        """`lines` counted as sent were dropped after all (held for a restart that never
        came): the count the box ends with leaves them out."""
        self.lines_sent = max(0, self.lines_sent - lines)

    def _sent(self, send: Callable[[], None], unsent: Sequence[str] = ()) -> bool:
        """Whether `send` went; if not, the box says why and takes no more (and the cell, below
        the echo of `unsent`, the lines it had shown as sent)."""
        try:
            send()
        except OrchError as exc:  # the run ended meanwhile (finish() is on its way), or
            if not self.live.done:  # it stopped reading
                self._disable(stop_too=False)
                self.text.placeholder = f"not sent: {exc}"[:200]
            if self.sink is not None and unsent:
                self.sink.note_unsent(unsent, str(exc))
            return False
        return True

    def _eof_clicked(self) -> None:
        self.send_button.disabled = self.eof_button.disabled = True
        self._clicked(self.eof)

    def eof(self) -> None:
        self.send()
        if self.tty:
            self._sent(functools.partial(self.live.send, "\x04"))
            self.send_button.disabled = self.eof_button.disabled = self.text.disabled
            return
        self.live.close_stdin()
        self._disable(stop_too=False)

    def stop(self) -> None:
        """Stop the run; Stop stays: a second click ends a clean-up post command that runs
        then (browser22: the first click disabled it, and a 6-minute clean-up ran on with
        nothing in the cell to end it). The box is disabled when the run ends. A Send
        clicked just before, held for its keys, goes first (magics23: it was lost)."""
        act_on_held_clicks()
        self.live.interrupt(again=True)
        self._disable(stop_too=False)
        self.stop_button.tooltip = STOP_AGAIN_TIP
        if self.sink is not None:
            self.sink.note_stopping()

    def reopen(self) -> None:
        """A named run's next attempt reads a new stdin: the box takes lines again (unless
        it was already closed for good)."""
        if self._finished:
            return
        for control in (self.text, self.send_button, self.eof_button, self.stop_button):
            control.disabled = False
        self.text.placeholder = self._placeholder
        self.hold(cells_running() > 0)  # a restart while a cell runs: still held for it

    def hold(self, running: bool) -> None:
        """While another cell runs, the browser holds this field's keys until the kernel is
        free, and sends them after any click: a Send then could not tell where its line
        ended (browser6: `first` Send `second` Send gave one line, `firstsecond`). Send and
        EOF wait for the cell to end; Enter's newline travels with the keys, so it still
        works."""
        if self.text.disabled:  # closed: nothing to hold or give back
            return
        self.send_button.tooltip = BUSY_TIP if running else SEND_TIP  # the words first: a
        self.stop_button.tooltip = STOP_BUSY_TIP if running else STOP_TIP  # page that shows
        self.send_button.disabled = self.eof_button.disabled = running  # a button held has
        # them (browser21: a click the kernel takes once that cell ends; the title came after)
    def finish(self) -> None:
        """The run ended: nothing can be sent or stopped any more; leave a line of text."""
        _LIVE.discard(self)
        self._finished = True
        self._disable(stop_too=True)
        if self._replace is not None:
            self.leave_text("closed")
            close_widgets(self.widget)

    def leave_text(self, how: str) -> None:
        """Replace the box's display by `[stdin of NAME: HOW, N lines sent from the box]`.

        Thread-safe (a display update), unlike the widget changes of `finish()`: a kernel that
        shuts down has no loop left to run those, but still sends this."""
        if self._replace is not None:
            lines = f"{self.lines_sent} line{'' if self.lines_sent == 1 else 's'}"
            self._replace({"text/plain": f"[stdin of {self.whom}: {how}, {lines} sent from "
                                         f"the box]"})

    def _disable(self, *, stop_too: bool) -> None:
        self.text.disabled = True
        self.text.placeholder = "stdin closed"
        self.send_button.disabled = True
        self.eof_button.disabled = True
        if stop_too:
            self.stop_button.disabled = True


def hold_for_cells(running: int) -> None:
    """`running` cells run now (a cell may run another: `get_ipython().run_cell(…)`): every
    live box's Send and EOF wait for all of them."""
    for box in list(_LIVE):
        box.hold(running > 0)
