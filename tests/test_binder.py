"""The Binder set-up, proven rather than assumed.

As repo2docker does, but without Docker: the repository is copied into the home directory of a
fresh unprivileged user, a fresh virtual environment gets `pip install -r binder/requirements.txt`
from that directory, `binder/postBuild` runs as the user, and then every notebook is executed with
nbclient on the "Python 3 (orch)" kernel *through* `binder/start` (which launches the throw-away
sshd and execs the command), exactly as the Binder container runs the notebook server.

The helpers here are shared with tests/test_notebooks.py (same flow in the development venv).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import nbformat
import pytest

from fixtures.ports import free_port
from notebook_cells import error_cells

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
SYSTEM_PYTHON = "/usr/bin/python3"  # readable by any user (the dev venv's python may not be)
KEEP_ENV = ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CERT",
            "PIP_DEFAULT_TIMEOUT", "PIP_DISABLE_PIP_VERSION_CHECK", "PIP_CONSTRAINT",
            "LANG", "LC_ALL", "http_proxy", "https_proxy", "no_proxy")
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "*.egg-info", "__pycache__", ".*_cache",
                                     "build", "dist", ".ipynb_checkpoints")

# Runs inside `binder/start …`: executes one notebook on the orch kernel, keeping every output.
RUNNER = r'''
import json, os, sys
import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

src, dst = sys.argv[1], sys.argv[2]
spec = KernelSpecManager().get_kernel_spec("orch")
nb = nbformat.read(src, as_version=4)
client = NotebookClient(nb, kernel_name="orch", timeout=180,
                        resources={"metadata": {"path": os.path.dirname(os.path.abspath(src))}})
error = None
try:  # "Run all": stops at the first cell whose execution fails (error output or UsageError)
    client.execute()
except CellExecutionError as exc:
    error = str(exc)
nbformat.write(nb, dst)
print(json.dumps({"display_name": spec.display_name, "argv": spec.argv,
                  "resource_dir": spec.resource_dir, "error": error,
                  "ORCH_CONFIG": os.environ.get("ORCH_CONFIG")}))
'''


class BinderHome:
    """A home directory holding a copy of the repository, set up the way Binder does it."""

    def __init__(self, home: Path, user: str | None, python: str, port: int) -> None:
        self.home = home
        self.user = user  # None: the current user
        self.python = python
        self.port = port

    @property
    def state(self) -> Path:
        return self.home / ".orch-binder"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in KEEP_ENV}
        bindir = str(Path(self.python).parent)
        env.update(HOME=str(self.home), USER=self.user or pwd.getpwuid(os.getuid()).pw_name,
                   PATH=f"{bindir}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
                   PYTHON=self.python, ORCH_SSH_PORT=str(self.port), LANG="C.UTF-8",
                   SHELL="/bin/bash")
        return env

    def run(self, argv: Sequence[str], timeout: float = 300, check: bool = True
            ) -> subprocess.CompletedProcess[str]:
        """Run argv in the home directory as the user, with a clean environment."""
        env = self.env()
        prefix: list[str] = []
        if self.user is not None:
            prefix = ["runuser", "-u", self.user, "--", "env", "-i",
                      *(f"{k}={v}" for k, v in env.items())]
        proc = subprocess.run([*prefix, *argv], cwd=self.home, env=env, text=True,
                              capture_output=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
        return proc

    def postbuild(self) -> None:
        self.run(["bash", "binder/postBuild"])

    def execute(self, notebook: str) -> tuple[nbformat.NotebookNode, dict[str, object]]:
        """Execute notebooks/<notebook> through binder/start; returns it and the run's info."""
        runner = self.home / ".orch-run-notebook.py"
        runner.write_text(RUNNER)
        out = self.home / f".executed-{notebook}"
        proc = self.run(["binder/start", self.python, str(runner),
                         f"notebooks/{notebook}", str(out)], timeout=600)
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        return nbformat.read(out, as_version=4), info

    def stop_sshd(self) -> None:
        pidfile = self.state / "sshd.pid"
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass


def copy_repo(dest: Path) -> None:
    """The working tree (not .git or the dev venv), as repo2docker copies it into $HOME."""
    for item in REPO.iterdir():
        if COPY_IGNORE(str(REPO), [item.name]):
            continue
        target = dest / item.name
        if item.is_dir():
            shutil.copytree(item, target, ignore=COPY_IGNORE, symlinks=True)
        else:
            shutil.copy2(item, target)


# ---- the Binder flow as an unprivileged user in a fresh venv --------------------------------


