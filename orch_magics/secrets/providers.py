"""Where `{{secret:NAME}}` values come from: env, OS keyring, a private YAML file, a prompt.

A provider is a small object with a `label`, `lookup(name) -> str | None` and `describe(name)`
(what it tried, for the "not available" error). `providers_from_settings` builds the chain in
the order `secrets.providers` gives (default: env, keyring, file, prompt).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import stat
import subprocess
import tempfile
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from ..config.reading import (
    folders_not_yours,
    judged_command,
    owner_name,
    read_text,
    trusted_owners,
)
from ..config.source import Source, parse_source
from ..config.suggest import did_you_mean
from ..config.validate import kind_name
from ..errors import ConfigError, PromptInterrupted
from ..process.environ import SECRET_ENV_PREFIX, inherited_environ
from ..process.tree import kill_tree, pipe_holders
from .prompt import PromptProvider, forget_typed

if TYPE_CHECKING:
    from ..config.model import CommandProviderSpec, SecretsSettings


def secret_env_name(name: str) -> str:
    """`db_password` → `ORCH_SECRET_DB_PASSWORD` (letters and digits kept, the rest `_`)."""
    return SECRET_ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


class SecretProvider(Protocol):
    """One source of secret values; `describe` says what it tried, for the error."""

    label: str

    def lookup(self, name: str) -> str | None: ...

    def describe(self, name: str) -> str: ...


class EnvProvider:
    """`{{secret:db_password}}` ← `$ORCH_SECRET_DB_PASSWORD`."""

    label = "env"

    def lookup(self, name: str) -> str | None:
        return os.environ.get(secret_env_name(name))

    def describe(self, name: str) -> str:
        wanted = secret_env_name(name)
        near = did_you_mean(wanted, (k for k in os.environ if k.startswith(SECRET_ENV_PREFIX)))
        return f"env {wanted}" + (_near(near) if near and near != wanted else "")


#: Seconds the keyring's backend has to answer (see KeyringProvider.lookup).
KEYRING_TIMEOUT = 30.0


class KeyringProvider:
    """`keyring.get_password(service, name)` on whatever backend keyring is configured with."""

    label = "keyring"

    def __init__(self, service: str = "orch_magics", timeout: float | None = None) -> None:
        self.service = service
        self.timeout = KEYRING_TIMEOUT if timeout is None else timeout
        self._error: str | None = None
        self._silent: str | None = None  # why it is asked no more: it did not answer once

    def lookup(self, name: str) -> str | None:
        """The value, or None with why noted: any failure of keyring or its backend counts
        as "not found" (safety14: a SecretService with no D-Bus, or a backend named in
        keyringrc.cfg that cannot be loaded, raised RuntimeError or ImportError, and the
        providers after it were never asked), and so does no answer within `timeout`
        (safety16: a locked Secret Service waiting for an unlock dialog nobody sees hung the
        run for ever; the call is left to its thread)."""
        if self._silent is not None:  # each secret would wait again, and prompt again
            self._error = self._silent
            return None
        answer: list[tuple[str | None, str | None]] = []  # (value, why none): a late answer
        # (after the timeout) is dropped with its thread, never said for another secret

        def ask() -> None:
            try:
                import keyring

                answer.append((keyring.get_password(self.service, name), None))
            except Exception as exc:  # noqa: BLE001 - no usable backend, locked keyring, ...
                answer.append((None, f"{type(exc).__name__}: {exc}"))
        asking = threading.Thread(target=ask, name="orch-keyring", daemon=True)
        asking.start()
        asking.join(self.timeout)
        if not answer:
            self._error = self._silent = (f"no answer within {self.timeout:g} s: a locked "
                                          f"keyring waiting to be unlocked?")
            return None
        value, self._error = answer[0]
        return value

    def describe(self, name: str) -> str:
        extra = f" ({self._error})" if self._error else ""
        return f"keyring {self.service}/{name}{extra}"


#: Largest secrets file read.
SECRETS_MAX = 1 << 20


def _secrets_from(src: Source) -> dict[str, str]:
    """`name: value` pairs of a parsed secrets file; anything else is a ConfigError at its line."""
    if not isinstance(src.data, dict):
        raise src.error((), "a secrets file must be a mapping of names to values")
    data: dict[str, str] = {}
    for key, value in src.data.items():
        if value is None:  # `db:`, an entry left empty: the next provider is asked (basics11)
            data[key] = ""
            continue
        if isinstance(value, (dict, list)):
            raise src.error((key,), f"secret {key!r} must be a string", at_key=True)
        text = value if isinstance(value, str) else src.as_written((key,), value)
        if text is None:  # never shown: the message names the kind, not the value
            raise src.error((key,), f"secret {key!r}: YAML 1.1 reads this unquoted value as "
                                    f"{kind_name(value).split(' (')[0]}, not as the text "
                                    "written: quote it to keep it exactly")
        data[key] = text
    return data


class MissingSecretsFile(ConfigError):
    """The configured secrets file is not there: the secret asked is named with it
    (Resolver.secret_text), and no provider after the file answers in its place."""

    #: What the providers before the file said of the secret ("" when none is before it).
    tried = ""
    #: Whether the env provider is asked before the file (after it, it is never asked).
    env_before = False


class FileProvider:
    """A YAML mapping `name: value`; refused when group or others may read it."""

    label = "file"

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._data: dict[str, str] | None = None

    def _load(self) -> dict[str, str]:
        if self._data is not None:
            return self._data
        assert self.path is not None
        path = self.path
        try:
            st = os.stat(path)
        except FileNotFoundError:  # no later provider answers in its place: it was put first
            raise MissingSecretsFile(f"the secrets file {path} (secrets.file in the config) "
                                     f"does not exist") from None
        except OSError as exc:
            raise ConfigError(f"cannot read the secrets file: {exc.strerror or exc}",
                              file=path) from None
        if not stat.S_ISREG(st.st_mode):  # before its mode: `chmod 600` would not help
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "a device" if stat.S_ISCHR(
                st.st_mode) or stat.S_ISBLK(st.st_mode) else "a pipe" if stat.S_ISFIFO(
                st.st_mode) else "a socket"  # basics11; config17: /dev/null, a FIFO that hung
            raise ConfigError(f"secrets file is {kind}, not a file", file=path)
        if st.st_mode & 0o077:
            mode = stat.S_IMODE(st.st_mode)
            raise ConfigError(
                f"secrets file {path} is readable or writable by group/others (mode "
                f"{mode:04o}); refusing to use it: run `chmod 600 {path}`")
        if (why := _not_ours(path, st)) is not None:
            raise ConfigError(f"secrets file {path} {why}; refusing to use it")
        try:
            self._data = _secrets_from(parse_source(read_text(path, "secrets file",
                                                              SECRETS_MAX), path))
        except ConfigError as exc:  # at file:line:column, never showing the line: it holds secrets
            raise ConfigError(exc.message, file=exc.file, line=exc.line, column=exc.column,
                              suggestion=exc.suggestion) from None
        return self._data

    def lookup(self, name: str) -> str | None:
        if not self.path:
            return None
        return self._load().get(name)

    def describe(self, name: str) -> str:
        if not self.path:
            return "file (none configured)"
        near = did_you_mean(name, self._data or ())
        return f"file {self.path}" + (_near(near) if near and near != name else "")


def _near(found: str) -> str:
    """A provider's note on a name it has that is close to the one asked for (a typo)."""
    return f" (it has {found!r}: did you mean that?)"


