"""Whether a program's last words ask for a secret: the line sent to it then is shown as dots
(browser13: a password typed in the stdin box was shown in the cell, and saved)."""

from __future__ import annotations

import codecs
import re
import threading
from collections.abc import Callable

from .ansi import ESCAPE

#: A prompt for a secret (`Password: `, `[sudo] password for ops:`, `Enter passphrase for
#: key…:`, `API key:`, a 2FA code, sudo's prompt in other languages), its colours taken out.
ASKS_SECRET = re.compile(
    r"(^\s*\[sudo\]|pass[ -]?(word|phrase|code)|passwort|passord|mot de passe|contrase|senha|"
    r"wachtwoord|parola|has[lł]o|heslo|l[oö]senord|salasana|jelsz[oó]|парол|密码|密碼|パスワード|"
    r"암호|비밀번호|secret|token|api.?key|\b(pin|otp|code|key)\b)[^\n]*[:：?>]\s*$",
    re.IGNORECASE)  # any `[sudo]` prompt, whatever its language (review22)
#: What is shown of a line sent after one.
HIDDEN = "········ (hidden: sent after a prompt for a secret)"


def visible(text: str) -> str:
    """`text` without its terminal escapes (colours, cursor moves)."""
    return ESCAPE.sub("", text)


def asks_secret(said: str) -> bool:
    """Whether `said`, a program's last line (written or being written), asks for a secret."""
    return bool(ASKS_SECRET.search(visible(said[-300:])))


def last_words(said: str) -> str:
    """The line being written, else the last line that says something (a prompt ended by
    `echo`, a blank line or a colour reset after it: notebook14, notebook15, review22)."""
    return next((line for line in reversed(said.split("\n")) if visible(line).strip()), "")


class PromptWatch:
    """What a run's stdout and stderr last said, as the program wrote them (masked, before
    filters and a stdout file take them), and whether a line was sent since: a line typed is
    hidden while a prompt for a secret on either stream asks and was not answered yet.

    A prompt asks until its own stream writes on or a line answers it (review22: a log line
    on stdout after `Password: ` on stderr still leaves it asking). browser16: a prompt a
    filter dropped, or one written to a stdout file, was never seen, and the password shown;
    one on stderr hid every line of the session after it."""

    KEEP = 600  # characters of each stream kept: a prompt's line is in its last 300

    def __init__(self) -> None:
        self._said = {"stdout": "", "stderr": ""}
        self._answered = {"stdout": False, "stderr": False}
        self._decoders = {stream: codecs.getincrementaldecoder("utf-8")("replace")
                          for stream in self._said}
        self._listener: Callable[[bool], None] | None = None
        self._was_asking = False
        self._telling = threading.Lock()  # heard on the loop's thread, listened to from main

    def listen(self, listener: Callable[[bool], None]) -> None:
        """Call `listener(asking)` now if the program asks for a secret, and whenever it
        starts or stops asking: the stdin box hides what is typed meanwhile (browser19: a
        password showed as typed)."""
        self._listener = listener
        self._changed()

    def _changed(self) -> None:
        if self._listener is None:
            return
        with self._telling:
            if (asking := bool(self.asking())) != self._was_asking:
                self._was_asking = asking
                self._listener(asking)

    def heard(self, stream: str, data: bytes) -> None:
        text = self._decoders[stream].decode(data[-self.KEEP:])
        self._said[stream] = (self._said[stream] + text)[-self.KEEP:]
        if visible(text).strip():  # the newline a reader writes after the secret (getpass,
            self._answered[stream] = False  # sudo, psql) asks nothing again (review28)
        self._changed()

    def asking(self) -> list[str]:
        """The streams whose last words ask for a secret not answered yet."""
        return [stream for stream, said in self._said.items()
                if not self._answered[stream] and asks_secret(last_words(said))]

    def answered(self, streams: list[str]) -> None:
        """A line was sent while `streams` asked: they ask no more until they write again."""
        for stream in streams:
            self._answered[stream] = True
        self._changed()

    def ended(self) -> None:
        """The run ended: it asks for nothing any more."""
        self.answered(list(self._said))


class AnyAsks:
    """Whether any of several runs (a fleet's targets) asks for a secret, told to one listener
    as `PromptWatch` tells its own: a fleet's stdin box shows dots while one asks."""

    def __init__(self) -> None:
        self._asking: set[str] = set()
        self._listener: Callable[[bool], None] | None = None
        self._telling = threading.Lock()  # heard on the loop's thread, listened to from main

    def watch(self, name: str, prompts: PromptWatch) -> None:
        """Follow the run called `name` (its own listener is this one's)."""
        prompts.listen(lambda asking: self._set(name, asking))

    def listen(self, listener: Callable[[bool], None]) -> None:
        """As `PromptWatch.listen`: now if one asks, and whenever that changes."""
        with self._telling:
            self._listener = listener
            if self._asking:
                listener(True)

    def __bool__(self) -> bool:
        """Whether one of them asks now."""
        return bool(self._asking)

    def _set(self, name: str, asking: bool) -> None:
        with self._telling:
            before = bool(self._asking)
            (self._asking.add if asking else self._asking.discard)(name)
            if bool(self._asking) != before and self._listener is not None:
                self._listener(not before)
