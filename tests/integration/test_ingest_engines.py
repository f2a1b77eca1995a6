"""Database ingest on every engine that runs here, through the same service the CLI calls.

The test warehouse has mixed-case, spaced, reserved and unicode names, a composite key and foreign key, a view
and comments: the shards must describe all of it, and the ingested layer must answer a semantic query that
joins across it on the real engine.
"""

from __future__ import annotations

from pathlib import Path

from ktx.ingest.run import run_ingest
from ktx.project.project import Project, init_project
from ktx.project.yamlio import safe_load
from ktx.semantic.service import run_query
from ktx.services import Services
from tests.integration.warehouses import Warehouse


def _project(tmp_path: Path, wh: Warehouse) -> Project:
    root = tmp_path / "proj"
    init_project(root)
    project = Project(root)
    project.update_config(lambda d: d.__setitem__("connections", {"wh": dict(wh.config)}), "add wh")
    return Project(root)


def _shard(project: Project) -> dict:
    folder = project.root / "semantic-layer" / "wh" / "_schema"
    shards = sorted(folder.glob("*.yaml"))
    assert len(shards) == 1, shards
    return safe_load(shards[0].read_text())["tables"]


def test_ingest_describes_the_warehouse_and_the_layer_answers_queries(warehouse, tmp_path):
    project = _project(tmp_path, warehouse)
    with Services(project) as services:
        outcome = run_ingest(services, "wh")
    [result] = outcome.results
    assert result.status == "done", result.message
    tables = _shard(project)
    assert {"customers", "orders", "order_items", "shipments", "CustomerAccounts", "café", "paid_orders"} <= set(tables)
    customers = tables["customers"]
    if warehouse.engine != "sqlite":  # SQLite has no comments
        assert customers["descriptions"]["db"] == "People who buy things"
        email = next(c for c in customers["columns"] if c["name"] == "email")
        assert email["descriptions"]["db"] == "Primary contact address"
    assert any(c.get("pk") for c in customers["columns"] if c["name"] == "id")
    # Every table gets a description from its profile, with no LLM configured.
    assert all(t.get("descriptions", {}).get("profile") for t in tables.values())
    orders_joins = {(j["to"], j["relationship"], j["source"]) for j in tables["orders"]["joins"]}
    assert ("customers", "many_to_one", "formal") in orders_joins
    assert ("order_items", "one_to_many", "formal") in orders_joins
    # The composite foreign key shipments(order_id, line_no) -> order items is one join with both columns.
    ship = [j for j in tables["shipments"]["joins"] if j["to"] == "order_items"]
    assert len(ship) == 1 and " AND " in ship[0]["on"] and "line_no" in ship[0]["on"]
    assert tables["order_items"]["table"].endswith(('order items"', "order items`"))
    # The ingested layer compiles and runs on the engine itself, quoting every awkward name right.
    with Services(Project(project.root)) as services:
        answer = run_query(
            services,
            "wh",
            {"measures": ["count(orders.id)"], "dimensions": ["customers.region"], "order_by": ["customers.region"]},
            execute=True,
        )
    rows = answer.to_json()["rows"]
    assert sum(int(r[1]) for r in rows) == 40


def test_rerun_of_an_unchanged_warehouse_changes_nothing(warehouse, tmp_path):
    project = _project(tmp_path, warehouse)
    with Services(project) as services:
        first = run_ingest(services, "wh").results[0]
    head = project.git.head()
    shard = next((project.root / "semantic-layer" / "wh" / "_schema").glob("*.yaml"))
    stamp = shard.stat().st_mtime_ns
    with Services(Project(project.root)) as services:
        second = run_ingest(services, "wh").results[0]
    assert first.status == "done" and second.status == "unchanged"
    assert project.git.head() == head
    assert shard.stat().st_mtime_ns == stamp
    assert project.git.run("status", "--porcelain").stdout.strip() == ""
