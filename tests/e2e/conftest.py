"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.fixtures.demo import copy_demo_layer

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo"


@pytest.fixture
def shop(project: Path) -> Path:
    """A project with the demo shop warehouse in DuckDB as `warehouse` and the demo semantic layer."""
    sys.path.insert(0, str(DEMO))
    import warehouse

    warehouse.build_duckdb(project / "shop.duckdb")
    copy_demo_layer(project / "semantic-layer")
    text = (project / "ktx.yaml").read_text()
    (project / "ktx.yaml").write_text(
        text.replace("connections: {}", "")
        + "\nconnections:\n  warehouse:\n    driver: duckdb\n    path: shop.duckdb\n"
    )
    return project
