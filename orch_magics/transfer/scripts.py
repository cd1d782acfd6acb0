"""The remote half of a copy: POSIX sh scripts run through the chain like any command.

They need only `sh` and common tools (coreutils or busybox): a get `stat`, `dd` or `head`, and
for a folder `tar`, `tee`, `cat`, `find` and `head`; a put `dd`, `stat`, `mktemp`, `mv`,
`chmod`, `rm`, `wc`, `id`, `readlink`, and for a folder `tar`, `tee`, `mkdir` and `cat`; both `sha256sum` (`openssl dgst`, several times faster,
instead where it runs). Each script checks for its tools first and names one missing. So the
same stream works through ssh, docker and any layer that carries a process.
A get prints one header line (`ORCH-TRANSFER 1 KIND MODE SIZE`), then the bytes (a file's, or a
tar stream of a directory) and at the end `ORCH-SHA256 HEX` on stderr. A get of a file hashes it
in a second read beside the `cat` that sends it (busybox `tee` copies 1 KiB per call; a
concurrent change shows as a mismatch, never as a wrong copy kept). A put reads frames (`LEN`
line, then LEN bytes, each copied by one `dd`) and a last line `0 SIZE SHA256` that the sender
computed while reading: it writes to a temporary name beside the target (a file's frames are
read back from it for the hash, in the background while the next frame arrives), checks size
and sha256 against that line, and renames; an interrupt or any failure removes the temporary
name. A directory's tar stream unpacks beside the list of folder modes tar is not trusted to
set (`send.TarStream`): busybox tar makes a read-only folder read-only before its files.
Problems are `orch-transfer: …` lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ..process.command import Command
from ..text import printable

_PRELUDE = r"""
say() {  # a problem, on one line: a newline in a name is sent as \001 (see `problems`);
  # by the shell alone, so a far end that lacks a tool still says so (files13)
  r=$* o= nl='
'
  while :; do case $r in *"$nl"*) o=$o${r%%"$nl"*}$(printf '\001') r=${r#*"$nl"};;
    *) break;; esac; done
  printf 'orch-transfer: %s\n' "$o$r" >&2; }
fail() { say "$*"; exit 1; }
need() {  # every tool the copy runs there, said by name when one is missing (files13: no tar
  # or stat was said as an empty reason, or as bytes lost)
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 ||
    fail "$t is not installed at the far end (or not on its PATH, $PATH): a copy runs it there"
  done; }