#: Values a command provider fetched, per (command, name, folder it runs in): asked once per
#: session (`./get.sh` of another config's folder is another command).
_FETCHED: dict[tuple[tuple[str, ...], str, str | None], str] = {}
_FETCH_LOCK = threading.Lock()


class CommandProvider:
    """A password manager's CLI (`pass show orch/{name}`, `op read …`, `vault kv get …`).

    The value is the command's stdout (its first line by default), fetched once per session.
    A command that exits non-zero does not know the secret (the next provider is tried); a
    missing program or a command that hangs past its timeout is a configuration error naming
    the secret and the command, never the value.
    """

    label = "command"

    def __init__(self, spec: CommandProviderSpec) -> None:
        self.spec = spec
        self._why: dict[str, str] = {}

    def argv(self, name: str) -> list[str]:
        return [part.replace("{name}", name) for part in self.spec.argv]

    def lookup(self, name: str) -> str | None:
        argv = self.argv(name)
        key = (tuple(argv), name, self.spec.folder)
        with _FETCH_LOCK:
            if key in _FETCHED:
                return _FETCHED[key]
            value = self._run(name, argv)
            if value is not None:
                _FETCHED[key] = value
            return value

    def _run(self, name: str, argv: list[str]) -> str | None:
        shown = shlex.join(argv)
        folder = self.spec.folder
        found = bool(self.spec.found and folder)
        if found and folder:  # what it runs may have changed since the load
            argv = judged_command(argv, folder)
        try:
            with _empty_folder() if found else contextlib.nullcontext(folder) as cwd:
                done = _ran(argv, self.spec.timeout, cwd)
        except FileNotFoundError:
            raise ConfigError(f"secret {name!r}: the command `{shown}` cannot run: "
                              f"{_not_found(argv[0], self.spec.folder)}") from None
        except subprocess.TimeoutExpired:
            raise ConfigError(f"secret {name!r}: the command `{shown}` did not answer within "
                              f"{self.spec.timeout:g}s") from None
        except HeldOpen:
            raise ConfigError(f"secret {name!r}: the command `{shown}` ended, but a process "
                              f"it started held its output open past {self.spec.timeout:g}s "
                              f"(ended now): start such a helper with its output redirected "
                              f"(> /dev/null)") from None
        except KeyboardInterrupt as exc:  # magics14: a 150-line traceback in a notebook
            raise PromptInterrupted(f"not run: interrupted while the command `{shown}` "
                                    f"fetched secret {name!r}", exc) from None
        except OSError as exc:
            raise ConfigError(f"secret {name!r}: the command `{shown}` cannot run: "
                              f"{exc.strerror or exc}") from None
        if done.returncode != 0:
            said = done.stderr.decode("utf-8", "replace").strip().splitlines()
            self._why[name] = _ended(done.returncode) + (f": {said[-1]}" if said else "") + (
                "; a found config's command runs in an empty folder: name its files by "
                "path, or the config with -c to run it in the config's folder" if found else "")
            return None
        text = done.stdout.decode("utf-8", "surrogateescape")  # byte-exact, as {{env:…}}
        value = text.split("\n", 1)[0] if self.spec.line == "first" else text.rstrip("\n")
        value = value.rstrip("\r")
        if not value:
            self._why[name] = ("its first line is empty (the value is the first line of its "
                               "stdout; `line: all` takes all of it)" if text.strip() else
                               "printed nothing")
            return None
        return value

    def describe(self, name: str) -> str:
        why = self._why.get(name)
        return f"command `{shlex.join(self.argv(name))}`" + (f" ({why})" if why else "")


