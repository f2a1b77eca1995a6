"""`ktx ingest` on the engines that only run here as stand-ins: Snowflake (fakesnow under the real connector),
ClickHouse (the real clickhouse-connect client over HTTP to chdb) and BigQuery (the real google-cloud-bigquery
client against a loopback REST server). Each schema declares no foreign keys where the engine cannot: the join
must come from discovery, pass SQL validation on the engine, and answer a semantic query there."""

from __future__ import annotations

from pathlib import Path

import pytest

from ktx.ingest.run import run_ingest
from ktx.project.project import Project, init_project
from ktx.project.yamlio import safe_load
from ktx.semantic.service import run_query
from ktx.services import Services

CUSTOMERS = [(i, f"name-{i}", "north" if i % 3 else "south") for i in range(1, 31)]
ORDERS = [(i, 1 + (i * 7) % 30, 10 + i % 17) for i in range(1, 121)]


def _ingest(tmp_path: Path, entry: dict) -> tuple[Project, dict]:
    root = tmp_path / "proj"
    init_project(root)
    project = Project(root)
    project.update_config(lambda d: d.__setitem__("connections", {"wh": entry}), "add wh")
    project = Project(root)
    with Services(project) as services:
        [result] = run_ingest(services, "wh").results
    assert result.status == "done", result.message
    [shard] = sorted((root / "semantic-layer" / "wh" / "_schema").glob("*.yaml"))
    return project, safe_load(shard.read_text())["tables"]


def _names(tables: dict) -> dict[str, str]:
    return {name.lower(): name for name in tables}


def _check(project: Project, tables: dict, *, region: str) -> None:
    names = _names(tables)
    orders, customers = tables[names["orders"]], tables[names["customers"]]
    joins = {(j["to"], j["relationship"]) for j in orders["joins"]}
    assert (names["customers"], "many_to_one") in joins, orders["joins"]
    assert all(t.get("descriptions", {}).get("profile") for t in (orders, customers))
    order_id = next(c["name"] for c in orders["columns"] if c["name"].lower() == "id")  # Snowflake upper-cases
    with Services(Project(project.root)) as services:
        answer = run_query(
            services, "wh", {"measures": [f"count({names['orders']}.{order_id})"], "dimensions": [region]}, execute=True
        )
    rows = answer.to_json()["rows"]
    assert sum(int(r[1]) for r in rows) == len(ORDERS)
    expected_north = sum(1 for _, customer, _ in ORDERS if customer % 3)
    assert sorted(int(r[1]) for r in rows) == sorted([expected_north, len(ORDERS) - expected_north])


def test_snowflake_ingest(tmp_path, monkeypatch):
    fakesnow = pytest.importorskip("fakesnow")
    import snowflake.connector

    monkeypatch.setenv("SNOWFLAKE_PASSWORD", "pw")
    with fakesnow.patch():
        cur = snowflake.connector.connect(database="SHOP", schema="SALES").cursor()
        cur.execute("CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR, region VARCHAR)")
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT, amount NUMBER(10,2))")
        cur.execute("INSERT INTO customers VALUES " + ", ".join(f"({i}, '{n}', '{r}')" for i, n, r in CUSTOMERS))
        cur.execute("INSERT INTO orders VALUES " + ", ".join(f"({i}, {c}, {a})" for i, c, a in ORDERS))
        entry = {
            "driver": "snowflake",
            "account": "acme-xy123",
            "user": "ktx",
            "password": "env:SNOWFLAKE_PASSWORD",
            "database": "SHOP",
            "schema_names": ["SALES"],
        }
        project, tables = _ingest(tmp_path, entry)
        _check(project, tables, region=f"{_names(tables)['customers']}.REGION")


def test_clickhouse_ingest(tmp_path):
    pytest.importorskip("chdb")
    pytest.importorskip("clickhouse_connect")
    from tests.fakes.clickhouse_http import shared_server

    server = shared_server()
    server.setup(
        "DROP DATABASE IF EXISTS ingest_shop",
        "CREATE DATABASE ingest_shop",
        "CREATE TABLE ingest_shop.customers (id UInt32, name String, region LowCardinality(String)) "
        "ENGINE = MergeTree ORDER BY id",
        "CREATE TABLE ingest_shop.orders (id UInt32, customer_id UInt32, amount Decimal(10, 2)) "
        "ENGINE = MergeTree ORDER BY id",
        "INSERT INTO ingest_shop.customers VALUES " + ", ".join(f"({i}, '{n}', '{r}')" for i, n, r in CUSTOMERS),
        "INSERT INTO ingest_shop.orders VALUES " + ", ".join(f"({i}, {c}, {a})" for i, c, a in ORDERS),
    )
    entry = {
        "driver": "clickhouse",
        "url": f"clickhouse://default:pw-s3cret@127.0.0.1:{server.port}/ingest_shop",
        "databases": ["ingest_shop"],
    }
    project, tables = _ingest(tmp_path, entry)
    _check(project, tables, region="customers.region")
    # ClickHouse declares no keys at all: the primary key comes from the profile.
    assert any(c.get("pk") for c in tables["customers"]["columns"] if c["name"] == "id")
    report = (project.root / "raw-sources/wh/live-database/snapshot/scan-report.json").read_text()
    assert "pw-s3cret" not in report


def test_bigquery_ingest(tmp_path):
    pytest.importorskip("google.cloud.bigquery")
    from tests.fakes.bigquery_rest import BigQueryRestServer

    server = BigQueryRestServer("acme-analytics")
    try:
        server.setup(
            "CREATE SCHEMA shop",
            "CREATE TABLE shop.customers (id BIGINT, name VARCHAR, region VARCHAR)",
            "CREATE TABLE shop.orders (id BIGINT, customer_id BIGINT, amount DECIMAL(10, 2))",
            "INSERT INTO shop.customers VALUES " + ", ".join(f"({i}, '{n}', '{r}')" for i, n, r in CUSTOMERS),
            "INSERT INTO shop.orders VALUES " + ", ".join(f"({i}, {c}, {a})" for i, c, a in ORDERS),
        )
        entry = {
            "driver": "bigquery",
            "project_id": "acme-analytics",
            "dataset_ids": ["shop"],
            "api_endpoint": server.endpoint,
            "max_bytes_billed": 10_000_000,
        }
        project, tables = _ingest(tmp_path, entry)
        _check(project, tables, region="customers.region")
    finally:
        server.close()
