"""The shape of the codebase: no import cycles (between modules' top-level imports, in the core and in
every first-party plugin), and the core never imports a plugin."""
from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGES = {"i2ikit": ROOT / "i2ikit", **{p.name: p for p in sorted((ROOT / "plugins").glob("*/i2ikit_*"))}}


def _modules() -> dict[str, Path]:
    out = {}
    for package, root in PACKAGES.items():
        for file in root.rglob("*.py"):
            parts = [package, *file.relative_to(root).with_suffix("").parts]
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
    return out


def _top_level_imports(name: str, file: Path, known: set[str]) -> set[str]:
    """Modules of ``known`` that ``file`` imports when it is imported (not inside functions, not under
    ``if TYPE_CHECKING``)."""
    is_package = file.name == "__init__.py"
    found: set[str] = set()

    def walk(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(node.test):
                    walk(node.body)
                    walk(node.orelse)
            elif isinstance(node, ast.Try):
                walk(node.body)
                for handler in node.handlers:
                    walk(handler.body)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name in known)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                for alias in node.names:
                    sub = f"{module}.{alias.name}"
                    found.add(sub if sub in known else module)

    walk(ast.parse(file.read_text()).body)
    return {m for m in found if m in known and m != name}


def test_no_import_cycles() -> None:
    modules = _modules()
    graph = {name: _top_level_imports(name, file, set(modules)) for name, file in modules.items()}
    assert len(graph) > 60 and graph["i2ikit.train.trainer"]  # the scan sees the code base
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str], done: set[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in path:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in done:
                visit(nxt, path + [nxt], done)
        done.add(node)

    done: set[str] = set()
    for start in sorted(graph):
        if start not in done:
            visit(start, [start], done)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles[:5])


def test_the_core_imports_no_plugin() -> None:
    plugins = {name for name in PACKAGES if name != "i2ikit"}
    for file in (ROOT / "i2ikit").rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            bad = [n for n in names if n.split(".")[0] in plugins]
            assert not bad, f"{file.relative_to(ROOT)} imports {bad}"
