"""1,000,000 lines through `%%orch local` vs `%%bash` on a real "Python 3 (orch)" kernel.

Run: .venv/bin/python benchmarks/bench_magics.py [LINES]

Cells are sent as JupyterLab sends them (allow_stdin=True): %%orch shows a bounded tail updated
~10×/s, %%bash streams every line. For each cell it prints the wall time (execute → idle), the
iopub traffic and its worst 1-second window against jupyter_server's rate limits (1,000 msg/s,
1 MB/s: above them the server drops output), the delay before the next cell starts, and the
kernel's memory. It also runs %%orch the way nbclient does (allow_stdin=False), where the whole
output must land in the notebook.
"""

from __future__ import annotations

import json
import sys
import time
from collections import deque

from jupyter_client.manager import start_new_kernel

from orch_magics.kernelspec import install

MSG_LIMIT = 1000  # iopub messages per second (jupyter_server default)
BYTE_LIMIT = 1_000_000  # iopub data bytes per second


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def run_cell(kc, code: str, allow_stdin: bool, timeout: float = 600) -> dict:
    t0 = time.monotonic()
    msg_id = kc.execute(code, allow_stdin=allow_stdin)
    msgs = 0
    data_bytes = 0
    stream_bytes = 0
    window: deque[tuple[float, int]] = deque()
    worst_msgs = worst_bytes = 0
    error = None
    last_text = ""
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "status":
            if msg["content"]["execution_state"] == "idle":
                break
            continue
        if kind == "execute_input":
            continue
        now = time.monotonic()
        size = len(json.dumps(msg["content"]))
        msgs += 1
        data_bytes += size
        window.append((now, size))
        while window and window[0][0] < now - 1.0:
            window.popleft()
        worst_msgs = max(worst_msgs, len(window))
        worst_bytes = max(worst_bytes, sum(s for _, s in window))
        if kind == "stream":
            stream_bytes += len(msg["content"]["text"])
        elif kind in ("display_data", "update_display_data"):
            last_text = msg["content"]["data"].get("text/plain", "")
        elif kind == "error":
            error = msg["content"]["ename"]
    wall = time.monotonic() - t0
    return dict(wall=wall, msgs=msgs, bytes=data_bytes, stream_bytes=stream_bytes,
                worst_msgs=worst_msgs, worst_bytes=worst_bytes, error=error,
                last_display=last_text)


def next_cell_delay(kc) -> float:
    t0 = time.monotonic()
    reply = kc.execute_interactive("1 + 1", timeout=60, output_hook=lambda m: None)
    assert reply["content"]["status"] == "ok"
    return time.monotonic() - t0


def evaluate(kc, expr: str) -> str:
    out: list[str] = []

    def hook(msg: dict) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])

    kc.execute_interactive(f"print({expr})", timeout=120, output_hook=hook)
    return "".join(out).strip()


def main(lines: int = 1_000_000) -> int:
    install(prefix=sys.prefix)
    km, kc = start_new_kernel(kernel_name="orch")
    pid = km.provisioner.process.pid
    try:
        run_cell(kc, "%orch load --demo", False)
        base = rss_kib(pid)
        rows = []
        orch = run_cell(kc, f"%%orch local --out big\nseq 1 {lines}", True)
        orch["next"] = next_cell_delay(kc)
        orch["rss"] = rss_kib(pid) - base
        orch_lines = int(evaluate(kc, "big.stdout_buffer.line_count"))
        last_line = evaluate(kc, "big.stdout_buffer.tail(16).split()[-1].decode()")
        spilled = evaluate(kc, "big.stdout_buffer.spilled")
        rows.append(("%%orch local (front end)", orch))
        bash = run_cell(kc, f"%%bash\nseq 1 {lines}", True)
        bash["next"] = next_cell_delay(kc)
        bash["rss"] = rss_kib(pid) - base
        rows.append(("%%bash (front end)", bash))
        headless = run_cell(kc, f"%%orch local --out big2\nseq 1 {lines}", False)
        headless["next"] = next_cell_delay(kc)
        headless["rss"] = rss_kib(pid) - base
        rows.append(("%%orch local (nbclient mode)", headless))
        hwm = rss_kib(pid, "VmHWM")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)

    print(f"{lines:,} lines of `seq` on a real kernel\n")
    print(f"{'cell':30} {'wall s':>7} {'iopub msgs':>10} {'iopub MB':>9} "
          f"{'worst msg/s':>11} {'worst MB/s':>10} {'next cell s':>11} {'ΔRSS MiB':>8}")
    for name, r in rows:
        print(f"{name:30} {r['wall']:7.2f} {r['msgs']:10d} {r['bytes'] / 1e6:9.2f} "
              f"{r['worst_msgs']:11d} {r['worst_bytes'] / 1e6:10.2f} {r['next']:11.3f} "
              f"{r['rss'] / 1024:8.1f}")
    print()
    tail_lines = orch["last_display"].count("\n")
    print(f"%%orch shown in the cell: {tail_lines} lines; last display line: "
          f"{orch['last_display'].splitlines()[0]!r} … {orch['last_display'].splitlines()[-1]!r}")
    print(f"result: {orch_lines:,} lines, last {last_line!r}, spilled to disk: {spilled}")
    print(f"nbclient mode: {headless['stream_bytes']:,} stream bytes in the notebook "
          f"(expected {sum(len(str(i)) + 1 for i in range(1, lines + 1)):,})")
    print(f"time ratio %%orch / %%bash (front end): {orch['wall'] / bash['wall']:.2f}")
    print(f"kernel peak RSS (VmHWM): {hwm / 1024:.1f} MiB")
    ok = (orch_lines == lines and last_line == str(lines)
          and orch["worst_msgs"] < MSG_LIMIT and orch["worst_bytes"] < BYTE_LIMIT
          and orch["next"] < 1.0 and orch["error"] is None)
    print("\nwithin the server's rate limits, complete result, next cell < 1 s:", ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
