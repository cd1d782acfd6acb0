"""The `prompt` secret provider: a hidden question (getpass) where a person can answer it,
each answer kept for the session, for the config files it was typed for."""

from __future__ import annotations

import getpass
import sys
import threading
from collections.abc import Callable

from ..asking import interrupt_raises
from ..errors import PromptInterrupted
from ..tty_prompt import in_a_kernel

#: Values typed at a prompt, per (config files, secret name): one secret is asked once, and
#: the answer typed for one config is never sent by another's run (safety18: staging's value
#: went to another project's protected prod unasked).
_PROMPTED: dict[tuple[tuple[str, ...], str], str] = {}
_PROMPT_LOCK = threading.Lock()


def can_prompt() -> bool:
    """True when a person can answer a hidden prompt: a terminal, or a kernel allowing stdin."""
    if getattr(getpass.getpass, "__module__", "").startswith("ipykernel"):
        return True  # ipykernel's getpass asks the frontend (and refuses when it cannot)
    if in_a_kernel():  # a cell's `!orch` has a pty nobody types in (safety18: it hung)
        return False
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False


class NoOneToAsk(Exception):
    """No person can answer the prompt here (no terminal; a kernel whose request allows no
    input, as nbclient's and papermill's): said as such in the error (magics20)."""


def default_prompt(text: str) -> str | None:
    if not can_prompt():
        raise NoOneToAsk
    try:
        with interrupt_raises():  # a cell using top-level await too (safety13)
            return getpass.getpass(text)
    except EOFError:  # Ctrl-D: no answer; Ctrl-C stops what asked, as it does everywhere
        return None
    except KeyboardInterrupt as exc:
        raise PromptInterrupted("not run: interrupted at the secret prompt", exc) from None
    except Exception as exc:  # IPython's StdinNotImplementedError: the frontend cannot prompt
        if type(exc).__name__ == "StdinNotImplementedError":
            raise NoOneToAsk from None
        raise


class PromptProvider:
    """A hidden prompt (getpass), only when a frontend can answer it; `scope`: the config
    files whose secrets it answers (their answers are not another config's)."""

    label = "prompt"

    def __init__(self, prompt: Callable[[str], str | None] | None = None,
                 scope: tuple[str, ...] = ()) -> None:
        self._prompt = prompt or default_prompt
        self._scope = scope
        self._asked = False
        self._no_one = False  # asked where no person could answer

    def lookup(self, name: str) -> str | None:
        with _PROMPT_LOCK:
            if (self._scope, name) in _PROMPTED:
                return _PROMPTED[self._scope, name]
            self._asked = True
            try:
                value = self._prompt(f"secret {name}: ")
            except NoOneToAsk:
                self._no_one = True
                return None
            if value:
                _PROMPTED[self._scope, name] = value
            return value or None

    def describe(self, name: str) -> str:
        return "prompt" if self._asked and not self._no_one and can_prompt() else \
            "prompt (no frontend can prompt)"


def forget_scope(scope: tuple[str, ...]) -> None:
    """Drop the answers typed for `scope`, a config that is gone (review37: the token went
    with its Config, the typed secret stayed for the life of the process). No lock: called
    by the collector, whenever."""
    for key in [key for key in list(_PROMPTED) if key[0] == scope]:
        _PROMPTED.pop(key, None)


def forget_typed(value: str) -> list[str]:
    """Drop `value` from the answers typed (a target refused it): says what was forgotten.
    No lock: a prompt holds it while a person types, and this runs on the loop."""
    notes = []
    for key, known in list(_PROMPTED.items()):
        if known == value and _PROMPTED.pop(key, None) is not None:
            notes.append(f"the secret {key[1]!r} typed at the prompt is forgotten: the next run "
                         f"asks for it again")
    return notes
