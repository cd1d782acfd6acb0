"""stdout_mode: file — stdout lands in a local file, atomically.

Bytes go to a temporary file *in the target's directory* (`.NAME.orch-XXXXXXXX.tmp`, mode
0600, locked while written: file_temp.py), unbuffered: what the file took is what the audit
counts. When the run succeeds the file is fsynced, given normal permissions (0666 minus the
umask) and renamed over the final name in one step, so a reader never sees a half file under
that name.
When the run fails (non-zero exit, signal, broken connection, timeout, interrupt) nothing
appears under the final name: the partial data is kept next to it as `NAME.partial` (replacing
an older one) so a long transfer that broke can still be inspected; what a process killed
outright (`kill -9`) was writing is set aside so by the next run writing in that folder.

`FileProgress` is the small object a display polls while it runs: bytes, rate, elapsed, path.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import OrchError, OutputFileError
from ..process.events import Event, Stdout
from ..text import human_size


def render_path(template: str, *, service: str, env: str, when: float | None = None) -> str:
    """Fill `{service}`, `{env}` and `{timestamp}` (YYYYmmdd-HHMMSS, local time) in a template."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when or time.time()))

    def safe(text: str) -> str:  # one path component: `/` is `_`, and `..` or `.` climbs
        text = re.sub(r"[^A-Za-z0-9._-]", "_", text)  # nowhere (config17: out/{env}/ of `..`
        return text if text.strip(".") else text.replace(".", "_")  # wrote beside out/)

    path = template.format(service=safe(service), env=safe(env), timestamp=stamp)
    return os.path.abspath(os.path.expanduser(path))


def check_target(path: str, kept: Mapping[str, str], *, before_pre: bool = False) -> None:
    """OrchError unless `path` may be a run's stdout_file: not one of the `kept` files (path →
    what it is: the audit log…), not a directory, device, pipe or socket (it is renamed over).
    Asked before a run's first step too (review30: its pre commands had run first); then
    (`before_pre`) of its folder only what no pre command is there to change."""
    if (what := kept_as(path, kept)) is not None:
        raise OrchError(f"stdout_file {path} is {what}: the output would replace it when the "
                        f"run succeeds; name another file")
    if os.path.isdir(path):
        raise OrchError(f"stdout_file {path} is a directory: give a file path, such as "
                        f"{os.path.join(path, '{service}-{timestamp}.out')}")
    if os.path.exists(path) and not os.path.isfile(path):
        raise OrchError(f"stdout_file {path} is not a regular file: the output is renamed over "
                        f"it when the run succeeds, so a device, pipe or socket is never used")
    _check_folder(path, before_pre)


def _check_folder(path: str, before_pre: bool) -> None:
    """OrchError unless `path`'s folder is, or can be made, one this process may write in
    (config17: found only once the output was set up, after the pre commands had run, and a
    file in the way was said as "File exists"). `before_pre`: a file in the way only; a
    folder a pre command makes, links or opens is judged after it (review33)."""
    folder = os.path.dirname(path) or "."
    while not os.path.lexists(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)  # the nearest that is there: the rest is made
    if os.path.islink(folder) and not os.path.exists(folder):
        if before_pre:
            return
        raise OrchError(f"cannot write stdout_file {path}: {folder} is a link to "
                        f"{os.readlink(folder)}, which does not exist")
    if not os.path.isdir(folder):
        raise OrchError(f"cannot write stdout_file {path}: {folder} is not a folder")
    if not before_pre and not os.access(folder, os.W_OK | os.X_OK):
        raise OrchError(f"cannot write stdout_file {path}: no permission to write in {folder}")


def kept_as(path: str, kept: Mapping[str, str]) -> str | None:
    """What `path` is among `kept` (the same file, through links too), or None."""
    real = os.path.realpath(path)
    for other, what in kept.items():
        if real == os.path.realpath(other):
            return what
        with contextlib.suppress(OSError):
            if os.path.samefile(path, other):
                return what
    return None


def _published_anew(tmp: str, path: str) -> str:
    """`tmp` under `path`, or `path` with `-2`, `-3`… before its extension: the first name no
    file has (a hard link: no other run's file is replaced, even at the same moment)."""
    root, ext = os.path.splitext(path)
    for n in range(1, 10_000):
        name = path if n == 1 else f"{root}-{n}{ext}"
        try:
            os.link(tmp, name)
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links: the name is checked, then taken
            if os.path.lexists(name):
                continue
            os.replace(tmp, name)
            return name
        os.unlink(tmp)
        return name
    raise OSError(f"{root}-2{ext} to {root}-9999{ext} are taken")


def label_folders(label: str) -> list[str]:
    """The folders a fleet target's label names (`eu/db-1` nests: two); ValueError for a
    part that is empty, `.` or `..` (labels come from inventories and engines too: none may
    lead out of the folder, or onto another target's)."""
    parts = label.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError("a part of it is empty, '.' or '..'")
    return parts


