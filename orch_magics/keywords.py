"""Unknown keyword arguments of the public API, refused with the one meant (`cdw=` → `cwd=`).

Python's own TypeError names the word typed, not the word meant; ours is also a ConfigError,
so a notebook shows it as one line.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from .errors import UnknownArgument

T = TypeVar("T")


def keywords_checked(api: T) -> T:
    """`api` refusing an unknown keyword before it runs: a function, or a class's constructor
    and every public method."""
    if inspect.isfunction(api):
        return _checking(api, api.__name__)  # type: ignore[return-value]
    if not isinstance(api, type):
        raise TypeError(f"keywords_checked takes a function or a class, not {api!r}")
    for name, method in list(vars(api).items()):
        if (not name.startswith("_") or name == "__init__") and inspect.isfunction(method):
            setattr(api, name, _checking(method, api.__name__ if name == "__init__" else name))
    return api


def _checking(method: Callable[..., Any], called: str) -> Callable[..., Any]:
    """`method` checking its keywords at the call (`called`: its name in the message); one
    that takes **kwargs takes any, and is left as it is."""
    parameters = inspect.signature(method).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return method
    names = frozenset(p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD,
                                                                p.KEYWORD_ONLY))
    positional = [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]
    rest = next((p.name for p in parameters if p.kind is p.VAR_POSITIONAL), None)

    def check(args: tuple[Any, ...], given: Mapping[str, object]) -> None:
        for word in set(positional[:len(args)]) & set(given):
            raise UnknownArgument(_given_twice(called, word, given[word]))
        for word in given:
            if word not in names:
                # here, not at the top: config.loader uses this module (a cycle through config/)
                from .config.suggest import did_you_mean

                meant = _MEANT.get((called, word.lower()), _MEANT.get(("", word.lower())))
                hint = meant if meant in names else did_you_mean(word, names - {"self"}) \
                    or _by_part(word, names - {"self"})
                unknown = UnknownArgument(f"{called}() takes no argument {word!r}"
                                          + (f" (did you mean {hint}=?)" if hint
                                             else _service_setting(word, names)
                                             if called in _RUNS_A_SERVICE else
                                             _given_in_turn(called, word, rest)))
                unknown.suggestion = hint  # for code that offers it (the text has it already)
                raise unknown
        if "environment" in names and "self" in names and len(args) < 2 \
                and "environment" not in given \
                and isinstance(given.get("env"), str):  # `run(env="prod", …)`
            raise UnknownArgument(f"{called}() takes the environment first: {called}("
                                  f"{given['env']!r}, …); env= is the command's variables "
                                  f"(a mapping)")

    @functools.wraps(method)
    def checked(*args: Any, **kwargs: Any) -> Any:
        check(args, kwargs)  # at the call, as Python's own TypeError (an `async def`'s too)
        return method(*args, **kwargs)
    if inspect.iscoroutinefunction(method):  # still one, for asyncio and inspect
        _mark_coroutine_function(checked)
    return checked


def _by_part(word: str, names: frozenset[str]) -> str | None:
    """The name one of whose words `word` is near (`idd=` → forward_id), if one only."""
    from .config.suggest import did_you_mean

    parts = {part: name for name in names for part in name.split("_") if len(names) == 1
             or sum(part in other.split("_") for other in names) == 1}
    near = did_you_mean(word, parts, max_distance=1) if word not in names else None  # wait=
    # is not near max_fail's `fail` (review32)
    return parts.get(near) if near else None


def _given_in_turn(called: str, word: str, rest: str | None) -> str:
    """How a call whose `*rest` takes what `word` names is given it (config16: `load(file=…)`
    got no hint: its files have no keyword to suggest)."""
    if rest != "files" or word.lower().replace("_", "") not in _FILE_WORDS:
        return ""
    return f": give the files as arguments, in turn: {called}('orch.yaml', …)"


_FILE_WORDS = frozenset({"file", "files", "path", "paths", "filename", "filenames", "filepath",
                         "config", "configfile", "configfiles", "configpath", "yaml"})


def _words(calls: tuple[str, ...], words: tuple[str, ...], meant: str
           ) -> dict[tuple[str, str], str]:
    """`words` that mean the argument `meant` of `calls` ("": of any call that takes it)."""
    return {(call, word): meant for call in calls for word in words}


_ANY, _FORWARD, _COPY = ("",), ("forward",), ("get", "put", "aget", "aput")


#: Words people reach for that are no near spelling of the argument meant (files11:
#: `local_port=` got no hint; basics14: `log_max=` was sent to log_dir=), each suggested by
#: a call that takes the argument named.
_MEANT = {
    **_words(_FORWARD, ("local_port", "port_local", "listen_port", "bind_port"), "local"),
    **_words(_FORWARD, ("remote_port", "target_port", "dest_port"), "port"),
    **_words(_FORWARD, ("remote_host", "target_host", "dest_host"), "host"),
    **_words(_COPY, ("local_path", "local_file"), "local"),  # a path there (review25)
    **_words(_COPY, ("remote_path", "remote_file"), "remote"),
    **_words(_COPY, ("progress_callback", "on_progress", "callback"), "progress"),
    **_words(_ANY, ("cmd", "argv", "script", "shell_command"), "command"),  # not cwd=
    **_words(_ANY, ("command_timeout", "timeout_s", "timeout_secs", "timeout_seconds",
                  "deadline"), "timeout"),
    **_words(_ANY, ("environment_variables", "env_vars", "envvars", "variables", "environ",
                  "extra_env"), "env"),
    **_words(_ANY, ("working_directory", "workdir", "cwd_path", "chdir", "directory"), "cwd"),
    **_words(_ANY, ("stdin_file", "stdin_data", "stdin_text", "input", "input_data"), "stdin"),
    **_words(_ANY, ("stdin_close", "close", "eof", "send_eof"), "close_stdin"),
    **_words(_ANY, ("log_directory", "logs_dir", "log_path", "log_folder"), "log_dir"),
    **_words(_ANY, ("log_max", "log_size", "max_log_bytes", "log_limit"), "log_max_bytes"),
    **_words(_ANY, ("capture", "max_capture", "capture_bytes"), "capture_limit"),
    **_words(_ANY, ("tail_lines", "lines", "last", "n"), "tail"),
    **_words(_ANY, ("follow_logs", "tail_follow"), "follow"),
    **_words(_ANY, ("restart_policy", "on_failure"), "restart"),
    **_words(_ANY, ("parallel_count", "forks", "concurrency", "workers", "max_parallel"),
             "parallel"),
    **_words(_ANY, ("max_failures", "max_fail_percentage", "fail_percent", "max_errors"),
             "max_fail"),
    **_words(_ANY, ("confirm", "assume_yes", "confirmed"), "yes"),
    **_words(_ANY, ("limit_file", "hosts", "targets", "subset"), "limit"),
    **_words(_ANY, ("config_file", "config_path"), "config"),
}

#: The calls that run a service: a word of its config given to them is said to be one.
_RUNS_A_SERVICE = frozenset({"run", "arun", "spawn", "start", "plan"})
#: A service setting whose value a call gives through an argument of its own (the call
#: that takes it, when it is not this one).
_GIVEN_AS = {"stdin_mode": ("stdin", None), "working_dir": ("cwd", None),
             "environment": ("env", None), "restart": ("restart", "start"),
             "max_restarts": ("max_restarts", "start")}


def _given_twice(called: str, word: str, value: object) -> str:
    """Why a call got `word` both in its place and by name: `run("prod", "svc",
    environment={…})` means a service's variables (basics9), which a call takes as env=."""
    said = f"{called}() got {word} twice: in its place among the arguments and as {word}="
    if word == "environment" and isinstance(value, Mapping):
        return (f"{said} (environment= is the environment's name; a service's `environment` "
                f"variables are given to this call as env=)")
    return said


