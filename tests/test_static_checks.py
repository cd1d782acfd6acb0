"""Static checks of the code as it stands: mypy (the package ships py.typed) and ruff."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "orch_magics"


def test_mypy_accepts_the_package() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy", str(SRC)], capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_accepts_the_code() -> None:
    root = SRC.parent
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "orch_magics", "tests", "benchmarks",
                           "scripts"], cwd=root, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
