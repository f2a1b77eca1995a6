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
        services = sorted(n for n in names if n.split(".")[1] in SERVICES and n != "ktx.warehouse.registry")
        assert services == [], f"{module} imports {services}"
    registry = imports_of("warehouse")["warehouse/registry.py"]
    assert registry == set()