def _service_setting(word: str, names: frozenset[str]) -> str:
    """` (stdin_mode is a service setting …)` when `word` is one a config can hold, or spelt
    near one (basics8: `run(…, stdin_mod=…)` got no hint), else ""."""
    import dataclasses

    from .config.model import Service
    from .config.suggest import did_you_mean

    settings = {f.name for f in dataclasses.fields(Service) if "doc" in f.metadata} - names
    setting = word if word in settings else did_you_mean(word, settings)
    if setting is None:
        return ""
    argument, call = _GIVEN_AS.get(setting, (None, None))
    takes = (f"; {call}() takes {argument}=" if call else f"; this call takes {argument}="
             if argument in names else "")
    return f" ({setting} is a service setting: write it in the service's config{takes})"


def _mark_coroutine_function(function: Callable[..., Any]) -> None:
    """Make `function`, which returns a coroutine, pass for an `async def` where it is asked."""
    if hasattr(inspect, "markcoroutinefunction"):  # Python 3.12+
        inspect.markcoroutinefunction(function)
    else:  # 3.10, 3.11: the marker asyncio.iscoroutinefunction looks for
        import asyncio

        function._is_coroutine = asyncio.coroutines._is_coroutine  # type: ignore[attr-defined]  # private-ok: the 3.11 marker