def per_target(path: str, label: str) -> str:
    """A fleet target's output file: in a folder named by its label beside `path`, as a
    fleet's `get` lands its copies, so no two targets write one file."""
    try:
        return os.path.join(os.path.dirname(path), *label_folders(label),
                            os.path.basename(path))
    except ValueError as exc:
        raise OrchError(f"target {label!r} cannot name a folder for its stdout_file "
                        f"({exc})") from None


@dataclass
class FileProgress:
    """Live numbers of a file-mode run, safe to read from any thread."""

    path: str
    bytes: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    state: str = "writing"  # writing → done | failed
    partial_path: str | None = None

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def rate(self) -> float:
        """Bytes per second so far."""
        elapsed = self.elapsed
        return self.bytes / elapsed if elapsed > 0 else 0.0

    def describe(self) -> str:
        return (f"{human_size(self.bytes)} → {self.path} ({human_size(self.rate)}/s, "
                f"{self.elapsed:.1f}s, {self.state})")


class FileSink:
    """Writes Stdout chunks to a temporary file; `finish(ok)` publishes or sets it aside."""

    def __init__(self, path: str, kept: Mapping[str, str] | None = None, *,
                 unique: bool = False) -> None:
        """`kept`: files the output may not replace (path → what it is: the audit log…);
        `unique`: a name meant to be each run's own (a `{timestamp}` in it) replaces no file,
        it takes a `-2`, `-3`… instead (config16: runs in one second replaced each other's)."""
        self.path, self.unique = path, unique
        check_target(path, kept or {})
        directory = os.path.dirname(path) or "."
        from . import file_temp  # only a run with stdout_file needs it (cold start: issue 15)

        try:
            os.makedirs(directory, exist_ok=True)
            file_temp.set_aside_left(directory)
            fd, self.tmp_path = file_temp.create(directory, os.path.basename(path))
        except OSError as exc:
            raise OrchError(f"cannot write stdout_file {path}: {exc.strerror or exc}") from None
        self._fd = fd  # written unbuffered: what it took is what the file holds (the audit's)
        self.progress = FileProgress(path)
        self._lock = threading.Lock()
        self._finished = False
        #: Why writing stopped (a full disk), if it did.
        self.error: str | None = None

    def feed(self, event: Event) -> bytes:
        """Write a Stdout chunk; the part of it the file took (all, until a write fails)."""
        if not isinstance(event, Stdout) or self._finished or self.error is not None:
            return b""
        data, done = event.data, 0
        try:
            while done < len(data):
                done += os.write(self._fd, memoryview(data)[done:])
        except OSError as exc:  # a full disk: reported by finish, what was written kept
            self.error = exc.strerror or str(exc)
        self.progress.bytes += done
        return data if done == len(data) else data[:done]

    def finish(self, ok: bool) -> str | None:
        """Publish the file when `ok` (returns its path), else keep it as `.partial` (None).
        A write that failed (a full disk) is an OrchError naming the `.partial` file."""
        with self._lock:
            if self._finished:
                return self.path if self.progress.state == "done" else None
            self._finished = True
        try:
            try:
                if ok and self.error is None:
                    os.fsync(self._fd)
            except OSError as exc:
                self.error = self.error or exc.strerror or str(exc)
            # renamed while still open, so still locked (file_temp: no sweep takes it)
            if ok and self.error is None:
                os.fchmod(self._fd, 0o666 & ~_umask())
                if self.unique:
                    self.path = self.progress.path = _published_anew(self.tmp_path, self.path)
                else:
                    os.replace(self.tmp_path, self.path)
                self.progress.state = "done"
                return self.path
            partial = self.path + ".partial"
            if self.unique:  # another run's of that second is not replaced (review30)
                partial = _published_anew(self.tmp_path, partial)
            else:
                os.replace(self.tmp_path, partial)
            self.progress.partial_path = partial
            self.progress.state = "failed"
        except OSError as exc:
            self.progress.state = "failed"
            raise OrchError(f"cannot write stdout_file {self.path}: "
                            f"{exc.strerror or exc}") from None
        except BaseException:  # interrupted while publishing: nothing half-done is left
            self.progress.state = "failed"
            with contextlib.suppress(OSError):
                os.unlink(self.tmp_path)
            raise
        finally:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self.progress.finished = time.monotonic()
        if self.error is not None:
            raise OutputFileError(f"cannot write stdout_file {self.path}: {self.error}; what "
                                  f"was written is in {partial}", partial)
        return None

    def discard(self) -> None:
        """Drop the temporary file (the command never started)."""
        with self._lock:
            self._finished = True
        try:
            os.unlink(self.tmp_path)  # before its lock goes with the close
        except OSError:
            pass
        os.close(self._fd)
        self.progress.state = "failed"

    def close(self) -> None:
        """Without a successful finish, nothing is published."""
        self.finish(False)


def _umask() -> int:
    """This process's umask, read without changing it: `os.umask(0)` then back set it to 0 for
    every thread meanwhile, and a file another thread made then was world-writable (review44)."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022  # no /proc (not Linux): the usual one, never 0 for a moment
