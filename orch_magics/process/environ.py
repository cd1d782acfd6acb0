"""What the secrets resolver and the layers both need to know, without importing each other.

`PLACEHOLDER` is the syntax of a value still to be resolved (`{{secret:NAME}}`, `{{env:VAR}}`):
the resolver expands it, a layer must never receive one. `VARIABLE` is what a variable may be
called, anywhere a run is given one. `SECRET_ENV_PREFIX` names the
variables the `env` secrets provider reads: this machine's processes never inherit them.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Iterator

#: A default (`:-…`) is taken as written, its blanks at the end too (config19: `{{env:SEP:-, }}`
#: gave ","); the blanks around a name are not part of it.
PLACEHOLDER = re.compile(r"\{\{\s*(secret|env)\s*:\s*([^}]*?:-[^}]*|[^}]*?)\s*\}\}")
#: A variable name every layer can set: a shell's (ssh and sudo set them through one).
VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: `{{secret:db_password}}` is read from `$ORCH_SECRET_DB_PASSWORD` by the env provider.
SECRET_ENV_PREFIX = "ORCH_SECRET_"


def variable_names(names: Iterable[str]) -> None:
    """Refuse names a layer could not set (a config field's check, and `env=`'s)."""
    bad = [name for name in names if not (isinstance(name, str) and VARIABLE.fullmatch(name))]
    if bad:
        error = ValueError(f"not variable names: {', '.join(map(repr, bad))} (letters, digits "
                           f"and _, not starting with a digit)")
        error.bad = bad[0]  # type: ignore[attr-defined]  # where a config error points
        raise error


def unpassable(key: str, value: str, *, environ: bool = False) -> str | None:
    """Why `key=value` cannot reach a remote command (None: it can), set by the wrapper's
    preamble, or with `environ` in the environment its shell starts with (a container's exec
    under a TTY, where the preamble would echo: chains17)."""
    if not VARIABLE.fullmatch(key):
        return f"cannot pass variable {key!r} to a remote command: not a shell name"
    if key.startswith("_orch_"):  # set by the preamble, they would be taken for the
        # wrapper's own state (`_orch_tty` put its ready mark into the command's stdout)
        return (f"cannot pass variable {key!r} to a remote command: names starting with "
                f"_orch_ are the remote wrapper's own")
    if "\x00" in value:
        return f"cannot pass variable {key!r}: its value holds a NUL byte, which no variable can hold"
    if environ and key == "IFS":  # a shell never takes it from its environment
        return ("cannot pass variable 'IFS' to a command under a container's TTY: it goes in the "
                "environment the shell starts with, and a shell resets IFS from there")
    return None


def inherited_environ() -> dict[str, str]:
    """This process's environment minus the secret provider's variables (for local children)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(SECRET_ENV_PREFIX)}


@contextlib.contextmanager
def without_secret_variables() -> Iterator[None]:
    """Take the secret provider's variables out of `os.environ` for the duration.

    For importing an SDK: asyncssh's import probes for liboqs with ctypes.util.find_library,
    which runs the C compiler with this process's environment.
    """
    taken = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(SECRET_ENV_PREFIX)}
    try:
        yield
    finally:
        for key, value in taken.items():
            os.environ.setdefault(key, value)


def secret_only(what: str) -> Callable[[str | None], None]:
    """The check of a password setting (`what`: "password", "sudo password"): only as one
    `{{secret:NAME}}`, never in clear, nor from `{{env:…}}` (this machine's environment, seen
    by every process of its user)."""
    def check(value: str | None) -> None:
        found = whole_placeholder(value) if value is not None else None
        if value is not None and (found is None or found[1] != "secret"):
            raise ValueError(f"write the {what} as a {{{{secret:NAME}}}} placeholder, never in "
                             f"clear (nor from {{{{env:…}}}}, which is this machine's "
                             f"environment)")
    return check


def whole_placeholder(value: str) -> re.Match[str] | None:
    """`value` as one placeholder and nothing else (None if it is not one). Spaces or a line
    break around it are a ValueError: they would be sent as part of the password."""
    found = PLACEHOLDER.fullmatch(value.strip())
    if found is not None and value != value.strip():
        raise ValueError(f"write only the placeholder ({value.strip()!r}): the spaces or line "
                         f"break around it would be part of the password sent")
    return found
