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
from tests.integration.test_readonly_attacks import corpus

COMMON = [sql for verdict, sql in corpus("common") if verdict == "deny"]


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
    from tests.fakes.clickhouse_http import shared_server

    server = shared_server()
    server.setup(
        "DROP DATABASE IF EXISTS shop",
        "DROP DATABASE IF EXISTS other",
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


# --- BigQuery (the real client against a DuckDB-backed REST stand-in) -------------------------


@pytest.fixture(scope="module")
def bigquery_server():
    pytest.importorskip("google.cloud.bigquery")
    from tests.fakes.bigquery_rest import BigQueryRestServer

    server = BigQueryRestServer("acme-analytics")
    server.setup(
        "CREATE SCHEMA shop",
        "CREATE TABLE shop.customers (id BIGINT PRIMARY KEY, name VARCHAR, region VARCHAR)",
        "COMMENT ON TABLE shop.customers IS 'People who buy things'",
        "COMMENT ON COLUMN shop.customers.region IS 'Sales region'",
        "CREATE TABLE shop.orders (id BIGINT PRIMARY KEY, customer_id BIGINT REFERENCES shop.customers (id), "
        "amount DECIMAL(10, 2), created_at TIMESTAMP)",
        "INSERT INTO shop.customers VALUES (1, 'Ana', 'north'), (2, 'Bo', 'south'), (3, 'Cy', 'north')",
        "INSERT INTO shop.orders VALUES (1, 1, 10.5, '2024-01-01'), (2, 1, 3, '2024-02-01'), (3, 2, 7, '2024-03-01')",
    )
    yield server
    server.close()


@pytest.fixture
def bigquery(bigquery_server, tmp_path):
    conn = _connector(
        {
            "driver": "bigquery",
            "project_id": "acme-analytics",
            "dataset_ids": ["shop"],
            "api_endpoint": bigquery_server.endpoint,
            "max_bytes_billed": 10_000_000,
        },
        tmp_path,
    )
    yield conn
    conn.close()


def test_bigquery_introspection(bigquery):
    catalog = bigquery.introspect()
    tables = {t.name: t for t in catalog.tables}
    assert set(tables) == {"customers", "orders"}
    assert tables["customers"].comment == "People who buy things"
    assert tables["customers"].column("region").comment == "Sales region"
    assert tables["customers"].primary_key == ["id"]
    (fk,) = tables["orders"].foreign_keys
    assert (fk.columns, fk.ref_table, fk.ref_columns) == (["customer_id"], "customers", ["id"])
    assert tables["orders"].row_estimate == 3
    assert bigquery.queries_issued == 4  # per dataset, not per table


def test_bigquery_dry_run_precedes_every_query(bigquery, bigquery_server):
    before = len(bigquery_server.requests)
    result = bigquery.query("SELECT id FROM `acme-analytics.shop.orders` ORDER BY id", max_rows=2)
    assert result.rows == [[1], [2]] and result.truncated
    sent = bigquery_server.requests[before:]
    assert [r["path"].split("?")[0].rsplit("/", 1)[-1] for r in sent] == ["jobs", "queries"]
    assert sent[0]["body"]["configuration"]["dryRun"] is True
    assert sent[1]["body"]["maximumBytesBilled"] == "10000000"
    assert "LIMIT 3" in sent[1]["body"]["query"]


def test_bigquery_gate_stops_attacks_before_the_network(bigquery, bigquery_server):
    bigquery.test()
    sent = len(bigquery_server.requests)
    for attack in [
        *COMMON,
        "EXPORT DATA OPTIONS (uri='gs://x/*.csv', format='CSV') AS SELECT 1",
        "SELECT * FROM EXTERNAL_QUERY('us.pg', 'DELETE FROM t')",
    ]:
        with pytest.raises(KtxError):
            bigquery.query(attack)
    assert len(bigquery_server.requests) == sent


def test_bigquery_profile(bigquery):
    profile = profile_table(bigquery, "shop", "customers", ["region"], top_k=1)
    assert profile.row_count == 3 and profile.columns["region"].top_values == [("north", 2)]


# --- SQL Server (no server or stand-in exists here: SQL shape and failure paths only) --------


def test_sqlserver_row_cap_and_gate_render_tsql(tmp_path):
    from ktx.warehouse.readonly import gate_query

    assert (
        gate_query("SELECT id FROM dbo.orders ORDER BY id", "tsql", 10).sql
        == "SELECT TOP 11 id FROM dbo.orders ORDER BY id"
    )
    for attack in [
        *COMMON,
        "EXEC xp_cmdshell 'dir'",
        "SELECT * FROM OPENROWSET('SQLNCLI', 'x', 'select 1')",
        "SELECT * FROM OPENQUERY(srv, 'delete from t')",
        "SELECT * FROM OPENDATASOURCE('x', 'y').db.dbo.t",
    ]:
        with pytest.raises(KtxError):
            gate_query(attack, "tsql", 10)


def test_sqlserver_catalog_sql_parses_as_tsql():
    import sqlglot

    from ktx.warehouse.drivers._network import sql_string_list
    from ktx.warehouse.drivers.sqlserver import catalog_queries

    for sql in catalog_queries(sql_string_list(["dbo", "sales"], national=True)).values():
        assert sqlglot.parse_one(sql, read="tsql") is not None


def test_sqlserver_unreachable_server_is_a_clean_error(tmp_path):
    pytest.importorskip("pymssql")
    conn = _connector({"driver": "sqlserver", "url": "sqlserver://sa:Zz-secret-9@127.0.0.1:1/master"}, tmp_path)
    with pytest.raises(KtxError) as exc:
        conn.test()
    assert "Zz-secret-9" not in exc.value.message and exc.value.message.startswith("w (sqlserver):")
