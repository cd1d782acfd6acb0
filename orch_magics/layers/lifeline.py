"""What stops this machine's runs when the process that started them dies without stopping them.

A run that is stopped, times out or ends is cleaned up by its own handle. A controller killed
outright (SIGKILL, the OOM killer, a kernel that died) cannot do that, so one `sh` watchdog per
controller process, started with its first local child, holds the read end of a pipe whose
write end only the controller has. The controller writes ``+PGID`` when a child starts and
``-PGID`` once it is cleaned up; when the pipe ends (every writer gone: the controller died),
the watchdog sends SIGTERM to every group still listed and to the rest of their sessions,
then SIGKILL two seconds later.

The watchdog is a session of its own (a kernel's group SIGKILL does not reach it), holds no
terminal or output pipe (`orch run … | cat` still ends), and lists nothing on a clean exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading

from ..process.environ import inherited_environ
from .session_sweep import session_line

#: The watchdog: keeps the listed groups, and signals what is left of them and of their
#: sessions (GNU `timeout` makes a group of its own) when its stdin ends.
SCRIPT = r"""trap '' INT QUIT HUP TERM
g=' '
while read -r p; do
  case $p in
    +*) g="$g${p#+} ";;
    -*) case $g in *" ${p#-} "*) g="${g%% ${p#-} *} ${g#* ${p#-} }";; esac;;
  esac
done
case $g in *[0-9]*) ;; *) exit 0;; esac
for p in $g; do kill -TERM -"$p" 2>/dev/null; SESSION_TERM; done
sleep 2
for p in $g; do kill -KILL -"$p" 2>/dev/null; SESSION_KILL; done
""".replace("SESSION_TERM", session_line("$p", signal.SIGTERM)).replace(
    "SESSION_KILL", session_line("$p", signal.SIGKILL))


class Lifeline:
    """The pipe to this process's watchdog, and the groups it has been told about."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._spare: int | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._groups: set[int] = set()

    def watch(self, pgid: int) -> None:
        """List process group `pgid` (a new local child's) with the watchdog."""
        with self._lock:
            self._groups.add(pgid)
            if self._fd is not None:
                self._say(b"+%d\n" % pgid)
            if self._fd is None:  # none yet, or it died: a new one is told the whole list
                self._start()

    def forget(self, pgid: int) -> None:
        """Take `pgid` off the list: its run has been cleaned up (its number may be reused)."""
        with self._lock:
            if pgid in self._groups:
                self._groups.discard(pgid)
                self._say(b"-%d\n" % pgid)

    def _start(self) -> None:
        """Start a watchdog and tell it every group listed so far."""
        # Both ends close-on-exec, and kept where `after_fork` closes them: a process forked
        # meanwhile (not exec'd) would otherwise hold the pipe open past our death.
        self._spare, self._fd = os.pipe()
        try:
            self._watchdog = subprocess.Popen(
                ["/bin/sh", "-c", SCRIPT], stdin=self._spare, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True, env=inherited_environ())
        except OSError:
            self._drop()  # no watchdog (no /bin/sh): runs are still stopped the usual way
            return
        finally:
            self._close_spare()
        os.set_blocking(self._fd, False)  # a stuck watchdog must never block the event loop
        self._say(b"".join(b"+%d\n" % g for g in sorted(self._groups)))

    def _close_spare(self) -> None:
        """Close the watchdog's end of the pipe, held here only while it starts."""
        if self._spare is not None:
            with contextlib.suppress(OSError):
                os.close(self._spare)
            self._spare = None

    def _say(self, line: bytes) -> None:
        """Write to the watchdog; if it is gone, start another at the next `watch`."""
        if self._fd is None:
            return
        try:
            os.write(self._fd, line)
        except BlockingIOError:
            pass  # 64 KiB of lines unread: the watchdog is stuck, not gone
        except OSError:
            self._drop()

    def _drop(self) -> None:
        """Forget the pipe and reap the watchdog (if it ended): the next run starts a new one."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd = None
        if self._watchdog is not None:
            self._watchdog.poll()
        self._watchdog = None

    def after_fork(self) -> None:
        """In a forked child: the parent's pipe and groups are not this process's to keep."""
        self._lock = threading.Lock()
        self._groups = set()
        self._close_spare()
        self._drop()


LIFELINE = Lifeline()
os.register_at_fork(after_in_child=LIFELINE.after_fork)
