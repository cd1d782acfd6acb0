"""What a caller hands a run (API, magic, CLI), checked once where the plan is made.

A wrong type or a NUL byte otherwise failed deep inside, as a TypeError from the stdlib, a
ValueError from exec, or, over SSH, a session the server dropped ("Connection lost").
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import TypeVar, get_args

from .config.loader import load_config
from .config.model import Config, StdinMode, canonical_name
from .config.placeholders import first_placeholder, placeholder_problem
from .config.suggest import did_you_mean
from .errors import ConfigError
from .limits import whole
from .process.command import Command, check_directory
from .process.environ import VARIABLE
from .sinks.base import Sinks, check_given_sinks
from .stdin import check_stdin
from .text import no_byte_at, plural, quoted

T = TypeVar("T")


def check_given(stdin: object, sinks: object) -> Sinks:
    """What a run is to send and to feed, refused before anyone is asked or anything starts;
    the sinks to use (an iterator of them read once; a fleet's may be a callable)."""
    check_stdin(stdin)
    return check_given_sinks(sinks)


def checked_tail(tail: object) -> int | None:
    """How many kept lines `logs` gives: None (all of them) or a whole number >= 0."""
    if tail is None or (lines := whole(tail)) is not None and lines >= 0:
        return None if tail is None else lines
    raise ConfigError(f"tail must be a whole number of lines, 0 or more (None: all of them), "
                      f"got {tail!r}")


def checked_command(command: object) -> str | tuple[str, ...]:
    """An ad-hoc command: a shell line, or a non-empty argv of strings, with no placeholder
    (one would reach it as literal text, as in a service's command: safety15)."""
    if isinstance(command, str):
        if not command.strip():
            raise ConfigError("command is empty: give a shell line or an argv")
        return _no_placeholder(command)
    if not isinstance(command, Sequence) or isinstance(command, (bytes, bytearray)):
        raise ConfigError(f"command must be a shell line (str) or an argv (a list of str), "
                          f"got {type(command).__name__}")
    if not command:
        raise ConfigError("command is an empty list: give a shell line or an argv")
    for word in command:
        if not isinstance(word, str):
            raise ConfigError(f"command: every argv element must be a str, got "
                              f"{type(word).__name__} {word!r}")
        _no_placeholder(word)
    return tuple(command)


def _no_placeholder(text: str) -> str:
    if (found := first_placeholder(text)) is not None:
        raise ConfigError(f"command: {found!r} would reach the command as literal text: "
                          f"placeholders are expanded in variables, which keep a secret off "
                          f"every argv: pass -e VAR='{found}' (env={{'VAR': …}}) and use $VAR")
    return text


def checked_env(env: object) -> dict[str, str]:
    """Variables for a run: a mapping of names to strings."""
    if env is None:
        return {}
    if not isinstance(env, Mapping):
        raise ConfigError(f"env must be a mapping of names to values, got {type(env).__name__}")
    for name, value in env.items():
        if not isinstance(name, str) or not VARIABLE.fullmatch(name):  # as in a config
            shown = quoted(name) if isinstance(name, str) else repr(name)  # bytes as \xNN
            raise ConfigError(f"env: {shown} is not a variable name (letters, digits and _, "
                              f"not starting with a digit)")
        if not isinstance(value, str):
            raise ConfigError(f"env {name}: the value must be a str, got {type(value).__name__}")
        if (problem := placeholder_problem(value)) is not None:
            raise ConfigError(f"env {name}: {problem}")
    return dict(env)


def checked_cwd(cwd: object) -> str | None:
    if cwd is not None and not isinstance(cwd, str):
        raise ConfigError(f"cwd must be a str (a directory on the target), got "
                          f"{type(cwd).__name__}")
    try:
        if cwd is not None:
            check_directory(cwd)
    except ValueError as exc:
        raise ConfigError(f"cwd: {exc}") from None
    return cwd


def refuse_unsendable(command: Command, what: str) -> None:
    """No program can receive a NUL byte in an argument, a variable or its directory, nor a
    surrogate that stands for no byte (`\\ud800`; a lone `\\udc80`-`\\udcff` is the byte
    `os.fsdecode` kept, and is sent as that byte)."""
    words = [*command.argv, *command.env, *command.env.values(), command.cwd or ""]
    if any("\0" in word for word in words):
        raise ConfigError(f"{what}: an argument, variable or directory holds a NUL byte, "
                          f"which no program can receive")
    for word in words:
        if (at := no_byte_at(word)) is not None:
            raise ConfigError(f"{what}: an argument, variable or directory holds "
                              f"{word[at]!r}, a surrogate that stands for no byte, which no "
                              f"program can receive")


def checked_config(given: object) -> Config | None:
    """What `Orchestrator(config)` was given, as a Config: a config file's path is loaded;
    anything else but None is a mistake, said in one line."""
    if given is None or isinstance(given, Config):
        return given
    if isinstance(given, (str, os.PathLike)):
        return load_config(given)
    raise ConfigError(f"Orchestrator takes a Config or a config file's path: "
                      f"Orchestrator(load_config('orch.yaml')), not {type(given).__name__}")


def checked_keeping(log_dir: object, backoff: object, log_max_bytes: object,
                    capture_limit: object) -> tuple[str, tuple[float, float], int, int]:
    """How an Orchestrator keeps its named runs, as given to it, checked at once (a wrong one
    otherwise failed at the first named run, inside a sink): the log folder as an absolute
    path (default `$ORCH_LOG_DIR`, else ~/.cache/orch_magics/logs), the first and longest
    restart delay, a log's size before it rotates, and the bytes of each stream a result
    keeps."""
    if log_dir is not None and not isinstance(log_dir, (str, os.PathLike)):
        raise ConfigError(f"log_dir must be a folder's path, got {type(log_dir).__name__} "
                          f"{log_dir!r}")
    folder = os.path.abspath(os.fsdecode(  # here, now: a `%cd` later must not move the logs
        log_dir or os.environ.get("ORCH_LOG_DIR") or os.path.join(
            os.path.expanduser("~"), ".cache", "orch_magics", "logs")))
    delays = tuple(backoff) if isinstance(backoff, (tuple, list)) else ()
    if not (len(delays) == 2 and all(isinstance(d, (int, float)) and not isinstance(d, bool)
                                      and math.isfinite(d) and d >= 0 for d in delays)
            and delays[0] <= delays[1]):
        raise ConfigError(f"restart_backoff must be (first, longest) delays in seconds, "
                          f"0 <= first <= longest, got {backoff!r}")
    return (folder, (float(delays[0]), float(delays[1])),
            _bytes("log_max_bytes", log_max_bytes, MIN_LOG_BYTES),
            _bytes("capture_limit", capture_limit, 0))


#: The smallest log_max_bytes: a rotation runs on the orchestrator's loop, and one every few
#: lines of a chatty run stalled every run of it (api6: log_max_bytes=1 was taken).
MIN_LOG_BYTES = 4096


def _bytes(name: str, value: object, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigError(f"{name} must be a whole number of bytes, at least {least}, "
                          f"got {value!r}")
    return value


def checked_resolver(factory: T) -> T:
    """`resolver_factory`: None (the config's providers) or a callable making a Resolver."""
    if factory is not None and not callable(factory):
        raise ConfigError(f"resolver_factory must be a callable that makes a Resolver (None: "
                          f"the config's secrets providers), not {type(factory).__name__}")
    return factory


def check_plan_of(plan: object, environment: object) -> None:
    """A plan given with an environment must be that environment's (it runs where it says)."""
    planned = getattr(getattr(plan, "environment", None), "name", environment)
    if plan is not None and planned != (canonical_name(environment)
                                        if isinstance(environment, str) else environment):
        raise ConfigError(f"the plan is for environment {planned!r}, not {environment!r}: "
                          f"pass spawn({planned!r}, plan=PLAN), or plan {environment!r}")


def check_plan_switches(stdin_mode: object, tty: object, dry_run: object) -> None:
    """`plan()`'s own keywords: `tty='no'` was a terminal, `dry_run='no'` a dry run, and a
    misspelt stdin_mode went into the plan."""
    modes = get_args(StdinMode)
    if stdin_mode is not None and stdin_mode not in modes:
        hint = did_you_mean(str(stdin_mode), modes)
        raise ConfigError(f"stdin_mode must be one of {', '.join(modes)} (or None: the "
                          f"service's), not {stdin_mode!r}"
                          + (f" (did you mean {hint!r}?)" if hint else ""))
    if tty is not None and not isinstance(tty, bool):
        raise ConfigError(f"tty must be True, False or None (the service's), not {tty!r}")
    if not isinstance(dry_run, bool):
        raise ConfigError(f"dry_run must be True or False, not {dry_run!r}")


#: 16 or more characters a token is written in: base64 (standard or url-safe) or base32.
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9+/_-]{16,}")


def _token_like(key: str, value: str) -> bool:
    """Whether `-e KEY=VALUE` is a token whose `NAME=` was forgotten, split at an `=`
    (review42, review44-46): a "name" no variable has (shown otherwise: base32 starts with a
    digit 6 times in 32), or a variable's name with only its padding (`=`s) after it, or
    nothing and with a digit and no `_`, or of mixed case with one of them (base32's single
    `=`; `DOTNET_gcHeapHardLimit=` clears a variable)."""
    if not _TOKEN_CHARS.fullmatch(key):
        return False
    if not VARIABLE.fullmatch(key):
        return True
    if value.strip("="):
        return False  # a value given: a variable set
    digit, underscore = any(c.isdigit() for c in key), "_" in key
    mixed = key.lower() != key != key.upper()
    return bool(value) or digit and not underscore or mixed and (digit or not underscore)


def _unnamed(pair: str) -> str:
    """What a `-e` without a name was, without showing it: it may be a secret's value."""
    if not pair:
        return "nothing"
    shape = f"a value of {plural(len(pair), 'character')}"
    return f"{shape} with no '='" if "=" not in pair else f"{shape} starting with '='"


def _where_equals(value: str) -> str:
    return "ending in '='" if not value.strip("=") else "with '=' inside"


def parse_env_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """`-e KEY=VALUE` options (CLI and magics) as a mapping; a malformed one is an error."""
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:  # its value unsaid: `-e "$TOKEN"` with the name forgotten
            raise ConfigError(f"-e expects KEY=VALUE, got {_unnamed(pair)}")  # (safety22)
        if _token_like(key, value):
            raise ConfigError(f"-e expects KEY=VALUE, got a value of "
                              f"{plural(len(pair), 'character')} {_where_equals(value)} (a "
                              f"token, base64 or base32, with its name forgotten?)")
        env[key] = value
    return env