if command -v openssl >/dev/null 2>&1 && openssl dgst -sha256 -r </dev/null >/dev/null 2>&1
then hash="openssl dgst -sha256 -r"  # one that cannot start (a library gone) is passed over
elif command -v sha256sum >/dev/null 2>&1; then hash=sha256sum
else fail "sha256sum is not installed at the far end (coreutils or busybox)"; fi
absent() {  # $1 is not there as wanted: say why, "$2: $1" unless a folder on its way is
  # one this user may not search (which hides everything below it, not only its children)
  a=/ r=${1#/}; case $1 in /*) ;; *) a=.; r=$1;; esac
  # a relative name: `[ -d . ]` itself fails in a working folder this user may not search
  [ "$a" = . ] && [ ! -x . ] && fail "permission denied: cannot look inside the working \
directory $(pwd)"
  while :; do
    [ -d "$a" ] && [ ! -x "$a" ] && fail "permission denied: cannot look inside $a"
    case $r in */*) c=${r%%/*} r=${r#*/};; '') break;; *) c=$r r=;; esac
    [ -n "$c" ] || continue
    case $a in /) a=/$c;; *) a=$a/$c;; esac
    [ -e "$a" ] || [ -L "$a" ] || break
    if [ -e "$a" ] && [ ! -d "$a" ]; then  # a file where a folder is needed: said as cp does
      case $r in ?*) fail "not a directory: $a";; esac
      case $1 in */) fail "not a directory: $a";; esac
    fi
  done
  case $1 in /*) fail "$2: $1";; esac  # a relative one: where it was looked for (kinds18:
  fail "$2: $1 (in $(pwd), the working directory)"  # through sudo, orch's own folder)
}
arg() { printf '%b.' "$1"; }  # a name sent as printf %b text (see `sent_name`), plus `.`
home() {  # `~` and `~/…` as a shell would expand them; a trailing `.` keeps final newlines;
  # `./` before a leading `-`, so no tool below (mktemp, chmod, tar) takes the name for options
  case $1 in "~"|"~/"*) [ -n "$HOME" ] || fail "HOME is not set: cannot expand $1";; esac
  case $1 in "~") printf '%s.' "$HOME";; "~/"*) printf '%s.' "${HOME%/}/${1#"~/"}";;
  -*) printf './%s.' "$1";; *) printf '%s.' "$1";; esac
}
"""

GET_SCRIPT = _PRELUDE + r"""
p=$(arg "$1"); p=$(home "${p%.}") || exit 1; p=${p%.}
if [ -d "$p" ]; then k=d; elif [ -f "$p" ]; then k=f
elif [ -e "$p" ]; then fail "not a regular file or directory: $p"
else absent "$p" "no such file or directory"; fi
need stat; [ $k = f ] || need tar tee cat find head  # a file: dd (or head) below
[ -r "$p" ] || fail "permission denied: $p"
if [ $k = d ]; then  # tar skips a socket with a warning alone (exit 0): refused, as a put does
  o=$(find "$p" -type s 2>/dev/null | head -n 1)
  [ -z "$o" ] || fail "$o is a socket: a get copies files, folders and links"
fi
m=$(stat -L -c %a -- "$p") || fail "cannot read the mode of $p"
f=$p  # a file is read through one descriptor, opened now, even once a rotation gives its
# name to a new one (files17: the new one's hash was sent for the old; review34: opened after
# its size was read); `command` keeps a failed open from ending the shell unsaid
if [ $k = f ]; then
  { command exec 6<"$p"; } 2>/dev/null || fail "cannot open $p"  # (the group: not fd 2 for good)
  [ -r /dev/fd/6 ] && f=/dev/fd/6
fi
s=0 i=; [ $k = f ] && { s=$(stat -L -c '%i %s' -- "$f"); i=${s% *} s=${s#* }; }  # i: the
# file being read (a rotation replaces it: smaller at that name, but not shrunk)
[ $k = f ] && [ "$s" = 0 ] && s=-  # /proc and /sys files say 0 and hold more: read to the end
case $k$(stat -f -L -c %t -- "$p" 2>/dev/null) in  # or say 4096 and hold less (sysfs): by
  # magic, which GNU and busybox print alike: proc sysfs debugfs tracefs securityfs configfs
  # cgroup cgroup2 pstore efivarfs
  f9fa0|f62656572|f64626720|f74726163|f73636673|f62656570|f27e0eb|f63677270|f6165676c|\
fde5e81e4) s=-;; esac
[ "$s" = - ] && need cat tee  # /proc and /sys files are read to their end through tee
[ $k = f ] && ! command -v dd >/dev/null 2>&1 && need head
printf 'ORCH-TRANSFER 1 %s %s %s\n' $k "$m" "$s"
exec 3>&1
sent() {  # stdin to fd 3 (our stdout) and into the hasher; under sudo fd 3 may be another
  # user's pipe, which /dev/fd/3 cannot open again: then through a pipe of our own
  if ( : >/dev/fd/3 ) 2>/dev/null; then tee /dev/fd/3 | $hash
  else { { tee /dev/fd/4 | $hash >&5; } 4>&1 | cat >&3; } 5>&1; fi
}
if [ "$s" = - ]; then
  sum=$( { cat -- "$p" || say "reading $p failed"; } | sent )
  echo "ORCH-SHA256 ${sum%% *}" >&2
elif [ $k = f ]; then  # the first $s bytes: a log written to meanwhile is copied as it was
  if dd if=/dev/null bs=1M count=0 iflag=count_bytes 2>/dev/null; then  # 1 MiB writes
    first() { dd if="$f" bs=1M count="$s" iflag=count_bytes 2>/dev/null; }
  else
    first() { head -c "$s" < "$f"; }
  fi
  ( sum=$($hash < "$f") || exit
    [ "$(stat -L -c %s -- "$f")" = "$s" ] || sum=$(first | $hash)  # it grew meanwhile
    echo "ORCH-SHA256 ${sum%% *}" >&2 ) & h=$!
  first || say "reading $p failed"
  wait $h
  if n=$(stat -L -c '%i %s' -- "$p" 2>/dev/null) && [ "${n% *}" = "$i" ] &&
    [ "${n#* }" -lt "$s" ]; then say "$p shrank while it was read (from $s to ${n#* } bytes)"; fi
else
  sum=$( { tar -C "$p" -cf - . || say "reading $p failed"; } | sent )
  echo "ORCH-SHA256 ${sum%% *}" >&2
fi
"""

PUT_SCRIPT = _PRELUDE + r"""
d=$(arg "$1"); d=$(home "${d%.}") || exit 1; d=${d%.}; n=$(arg "$2"); n=${n%.}; k=$3 m=$4
need dd stat mktemp mv chmod rm wc id readlink; [ $k = f ] || need tar tee mkdir cat
dd if=/dev/null bs=1M count=0 iflag=fullblock,count_bytes 2>/dev/null ||
  fail "dd lacks iflag=fullblock,count_bytes (GNU coreutils or busybox with them is needed)"
left() {  # $1 is a link another user left in a sticky world-writable folder such as /tmp
  # (the folder's owner too, unlike protected_symlinks): it could aim the copy anywhere
  [ -L "$1" ] || return 1
  case $1 in */*) up=${1%/*}; [ -n "$up" ] || up=/;; *) up=.;; esac
  lu=$(stat -c %u -- "$1") fm=$(stat -c %a -- "$up")
  case $fm in [1357]??[2367]) ;; *) return 1;; esac
  [ "$lu" != "$(id -u)" ]
}
on_the_way() {  # no folder of path $1, itself included, may be such a link
  p=${1%/}
  while [ -n "$p" ]; do
    left "$p" && fail "not copying through $p: a link another user left in the shared" \
      "folder $up (a link there is followed only when it is your own)"
    case $p in */*) p=${p%/*};; *) p=;; esac
  done
}
case $d in */) [ -d "$d" ] || absent "$d" "no such directory";; esac
[ -d "$d" ] && d=${d%/}/$n
case $d in */?*) on_the_way "${d%/*}";; esac  # before a link to a file is resolved
# a link to a file: written through, as cp does, but not one another user left: replaced
if [ -L "$d" ] && [ -f "$d" ] && ! left "$d"; then
  d=$(readlink -f -- "$d" && printf .); d=${d%??}
