"""Query history from BigQuery's job log (the real client against the loopback REST stand-in) and Snowflake's
ACCOUNT_USAGE.QUERY_HISTORY (fakesnow under the real connector): raw statements with literals are grouped into
templates, service accounts and failing one-offs are filtered, literals and emails never reach the project."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ktx.ingest.run import run_ingest
from ktx.project.project import Project, init_project
from ktx.project.yamlio import safe_load
from ktx.services import Services

EMAIL = "ceo@acme.example"


def _project(tmp_path: Path, entry: dict) -> Path:
    root = tmp_path / "proj"
    init_project(root)
    entry = {
        **entry,
        "context": {
            "queryHistory": {
                "enabled": True,
                "minExecutions": 3,
                "filters": {
                    "serviceAccounts": {"patterns": ["^svc-"]},
                    "dropFailedBelow": {"errorRate": 0.5, "executions": 100},
                },
            }
        },
    }
    Project(root).update_config(lambda d: d.__setitem__("connections", {"wh": entry}), "add wh")
    return root


def _ingest(root: Path):
    with Services(Project(root)) as services:
        [result] = run_ingest(services, "wh", query_history=True).results
    assert result.status == "done", result.message
    return result


def _leaks(root: Path, *needles: str) -> list[str]:
    log = subprocess.run(["git", "log", "-p"], cwd=root, capture_output=True, text=True).stdout
    found = [n for n in needles if n in log]
    for path in root.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            data = path.read_bytes()
            found += [f"{n} in {path}" for n in needles if n.encode() in data]
    return found


def _jobs(dialect_quote: str) -> list[tuple[str, str, str | None, int]]:
    q = dialect_quote
    join = (
        f"SELECT c.region, SUM(o.amount) FROM {q}orders o JOIN {q}customers c ON o.customer_id = c.id "
        "WHERE o.status = '{status}' GROUP BY c.region"
    )
    jobs = []
    for i in range(12):
        user = ["ana@acme.example", "bo@acme.example", "cy@acme.example"][i % 3]
        jobs.append((join.format(status="paid" if i % 2 else "refunded"), user, None, 120 + i))
    for i in range(5):
        jobs.append((f"SELECT * FROM {q}customers WHERE email = '{EMAIL}' AND id = {i}", "bo@acme.example", None, 40))
    for _ in range(8):
        jobs.append((f"SELECT COUNT(*) FROM {q}orders", "svc-loader@acme.example", None, 10))
    for _ in range(4):
        jobs.append((f"SELECT nope FROM {q}orders", "cy@acme.example", "Unrecognized name: nope", 5))
    return jobs


def _check(root: Path, result) -> None:
    history = result.report["queryHistory"]
    assert history["dropped"] == {"mostly_failing": 1, "service_account": 1}
    assert history["kept"] == 2  # the join (two literals, one template) and the customer lookup
    tables = safe_load(next((root / "semantic-layer/wh/_schema").glob("*.yaml")).read_text())["tables"]
    names = {n.lower(): n for n in tables}
    orders = tables[names["orders"]]["usage"]
    assert orders["frequencyTier"] == "mid" and orders["distinctUsers"] == "2-5"
    assert [j["table"] for j in orders["commonJoins"]] == [names["customers"]]
    assert list((root / "wiki/global").glob("historic-sql-*.md"))
    assert _leaks(root, EMAIL, "refunded") == []


def test_bigquery_job_history(tmp_path: Path) -> None:
    pytest.importorskip("google.cloud.bigquery")
    from tests.fakes.bigquery_rest import BigQueryRestServer

    server = BigQueryRestServer("acme-analytics")
    try:
        server.setup(
            "CREATE SCHEMA shop",
            "CREATE TABLE shop.customers (id BIGINT, email VARCHAR, region VARCHAR)",
            "CREATE TABLE shop.orders (id BIGINT, customer_id BIGINT, status VARCHAR, amount DECIMAL(10, 2))",
            "INSERT INTO shop.customers SELECT i, 'c' || i || '@x.test', CASE WHEN i % 2 = 0 THEN 'north' ELSE 'south' "
            "END FROM range(1, 41) t(i)",
            "INSERT INTO shop.orders SELECT i, 1 + i % 40, 'paid', i FROM range(1, 201) t(i)",
        )
        server.add_jobs(_jobs("shop."))
        root = _project(
            tmp_path,
            {
                "driver": "bigquery",
                "project_id": "acme-analytics",
                "dataset_ids": ["shop"],
                "api_endpoint": server.endpoint,
                "location": "US",
            },
        )
        result = _ingest(root)
        _check(root, result)
        sent = json.dumps([r["body"] for r in server.requests])
        assert "`region-us`.INFORMATION_SCHEMA.JOBS_BY_PROJECT" in sent
    finally:
        server.close()


def test_snowflake_query_history(tmp_path: Path, monkeypatch) -> None:
    fakesnow = pytest.importorskip("fakesnow")
    import snowflake.connector

    monkeypatch.setenv("SNOWFLAKE_PASSWORD", "pw")
    with fakesnow.patch():
        cur = snowflake.connector.connect(database="SHOP", schema="SALES").cursor()
        cur.execute("CREATE TABLE customers (id INT PRIMARY KEY, email VARCHAR, region VARCHAR)")
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT, status VARCHAR, amount NUMBER(10,2))")
        cur.execute(
            "INSERT INTO customers VALUES "
            + ", ".join(f"({i}, 'c{i}@x.test', '{'north' if i % 2 else 'south'}')" for i in range(1, 41))
        )
        cur.execute(
            "INSERT INTO orders VALUES " + ", ".join(f"({i}, {1 + i % 40}, 'paid', {i})" for i in range(1, 201))
        )
        cur.execute("CREATE DATABASE SNOWFLAKE")
        cur.execute("CREATE SCHEMA SNOWFLAKE.ACCOUNT_USAGE")
        cur.execute(
            "CREATE TABLE SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY (query_text VARCHAR, user_name VARCHAR, "
            "query_type VARCHAR, execution_status VARCHAR, total_elapsed_time INT, start_time TIMESTAMP)"
        )
        for sql, user, error, ms in _jobs("sales."):
            cur.execute(
                "INSERT INTO SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY VALUES (%s, %s, 'SELECT', %s, %s, "
                "CURRENT_TIMESTAMP())",
                (sql, user.split("@")[0].upper(), "FAIL" if error else "SUCCESS", ms),
            )
        root = _project(
            tmp_path,
            {
                "driver": "snowflake",
                "account": "acme-xy123",
                "user": "ktx",
                "password": "env:SNOWFLAKE_PASSWORD",
                "database": "SHOP",
                "schema_names": ["SALES"],
            },
        )
        # Snowflake user names are not emails: the service-account pattern matches SVC-LOADER case-insensitively.
        text = (root / "ktx.yaml").read_text().replace("^svc-", "(?i)^svc-")
        (root / "ktx.yaml").write_text(text)
        result = _ingest(root)
        _check(root, result)
