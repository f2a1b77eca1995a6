"""MetricFlow projected with no LLM onto a generated DuckDB warehouse: every metric is queryable by its name and
returns what hand-written SQL returns — simple metrics (with a filter template), count_distinct, a ratio, a derived
metric across semantic models (revenue from order items minus cost from orders) — while a cumulative metric becomes
a wiki page and a report entry, and bad input is one warning each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from ktx.ingest.run import run_ingest
from ktx.project.project import Project, init_project
from ktx.semantic.service import run_query
from ktx.services import Services

SEMANTIC = """
semantic_models:
  - name: orders
    description: One row per order.
    model: ref('orders')
    defaults: {agg_time_dimension: ordered_at}
    entities:
      - {name: order, type: primary, expr: id}
      - {name: customer, type: foreign, expr: customer_id}
    dimensions:
      - {name: ordered_at, type: time, type_params: {time_granularity: day}}
      - {name: is_food_order, type: categorical, expr: "channel = 'food'"}
      - {name: channel, type: categorical}
    measures:
      - {name: order_cost, agg: sum, expr: cost}
      - {name: order_count, agg: count, expr: id}
      - {name: ordering_customers, agg: count_distinct, expr: customer_id}
  - name: order_items
    model: ref('order_items')
    entities:
      - {name: order_item, type: primary, expr: id}
      - {name: order, type: foreign, expr: order_id}
    measures:
      - {name: item_revenue, agg: sum, expr: price * quantity}
  - name: customers
    model: ref('customers')
    entities:
      - {name: customer, type: primary, expr: id}
    dimensions:
      - {name: region, type: categorical}
  - name: ghost
    model: ref('never_built')
    entities: [{name: ghost, type: primary, expr: id}]
"""
METRICS = """
metrics:
  - {name: revenue, type: simple, type_params: {measure: item_revenue}}
  - {name: cost, type: simple, type_params: {measure: order_cost}}
  - name: food_orders
    type: simple
    type_params: {measure: order_count}
    filter: "{{ Dimension('order__is_food_order') }}"
  - {name: buyers, type: simple, type_params: {measure: ordering_customers}}
  - {name: cost_per_order, type: ratio, type_params: {numerator: cost, denominator: order_count}}
  - {name: order_count, type: simple, type_params: {measure: order_count}}
  - name: margin
    type: derived
    type_params:
      expr: revenue - cost
      metrics: [{name: revenue}, {name: cost}]
  - {name: running_revenue, type: cumulative, type_params: {measure: item_revenue, window: 7 days}}
  - {name: broken, type: simple, type_params: {measure: no_such_measure}}
