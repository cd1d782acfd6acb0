"""What users feel: SIZE bytes through the orch CLI, orch.run() and %%orch vs the raw tools.

    .venv/bin/python benchmarks/bench_frontends.py [--size BYTES] [--chains local,1hop,2hop,docker]
        [--magics] [--magic-size BYTES] [--tree DIR] [--repeat N]

Run as root: the ssh chains start the test lab (loopback sshd, bastion + inner host in network
namespaces), the docker chain also the test dockerd (container `orch-test`; the lab's servers
share this filesystem, so the engine's socket is the inner host's docker socket). For each
chain, back to back in one run, `head -c SIZE /dev/zero` is counted by `wc -c` through:
- the raw tool: `head | wc -c`, `ssh orch-loop 'head …'`, `ssh -J orch-bastion orch-inner 'head …'`,
  `ssh -J orch-bastion orch-inner 'docker -H unix://SOCK exec orch-test head …'`;
- `orch -c CONFIG run ENV -- head …` piped to `wc -c` (a fresh interpreter, as a user runs it);
- `Orchestrator.run()` in a fresh interpreter (the RunResult holds every byte), with the peak RSS
  growth of that process during the run;
- with --magics, a `%%orch ENV` cell on a real kernel sent as JupyterLab sends it
  (allow_stdin=True) and as nbclient does (allow_stdin=False), with the kernel's peak RSS growth.
Then cold starts, best of 5: `orch run local -- true` vs `sh -c true`, `orch run loop -- true`
vs `ssh orch-loop true` and `orch run deep -- true` vs the raw tools' `docker exec … true`.
Ratios are raw time ÷ orch time (higher is better; 1.0× = as fast as the raw tool). Every orch
run imports orch_magics from the checkout holding this script, or with `--tree DIR` from another
one (DIR holding `orch_magics/`, or its `src/`), to put a before/after of a change side by side;
the report names the module it measured. `--chains` selects chains; `--magic-size` sets the
bytes the cells print (raw and CLI are then re-timed at that size). `--repeat N` measures every
chain N times and reports medians (on a machine whose speed wanders, one round can be off by
half).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[1:1] = [str(REPO), str(REPO / "tests")]  # after this directory (bench_magics)

from fixtures.dockerd import Engine, start_engine, stop_engine  # noqa: E402
from fixtures.sshd import SSHLab  # noqa: E402

CLI = "import sys; from orch_magics.cli import main; sys.exit(main(sys.argv[1:]))"
API = """
import json, sys, time
import orch_magics
from orch_magics import Orchestrator, load_config

def kib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))

cfg, env, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
orch = Orchestrator(load_config(cfg))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset VmHWM: the peak below is the run's, not the imports'
base = kib("VmRSS")
t = time.monotonic()
r = orch.run(env, command=["head", "-c", str(size), "/dev/zero"])
took = time.monotonic() - t
print(json.dumps({"seconds": took, "bytes": r.stdout_buffer.size,
                  "rss_kib": kib("VmHWM") - base, "module": orch_magics.__file__}))
"""
#: Run in the kernel before a measured cell: free memory goes back to the OS, so the peak RSS
#: growth that follows is the cell's.
TRIM = "import ctypes, gc; gc.collect(); ctypes.CDLL('libc.so.6').malloc_trim(0)"
CHAINS = ("local", "1hop", "2hop", "docker")
ENV_OF = {"local": "local", "1hop": "loop", "2hop": "two", "docker": "deep"}
RAW_TOOL = {"local": "head … | wc -c", "1hop": "ssh orch-loop 'head …' | wc -c",
            "2hop": "ssh -J orch-bastion orch-inner 'head …' | wc -c",
            "docker": "ssh -J orch-bastion orch-inner 'docker -H unix://SOCK exec orch-test "
                      "head …' | wc -c"}
MIB = 1024
#: The two ways a %%orch cell is sent: as JupyterLab sends it, and as nbclient/papermill do.
MODES = ("front end", "nbclient")


@dataclass
class Timing:
    """One orch path's wall time and, where measured, peak RSS growth (KiB) and iopub bytes."""

    seconds: float
    rss_kib: int | None = None
    iopub: int | None = None
    module: str = ""
    #: raw ÷ orch time against its own round's raw time (set when rounds are combined)
    ratio: float | None = None


