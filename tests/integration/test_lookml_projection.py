"""LookML projected with no LLM (parsed by lkml) onto a generated DuckDB warehouse: measures with `${field}`
references, filters and number formulas, a dimension_group, an explore's join and always-where, a derived table as
a standalone SQL source — answers equal hand-written SQL; templated SQL, a malformed file and a 5 MB file are one
warning each."""

from __future__ import annotations

import subprocess
from pathlib import Path

import duckdb
import pytest

from ktx.ingest.run import run_ingest
from ktx.project.project import Project, init_project
from ktx.semantic.service import run_query
from ktx.services import Services

VIEWS = """
view: orders {
  sql_table_name: main.orders ;;
  dimension: id { primary_key: yes type: number sql: ${TABLE}.id ;; }
  dimension: amount { type: number sql: ${TABLE}.amount ;; description: "Order amount in EUR" }
  dimension: status { type: string sql: ${TABLE}.status ;; }
  dimension: is_big { type: yesno sql: ${amount} > 50 ;; }
  dimension: channel_label { type: string sql: {% if _user_attributes['x'] %} a {% else %} b {% endif %} ;; }
  dimension_group: created { type: time timeframes: [date, month] sql: ${TABLE}.created_at ;; }
  measure: total { type: sum sql: ${amount} ;; }
  measure: n { type: count }
  measure: paid_total { type: sum sql: ${amount} ;; filters: [status: "paid"] }
  measure: avg_order { type: number sql: ${total} / NULLIF(${n}, 0) ;; }
}
view: customers {
  sql_table_name: main.customers ;;
  dimension: id { primary_key: yes sql: ${TABLE}.id ;; }
  dimension: region { sql: ${TABLE}.region ;; }
}
view: customer_facts {
  derived_table: { sql: SELECT customer_id, count(*) AS order_count FROM main.orders GROUP BY 1 ;; }
  dimension: customer_id { primary_key: yes type: number }
  dimension: order_count { type: number }
  measure: heavy_buyers { type: count_distinct sql: ${customer_id} ;; filters: [order_count: "5"] }
}
"""
MODEL = """
connection: "warehouse"
include: "*.view.lkml"
explore: orders {
  sql_always_where: ${orders.status} != 'test' ;;
  join: customers { sql_on: ${orders.customer_id} = ${customers.id} ;; relationship: many_to_one }
}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    init_project(root)
    con = duckdb.connect(str(root / "wh.duckdb"))
    con.execute("CREATE TABLE customers (id INTEGER, region VARCHAR)")
    con.execute(
        "INSERT INTO customers SELECT i, CASE WHEN i % 2 = 0 THEN 'north' ELSE 'south' END FROM range(1, 21) t(i)"
    )
    con.execute(
        "CREATE TABLE orders (id INTEGER, customer_id INTEGER, amount DECIMAL(10,2), status VARCHAR, created_at DATE)"
    )
    con.execute(
        "INSERT INTO orders SELECT i, 1 + i % 20, (i * 7) % 90 + 1, CASE WHEN i % 4 = 0 THEN 'refunded' "
        "WHEN i % 9 = 0 THEN 'test' ELSE 'paid' END, DATE '2026-01-01' + i::INTEGER FROM range(1, 201) t(i)"
    )
    con.close()
    lk = root / "looker"
    lk.mkdir()
    (lk / "shop.view.lkml").write_text(VIEWS)
    (lk / "shop.model.lkml").write_text(MODEL)
    (lk / "broken.view.lkml").write_text("view: broken { dimension: x { sql: ;; \n")
    (lk / "huge.view.lkml").write_text("# " + "x" * 5_100_000 + "\n")
    Project(root).update_config(
        lambda d: d.__setitem__(
            "connections",
            {"wh": {"driver": "duckdb", "path": "wh.duckdb"}, "looker": {"driver": "lookml", "source_dir": "looker"}},
        ),
        "connections",
    )
    with Services(Project(root)) as services:
        wh, lkml_result = run_ingest(services, all_=True).results
    assert wh.status == "done" and lkml_result.status == "done", (wh.message, lkml_result.message)
    return root


def _rows(root: Path, spec: dict) -> list[list]:
    with Services(Project(root)) as services:
        return run_query(services, "wh", spec, execute=True).to_json()["rows"]


def _sql(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_lookml_measures_and_joins_answer_like_sql(project: Path) -> None:
    got = {
        r[0]: float(r[1]) for r in _rows(project, {"measures": ["orders.total"], "dimensions": ["customers.region"]})
    }
    expected = _sql(
        project,
        "SELECT c.region, sum(o.amount) FROM main.orders o JOIN main.customers c ON o.customer_id = c.id GROUP BY 1",
    )
    assert got == {region: float(v) for region, v in expected}
    [[paid]] = _rows(project, {"measures": ["orders.paid_total"]})
    assert float(paid) == float(_sql(project, "SELECT sum(amount) FROM main.orders WHERE status = 'paid'")[0][0])
    [[avg_order]] = _rows(project, {"measures": ["orders.avg_order"]})
    assert abs(float(avg_order) - float(_sql(project, "SELECT avg(amount) FROM main.orders")[0][0])) < 1e-9
    [[without_test]] = _rows(project, {"measures": ["orders.n"], "segments": ["orders.orders_always"]})
    assert int(without_test) == _sql(project, "SELECT count(*) FROM main.orders WHERE status <> 'test'")[0][0]
    [[big]] = _rows(project, {"measures": ["orders.n"], "filters": ["orders.is_big = true"]})
    assert int(big) == _sql(project, "SELECT count(*) FROM main.orders WHERE amount > 50")[0][0]
    [[heavy]] = _rows(project, {"measures": ["customer_facts.heavy_buyers"]})
    expected_heavy = _sql(
        project, "SELECT count(*) FROM (SELECT customer_id FROM main.orders GROUP BY 1 HAVING count(*) = 5)"
    )[0][0]
    assert int(heavy) == expected_heavy


def test_lookml_bad_input_is_reported(project: Path) -> None:
    from ktx.ingest.state import IngestState

    report = IngestState(Project(project).state).last_completed("looker", adapter="lookml").report
    codes = {w["code"] for w in report["warnings"]}
    assert {"looker_template_unresolved", "lookml_invalid", "lookml_file_too_large"} <= codes
    assert {"view": "orders", "field": "channel_label", "reason": "looker_template_unresolved"} in report["unmapped"]
    overlay = (project / "semantic-layer/wh/lookml/orders.yaml").read_text()
    assert "lookml: Order amount in EUR" in overlay and "channel_label" not in overlay


def test_a_view_file_linking_outside_the_project_is_skipped(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.view.lkml"
    outside.write_text('view: stolen { sql_table_name: orders ;; dimension: x { sql: "HOST-SECRET-4410" ;; } }\n')
    (project / "looker" / "stolen.view.lkml").symlink_to(outside)
    with Services(Project(project)) as services:
        [result] = run_ingest(services, "looker").results
    assert result.status in ("done", "unchanged"), result.message  # the skipped file changes nothing
    [warning] = [w for w in result.report["warnings"] if w["code"] == "lookml_path_outside"]
    assert "stolen.view.lkml" in warning["message"]
    log = subprocess.run(["git", "-C", str(project), "log", "-p"], capture_output=True, text=True).stdout
    assert "HOST-SECRET-4410" not in log


def test_an_explore_join_declared_many_to_one_onto_repeated_values_is_not_joined(project: Path) -> None:
    """The profile of the last scan is the evidence: a customers key with repeats cannot be the 'one' side."""
    from ktx.sources.lookml import _non_unique_side

    evidence = {("customers", "id"): "3 distinct values in 9 non-null sampled rows"}
    on = "orders.customer_id = customers.id"
    assert _non_unique_side(on, "customers", "many_to_one", evidence) == (
        "customers.id is not unique in the data (3 distinct values in 9 non-null sampled rows)"
    )
    assert _non_unique_side(on, "customers", "one_to_many", evidence) is None
    assert _non_unique_side(on, "customers", "many_to_one", {}) is None


def _ingested(tmp_path: Path, statements: list[str], files: dict[str, str]) -> tuple[Path, dict]:
    """A project over a DuckDB warehouse made by `statements` and the LookML `files` under looker/, both connections
    ingested: (root, the LookML report)."""
    root = tmp_path / "proj"
    init_project(root)
    con = duckdb.connect(str(root / "wh.duckdb"))
    for statement in statements:
        con.execute(statement)
    con.close()
    lk = root / "looker"
    lk.mkdir()
    for name, text in files.items():
        (lk / name).write_text(text)
    Project(root).update_config(
        lambda d: d.__setitem__(
            "connections",
            {"wh": {"driver": "duckdb", "path": "wh.duckdb"}, "looker": {"driver": "lookml", "source_dir": "looker"}},
        ),
        "connections",
    )
    with Services(Project(root)) as services:
        wh, lkml_result = run_ingest(services, all_=True).results
    assert wh.status == "done" and lkml_result.status == "done", (wh.message, lkml_result.message)
    return root, lkml_result.report


def test_joins_written_target_first_and_chained_are_read_by_view_name(tmp_path: Path) -> None:
    """Looker reads `sql_on` by view name: `${customers.id} = ${orders.customer_id}` is orders → customers, and a
    join from one joined view to another (customers → regions) starts from customers, not from the explore's base.
    Read by position, the first would join orders.id to customers.customer_id — a wrong answer with no error."""
    root, _ = _ingested(
        tmp_path,
        [
            "CREATE TABLE regions (code VARCHAR, name VARCHAR)",
            "INSERT INTO regions VALUES ('n', 'North'), ('s', 'South')",
            "CREATE TABLE customers (id INTEGER, region_code VARCHAR)",
            "INSERT INTO customers SELECT i, CASE WHEN i % 3 = 0 THEN 'n' ELSE 's' END FROM range(1, 31) t(i)",
            "CREATE TABLE orders (id INTEGER, customer_id INTEGER, amount INTEGER)",
            "INSERT INTO orders SELECT i, 1 + (i * 7) % 30, i FROM range(1, 121) t(i)",
        ],
        {
            "shop.view.lkml": """