"""


def _warehouse(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE customers (id INTEGER, region VARCHAR)")
    con.execute(
        "INSERT INTO customers SELECT i, CASE WHEN i % 2 = 0 THEN 'north' ELSE 'south' END FROM range(1, 21) t(i)"
    )
    con.execute(
        "CREATE TABLE orders (id INTEGER, customer_id INTEGER, channel VARCHAR, cost DECIMAL(10,2), ordered_at DATE)"
    )
    con.execute(
        "INSERT INTO orders SELECT i, 1 + i % 20, CASE WHEN i % 3 = 0 THEN 'food' ELSE 'retail' END, i % 7 + 1, "
        "DATE '2026-01-01' + i::INTEGER FROM range(1, 101) t(i)"
    )
    con.execute("CREATE TABLE order_items (id INTEGER, order_id INTEGER, price DECIMAL(10,2), quantity INTEGER)")
    con.execute("INSERT INTO order_items SELECT i, 1 + i % 100, i % 11 + 2, 1 + i % 3 FROM range(1, 301) t(i)")
    con.close()


def _ingested(root: Path, files: dict[str, str]) -> Any:
    """A project over the warehouse and a MetricFlow folder holding `files`, ingested; the MetricFlow result."""
    init_project(root)
    _warehouse(root / "wh.duckdb")
    for rel, text in files.items():
        (root / "mf" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "mf" / rel).write_text(text)
    Project(root).update_config(
        lambda d: d.__setitem__(
            "connections",
            {"wh": {"driver": "duckdb", "path": "wh.duckdb"}, "mf": {"driver": "metricflow", "source_dir": "mf"}},
        ),
        "connections",
    )
    with Services(Project(root)) as services:
        wh, mf = run_ingest(services, all_=True).results
    assert wh.status == "done" and mf.status == "done", (wh.message, mf.message)
    return mf


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    _ingested(root, {"semantic_models.yml": SEMANTIC, "metrics.yml": METRICS, "broken.yml": "metrics: [\n"})
    return root


def _one(root: Path, spec: dict) -> list[list]:
    with Services(Project(root)) as services:
        return run_query(services, "wh", spec, execute=True).to_json()["rows"]


def _sql(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_every_metric_by_name_equals_hand_written_sql(project: Path) -> None:
    [[revenue]] = _one(project, {"measures": ["revenue"]})
    assert float(revenue) == float(_sql(project, "SELECT sum(price * quantity) FROM order_items")[0][0])
    [[food]] = _one(project, {"measures": ["food_orders"]})
    assert int(food) == _sql(project, "SELECT count(id) FROM orders WHERE channel = 'food'")[0][0]
    [[buyers]] = _one(project, {"measures": ["buyers"]})
    assert int(buyers) == _sql(project, "SELECT count(DISTINCT customer_id) FROM orders")[0][0]
    [[ratio]] = _one(project, {"measures": ["cost_per_order"]})
    expected = _sql(project, "SELECT sum(cost) / count(id) FROM orders")[0][0]
    assert abs(float(ratio) - float(expected)) < 1e-9
    # Revenue lives in order items, cost in orders: each aggregated at its own grain, then subtracted.
    by_region = {r[0]: float(r[1]) for r in _one(project, {"measures": ["margin"], "dimensions": ["customers.region"]})}
    expected_rows = _sql(
        project,
        "WITH r AS (SELECT c.region, sum(i.price * i.quantity) v FROM order_items i JOIN orders o ON i.order_id = o.id "
        "JOIN customers c ON o.customer_id = c.id GROUP BY 1), k AS (SELECT c.region, sum(o.cost) v FROM orders o "
        "JOIN customers c ON o.customer_id = c.id GROUP BY 1) SELECT r.region, r.v - k.v FROM r JOIN k USING (region)",
    )
    assert by_region == {region: float(v) for region, v in expected_rows}


def test_unmapped_metrics_and_bad_input_are_reported(project: Path) -> None:
    from ktx.ingest.state import IngestState

    report = IngestState(Project(project).state).last_completed("mf", adapter="metricflow").report
    unmapped = {u["metric"]: u["reason"] for u in report["unmapped"]}
    # every metric not queryable by name, with why: a cumulative metric over a model with no time dimension is a
    # window the layer refuses when it checks the overlay
    assert sorted(unmapped) == ["broken", "running_revenue"]
    # dbt's own validation (dbt-semantic-interfaces) refuses it, with the message `dbt parse` prints
    assert unmapped["broken"] == (
        "dbt rejects it: Measure no_such_measure referenced in metric broken is not defined in the model!"
    )
    assert "has a cumulative window but no time dimension" in unmapped["running_revenue"]
    page = (project / "wiki/global/metricflow-broken.md").read_text()
    assert "is not defined in the model" in page
    codes = {w["code"] for w in report["warnings"]}
    assert {"metricflow_model_unmatched", "metricflow_validation_error", "dbt_yaml_invalid"} <= codes
    overlay = (project / "semantic-layer/wh/metricflow/orders.yaml").read_text()
    assert "grain:" in overlay and "- id" in overlay and "to: customers" in overlay
    # Unchanged: nothing rewritten, no commit.
    head = Project(project).git.head()
    with Services(Project(project)) as services:
        again = run_ingest(services, "mf").results[0]
    assert again.status == "unchanged" and Project(project).git.head() == head


def test_a_model_on_an_unscanned_relation_becomes_a_standalone_source(project: Path) -> None:
    with duckdb.connect(str(project / "wh.duckdb")) as con:
        con.execute("CREATE TABLE main.ledger (id INTEGER, amount DECIMAL(10,2))")
        con.execute("INSERT INTO main.ledger SELECT i, i * 1.5 FROM range(1, 11) t(i)")
    (project / "mf" / "ledger.yml").write_text(
        "semantic_models:\n  - name: ledger\n    node_relation: {schema_name: main, alias: ledger}\n"
        "    entities: [{name: entry, type: primary, expr: id}]\n"
        "    measures: [{name: ledger_total, agg: sum, expr: amount}]\n"
    )
    with Services(Project(project)) as services:
        result = run_ingest(services, "mf").results[0]
    assert result.status == "done", result.message
    assert any(w["code"] == "metricflow_model_standalone" for w in result.report["warnings"])
    source = (project / "semantic-layer/wh/metricflow/ledger.yaml").read_text()
    assert "table: main.ledger" in source
    [[total]] = _one(project, {"measures": ["ledger_total"]})
    assert float(total) == float(_sql(project, "SELECT sum(amount) FROM main.ledger")[0][0])


# `dbt parse` writes target/semantic_manifest.json: the same project, compiled, with MetricFlow's serialised shapes
# (filters as where_filters, windows as {count, granularity}, nulls for what is not set).
MANIFEST = {
    "semantic_models": [
        {"name": "orders", "description": None, "node_relation": {"alias": "orders", "schema_name": "main",
                                                                  "database": None, "relation_name": "main.orders"},
         "defaults": {"agg_time_dimension": "ordered_at"},
         "entities": [{"name": "order", "type": "primary", "expr": "id"},
                      {"name": "customer", "type": "foreign", "expr": "customer_id"}],
         "dimensions": [{"name": "ordered_at", "type": "time", "expr": None,
                         "type_params": {"time_granularity": "day", "validity_params": None}},
                        {"name": "channel", "type": "categorical", "expr": None, "type_params": None}],
         "measures": [{"name": "order_cost", "agg": "sum", "expr": "cost", "agg_params": None,
                       "non_additive_dimension": None, "agg_time_dimension": None},
                      {"name": "order_count", "agg": "count", "expr": "id", "agg_params": None,
                       "non_additive_dimension": None, "agg_time_dimension": None}]},
    ],
    "metrics": [
        {"name": "food_orders", "type": "simple", "description": None,
         "type_params": {"measure": {"name": "order_count", "filter": None, "alias": None, "join_to_timespine": False,
                                     "fill_nulls_with": None},
                         "numerator": None, "denominator": None, "expr": None, "window": None, "grain_to_date": None,
                         "metrics": [], "input_measures": [{"name": "order_count"}]},
         "filter": {"where_filters": [{"where_sql_template": "{{ Dimension('order__channel') }} = 'food'"}]}},
        {"name": "weekly_cost", "type": "cumulative", "description": None, "filter": None,
         "type_params": {"measure": {"name": "order_cost", "filter": None, "alias": None},
                         "window": {"count": 7, "granularity": "day"}, "grain_to_date": None,
                         "cumulative_type_params": {"window": {"count": 7, "granularity": "day"}, "grain_to_date": None,
                                                    "period_agg": "first"}}},
    ],
    "project_configuration": {"time_spine_table_configurations": [], "time_spines": []},
    "saved_queries": [],
}  # fmt: skip


def test_semantic_manifest_json_is_read_in_place_of_the_yaml(tmp_path: Path) -> None:
    import json

    root = tmp_path / "proj"
    # The YAML beside it is older than the compiled manifest: its metric is not the project's any more.
    mf = _ingested(
        root,
        {
            "target/semantic_manifest.json": json.dumps(MANIFEST),
            "metrics.yml": METRICS,
            "semantic_models.yml": SEMANTIC,
        },
    )
    assert mf.report["metrics"] == 2 and mf.report["semanticModels"] == 1
    [[food]] = _one(root, {"measures": ["food_orders"]})
    assert int(food) == _sql(root, "SELECT count(id) FROM orders WHERE channel = 'food'")[0][0]
    overlay = (root / "semantic-layer/wh/metricflow/orders.yaml").read_text()
    assert "name: weekly_cost" in overlay and "window: 7 day" in overlay
    assert "name: margin" not in overlay  # the YAML's metric, not in the manifest
    # The project declares no time spine: the window reads a generated calendar, and the report says so.
    assert "metricflow_time_spine_generated" in {w["code"] for w in mf.report["warnings"]}
    day = {"field": "orders.ordered_at", "granularity": "day"}
    window = ["orders.ordered_at >= '2026-02-01'", "orders.ordered_at < '2026-02-15'"]
    rows = _one(root, {"measures": ["weekly_cost"], "dimensions": [day], "filters": window})
    want = _sql(
        root,
        "SELECT d.day, sum(o.cost) FROM (SELECT CAST(range AS DATE) AS day FROM range(DATE '2000-01-01', "
        "DATE '2041-01-01', INTERVAL 1 DAY)) d JOIN orders o ON o.ordered_at <= d.day AND o.ordered_at > d.day - 7 "
        "WHERE o.ordered_at >= '2026-02-01' AND o.ordered_at < '2026-02-15' GROUP BY 1 ORDER BY 1",
    )
    # The filter narrows the rows; each day whose trailing week holds one of them is answered (to Feb 20).
    assert [(str(r[0])[:10], float(r[1])) for r in rows] == [(str(d), float(v)) for d, v in want] and len(want) == 20
