"""Checks of single config values, run at load time so `orch check` catches what a run would
refuse: regular expressions and jq programs compile, path templates name known fields, commands
are not empty and fit in an argv, working directories are not empty, and no placeholder sits
where it would not be expanded (a command, a directory, a file name, a label). Each raises
ValueError with the message; the validator adds the file:line:column of the value.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence

from ..process.command import check_directory, check_path
from .placeholders import first_placeholder, has_placeholder
from .suggest import did_you_mean

_NOT_EXPANDED = "placeholders are expanded in a service's `environment` (and in layer settings)"


def as_written(text: str) -> None:
    """A setting read as written (a path, a description, a pattern): a placeholder there stays
    literal text (`audit: {path: "{{env:HOME}}/a.jsonl"}` wrote under a folder so named)."""
    found = first_placeholder(text)
    if found:
        raise ValueError(f"{found!r} would be used as literal text: placeholders are expanded "
                         f"only in a service's `environment` and in layer settings")


def file_path(text: str) -> None:
    """A path read as written: neither a placeholder nor a shell variable is expanded there."""
    as_written(text)
    check_path(text)
    known_home(text)


def known_home(path: str) -> None:
    """A path on this machine starting `~user`: that user is one here (config18: `~deploy/…`
    of no such user made a folder named `~deploy` beside the config)."""
    if path.startswith("~") and os.path.expanduser(head := path.split("/")[0]) == head:
        raise ValueError(f"{path!r}: there is no user {head[1:]!r} on this machine, whose home "
                         f"{head} would be; a path here is read as written: write the folder")


def regex(pattern: str) -> None:
    as_written(pattern)
    compiled(pattern)


def compiled(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """A user's regular expression compiled, or a ValueError saying why not: `re` refuses a
    pattern too large (`a{99999999999}`) or too deeply nested with errors other than re.error
    (basics9)."""
    try:
        return re.compile(pattern, flags)
    except (re.error, OverflowError) as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    except RecursionError:
        raise ValueError("not a valid regular expression: its groups are nested too deeply "
                         "for Python's re") from None


@functools.lru_cache(maxsize=1024)
def jq_program(query: str) -> None:
    """Compile a jq program at load time (cached: libjq takes about a millisecond a program)."""
    from .jq_program import compile_program

    compile_program(query)


#: Longest single argument Linux accepts (MAX_ARG_STRLEN); `sh -c LINE` passes LINE as one.
MAX_ARG_BYTES = 128 * 1024


PATH_FIELDS = ("service", "env", "timestamp")
#: Their usual other names, too far in spelling for a did-you-mean (config15).
_OTHER_NAMES = {"environment": "env", "time": "timestamp", "date": "timestamp", "now": "timestamp",
                "name": "service"}


def literal(text: str) -> None:
    """A value used as written: `{{secret:x}}` there would reach the run as literal text."""
    found = first_placeholder(text)
    if found:
        raise ValueError(f"{_NOT_EXPANDED}; here {found!r} would be used as literal text: set a "
                         "variable in `environment` and use it from the command")


def directory(path: str) -> None:
    """A service's working directory: not empty, and used as written (no placeholder, no
    shell variable)."""
    check_directory(path)
    literal(path)


def path_template(template: str) -> None:
    """A stdout_file: known fields filled as plain text (a format spec or conversion would
    fail, or name the file oddly, only once a run starts), naming a file, not a directory."""
    literal(template)
    check_path(template)
    known_home(template)
    import string

    try:
        fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(template)
                  if f is not None]
    except ValueError as exc:
        raise ValueError(f"not a valid path template: {exc}") from None
    for name, spec, conv in fields:
        if name not in PATH_FIELDS:
            known = ", ".join("{" + f + "}" for f in PATH_FIELDS)
            hint = did_you_mean(name, PATH_FIELDS) or _OTHER_NAMES.get(name)
            raise ValueError(f"unknown placeholder {{{name}}} (known: {known})"
                             + (f"; did you mean {{{hint}}}?" if hint else ""))
        if spec or conv:
            written = "{" + name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
            stamp = " (YYYYmmdd-HHMMSS)" if name == "timestamp" else ""
            raise ValueError(f"{written}: stdout_file fills its fields as plain text, without "
                             f"format specs or conversions: write {{{name}}}{stamp}")
    if not template.strip():
        raise ValueError("stdout_file is empty: write the output file's path, such as "
                         "out/{service}-{timestamp}.out, or leave the key out for the default "
                         "({service}-{timestamp}.out)")
    last = template.rsplit("/", 1)[-1]
    if last in ("", ".", "..") or template == "~":
        raise ValueError(f"{template!r} names a directory: stdout_file is the output file's "
                         f"path, such as {template.rstrip('/')}/{{service}}-{{timestamp}}.out")


def command_spec(cmd: str | tuple[str, ...]) -> None:
    """Not empty, no placeholder, and no argument longer than the kernel takes (E2BIG)."""
    if isinstance(cmd, str) and not cmd.strip():
        raise ValueError("the command is empty")
    if isinstance(cmd, tuple) and not cmd:
        raise ValueError("the argv list is empty")
    if isinstance(cmd, tuple) and not cmd[0]:  # config13: `[""]` passed, then ran nothing (127)
        raise ValueError("the argv's first word, the program to run, is empty")
    for arg in (cmd,) if isinstance(cmd, str) else cmd:
        if has_placeholder(arg):
            raise ValueError(f"{_NOT_EXPANDED}, so that secrets never reach an argv (visible in "
                             "`ps`): set a variable in `environment` and use $VAR in the command")
        size = len(arg.encode("utf-8", "surrogateescape"))
        if size >= MAX_ARG_BYTES:
            raise ValueError(f"one argument is {size:,} bytes; the system accepts less than "
                             f"{MAX_ARG_BYTES:,}: put the command in a script and run that")


def provider_argv(argv: Sequence[str]) -> None:
    """A secrets command: a program, and no `{word}` but `{name}` (config15: `orch/{nme}`,
    review29: `{secret}`, asked every secret under one literal name)."""
    if not argv:
        raise ValueError("must name the command to run")
    if not str(argv[0]).strip():  # safety24: `[""]` passed check, then "Permission denied"
        raise ValueError("the argv's first word, the program to run, is empty")
    for word in argv:
        for other in re.findall(r"\{([A-Za-z_]\w*)\}", word):
            if other != "name":
                raise ValueError(f"it has {{{other}}}, which orch does not replace (it is passed "
                                 f"as written): the secret's name is {{name}}")

