"""Fan-out to many sshd on loopback addresses, side by side in one run (run as root).

    .venv/bin/python benchmarks/bench_fleet.py [--targets 100] [--repeat 3] [--no-pssh]
                                               [--no-ansible]

Starts N sshd (127.0.1.1–N, one each, the tests' fleet fixture; the login user's shell is
/bin/sh so no rc file is read), then runs `uname -n; cat /proc/loadavg` on all N with:
- orch CLI, cold: `orch run web probe --parallel N` as a new process each time (its bytecode
  cached, as for an installed package: see `orch_cli`);
- orch API: `Orchestrator.run` in this process, first (cold) and second (warm, pooled) run;
- parallel-ssh: Debian `pssh` (`parallel-ssh -p N -i`), installed with apt here if missing;
- Ansible ad-hoc `-m raw -f N` (ansible-core in its own venv under /tmp, made here if missing;
  `ControlMaster=no` so every repeat is cold like the others).
Each tool must print N hostnames back. Besides wall time, each tool's CPU is reported on both
sides: its own processes (the client) and the N sshd (what they reaped: the per-connection
processes and the sessions), with the load average before and after. It then measures, in
this process, the memory (RSS),
file descriptors and CPU time one more connected target costs the controller (a pooled
connection stays open after its run), which docs/fleets.md scales to 1,000 and 10,000 targets.
Neither pssh nor Ansible is a dependency of the project or of its tests.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.fleet import USER, SSHFleet  # noqa: E402
from orch_magics import Orchestrator, load_config_text  # noqa: E402

COMMAND = "uname -n; cat /proc/loadavg"
ANSIBLE_VENV = Path("/tmp/orch-bench-ansible")


def orch_config(fleet: SSHFleet, n: int) -> str:
    return (f"environments:\n  web:\n    layers:\n      - {{type: ssh, config: "
            f"{{host: \"127.0.1.[1:{n}]\", {fleet.ssh_config()}}}}}\n"
            f"services:\n  probe: {{command: '{COMMAND}'}}\n")


class Sample(NamedTuple):
    """One run of a tool: wall time, CPU of its own processes, CPU of the fleet's sshd."""

    wall: float
    client: float
    server: float


#: The fleet's sshd listeners, whose reaped children's CPU is the server side of a run.
SERVERS: list[int] = []


def server_cpu() -> float:
    """CPU seconds the sshd listeners and every child they reaped have used so far."""
    total = 0
    for pid in SERVERS:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], n: int, **kw: object) -> Sample:
    """A command that must succeed and print `uname -n` back n times, measured."""
    cpu0, srv0, t0 = children_cpu(), server_cpu(), time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, **kw)  # type: ignore[call-overload]
    elapsed = time.perf_counter() - t0
    time.sleep(0.2)  # let the listeners reap the last connections
    if done.returncode != 0 or done.stdout.count(os.uname().nodename) < n:
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}): "
                           f"{done.stdout[-400:]} {done.stderr[-400:]}")
    return Sample(elapsed, children_cpu() - cpu0, server_cpu() - srv0)


# ---- the tools ------------------------------------------------------------------------------------
def orch_cli(fleet: SSHFleet, n: int, work: Path) -> Callable[[], Sample]:
    """A new `orch` process each time, with its bytecode cached as an installed package has
    it (pip compiles at install; run from a source tree under PYTHONDONTWRITEBYTECODE=1, as
    here, every start compiled ~90 modules): the cache is filled by one untimed run."""
    cfg = work / "orch.yaml"
    cfg.write_text(orch_config(fleet, n))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": str(work / "pyc")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    argv = [sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run", "web", "probe",
            "--parallel", str(n)]
    timed(argv, n, env=env)
    return lambda: timed(argv, n, env=env)


def pssh(fleet: SSHFleet, n: int, work: Path) -> Callable[[], Sample]:
    if shutil.which("parallel-ssh") is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "pssh"], check=True,
                       capture_output=True)
    hosts = work / "pssh-hosts"
    hosts.write_text("".join(f"127.0.1.{i}:{fleet.port}\n" for i in range(1, n + 1)))
    options = (f"-i {fleet.key} -o UserKnownHostsFile={fleet.known_hosts} "
               "-o StrictHostKeyChecking=yes -o BatchMode=yes")
    argv = ["parallel-ssh", "-h", str(hosts), "-l", USER, "-p", str(n), "-t", "60",
            "-x", options, "-i", COMMAND]
    return lambda: timed(argv, n)


def ansible(fleet: SSHFleet, n: int, work: Path) -> Callable[[], Sample]:
    tool = ANSIBLE_VENV / "bin" / "ansible"
    if not tool.exists():
        subprocess.run([sys.executable, "-m", "venv", str(ANSIBLE_VENV)], check=True)
        subprocess.run([str(ANSIBLE_VENV / "bin" / "pip"), "install", "-q", "ansible-core"],
                       check=True)
    inventory = work / "ansible-hosts.ini"
    inventory.write_text(f"[fleet]\n127.0.1.[1:{n}]\n[fleet:vars]\nansible_port={fleet.port}\n"
                         f"ansible_user={USER}\n")
    env = {**os.environ, "ANSIBLE_SSH_ARGS": "-o ControlMaster=no",
           "ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_LOCAL_TEMP": str(work / "ansible-tmp")}
    argv = [str(tool), "fleet", "-i", str(inventory), "-m", "raw", "-a", COMMAND, "-f", str(n),
            "--private-key", str(fleet.key),
            f"--ssh-common-args=-o UserKnownHostsFile={fleet.known_hosts}"]
    return lambda: timed(argv, n, env=env)


