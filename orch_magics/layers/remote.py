"""What every remote kind (ssh, docker, and the next: sudo, podman, kubectl) shares.

A remote command always starts through one POSIX shell wrapper (`WRAPPER`), given as
``sh -c WRAPPER sh N ARGV…``. It (its own state in `_orch_*` variables, none inherited)

1. reports its pid as the first line of its stderr (``\\x1eorch-pid N``; of its stdout under a
   TTY). The wrapper is started as a session (sshd and runc call setsid), so that pid is also
   the process group of the command and all its children: `kill_group_line` signals it;
2. reads an N-byte preamble from stdin (``export K='v'`` lines and a ``cd``, see `preamble`)
   and evaluates it, so variables and the directory never appear on any argv; under a TTY
   it reads it raw, then says ``\x1eorch-ready`` once the terminal is cooked again. One cut
   short (its last line missing: the controller died first) ends it with 125, nothing run:
   a container kind sends it only once its container's warden has the run's group;
3. when its parent is an SSH server's session process (`sshd…`, `dropbear`: the login shell
   exec'd the line, as sh, bash and dash do) or sudo, watches it and itself through /proc
   once a second (one `sleep 1`): when the parent is gone (the connection ended: the
   controller died, or its link; sudo was killed), or the wrapper itself (killed with
   SIGKILL from outside, which it cannot catch: chains10 found its command left running),
   it sends its process group and session SIGTERM, then SIGKILL two seconds later, so no
   orphan is left behind. When the command ends, the wrapper tells the watch to end (SIGURG,
   which nothing else sends it and whose default is to ignore it: sent again until the watch
   has set its trap and ended, review20) and reaps it: the watch kills and reaps its own
   `sleep` first, so nothing is handed to a container's PID 1, which may never reap it
   (chains11: two zombies a run behind docker → sudo, until the container could not fork).
   Its stop sequence, once begun, ignores that signal (review20: it was cut short).
   Under any other parent (a container's runtime, a login wrapper that does not exec)
   nothing is watched; a container kind kills the group itself when the wrapper ended
   without its status line (`docker_exec`);
4. runs ARGV (a program it cannot start is said in the local layer's words, 127 or 126),
   outliving any signal sent to its group but KILL (`CAUGHT`: ARGV gets it as it comes; a
   stop that came while ARGV was looked for ends it unstarted, as that signal would), and
   when it ends sends SIGTERM to what is left of its process group and session (a background
   grandchild holding the output would otherwise keep the run open, or outlive it; GNU
   `timeout` makes a group of its own: `ended_line`): the run ends when the main process
   does, with nothing left behind and no extra round-trip; when a signal ended it (a stop),
   what is still there about a second later gets SIGKILL (`left_line`), as the ladder ends;
5. exits the way ARGV did: a death by signal N is status 128+N (N one of the 54 signals
   that can end a process, `ENDING_SIGNALS`), which `decode_status` reads as signal N for
   every kind; one of the signals an SSH server can name (`NAMED_SIGNALS`) is re-raised, so
   sshd reports it as that signal (it reports any other as `SIG@openssh.com`, with no
   number), with no core dump of the wrapper's own;
6. when asked (the second positional is a nonce, not 0), first prints ARGV's status as the
   last line of its stderr (``\x1eorch-exit NONCE N``; `StatusTail` takes it out of the
   output): an engine may forget an exec before its status is read (podman with
   `exit_command_delay = 0`). The command writes to the same stream, so the run's own nonce
   tells the wrapper's line from one the command printed (or left when it was killed).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import signal as _signal
from collections.abc import Iterable

from ..errors import LayerError
from ..process.command import Command, at_home
from ..process.environ import unpassable
from ..process.events import Exit
from ..text import printable
from .session_sweep import ended_line, left_line, session_line

#: The line the wrapper prints first on its stderr: this marker, the pid, a newline.
PID_MARK = b"\x1eorch-pid "
#: Under a TTY, once the preamble has run (the terminal is itself again: ^D is EOF), the
#: wrapper prints this line on it; input sent before could meet a raw terminal.
READY_MARK = b"\x1eorch-ready"
#: The line the wrapper prints last on its stderr when asked: this marker, the run's nonce, a
#: space, the status, a newline.
EXIT_MARK = b"\x1eorch-exit "
#: The signals an SSH server reports by name (RFC 4254 §6.10; OpenSSH names no other), by
#: their numbers on Linux (the far end's, whatever this machine numbers them): the ones the
#: wrapper re-raises, and the ones the `signal` request may carry.
NAMED_SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "ABRT": 6, "FPE": 8, "KILL": 9,
                 "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15}
#: Signals a status 128+N can be a death by, as a shell encodes it, by Linux numbers: 1–64
#: but those whose default ends no process (CHLD 17, CONT 18, stops 19–22, URG 23, WINCH 28)
#: and glibc's own (32, 33): `exit 150` is a status, since SIGTTOU (22) cannot end a process.
ENDING_SIGNALS = frozenset(range(1, 65)) - {17, 18, 19, 20, 21, 22, 23, 28, 32, 33}

#: Signals the wrapper outlives (its command does not: a caught signal is the default again
#: in a program it starts): every ending one `kill` can deliver to its process group, so a
#: `send_signal("USR1")` (dd's progress, nginx reopening its logs) or a SIGRTMIN+n reaches the
#: command and the run goes on, watched, to report the command's own status. The parent watch
#: ignores them (its `sleep` too: an ignored signal stays ignored across exec), so no signal
#: sent to the run ends the watch; the wrapper ends it by pid. The faults (SEGV, BUS, ILL…)
#: too: sent, they are no fault of the shell's (chains16: it died with its own core dump).
CAUGHT = ENDING_SIGNALS - {_signal.SIGKILL}

#: Whether program $1 can start, said as the local layer says it (127 / 126) on fd FD, then
#: MISSING or DENIED; else RUN. One check for the wrapper and `prefixed`. A name is looked for
#: on PATH as execvp does: a builtin (`eval`, `cd`) is no program (chains12), an empty element
#: is the working directory (review21), an empty name none (chains20). A stop that came
#: (the wrapper's traps set `_orch_stop`) ends the search at once: RUN ends unstarted (chains15).
_PROGRAM_CHECK = """\
if case $1 in '') true;; */*) [ ! -e "$1" ];; *) _orch_m=1; _orch_n=; _orch_p=$PATH:
  while [ -n "$_orch_p" ] && [ -z "${_orch_stop-}" ]; do
  _orch_d=${_orch_p%%:*}; _orch_p=${_orch_p#*:}; [ -e "${_orch_d:-.}/$1" ] || continue
  [ -f "${_orch_d:-.}/$1" ] && [ -x "${_orch_d:-.}/$1" ] && _orch_m= && break; _orch_n=1; done
  [ -n "$_orch_m" ] && [ -z "$_orch_n" ] && [ -z "${_orch_stop-}" ];; esac; then
  printf 'orch: %s: command not found\\n' "$1" >&FD; MISSING
elif case $1 in */*) [ -d "$1" ] || [ ! -x "$1" ];; *) [ -n "$_orch_m" ];; esac \\
    && [ -z "${_orch_stop-}" ]; then
  printf 'orch: %s: permission denied\\n' "$1" >&FD; DENIED
