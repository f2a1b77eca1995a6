"""What a long-running server loads before its first call (`warm_catalogue`, started by the HTTP daemon once it
listens, and the `Services.warm` under it): the search index and each warehouse connection's semantic layer — and
never a warehouse connection."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ktx.mcp.catalog import warm_catalogue
from ktx.project.project import Project
from ktx.semantic import cache
from ktx.services import Services
from tests.e2e.mcp_support import build_served_project


def test_warm_loads_the_index_and_layers_without_connecting(tmp_path: Path) -> None:
    root = build_served_project(tmp_path)
    past = time.time() - 60  # a layer written within the last seconds is not kept (coarse file clocks)
    for path in (root / "semantic-layer").rglob("*"):
        os.utime(path, (past, past))
    cache.forget_loaded()
    sys.modules.pop("ktx.warehouse.drivers.postgres", None)
    with Services(Project(root)) as services:
        warm_catalogue(services)
        # The demo's DuckDB and a Postgres that cannot be reached (port 1): neither is opened by warming.
        assert services._connectors == {}
        assert "search" in services.__dict__
        assert any(folder.endswith("semantic-layer/warehouse") for folder, _ in cache._LOADED)
        assert "ktx.warehouse.drivers.postgres" in sys.modules
        # What was loaded is what the first call uses.
        outcome = services.search.search_wiki("revenue", limit=3)
        assert outcome.items


def test_warm_with_a_broken_layer_leaves_the_error_to_the_call(tmp_path: Path) -> None:
    root = build_served_project(tmp_path, ingest=False)
    layer = root / "semantic-layer" / "warehouse"
    layer.mkdir(parents=True, exist_ok=True)
    (layer / "orders.yaml").write_text("name: orders\ncolumns: [\n")
    cache.forget_loaded()
    with Services(Project(root)) as services:
        services.warm()  # does not raise
        assert services._connectors == {}
