"""What sudo said when it did not run the command, as one line in our words.

sudo talks on its stderr (the one stream under a terminal); what came on stdout before the
command started is the target's side: its login shell (`login: true`) and profile. Both are
quoted, sudo's own words first, never the layer's inner workings (BOOT, our prompt).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import AuthError, LayerError, PasswordRejected
from ..process.events import Exit

#: sudo quoting the command it refused: the layer's `SHELL -c BOOT`.
_EXECUTE = re.compile(r"to execute '(\S+) -c .*' as ")
#: The wrapper's own line when the place could not enter the directory sudo is started in
#: (remote.preamble): the layer before sudo's `workdir`, not sudo, is what failed.
_PLACE_CWD = re.compile(r"^orch: ((?:working directory not found: |not a directory: |cannot "
                        r"enter working directory ).*)$", re.M)
#: sudo's words when its setuid bit has no effect (container flag, nosuid mount, lost bit).
_NO_SETUID = re.compile(r"no new privileges|effective uid is not 0|must be owned by uid 0")
#: sudo's and PAM's words when the login user's password must be changed first: PAM then asks
#: for the current and a new password, which the layer must not answer.
_EXPIRED = re.compile(r"password (?:is |has )?expired|required to change your password",
                      re.IGNORECASE)
#: sudo's words when the login user's account (not its password) has expired or is locked;
#: sudo then goes on to "a password is required", which is not the reason.
_ACCOUNT = re.compile(r"account validation failure|account (?:has )?expired|account is locked",
                      re.IGNORECASE)
#: How much of a line sudo said an error quotes.
QUOTE_CHARS = 200


@dataclass(frozen=True)
class Heard:
    """What the place said before the command ran (decoded), and how far it got."""

    said: str  # sudo's stream, without our prompts
    out: str  # stdout before the command: the target's side (empty under a terminal)
    user: str  # the target user
    prompts: int  # the password prompts sudo printed
    login: bool  # `login: true`: the target's login shell ran first
    started: bool  # BOOT ran and was sent the script
    let_in: bool = False  # sudo let its command run (with `login`: the gate said its token)

    def last(self) -> str:
        """The last line said (sudo's stream first, else the other), as an error quotes it."""
        return _last_line(self.said) or _last_line(self.out)


def _last_line(text: str, limit: int | None = QUOTE_CHARS) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1].removeprefix("sudo: ")[:limit] if lines else ""


def _every_line(text: str) -> str:
    """Every line said, joined with "; " (bounded), as an error quotes them."""
    lines = [ln.strip().removeprefix("sudo: ") for ln in text.splitlines() if ln.strip()]
    return "; ".join(dict.fromkeys(lines))[:2 * QUOTE_CHARS]


def _said_line(text: str, words: re.Pattern[str]) -> str | None:
    """The first line of `text` in which `words` are found, as an error quotes it."""
    for line in text.splitlines():
        if words.search(line):
            return line.strip().removeprefix("sudo: ")[:QUOTE_CHARS]
    return None


def must_change_password(heard: Heard) -> str | None:
    """Why sudo waits on a prompt of PAM's own (the password expired), or None."""
    for line in (heard.said + "\n" + heard.out).splitlines():
        if _EXPIRED.search(line):
            return (f"sudo refused: {line.strip().removeprefix('sudo: ')[:QUOTE_CHARS]} (the "
                    f"login user's password has expired and PAM asks for a new one, which the "
                    f"sudo layer does not give: change it at that place first)")
    return None


def no_password(user: str) -> str:
    """sudo asked for a password and the layer has none."""
    return (f"sudo asks for a password to run commands as {user!r} and the sudo layer has "
            f"none: add password: \"{{{{secret:NAME}}}}\" (or use a NOPASSWD rule; it must "
            f"allow a shell: the layer runs `sh -c …` as {user!r})")


def wrong_password(user: str) -> str:
    return (f"sudo did not accept the password (to run commands as {user!r}): check the "
            f"secret given as the layer's password")


def unknown_user(user: str) -> str:
    """What is said of a `user:` that no account at the place has."""
    return f"sudo: unknown user {user!r}"