else
  RUN
fi"""


def _program_check(fd: int, missing: str, denied: str, run: str) -> str:
    return (_PROGRAM_CHECK.replace("FD", str(fd)).replace("MISSING", missing)
            .replace("DENIED", denied).replace("RUN", run))


_WRAPPER = """_orch_n=$1; _orch_r=$2; shift 2; _orch_path=${PATH-/usr/bin:/bin}
unset _orch_stop _orch_w _orch_ifs _orch_whole _orch_tty _orch_vars
if [ "$_orch_n" -gt 0 ] && [ -t 0 ]; then _orch_tty=$(stty -g); stty raw -echo; fi
printf '\\036orch-pid %s\\n' "$$" >&2
# The parent watch starts before the variables are set: its `sleep`s hold none of them.
if read -r _orch_l 2>/dev/null </proc/$$/stat; then
  _orch_l=${_orch_l##*) }; _orch_l=${_orch_l#* }; _orch_pp=${_orch_l%% *}
  read -r _orch_l 2>/dev/null </proc/"$_orch_pp"/comm || _orch_l=
  case $_orch_l in sshd*|dropbear*|sudo) if command -v sleep >/dev/null 2>&1; then
    (trap '' CAUGHT; trap 'trap "" 23; [ -z "$_orch_z" ] || kill -9 $_orch_z; wait; exit 0' 23
     _orch_nap() { sleep 1 & _orch_z=$!; wait $_orch_z; _orch_x=$?; _orch_z=; return $_orch_x; }
     while :; do _orch_nap || _orch_nap || exit 0; read -r _orch_l </proc/$$/stat || break
       _orch_l=${_orch_l##*) }; case $_orch_l in Z*) break;; esac; _orch_l=${_orch_l#* }
       [ "${_orch_l%% *}" = "$_orch_pp" ] || break
     done; trap '' 23 TERM; kill -TERM -$$; SESSION_TERM; sleep 2; SESSION_KILL; kill -KILL -$$
    ) </dev/null >/dev/null 2>&1 & _orch_w=$!
  fi;; esac
  unset _orch_l _orch_pp
fi
if [ "$_orch_n" -gt 0 ]; then
  _orch_p=$(dd bs=1 count="$_orch_n" 2>/dev/null) || exit 125
  if [ -n "${_orch_tty-}" ]; then stty "$_orch_tty"; fi
  eval "$_orch_p"
  [ "${_orch_whole-}" = 1 ] || exit 125  # cut short: whoever started it is gone, so it never runs
  if [ -n "${_orch_tty-}" ]; then printf '\036orch-ready\n'; fi
fi
unset _orch_n _orch_p _orch_tty _orch_whole
trap : CAUGHT 2>/dev/null  # a bad number stops the first; which stop came first is kept:
trap ': ${_orch_stop:=1}' HUP; trap ': ${_orch_stop:=2}' INT; trap ': ${_orch_stop:=3}' QUIT
trap ': ${_orch_stop:=15}' TERM
exec 3>&2 2>/dev/null
PROGRAM_CHECK
unset $_orch_vars _orch_vars  # ended: what the wrapper starts now gets none (safety19),
PATH=$_orch_path  # and its own `sleep`s are found where the place finds them (review37)
trap '' TERM
if [ -n "${_orch_w-}" ]; then  # see 3: URG until the watch has ended (a zombie), then reaped
  _orch_c=0; kill -23 "$_orch_w" 2>/dev/null
  while read -r _orch_l 2>/dev/null </proc/"$_orch_w"/stat; do
    case ${_orch_l##*) } in Z*) break;; esac; _orch_c=$((_orch_c + 1))
    [ $((_orch_c % 64)) = 0 ] && { sleep 0.01; kill -23 "$_orch_w" 2>/dev/null; }
  done
  _orch_c=0; while wait "$_orch_w"; [ $? -gt 128 ] && [ -e "/proc/$_orch_w" ] \\
    && [ $((_orch_c = _orch_c + 1)) -lt 100 ]; do :; done  # a signal's: bash's repeats
fi
ENDED_TERM
case $_orch_s in NOT_ENDING) ;; 129|1[3-8][0-9]|19[0-2])  # a stop's: not an `exit 130`
  [ -z "${_orch_stop-}" ] || { LEFT_KILL; };; esac  # (chains13, chains14)