@dataclass
class ChainResult:
    """One chain's raw time and orch timings; the cells' raw and CLI times at --magic-size."""

    chain: str
    raw: float
    orch: dict[str, Timing] = field(default_factory=dict)
    magic_raw: float = 0.0
    magic_cli: float = 0.0


@dataclass
class Setup:
    """Where the chains run: the config file, the lab and the engine (None when not needed).

    Orch runs start in `cwd` (the config's directory): Python puts the working directory ahead of
    PYTHONPATH, so starting them in a checkout would import that checkout instead of --tree."""

    cfg: str
    env: dict[str, str]
    cwd: str
    lab: SSHLab | None = None
    engine: Engine | None = None

    def ssh(self, *hosts_and_command: str) -> str:
        assert self.lab is not None
        argv = ["ssh", "-F", str(self.lab.ssh_config), "-o", "BatchMode=yes", *hosts_and_command]
        return " ".join(shlex.quote(a) for a in argv)

    def at_far_end(self, chain: str, command: str, stdin: bool = False) -> str:
        """`command` run at the far end of `chain` with the raw tools (`stdin`: fed ours)."""
        jump = ("-J", "orch-bastion", "orch-inner")
        if chain == "local":
            return command
        if chain == "1hop":
            return self.ssh("orch-loop", command)
        if chain == "2hop":
            return self.ssh(*jump, command)
        assert self.engine is not None
        exec_ = "exec -i" if stdin else "exec"
        return self.ssh(*jump, f"docker -H {self.engine.host} {exec_} orch-test {command}")

    def raw_line(self, chain: str, size: int) -> str:
        """The raw tool's pipeline for `chain`, ending in `wc -c`."""
        return f"{self.at_far_end(chain, f'head -c {size} /dev/zero')} | wc -c"


def counted(line: str, setup: Setup) -> tuple[float, int]:
    """Wall time of a shell pipeline and the count its final `wc -c` prints."""
    t = time.monotonic()
    out = subprocess.run(["sh", "-c", line], env=setup.env, cwd=setup.cwd, check=True,
                         capture_output=True, text=True).stdout
    return time.monotonic() - t, int(out.split()[-1])


def checked(what: str, size: int, got: int) -> None:
    if got != size:
        raise SystemExit(f"{what}: {got:,} bytes arrived, expected {size:,}")


def cli_run(setup: Setup, env_name: str, size: int, cfg: str | None = None) -> Timing:
    cfg = cfg or setup.cfg
    cli = f"{shlex.quote(sys.executable)} -c {shlex.quote(CLI)} -c {shlex.quote(cfg)}"
    took, n = counted(f"{cli} run {env_name} -- head -c {size} /dev/zero | wc -c", setup)
    checked(f"orch run {env_name}", size, n)
    return Timing(took)


def api_run(setup: Setup, env_name: str, size: int) -> Timing:
    out = subprocess.run([sys.executable, "-c", API, setup.cfg, env_name, str(size)],
                         env=setup.env, cwd=setup.cwd, check=True, capture_output=True,
                         text=True).stdout
    got = json.loads(out.splitlines()[-1])
    checked(f"Orchestrator.run({env_name!r})", size, got["bytes"])
    return Timing(got["seconds"], got["rss_kib"], module=got["module"])


