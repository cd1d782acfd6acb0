"""Importing an SDK: the quick library probe answers like ctypes' own, and everything the
context changed (find_library, the GC, the secret variables) is as it was afterwards."""

from __future__ import annotations

import ctypes.util
import gc
import os
from pathlib import Path

import pytest

from orch_magics.importing import importing_sdk, surely_absent


def test_a_library_is_surely_absent_only_when_no_file_of_its_name_is_found(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LD_LIBRARY_PATH", str(tmp_path))
    assert surely_absent("orchnosuchlib")
    (tmp_path / "liborchfake.so.1").touch()
    assert not surely_absent("orchfake")   # in a library directory: ask the real probe
    assert not surely_absent("c")          # in the loader's cache


def test_importing_sdk_answers_like_find_library_and_restores_everything(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_SECRET_TOKEN", "s3cret")
    real = ctypes.util.find_library
    with importing_sdk("orch_magics_not_imported_yet"):
        assert ctypes.util.find_library("oqs") is None
        assert ctypes.util.find_library("c") == real("c")   # not probed names: the real probe
        assert not gc.isenabled()
        assert "ORCH_SECRET_TOKEN" not in os.environ
    assert ctypes.util.find_library is real
    assert gc.isenabled()
    assert os.environ["ORCH_SECRET_TOKEN"] == "s3cret"


def test_importing_sdk_does_nothing_once_the_module_is_imported() -> None:
    """Every launch of a layer enters it: the probe patch and the GC pause only the first."""
    real = ctypes.util.find_library
    with importing_sdk("orch_magics.importing"):
        assert ctypes.util.find_library is real
        assert gc.isenabled()