if [ "$_orch_r" != 0 ]; then printf '\\036orch-exit %s %s\\n' "$_orch_r" "$_orch_s" >&3; fi
case $_orch_s in NAMED_STATUSES)  # no core of its own over the command's (chains15)
  _orch_g=$((_orch_s - 128)); ulimit -c 0 2>/dev/null; trap - "$_orch_g"; kill -"$_orch_g" $$;;
esac
exit "$_orch_s"
"""


def preamble(command: Command, *, argv: bool = False, always: bool = False) -> bytes:
    """Shell text that sets the command's variables and directory (sent on stdin, never argv),
    and with `argv` its arguments too (`set --`: for a channel that carries them as text only);
    empty when there is none of these, unless `always`. It ends with a line the wrapper checks
    for: a preamble cut short (the controller died before it was all sent) runs nothing.

    Values may hold bytes that are not UTF-8 (Python keeps them as surrogates): they are sent
    as those bytes. A directory the command cannot enter ends the run with status 126 and a
    line saying why: missing, not a directory, or not open to the user it runs as (the usual
    case behind ssh or sudo: the directory exists, for another user)."""
    lines = []
    for key, value in command.env.items():
        if (why := unpassable(key, value)) is not None:
            raise LayerError(why)
        if key == "IFS":  # the wrapper's own words must not split by it (chains14: `kill
            lines.append(f"_orch_ifs={shlex.quote(value)}\n")  # -TERM -$$` became `-1`):
            continue  # the command gets it as it starts
        lines.append(f"export {key}={shlex.quote(value)}\n")
    # unset once it has ended (PATH put back as the place had it: the wrapper's own `sleep`)
    if exported := [key for key in command.env if key not in ("IFS", "PATH")]:
        lines.append(f"_orch_vars={shlex.quote(' '.join(exported))}\n")
    if command.cwd:
        # `~`: the home of the user it runs as, there; a relative one from where the command
        # starts, never through CDPATH, `-` a name, not $OLDPWD: either made `cd` print a path
        # into stdout (chains12). A folder above it the user may not search hides it from
        # `[ -d ]` too (dash's `cd` says no reason): that is "permission denied".
        home, cwd = at_home(command.cwd), command.cwd
        q = f'"$HOME"{shlex.quote(cwd[1:]) if cwd[1:] else ""}' if home else shlex.quote(cwd)
        there = q if home or cwd.startswith("/") else shlex.quote("./" + cwd)
        shown = shlex.quote(printable(command.cwd))  # one line (chains13), as the local layer
        if home:  # unset, "$HOME/bin" was /bin (review29)
            lines.append(f"[ -n \"${{HOME-}}\" ] || {{ printf 'orch: cannot enter working "
                         f"directory %s: HOME is empty or not set\\n' {shown} >&2; exit 126; }}\n")
            # chains23: whose home was looked in, said; escaped as `shown` (review35), and a
            # home with a control character as $HOME (chains24: it split the line)
            lines.append("_orch_h=$HOME; case $_orch_h in *[![:print:]]*) _orch_h='$HOME';; "
                         "esac\n")
            rest = shlex.quote(printable(cwd[1:])) if cwd[1:] else ""
            shown = f"{shown}' ('\"$_orch_h\"{rest}')'"
        lines.append(
            f"cd -- {there} >/dev/null 2>&1 || {{ _orch_d={q}; while case $_orch_d in */*) ;; "
            f"*) false;; esac; do "
            f"_orch_d=${{_orch_d%/*}}; if [ -d \"$_orch_d/\" ] && [ ! -x \"$_orch_d/\" ]; then "
            f"_orch_c=1; break; fi; done; if [ -d {q} ] || [ -n \"${{_orch_c-}}\" ]; then printf"
            f" 'orch: cannot enter working"
            f" directory %s as %s: permission denied\\n' {shown} \"$(id -un 2>/dev/null || id -u)\";"
            f" elif [ -e {q} ]; then printf 'orch: not a directory: %s\\n' {shown}; else printf"
            f" 'orch: working directory not found: %s\\n' {shown}; fi >&2; exit 126; }}\n")
    if argv:
        lines.append(f"set -- {shlex.join(command.argv)}\n")
    if lines or always:
        lines.append("_orch_whole=1\n")
    return "".join(lines).encode("utf-8", "surrogateescape")


def new_nonce() -> str:
    """A new run's nonce for its status line (hex digits: printed and matched as they are)."""
    return os.urandom(8).hex()  # not stdlib `secrets`: layers import no module of that name


