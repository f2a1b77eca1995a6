"""DuckDB profiles through its own UNPIVOT (it plans the generic one-branch-per-column UNION slowly): through the
real connector and read-only gate, the stats must be exactly the generic query's, on awkward data."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ktx.project.config import KtxConfig
from ktx.scan.profile import ProfileColumn, _parse_rows, profile_sql, profile_table
from ktx.warehouse.connector import connector_class

COLUMNS = [
    ProfileColumn("id", "number"),
    ProfileColumn("Mixed Case", "string"),
    ProfileColumn("amount", "number"),
    ProfileColumn("flag", "boolean"),
    ProfileColumn("day", "time"),
    ProfileColumn("note", "string"),
    ProfileColumn("select", "string"),
    ProfileColumn("it's", "number"),
    ProfileColumn('we"ird`]', "string"),
]


def test_duckdb_unpivot_profile_equals_the_generic_one(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        'CREATE TABLE "odd table" (id INTEGER, "Mixed Case" VARCHAR, amount DECIMAL(10,2), flag BOOLEAN, day DATE, '
        'note VARCHAR, "select" VARCHAR, "it\'s" INTEGER, "we""ird`]" VARCHAR)'
    )
    con.execute(
        'INSERT INTO "odd table" (id, "Mixed Case", amount, flag, day, note, "select") SELECT i, CASE WHEN i % 3 = 0 THEN NULL ELSE \'v\' || (i % 7) END, i * 1.25, '
        "i % 2 = 0, DATE '2025-01-01' + i::INTEGER, CASE WHEN i % 5 = 0 THEN '' ELSE 'it''s ' || i END, NULL "
        "FROM range(1, 300) t(i)"
    )
    con.execute(
        'UPDATE "odd table" SET "it\'s" = id % 11, "we""ird`]" = CASE WHEN id % 4 = 0 THEN NULL ELSE \'w\' || id END'
    )
    con.close()
    config = KtxConfig.model_validate({"connections": {"wh": {"driver": "duckdb", "path": str(path)}}})
    connector = connector_class("duckdb")("wh", config.connections["wh"], tmp_path)
    try:
        fast = profile_table(connector, "main.odd table", "main", "odd table", COLUMNS, 200)
        generic_sql = profile_sql("main", "odd table", COLUMNS, 200, "duckdb", None, engine_specific=False)
        assert "UNPIVOT" in profile_sql("main", "odd table", COLUMNS, 200, "duckdb", None)
        total, sampled, stats = _parse_rows(list(connector.execute(generic_sql).rows), COLUMNS)
    finally:
        connector.close()
    assert not fast.failed and not fast.warnings
    assert (fast.row_count, fast.sampled) == (total, sampled) == (299, 200)
    assert fast.columns == stats
    assert stats["select"].distinct_count == 0 and stats["note"].distinct_count == 161  # 160 texts and ''; NULL is none
    assert stats["amount"].min_value is not None and stats["Mixed Case"].null_count > 0
