"""orch_magics: run services through composed execution layers (local → ssh → docker …).

>>> from orch_magics import load_config, Orchestrator          # doctest: +SKIP
>>> orch = Orchestrator(load_config("environments.yaml", "services.yaml"))
>>> orch.run("local", "health-check").check()

The names below load on first use (PEP 562), so `orch` can take over Ctrl-C before the
engine is imported (`cli/__init__.py`); `from orch_magics import X` works as ever.
"""

from __future__ import annotations

import importlib
import warnings

from .version import __version__ as __version__

# asyncssh names cryptography's DSA classes as it loads; cryptography 51 deprecates them, and
# its warning, said as asyncssh's, reached the stderr of every run (a fresh-clone CI run)
warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"asyncssh(\.|$)")

TYPE_CHECKING = False  # typing itself takes a few ms to import: the name is what mypy reads
if TYPE_CHECKING:
    from typing import Any

    from .config.loader import load_config, load_config_text
    from .config.model import Config, Environment, LayerSpec, Service
    from .errors import (
        AuthError,
        ConfigError,
        ConnectError,
        FleetError,
        HostKeyError,
        LayerError,
        OrchError,
        RunCancelled,
        RunError,
        RunInterrupted,
        RunTimeout,
        StillRunning,
        StreamError,
    )
    from .executor import LayeredExecutor
    from .fleet import FleetResult, LiveFleet
    from .layers.local import LocalLauncher
    from .live import LiveRun
    from .orchestrator import Orchestrator
    from .plan import RunPlan
    from .process.command import Command
    from .process.events import Exit, Stderr, Stdout
    from .process.handle import ProcessHandle
    from .result import RunResult

#: Where each public name lives.
_HOMES = {
    **dict.fromkeys(["load_config", "load_config_text"], ".config.loader"),
    **dict.fromkeys(["Config", "Environment", "LayerSpec", "Service"], ".config.model"),
    **dict.fromkeys(["AuthError", "ConfigError", "ConnectError", "FleetError", "HostKeyError",
                     "LayerError",
                     "OrchError", "RunCancelled", "RunError", "RunInterrupted", "RunTimeout",
                     "StillRunning",
                     "StreamError"],
                    ".errors"),
    "LayeredExecutor": ".executor", **dict.fromkeys(["FleetResult", "LiveFleet"], ".fleet"),
    "LocalLauncher": ".layers.local", "LiveRun": ".live",
    "Orchestrator": ".orchestrator", "RunPlan": ".plan", "Command": ".process.command",
    **dict.fromkeys(["Exit", "Stderr", "Stdout"], ".process.events"),
    "ProcessHandle": ".process.handle", "RunResult": ".result",
}

__all__ = [
    "AuthError", "Command", "Config", "ConfigError", "ConnectError", "Environment", "Exit",
    "FleetError", "FleetResult", "HostKeyError", "LayerError", "LayerSpec", "LayeredExecutor", "LiveFleet", "LiveRun", "LocalLauncher",
    "OrchError", "Orchestrator", "ProcessHandle", "RunCancelled", "RunError", "RunInterrupted",
    "RunPlan",
    "RunResult", "RunTimeout", "Service", "StillRunning", "Stderr", "Stdout", "StreamError",
    "load_config",
    "load_config_text",
]


def __getattr__(name: str) -> Any:
    """Load a public name on first use (with the GC paused: see importing.py)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'orch_magics' has no attribute {name!r}")
    from .importing import paused_gc

    with paused_gc():
        value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})


def load_ipython_extension(ipython: object) -> None:
    """`%load_ext orch_magics`: register the %orch / %%orch magics."""
    from .magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: object) -> None:
    from .magics import unload_ipython_extension as _unload

    _unload(ipython)
