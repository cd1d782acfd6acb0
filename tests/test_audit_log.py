"""The audit log file itself: chained, tamper-evident, private, safe under concurrent writers."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from orch_magics.audit import AuditLog, verify
from orch_magics.audit.log import default_audit_path, record_hash
from orch_magics.audit.syncer import SYNCER, Syncer
from orch_magics.errors import OrchError

WRITER = """
import sys
from orch_magics.audit import AuditLog
log = AuditLog(sys.argv[1])
for i in range(int(sys.argv[3])):
    log.append({"event": "start", "id": f"{sys.argv[2]}-{i}", "pad": "x" * (i % 300)},
               sync=i % 2 == 0)
"""


def _write(path: Path, n: int) -> None:
    log = AuditLog(str(path))
    for i in range(n):
        log.append({"event": "start", "id": str(i), "command": f"echo {i}"})


def test_records_chain_and_verify(tmp_path: Path) -> None:
    path = tmp_path / "state" / "audit.jsonl"
    _write(path, 5)
    assert verify(str(path)) == (5, None)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    records = list(AuditLog(str(path)).records())
    assert [r["id"] for r in records] == ["0", "1", "2", "3", "4"]
    assert records[0]["prev"] == "0" * 64
    assert all(b["prev"] == a["hash"] for a, b in zip(records, records[1:], strict=False))


def test_an_edited_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _write(path, 6)
    lines = path.read_text().splitlines(keepends=True)
    record = json.loads(lines[2])
    record["command"] = "echo innocent"
    lines[2] = json.dumps(record, sort_keys=True) + "\n"
    path.write_text("".join(lines))
    n, problem = verify(str(path))
    assert n == 3 and problem is not None and "edited" in problem


def test_a_line_edited_and_rehashed_is_said_to_be_that_or_a_gap(tmp_path: Path) -> None:
    """runs7 F1: an edit with the line's own hash recomputed (the algorithm is documented) is
    seen only at the next line; the words listed every cause but that one."""
    path = tmp_path / "audit.jsonl"
    _write(path, 6)
    lines = path.read_text().splitlines(keepends=True)
    record = json.loads(lines[2])
    record["command"] = "echo innocent"
    record["hash"] = record_hash(record)
    lines[2] = json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n"
    path.write_text("".join(lines))
    n, problem = verify(str(path))
    assert n == 4 and problem == (
        "out of chain: its prev is not the hash of the line before it (that line was edited and "
        "its hash recomputed, or lines between them were deleted, inserted or reordered)")


@pytest.mark.parametrize("forge", [
    lambda line: line.replace('{"command"', '{"command": "echo innocent", "command"', 1),
    lambda line: line.replace(", ", ",", 1),
    lambda line: line.replace("\n", "\r\n"),
], ids=["key-twice", "spaces", "crlf"])
def test_a_line_edited_where_its_hash_cannot_see_is_named(tmp_path: Path, forge) -> None:  # type: ignore[no-untyped-def]
    """A key given twice parses to the last one, which the hash covers: `"exit_code": 0` put
    before the real one read "chain intact", while a reader that keeps the first key (grep, a
    log shipper) saw a success (held-out tester). The bytes must be the ones orch wrote."""
    path = tmp_path / "audit.jsonl"
    _write(path, 4)
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = forge(lines[1])
    assert json.loads(lines[1])["command"] == "echo 1"  # what the hash is taken over is intact
    path.write_text("".join(lines))
    n, problem = verify(str(path))
    assert n == 2 and problem is not None and problem.startswith("edited"), problem


def test_a_deleted_or_reordered_line_breaks_the_chain_where_it_happened(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _write(path, 6)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:3] + lines[4:]))
    assert verify(str(path))[0] == 4
    path.write_text("".join(lines[:1] + [lines[2], lines[1]] + lines[3:]))
    n, problem = verify(str(path))
    assert n == 2 and problem is not None and "chain" in problem


def test_a_truncated_log_is_named_and_later_appends_do_not_hide_it(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _write(path, 4)
    data = path.read_bytes()
    path.write_bytes(data[:-25])  # the last line torn
    assert verify(str(path))[0] == 4
    _write(path, 1)  # a writer after the tear starts a line of its own
    n, problem = verify(str(path))
    assert n == 4 and problem is not None
    assert len(path.read_text().splitlines()) == 5


@pytest.mark.parametrize(("forged", "problem"), [
    (b'{"event": "x", "hash": "a", "prev": "b", "z": "\\ud800"}\n',
     "edited (not as orch writes a record: a lone surrogate escape)"),
    (b"[" * 100_000 + b"]" * 100_000 + b"\n", "not a JSON record (edited or truncated)"),
    (b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"\n",
     "not a JSON record (edited or truncated)"),
    # nested deeper than orch writes: near the parser's limit json.dumps of it overflowed
    # (review15: depth 986 from the CLI)
    (b'{"hash": "a", "prev": "b", "z": ' + b"[" * 200 + b"]" * 200 + b"}\n",
     "edited (not as orch writes a record: nested too deep)"),
], ids=["lone-surrogate", "nested-lists", "nested-objects", "nested-200"])
def test_a_line_forged_to_break_a_reader_is_named_and_runs_go_on(
        tmp_path: Path, forged: bytes, problem: str) -> None:
    """A `\\ud800` escape crashed the hash with UnicodeEncodeError, nesting 100,000 deep the
    parser with RecursionError: `verify` said "internal error", and as the last line it
    stopped every run and `orch audit` (secrets7)."""
    path = tmp_path / "audit.jsonl"
    _write(path, 3)
    with path.open("ab") as f:
        f.write(forged)
    assert verify(str(path)) == (4, problem)
    assert [r.get("id") for r in AuditLog(str(path)).records()][:3] == ["0", "1", "2"]
    assert [r.get("id") for r in AuditLog(str(path)).newest_first()][-3:] == ["2", "1", "0"]
    _write(path, 1)  # a run after it is recorded, chained to the damage
    assert verify(str(path)) == (4, problem)
    assert [r.get("id") for r in AuditLog(str(path)).records()][-1] == "0"


def test_two_processes_and_threads_appending_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), tag, "500"])
             for tag in ("a", "b", "c")]
    assert [p.wait(120) for p in procs] == [0, 0, 0]
    assert verify(str(path)) == (1500, None)
    ids = [r["id"] for r in AuditLog(str(path)).records()]
    assert len(ids) == len(set(ids)) == 1500
    for tag in "abc":  # each writer's own records stay in its order
        mine = [int(i.split("-")[1]) for i in ids if i.startswith(tag)]
        assert mine == sorted(mine)


def test_an_unwritable_log_is_a_clear_error(tmp_path: Path) -> None:
    from orch_magics.errors import OrchError

    (tmp_path / "file").write_text("")  # a directory that is a file: unwritable even for root
    log = AuditLog(str(tmp_path / "file" / "audit.jsonl"))
    try:
        log.append({"event": "start", "id": "x"})
    except OrchError as exc:
        assert "cannot write the audit log" in str(exc) and str(tmp_path / "file") in str(exc)
    else:
        raise AssertionError("appending under a regular file succeeded")


def test_end_records_are_synced_by_a_thread_of_their_own(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    """append(sync=True) returns once the line is written; the fsync happens on the syncer's
    thread, flush() waits for it, and a log that vanished before its fsync is a warning."""
    syncer = Syncer()
    path = tmp_path / "audit.jsonl"
    AuditLog(str(path)).append({"event": "end", "id": "a"})
    syncer.request(str(path))
    assert syncer.flush(timeout=10)
    assert "orch-audit-fsync" in [t.name for t in threading.enumerate()]
    path.unlink()
    with caplog.at_level(logging.WARNING):
        syncer.request(str(path))
        assert syncer.flush(timeout=10)
    assert f"audit: {path} could not be synced to disk: No such file or directory" in caplog.text


def test_a_forked_child_syncs_its_own_records(tmp_path: Path) -> None:
    """multiprocessing forks without the syncer's thread: the child starts one of its own
    (before, its exit waited out flush's timeout with the record never synced)."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(str(path))
    log.append({"event": "end", "id": "parent"}, sync=True)
    assert SYNCER.flush(timeout=10)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether its flush finished, then leave at once
        log.append({"event": "end", "id": "child"}, sync=True)
        os.write(write, b"1" if SYNCER.flush(timeout=5) else b"0")
        os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    assert [r["id"] for r in AuditLog(str(path)).records()] == ["parent", "child"]


def test_a_record_longer_than_the_first_look_back_keeps_the_chain(tmp_path: Path) -> None:
    """An append read only the last 64 KiB for the previous line's hash: after a 70 KB
    command (a long cell script) the honest log said `out of chain`."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(str(path))
    log.append({"event": "start", "id": "a"})
    log.append({"event": "start", "id": "b", "command": "echo " + "a" * 70_000})
    log.append({"event": "start", "id": "c", "command": "x\n" * 400_000})
    log.append({"event": "start", "id": "d"})
    assert verify(str(path)) == (4, None)


def test_the_file_and_its_folders_are_private_whatever_made_them(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "audit.jsonl"
    old = os.umask(0)
    try:
        AuditLog(str(path)).append({"event": "start", "id": "1"})
    finally:
        os.umask(old)
    assert [stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "a", path.parent, path)] == \
        [0o700, 0o700, 0o600]
    path.chmod(0o644)  # made readable by hand, or by another tool
    AuditLog(str(path)).append({"event": "start", "id": "2"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    blocked = tmp_path / "file" / "audit.jsonl"
    (tmp_path / "file").write_text("")
    try:
        AuditLog(str(blocked)).append({"event": "start", "id": "3"})
    except Exception as exc:
        assert str(exc).endswith("Not a directory"), exc
    else:
        raise AssertionError("a log under a file was written")


def _special_files(tmp_path: Path) -> dict[str, Path]:
    """A FIFO, and a fresh character device like /dev/null (1, 3) of our own: made as root."""
    fifo, device = tmp_path / "fifo", tmp_path / "null"
    os.mkfifo(fifo, 0o666)
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    for path in (fifo, device):
        os.chmod(path, 0o666)  # whatever the umask
    return {"a FIFO": fifo, "a character device": device, "a directory": tmp_path}


def test_a_log_path_that_is_not_a_regular_file_is_refused_and_left_as_it_is(
        tmp_path: Path) -> None:
    from orch_magics.errors import OrchError

    for kind, path in _special_files(tmp_path).items():
        before = path.stat().st_mode
        for call in (lambda p: AuditLog(p).append({"event": "start", "id": "1"}),
                     lambda p: list(AuditLog(p).records()), verify):
            with pytest.raises(OrchError) as info:
                call(str(path))
            assert str(info.value) == (
                f"the audit log {path} is {kind}, not a regular file: name a file in "
                f"`audit: {{path: …}}`, or set `audit: {{enabled: false}}` to turn auditing off")
        assert path.stat().st_mode == before, kind  # never chmod'ed


def test_a_run_with_the_log_at_dev_null_does_not_start_and_changes_nothing(
        tmp_path: Path) -> None:
    from orch_magics import OrchError, Orchestrator, load_config_text

    device = _special_files(tmp_path)["a character device"]
    mark = tmp_path / "ran"
    orch = Orchestrator(load_config_text(
        f"environments: {{local: {{layers: []}}}}\naudit: {{path: {device}}}\n"))
    try:
        with pytest.raises(OrchError, match="enabled: false"):
            orch.run("local", command=f"touch {mark}")
    finally:
        orch.close()
    assert stat.S_IMODE(device.stat().st_mode) == 0o666 and not mark.exists()


def test_a_relative_xdg_state_home_is_ignored(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    """As the XDG spec says: the log went to ./state/orch_magics/ of whatever the working
    directory was, one log per folder a user ran orch from."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_STATE_HOME", "state")
    assert default_audit_path() == f"{tmp_path}/.local/state/orch_magics/audit.jsonl"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "abs"))
    assert default_audit_path() == f"{tmp_path}/abs/orch_magics/audit.jsonl"