def wrapped_argv(argv: tuple[str, ...] | list[str], preamble_len: int = 0,
                 shell: str = "sh", nonce: str = "") -> list[str]:
    """The argv that runs `argv` through the wrapper, reading `preamble_len` bytes first
    (and, given a `nonce` of `new_nonce`, printing the status last for `StatusTail(nonce)`)."""
    return [shell, "-c", WRAPPER, "sh", str(preamble_len), nonce or "0", *argv]


def prefixed(command: Command, *prefix: str) -> Command:
    """`command` run after `prefix` (`nice -n 5`, `ionice -c 3`, `chrt -b 0`): what a wrapping
    kind (one that only rewrites the command) hands `inner.launch`. A program that is missing
    or cannot be executed ends as in every layer, 127 or 126 with orch's words, not the
    prefix program's; anything else is the command's own, unchanged. Its `sh` resets an IFS
    of the command's variables (chains17), so that one is handed over as a word, and sets its
    own `_orch_` names: the command's may not hold one, as behind any remote kind."""
    for key, value in command.env.items():
        if (why := unpassable(key, value)) is not None:
            raise LayerError(why)
    script, ifs = (_PREFIXED_IFS, [command.env["IFS"]]) if "IFS" in command.env else (_PREFIXED, [])
    return dataclasses.replace(command, argv=("sh", "-c", script, "sh", *ifs, command.argv[0],
                                              *prefix, *command.argv))