def _ended(returncode: int) -> str:
    """How a command that did not answer ended: `exited 1`, `killed by SIGKILL` (safety21:
    `exited -9`)."""
    if returncode >= 0:
        return f"exited {returncode}"
    try:
        return f"killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"killed by signal {-returncode}"


def _not_found(program: str, folder: str | None) -> str:
    """Why `program`, run in `folder`, was not found: the folder gone, the path it names, or
    PATH (review33: a missing `./get.sh` or a gone folder read "not on PATH")."""
    if folder and not os.path.isdir(folder):
        return f"it runs in {folder}, which is gone"
    if "/" in program:
        return f"{os.path.normpath(os.path.join(folder or os.getcwd(), program))} does not exist"
    return f"{program!r} is not installed (or not on PATH)"


def _empty_folder() -> tempfile.TemporaryDirectory[str]:
    """A private empty folder for a found config's command to run in (see `judged_command`)."""
    return tempfile.TemporaryDirectory(prefix="orch-secrets-")


def _ran(argv: list[str], timeout: float, folder: str | None
         ) -> subprocess.CompletedProcess[bytes]:
    """`argv` run in `folder` to its end, or past `timeout` ended with all it started
    (TimeoutExpired)."""
    with subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=inherited_environ(), cwd=folder) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except (subprocess.TimeoutExpired, KeyboardInterrupt) as exc:
            ended = proc.poll() is not None and isinstance(exc, subprocess.TimeoutExpired)
            kill_tree(proc.pid)  # its children too: the pipes close only once they have gone
            for pipe in (proc.stdout, proc.stderr):  # and one left to init holding them (one
                # read to its end is closed: safety24, a helper that shut its stdout lingered)
                for held in pipe_holders(pipe.fileno()) if pipe and not pipe.closed else ():
                    kill_tree(held)  # (safety20: `sleep 47 &` ran on for good)
            with contextlib.suppress(subprocess.TimeoutExpired):  # one detached from the
                proc.communicate(timeout=1)  # tree may hold them: not waited for (review27)
            if ended:
                raise HeldOpen from None
            raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


