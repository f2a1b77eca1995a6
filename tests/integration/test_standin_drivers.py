"""Drivers for engines that cannot run here, exercised against the best local stand-ins:
Snowflake through fakesnow (the real connector, patched onto DuckDB) and ClickHouse through
the real clickhouse-connect client talking HTTP to chdb (embedded ClickHouse)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ktx.errors import KtxError
from ktx.project.config import KtxConfig
from ktx.warehouse.connector import connector_class
from ktx.warehouse.profile import profile_table
from tests.integration.test_readonly_attacks import COMMON


def _connector(entry: dict, base: Path):
    cfg = KtxConfig.model_validate({"connections": {"w": entry}})
    return connector_class(entry["driver"])("w", cfg.connections["w"], base)


# --- Snowflake (fakesnow) ---------------------------------------------------------------------


@pytest.fixture
def snowflake(tmp_path):
    fakesnow = pytest.importorskip("fakesnow")
    import snowflake.connector

    with fakesnow.patch():
        setup = snowflake.connector.connect(database="SHOP", schema="SALES")
        cur = setup.cursor()
        cur.execute("CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR, region VARCHAR)")
        cur.execute("COMMENT ON TABLE customers IS 'People who buy things'")
        cur.execute(
            "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT, amount NUMBER(10,2), created_at TIMESTAMP)"
        )
        cur.execute("INSERT INTO customers VALUES (1, 'Ana', 'north'), (2, 'Bo', 'south'), (3, 'Cy', 'north')")
        cur.execute(
            "INSERT INTO orders VALUES (1, 1, 10.5, '2024-01-01'), (2, 1, 3, '2024-02-01'), (3, 2, 7, '2024-03-01')"
        )
        entry = {
            "driver": "snowflake",
            "account": "acme-xy123",
            "user": "ktx",
            "password": "env:SNOWFLAKE_PASSWORD",
            "database": "SHOP",
            "schema_names": ["SALES"],
        }
        conn = _connector(entry, tmp_path)
        yield conn, setup
        conn.close()


def test_snowflake_introspection(snowflake):
    conn, _ = snowflake
    tables = {t.name: t for t in conn.introspect().tables}
    assert set(tables) == {"CUSTOMERS", "ORDERS"}
    assert tables["CUSTOMERS"].comment == "People who buy things"
    assert tables["CUSTOMERS"].primary_key == ["ID"]
    assert [(c.name, c.type) for c in tables["ORDERS"].columns] == [
        ("ID", "number"),
        ("CUSTOMER_ID", "number"),
        ("AMOUNT", "number"),
        ("CREATED_AT", "time"),
    ]
    assert tables["ORDERS"].row_estimate == 3


def test_snowflake_query_cap_and_profile(snowflake):
    conn, _ = snowflake
    result = conn.query("SELECT id FROM orders ORDER BY id", max_rows=2)
    assert result.rows == [[1], [2]] and result.truncated
    profile = profile_table(conn, "SALES", "CUSTOMERS", ["ID", "REGION"], top_k=1)
    assert profile.row_count == 3 and profile.columns["REGION"].top_values == [("north", 2)]


def test_snowflake_gate_and_rollback_backstop(snowflake):
    conn, setup = snowflake
    for attack in COMMON:
        with pytest.raises(KtxError):
            conn.query(attack)
    # Bypassing the gate on purpose: the statement runs inside a transaction that is rolled back.
    conn.execute("DELETE FROM orders")
    assert setup.cursor().execute("SELECT count(*) FROM orders").fetchall() == [(3,)]


# --- ClickHouse (chdb behind loopback HTTP) ---------------------------------------------------


@pytest.fixture(scope="module")
def chdb_server(tmp_path_factory):
    pytest.importorskip("chdb")
    pytest.importorskip("clickhouse_connect")
    from tests.fakes.clickhouse_http import ChdbHttpServer

    server = ChdbHttpServer(str(tmp_path_factory.mktemp("chdb")))
    server.setup(
        "CREATE DATABASE shop",
        "CREATE TABLE shop.orders (id UInt32, customer_id UInt32, amount Decimal(10, 2), status LowCardinality(String), "
        "note Nullable(String), created_at DateTime) ENGINE = MergeTree ORDER BY id COMMENT 'One row per order'",
        "CREATE VIEW shop.paid AS SELECT * FROM shop.orders WHERE status = 'paid'",
        "INSERT INTO shop.orders VALUES (1, 1, 10.5, 'paid', NULL, '2024-01-01 00:00:00'), "
        "(2, 1, 3, 'paid', 'gift', '2024-02-01 00:00:00'), (3, 2, 7, 'refunded', NULL, '2024-03-01 00:00:00')",
        "CREATE DATABASE other",
        "CREATE TABLE other.t (x UInt8) ENGINE = Memory",
    )
    yield server
    server.close()


@pytest.fixture
def clickhouse(chdb_server, tmp_path):
    conn = _connector(
        {
            "driver": "clickhouse",
            "url": f"clickhouse://default:pw-s3cret@127.0.0.1:{chdb_server.port}/shop",
            "databases": ["shop"],
        },
        tmp_path,
    )
    yield conn
    conn.close()


def test_clickhouse_introspection(clickhouse):
    tables = {t.name: t for t in clickhouse.introspect().tables}
    assert set(tables) == {"orders", "paid"}
    orders = tables["orders"]
    assert orders.comment == "One row per order" and orders.row_estimate == 3
    assert orders.primary_key == []  # the sorting key is not a uniqueness guarantee
    cols = {c.name: c for c in orders.columns}
    assert cols["note"].nullable and not cols["id"].nullable
    assert (cols["amount"].type, cols["status"].type, cols["created_at"].type) == ("number", "string", "time")
    assert tables["paid"].kind == "view"


def test_clickhouse_query_profile_and_settings_sent(clickhouse, chdb_server):
    result = clickhouse.query("SELECT id, amount FROM orders ORDER BY id", max_rows=2)
    assert result.rows == [[1, pytest.approx(10.5)], [2, pytest.approx(3)]] and result.truncated
    profile = profile_table(clickhouse, "shop", "orders", ["status", "note"], top_k=1)
    assert profile.columns["status"].top_values == [("paid", 2)] and profile.columns["note"].null_count == 2
    client_probes = ("SELECT version()", "SELECT name, value, readonly FROM system.settings", "SELECT 1 AS check")
    ours = [r for r in chdb_server.requests if not r["query"].startswith(client_probes)]
    assert ours and all(r["params"].get("readonly") == "2" for r in ours)


def test_clickhouse_gate(clickhouse, chdb_server):
    clickhouse.test()
    sent = len(chdb_server.requests)
    for attack in [
        *COMMON,
        "INSERT INTO orders SELECT * FROM orders",
        "OPTIMIZE TABLE orders FINAL",
        "SYSTEM STOP MERGES",
        "ALTER TABLE orders DELETE WHERE 1",
        "SELECT * FROM url('http://x', CSV)",
        "SELECT * FROM remote('10.0.0.1', db.t)",
        "SELECT * FROM s3('https://bucket/x.csv')",
        "SELECT * FROM file('/etc/passwd', 'LineAsString')",
        "SELECT * FROM postgresql('h:5432', 'db', 't', 'u', 'p')",
    ]:
        with pytest.raises(KtxError):
            clickhouse.query(attack)
    assert len(chdb_server.requests) == sent  # refused before anything reached the server


def test_clickhouse_errors_hide_the_password(clickhouse):
    with pytest.raises(KtxError) as exc:
        clickhouse.query("SELECT * FROM missing_table")
    assert "missing_table" in exc.value.message and "pw-s3cret" not in exc.value.message
