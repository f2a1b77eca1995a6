"""A scan of many DuckDB tables releases what DuckDB caches of them between batches (its buffer pool keeps every
block a query touched, at least one per table, up to memory_limit): profiling and relationship validation go on
with the same answers, the release never happens while a query runs, and the memory DuckDB holds drops."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ktx.project.config import KtxConfig
from ktx.scan import profile
from ktx.scan.profile import ProfileColumn, profile_tables
from ktx.warehouse.connector import connector_class
from ktx.warehouse.drivers import duckdb as duckdb_driver


def _connector(tmp_path: Path, tables: int):
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    for i in range(tables):
        con.execute(f"CREATE TABLE t{i} AS SELECT r AS id, r * {i} AS v, 'x' || r AS s FROM range(0, 2000) t(r)")
    con.close()
    config = KtxConfig.model_validate({"connections": {"wh": {"driver": "duckdb", "path": str(path)}}})
    return connector_class("duckdb")("wh", config.connections["wh"], tmp_path)


def _cached_bytes(connector) -> int:
    rows = connector._database().execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchall()
    return int(rows[0][0] or 0)


def test_profiling_releases_the_cache_between_batches_and_answers_the_same(tmp_path: Path, monkeypatch) -> None:
    connector = _connector(tmp_path, 7)
    columns = [ProfileColumn("id", "number"), ProfileColumn("v", "number"), ProfileColumn("s", "string")]
    targets = [(f"main.t{i}", "main", f"t{i}", columns, None) for i in range(7)]
    releases: list[int] = []
    real = connector.release_cache

    def counted() -> None:
        releases.append(_cached_bytes(connector))
        real()

    monkeypatch.setattr(connector, "release_cache", counted)
    monkeypatch.setattr(duckdb_driver, "RELEASE_AT", 0)  # release at every batch
    try:
        baseline = profile_tables(connector, targets, sample_rows=500, concurrency=1)
        monkeypatch.setattr(profile, "RELEASE_EVERY", 3)
        monkeypatch.setattr(connector, "profile_batch_size", 1)  # one table per query
        releases.clear()
        batched = profile_tables(connector, targets, sample_rows=500, concurrency=2)
        after = _cached_bytes(connector)
        monkeypatch.setattr(profile, "RELEASE_EVERY", 4)
        monkeypatch.setattr(connector, "profile_batch_size", 2)  # two tables per query: released every two queries
        two_at_a_time = profile_tables(connector, targets, sample_rows=500, concurrency=2)
    finally:
        connector.close()
    assert len(releases) == 3 + 2  # after tables 1-3, 4-6 and 7; then after 1-4 and 5-7
    assert {k: (s.row_count, s.columns) for k, s in batched.items()} == {
        k: (s.row_count, s.columns) for k, s in baseline.items()
    }
    assert two_at_a_time == batched
    assert max(releases) > 0 and after < max(releases)  # what DuckDB held before a release is gone after it


def test_no_release_while_a_query_runs(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(duckdb_driver, "RELEASE_AT", 0)
    connector = _connector(tmp_path, 1)
    try:
        connector.execute("SELECT count(*) FROM t0")
        pool = connector._pool
        with pool.connection():  # a query in flight on another thread
            connector.release_cache()
            assert connector._db is not None and connector._pool is pool
        connector.release_cache()
        assert connector._db is None  # closed, and opened again by the next query
        assert connector.execute("SELECT count(*) FROM t0").rows[0][0] == 2000
    finally:
        connector.close()


def test_a_small_cache_is_kept_rather_than_reopening_a_slow_catalog(tmp_path: Path) -> None:
    """Reopening re-reads the whole catalog (seconds for 100,000 tables): below RELEASE_AT, and before the work since
    opening has paid for a reopen, nothing is closed."""
    connector = _connector(tmp_path, 3)
    try:
        columns = [ProfileColumn("id", "number"), ProfileColumn("s", "string")]
        profile_tables(connector, [(f"main.t{i}", "main", f"t{i}", columns, None) for i in range(3)], sample_rows=100,
                       concurrency=1)  # fmt: skip
        database = connector._db
        assert 0 < _cached_bytes(connector) - connector._opened_bytes < duckdb_driver.RELEASE_AT
        connector._open_seconds = 60.0  # as if this catalog took a minute to open
        connector.release_cache()
        assert connector._db is database
        connector._open_seconds = 0.0  # an instant reopen has paid for itself: the cache goes
        connector.release_cache()
        assert connector._db is None
    finally:
        connector.close()
