"""orch_magics: run services through composed execution layers (local → ssh → docker …).

>>> from orch_magics import load_config, Orchestrator          # doctest: +SKIP
>>> orch = Orchestrator(load_config("environments.yaml", "services.yaml"))
>>> orch.run("local", "health-check").check()
"""

from .importing import paused_gc

with paused_gc():  # an import allocates much and frees little: collecting during it is wasted
    from .config.loader import load_config, load_config_text
    from .config.model import Config, Environment, LayerSpec, Service
    from .errors import (
        AuthError,
        ConfigError,
        ConnectError,
        HostKeyError,
        LayerError,
        OrchError,
        RunError,
        RunInterrupted,
        RunTimeout,
        StreamError,
    )
    from .executor import LayeredExecutor
    from .layers.local import LocalLauncher
    from .live import LiveRun
    from .orchestrator import Orchestrator
    from .plan import RunPlan
    from .process.command import Command
    from .process.events import Exit, Stderr, Stdout
    from .process.handle import ProcessHandle
    from .result import RunResult

from .version import __version__ as __version__

__all__ = [
    "AuthError", "Command", "Config", "ConfigError", "ConnectError", "Environment", "Exit",
    "HostKeyError", "LayerError", "LayerSpec", "LayeredExecutor", "LiveRun", "LocalLauncher",
    "OrchError", "Orchestrator", "ProcessHandle", "RunError", "RunInterrupted", "RunPlan",
    "RunResult", "RunTimeout", "Service", "Stderr", "Stdout", "StreamError", "load_config",
    "load_config_text",
]


def load_ipython_extension(ipython: object) -> None:
    """`%load_ext orch_magics`: register the %orch / %%orch magics."""
    from .magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: object) -> None:
    from .magics import unload_ipython_extension as _unload

    _unload(ipython)