class HeldOpen(Exception):
    """The command ended, but a process it started held its output open past the timeout."""


def forget(value: str) -> list[str]:
    """Drop `value` from the session's remembered answers (prompt) and fetches (command): a
    target refused it, so the next run asks or fetches anew. Says what was forgotten.

    No lock is taken: a prompt holds its lock while a person types, and this runs on the loop.
    """
    notes = forget_typed(value)
    for key, known in list(_FETCHED.items()):
        if known == value and _FETCHED.pop(key, None) is not None:
            notes.append(f"the secret {key[1]!r} fetched by `{shlex.join(key[0])}` is "
                         f"forgotten: the next run fetches it again")
    return notes


def providers_from_settings(settings: SecretsSettings, *,
                            prompt: Callable[[str], str | None] | None = None,
                            scope: tuple[str, ...] = ()) -> list[SecretProvider]:
    """The provider chain in the configured order; `scope`: the config files it is of (what
    is typed at a prompt answers for them only)."""
    chain: list[SecretProvider] = []
    for label in settings.providers:
        if label == "env":
            chain.append(EnvProvider())
        elif label == "keyring":
            chain.append(KeyringProvider(settings.keyring_service))
        elif label == "file":
            chain.append(FileProvider(settings.file))
        elif label == "prompt":
            chain.append(PromptProvider(prompt, scope))
        else:
            chain.append(CommandProvider(label))
    return chain


def _not_ours(path: str, st: os.stat_result) -> str | None:
    """Why another account could choose the values in the secrets file (as OpenSSH's
    StrictModes refuses such files; safety15: both were used without a word), or None: it
    belongs to someone else, its folder lets others replace it (no sticky bit), or a folder
    or link on the way to it is another user's (`reading.folders_not_yours`, as the audit
    log's place: safety22, a link of nobody's gave a staging run prod's secrets)."""
    if st.st_uid not in trusted_owners():
        return (f"belongs to user {owner_name(st.st_uid)}, who could read and rewrite it: "
                f"have it made yours")
    folder = os.path.dirname(os.path.realpath(path))  # `a/../b`: where it leads
    mode = os.stat(folder).st_mode
    if mode & 0o022 and not mode & stat.S_ISVTX:
        return (f"is in {folder}, which group/others may write (mode "
                f"{stat.S_IMODE(mode):04o}), so anyone could replace it: keep it in a folder "
                f"of your own")
    if (why := folders_not_yours(path)) is not None:
        return f"{why}, who could point it at another file: keep it in a folder of your own"
    return None
