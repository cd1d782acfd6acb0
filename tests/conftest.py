"""Shared test set-up: real servers are started by the fixture plugins in tests/fixtures/."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from orch_magics.layers.local import LocalLauncher

sys.path.insert(0, str(Path(__file__).parent))

pytest_plugins = ["fixtures.sshd", "fixtures.dockerd", "fixtures.jupyter", "fixtures.sudo",
                  "fixtures.podman", "fixtures.fleet", "fixtures.sudo_image"]

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
async def base() -> AsyncIterator[LocalLauncher]:
    """A LocalLauncher whose pooled connections are closed after the test."""
    launcher = LocalLauncher()
    yield launcher
    await launcher.context.aclose()


@pytest.fixture
async def far(orch):  # type: ignore[no-untyped-def]  # the test module's own `orch`
    """Folders the test makes at far ends (`await far.folder(env, name)`), removed after it."""
    from transfers import FarFolders
    folders = FarFolders(orch)
    yield folders
    await folders.remove()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
                  ) -> None:
    """Tests never see the developer's ORCH_* variables, nor write to the real audit log."""
    for key in list(os.environ):
        if key.startswith("ORCH_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def no_known_secrets() -> Iterator[None]:
    """No secret known to this process during the test, as in a fresh one (the masker holds
    back output that could start a known secret: review37, a test's result depended on what
    earlier tests had made known); those known before are known again after it."""
    import warnings

    from orch_magics.secrets.masking import REGISTRY

    known = set(REGISTRY._values)
    REGISTRY.clear()
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short one warns again
        for value in known:
            REGISTRY.add(value)