# ---- orch in this process: warm runs and the cost of one connected target -------------------------
def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def orch_api(fleet: SSHFleet, n: int, repeat: int) -> dict[str, float]:
    """Cold and warm in-process runs, and memory / fds / CPU per connected target."""
    with Orchestrator(load_config_text(orch_config(fleet, n))) as orch:
        first = orch.run("web", "probe", limit="127.0.1.1")  # imports and the loop, 1 target
        assert first.ok
        rss0, fd0, cpu0 = rss_kib(), fds(), cpu()
        t0 = time.perf_counter()
        cold = orch.run("web", "probe", parallel=n)
        cold_s = time.perf_counter() - t0
        assert cold.ok and len(cold) == n, cold.summary()
        rss1, fd1, cpu1 = rss_kib(), fds(), cpu()
        warm = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            again = orch.run("web", "probe", parallel=n)
            warm.append(time.perf_counter() - t0)
            assert again.ok and len(again) == n
        cpu_warm = (cpu() - cpu1) / repeat
    new = n - 1  # 127.0.1.1 was connected before the baseline
    return {"cold": cold_s, "warm": statistics.median(warm), "warm_min": min(warm),
            "cpu_cold": cpu1 - cpu0, "cpu_warm": cpu_warm,
            "rss_kib_per_target": (rss1 - rss0) / new, "fds_per_target": (fd1 - fd0) / new,
            "cpu_ms_per_connect": 1000 * (cpu1 - cpu0) / new,
            "cpu_ms_per_warm_run": 1000 * cpu_warm / n, "fds_base": fd0, "rss_base_mib": rss0 / 1024}


def report(n: int, repeat: int, rows: dict[str, Sample], api: dict[str, float]) -> bool:
    """Print the table and the per-target costs; whether every goal of issue 12 is met."""
    print(f"\n{n} targets, `{COMMAND}`, median of {repeat} (orch API cold: one run); "
          f"load average {api['load_before']:.1f} before, {os.getloadavg()[0]:.1f} after\n")
    print("| tool | seconds | vs orch CLI cold | client CPU s | sshd CPU s |\n"
          "| --- | --- | --- | --- | --- |")
    base = rows["orch CLI (cold)"].wall
    for name, row in rows.items():
        server = "–" if math.isnan(row.server) else f"{row.server:.2f}"
        print(f"| {name} | {row.wall:.2f} | {row.wall / base:.1f}× | {row.client:.2f} | "
              f"{server} |")
    print(f"\ncontroller, per connected target: {api['rss_kib_per_target']:.0f} KiB RSS, "
          f"{api['fds_per_target']:.2f} fds, {api['cpu_ms_per_connect']:.1f} ms CPU to connect "
          f"(key exchange + auth + run), {api['cpu_ms_per_warm_run']:.2f} ms CPU per warm run; "
          f"base {api['rss_base_mib']:.0f} MiB RSS, {api['fds_base']:.0f} fds")
    goals = [("cold ≥ 3× faster than pssh", f"parallel-ssh -p {n}", 3.0),
             ("cold ≥ 6× faster than Ansible raw", f"ansible -m raw -f {n}", 6.0)]
    ok = api["warm"] <= 0.5
    print(f"goal warm ≤ 0.5 s: {'met' if ok else 'MISSED'} ({api['warm']:.2f} s)")
    for goal, name, factor in goals:
        if name in rows:
            met = rows[name].wall / base >= factor
            ok &= met
            print(f"goal {goal}: {'met' if met else 'MISSED'} ({rows[name].wall / base:.1f}×)")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-pssh", action="store_true")
    ap.add_argument("--no-ansible", action="store_true")
    args = ap.parse_args()
    n = args.targets
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8 * n + 256)), hard))
    load_before = os.getloadavg()[0]
    with SSHFleet(count=n + 1) as fleet, tempfile.TemporaryDirectory() as tmp:  # last: bad key
        SERVERS[:] = [server.pid for server in fleet.servers]
        work = Path(tmp)
        tools: dict[str, Callable[[], Sample]] = {"orch CLI (cold)": orch_cli(fleet, n, work)}
        if not args.no_pssh:
            tools[f"parallel-ssh -p {n}"] = pssh(fleet, n, work)
        if not args.no_ansible:
            tools[f"ansible -m raw -f {n}"] = ansible(fleet, n, work)
        samples: dict[str, list[Sample]] = {name: [] for name in tools}
        for _ in range(args.repeat):  # interleaved, so load on the machine hits all alike
            for name, tool in tools.items():
                samples[name].append(tool())
        api = orch_api(fleet, n, args.repeat)
    rows = {name: Sample(*(statistics.median(x) for x in zip(*runs, strict=True)))
            for name, runs in samples.items()}
    # the pooled connections' sshd are still running: their CPU is not reaped yet, not shown
    rows["orch API, first run in process"] = Sample(api["cold"], api["cpu_cold"], math.nan)
    rows["orch API, warm (pooled)"] = Sample(api["warm"], api["cpu_warm"], math.nan)
    return 0 if report(n, args.repeat, rows, {**api, "load_before": load_before}) else 1


if __name__ == "__main__":
    sys.exit(main())