view: orders { sql_table_name: main.orders ;;
  dimension: id { primary_key: yes type: number }
  dimension: customer_id { type: number }
  measure: total { type: sum sql: ${TABLE}.amount ;; } }
view: customers { sql_table_name: main.customers ;;
  dimension: id { primary_key: yes type: number }
  dimension: region_code { type: string } }
view: regions { sql_table_name: main.regions ;;
  dimension: code { primary_key: yes type: string }
  dimension: name { type: string } }
""",
            "shop.model.lkml": """
connection: "warehouse"
include: "*.view.lkml"
explore: orders {
  join: customers { sql_on: ${customers.id} = ${orders.customer_id} ;; relationship: many_to_one }
  join: regions { sql_on: ${regions.code} = ${customers.region_code} ;; relationship: many_to_one }
}
""",
        },
    )
    got = sorted(tuple(r) for r in _rows(root, {"measures": ["orders.total"], "dimensions": ["regions.name"]}))
    want = sorted(
        _sql(
            root,
            "SELECT r.name, SUM(o.amount) FROM main.orders o JOIN main.customers c ON o.customer_id = c.id "
            "JOIN main.regions r ON c.region_code = r.code GROUP BY r.name",
        )
    )
    assert [(n, float(v)) for n, v in got] == [(n, float(v)) for n, v in want]
    overlay = (root / "semantic-layer/wh/lookml/customers.yaml").read_text()
    assert "region_code = regions.code" in overlay


def test_constants_and_refinements_are_applied_as_looker_applies_them(tmp_path: Path) -> None:
    """`@{schema}` from manifest.lkml fills sql_table_name; `view: +orders` adds a measure and overrides one; an
    unknown constant is a warning naming the file."""
    root, report = _ingested(
        tmp_path,
        [
            "CREATE TABLE orders (id INTEGER, amount INTEGER, status VARCHAR)",
            "INSERT INTO orders SELECT i, i, CASE WHEN i % 2 = 0 THEN 'paid' ELSE 'open' END FROM range(1, 11) t(i)",
        ],
        {
            "manifest.lkml": 'project_name: "shop"\nconstant: schema { value: "main" }\n',
            "orders.view.lkml": """
