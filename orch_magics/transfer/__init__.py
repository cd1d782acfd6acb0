"""Files and ports through any chain: `get` / `put` (copy.py) and `forward` (forward.py).

A fleet environment copies on every target (fleet.py: LOCAL/<label>/ for a get).
A copy is an ordinary run of a small sh script at the far end (scripts.py), so it is
guarded and audited like any run and works through every layer that carries a process.
"""

from .copy import Copy, Copying, run_blocking
from .fleet import FleetCopied, FleetCopy
from .forward import Forward, ForwardError, Forwards, open_forward
from .model import CopyInterrupted, NoProgress, PathArg, Progress, TransferError, Transferred
from .prepare import measure, prepare_get, prepare_put
from .progress import TerminalBar, for_stream

__all__ = [
    "Copy", "CopyInterrupted", "Copying", "FleetCopied", "FleetCopy", "Forward", "ForwardError", "Forwards", "NoProgress", "PathArg", "Progress", "TerminalBar",
    "TransferError", "Transferred", "for_stream", "measure", "open_forward", "prepare_get",
    "prepare_put", "run_blocking",
]
