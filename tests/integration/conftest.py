from __future__ import annotations

from pathlib import Path

import pytest

from ktx.project.config import KtxConfig
from ktx.warehouse.connector import Connector, connector_class
from tests.integration.warehouses import Warehouse, build_duckdb, build_mysql, build_postgres, build_sqlite

ENGINES = ["duckdb", "sqlite", "postgres", "mysql"]


@pytest.fixture(params=ENGINES)
def warehouse(request, tmp_path: Path):
    engine = request.param
    if engine == "duckdb":
        yield build_duckdb(tmp_path)
    elif engine == "sqlite":
        yield build_sqlite(tmp_path)
    else:
        wh, drop = (build_postgres if engine == "postgres" else build_mysql)(tmp_path)
        try:
            yield wh
        finally:
            drop()


def make_connector(wh: Warehouse, **overrides) -> Connector:
    entry = {**wh.config, **overrides}
    config = KtxConfig.model_validate({"connections": {"wh": entry}})
    return connector_class(entry["driver"])("wh", config.connections["wh"], wh.tmp)


@pytest.fixture
def connector(warehouse):
    conn = make_connector(warehouse)
    yield conn
    conn.close()