def test_appends_of_this_process_chain_to_what_others_wrote_in_between(tmp_path: Path) -> None:
    """This process chains to its own last record without reading the file back only while
    the file is as it left it: another process's records, a hand-made tear or the log moved
    away and a new one begun are each read, so the chain holds."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(str(path))
    log.append({"event": "start", "id": "mine-1"})
    subprocess.run([sys.executable, "-c", WRITER, str(path), "other", "3"], check=True)
    log.append({"event": "start", "id": "mine-2"})
    assert verify(str(path)) == (5, None)
    assert [r["id"] for r in log.records()] == ["mine-1", "other-0", "other-1", "other-2",
                                                "mine-2"]
    path.rename(tmp_path / "old.jsonl")  # rotated: the next record begins a new chain
    log.append({"event": "start", "id": "mine-3"})
    assert verify(str(path)) == (1, None)
    assert next(log.records())["prev"] == "0" * 64
    path.write_text("not a log\n")  # what is there now is read, not remembered
    with pytest.raises(OrchError, match="is not an audit log"):
        log.append({"event": "start", "id": "mine-4"})


def test_a_text_file_named_as_the_log_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    """The config file itself named as `audit: {path: orch.yaml}`: records were glued onto it
    (the next load failed at a YAML error) and its mode was changed to 0600."""
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(f"environments: {{local: {{layers: []}}}}\naudit: {{path: {cfg}}}\n")
    os.chmod(cfg, 0o644)
    before = cfg.read_bytes()
    run = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run", "local",
                          "--", "echo", "ran"], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "ran" not in run.stdout
    assert f"{cfg} is not an audit log" in run.stderr and "Traceback" not in run.stderr
    assert cfg.read_bytes() == before and stat.S_IMODE(cfg.stat().st_mode) == 0o644
    listed = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "audit"],
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode != 0 and f"of {cfg} is an audit record" in listed.stderr


#: Appends one record with the file-size limit 100 bytes past the log's end (a disk that
#: fills up mid-record: the kernel writes what fits, then refuses the rest).
FULL_DISK = """
import resource, signal, sys
from orch_magics.audit import AuditLog
from orch_magics.errors import OrchError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    AuditLog(sys.argv[1]).append({"event": "start", "id": "full", "command": "x" * 500})
except OrchError as exc:
    print(exc)