fi
[ -L "$d" ] && [ ! -e "$d" ] && fail "not writing through the dangling link $d"  # as cp
case $d in */*) dir=${d%/*}; b=${d##*/};; *) dir=.; b=$d;; esac
[ -n "$dir" ] || dir=/
where=$dir; [ "$dir" != . ] || where="$(pwd) (the working directory)"  # files10: "in ."
[ -d "$dir" ] || { [ -e "$dir" ] && fail "not a directory: $dir"
  absent "$dir" "no such directory"; }
[ $k = f ] && [ -d "$d" ] && fail "is a directory: $d"
[ -e "$d" ] && [ ! -f "$d" ] && [ ! -d "$d" ] &&
  fail "not a regular file: $d (a put replaces a file; it never writes into a device, pipe or socket)"
[ $k = d ] && [ -e "$d" ] && fail "already exists: $d"
tb=.$b; [ "$(printf %s "$b" | wc -c)" -le 200 ] || tb=  # the temporary name: NAME_MAX
t=$(mktemp -d "$dir/$tb.orch-put.XXXXXX" 2>&1) || { t=${t##*: }  # mktemp's reason
  [ -f "$d" ] && fail "cannot write in $where: $t (a put replaces $b by writing a new file \
beside it and renaming it over: the folder must be writable)"; fail "cannot write in $where: $t"; }
trap 'chmod -R u+rwx -- "$t" 2>/dev/null; rm -rf -- "$t"' EXIT  # read-only folders too
# as cp and scp: its mode says do not (root may); after mktemp, which says a read-only mount
# as such (files14: said as the file's mode); another user's is said by `owned` (kinds22)
[ $k = f ] && [ -f "$d" ] && [ ! -w "$d" ] && [ -O "$d" ] &&
  fail "is read-only: $d (its user may not write it, so a put does not replace it, as cp does not)"
trap 'exit 130' INT TERM HUP PIPE
frame() {
  read -r len z want || return 1
  case $len in
    0) echo "$z $want" > "$t/end"; return 1;;
    ''|*[!0-9]*) say "a damaged stream arrived for $d"; return 1;;
  esac
}
copy() { dd bs=1M count="$len" iflag=fullblock,count_bytes; }
nl='
'
written() {
  exec 6< "$t/data"; back=
  while frame; do
    if ! e=$(copy 2>&1 >> "$t/data"); then  # e: dd's complaint (a full disk), then its counts
      e=${e%%"$nl"*}
      say "cannot write $d: ${e##*: }"
      : > "$t/unwritten" 2>/dev/null  # said: no "ended early" after it
      break
    fi
    [ -z "$back" ] || wait $back
    copy <&6 2>/dev/null & back=$!
  done
  [ -z "$back" ] || wait $back
}
untar() {  # a marker of success: one that cannot be written is a failure, never the reverse
  if e=$(umask 0; tar -xpof - -C "$t" 2>&1); then  # every mode as it was sent
    : > "$t/untarred" 2>/dev/null && return
    e="cannot write in $where"
  fi
  e=${e%%"$nl"*} e=${e#tar: }
  case $e in  # names as the sender's tree has them, not under the temporary `data`
    data/*) e=./${e#data/};; *"'data/"*) e=${e%%"'data/"*}"'./"${e#*"'data/"};;
  esac
  # GNU tar says only "Wrote only N of M bytes" when the disk is full
  [ "$(df -Pk "$dir" 2>/dev/null | awk 'NR == 2 {print $4}')" = 0 ] &&
    e="$e (No space left on device)"
  say "unpacking into $d failed: $e"
}
owned() {  # a replaced file keeps its owner and group (as cp and scp do): given to the
  # temporary file before any data comes, or refused: a rename never hands it to this user
  chown -- "$(stat -c %u:%g -- "$d")" "$t/data" 2>/dev/null && return
  me=$(id -un 2>/dev/null || id -u) hint="copy as root (e.g. a sudo layer with user: root) or "
  [ "$(id -u)" != 0 ] || hint=
  if [ "$(stat -c %u -- "$d")" != "$(id -u)" ]; then is="is owned by $(stat -c %U -- "$d")" w=owner
  else is="belongs to group $(stat -c %G -- "$d")" w=group; fi
  fail "$d $is: as user $me a copy cannot keep its $w (it replaces a file by renaming" \
    "a new one over it); ${hint}remove $d first"
}
if [ $k = f ]; then
  : > "$t/data" || fail "cannot write in $where"
  [ -f "$d" ] && [ ! -L "$d" ] && owned
else
  mkdir -- "$t/data" || fail "cannot write in $dir"
fi
echo ORCH-READY  # every check passed: the data comes only now (files12: a refusal said
# while frames poured in was lost when podman reset the stream it had left unread)
if [ $k = f ]; then
  sum=$(written | $hash)
else
  sum=$( { while frame && copy 2>/dev/null; do :; done | tee /dev/fd/4 | { untar; cat >/dev/null; }; } 4>&1 | $hash )
  [ -e "$t/untarred" ] || exit 1  # untar said why
fi
[ -e "$t/unwritten" ] && exit 1
[ -e "$t/end" ] || fail "the data for $d ended early"
read -r z want < "$t/end"
if [ $k = f ]; then
  got=$(stat -c %s -- "$t/data" 2>/dev/null)
  [ "$got" = "$z" ] || fail "received ${got:-0} of $z bytes for $d"
fi
[ -n "$sum" ] || fail "hashing $d at the far end failed (its sha256sum or openssl)"
[ "${sum%% *}" = "$want" ] || fail "sha256 mismatch for $d: sent $want, received ${sum%% *}"
if [ $k = d ]; then  # the folders sent owner-writable (send.py), deepest first
  while IFS= read -r l; do
    p=$(printf '%b.' "${l#* }"); p=${p%.}
    chmod "${l%% *}" -- "$t/$p" || fail "cannot set the mode of $d${p#data}"
  done < "$t/modes"
fi
late=  # an ordinary user cannot move a folder it cannot write (its `..` changes): after
[ $k = d ] && case 000$m in *[0145]??) late=$m;; esac  # the owner's digit lacks w
[ $k = f ] && [ -f "$d" ] && [ ! -L "$d" ] &&  # a replaced file keeps its mode (owned()), its
  m=$(printf %o $(( 0$(stat -c %a -- "$d") & 0$( [ "$(id -u)" = 0 ] && echo 7777 || echo 1777) )))
  # setuid/setgid as root only, as cp keeps them (files14: 4755 became 755)
[ -n "$late" ] || chmod "$m" "$t/data" || fail "cannot set the mode of $d"
[ $k = d ] && [ -e "$d" ] && fail "already exists: $d"
trap '' INT TERM HUP  # once renamed it is kept: a stop waits until that is said
# -T: renamed to that name, never moved into a folder that appeared there since (another put)
e=$(mv -fT -- "$t/data" "$d" 2>&1) || { [ $k = d ] && [ -e "$d" ] && fail "already exists: $d"
  [ -d "$d" ] && fail "is a directory: $d"; e=${e%%"$nl"*}; fail "cannot rename into $d: ${e##*: }"; }
[ -z "$late" ] || chmod "$late" -- "$d"  # its owner's: where the rename could, this can
printf 'ORCH-DONE %s\n' "$d"
"""

HEADER = re.compile(rb"ORCH-TRANSFER 1 ([fd]) ([0-7]{1,4}) (\d+|-)\n")

@dataclass(frozen=True)
class Header:
    """What a get announces before the bytes: file or directory, its mode, a file's size
    (None: known only at the end, as for /proc files, which say they hold 0 bytes)."""

    kind: Literal["file", "directory"]
    mode: int
    size: int | None


def sent_name(path: str) -> str:
    """`path`'s bytes as printf %b text: printable ASCII as it is, any other byte (and `\\`)
    as `\\0NNN`. A name that is not UTF-8 then passes every layer's argv (an engine's API
    carries text only), and the scripts' `arg` gives the bytes back."""
    return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\0{b:03o}"
                   for b in path.encode("utf-8", "surrogateescape"))


def get_command(path: str) -> Command:
    """The command that streams `path` (file or directory) from the far end of the chain."""
    return Command(("/bin/sh", "-c", GET_SCRIPT, "orch-get", sent_name(path)))


def put_command(dest: str, name: str, kind: str, mode: int) -> Command:
    """The command that receives a put at `dest` (a directory there gets `name` inside it)."""
    flag = "f" if kind == "file" else "d"
    return Command(("/bin/sh", "-c", PUT_SCRIPT, "orch-put", sent_name(dest), sent_name(name),
                    flag, f"{mode:o}"))


def frame_header(length: int) -> bytes:
    """The line before a frame of `length` bytes of a put's stream."""
    return b"%d\n" % length


def end_line(size: int, sha256: str) -> bytes:
    """A put's last line: what the sender read (size, sha256), checked by the far end."""
    return b"0 %d %s\n" % (size, sha256.encode())


def parse_header(line: bytes) -> Header | None:
    """The header, or None when `line` is not one (a TTY, a banner, a broken stream)."""
    m = HEADER.fullmatch(line)
    if m is None:
        return None
    kind: Literal["file", "directory"] = "file" if m.group(1) == b"f" else "directory"
    size = None if m.group(3) == b"-" else int(m.group(3))
    return Header(kind, int(m.group(2), 8), size)


def said_by(stderr: bytes) -> str:
    """The far end's stderr as text, a byte of a name that is no UTF-8 as `\\xNN` (as the local
    side's names are shown: `replace` made two names alike as `��`)."""
    return stderr.decode("utf-8", "backslashreplace")


def problems(stderr: str) -> list[str]:
    """The `orch-transfer: …` messages of the remote script, each on one line with what a
    name held escaped (`new\\nline`: the script sends a name's newline as \\001, so a name
    can neither cut a message short nor add one of its own)."""
    return [printable(line.split("orch-transfer: ", 1)[1].replace("\x01", "\n"))
            for line in stderr.split("\n") if "orch-transfer: " in line]  # not at a \r


#: What GNU tar says (exit 1) of a file written to while it read it: it sends the length it
#: saw at the start, as a get of a file does, so a folder of live logs can be copied.
GREW = ": file changed as we read it"


def get_problems(stderr: str) -> list[str]:
    """The `orch-transfer:` lines of a get; a failed read says why in tar's or cat's words.
    Files that only changed while tar read them fail nothing (see GREW); one that shrank
    (padded with zeros) or could not be read fails the get."""
    tools = [line.split(": ", 1)[1] for line in stderr.split("\n")
             if line.startswith(("tar: ", "cat: ")) and "Exiting with failure" not in line]
    if tools and all(line.endswith(GREW) for line in tools):  # a warning, not a failure
        return [said for said in problems(stderr) if not said.startswith("reading ")]
    return [f"{said}: {'; '.join(tools[:3])}" if said.startswith("reading ") and tools else said
            for said in problems(stderr)]


def remote_sha256(stderr: str) -> str | None:
    """The sha256 the remote side computed of what it sent (the last ORCH-SHA256 line; words
    a login printed without a newline may come before it on its line)."""
    found = re.findall(r"ORCH-SHA256 ([0-9a-f]{64})$", stderr, re.M)
    return found[-1] if found else None


def done_path(stdout: str) -> str | None:
    """Where a put landed (the script's last line; a path may hold newlines; words a login
    printed without a newline may come before it)."""
    found = (re.search(r"^ORCH-DONE (.*)\n\Z", stdout, re.M | re.S)  # at a line's start
             or re.search(r"ORCH-DONE (.*)\n\Z", stdout, re.S))
    return found[1] if found else None