view: orders { sql_table_name: @{schema}.orders ;;
  dimension: id { primary_key: yes type: number }
  dimension: status { type: string }
  measure: total { type: sum sql: ${TABLE}.amount ;; }
  measure: paid { type: sum sql: ${TABLE}.amount ;; filters: [status: "open"] } }
""",
            "orders_refined.view.lkml": """
view: +orders {
  measure: paid { type: sum sql: ${TABLE}.amount ;; filters: [status: "paid"] }
  measure: n { type: count } }
view: extra { sql_table_name: @{nowhere}.extra ;; dimension: id { primary_key: yes } }
""",
            "shop.model.lkml": 'connection: "warehouse"\ninclude: "*.view.lkml"\nexplore: orders {}\n',
        },
    )
    [[total, paid, n]] = _rows(root, {"measures": ["orders.total", "orders.paid", "orders.n"]})
    assert (float(total), float(paid), int(n)) == (55.0, 30.0, 10)  # paid: the refinement's filter, not the view's
    warnings = [w["message"] for w in report["warnings"] if w["code"] == "lookml_constant_unresolved"]
    assert any("orders_refined.view.lkml" in m and "@{nowhere}" in m for m in warnings)


def test_two_names_for_one_measure_are_both_kept(tmp_path: Path) -> None:
    """Public LookML blocks define `count` and `count_items` alike; both names answer, neither drops the view."""
    root, report = _ingested(
        tmp_path,
        ["CREATE TABLE items (id INTEGER, price INTEGER)", "INSERT INTO items SELECT i, i * 2 FROM range(1, 41) t(i)"],
        {
            "items.view.lkml": """