"""


def test_a_record_the_disk_has_no_room_for_leaves_the_log_as_it_was(tmp_path: Path) -> None:
    """A record cut short stayed in the file: from then on the log never verified again (the
    torn line read as tampering) though nobody had touched it."""
    path = tmp_path / "audit.jsonl"
    _write(path, 3)
    before = path.read_bytes()
    out = subprocess.run([sys.executable, "-c", FULL_DISK, str(path), str(len(before) + 100)],
                         capture_output=True, text=True, timeout=60)
    assert f"cannot write the audit log {path}: File too large" in out.stdout, out
    assert path.read_bytes() == before
    _write(path, 1)
    assert verify(str(path)) == (4, None)


def test_a_log_whose_first_record_was_deleted_or_torn_is_still_appended_to(
        tmp_path: Path) -> None:
    """The check for "no audit log" must not take a damaged log for one: every run would be
    refused, and the advice to move the file away would hide what verify says (review)."""
    path = tmp_path / "audit.jsonl"
    _write(path, 3)
    lines = path.read_bytes().splitlines(keepends=True)
    for damaged in (b"".join(lines[1:]), lines[0][:20] + b"\n" + b"".join(lines[1:])):
        path.write_bytes(damaged)
        _write(path, 1)
        n, problem = verify(str(path))
        assert n == 1 and problem is not None  # line 1 is named, appending went on
        assert len(path.read_bytes().splitlines()) == len(damaged.splitlines()) + 1


def test_a_log_whose_records_are_long_is_taken_for_one(tmp_path: Path) -> None:
    """A record holds the whole command (a cell's script): the first and last lines of a log
    may pass any window read for the check that a file is a log (review of that check)."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(str(path))
    log.append({"event": "start", "id": "long", "command": "x" * 300_000})
    log.append({"event": "start", "id": "longer", "command": "y" * 700_000})
    log.append({"event": "end", "id": "long"})
    assert verify(str(path)) == (3, None)


def test_a_log_another_user_owns_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    """safety14: a log owned by another user (who could read it, and rewrite its chain so
    that `verify` still passes) was appended to without a word."""
    from orch_magics import Orchestrator, load_config_text
    from orch_magics.errors import OrchError

    path = tmp_path / "audit.jsonl"
    AuditLog(str(path)).append({"event": "start", "id": "x"})
    os.chown(path, 65534, 65534)  # the tests run as root: any other user does
    before = path.read_bytes()
    with pytest.raises(OrchError, match=f"the audit log {path} belongs to user (nobody|65534), "
                                        f"who could read and rewrite it: nothing was written"):
        AuditLog(str(path)).append({"event": "start", "id": "y"})
    mark = tmp_path / "ran"
    with Orchestrator(load_config_text(f"environments: {{local: []}}\naudit: {{path: '{path}'}}\n"
                                       )) as orch, pytest.raises(OrchError, match="belongs to"):
        orch.run("local", command=f"touch {mark}")
    assert path.read_bytes() == before and not mark.exists()


@pytest.mark.parametrize("folder_is", ["theirs", "open to all"])
def test_a_link_at_the_log_s_path_in_a_folder_another_user_may_write_is_not_followed(
        tmp_path: Path, folder_is: str) -> None:
    """safety20: in a folder another user owns (or anyone may write, with no sticky bit),
    their symbolic link at the log's path was followed, and the log created as root where it
    pointed (/etc/nologin, say). Such a folder is refused before anything is opened; in a
    sticky one (/tmp), a link of another user's is not followed."""
    folder, target = tmp_path / "logs", tmp_path / "elsewhere" / "nologin"
    folder.mkdir()
    target.parent.mkdir()
    (folder / "audit.jsonl").symlink_to(target)
    if folder_is == "theirs":
        os.chown(folder, 65534, 65534)
    else:
        folder.chmod(0o777)
    with pytest.raises(OrchError, match=f"the audit log {folder / 'audit.jsonl'} is in "
                                        f"{folder}, which (belongs to user nobody|any user "
                                        f"may write \\(mode 0777, no sticky bit\\)): nothing"):
        AuditLog(str(folder / "audit.jsonl")).append({"event": "start", "id": "x"})
    assert not target.exists()
    os.chown(folder, 0, 0)
    folder.chmod(0o1777)  # sticky, as /tmp: the link is theirs, so not followed
    os.lchown(folder / "audit.jsonl", 65534, 65534)
    with pytest.raises(OrchError, match="is a symbolic link of user nobody's, who could point "
                                        "it at any file: nothing was written"):
        AuditLog(str(folder / "audit.jsonl")).append({"event": "start", "id": "x"})
    assert not target.exists()
    os.lchown(folder / "audit.jsonl", 0, 0)  # one's own link is followed
    AuditLog(str(folder / "audit.jsonl")).append({"event": "start", "id": "x"})
    assert verify(str(target)) == (1, None)


@pytest.mark.parametrize("way", ["their link", "their folder", "a folder open to all",
                                 "a group's folder"])
def test_no_folder_is_made_through_a_place_that_is_not_ours(tmp_path: Path, way: str) -> None:
    """safety24: the log's missing folders were made, as root, through another user's link
    (into root's private folder) or inside another user's folder, before the place was
    refused; and a folder a group root is not in may write was taken (a member removed the
    log, `verify` then said intact)."""
    shared, target = tmp_path / "shared", tmp_path / "private"
    shared.mkdir()
    target.mkdir(mode=0o700)
    if way == "their link":
        (shared / "a").symlink_to(target)
        os.lchown(shared / "a", 65534, 65534)
    elif way == "their folder":
        os.chown(shared, 65534, 65534)
    elif way == "a folder open to all":
        shared.chmod(0o777)
    else:
        os.chown(shared, 0, 65534)
        shared.chmod(0o775)
    path = shared / "a" / "new" / "audit.jsonl"
    with pytest.raises(OrchError, match="nothing was written to it"):
        AuditLog(str(path)).append({"event": "start", "id": "x"})
    assert list(target.iterdir()) == [] and (way == "their link" or not (shared / "a").exists())


def test_verify_says_a_chain_another_user_could_have_rewritten_proves_nothing(
        tmp_path: Path) -> None:
    """safety20: `orch audit verify` said "chain intact" of a log another user owns or
    anyone may write, which the chain cannot vouch for."""
    path = tmp_path / "audit.jsonl"
    AuditLog(str(path)).append({"event": "start", "id": "x"})

    def verified() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "orch_magics.cli", "audit", "verify",
                               "--file", str(path)], capture_output=True, text=True, timeout=60,
                              cwd=tmp_path)
    assert verified().stdout == f"ok: 1 records in {path}, chain intact\n"
    path.chmod(0o666)
    said = verified()
    assert (said.returncode, said.stdout) == (1, ""), said
    assert said.stderr == (f"orch: {path}: the chain is intact, but the log may be written by "
                           f"others (mode 0666): whoever could write it could have rewritten "
                           f"the chain so that it still verifies\n")
    path.chmod(0o600)
    os.chown(path, 65534, 65534)
    assert "the log belongs to user nobody: whoever" in verified().stderr


