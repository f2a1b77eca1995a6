"""A key must be unique on every row: a tuple that repeats once in 200 rows is not a composite key, and a link into a
column whose values repeat is refused (a join through it would double those rows)."""

from __future__ import annotations

import duckdb
import pytest

from tests.fixtures.relationships.evaluate import discover_fixture


@pytest.mark.parametrize(("duplicates", "key"), [(0, ("order_id", "line_no")), (1, None)])
def test_composite_key_needs_every_tuple_unique(tmp_path, duplicates, key):
    path = tmp_path / "lines.duckdb"
    db = duckdb.connect(str(path))
    db.execute("CREATE TABLE orders AS SELECT range + 1 AS order_id, range * 2.5 AS total FROM range(50)")
    db.execute(
        "CREATE TABLE order_lines AS SELECT (range // 4) + 1 AS order_id, (range % 4) + 1 AS line_no, "
        "range * 1.5 AS amount FROM range(200)"
    )
    if duplicates:
        db.execute("INSERT INTO order_lines VALUES (1, 1, 99.0)")
    db.close()
    result = discover_fixture(path, "duckdb")
    found = result.primary_keys.get("order_lines")
    assert (found.columns if found else None) == key
    assert any(e.from_table == "order_lines" and e.to_table == "orders" for e in result.accepted)


@pytest.mark.parametrize("duplicated", [False, True])
def test_a_link_into_a_column_whose_values_repeat_is_not_accepted(tmp_path, duplicated):
    """One customer id twice in `customers`: joining orders to it would double that customer's orders."""
    path = tmp_path / "shop.duckdb"
    db = duckdb.connect(str(path))
    db.execute("CREATE TABLE customers AS SELECT range + 1 AS customer_id, 'c' || range AS name FROM range(500)")
    if duplicated:
        db.execute("INSERT INTO customers VALUES (7, 'c6 again')")
    db.execute(
        "CREATE TABLE orders AS SELECT range + 1 AS order_id, (range % 500) + 1 AS customer_id, range * 2.0 AS total "
        "FROM range(2000)"
    )
    db.close()
    result = discover_fixture(path, "duckdb")
    accepted = [e for e in result.accepted if e.from_table == "orders" and e.to_table == "customers"]
    if not duplicated:
        assert len(accepted) == 1
        return
    assert not accepted
    refused = [e for e in [*result.review, *result.rejected] if e.from_table == "orders" and e.to_table == "customers"]
    assert refused and "low_target_uniqueness" in refused[0].reasons
