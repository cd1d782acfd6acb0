"""The `orch` command (entry point `orch_magics.cli:main`; also `python -m orch_magics.cli`)."""

from .main import main

__all__ = ["main"]
