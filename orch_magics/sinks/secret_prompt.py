"""Whether a program's last words ask for a secret: the line sent to it then is shown as dots
(browser13: a password typed in the stdin box was shown in the cell, and saved)."""

from __future__ import annotations

import re

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
