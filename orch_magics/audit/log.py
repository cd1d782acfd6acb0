"""An append-only, hash-chained JSON-lines file that several processes write at once.

Each line is one JSON object whose `prev` is the `hash` of the line before it (64 zeros for the
first) and whose `hash` is the sha256 of the object without `hash` (sorted keys, no spaces), so
an edited, deleted, reordered or truncated line breaks the chain at a line `verify` names.
Appends take an exclusive `flock` on the file (so the chain stays linear across processes),
read the last line's hash (unless the file is as this process's last append left it), and
write the new line with one `write` on an O_APPEND descriptor; end records are fsync'ed off
the event loop (syncer.py). The file is created with mode 0600.

The log is a regular file: a device, a FIFO, a directory or a socket at its path is refused
(`/dev/null` is no way to turn auditing off: `audit: {enabled: false}` is), and the mode of
nothing but a regular file of our own is ever changed (a chmod of `/dev/null` to 0600 once broke
every other user of the machine).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from typing import Any

from ..errors import OrchError
from ..process.command import escaped
from .placement import check_owner, check_place, open_log
from .syncer import SYNCER

GENESIS = "0" * 64
#: How far back from the end an append first looks for the previous line (most records are
#: far smaller; a longer one, such as a cell's whole script, is read in growing windows).
TAIL_WINDOW = 1 << 16


def default_audit_path() -> str:
    """`$XDG_STATE_HOME/orch_magics/audit.jsonl`, else `~/.local/state/orch_magics/audit.jsonl`
    (a relative XDG_STATE_HOME is ignored, as the XDG spec says: the log would move with the
    working directory)."""
    state = os.environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(state):
        state = os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "orch_magics", "audit.jsonl")


def _text(value: Any) -> Any:
    """`value` with every string valid UTF-8: bytes a command line or path could not decode
    (held as surrogates, as Python holds argv) are written as `\\xNN`, not a crash."""
    if isinstance(value, str):
        return escaped(value)
    if isinstance(value, dict):
        return {_text(k): _text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_text(v) for v in value]
    return value


#: Per log path, the file as this process's last append left it (device, inode, size,
#: modification time) and the hash of the record it wrote last: while the file is still so,
#: the next append chains to that hash without reading the file back (a fleet's hundreds of
#: records each read the log's first and last lines otherwise). Any other writer changes
#: the size and the time, and the file is read as before.
_LEFT: dict[str, tuple[tuple[int, int, int, int], str]] = {}


def _state(info: os.stat_result) -> tuple[int, int, int, int]:
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def _chained(record: dict[str, Any], prev: str) -> tuple[dict[str, Any], bytes]:
    """`record` chained to `prev`, and its line; strings are escaped (`_text`) only when
    one of them holds what UTF-8 cannot encode, which walking every record would cost."""
    chained = {**record, "prev": prev}
    try:
        chained["hash"] = record_hash(chained)
        return chained, _line(chained)
    except UnicodeEncodeError:
        return _chained(_text(record), prev)


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _line(record: dict[str, Any]) -> bytes:
    """A record as it is written: one line, keys sorted; `verify` wants exactly these bytes."""
    return (json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


#: How deep a record's values may nest (orch writes two levels at most): a forged line nested
#: 1,000 deep parses, then breaks whatever walks it again (json.dumps, a listing).
DEEPEST = 16


def parsed(line: bytes | str) -> dict[str, Any] | None:
    """The JSON object a line holds, or None for anything else: damage, `null`, `[1]`, and
    forgeries made to break a reader (nesting deeper than `DEEPEST`)."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    opened = text.count("[") + text.count("{")  # a walk only for a line that could be deep
    return record if opened <= DEEPEST or _depth(record) <= DEEPEST else None


def _depth(value: Any) -> int:
    """How deep `value` nests, walked without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > DEEPEST:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(
            item, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


class AuditLog:
    """Appends chained records to one file; safe across threads and processes."""

    def __init__(self, path: str | None = None, *, digests: bool = True) -> None:
        self.path = os.path.abspath(os.path.expanduser(path or default_audit_path()))
        #: Whether runs' end records carry the sha256 of their output (else byte counts only).
        self.digests = digests

    def append(self, record: dict[str, Any], *, sync: bool = False) -> None:
        """Chain and append `record` (with `sync`, fsync'ed by the `SYNCER` soon after); any
        failure to write it is an OrchError naming the file."""
        self._append_or_raise(record)
        if sync:
            SYNCER.request(self.path)

    def check(self) -> None:
        """Raise the OrchError an append would raise now, writing nothing: for what must not
        happen unless its records can follow (a fleet's lookup of its containers)."""
        self._append_or_raise(None)

    def _append_or_raise(self, record: dict[str, Any] | None) -> None:
        try:
            self._append(record)
        except OSError as exc:
            raise OrchError(f"cannot write the audit log {self.path}: "
                            f"{exc.strerror or exc}") from None

    def _append(self, record: dict[str, Any] | None) -> None:
        if not os.path.isdir(os.path.dirname(self.path) or "."):
            check_place(self.path)  # nothing made through a place that is not ours
        _make_folders(os.path.dirname(self.path))
        refuse_special(self.path)  # before opening: opening a device may do something
        fd = open_log(self.path)
        try:
            info = os.fstat(fd)
            _check_regular(self.path, info.st_mode)
            check_owner(self.path, info.st_uid)
            fcntl.flock(fd, fcntl.LOCK_EX)
            locked = os.fstat(fd)
            size = locked.st_size
            left = _LEFT.get(self.path)
            mine = left[1] if left is not None and left[0] == _state(locked) else None
            if size and mine is None and not _is_a_log(fd, size):
                raise OrchError(f"{self.path} is not an audit log (neither its first nor its "
                                f"last line is an audit record), so nothing was written to "
                                f"it: name another file (audit: {{path: …}})")
            if info.st_mode & 0o077 and info.st_uid == os.geteuid():  # loosened by hand
                with contextlib.suppress(OSError):
                    os.fchmod(fd, 0o600)
            if record is None:  # `check`: it could be written
                return
            prev, whole = (mine, True) if mine is not None else _last_hash(fd)
            chained, line = _chained(record, prev)
            # After a torn last line, start on a line of our own (verify still names the tear).
            _write_whole(fd, (b"" if whole else b"\n") + line, size)
            _LEFT[self.path] = (_state(os.fstat(fd)), chained["hash"])
        finally:
            os.close(fd)  # releases the lock

    def records(self) -> Iterator[dict[str, Any]]:
        """Every well-formed record, oldest first (use `verify` to check the chain); a file
        with lines and not one record is said to be no audit log (not listed as empty)."""
        refuse_special(self.path)  # reading a FIFO would wait for a writer forever
        found = lines = 0
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                for lines, line in enumerate(f, start=1):  # noqa: B007 (counted)
                    record = parsed(line)
                    if record is not None:
                        found += 1
                        yield record
        except FileNotFoundError:
            return
        except OSError as exc:
            raise unreadable(self.path, exc) from None
        if lines and not found:
            raise OrchError(f"none of the {lines:,} lines of {self.path} is an audit record "
                            f"(not an audit log? `orch audit verify` names a damaged one's "
                            f"first bad line)")

    def newest_first(self) -> Iterator[dict[str, Any]]:
        """Every well-formed record, newest first, read from the end a block at a time: the
        last runs of a log of millions of lines without reading (or holding) all of it."""
        refuse_special(self.path)
        try:
            with open(self.path, "rb") as f:
                end, rest = f.seek(0, os.SEEK_END), b""
                while end > 0:
                    start = max(0, end - TAIL_WINDOW * 16)
                    f.seek(start)
                    lines = (f.read(end - start) + rest).split(b"\n")
                    rest = lines.pop(0) if start else b""  # it goes on in the block before
                    yield from filter(None, map(_record, reversed(lines)))
                    end = start
        except FileNotFoundError:
            return
        except OSError as exc:
            raise unreadable(self.path, exc) from None


def _record(line: bytes) -> dict[str, Any] | None:
    """The record a line holds, or None (damage, or no record)."""
    return parsed(line.decode("utf-8", "replace"))


def refuse_special(path: str) -> None:
    """Raise an OrchError when something other than a regular file is at `path` (nothing
    there is fine: the log is created)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # missing, or not reachable: the open that follows says why
    _check_regular(path, mode)


_KINDS = {stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device",
          stat.S_ISFIFO: "a FIFO", stat.S_ISDIR: "a directory", stat.S_ISSOCK: "a socket"}


def _check_regular(path: str, mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS.items() if test(mode)), "not a file")
        raise OrchError(f"the audit log {path} is {kind}, not a regular file: name a file in "
                        f"`audit: {{path: …}}`, or set `audit: {{enabled: false}}` to turn "
                        f"auditing off")


def _write_whole(fd: int, data: bytes, size: int) -> None:
    """Write all of `data`, or leave the file at `size`: a record cut short (a full disk)
    would stay in the chain and read as tampering for ever after."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        raise


def _is_a_log(fd: int, size: int) -> bool:
    """Whether the file's first or last line is a record (a JSON object with `prev` and
    `hash`): a config file or other text named as the log must not get records glued onto
    it, while a log whose first record was deleted or torn is still one (appends go on and
    `verify` names the damage). A line is read whole (a record may hold a long script) only
    when it starts as a record does."""
    return _is_record(_first_line(fd, size)) or _is_record(_last_line(fd, size)[0])


def _is_record(line: bytes) -> bool:
    record = parsed(line) if line.startswith(b"{") else None
    return record is not None and "hash" in record and "prev" in record


def _first_line(fd: int, size: int) -> bytes:
    window = TAIL_WINDOW
    while True:
        head = os.pread(fd, min(size, window), 0)
        if b"\n" in head or len(head) >= size or not head.startswith(b"{"):
            return head.split(b"\n", 1)[0]
        window *= 8


def _last_line(fd: int, size: int) -> tuple[bytes, bool]:
    """The file's last line, and whether the file ends with a newline."""
    window = TAIL_WINDOW
    while True:
        start = max(0, size - window)
        tail = os.pread(fd, size - start, start)
        body = tail.rstrip(b"\n")
        if b"\n" in body or start == 0:  # the whole last line is in the window
            return body.rsplit(b"\n", 1)[-1], tail.endswith(b"\n")
        window *= 8


def _last_hash(fd: int) -> tuple[str, bool]:
    """The `hash` of the file's last line (GENESIS for an empty file), and whether the file
    ends with a newline."""
    size = os.fstat(fd).st_size
    if size == 0:
        return GENESIS, True
    last, whole = _last_line(fd, size)
    record = parsed(last)
    if record is None or "hash" not in record:
        # A damaged last line: chain to what is there, so `verify` points at the damage.
        return hashlib.sha256(last).hexdigest(), whole
    return str(record["hash"]), whole


def _make_folders(folder: str) -> None:
    """`folder` and any missing parent, each 0700 whatever the umask (os.makedirs gives its
    mode to the last one only); never the home folder itself: a HOME that does not exist
    (`/nonexistent`, a service user's) must stay so."""
    if folder and not os.path.isdir(folder):
        if os.path.normpath(folder) == os.path.normpath(os.path.expanduser("~")):
            raise OrchError(f"cannot write the audit log under {folder}: that home folder "
                            f"does not exist (set XDG_STATE_HOME, or audit: {{path: …}})")
        _make_folders(os.path.dirname(folder))
        with contextlib.suppress(FileExistsError):  # made meanwhile by another writer
            os.mkdir(folder, 0o700)
            os.chmod(folder, 0o700)


def verify(path: str) -> tuple[int, str | None]:
    """(records checked, None) when the chain holds, else (line number, what is wrong)."""
    refuse_special(path)
    prev = GENESIS
    n = 0
    try:
        with open(path, "rb") as f:
            for n, raw in enumerate(f, start=1):  # noqa: B007 (n is the count after the loop)
                record, problem = _check_line(raw, prev)
                if record is None:
                    return n, problem
                prev = record["hash"]
    except FileNotFoundError:
        return 0, f"{path} does not exist"
    except OSError as exc:
        raise unreadable(path, exc) from None
    return n, None


def unreadable(path: str, exc: OSError) -> OrchError:
    """The audit log is there but cannot be read (a directory, no permission)."""
    return OrchError(f"cannot read the audit log {path}: {exc.strerror or exc}")


def _check_line(raw: bytes, prev: str) -> tuple[dict[str, Any] | None, str]:
    """(the record, "") when the line is the record that follows `prev`, else (None, why);
    the line is parsed once."""
    if not raw.endswith(b"\n"):
        return None, "truncated (the line does not end)"
    try:
        record = json.loads(raw)
    except (ValueError, RecursionError):
        return None, "not a JSON record (edited or truncated)"
    if not isinstance(record, dict) or "hash" not in record or "prev" not in record:
        return None, "not an audit record"
    if _depth(record) > DEEPEST:
        return None, "edited (not as orch writes a record: nested too deep)"
    try:
        if record["hash"] != record_hash(record):
            return None, "edited (its content does not match its hash)"
    except UnicodeEncodeError:  # a `\ud800` escape: a lone surrogate, which orch never writes
        return None, "edited (not as orch writes a record: a lone surrogate escape)"
    if raw != _line(record):  # what the hash cannot see: a key twice (readers differ on
        # which one counts), spaces, CRLF
        return None, "edited (not as orch writes a record: a key given twice, or reformatted)"
    if record["prev"] != prev:
        return None, ("out of chain: its prev is not the hash of the line before it (that line "
                      "was edited and its hash recomputed, or lines between them were "
                      "deleted, inserted or reordered)")
    return record, ""
