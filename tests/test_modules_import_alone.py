"""Every module imports first in a fresh interpreter (review14: `import
orch_magics.keywords` was an ImportError, a cycle through config/ that importing the package
first hid): a plugin or a tool importing one module of ours must not depend on the order."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orch_magics

PACKAGE = Path(orch_magics.__file__).parent


def test_every_module_imports_first() -> None:
    names = sorted(
        ".".join(("orch_magics", *path.relative_to(PACKAGE).with_suffix("").parts))
        .removesuffix(".__init__")
        for path in PACKAGE.rglob("*.py") if path.name != "__main__.py")
    assert len(names) > 100
    code = ("import subprocess, sys\n"
            "failed = [n for n in sys.argv[1:] if subprocess.run([sys.executable, '-c', "
            "f'import {n}'], capture_output=True).returncode]\n"
            "print(' '.join(failed))")
    done = subprocess.run([sys.executable, "-c", code, *names], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0 and done.stdout.split() == [], done.stdout + done.stderr
