"""Looker as a context source, through the real `looker-sdk` against a loopback stand-in of Looker's API 4.0
(tests/fakes/looker_api.py) and a real DuckDB warehouse: explores read over the API are projected like LookML
files (measures, filtered measures, joins by view name), answers equal hand-written SQL; dashboards and Looks become
pages with each tile's query and the measures it uses; System Activity's query counts land in `_schema`; a 429 is
waited out; a wrong secret is one line with the fix; nothing secret is committed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import duckdb
import pytest

from ktx.ingest.run import run_ingest
from ktx.project.project import Project, init_project
from ktx.semantic.service import run_query
from ktx.services import Services
from tests.fakes.looker_api import LookerStandIn, LookerState

SECRET = "lk_SECRET_5521_never_print"


def _dim(name: str, sql: str, **extra: object) -> dict:
    view = name.split(".")[0]
    return {"name": name, "view": view, "original_view": view, "type": "string", "sql": sql, **extra}


def _state() -> LookerState:
    state = LookerState(client_id="ktx-client", client_secret=SECRET)
    explores = [{"name": "orders"}, {"name": "broken"}]
    state.models = [{"name": "shop", "label": "Shop", "project_name": "shop", "explores": explores}]
    state.explores[("shop", "broken")] = {"name": "broken", "fields": "not an object", "joins": 7}
    state.explores[("shop", "orders")] = {
        "name": "orders",
        "model_name": "shop",
        "view_name": "orders",
        "sql_table_name": "main.orders AS orders",
        "fields": {
            "dimensions": [
                _dim("orders.id", "${TABLE}.id ", type="number", primary_key=True),
                _dim("orders.customer_id", "${TABLE}.customer_id ", type="number"),
                _dim("orders.amount", "${TABLE}.amount ", type="number", description="Order total in EUR"),
                _dim("orders.status", "${TABLE}.status "),
                _dim("orders.created_date", "${TABLE}.created_at ", type="date_date", dimension_group="orders.created"),
                _dim("orders.created_month", "${TABLE}.created_at ", type="date_month", dimension_group="orders.created"),
                _dim("customers.id", "${TABLE}.id ", type="number", primary_key=True),
                _dim("customers.region", "${TABLE}.region "),
            ],
            "measures": [
                {"name": "orders.total", "view": "orders", "type": "sum", "sql": "${amount} "},
                {"name": "orders.count", "view": "orders", "type": "count", "sql": None},
                {"name": "orders.paid_total", "view": "orders", "type": "sum", "sql": "${amount}",
                 "filters": [{"field": "orders.status", "condition": "paid"}]},
            ],
        },
        "joins": [
            {"name": "customers", "sql_on": "${customers.id} = ${orders.customer_id} ", "relationship": "many_to_one",
             "type": "left_outer", "sql_table_name": "main.customers AS customers"},
        ],
    }  # fmt: skip
    query = {"model": "shop", "view": "orders", "fields": ["customers.region", "orders.total"], "limit": "500"}
    state.dashboards = [
        {"id": "4", "title": "Sales overview", "description": "Weekly sales review.", "folder": {"name": "Sales"},
         "dashboard_elements": [
             {"title": "Revenue by region", "type": "vis", "query": query},
             {"title": None, "type": "text", "title_text": "Note", "body_text": "Refunds are excluded."},
         ]},
    ]  # fmt: skip
    state.looks = [
        {"id": "12", "title": "Paid revenue", "folder": {"name": "Finance"}, "view_count": 9,
         "query": {"model": "shop", "view": "orders", "fields": ["orders.paid_total"]}},
    ]  # fmt: skip
    state.usage = [{"query.model": "shop", "query.view": "orders", "history.query_run_count": 321}]
    state.rate_limit["/lookml_models"] = 1
    return state


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "proj"
    init_project(root)
    con = duckdb.connect(str(root / "wh.duckdb"))
    con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, region VARCHAR)")
    con.execute("INSERT INTO customers SELECT i, ['north', 'south'][1 + i % 2] FROM range(1, 11) t(i)")
    con.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, amount DECIMAL(10,2), "
                "status VARCHAR, created_at DATE)")  # fmt: skip
    con.execute(
        "INSERT INTO orders SELECT i, 1 + i % 10, (i * 3) % 50 + 1, CASE WHEN i % 4 = 0 THEN 'refunded' "
        "ELSE 'paid' END, DATE '2026-03-01' + i::INTEGER FROM range(1, 81) t(i)"
    )
    con.close()
    stand_in = LookerStandIn(_state())
    monkeypatch.setenv("KTX_TEST_LOOKER_SECRET", SECRET)
    Project(root).update_config(
        lambda d: d.__setitem__(
            "connections",
            {
                "wh": {"driver": "duckdb", "path": "wh.duckdb"},
                "lk": {"driver": "looker", "base_url": stand_in.url, "client_id": "ktx-client",
                       "client_secret_ref": "env:KTX_TEST_LOOKER_SECRET"},
            },
        ),
        "connections",
    )  # fmt: skip
    with Services(Project(root)) as services:
        wh, lk = run_ingest(services, all_=True).results
    assert wh.status == "done" and lk.status == "done", (wh.message, lk.message)
    yield root, stand_in, lk.report
    stand_in.close()


def _rows(root: Path, spec: dict) -> list[list]:
    with Services(Project(root)) as services:
        return run_query(services, "wh", spec, execute=True).to_json()["rows"]


def _sql(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_explores_answer_like_sql(shop) -> None:
    root, _, report = shop
    got = {r[0]: float(r[1]) for r in _rows(root, {"measures": ["orders.total"], "dimensions": ["customers.region"]})}
    expected = _sql(
        root,
        "SELECT c.region, sum(o.amount) FROM main.orders o JOIN main.customers c ON o.customer_id = c.id GROUP BY 1",
    )
    assert got == {region: float(v) for region, v in expected}
    [[paid]] = _rows(root, {"measures": ["orders.paid_total"]})
    assert float(paid) == float(_sql(root, "SELECT sum(amount) FROM main.orders WHERE status = 'paid'")[0][0])
    assert report["explores"] == 1 and report["matched"] == 2
    [broken] = [w for w in report["warnings"] if w["code"] == "looker_explore_unreadable"]
    assert broken["message"].startswith("shop.broken: Looker explore shop/broken")
    assert (root / "semantic-layer/wh/looker/orders.yaml").is_file()


def test_dashboards_and_looks_are_pages_with_their_queries(shop) -> None:
    root, _, _ = shop
    board = next((root / "wiki/global").glob("looker-dashboard-4*.md")).read_text()
    assert "Weekly sales review." in board and "Refunds are excluded." in board
    assert "`customers.region`" in board and "`orders.total` → `orders.total`" in board
    assert "source: looker" in board and "folder Sales" in board
    look = next((root / "wiki/global").glob("looker-look-12*.md")).read_text()
    assert "`orders.paid_total` → `orders.paid_total`" in look and "viewed 9 times" in look


def test_usage_lands_in_schema_and_rate_limit_is_waited_out(shop) -> None:
    root, stand_in, _ = shop
    text = "\n".join(p.read_text() for p in (root / "semantic-layer/wh/_schema").glob("*.yaml"))
    assert "queryRuns: 321" in text and "shop/orders" in text
    first, second = stand_in.calls("/lookml_models")[:2]
    assert second - first >= 0.9
    log = subprocess.run(["git", "-C", str(root), "log", "-p"], capture_output=True, text=True).stdout
    assert SECRET not in log


def test_unchanged_looker_changes_nothing_and_usage_without_permission_is_a_warning(shop) -> None:
    root, stand_in, _ = shop
    with Services(Project(root)) as services:
        [again] = run_ingest(services, "lk").results
    assert again.status == "unchanged", again.report["filesChanged"]
    stand_in.state.usage = None
    with Services(Project(root)) as services:
        [third] = run_ingest(services, "lk").results
    assert third.status == "done"
    assert "looker_usage_unavailable" in {w["code"] for w in third.report["warnings"]}
    text = "\n".join(p.read_text() for p in (root / "semantic-layer/wh/_schema").glob("*.yaml"))
    assert "queryRuns" not in text


def test_connection_test_and_a_wrong_secret(shop, run_ktx) -> None:
    root, _, _ = shop
    ok = run_ktx("connection", "test", "lk", cwd=root)
    assert ok.returncode == 0, ok.stderr
    assert "signed in as ktx reader" in ok.stdout
    bad = run_ktx("connection", "test", "lk", cwd=root, env={"KTX_TEST_LOOKER_SECRET": "lk_old"})
    assert bad.returncode == 1
    assert "Looker refused the credential (404 on /api/4.0/login)" in bad.stderr and "client_secret_ref" in bad.stderr
    assert "lk_old" not in bad.stdout + bad.stderr


def test_usage_ranks_search_among_matched_sources(shop) -> None:
    root, _, _ = shop
    with Services(Project(root)) as services:
        outcome = services.search.search_sl("id", connection_id="wh")
    by_name = {item["name"]: item for item in outcome.items}
    assert by_name["orders"]["lanes"].get("usage") == 1  # 321 query runs in System Activity
    assert "usage" not in by_name["customers"]["lanes"]  # no usage: no boost, and never pulled in by usage alone
    assert outcome.items[0]["name"] == "orders"
