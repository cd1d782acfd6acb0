"""The "Python 3 (orch)" kernel spec: installed and removed where the user says."""

from __future__ import annotations

import subprocess
import sys

import pytest
from jupyter_client.kernelspec import KernelSpecManager


def kernelspec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orch_magics.kernelspec", *args],
                          capture_output=True, text=True, timeout=60)


def test_remove_with_a_prefix_leaves_other_installs_alone(orch_kernel, tmp_path):
    assert kernelspec("install", "--prefix", str(tmp_path)).returncode == 0
    spec = tmp_path / "share" / "jupyter" / "kernels" / "orch" / "kernel.json"
    assert spec.is_file() and "--ext=orch_magics" in spec.read_text()
    done = kernelspec("remove", "--prefix", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert not spec.exists()
    assert orch_kernel in KernelSpecManager().find_kernel_specs()  # the venv's is still there
    again = kernelspec("remove", "--prefix", str(tmp_path))
    assert again.returncode == 1 and again.stderr == "no kernel spec named 'orch' there\n"


@pytest.mark.parametrize("args, message", [
    (["install", "--name", "a/b"], "install --name: invalid kernel name 'a/b': use "
                                   "letters, digits, '.', '_' and '-'"),
    (["install", "--name", ""], "install --name: invalid kernel name ''"),
    (["install", "--name", ".."], "invalid kernel name '..'"),  # would replace share/jupyter
    (["remove", "--name", ".."], "invalid kernel name '..'"),  # would remove share/jupyter
    (["install", "--name", "."], "invalid kernel name '.'"),
    (["remove", "--name", ""], "remove --name: invalid kernel name ''"),
    (["remove", "--name", "../kernels"], "remove --name: invalid kernel name"),
    (["instal", "--user"], "unknown subcommand 'instal' (did you mean 'install'?)"),
    (["remve"], "unknown subcommand 'remve' (did you mean 'remove'?)"),
    (["frobnicate"], "unknown subcommand 'frobnicate' (install or remove)"),
    (["install", "--usr"], "unrecognized arguments: --usr (did you mean '--user'?)"),
    (["remove", "--sys-prefx"], "unrecognized arguments: --sys-prefx (did you mean "
                                "'--sys-prefix'?)"),
])
def test_mistakes_are_one_line(tmp_path, args, message):
    where = ["--prefix", str(tmp_path)] if args[0] in ("install", "remove") else []
    done = kernelspec(*args, *where)
    kernels = tmp_path / "share" / "jupyter" / "kernels"
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("python -m orch_magics.kernelspec") and message in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert not kernels.exists() or list(kernels.iterdir()) == []  # nothing installed


@pytest.mark.parametrize("action", ["install", "remove"])
def test_an_unusable_prefix_is_one_line(tmp_path, action):
    (tmp_path / "file").write_text("not a directory")
    done = kernelspec(action, "--prefix", str(tmp_path / "file" / "x"))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(("cannot install the kernel spec: Not a directory: ",
                                   "no kernel spec named 'orch' there"))


def _in_system_folder(system: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The command line with Jupyter's system-wide folder moved to `system` (the test must not
    write /usr/local/share/jupyter of the machine it runs on)."""
    code = ("import sys, jupyter_core.paths as p; p.SYSTEM_JUPYTER_PATH[0] = sys.argv[1]; "
            "from orch_magics.kernelspec import main; sys.exit(main(sys.argv[2:]))")
    return subprocess.run([sys.executable, "-c", code, system, *args], capture_output=True,
                          text=True, timeout=60)


def test_install_and_remove_without_an_option_mean_one_folder_and_one_name(
        orch_kernel, tmp_path) -> None:
    """notebook5: `install` went system-wide and `remove` then deleted the first spec Jupyter
    found (the virtualenv's); `install --name Orch-3` said 'Orch-3', made `orch-3`, and
    `remove --name Orch-3` found nothing."""
    system = tmp_path / "system"
    made = _in_system_folder(str(system), "install", "--name", "Orch-3")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"installed kernel spec 'orch-3' (Python 3 (orch)) in "
                                  f"{system / 'kernels' / 'orch-3'}"), made.stdout
    gone = _in_system_folder(str(system), "remove", "--name", "Orch-3")
    assert gone.returncode == 0 and gone.stdout == (
        f"removed kernel spec from {system / 'kernels' / 'orch-3'}\n"), gone
    assert list((system / "kernels").iterdir()) == []
    assert orch_kernel in KernelSpecManager().find_kernel_specs()  # the venv's is still there
