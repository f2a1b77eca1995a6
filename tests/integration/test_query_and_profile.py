"""Row caps, result values, profiling, pooling and error hygiene on every local engine."""

from __future__ import annotations

import threading

import pytest

from ktx.errors import KtxError
from ktx.warehouse.connector import WarehouseError
from ktx.warehouse.profile import profile_table
from tests.integration.conftest import make_connector


def test_row_cap_truncates_and_reports_it(warehouse, connector):
    orders = warehouse.qualify("orders")
    capped = connector.query(f"SELECT id FROM {orders} ORDER BY id", max_rows=10)
    assert [r[0] for r in capped.rows] == list(range(1, 11))
    assert capped.truncated is True
    exact = connector.query(f"SELECT id FROM {orders} ORDER BY id", max_rows=40)
    assert exact.row_count == 40 and exact.truncated is False
    smaller = connector.query(f"SELECT id FROM {orders} ORDER BY id LIMIT 3", max_rows=10)
    assert smaller.row_count == 3 and not smaller.truncated
    larger = connector.query(f"SELECT id FROM {orders} ORDER BY id LIMIT 30", max_rows=5)
    assert larger.row_count == 5 and larger.truncated
    union = connector.query(f"SELECT id FROM {orders} UNION ALL SELECT id FROM {orders}", max_rows=7)
    assert union.row_count == 7 and union.truncated


def test_every_row_limit_the_user_wrote_survives_the_cap(warehouse, connector):
    orders = warehouse.qualify("orders")
    fetch = connector.query(f"SELECT id FROM {orders} ORDER BY id FETCH FIRST 2 ROWS ONLY", max_rows=1000)
    assert [r[0] for r in fetch.rows] == [1, 2] and not fetch.truncated
    paged = connector.query(f"SELECT id FROM {orders} ORDER BY id OFFSET 3 ROWS FETCH NEXT 2 ROWS ONLY", max_rows=1000)
    assert [r[0] for r in paged.rows] == [4, 5]
    offset = connector.query(f"SELECT id FROM {orders} ORDER BY id LIMIT 2 OFFSET 5", max_rows=1000)
    assert [r[0] for r in offset.rows] == [6, 7]
    bigger = connector.query(f"SELECT id FROM {orders} ORDER BY id FETCH FIRST 30 ROWS ONLY", max_rows=4)
    assert bigger.row_count == 4 and bigger.truncated


def test_duplicate_column_names_survive_the_cap(warehouse, connector):
    orders = warehouse.qualify("orders")
    result = connector.query(f"SELECT id, id FROM {orders} ORDER BY 1", max_rows=2)
    assert len(result.headers) == 2 and result.rows[0][0] == result.rows[0][1] == 1


def test_max_rows_bounds(connector):
    for bad in (0, 10_001):
        with pytest.raises(KtxError, match="between 1 and 10000"):
            connector.query("SELECT 1", max_rows=bad)


def test_profile_counts_top_values_and_samples(warehouse, connector):
    profile = profile_table(
        connector,
        warehouse.schema if warehouse.engine != "sqlite" else None,
        "customers",
        ["id", "email", "region", "select"],
        sample_rows=1000,
        top_k=2,
        sample_size=3,
    )
    assert profile.row_count == 20 and profile.sampled_rows == 20
    assert profile.columns["email"].null_count == 4
    assert profile.columns["id"].distinct_count == 20
    assert profile.columns["region"].distinct_count == 3
    # region by id % 3: 0 → north (6, plus id 7) = 7, 1 → south (7, minus id 7) = 6, 2 → east = 7;
    # ties rank by value, so east comes before north.
    assert profile.columns["region"].top_values == [("east", 7), ("north", 7)]
    assert len(profile.columns["select"].top_values) == 2
    assert len(profile.sample_rows) == 3 and set(profile.sample_rows[0]) == {"id", "email", "region", "select"}
    assert connector.queries_issued == 3


def test_profile_of_awkward_table_names(warehouse, connector):
    schema = warehouse.schema if warehouse.engine != "sqlite" else None
    profile = profile_table(connector, schema, "order items", ["order_id", "sku"], sample_rows=100)
    assert profile.row_count == 60 and profile.columns["sku"].distinct_count == 6
    cafe = profile_table(connector, schema, "café", ["naïve", "größe"])
    assert cafe.row_count == 1 and cafe.columns["naïve"].top_values == [("oui", 1)]


def test_pool_never_exceeds_max_connections(warehouse):
    connector = make_connector(warehouse, maxConnections=2)
    orders = warehouse.qualify("orders")
    errors = []

    def work() -> None:
        try:
            for _ in range(5):
                connector.query(f"SELECT count(*) FROM {orders}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert 1 <= connector.pool.peak_in_use <= 2
        assert len(connector.pool._all) <= 2
    finally:
        connector.close()


def test_bad_credentials_never_appear_in_errors(warehouse):
    if warehouse.engine not in ("postgres", "mysql"):
        pytest.skip("server engines only")
    secret = "Sup3rS3cret-pw"
    scheme = "postgresql" if warehouse.engine == "postgres" else "mysql"
    url = f"{scheme}://ktx_nobody:{secret}@127.0.0.1:{5432 if scheme == 'postgresql' else 3306}/test"
    connector = make_connector(warehouse, url=url)
    with pytest.raises(WarehouseError) as exc:
        connector.test()
    assert secret not in exc.value.message
    assert "wh (" in exc.value.message


def test_missing_database_file_is_a_clear_error(tmp_path):
    from ktx.project.config import KtxConfig
    from ktx.warehouse.connector import connector_class

    for driver in ("duckdb", "sqlite"):
        cfg = KtxConfig.model_validate({"connections": {"w": {"driver": driver, "path": "nope.db"}}})
        conn = connector_class(driver)("w", cfg.connections["w"], tmp_path)
        with pytest.raises(KtxError, match="database file not found"):
            conn.test()
