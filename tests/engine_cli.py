"""The CLI on a config whose first hop is an engine layer, with the engine's variable of this
machine (DOCKER_HOST, CONTAINER_HOST) set: what `orch check` and a run say of it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

Cli = Callable[..., "subprocess.CompletedProcess[str]"]


def engine_cli(tmp_path: Path, kind: str, env: str, variable: str,
               container: str) -> tuple[Path, Cli]:
    """orch.yaml with environment `env` (`kind` first hop, then an ssh-fronted one, `far`), and
    `cli(value, *args)`: the CLI on it with `variable` set to value."""
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(f"environments:\n  {env}:\n    layers:\n      - {{type: {kind}, config: "
                   f"{{container: {container}}}}}\n  far:\n    layers:\n      - {{type: ssh, "
                   f"config: {{host: far.invalid}}}}\n      - {{type: {kind}, config: "
                   f"{{container: c}}}}\n")

    def cli(value: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), *args],
                              capture_output=True, text=True, timeout=60,
                              env={**os.environ, variable: value})

    return cfg, cli
