"""Shell loops that sweep a session: what a remote command left in its process group and
session when it ended (the remote wrapper's point 4), and what a lifeline stops. Plain POSIX
sh over /proc/PID/stat, whose fields after `(comm) ` read `state ppid pgrp session …`.
"""

from __future__ import annotations


def session_line(sid: str, sig: int) -> str:
    """A shell loop that sends `sig` to every process of session `sid` outside group `sid`.

    A stop signals the wrapper's process group; a command may have made groups of its own in
    the same session (GNU `timeout`, a shell with job control), which would outlive the run.
    /proc/PID/stat after its `(comm) ` reads `state ppid pgrp session …`; plain POSIX sh."""
    return (f'for _orch_q in /proc/[0-9]*; do read -r _orch_l 2>/dev/null <"$_orch_q/stat" || '
            f'continue; set -- ${{_orch_l##*) }}; [ "$4" = "{sid}" ] && [ "$3" != "{sid}" ] && '
            f'kill -{int(sig)} "${{_orch_q#/proc/}}" 2>/dev/null; done')


def left_line(sid: str, tries: int = 10) -> str:
    """A shell loop that waits up to `tries` × 0.1 s for every other process of group or
    session `sid` to end, then sends the ones left SIGKILL (browser13: a child that ignores
    TERM outlived a stopped run, where the local layer's ladder ends with KILL). The wrapper
    cannot `kill -KILL -$$`, being in that group itself; zombies are not waited for."""
    return (f'_orch_k=0; while :; do _orch_a=; for _orch_q in /proc/[0-9]*; do read -r _orch_l '
            f'2>/dev/null <"$_orch_q/stat" || continue; set -- ${{_orch_l##*) }}; '
            f'[ "$1" != Z ] && [ "${{_orch_q#/proc/}}" != "{sid}" ] && {{ [ "$3" = "{sid}" ] || '
            f'[ "$4" = "{sid}" ]; }} || continue; _orch_a=1; [ $_orch_k -lt {tries} ] || '
            f'kill -9 "${{_orch_q#/proc/}}" 2>/dev/null; done; [ -n "$_orch_a" ] && '
            f'[ $_orch_k -lt {tries} ] || break; _orch_k=$((_orch_k + 1)); sleep 0.1 2>/dev/null; '
            f'done')
