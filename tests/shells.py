"""A helper for tests that drive %orch in a real IPython InteractiveShell (no kernel)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from IPython.core.interactiveshell import InteractiveShell


@contextmanager
def orch_shell(config: str, where: Path) -> Iterator[InteractiveShell]:
    """The process's InteractiveShell with orch_magics loaded and `config` (YAML, written to
    `where`/orch.yaml) loaded; the extension is unloaded at the end, so the next test module
    gets its own runs."""
    path = where / "orch.yaml"
    path.write_text(config)
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "orch_magics")
    try:
        sh.run_line_magic("orch", f"load {path}")
        yield sh
    finally:
        sh.run_line_magic("unload_ext", "orch_magics")