def _refused(line: str, user: str) -> str:
    """sudo's refusal; when it refused the layer's shell, say that the rule must allow one."""
    found = _EXECUTE.search(line)
    if found is None:
        return f"sudo refused: {line[:QUOTE_CHARS]}"
    shell = found[1]
    line = _EXECUTE.sub(lambda m: f"to execute '{m[1]} -c …' as ", line)[:QUOTE_CHARS]
    return (f"sudo refused: {line} (the sudo layer runs each command through `{shell} -c …` "
            f"as {user!r}: the sudoers rule must allow a shell, such as ALL, not only given "
            f"commands)")


def _setuid_cause(low: str) -> str:
    """Why sudo runs without root rights, from its (lower-cased) words."""
    if "no new privileges" in low:
        return ("the \"no new privileges\" flag is set (a container started with "
                "--security-opt no-new-privileges)")
    return "sudo is not setuid root or its file system is mounted nosuid"


#: What the layer's shell says when it could not start a program (`dd`) as the target.
NOEXEC = "orch-sudo-noexec"
#: A shell's words when exec is refused it (the login shell's `exec "$SHELL" -l`).
_EXEC_DENIED = re.compile(r"exec: [^:\n]+: permission denied")


def explain(heard: Heard, end: Exit) -> tuple[str, type[LayerError]]:
    """sudo (or the place) ended before the command ran: why, and the error class to raise."""
    text, user = heard.said, heard.user
    said = _last_line(text)
    low = text.lower()
    status = f"exit {end.code}" if end.code is not None else f"signal {end.signal}"
    if end.code == 126 and not heard.started and (place := _PLACE_CWD.search(text)):
        return (f"sudo was not started: the layer before it could not use its working "
                f"directory ({place[1]}): check that layer's workdir"), LayerError
    if end.code == 126 and (NOEXEC in text or _EXEC_DENIED.search(low + heard.out.lower())):
        return (f"sudo runs commands as {user!r} with noexec (a sudoers `noexec` option or "
                f"NOEXEC: tag): the sudo layer's shell must start programs (dd, the command): "
                f"allow it with EXEC: or !noexec for this rule"), LayerError
    if end.code == 127 and "sudo" in low and "not found" in low:
        return "sudo is not installed there (command not found)", LayerError
    if "incorrect password" in low or (heard.prompts and "sorry, try again" in low):
        return wrong_password(user), PasswordRejected
    if (why := must_change_password(heard)) is not None:
        return why, AuthError
    if (account := _said_line(text, _ACCOUNT)) is not None:
        return (f"sudo refused: {account} (the login user's account there has expired or is "
                f"locked: sudo checks it before any password)"), AuthError
    if "not allowed" in low or "not in the sudoers" in low or "may not run" in low:
        return _refused(_last_line(text, None), user), AuthError
    if "unknown user" in low:
        return unknown_user(user), LayerError
    if _NO_SETUID.search(low):
        return (f"sudo cannot change user there: {_setuid_cause(low)} "
                f"(sudo said: {said})"), LayerError
    shell_said = _last_line(heard.out)
    if heard.login and heard.let_in and not heard.started:  # sudo was done: the login shell
        why = shell_said or said  # or its profile ended, on either stream (sudo13: blamed
        return (f"the login shell of {user!r} ended before the command started ({status})"
                + (f": {why}" if why else "") + " (login: true needs a target whose shell runs "
                "commands given with -l -c, as bash, dash, zsh and ash do, and a profile that "
                "does not exit" + (f"; it said: {said}" if shell_said and said else "") + ")"
                ), LayerError  # on sudo, which had let the gate run)
    if heard.login and not heard.started and shell_said:
        return (f"the login shell of {user!r} ended before the command started ({status}): "
                f"{shell_said} (login: true needs a target whose shell runs commands"
                + (f"; sudo said: {said})" if said else ")")), LayerError
    said = _every_line(text) or shell_said  # its first words may be the reason, not its last
    return f"sudo failed ({status}){': ' + said if said else ''}", LayerError