@pytest.fixture(scope="module")
def binder() -> Iterator[BinderHome]:
    if os.geteuid() != 0:
        pytest.fail("test_binder creates an unprivileged user: run the tests as root (CI does)")
    # Not under pytest's tmp dir: that one is private to root, the user could not reach it.
    base = Path(tempfile.mkdtemp(prefix="orch-binder-"))
    os.chmod(base, 0o755)
    user = f"orchnb{uuid.uuid4().hex[:6]}"
    home = base / user
    subprocess.run(["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/bash",
                    user], check=True)
    copy_repo(home)
    subprocess.run(["chown", "-R", f"{user}:{user}", str(home)], check=True)
    venv = home / ".venv-binder"
    bh = BinderHome(home, user, str(venv / "bin" / "python"), free_port())
    try:
        bh.run([SYSTEM_PYTHON, "-m", "venv", str(venv)])
        # What repo2docker runs from the repository root; nbclient stands in for the server.
        bh.run([str(venv / "bin" / "pip"), "install", "-q", "-r", "binder/requirements.txt",
                "nbclient", "nbformat"], timeout=600)
        bh.postbuild()
        yield bh
    finally:
        bh.stop_sshd()
        time.sleep(0.2)
        subprocess.run(["userdel", "--remove", user], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_requirements_install_the_repository() -> None:
    lines = [line.strip() for line in (REPO / "binder" / "requirements.txt").read_text()
             .splitlines() if line.strip() and not line.startswith("#")]
    assert lines == ["."]  # repo2docker runs pip from the repository root
    assert "openssh-server" in (REPO / "binder" / "apt.txt").read_text().split()


def test_scripts_fail_fast_and_exec() -> None:
    post = (REPO / "binder" / "postBuild").read_text()
    start = (REPO / "binder" / "start").read_text()
    assert "\nset -e" in post and "\nset -e" in start
    assert start.rstrip().endswith('exec "$@"')
    for name in ("postBuild", "start"):
        assert os.access(REPO / "binder" / name, os.X_OK), f"binder/{name} is not executable"


def test_postbuild_installs_the_kernel_and_a_user_sshd(binder: BinderHome) -> None:
    spec = json.loads((binder.home / ".local/share/jupyter/kernels/orch/kernel.json")
                      .read_text())
    assert spec["display_name"] == "Python 3 (orch)"
    assert "--ext=orch_magics" in spec["argv"]
    assert spec["argv"][0] == binder.python
    config = (binder.state / "sshd_config").read_text()
    assert "ListenAddress 127.0.0.1" in config and f"Port {binder.port}" in config
    assert f"AllowUsers {binder.user}" in config
    for key in ("ssh_host_ed25519_key", "id_ed25519"):
        path = binder.state / key
        assert path.stat().st_mode & 0o077 == 0, f"{key} is readable by others"
        assert pwd.getpwuid(path.stat().st_uid).pw_name == binder.user
    # postBuild is re-runnable (Binder rebuilds, a user re-running it by hand), with another
    # port too (magics26: the entry kept the first port); the user's own entries are kept.
    ssh_config = binder.home / ".ssh/config"
    with ssh_config.open("a") as f:
        f.write("Host mine\n  HostName example.org\n")
    port, binder.port = binder.port, free_port()
    try:
        binder.postbuild()
        text = ssh_config.read_text()
        assert text.count("Host orch-sshd") == 1 and f"  Port {binder.port}\n" in text, text
        assert f"Port {port}\n" not in text and "Host mine\n  HostName example.org\n" in text
    finally:
        binder.port = port
    binder.postbuild()
    text = ssh_config.read_text()
    assert text.count("Host orch-sshd") == 1 and f"  Port {port}\n" in text, text
    assert "\n\n\n" not in text  # no blank line more at each run


def test_start_runs_sshd_as_the_user_and_execs(binder: BinderHome) -> None:
    proc = binder.run(["binder/start", "bash", "-c",
                       'echo "config=$ORCH_CONFIG"; ssh -o BatchMode=yes orch-sshd id -un'])
    assert f"config={binder.home}/notebooks/orch.yaml" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == binder.user
    pid = int((binder.state / "sshd.pid").read_text())
    uid = int(next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text()
                   .splitlines() if line.startswith("Uid:")))
    assert pwd.getpwuid(uid).pw_name == binder.user
    # A second start reuses the running sshd.
    binder.run(["binder/start", "true"])
    assert int((binder.state / "sshd.pid").read_text()) == pid


def test_start_says_when_its_sshd_cannot_listen(binder: BinderHome) -> None:
    """magics26: sshd daemonizes before it binds, and start waited for any listener on the
    port: with the port taken, JupyterLab started as if the ssh hop were ready."""
    binder.stop_sshd()
    time.sleep(0.3)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", binder.port))
        taken.listen()
        proc = binder.run(["binder/start", "true"])
    assert f"binder/start: the notebooks' sshd did not start on port {binder.port}: " in \
        proc.stderr and "Address already in use" in proc.stderr, proc.stderr
    proc = binder.run(["binder/start", "bash", "-c", "ssh -o BatchMode=yes orch-sshd true"])
    assert proc.stderr == "", proc.stderr  # the port free again: it starts, and says nothing


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_runs_in_binder(binder: BinderHome, notebook: str) -> None:
    nb, info = binder.execute(notebook)
    assert info["display_name"] == "Python 3 (orch)"
    assert str(info["resource_dir"]).startswith(str(binder.home))
    assert info["error"] is None, info["error"]
    assert error_cells(nb) == []
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
