"""The layering DESIGN.md promises, checked on the source (every import, module-level or inside a function)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "ktx"
SERVICES = ("semantic", "search", "wiki", "warehouse", "llm")


def imports_of(package: str) -> dict[str, set[str]]:
    """module path → every `ktx.*` module it imports, anywhere in the file."""
    found: dict[str, set[str]] = {}
    for path in (SRC / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ktx"):
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names if a.name.startswith("ktx"))
        found[str(path.relative_to(SRC))] = names
    return found


def test_no_service_or_project_module_imports_a_face():
    for package in (*SERVICES, "project"):
        for module, names in imports_of(package).items():
            faces = sorted(n for n in names if n.startswith(("ktx.cli", "ktx.mcp", "ktx.setup")))
            assert faces == [], f"{module} imports {faces}"


def test_project_imports_no_service_so_there_is_no_cycle():
    # The one exception is the driver registry: a table of names with no imports of its own.
    for module, names in imports_of("project").items():
        packages = {n: n.split(".")[1] if "." in n else "" for n in names}  # `import ktx` names no package
        services = sorted(n for n, p in packages.items() if p in SERVICES and n != "ktx.warehouse.registry")
        assert services == [], f"{module} imports {services}"
    registry = imports_of("warehouse")["warehouse/registry.py"]
    assert registry == set()


def module_graph() -> dict[str, set[str]]:
    """ktx module → the ktx modules it imports: module level, inside functions and under TYPE_CHECKING alike.
    `from pkg import name` is an edge to the submodule `pkg.name` when there is one, else to `pkg` itself."""
    modules: dict[str, Path] = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def owner(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ktx"):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    edges.add(sub if sub in modules else owner(node.module))
            elif isinstance(node, ast.Import):
                edges.update(owner(a.name) for a in node.names if a.name.startswith("ktx"))
        graph[module] = edges - {module, ""}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_anywhere_in_ktx():
    assert cycles(module_graph()) == []
