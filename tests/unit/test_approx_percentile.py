"""approx_percentile(x, p) in the dialects that have an approximate percentile of their own, parsed back by each."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from ktx.semantic.sqlexpr import CompileError, rewrite_custom_aggregates


def _render(dialect: str, fraction: str = "0.99") -> str:
    node = sqlglot.parse_one(f"approx_percentile(amount, {fraction})")
    sql = rewrite_custom_aggregates(node, dialect).sql(dialect=dialect)
    sqlglot.parse_one(f"SELECT {sql} FROM t", read=dialect)  # valid in that dialect
    return sql


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("duckdb", "APPROX_QUANTILE(amount, 0.99)"),
        ("snowflake", "APPROX_PERCENTILE(amount, 0.99)"),
        ("clickhouse", "quantile(0.99)(amount)"),
        ("bigquery", "APPROX_QUANTILES(amount, 100)[OFFSET(99)]"),
    ],
)
def test_each_engines_own_estimate(dialect: str, sql: str) -> None:
    assert _render(dialect) == sql


@pytest.mark.parametrize("dialect", ["postgres", "mysql", "sqlite", "tsql"])
def test_engines_without_one_refuse(dialect: str) -> None:
    with pytest.raises(CompileError, match=f"not available on {dialect}"):
        _render(dialect)


def test_bigquery_answers_whole_hundredths_only() -> None:
    with pytest.raises(CompileError, match="whole hundredths"):
        _render("bigquery", "0.995")
    assert isinstance(sqlglot.parse_one(_render("bigquery", "0.5"), read="bigquery"), exp.Bracket)
