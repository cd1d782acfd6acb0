"""A far end that lacks a tool a copy runs says which, in one line (files13: a missing tar
was "reading DIR failed", a missing stat "received 0 of 1 bytes", no tr at all an empty
reason "failed: ;", and an openssl that cannot start a sha256 mismatch with "None" in it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from orch_magics import Orchestrator, load_config_text
from orch_magics.transfer import TransferError

#: What a copy's scripts may run, linked into a folder that is the far end's whole PATH.
TOOLS = ["sh", "cat", "tar", "tee", "dd", "stat", "mktemp", "mv", "sha256sum", "tr", "head",
         "find", "chmod", "rm", "readlink", "id", "wc", "df", "awk", "mkdir", "chown", "pwd",
         "touch", "openssl"]


def far_end(tmp_path: Path, name: str, tools: dict[str, str]) -> Orchestrator:
    """A chain whose far end has only `tools` (name → program) on its PATH."""
    bin_dir = tmp_path / name
    bin_dir.mkdir()
    for tool, program in tools.items():
        os.symlink(program, bin_dir / tool)
    return Orchestrator(load_config_text(
        f"environments:\n  far: [{{type: local, config: {{environment: {{PATH: '{bin_dir}'}}}}}}]\n"
        "audit: {enabled: false}\n"))


def every_tool_but(missing: str) -> dict[str, str]:
    return {t: p for t in TOOLS if t != missing and (p := shutil.which(t)) is not None}


def error_of(orch: Orchestrator, how: str, source: Path, target: Path) -> str:
    with orch, pytest.raises(TransferError) as err:
        getattr(orch, how)("far", str(source), str(target))
    assert "\n" not in str(err.value) and not target.exists()
    return str(err.value)


@pytest.mark.parametrize("missing, how, folder", [
    ("tar", "get", True), ("tar", "put", True), ("stat", "get", False), ("stat", "put", False),
    ("mktemp", "put", False), ("mv", "put", False), ("dd", "put", False),
    ("tee", "get", True), ("tee", "put", True), ("mkdir", "put", True),
    ("find", "get", True), ("readlink", "put", False)])  # review27: find, readlink too
def test_a_missing_tool_is_named(tmp_path: Path, missing: str, how: str, folder: bool) -> None:
    source = tmp_path / "src"
    if folder:
        source.mkdir()
        (source / "a").write_text("a")
    else:
        source.write_text("x")
    said = error_of(far_end(tmp_path, "bin", every_tool_but(missing)), how, source,
                    tmp_path / "dst")
    assert f"{missing} is not installed at the far end (or not on its PATH, " in said, said


@pytest.mark.parametrize("tool", ["tr", "tee"])
def test_a_far_end_without_a_tool_a_file_copy_needs_not_still_copies_it(
        tmp_path: Path, tool: str) -> None:
    """A file's get runs no `tee` (review26: it was refused for lacking one); no script
    needs `tr`."""
    source = tmp_path / "src"
    source.write_text("x\n")
    with far_end(tmp_path, "bin", every_tool_but(tool)) as orch:
        orch.get("far", str(source), str(tmp_path / "back"))
        orch.put("far", str(source), str(tmp_path / "there"))
    assert (tmp_path / "back").read_text() == (tmp_path / "there").read_text() == "x\n"


def test_a_path_with_none_of_the_tools_is_said_not_an_empty_reason(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.write_text("x")
    said = error_of(far_end(tmp_path, "bin", {"sh": "/bin/sh"}), "get", source, tmp_path / "g")
    assert "sha256sum is not installed at the far end" in said, said


def test_an_openssl_that_cannot_start_is_passed_over(tmp_path: Path) -> None:
    broken = tmp_path / "openssl"
    broken.write_text("#!/bin/sh\necho 'openssl: error while loading shared libraries' >&2\n"
                      "exit 127\n")
    broken.chmod(0o755)
    source = tmp_path / "src"
    source.write_text("x\n")
    with far_end(tmp_path, "bin", {**every_tool_but("openssl"), "openssl": str(broken)}) as orch:
        orch.get("far", str(source), str(tmp_path / "back"))
        orch.put("far", str(source), str(tmp_path / "there"))
    assert (tmp_path / "back").read_text() == (tmp_path / "there").read_text() == "x\n"


def test_a_get_that_fails_before_its_script_says_why(tmp_path: Path) -> None:
    """files13 F3: a get whose far end could not start (a layer's working_dir missing) said
    only "failed (exit 126)", where a put and a run through the same chain said why."""
    config = load_config_text(
        f"environments:\n  far: [{{type: local, config: {{working_dir: '{tmp_path}/gone'}}}}]\n"
        "audit: {enabled: false}\n")
    source = tmp_path / "src"
    source.write_text("x")
    said = {how: error_of(Orchestrator(config), how, source, tmp_path / how)
            for how in ("get", "put")}
    for how in ("get", "put"):
        assert said[how].endswith(f"(exit 126): orch: working directory not found: "
                                  f"{tmp_path}/gone; nothing was kept"), said[how]
