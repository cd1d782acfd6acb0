"""%orch get / put / forward / forwards / forward stop in a real "Python 3 (orch)" kernel
executed by nbclient (no front end: no progress output at all), and the same get in
JupyterLab in Chromium, where it shows an ipywidgets progress bar that ends at 100%."""

from __future__ import annotations

import http.server
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from notebook_cells import notebook_with, run_notebook, shown_error, stream_text
from transfers import receiving, sparse

WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def http_server() -> Iterator[int]:
    """An HTTP server on 127.0.0.1 answering every GET with `forwarded-ok`."""
    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            body = b"forwarded-ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_copies_and_forwards_in_a_kernel_under_nbclient(orch_kernel: str, tmp_path: Path,
                                                        http_server: int) -> None:
    src = tmp_path / "data file.bin"
    src.write_bytes(os.urandom(5_000_000))
    os.chmod(src, 0o640)
    there, back = tmp_path / "there", tmp_path / "back"
    there.mkdir()
    nb = notebook_with(
        "%orch load --demo",
        f"sent = %orch put local '{src}' '{there}/'",
        f"got = %orch get local '{there}/{src.name}' '{back}'",
        "print(type(sent).__name__, sent.bytes, got.sha256 == sent.sha256)",
        f"fwd = %orch forward local {http_server}",
        "import urllib.request\nprint(urllib.request.urlopen(fwd.url, timeout=10).read().decode())",
        "%orch forwards",
        "%orch forward stop {fwd.id}",
        "%orch forwards",
    )
    run_notebook(nb, orch_kernel, timeout=120)
    put, get, check, opened, used, listed, stopped, empty = nb.cells[1:]
    assert stream_text(put).startswith(f"put file {src} → local:{there}/")
    assert stream_text(get).startswith(f"got file local:{there}/{src.name} → {back}")
    assert back.read_bytes() == src.read_bytes() and os.stat(back).st_mode & 0o777 == 0o640
    assert stream_text(check) == "Transferred 5000000 True\n"
    # headless: no widget, no terminal bar, nothing on stderr
    for cell in (put, get):
        assert stream_text(cell, "stderr") == ""
        assert not any(WIDGET in o.get("data", {}) for o in cell.outputs)
        assert "\r" not in stream_text(cell)
    assert f"→ localhost:{http_server}" in stream_text(opened)
    assert stream_text(used) == "forwarded-ok\n"
    assert f"localhost:{http_server}" in stream_text(listed) + str(listed.outputs)
    assert stream_text(stopped).startswith("closed forward f1")
    assert "no open forwards" in stream_text(empty) + str(empty.outputs)


def test_copy_and_forward_errors_are_one_clean_line_named_as_the_docs_do(
        orch_kernel: str, tmp_path: Path) -> None:
    """What a copy or a port met is a TransferError / ForwardError (api.md, troubleshooting.md);
    a mistake on the line is a UsageError. Before, all of them said UsageError."""
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    config = tmp_path / "cfg" / "orch.yaml"
    config.parent.mkdir()
    config.write_text("environments:\n  local: {layers: []}\n  shut: {layers: [{type: ssh, "
                      f"config: {{host: 127.0.0.1, port: {closed}}}}}]}}\n")
    nb = notebook_with(f"%orch load {config}", f"%orch get local /nonexistent/nope '{tmp_path}/x'",
                       f"%orch put local '{tmp_path}/absent' /tmp/x",
                       f"%orch forward local {closed}", "%orch forward local http",
                       "%orch forward stop f99", "%orch get --help",
                       # mistakes on the line, as `orch cp` / `orch forward` call them usage
                       "%orch forward local 70000", "%orch forward local 80 --host 'a b'",
                       f"%orch get local '' '{tmp_path}/x'", "%orch put local '' /tmp/x",
                       # a hop that cannot be reached is what the copy met, not the line
                       f"%orch get shut /etc/hostname '{tmp_path}/x'", "%orch forward shut 80")
    run_notebook(nb, orch_kernel, allow_errors=True)
    got, put, refused, word, unknown, helped, *typed, unreached, unforwarded = (
        shown_error(c) for c in nb.cells[1:])
    assert [said.split(":")[0] for said in typed] == ["UsageError"] * 4, typed
    assert typed[2] == ("UsageError: the remote path after local is empty: give a file or a "
                        "folder\n")
    for said in (unreached, unforwarded):
        assert said.startswith("ConnectError: hop 1 (ssh 127.0.0.1): ") and \
            said.count("\n") == 1, said
    assert got == (f"TransferError: get local:/nonexistent/nope → {tmp_path}/x failed: no such "
                   f"file or directory: /nonexistent/nope; nothing was kept\n")
    assert put.startswith("TransferError: ") and f"{tmp_path}/absent" in put, put
    assert refused.startswith(f"ForwardError: localhost:{closed} is not reachable"), refused
    assert word == "UsageError: PORT must be a number, got 'http'\n"
    assert unknown.startswith("UsageError: no forward 'f99'"), unknown
    assert all(len(said.splitlines()) == 1 for said in (got, put, refused, word, unknown))
    assert list(tmp_path.iterdir()) == [config.parent]
    helps = stream_text(nb.cells[6])
    for words in ("the environment to copy from", "where to put it here",
                  "copy in protected environment ENV without asking"):
        assert words in " ".join(helps.split()), helps


def test_interrupting_a_copy_in_a_kernel_is_one_line_and_keeps_nothing(orch_kernel: str,
                                                                        tmp_path: Path) -> None:
    """Before, the kernel showed a KeyboardInterrupt traceback from inside orch_magics."""
    src = sparse(tmp_path / "big", 2_000_000_000)
    dest = tmp_path / "dest"
    dest.mkdir()
    km, kc = start_new_kernel(kernel_name=orch_kernel)
    try:
        kc.execute_interactive("%orch load --demo", timeout=60)
        msg_id = kc.execute(f"%orch get local '{src}' '{dest}'")
        deadline = time.monotonic() + 60
        while not receiving(km.provisioner.pid, dest):  # the kernel's unnamed file there
            assert time.monotonic() < deadline, "the copy never began"
            time.sleep(0.02)
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=60)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = kc.get_shell_msg(timeout=60)
        content = reply["content"]
        assert (content["status"], content["ename"], content["evalue"]) == (
            "error", "CopyInterrupted", "interrupted; nothing was kept")
        assert content["traceback"] == ["CopyInterrupted: interrupted; nothing was kept"]
        assert list(dest.iterdir()) == []
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_what_a_cell_printed_before_a_copy_shows_above_its_progress(orch_kernel: str,
                                                                   tmp_path: Path) -> None:
    """magics14: `print()` before `%orch get` in the same cell showed below the copy's line
    (the print waited in the stream's buffer while the progress display went out)."""
    from lab_kernel import lab_kernel

    (tmp_path / "orch.yaml").write_text("environments: {here: []}\naudit: {enabled: false}\n")
    (tmp_path / "src").write_bytes(b"x" * 1000)
    with lab_kernel(orch_kernel) as kernel:
        kernel.run("load", f"%orch load {tmp_path / 'orch.yaml'}")
        reply = kernel.run("cp", f"print('before the copy')\n"
                                 f"%orch get here {tmp_path / 'src'} {tmp_path / 'back'}")
        assert reply["status"] == "ok", kernel.text("cp")
        said = kernel.text("cp")
        assert said.index("before the copy") < said.index(f"{tmp_path / 'back'}"), said
