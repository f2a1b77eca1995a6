"""`ktx sl validate` and `ktx sl query` as a user runs them, on the demo shop in DuckDB."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest


def test_query_compiles_to_sql_only(run_ktx, shop: Path) -> None:
    result = run_ktx("sl", "query", "-m", "orders.order_count", "-d", "customers.segment", "--format", "sql", cwd=shop)
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.startswith("SELECT") and "COUNT(orders.__ktx_row) AS order_count" in result.stdout
    )  # a FULL JOIN keeps empty segments
    assert "GROUP BY" in result.stdout


def test_query_executes_read_only_and_returns_rows_and_plan(run_ktx, shop: Path) -> None:
    result = run_ktx("sl", "query", "--connection-id", "warehouse", "-m", "orders.order_count",
                     "-m", "support_tickets.ticket_count", "-d", "customers.segment", "--order-by", "order_count:desc",
                     "--execute", cwd=shop)  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["headers"] == ["segment", "order_count", "ticket_count"]
    assert sum(row[1] for row in data["rows"]) == 300  # every order counted once despite the chasm
    assert data["plan"]["execution"]["mode"] == "executed" and data["plan"]["has_fan_out"] is True
    assert [row[1] for row in data["rows"]] == sorted((row[1] for row in data["rows"]), reverse=True)


def test_query_file_flags_and_max_rows(run_ktx, shop: Path, tmp_path: Path) -> None:
    spec = tmp_path / "q.json"
    spec.write_text(
        json.dumps(
            {"measures": ["orders.revenue"], "dimensions": [{"field": "orders.ordered_at", "granularity": "month"}]}
        )
    )
    result = run_ktx("sl", "query", "--query-file", str(spec), "--execute", "--max-rows", "3", "--json", cwd=shop)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["headers"] == ["ordered_at_month", "revenue"] and len(data["rows"]) == 3
    assert data["plan"]["execution"]["truncated"] is True


def test_compile_only_json_and_errors(run_ktx, shop: Path) -> None:
    ok = run_ktx("sl", "query", "-m", "orders.revenue", cwd=shop)
    data = json.loads(ok.stdout)
    assert data["executed"] is False and data["rows"] is None and data["totalRows"] is None
    assert data["plan"]["execution"]["mode"] == "compile_only" and data["dialect"] == "duckdb"
    bad = run_ktx("sl", "query", "-m", "orders.nope", cwd=shop)
    assert bad.returncode == 1 and "Column 'nope' does not exist in source 'orders'. Available:" in bad.stderr
    grain = run_ktx("sl", "query", "-m", "orders.revenue", "-d", "orders.ordered_at:fortnight", cwd=shop)
    assert grain.returncode == 1 and (
        "Unknown granularity 'fortnight' in dimension 'orders.ordered_at:fortnight'. "
        "Use one of: second, minute, hour, day, week, month, quarter, year." in grain.stderr
    )
    fan = run_ktx("sl", "query", "-m", "customers.customer_count", "-d", "orders.status", "--format", "sql", cwd=shop)
    assert fan.returncode == 1 and "one_to_many" in fan.stderr


def test_validate_passes_then_catches_a_wrong_grain(run_ktx, shop: Path) -> None:
    ok = run_ktx("sl", "validate", "orders", cwd=shop)
    assert ok.returncode == 0, ok.stderr
    assert "Valid semantic-layer source: warehouse/orders" in ok.stdout and "grain: ok" in ok.stderr
    overlay = shop / "semantic-layer" / "warehouse" / "order_items.yaml"
    overlay.write_text(overlay.read_text() + "grain: [order_id]\n")
    bad = run_ktx("sl", "validate", "order_items", "--json", cwd=shop)
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert report["valid"] is False and any("is not unique" in e for e in report["errors"])
    offline = run_ktx("sl", "validate", "order_items", "--offline", cwd=shop)
    assert offline.returncode == 0 and "live: skipped: offline" in offline.stderr


def test_validate_reports_model_errors_and_unknown_sources(run_ktx, shop: Path) -> None:
    overlay = shop / "semantic-layer" / "warehouse" / "refunds.yaml"
    overlay.write_text(overlay.read_text() + "  - {name: broken, expr: sum(no_such_column)}\n")
    bad = run_ktx("sl", "validate", "refunds", cwd=shop)
    assert bad.returncode == 1 and "references unknown column 'no_such_column'" in bad.stderr
    missing = run_ktx("sl", "validate", "nope", cwd=shop)
    assert missing.returncode == 1 and 'Semantic-layer source "nope" was not found' in missing.stderr


def test_repeated_queries_reuse_the_compiled_layer_until_a_file_changes(run_ktx, shop: Path) -> None:
    layer = shop / "semantic-layer" / "warehouse"
    an_hour_ago = time.time() - 3600
    for path in layer.rglob("*.yaml"):
        os.utime(path, (an_hour_ago, an_hour_ago))
    args = ("sl", "query", "-m", "orders.revenue", "--format", "sql")
    first = run_ktx(*args, cwd=shop)
    assert first.returncode == 0, first.stderr
    cached = list((shop / ".ktx" / "cache" / "semantic").glob("*.duckdb.pickle"))
    assert len(cached) == 1
    assert run_ktx(*args, cwd=shop).stdout == first.stdout
    status = subprocess.run(["git", "status", "--porcelain"], cwd=shop, capture_output=True, text=True, check=True)
    assert ".ktx" not in status.stdout  # the cache is local, never committed
    overlay = layer / "orders.yaml"
    overlay.write_text(overlay.read_text().replace("name: revenue", "name: takings"))
    os.utime(overlay, (an_hour_ago + 60, an_hour_ago + 60))
    renamed = run_ktx("sl", "query", "-m", "orders.takings", "--format", "sql", cwd=shop)
    assert renamed.returncode == 0, renamed.stderr
    assert "AS takings" in renamed.stdout
    gone = run_ktx(*args, cwd=shop)
    assert gone.returncode == 1 and "revenue" in gone.stderr


def test_disable_joins_removes_a_join_everywhere_and_a_non_matching_entry_warns(run_ktx, shop: Path) -> None:
    overlay = shop / "semantic-layer" / "warehouse" / "orders.yaml"
    before = {s["name"]: s for s in json.loads(run_ktx("sl", "--json", cwd=shop).stdout)["data"]["items"]}
    text = overlay.read_text()
    # the scanned join, written with other spacing, and a typo that matches nothing
    overlay.write_text(text + "disable_joins:\n  - customer_id   =  customers.id\n  - customer_id = customer.id\n")
    after = {s["name"]: s for s in json.loads(run_ktx("sl", "--json", cwd=shop).stdout)["data"]["items"]}
    assert after["orders"]["joinCount"] == before["orders"]["joinCount"] - 1
    refused = run_ktx("sl", "query", "-m", "orders.revenue", "-d", "customers.segment", "--format", "sql", cwd=shop)
    assert refused.returncode == 1
    validated = run_ktx("sl", "validate", "orders", cwd=shop)
    assert "disable_joins entry 'customer_id = customer.id' matches no join of 'orders'" in (
        validated.stdout + validated.stderr
    )


STORES_LAYER = {
    "payment.yaml": "name: payment\ntable: payment\ngrain: [id]\ncolumns:\n  - {name: id, type: number}\n"
    "  - {name: customer_id, type: number}\n  - {name: rental_id, type: number}\n  - {name: amount, type: number}\n"
    "joins:\n  - {to: customer, on: customer_id = customer.id, relationship: many_to_one}\n"
    "  - {to: rental, on: rental_id = rental.id, relationship: many_to_one}\n"
    "measures:\n  - {name: revenue, expr: sum(amount)}\n",
    "customer.yaml": "name: customer\ntable: customer\ngrain: [id]\ncolumns:\n  - {name: id, type: number}\n"
    "  - {name: store_id, type: number}\njoins:\n  - {to: store, on: store_id = store.id, relationship: many_to_one}\n",
    "rental.yaml": "name: rental\ntable: rental\ngrain: [id]\ncolumns:\n  - {name: id, type: number}\n"
    "  - {name: inventory_id, type: number}\n"
    "joins:\n  - {to: inventory, on: inventory_id = inventory.id, relationship: many_to_one}\n",
    "inventory.yaml": "name: inventory\ntable: inventory\ngrain: [id]\ncolumns:\n  - {name: id, type: number}\n"
    "  - {name: store_id, type: number}\njoins:\n  - {to: store, on: store_id = store.id, relationship: many_to_one}\n",
    "store.yaml": "name: store\ntable: store\ngrain: [id]\ncolumns:\n  - {name: id, type: number}\n"
    "  - {name: city, type: string}\n",
}


def test_revenue_per_store_with_two_join_paths_is_refused_until_the_path_is_chosen(run_ktx, project: Path) -> None:
    """payment → customer → store (the customer's home store) or payment → rental → inventory → store (where the
    film was rented): ktx picked one and answered, which was the wrong one for the question asked."""
    import duckdb

    with duckdb.connect(str(project / "rentals.duckdb")) as con:
        con.execute("CREATE TABLE store (id INTEGER, city VARCHAR)")
        con.execute("INSERT INTO store VALUES (1, 'Lethbridge'), (2, 'Woodridge')")
        con.execute("CREATE TABLE customer AS SELECT i AS id, 1 + i % 2 AS store_id FROM range(1, 11) t(i)")
        con.execute("CREATE TABLE inventory AS SELECT i AS id, 1 + (i // 5) % 2 AS store_id FROM range(1, 21) t(i)")
        con.execute("CREATE TABLE rental AS SELECT i AS id, 1 + i % 20 AS inventory_id FROM range(1, 51) t(i)")
        con.execute(
            "CREATE TABLE payment AS SELECT i AS id, 1 + i % 10 AS customer_id, 1 + i % 50 AS rental_id, i AS amount "
            "FROM range(1, 101) t(i)"
        )
        by_home_store = dict(
            con.execute(
                "SELECT s.city, sum(p.amount) FROM payment p JOIN customer c ON p.customer_id = c.id "
                "JOIN store s ON c.store_id = s.id GROUP BY 1"
            ).fetchall()
        )
    folder = project / "semantic-layer" / "rentals"
    folder.mkdir(parents=True)
    for name, text in STORES_LAYER.items():
        (folder / name).write_text(text)
    text = (project / "ktx.yaml").read_text().replace("connections: {}", "")
    (project / "ktx.yaml").write_text(
        text + "\nconnections:\n  rentals:\n    driver: duckdb\n    path: rentals.duckdb\n"
    )
    ask = ("sl", "query", "-m", "payment.revenue", "-d", "store.city", "--execute", "--format", "json")
    refused = run_ktx(*ask, cwd=project)
    assert refused.returncode == 1
    assert "Ambiguous join path from 'payment' to 'store'" in refused.stderr
    assert "payment → customer → store" in refused.stderr and "payment → rental → inventory → store" in refused.stderr
    chosen = run_ktx(*ask, "--via", "customer", cwd=project)
    assert chosen.returncode == 0, chosen.stderr
    assert {row[0]: row[1] for row in json.loads(chosen.stdout)["rows"]} == by_home_store
    (project / "ktx.yaml").write_text((project / "ktx.yaml").read_text() + "semantic_layer:\n  ambiguousPaths: pick\n")
    picked = run_ktx(*ask, cwd=project)
    assert picked.returncode == 0, picked.stderr
    assert "Ambiguous join path" in picked.stderr  # answered, and says which path it took


PROBE = """
import sys
from ktx.cli.entry import main
try:
    main(["sl", "query", *sys.argv[1:], "--format", "sql"])