def shell_line(argv: tuple[str, ...] | list[str], preamble_len: int = 0) -> str:
    """The same as one line for a remote login shell: argv is quoted exactly once, here."""
    return "exec " + shlex.join(wrapped_argv(argv, preamble_len))


def kill_group_line(pgid: int, sig: int) -> str:
    """A shell line that sends `sig` to process group `pgid` (or the pid alone, failing that),
    then to the rest of its session (the wrapper leads both: see `session_line`)."""
    return (f"kill -{int(sig)} -{int(pgid)} 2>/dev/null || kill -{int(sig)} {int(pgid)} "
            f"2>/dev/null; {session_line(str(int(pgid)), int(sig))}")


def _statuses(signals: Iterable[int]) -> str:
    """A shell `case` pattern matching the statuses 128+N of `signals`."""
    return "|".join(str(128 + n) for n in sorted(signals))


#: The wrapper, with its session sent TERM when its command ended (and what is left KILL a
#: second later after a stop), and the statuses (128+N) of `NAMED_SIGNALS` re-raised.
WRAPPER = _WRAPPER.replace("ENDED_TERM", ended_line("$$")).replace(
    "SESSION_TERM", session_line("$$", _signal.SIGTERM)).replace(
    "SESSION_KILL", session_line("$$", _signal.SIGKILL)).replace(
    "LEFT_KILL", left_line("$$")).replace(
    "NOT_ENDING", _statuses(set(range(1, 65)) - ENDING_SIGNALS)).replace(
    "NAMED_STATUSES", _statuses(NAMED_SIGNALS.values())).replace(
    "CAUGHT", " ".join(map(str, sorted(CAUGHT)))).replace(
    "PROGRAM_CHECK", _program_check(3, "_orch_s=127", "_orch_s=126",
                                    '(if [ -n "${_orch_stop-}" ]; then exit $((128 + _orch_stop)); fi; '
                                    'if [ -n "${_orch_ifs+x}" ]; then IFS=$_orch_ifs; export IFS; '
                                    'fi; exec "$@" 2>&3 3>&-); _orch_s=$?'))