class Kernel:
    """A real IPython kernel with orch_magics loaded (from --tree too) and the bench config."""

    def __init__(self, setup: Setup) -> None:
        from jupyter_client.manager import start_new_kernel
        from jupyter_client.provisioning import LocalProvisioner

        self.km, self.kc = start_new_kernel(kernel_name="python3", env=setup.env,
                                             cwd=setup.cwd)
        assert isinstance(self.km.provisioner, LocalProvisioner)
        assert self.km.provisioner.process is not None
        self.pid = self.km.provisioner.process.pid
        self.cell(f"%load_ext orch_magics\n%orch load {setup.cfg}", allow_stdin=False)
        from bench_magics import evaluate

        self.module = evaluate(self.kc, "__import__('orch_magics').__file__")

    def cell(self, code: str, allow_stdin: bool) -> dict:
        from bench_magics import run_cell

        result = run_cell(self.kc, code, allow_stdin)
        if result["error"]:
            raise SystemExit(f"cell failed with {result['error']}: {code!r}")
        return result

    def orch_cell(self, env_name: str, size: int, allow_stdin: bool) -> Timing:
        """`%%orch ENV` printing SIZE zero bytes, on a warm pool; checks the result's size."""
        from bench_magics import evaluate, rss_kib

        self.cell(f"%%orch {env_name}\ntrue", allow_stdin=False)  # connect, as a session would
        self.cell(TRIM, allow_stdin=False)
        with open(f"/proc/{self.pid}/clear_refs", "w") as f:
            f.write("5")
        base = rss_kib(self.pid)
        ran = self.cell(f"%%orch {env_name} --out r\nhead -c {size} /dev/zero", allow_stdin)
        grown = rss_kib(self.pid, "VmHWM") - base
        checked(f"%%orch {env_name}", size, int(evaluate(self.kc, "r.stdout_buffer.size")))
        self.cell("del r", allow_stdin=False)
        return Timing(ran["wall"], grown, ran["bytes"])

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def raw_and_cli(setup: Setup, chain: str, size: int) -> tuple[float, Timing]:
    """The raw tool's time, then the CLI's, back to back so both see the same machine load."""
    line = setup.raw_line(chain, size)
    raw, n = counted(line, setup)
    checked(line, size, n)
    return raw, cli_run(setup, ENV_OF[chain], size)


def no_digest_config(setup: Setup) -> str:
    """The bench config with `audit: {digests: false}` (audited, output not hashed)."""
    path = Path(setup.cfg).with_name("orch-no-digests.yaml")
    if not path.exists():
        path.write_text(Path(setup.cfg).read_text() + "audit: {digests: false}\n")
    return str(path)


def measure(setup: Setup, chain: str, size: int, magic_size: int | None) -> ChainResult:
    """Every path of one chain; with magic_size, the %%orch cells too, on a kernel of their own
    (raw and CLI times are re-measured at the cells' size when it differs)."""
    raw, cli = raw_and_cli(setup, chain, size)
    result = ChainResult(chain, raw, {"cli": cli}, raw, cli.seconds)
    result.orch["cli-nd"] = cli_run(setup, ENV_OF[chain], size, no_digest_config(setup))
    result.orch["api"] = api_run(setup, ENV_OF[chain], size)
    if magic_size is None:
        return result
    if magic_size != size:
        result.magic_raw, magic_cli = raw_and_cli(setup, chain, magic_size)
        result.magic_cli = magic_cli.seconds
    kernel = Kernel(setup)
    try:
        if kernel.module != result.orch["api"].module:
            raise SystemExit(f"the kernel imported {kernel.module}, not {result.orch['api'].module}")
        for mode, allow_stdin in zip(MODES, (True, False), strict=True):
            result.orch[mode] = kernel.orch_cell(ENV_OF[chain], magic_size, allow_stdin)
    finally:
        kernel.close()
    return result


