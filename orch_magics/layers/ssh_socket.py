"""Why a unix socket on an SSH host cannot be opened, asked of the host itself.

OpenSSH refuses a forwarded unix socket with one code for every reason; a short script run on
the host tells a missing socket from one the login user may not open, or may not even reach.
"""

from __future__ import annotations

import asyncio
import shlex

import asyncssh

#: Asks the host what keeps the login user from a unix socket ($1): write permission, a folder
#: on the way it may not look into (`[ -S ]` alone says "missing" for that too), another kind
#: of file, nothing there, or no one listening on it (a socket left by an engine that was
#: killed or crashed is not in the kernel's list of bound sockets, /proc/net/unix).
SOCKET_CHECK = """p=$1
if [ -S "$p" ]; then
  if [ ! -w "$p" ]; then echo orch-socket-denied
  elif [ -r /proc/net/unix ] && ! awk -v p="$p" -v r="$(readlink -f "$p" 2>/dev/null)" \\
      '$NF == p || $NF == r {f=1} END {exit !f}' /proc/net/unix
  then echo orch-socket-unheard
  fi
elif [ -e "$p" ]; then echo orch-socket-other
else
  case $p in /*) d=;; *) d=.;; esac; rest=${p#/}
  while case $rest in */*) true;; *) false;; esac; do
    d=$d/${rest%%/*}; rest=${rest#*/}
    [ -d "$d" ] || break
    if [ ! -x "$d" ]; then
      printf 'orch-socket-closed %s %s\\n' "$(id -un 2>/dev/null || id -u)" "$d"; exit 0
    fi
  done
  echo orch-socket-missing
fi
"""


async def socket_problem(conn: asyncssh.SSHClientConnection, path: str,
                         timeout: float) -> tuple[str, type[OSError]] | None:
    """What keeps the login user from opening the unix socket `path` on the host, and the
    error class that says it (`PermissionError`: it is there, not for that user), or None
    when nothing does."""
    line = f"sh -c {shlex.quote(SOCKET_CHECK)} sh {shlex.quote(path)}"
    try:
        done = await asyncio.wait_for(conn.run(line, check=False), timeout)
    except (asyncssh.Error, OSError, asyncio.TimeoutError) as exc:
        return f"could not check the socket there: {exc}", ConnectionError
    word, _, rest = answer_of(str(done.stdout or "")).partition(" ")
    if word == "orch-socket-closed":
        user, _, folder = rest.partition(" ")
        return (f"the remote user may not reach that socket (cannot look into {folder} as "
                f"{user}: permission denied)", PermissionError)
    if word == "orch-socket-denied":
        return "the remote user may not open that socket (no write permission)", PermissionError
    if word == "orch-socket-unheard":  # or one in another network namespace: both said
        return ("nothing listens on that socket there (is the engine running? one that was "
                "stopped or crashed leaves its socket behind), or its sshd refuses forwarding "
                "(it needs `AllowStreamLocalForwarding yes`)", ConnectionError)
    if word == "orch-socket-other":
        return "it is not a socket", ConnectionError
    if word == "orch-socket-missing":
        return "there is no such socket there", ConnectionError
    return None if done.exit_status == 0 else ("could not check the socket there",
                                               ConnectionError)


def answer_of(said: str) -> str:
    """SOCKET_CHECK's answer in what the host printed: a login shell may print more, even with
    no newline before it (a `printf` banner, a title escape: chains31 was told "its sshd
    refuses forwarding"), so it runs from our word's last use to the end of its line."""
    at = said.rfind("orch-socket-")
    return said[at:].partition("\n")[0] if at >= 0 else ""
