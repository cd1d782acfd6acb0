"""The command a launcher runs: argv plus the variables and directory it runs with."""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from ..redaction import Values, masked_repr
from ..text import reads_as_written, shell_line

_EMPTY: Mapping[str, str] = Values()


def escaped(word: str) -> str:
    """`word` as valid UTF-8: bytes that were not UTF-8 (which Python keeps in argv and paths
    as surrogates) written as `\\xNN`; a word without them comes back unchanged."""
    try:
        word.encode("utf-8")
    except UnicodeEncodeError:
        return word.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return word


def check_directory(path: str) -> None:
    """Refuse an empty working directory (a ValueError, as a config check raises): each layer
    read `""` its own way (here: "/bin/sh: command not found"; ssh and docker: the home); and
    one with a shell variable, which nothing expands (`check_path`)."""
    if not path:
        raise ValueError("the directory is empty: leave it out to run in the default "
                         "directory, or name one")
    if path.startswith("~") and not at_home(path):  # config18: passed, then never ran
        user = path[1:].split("/")[0]
        raise ValueError(f"{path!r}: a working directory reads `~` and `~/…` as the home of "
                         f"whom the command runs as, and `~{user}` as a folder named so: "
                         f"write the folder's path")
    check_path(path)


#: A shell variable in a path (`$HOME/x`, `/a/${X}/b`, `audit-$USER.jsonl`).
_SHELL_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def at_home(path: str) -> bool:
    """Whether a working directory is the home of the user the command runs as (`~`, `~/app`:
    expanded where it runs, config15), so not relative to a layer's."""
    return path == "~" or path.startswith("~/")


def within(folder: str, path: str) -> str:
    """`path` taken from `folder` (as POSIX paths: the far end's), `folder` itself for `.`."""
    return folder if path in (".", "./") else posixpath.join(folder, path)


def check_path(path: str) -> None:
    """Refuse a path holding a shell variable (a ValueError, as a config check raises): it is
    read as written (config14: `${HOME}/audit.jsonl` made a folder named `${HOME}`). One that
    starts a part of the path, or names a variable this machine has; a `$` inside a name
    (`Foo$Bar`, no variable Bar) is a name's."""
    for found in _SHELL_VARIABLE.finditer(path):
        starts = found.start() == 0 or path[found.start() - 1] == "/"
        if starts or (found.group(1) or found.group(2)) in os.environ:
            raise ValueError(f"{found.group()!r} would be used as literal text: a path here is "
                             f"read as written, with no shell to expand a variable: write the "
                             f"path itself")


@masked_repr  # env holds resolved secrets: a notebook's display or a traceback masks them
@dataclass(frozen=True)
class Command:
    """An argv to run at the innermost layer.

    `env` is *added* to the target's environment (it never replaces it); `cwd` is the directory
    on the target. Layers that cross a real shell (SSH) quote `argv` exactly once for it; layers
    that take an argv (local, Docker) pass it through untouched. Values of `env` never go on an
    argv: `ps` on any hop must not show them.
    """

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    cwd: str | None = None
    tty: bool = False
    #: (columns, rows) of the terminal a `tty` command starts on: the user's, when `orch run`
    #: is given one (None: the layer's default size).
    size: tuple[int, int] | None = None
    #: What status lines, prompts and the audit show instead of the argv: set by our own code
    #: only (a copy's script shows as `orch-get SOURCE DEST`), never taken from what a user runs.
    title: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.argv:
            raise ValueError("a command needs at least one argv element")
        if not isinstance(self.env, Values):
            object.__setattr__(self, "env", Values(self.env))

    @classmethod
    def shell(cls, line: str, **kw: object) -> Command:
        """A shell command line, run by `/bin/sh -c` at the innermost layer."""
        return cls(argv=("/bin/sh", "-c", line), **kw)  # type: ignore[arg-type]

    @classmethod
    def of(cls, spec: str | Sequence[str], **kw: object) -> Command:
        """A string is a shell line, a sequence an argv."""
        if isinstance(spec, str):
            return cls.shell(spec, **kw)
        return cls(argv=tuple(spec), **kw)  # type: ignore[arg-type]

    def with_env(self, extra: Mapping[str, str], *, override: bool = True) -> Command:
        """Merge variables; with override=False the command's own values win."""
        merged = {**self.env, **extra} if override else {**extra, **self.env}
        return replace(self, env=Values(merged))

    def with_cwd(self, cwd: str | None, *, override: bool = True) -> Command:
        """In `cwd`; with override=False the command's own directory wins, a relative one
        taken from `cwd` (where it would start without it: config15)."""
        if cwd is None or (self.cwd is not None and not override and (
                self.cwd.startswith("/") or at_home(self.cwd))):
            return self
        return replace(self, cwd=cwd if override or self.cwd is None else within(cwd, self.cwd))

    def display(self) -> str:
        """The argv as one shell-quoted line (for status lines and dry runs; no env values)."""
        if self.title is not None:
            return self.title
        if len(self.argv) == 3 and self.argv[:2] == ("/bin/sh", "-c") \
                and reads_as_written(self.argv[2]):
            return self.argv[2]  # a script, over its lines
        return shell_line(self.argv)  # read back as the same words, tabs and all