def test_a_folder_above_the_log_s_another_user_may_swap_is_refused(tmp_path: Path) -> None:
    """safety21: only the log's own folder was judged: under a 0777 folder with no sticky
    bit, another user replaced the log's folder with a link of theirs, and the next records
    began a new chain there (`verify` said intact). Every folder on the way is judged, and a
    link of another user's on the way is not followed."""
    shared, other = tmp_path / "shared", tmp_path / "other"
    (shared / "logs").mkdir(parents=True)
    other.mkdir()
    shared.chmod(0o777)
    log = shared / "logs" / "audit.jsonl"
    with pytest.raises(OrchError, match=f"the audit log {log} is in {shared / 'logs'}, under "
                                        f"{shared}, any user may write \\(mode 0777, no sticky "
                                        f"bit\\): nothing was written"):
        AuditLog(str(log)).append({"event": "start", "id": "x"})
    shared.chmod(0o755)
    (shared / "logs").rmdir()
    (shared / "logs").symlink_to(other)
    os.lchown(shared / "logs", 65534, 65534)
    with pytest.raises(OrchError, match=f"is in {shared / 'logs'}, which is a symbolic link of "
                                        f"user nobody's: nothing"):
        AuditLog(str(log)).append({"event": "start", "id": "x"})
    assert not (other / "audit.jsonl").exists()
    os.lchown(shared / "logs", 0, 0)  # one's own link is followed
    AuditLog(str(log)).append({"event": "start", "id": "x"})
    assert verify(str(other / "audit.jsonl")) == (1, None)
    (mine := tmp_path / "mine").symlink_to(shared / "logs")  # review40: a link of yours into
    shared.chmod(0o777)  # a tree another user may swap: the place it leads to is judged too
    with pytest.raises(OrchError, match=f"the audit log {mine / 'audit.jsonl'} is reached "
                                        f"through {shared}, which any user may "
                                        f"write \\(mode 0777, no sticky bit\\)"):
        AuditLog(str(mine / "audit.jsonl")).append({"event": "start", "id": "y"})

