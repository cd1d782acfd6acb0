"""Every code block in README.md and docs/*.md that shows a command or config is exercised.

- ```yaml blocks: validated by `load_config_text` and by the JSON Schema.
- ```bash blocks: `orch …` lines run for real against the doc's own config (its `# orch.yaml`
  block, written to a scratch directory) or the demo; runs in environments with ssh/docker layers
  run with `--dry-run`. The README's set-up commands are checked as documented.
- ```python blocks: run in order, one IPython shell per document (magics included), in the
  scratch directory that holds the doc's config.
- A block preceded by `<!-- not-tested: reason -->` is skipped (keep those rare).
Plain ``` blocks are output or pictures, not commands.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from orch_magics import load_config_text
from orch_magics.config.schema import build_schema

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
ORCH = str(Path(sys.executable).parent / "orch")
BLOCK = re.compile(r"(?:<!--\s*not-tested:(?P<why>[^>]*)-->\s*\n)?```(?P<lang>[a-z]*)\n"
                   r"(?P<body>.*?)^```", re.S | re.M)


def blocks(doc: Path, lang: str) -> list[str]:
    return [m["body"] for m in BLOCK.finditer(doc.read_text())
            if m["lang"] == lang and not m["why"]]


def doc_config(doc: Path, before: str | None = None) -> str | None:
    """The doc's own config: the last `# orch.yaml` yaml block before block `before`."""
    found = None
    for m in BLOCK.finditer(doc.read_text()):
        if before is not None and m["body"] == before:
            break
        if m["lang"] == "yaml" and m["body"].lstrip().startswith("# orch.yaml"):
            found = m["body"]
    return found


def python_groups(doc: Path) -> list[tuple[str | None, list[str]]]:
    """Python blocks grouped by the config they follow (one shell per group)."""
    groups: dict[str | None, list[str]] = {}
    for body in blocks(doc, "python"):
        groups.setdefault(doc_config(doc, body), []).append(body)
    return list(groups.items())


def ids(pairs: list[tuple[Path, str]]) -> list[str]:
    return [f"{doc.name}:{i}" for i, (doc, _) in enumerate(pairs)]


YAML = [(d, b) for d in DOCS for b in blocks(d, "yaml")]
BASH = [(d, b) for d in DOCS for b in blocks(d, "bash")]
PYTHON_GROUPS = [(d, cfg, cells) for d in DOCS for cfg, cells in python_groups(d)]
PYTHON_DOCS = [d for d, _, _ in PYTHON_GROUPS]


def test_the_docs_have_blocks() -> None:
    assert YAML and BASH and PYTHON_DOCS
    assert (REPO / "docs" / "configuration.md") in {d for d, _ in YAML}


@pytest.mark.parametrize("doc,body", YAML, ids=ids(YAML))
def test_yaml_block_is_a_valid_config(doc: Path, body: str) -> None:
    import yaml

    data = yaml.safe_load(body)
    service_keys = set(build_schema()["properties"]["services"]["additionalProperties"]
                       ["properties"])
    if isinstance(data, dict) and data and set(data) <= service_keys:
        # A fragment of one service (e.g. its `filters:`): validate it inside a service.
        body = yaml.safe_dump({"services": {"example": {"command": "true", **data}}})
        data = yaml.safe_load(body)
    load_config_text(body, f"{doc.name} block")
    assert set(data) & {"environments", "services", "secrets"}
    jsonschema.validate(data, build_schema())


def test_configuration_reference_is_generated() -> None:
    proc = subprocess.run([sys.executable, "scripts/gen_config_docs.py", "--check"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_configuration_reference_covers_every_schema_key() -> None:
    text = (REPO / "docs" / "configuration.md").read_text()
    seen: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key in (node.get("properties") or {}):
                seen.add(key)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(build_schema())
    missing = sorted(k for k in seen if f"`{k}`" not in text)
    assert missing == []


def _remote(config_text: str | None, env: str) -> bool:
    if config_text is None:
        return False
    config = load_config_text(config_text)
    layers = config.environments[env].layers if env in config.environments else ()
    return any(layer.type in ("ssh", "docker") for layer in layers)


@pytest.mark.parametrize("doc,body", BASH, ids=ids(BASH))
def test_bash_block_commands_work(doc: Path, body: str, tmp_path: Path) -> None:
    config = doc_config(doc, body)
    if config:
        (tmp_path / "orch.yaml").write_text(config)
    env = {**os.environ, "PATH": f"{Path(ORCH).parent}:{os.environ['PATH']}"}
    env.pop("ORCH_CONFIG", None)
    ran = 0
    for raw in body.splitlines():
        line = raw.split("  #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line == "bash scripts/test.sh":  # the command running this very test
            assert "scripts/test.sh" in (REPO / ".ci" / "run").read_text()
            ran += 1
            continue
        if line.startswith("bash scripts/"):
            proc = subprocess.run(line, shell=True, cwd=REPO, env=env, capture_output=True,
                                  text=True, timeout=180)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            ran += 1
            continue
        if line.startswith("python -m orch_magics.kernelspec"):
            argv = shlex.split(line.replace("--sys-prefix", f"--prefix {tmp_path}"))
            proc = subprocess.run([sys.executable, *argv[1:]], env={**env, "HOME": str(tmp_path)},
                                  capture_output=True, text=True, timeout=60)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            ran += 1
            continue
        command = line.split("|")[-1].strip()  # `producer | orch run …`: the orch part
        assert command.startswith("orch "), f"untested command in {doc.name}: {line}"
        argv = shlex.split(command)
        if config is None:
            argv.insert(1, "--demo")
        if argv[1:2] == ["run"] or (len(argv) > 2 and argv[2] == "run"):
            i = argv.index("run")
            if _remote(config, argv[i + 1]):
                cut = argv.index("--") if "--" in argv else len(argv)
                argv.insert(cut, "--dry-run")
        proc = subprocess.run([ORCH, *argv[1:]], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr}"
        ran += 1
    assert ran, f"no command exercised in a bash block of {doc.name}"


SHELL_RUNNER = r'''
import json, sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "orch_magics")
errors = []
for i, cell in enumerate(json.load(sys.stdin)):
    result = shell.run_cell(cell, store_history=True)
    if not result.success:
        errors.append(f"block {i}: {result.error_before_exec or result.error_in_exec!r}")
print("ORCH-DOCS-RESULT " + json.dumps(errors))
'''


@pytest.mark.parametrize("doc,config,cells", PYTHON_GROUPS,
                         ids=[f"{d.name}:{i}" for i, (d, _, _) in enumerate(PYTHON_GROUPS)])
def test_python_blocks_run(doc: Path, config: str | None, cells: list[str],
                           tmp_path: Path) -> None:
    if config:
        (tmp_path / "orch.yaml").write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    proc = subprocess.run([sys.executable, "-c", SHELL_RUNNER], input=json.dumps(cells),
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    marker = [line for line in proc.stdout.splitlines() if line.startswith("ORCH-DOCS-RESULT")]
    assert marker, proc.stdout[-3000:] + proc.stderr[-3000:]
    errors = json.loads(marker[-1].split(" ", 1)[1])
    assert errors == [], "\n".join(errors) + "\n" + proc.stdout[-3000:]
