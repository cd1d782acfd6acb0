"""Shell lines that sweep a session: what a remote command left in its process group and
session when it ended (the remote wrapper's point 4), and what a lifeline stops. Plain POSIX
sh over /proc/PID/stat, whose fields after `(comm) ` read `state ppid pgrp session …`.
"""

from __future__ import annotations


def session_line(sid: str, sig: int) -> str:
    """A shell loop that sends `sig` to every process of session `sid` outside group `sid`.

    A stop signals the wrapper's process group; a command may have made groups of its own in
    the same session (GNU `timeout`, a shell with job control), which would outlive the run.
    /proc/PID/stat after its `(comm) ` reads `state ppid pgrp session …`; plain POSIX sh."""
    return (f'IFS=" "; for _orch_q in /proc/[0-9]*; do read -r _orch_l 2>/dev/null '
            f'<"$_orch_q/stat" || continue; set -- ${{_orch_l##*) }}; [ "$4" = "{sid}" ] && '
            f'[ "$3" != "{sid}" ] && kill -{int(sig)} "${{_orch_q#/proc/}}" 2>/dev/null; done')


def ended_line(sid: str) -> str:
    """A shell line that sends SIGTERM to all of session `sid` (its process group and the
    groups made in it: GNU `timeout`, a shell with job control) once its command has ended on
    its own (chains26: a `timeout 300 CMD &` outlived the run). `pkill -s` scans /proc in C
    where the host has it (procps, busybox): the shell loop reads each stat a byte at a time,
    ~0.1 ms a process, paid at every run's end. The caller ignores TERM itself."""
    return (f"if command -v pkill >/dev/null 2>&1; then pkill -TERM -s {sid} 2>/dev/null; "
            f"else kill -TERM -{sid} 2>/dev/null; {session_line(sid, 15)}; fi")


def left_line(sid: str) -> str:
    """A shell loop that waits about a second for every other process of group or session
    `sid` to end (a look, 0.1 s, a look, 0.9 s), then sends the ones left SIGKILL (browser13:
    a child that ignores TERM outlived a stopped run, where the local layer's ladder ends
    with KILL). Three looks at most, well within the controller's ladder (review21: ten
    looks, each a scan of /proc, took 2 s on a busy host). The wrapper cannot
    `kill -KILL -$$`, being in that group itself; zombies are not waited for."""
    return (f'IFS=" "; for _orch_v in 0.1 0.9 -; do _orch_a=; for _orch_q in /proc/[0-9]*; '
            f'do read -r _orch_l 2>/dev/null <"$_orch_q/stat" || continue; '
            f'set -- ${{_orch_l##*) }}; [ "$1" != Z ] && [ "${{_orch_q#/proc/}}" != "{sid}" ] && '
            f'{{ [ "$3" = "{sid}" ] || [ "$4" = "{sid}" ]; }} || continue; _orch_a=1; '
            f'[ "$_orch_v" != - ] || kill -9 "${{_orch_q#/proc/}}" 2>/dev/null; done; '
            f'[ -n "$_orch_a" ] && [ "$_orch_v" != - ] || break; sleep "$_orch_v" 2>/dev/null; '
            f'done')


def groups_line(groups: list[tuple[int, int]]) -> str:
    """`remote.kill_group_line` for several (group, signal) pairs at once, the rest of their
    sessions found in one scan of /proc (chains31: a scan per group, 60 in one exec, took
    over 10 s in a container running 600 processes)."""
    kills = "; ".join(f"kill -{int(sig)} -{int(pgid)} 2>/dev/null || kill -{int(sig)} "
                      f"{int(pgid)} 2>/dev/null" for pgid, sig in groups)
    cases = " ".join(f'{int(pgid)}) [ "$3" != "$4" ] && kill -{int(sig)} "${{_orch_q#/proc/}}" '
                     f'2>/dev/null;;' for pgid, sig in dict(groups).items())
    return (f'{kills}; IFS=" "; for _orch_q in /proc/[0-9]*; do read -r _orch_l 2>/dev/null '
            f'<"$_orch_q/stat" || continue; set -- ${{_orch_l##*) }}; case $4 in {cases} esac; '
            f'done')