def combined(rounds: list[ChainResult]) -> ChainResult:
    """One chain's rounds as one result: the median raw times, and for each orch path the round
    whose ratio (against that round's raw time) is the median, so a time and its ratio come
    from the same round and a load spike in one round moves neither."""
    first = rounds[0]
    result = ChainResult(first.chain, statistics.median(r.raw for r in rounds),
                         magic_raw=statistics.median(r.magic_raw for r in rounds),
                         magic_cli=statistics.median(r.magic_cli for r in rounds))
    for path in first.orch:
        ratios = sorted(((r.magic_raw if path in MODES else r.raw) / r.orch[path].seconds, i)
                        for i, r in enumerate(rounds))
        ratio, i = ratios[(len(ratios) - 1) // 2]
        result.orch[path] = dataclasses.replace(rounds[i].orch[path], ratio=ratio)
    return result


def best_of(argv: list[str], setup: Setup, n: int = 5) -> float:
    """The best of `n` timed runs, after one untimed run (bytecode cache, page cache)."""
    subprocess.run(argv, env=setup.env, cwd=setup.cwd, check=True, stdout=subprocess.DEVNULL)
    times = []
    for _ in range(n):
        t = time.monotonic()
        subprocess.run(argv, env=setup.env, cwd=setup.cwd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.monotonic() - t)
    return min(times)


def cold_starts(setup: Setup, chains: list[str]) -> list[tuple[str, float, str, float]]:
    """(raw command, best time, orch command, best time) for local and the selected 1hop, docker."""
    cli = [sys.executable, "-c", CLI, "-c", setup.cfg, "run"]
    rows = [("sh -c true", best_of(["sh", "-c", "true"], setup),
             "orch run local -- true", best_of([*cli, "local", "--", "true"], setup))]
    if "1hop" in chains:
        assert setup.lab is not None
        ssh = ["ssh", "-F", str(setup.lab.ssh_config), "-o", "BatchMode=yes", "orch-loop", "true"]
        rows.append(("ssh orch-loop true", best_of(ssh, setup),
                     "orch run loop -- true", best_of([*cli, "loop", "--", "true"], setup)))
    if "docker" in chains:  # the first run in a container also starts its warden
        raw = ["sh", "-c", setup.at_far_end("docker", "true")]
        rows.append(("ssh -J … docker exec orch-test true", best_of(raw, setup),
                     "orch run deep -- true", best_of([*cli, "deep", "--", "true"], setup)))
    return rows


def config_text(lab: SSHLab | None, engine: Engine | None) -> str:
    """`local`, and with the lab `loop`, `two` and (with the engine) `deep` = ssh → ssh → docker."""
    local = "environments:\n  local: {layers: []}\n"
    if lab is None:
        return local
    extra = {}
    if engine is not None:
        docker = f'{{type: docker, config: {{container: orch-test, docker_host: "{engine.host}"}}}}'
        extra["deep"] = [lab.layer("orch-bastion"), lab.layer("orch-inner"), docker]
    return lab.config_yaml(extra_envs=extra).replace("environments:\n", local, 1)


@contextlib.contextmanager
def started(chains: list[str], tree: str | None) -> Iterator[Setup]:
    """The lab and engine the chains need, a config file for them, and the orch runs' env."""
    root = os.path.abspath(tree or REPO)
    src = os.path.join(root, "src")
    env = {**os.environ, "PYTHONPATH": src if os.path.isdir(src) else root}
    # Bytecode cached as an installed package has it (pip compiles at install): under
    # PYTHONDONTWRITEBYTECODE=1, as on these machines, every cold start of a source tree
    # compiled the modules whose cache was stale. The cache is filled below, before any timing.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with contextlib.ExitStack() as stack:
        lab = engine = None
        if set(chains) - {"local"}:
            lab = stack.enter_context(SSHLab(with_netns=bool({"2hop", "docker"} & set(chains))))
        if "docker" in chains:
            engine = start_engine("orch-dockerd-fe-")
            stack.callback(stop_engine, engine)
        cfg = Path(stack.enter_context(_tempdir())) / "orch.yaml"
        env["PYTHONPYCACHEPREFIX"] = str(cfg.parent / "pyc")
        cfg.write_text(config_text(lab, engine))
        setup = Setup(str(cfg), env, str(cfg.parent), lab, engine)
        # Fill it with every module the timed runs import (CLI, API, ssh and docker layers,
        # magics): the first timed CLI run paid ~0.5 s of compiling before.
        counted(f"{shlex.quote(sys.executable)} -c {shlex.quote(CLI)} -c {shlex.quote(str(cfg))}"
                " run local -- true | wc -c", setup)
        subprocess.run([sys.executable, "-c", "import orch_magics.magics, orch_magics.layers.ssh,"
                        " orch_magics.layers.docker"], env=env, cwd=setup.cwd, check=True)
        yield setup


@contextlib.contextmanager
def _tempdir() -> Iterator[str]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="orch-bench-fe-") as d:
        yield d


