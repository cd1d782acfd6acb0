"""The wheel users install: built from the working tree, it ships what the package needs.

Tests import the working tree, so a file left out of the wheel (py.typed, the schema, the demo
config) or a layer kind missing from the entry points would not show anywhere else.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_wheel_ships_the_package_data_and_the_layer_entry_points(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = tmp_path.glob("orch_magics-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("orch_magics/__init__.py", "orch_magics/py.typed",
                   "orch_magics/schema/orch.schema.json", "orch_magics/demo/orch.yaml",
                   "orch_magics/layers/ssh.py", "orch_magics/magics/__init__.py"):
        assert needed in names, f"{needed} missing from {wheel.name}"
    tops = {name.split("/")[0] for name in names}
    assert tops <= {"orch_magics", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1]
                    + ".dist-info"}, f"unexpected top-level entries: {sorted(tops)}"
    meta = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    entry_points = zipfile.ZipFile(wheel).read(meta).decode()
    assert "[orch_magics.layers]" in entry_points
    for kind in ("local", "ssh", "docker"):
        assert f"{kind} = orch_magics.layers.{kind}:KIND" in entry_points, entry_points