except SystemExit:
    pass
print("SQLGLOT_LOADED" if "sqlglot" in sys.modules else "SQLGLOT_NOT_LOADED", file=sys.stderr)
"""


@pytest.mark.parametrize("asked", ["flags", "query file"])
def test_a_repeated_compile_comes_from_the_compiled_query_cache_without_sqlglot(
    shop: Path, home: Path, asked: str
) -> None:
    import sys

    from tests.conftest import clean_env

    (shop / "q.json").write_text(json.dumps({"measures": ["orders.revenue"], "dimensions": ["customers.segment"]}))
    args = ["-m", "orders.revenue", "-d", "customers.segment"] if asked == "flags" else ["--query-file", "q.json"]

    def probe() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", PROBE, *args],
            cwd=shop,
            env=clean_env(home),
            capture_output=True,
            text=True,
            timeout=60,
        )

    overlay = shop / "semantic-layer" / "warehouse" / "orders.yaml"
    old = overlay.stat().st_mtime_ns - 10_000_000_000  # older than the clock's grain, so the entry may be kept
    for path in (shop / "semantic-layer").rglob("*"):
        os.utime(path, ns=(old, old))
    first = probe()
    assert "SQLGLOT_LOADED" in first.stderr and first.stdout.startswith("SELECT")
    second = probe()
    assert "SQLGLOT_NOT_LOADED" in second.stderr and second.stdout == first.stdout
    # a changed file is a different layer: the cache misses and the new SQL is compiled
    overlay.write_text(
        overlay.read_text().replace("sum(net_amount), segments: [paid]", "sum(amount), segments: [paid]")
    )
    os.utime(overlay, ns=(old + 1, old + 1))
    third = probe()
    assert "SQLGLOT_LOADED" in third.stderr and third.stdout != first.stdout


def test_a_mistyped_subcommand_that_matches_no_source_suggests_the_command(run_ktx, shop: Path) -> None:
    result = run_ktx("sl", "quer", cwd=shop)
    output = result.stdout + result.stderr
    assert 'No semantic-layer sources matched "quer"' in output
    assert "Did you mean the command `ktx sl query`?" in output
    unrelated = run_ktx("sl", "zzzqqq", cwd=shop)
    assert "Did you mean" not in unrelated.stdout + unrelated.stderr
