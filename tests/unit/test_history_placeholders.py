"""Normalized statement text as pg_stat_statements, MySQL's digests and ClickHouse store it is analyzed like the
query it stands for: tables, filters and joins, with the placeholders' constants gone."""

from __future__ import annotations

import pytest

from ktx.history.analyze import analyze
from ktx.history.placeholders import fill_placeholders


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("postgres", "select o.id from orders o join customers c on c.id = o.customer_id "
                     "where o.order_date >= date $1 and o.status in ($2, $3) limit $4"),
        ("postgres", "select o.id from orders o join customers c on c.id = o.customer_id "
                     "where o.created_at > timestamp $1 and o.amount > $2::numeric and o.order_date = any($3)"),
        ("mysql", "SELECT `o`.`id` FROM `orders` `o` JOIN `customers` `c` ON `c`.`id` = `o`.`customer_id` "
                  "WHERE `o`.`order_date` >= DATE ? AND `o`.`status` IN (...) LIMIT ?"),
        ("mysql", "SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id "
                  "WHERE o.status IN (?, ?) AND o.created_at > TIMESTAMP ? LIMIT ?, ?"),
        ("clickhouse", "SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id "
                       "WHERE o.order_date >= toDate(?) AND o.status IN (?) LIMIT ?"),
    ],
)  # fmt: skip
def test_normalized_templates_parse(dialect: str, sql: str) -> None:
    found = analyze(sql, dialect)
    assert found.error is None
    assert found.tables == ["orders", "customers"]
    assert ("orders", "customer_id", "customers", "id") in found.joins or (
        "customers",
        "id",
        "orders",
        "customer_id",
    ) in found.joins


def test_quoted_text_and_json_operators_are_left_alone() -> None:
    assert fill_placeholders("select * from t where note = 'a $1 ?' and x = $2", "postgres") == (
        "select * from t where note = 'a $1 ?' and x = 0"
    )
    assert fill_placeholders("select * from docs where body ? 'key'", "postgres") == (
        "select * from docs where body ? 'key'"
    )
    assert fill_placeholders('SELECT "a?" FROM t WHERE x = ?', "mysql") == 'SELECT "a?" FROM t WHERE x = 0'


def test_text_that_is_not_sql_still_fails_with_its_error() -> None:
    assert analyze("select from where $1 $$", "postgres").error
