"""The run engine: one plan, one launcher, one `Run` — pre commands, the command, post commands.

Front ends (the Python API, the CLI, the magics, named runs) reach it only through the
Orchestrator, which starts a `Run` with `RunOptions` and hands the caller the Run itself.
"""

from .options import RunOptions
from .run import Run

__all__ = ["Run", "RunOptions"]