def cell(t: Timing, raw: float) -> str:
    return f"{t.seconds:.2f} s ({t.ratio or raw / t.seconds:.2f}×)"


def report(size: int, magic_size: int, rows: list[ChainResult],
           cold: list[tuple[str, float, str, float]], repeat: int) -> None:
    print(f"\n{size:,} bytes of `head -c SIZE /dev/zero` counted by `wc -c`; orch_magics from "
          f"{rows[0].orch['api'].module}; ratio = raw time ÷ orch time (higher is better)")
    if repeat > 1:
        print(f"median of {repeat} rounds: raw tool, the median raw time; each orch path, the "
              "round with the median ratio (its time, and its ratio to that round's raw time)")
    print()
    print("| chain | raw tool | orch CLI | orch CLI, digests off | Orchestrator.run() "
          "| run() peak ΔRSS |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        api = r.orch["api"]
        print(f"| {r.chain} | {r.raw:.2f} s | {cell(r.orch['cli'], r.raw)} | "
              f"{cell(r.orch['cli-nd'], r.raw)} | {cell(api, r.raw)} "
              f"| {(api.rss_kib or 0) / MIB:.1f} MiB |")
    print("\n(raw tools: " + "; ".join(f"{r.chain}: `{RAW_TOOL[r.chain]}`" for r in rows) + ")")
    if any("front end" in r.orch for r in rows):
        print(f"\n`%%orch ENV` cell printing {magic_size:,} bytes (warm pool), time as "
              "execute → idle; ratio = raw tool's time for the same bytes ÷ cell time\n")
        print("| chain | mode | time (ratio) | cell ÷ CLI time | kernel peak ΔRSS | iopub MB |")
        print("| --- | --- | --- | --- | --- | --- |")
        for r in rows:
            for mode in MODES:
                t = r.orch[mode]
                print(f"| {r.chain} | {mode} | {cell(t, r.magic_raw)} | "
                      f"{t.seconds / r.magic_cli:.2f} | "
                      f"{(t.rss_kib or 0) / MIB:.1f} MiB | {(t.iopub or 0) / 1e6:.1f} |")
    print("\ncold start, best of 5\n\n| raw | s | orch | s | ratio |\n| --- | --- | --- | --- | --- |")
    for raw_cmd, raw_t, orch_cmd, orch_t in cold:
        print(f"| `{raw_cmd}` | {raw_t:.3f} | `{orch_cmd}` | {orch_t:.3f} | "
              f"{raw_t / orch_t:.2f}× |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000_000)
    parser.add_argument("--chains", default="local,1hop,2hop,docker",
                        help="comma-separated subset of " + ",".join(CHAINS))
    parser.add_argument("--magics", action="store_true", help="also time %%%%orch cells")
    parser.add_argument("--magic-size", type=int, default=None,
                        help="bytes the %%%%orch cells print (default: --size)")
    parser.add_argument("--tree", default=None)
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of every chain (report: the median, see above)")
    args = parser.parse_args()
    chains = [c for c in args.chains.split(",") if c]
    unknown = [c for c in chains if c not in CHAINS]
    if unknown or not chains:
        parser.error(f"--chains: unknown {unknown}; choose from {','.join(CHAINS)}")
    magic_size = (args.magic_size or args.size) if args.magics else None
    with started(chains, args.tree) as setup:
        rounds = [[measure(setup, c, args.size, magic_size) for c in chains]
                  for _ in range(max(1, args.repeat))]
        rows = [combined([r[i] for r in rounds]) for i in range(len(chains))]
        cold = cold_starts(setup, chains)
    report(args.size, magic_size or 0, rows, cold, args.repeat)


if __name__ == "__main__":
    main()