#: Runs program $1 after a prefix, as `prefixed` gives it: checked first, so a missing one is
#: said in orch's words, not the prefix's (`nice: 'x': No such file or directory`).
_PREFIXED = "unset _orch_stop\n" + _program_check(2, "exit 127", "exit 126", 'shift; exec "$@"')
_PREFIXED_IFS = "_orch_i=$1; shift\n" + _PREFIXED.replace('exec "$@"', 'IFS=$_orch_i; export IFS; exec "$@"')


def decode_status(code: int) -> Exit:
    """A remote exit status as an Exit: 128+N is a death by signal N (one of
    `ENDING_SIGNALS`), as a shell encodes it (a real `exit 152` cannot be told from it)."""
    if code - 128 in ENDING_SIGNALS:
        return Exit(signal=code - 128)
    return Exit(code=code)


def signal_named(name: str) -> int | None:
    """`KILL` → 9; None for a name this system does not know."""
    try:
        return int(_signal.Signals["SIG" + name])
    except KeyError:
        return None


def pid_said(text: bytes) -> int | None:
    """The pid the wrapper wrote after PID_MARK (None for anything else: garbled, 0)."""
    try:
        return int(text.rstrip(b"\r")) or None
    except ValueError:
        return None


class PidMarker:
    """Streaming parser of the wrapper's pid line: feed chunks, get the output without it.

    The marker may be cut across chunks: at most len(PID_MARK)-1 bytes are held back while it
    has not been seen. Once found (`pid` set, `done` true) callers pass chunks straight on.
    """

    def __init__(self) -> None:
        self.pid: int | None = None
        self.done = False
        self._held = b""

    def feed(self, data: bytes) -> bytes:
        """The part of `data` (with anything held before) that is output, not the marker."""
        buf = self._held + data
        i = buf.find(PID_MARK)
        if i < 0:
            keep = len(PID_MARK) - 1
            self._held = buf[-keep:] if len(buf) > keep else buf
            return buf[:-keep] if len(buf) > keep else b""
        j = buf.find(b"\n", i)
        if j < 0:
            self._held = buf[i:]
            return buf[:i]
        self.pid = pid_said(buf[i + len(PID_MARK):j])
        self.done = True
        self._held = b""
        return buf[:i] + buf[j + 1:]

    def flush(self) -> bytes:
        """Whatever is still held (the stream ended without a complete marker)."""
        held, self._held = self._held, b""
        self.done = True
        return held


class StatusTail:
    """Streaming parser of the wrapper's status line (with this run's `nonce`) at the very end
    of a stream.

    Only a tail that is (or may grow into) the status line is held back, so output is never
    delayed otherwise; a status line followed by more output was output, and is passed on, as
    is one with another nonce (the command printed it).
    """

    def __init__(self, nonce: str) -> None:
        self._mark = EXIT_MARK + nonce.encode("ascii") + b" "
        self._line = re.compile(re.escape(self._mark) + rb"(\d{1,3})\r{0,4}\n\Z")
        self._start = re.compile(re.escape(self._mark) + rb"\d{0,3}\r{0,4}\Z")
        self._held = b""

    def feed(self, data: bytes) -> bytes:
        """The part of `data` (with anything held before) that is surely output."""
        buf = self._held + data
        i = buf.rfind(b"\x1e")
        tail = buf[i:] if i >= 0 else b""
        if tail and (self._mark.startswith(tail) or self._start.match(tail)
                     or self._line.match(tail)):
            self._held = tail
            return buf[:i]
        self._held = b""
        return buf

    def flush(self) -> tuple[int | None, bytes]:
        """At the end of the stream: the reported status (None if none) and held output."""
        held, self._held = self._held, b""
        found = self._line.match(held)
        return (int(found.group(1)), b"") if found else (None, held)


def split_ready(out: bytes) -> tuple[bytes, bool]:
    """(`out` without the wrapper's ready line, whether it was there)."""
    i = out.find(READY_MARK)
    j = out.find(b"\n", i)
    if i < 0 or j < 0:
        return out, False
    return out[:i] + out[j + 1:], True
