"""The module graph and the size of the code, checked so the architecture cannot drift.

The contracts themselves (which package may import which) are in pyproject.toml under
[tool.importlinter]; docs/architecture.md draws the same picture.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp

PACKAGE = Path(__file__).resolve().parent.parent / "orch_magics"
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--no-cache"], cwd=PACKAGE.parent, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles() -> None:
    graph = grimp.build_graph("orch_magics", exclude_type_checking_imports=True)
    modules = set(graph.modules)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) & modules for m in modules}
    assert _cycles(edges) == []


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def test_no_long_functions_or_modules() -> None:
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        name = path.relative_to(PACKAGE.parent)
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{name}: {len(text.splitlines())} lines")
        for fn in _functions(ast.parse(text)):
            length = (fn.end_lineno or fn.lineno) - fn.lineno + 1
            if length > MAX_FUNCTION_LINES:
                too_long.append(f"{name}:{fn.lineno} {fn.name}(): {length} lines")
    assert too_long == []


def test_no_private_member_reached_from_another_module() -> None:
    """`obj._name` only on self/cls; a private name reached elsewhere needs a stated reason.

    A third-party library's internals reached on purpose carry `# private-ok: why` on the line.
    """
    reached = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.ImportFrom) and node.level and any(
                    a.name.startswith("_") and not a.name.startswith("__") for a in node.names):
                reached.append(f"{path.name}:{node.lineno}: imports a private name")
            if not (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                    and not node.attr.endswith("_")):  # `_repr_html_`-style protocols are public
                continue
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            if "# private-ok:" in lines[node.lineno - 1]:
                continue
            reached.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: "
                           f"{ast.unparse(node)}")
    assert reached == []


#: Calls that start a process on this machine: `subprocess.X` and asyncio's.
SUBPROCESS = {"run", "Popen", "call", "check_call", "check_output"}
SPAWNS = SUBPROCESS | {"subprocess_exec", "subprocess_shell", "create_subprocess_exec",
                       "create_subprocess_shell"}


def test_every_local_child_gets_an_environment_without_the_secret_variables() -> None:
    """Finding sudo #8: a child started with this process's environment holds every
    `ORCH_SECRET_*` (the sudo password among them); each spawn passes `env=` built on
    `inherited_environ()`."""
    bare = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in SPAWNS):
                continue
            if node.func.attr in SUBPROCESS and ast.unparse(node.func.value) != "subprocess":
                continue  # asyncio.run, a loop's call, …
            keywords = {k.arg: ast.unparse(k.value) for k in node.keywords}
            if "inherited_environ()" not in keywords.get("env", ""):
                bare.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: "
                            f"{ast.unparse(node.func)}")
    assert bare == []