view: items { sql_table_name: main.items ;;
  dimension: id { primary_key: yes type: number }
  measure: count { type: count }
  measure: count_items { type: count description: "Items" }
  measure: revenue { type: sum sql: ${TABLE}.price ;; } }
""",
            "shop.model.lkml": 'connection: "warehouse"\ninclude: "*.view.lkml"\nexplore: items {}\n',
        },
    )
    [[count, count_items, revenue]] = _rows(root, {"measures": ["items.count", "items.count_items", "items.revenue"]})
    assert (int(count), int(count_items), int(revenue)) == (40, 40, 1640)
    assert not [w for w in report["warnings"] if w["code"] in ("lookml_invalid", "lookml_measure_skipped")]


def test_a_lookml_dashboard_becomes_a_wiki_page_with_each_tiles_query(project: Path, tmp_path: Path) -> None:
    lk = project / "looker"
    (lk / "sales.dashboard.lookml").write_text(
        """
- dashboard: sales_overview
  title: Sales Overview
  description: Paid revenue by region, every Monday.
  elements:
  - name: revenue_by_region
    title: Revenue by region
    model: shop
    explore: orders
    type: looker_column
    fields: [customers.region, orders.total]
    filters: {orders.status: paid}
    sorts: [orders.total desc]
    limit: 10
  - name: note
    type: text
    title_text: Figures exclude test orders.
"""
    )
    with Services(Project(project)) as services:
        [result] = run_ingest(services, "looker").results
    assert result.status == "done", result.message
    assert not [w for w in result.report["warnings"] if "sales.dashboard.lookml" in w["message"]]
    page = (project / "wiki/global/lookml-dashboard-sales-overview.md").read_text()
    assert "# Sales Overview" in page and "Paid revenue by region" in page
    assert "## Revenue by region" in page and "`customers.region`, `orders.total`" in page
    assert "`orders.total` → `orders.total`" in page and "`orders.status` = `paid`" in page
    assert "limit: 10" in page and "Figures exclude test orders." in page
    with Services(Project(project)) as services:  # the page is searchable
        hits = services.search.search_wiki("revenue by region dashboard", limit=3).items
    assert any("lookml-dashboard-sales-overview" in str(h) for h in hits)
