"""The "Python 3 (orch)" kernel spec: installed and removed where the user says."""

from __future__ import annotations

import subprocess
import sys

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
