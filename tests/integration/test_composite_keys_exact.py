"""A composite key must be unique on every row: a tuple that repeats once in 200 rows is not a key (a grain built on
it would double that row's measures)."""

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
