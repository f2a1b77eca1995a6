"""DuckDB profiles through its own UNPIVOT (it plans the generic one-branch-per-column UNION slowly): through the
real connector and read-only gate, the stats must be exactly the generic query's, on awkward data."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from ktx.project.config import KtxConfig
from ktx.scan.profile import ProfileColumn, _parse_rows, profile_sql, profile_table, profile_tables
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


CHINOOK = Path(__file__).resolve().parents[3] / "shared" / "data" / "realdb" / "chinook.sqlite.gz"


def _duckdb_type(declared: str) -> str:
    declared = declared.upper()
    if declared.startswith(("NUMERIC", "DECIMAL")):
        return "DECIMAL(10,2)"
    if declared.startswith("INT"):
        return "INTEGER"
    return "TIMESTAMP" if declared.startswith("DATE") else "VARCHAR"


def _kind(duck_type: str) -> str:
    return {"DECIMAL(10,2)": "number", "INTEGER": "number", "TIMESTAMP": "time"}.get(duck_type, "string")


@pytest.mark.skipif(not CHINOOK.is_file(), reason=f"no sample database at {CHINOOK}")
def test_tables_profiled_ten_to_a_query_get_exactly_their_own_figures(tmp_path: Path) -> None:
    """Chinook (found data: accents, NULL-heavy columns, 3,503 tracks) copied into DuckDB, with an empty table, an
    all-NULL table and a table dropped after the catalog was read: one query per ten tables gives each table the
    figures its own query gives, and the dropped table fails alone."""
    import csv
    import gzip
    import sqlite3

    source = tmp_path / "chinook.sqlite"
    source.write_bytes(gzip.decompress(CHINOOK.read_bytes()))
    lite = sqlite3.connect(source)
    path = tmp_path / "chinook.duckdb"
    duck = duckdb.connect(str(path))
    targets = []
    for (name,) in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
        info = lite.execute(f'PRAGMA table_info("{name}")').fetchall()
        types = [_duckdb_type(declared) for _, _, declared, *_ in info]
        columns = ", ".join(f'"{c[1]}" {t}' for c, t in zip(info, types, strict=True))
        duck.execute(f'CREATE TABLE "{name}" ({columns})')
        with (tmp_path / f"{name}.csv").open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(lite.execute(f'SELECT * FROM "{name}"'))  # DuckDB inserts row by row slowly
        duck.execute(f"COPY \"{name}\" FROM '{tmp_path / name}.csv' (HEADER false, NULLSTR '')")
        profiled = [ProfileColumn(c[1], _kind(t)) for c, t in zip(info, types, strict=True)]
        targets.append((f"main.{name}", "main", name, profiled, None))
    duck.execute("CREATE TABLE empty_one (id INTEGER, label VARCHAR)")
    duck.execute("CREATE TABLE all_null (id INTEGER, label VARCHAR)")
    duck.execute("INSERT INTO all_null SELECT NULL, NULL FROM range(7)")
    pair = [ProfileColumn("id", "number"), ProfileColumn("label", "string")]
    targets += [(f"main.{name}", "main", name, pair, None) for name in ("empty_one", "all_null", "dropped_since")]
    duck.close()
    lite.close()
    config = KtxConfig.model_validate({"connections": {"wh": {"driver": "duckdb", "path": str(path)}}})
    connector = connector_class("duckdb")("wh", config.connections["wh"], tmp_path)
    try:
        assert connector.profile_batch_size == 10
        batched = profile_tables(connector, targets, sample_rows=1000, concurrency=2)
        connector.profile_batch_size = 1
        alone = profile_tables(connector, targets, sample_rows=1000, concurrency=2)
    finally:
        connector.close()
    assert set(batched) == {t[0] for t in targets} and batched == alone
    assert [k for k, s in batched.items() if s.failed] == ["main.dropped_since"]
    track = batched["main.Track"]
    assert (track.row_count, track.sampled) == (3503, 1000) and track.columns["Composer"].null_count > 0
    assert (batched["main.empty_one"].row_count, batched["main.all_null"].row_count) == (0, 7)
    assert batched["main.all_null"].columns["label"].null_count == 7
