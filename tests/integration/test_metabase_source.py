"""Metabase as a context source, against a loopback stand-in of its REST API (tests/fakes/metabase_api.py) and a
real DuckDB warehouse: questions that are one aggregation become measures whose answers equal hand-written SQL,
segments work, a native question becomes a redacted query-pattern page with the joins its SQL makes, dashboards
and collections become pages, descriptions and semantic types land in `_schema`, and every question that could not
be projected is in the report with its reason. Rate limits, paging, malformed items, a refused key, a literal key
in ktx.yaml and unchanged re-runs behave as a user expects."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import duckdb
import pytest

from ktx.ingest.run import run_ingest
from ktx.project.project import Project, init_project
from ktx.semantic.service import run_query
from ktx.services import Services
from tests.fakes.metabase_api import MetabaseStandIn, MetabaseState

KEY = "mb_TESTKEY_4471_do_not_print"


def _field(fid: int, name: str, **extra: object) -> dict:
    return {"id": fid, "name": name, "display_name": name.title(), "base_type": "type/Text", **extra}


def _mbql(table: int, aggregation: list, **query: object) -> dict:
    return {"type": "query", "database": 1, "query": {"source-table": table, "aggregation": aggregation, **query}}


def _state(db_file: Path) -> MetabaseState:
    state = MetabaseState(api_key=KEY)
    state.databases = [
        {"id": 1, "name": "Shop", "engine": "duckdb", "details": {"database_file": str(db_file), "password": "pw-991"}},
        {"id": 2, "name": "Legacy CRM", "engine": "postgres", "details": {"host": "crm.internal", "dbname": "crm"}},
    ]
    state.metadata[1] = {
        "id": 1,
        "tables": [
            {
                "id": 5,
                "name": "orders",
                "schema": "main",
                "display_name": "Orders",
                "description": "One row per order placed in the shop.",
                "entity_type": "entity/TransactionTable",
                "fields": [
                    _field(51, "id", semantic_type="type/PK"),
                    _field(52, "customer_id", semantic_type="type/FK", fk_target_field_id=61),
                    _field(53, "amount", semantic_type="type/Currency", description="Order total in EUR."),
                    _field(54, "status", semantic_type="type/Category"),
                    _field(55, "created_at", semantic_type="type/CreationDate"),
                ],
            },
            {
                "id": 6,
                "name": "customers",
                "schema": "main",
                "fields": [_field(61, "id", semantic_type="type/PK"), _field(62, "region"), _field(63, "email")],
            },
            {"id": 9, "name": "not_in_the_warehouse", "schema": "main", "fields": []},
        ],
    }
    status, amount = ["field", 54, None], ["field", 53, None]
    state.cards = [
        {"id": 10, "name": "Paid revenue", "type": "question", "collection_id": 2, "display": "line",
         "description": "Revenue that was not refunded.",
         "dataset_query": _mbql(5, [["sum", amount]], filter=["=", status, "paid"],
                                breakout=[["field", 55, {"temporal-unit": "month"}]])},
        {"id": 11, "name": "Refunded orders", "type": "question", "collection_id": 2,
         "dataset_query": _mbql(5, [["count-where", ["=", status, "refunded"]]])},
        {"id": 12, "name": "Orders with customers", "type": "question", "collection_id": 2,
         "dataset_query": _mbql(5, [["count"]], joins=[{"source-table": 6, "alias": "C"}])},
        {"id": 13, "name": "Orders last week", "type": "question", "collection_id": None,
         "dataset_query": _mbql(5, [["count"]], filter=["time-interval", ["field", 55, None], -1, "week"])},
        {"id": 14, "name": "Revenue by region", "type": "question", "collection_id": 2, "view_count": 42,
         "dataset_query": {"type": "native", "database": 1, "native": {
             "query": "SELECT c.region, sum(o.amount) AS revenue\nFROM main.orders o\n"
                      "JOIN main.customers c ON o.customer_id = c.id\n"
                      "WHERE o.status = {{status}} AND c.email <> 'ops@example.com'\n"
                      "[[AND o.created_at >= {{since}}]]\nGROUP BY 1",
             "template-tags": {"status": {"type": "text"}, "since": {"type": "date"}}}}},
        {"id": 15, "name": "Old draft", "archived": True, "type": "question",
         "dataset_query": {"type": "native", "database": 1, "native": {"query": "SELECT 1 FROM main.orders"}}},
        {"name": "a card without an id"},
        {"id": 17, "name": "CRM accounts", "type": "question",
         "dataset_query": {"type": "native", "database": 2, "native": {"query": "SELECT * FROM accounts"}}},
        {"id": 19, "name": "Large orders", "type": "question", "collection_id": 2, "display": "table",
         "dataset_query": {"type": "query", "database": 1, "query": {"source-table": 5, "filter": [">=", amount, 80]}}},
        {"id": 18, "name": "Big spenders", "type": "metric", "collection_id": 2,
         "dataset_query": _mbql(5, [["distinct", ["field", 52, None]]], filter=[">", amount, 50])},
    ]  # fmt: skip
    state.segments = [
        {"id": 1, "name": "Paid orders", "table_id": 5, "description": "Orders that were paid.",
         "definition": {"source-table": 5, "filter": ["=", status, "paid"]}},
    ]  # fmt: skip
    state.legacy_metrics = [
        {"id": 3, "name": "Average order", "table_id": 5, "definition": {"source-table": 5, "aggregation": [["avg", amount]]}},
    ]  # fmt: skip
    state.collections = [
        {"id": 2, "name": "Finance", "description": "Numbers finance reports on.", "location": "/"},
        {"id": 3, "name": "Jo's personal collection", "location": "/", "personal_owner_id": 1},
    ]
    state.dashboards = [
        {"id": 7, "name": "Finance overview", "collection_id": 2, "description": "Monthly revenue review.",
         "dashcards": [
             {"id": 1, "card_id": 10, "card": {"id": 10, "name": "Paid revenue"}, "row": 0, "col": 0},
             {"id": 2, "card_id": 14, "card": {"id": 14, "name": "Revenue by region"}, "row": 0, "col": 6},
             {"id": 3, "card_id": None, "row": 4, "col": 0,
              "visualization_settings": {"text": "Revenue excludes refunds."}},
         ]},
    ] + [{"id": 100 + i, "name": f"Team board {i}", "collection_id": None, "dashcards": []} for i in range(5)]  # fmt: skip
    state.rate_limit["/api/card"] = 1
    return state


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from ktx.sources import metabase

    monkeypatch.setattr(metabase, "PAGE_SIZE", 2)  # five root dashboards: three pages
    root = tmp_path / "proj"
    init_project(root)
    con = duckdb.connect(str(root / "wh.duckdb"))
    con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, region VARCHAR, email VARCHAR)")
    con.execute("INSERT INTO customers SELECT i, ['north', 'south', 'east'][1 + i % 3], 'c' || i || '@x.org' "
                "FROM range(1, 31) t(i)")  # fmt: skip
    con.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, amount DECIMAL(10,2), "
                "status VARCHAR, created_at DATE)")  # fmt: skip
    con.execute(
        "INSERT INTO orders SELECT i, 1 + i % 30, (i * 7) % 90 + 1, CASE WHEN i % 5 = 0 THEN 'refunded' ELSE 'paid' "
        "END, DATE '2026-01-01' + i::INTEGER FROM range(1, 301) t(i)"
    )
    con.close()
    stand_in = MetabaseStandIn(_state(root / "wh.duckdb"))
    monkeypatch.setenv("KTX_TEST_MB_KEY", KEY)
    Project(root).update_config(
        lambda d: d.__setitem__(
            "connections",
            {
                "wh": {"driver": "duckdb", "path": "wh.duckdb"},
                "mb": {"driver": "metabase", "api_url": stand_in.url, "api_key_ref": "env:KTX_TEST_MB_KEY"},
            },
        ),
        "connections",
    )
    with Services(Project(root)) as services:
        wh, mb = run_ingest(services, all_=True).results
    assert wh.status == "done" and mb.status == "done", (wh.message, mb.message)
    yield root, stand_in, mb.report
    stand_in.close()


def _rows(root: Path, spec: dict) -> list[list]:
    with Services(Project(root)) as services:
        return run_query(services, "wh", spec, execute=True).to_json()["rows"]


def _sql(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_questions_become_measures_that_answer_like_sql(shop) -> None:
    root, _, report = shop
    [[paid]] = _rows(root, {"measures": ["orders.paid_revenue"]})
    assert float(paid) == float(_sql(root, "SELECT sum(amount) FROM main.orders WHERE status = 'paid'")[0][0])
    [[refunded]] = _rows(root, {"measures": ["orders.refunded_orders"]})
    assert int(refunded) == _sql(root, "SELECT count(*) FROM main.orders WHERE status = 'refunded'")[0][0] == 60
    [[big]] = _rows(root, {"measures": ["orders.big_spenders"]})
    assert int(big) == _sql(root, "SELECT count(DISTINCT customer_id) FROM main.orders WHERE amount > 50")[0][0]
    [[avg]] = _rows(root, {"measures": ["orders.average_order"]})
    assert abs(float(avg) - float(_sql(root, "SELECT avg(amount) FROM main.orders")[0][0])) < 1e-9
    [[n_paid]] = _rows(root, {"measures": ["orders.refunded_orders"], "segments": ["orders.paid_orders"]})
    assert int(n_paid) == 0  # refunded orders among paid ones
    [[large]] = _rows(root, {"measures": ["orders.refunded_orders"], "segments": ["orders.large_orders"]})
    assert int(large) == _sql(root, "SELECT count(*) FROM main.orders WHERE status = 'refunded' AND amount >= 80")[0][0]
    assert report["measures"] == 4 and report["segments"] == 2
    overlay = (root / "semantic-layer/wh/metabase/orders.yaml").read_text()
    assert "Revenue that was not refunded. (Metabase question 10: Paid revenue)" in overlay


def test_what_could_not_be_projected_is_reported_with_its_reason(shop) -> None:
    _, _, report = shop
    reasons = {(u.get("question") or u.get("card") or u.get("database")): u["reason"] for u in report["unmapped"]}
    assert reasons[12] == "uses joins"
    assert "relative date" in reasons[13]
    assert reasons[17] == "database not mapped"
    assert reasons[2] == "no warehouse connection mapped"
    codes = {w["code"] for w in report["warnings"]}
    assert {"metabase_malformed", "metabase_table_unmatched"} <= codes
    assert report["databaseMappings"] == {"1": "wh"}


def test_native_question_is_a_redacted_query_pattern_page(shop) -> None:
    root, _, _ = shop
    [page] = (root / "wiki/global").glob("metabase-question-14-*.md")
    text = page.read_text()
    # the join its SQL makes, found by the staging
    assert "orders.customer_id = customers.id" in text or "customers.id = orders.customer_id" in text
    assert "ops@example.com" not in text and "[REDACTED]" in text
    assert "sl_refs:" in text and "wh/" in text and "viewed 42 times" in text
    assert not list((root / "wiki/global").glob("metabase-question-15-*.md"))  # archived


def test_dashboards_and_collections_become_pages(shop) -> None:
    root, stand_in, report = shop
    [board] = (root / "wiki/global").glob("metabase-dashboard-7-*.md")
    text = board.read_text()
    assert "Monthly revenue review." in text and "Revenue excludes refunds." in text
    assert "measure `wh/" in text and "paid_revenue" in text  # the tile's question is a measure in ktx
    assert "metabase-question-14-revenue-by-region" in text
    assert report["dashboards"] == 6  # five root dashboards over three pages of 2, and Finance overview
    pages = [p for _, p, _ in stand_in.state.requests if p.startswith("/api/collection/root/items")]
    assert len(pages) == 3 and any("offset=4" in p for p in pages)
    [finance] = (root / "wiki/global").glob("metabase-collection-2-*.md")
    assert "Numbers finance reports on." in finance.read_text() and "Finance overview" in finance.read_text()
    assert not list((root / "wiki/global").glob("metabase-collection-3-*.md"))  # a personal collection


def test_descriptions_and_semantic_types_land_in_schema(shop) -> None:
    root, _, _ = shop
    text = "\n".join(p.read_text() for p in (root / "semantic-layer/wh/_schema").glob("*.yaml"))
    assert "metabase: One row per order placed in the shop." in text
    assert "metabase: Order total in EUR." in text
    assert "semantic_type: type/Currency" in text


def test_rate_limit_is_waited_out_and_no_secret_is_stored(shop) -> None:
    root, stand_in, _ = shop
    first, second = stand_in.calls("/api/card")[:2]
    assert second - first >= 0.9  # Retry-After: 1 honoured
    log = subprocess.run(["git", "-C", str(root), "log", "-p"], capture_output=True, text=True).stdout
    assert "pw-991" not in log and KEY not in log
    assert "crm.internal" in log  # what identifies a database is kept


def test_unchanged_metabase_changes_nothing_and_archived_questions_go(shop) -> None:
    root, stand_in, _ = shop
    with Services(Project(root)) as services:
        [again] = run_ingest(services, "mb").results
    assert again.status == "unchanged", again.report.get("filesChanged")
    stand_in.state.cards = [c for c in stand_in.state.cards if c.get("id") != 14]
    with Services(Project(root)) as services:
        [third] = run_ingest(services, "mb").results
    assert third.status == "done"
    assert not list((root / "wiki/global").glob("metabase-question-14-*.md"))


def test_connection_test_and_a_refused_key(shop, run_ktx) -> None:
    root, _, _ = shop
    ok = run_ktx("connection", "test", "mb", "--json", cwd=root)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True and "2 databases" in ok.stdout
    bad = run_ktx("connection", "test", "mb", cwd=root, env={"KTX_TEST_MB_KEY": "mb_expired"})
    assert bad.returncode == 1
    assert "refused the credential (401" in bad.stderr and "api_key_ref" in bad.stderr
    assert "mb_expired" not in bad.stdout + bad.stderr
    failed = run_ktx("ingest", "mb", cwd=root, env={"KTX_TEST_MB_KEY": "mb_expired"})
    assert failed.returncode == 1 and "refused the credential" in failed.stdout + failed.stderr


def test_ingest_says_what_was_projected_and_what_was_not(shop, run_ktx) -> None:
    root, _, _ = shop
    out = run_ktx("ingest", "mb", "--output", "plain", cwd=root)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "metabase → wh: 2 databases, 9 questions, 2 collections, 6 dashboards, 4 measures, 2 segments" in text
    assert "No changes since the last run: nothing rewritten, no commit." in text
    assert "Not projected: " in text and "Orders with customers (12): uses joins" in text
    assert "Tables: 0 added" not in text  # a source's run is not a table diff


def test_a_literal_key_in_ktx_yaml_is_refused(shop, run_ktx) -> None:
    root, _, _ = shop
    Project(root).update_config(
        lambda d: d["connections"]["mb"].update({"api_key_ref": None, "api_key": "mb_literal"}) or d, "key"
    )
    out = run_ktx("connection", "test", "mb", cwd=root)
    assert out.returncode == 1 and "env: or file: reference" in out.stderr
