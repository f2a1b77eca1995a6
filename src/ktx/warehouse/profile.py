"""Batched profiling: row count, null and distinct counts, top values and sample rows.

Statistics for all columns come from one query per table (over a sample of rows); top values
from a second, ranked with a window function; samples from a third. SQL is built as sqlglot
trees and rendered in the connector's dialect, so identifiers are always quoted correctly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ktx.warehouse.values import json_value


@dataclass
class ColumnProfile:
    name: str
    null_count: int
    distinct_count: int
    top_values: list[tuple[Any, int]] = field(default_factory=list)


@dataclass
class TableProfile:
    table: str
    row_count: int
    sampled_rows: int
    columns: dict[str, ColumnProfile]
    sample_rows: list[dict[str, Any]]


def _table_expr(schema: str | None, table: str):
    from sqlglot import exp

    return exp.Table(
        this=exp.to_identifier(table, quoted=True),
        db=exp.to_identifier(schema, quoted=True) if schema else None,
    )


def _col(name: str):
    from sqlglot import exp

    return exp.Column(this=exp.to_identifier(name, quoted=True))


def stats_sql(schema: str | None, table: str, columns: list[str], sample_rows: int, dialect: str) -> str:
    from sqlglot import exp

    sample = exp.select(*(_col(c) for c in columns)).from_(_table_expr(schema, table)).limit(sample_rows)
    projections: list[exp.Expression] = [
        exp.alias_(exp.select(exp.Count(this=exp.Star())).from_(_table_expr(schema, table)).subquery(), "ktx_rows"),
        exp.alias_(exp.Count(this=exp.Star()), "ktx_sampled"),
    ]
    for i, name in enumerate(columns):
        projections.append(exp.alias_(exp.Count(this=_col(name)), f"ktx_nn_{i}"))
        projections.append(exp.alias_(exp.Count(this=exp.Distinct(expressions=[_col(name)])), f"ktx_nd_{i}"))
    query = exp.select(*projections).from_(sample.subquery("ktx_sample"))
    return query.sql(dialect=dialect)


def top_values_sql(
    schema: str | None, table: str, columns: list[str], sample_rows: int, top_k: int, dialect: str
) -> str:
    from sqlglot import exp

    branches = []
    for i, name in enumerate(columns):
        sample = exp.select(_col(name)).from_(_table_expr(schema, table)).limit(sample_rows).subquery(f"s{i}")
        branch = (
            exp.select(
                exp.alias_(exp.Literal.number(i), "ktx_col"),
                exp.alias_(exp.cast(_col(name), exp.DataType.build("text")), "ktx_value"),
                exp.alias_(exp.Count(this=exp.Star()), "ktx_n"),
            )
            .from_(sample)
            .where(exp.Not(this=exp.Is(this=_col(name), expression=exp.Null())))
            .group_by(_col(name))
        )
        branches.append(branch)
    union = branches[0]
    for branch in branches[1:]:
        union = exp.union(union, branch, distinct=False)
    ranked = exp.select(
        "ktx_col",
        "ktx_value",
        "ktx_n",
        exp.alias_(
            exp.Window(
                this=exp.RowNumber(),
                partition_by=[exp.column("ktx_col")],
                order=exp.Order(
                    expressions=[
                        exp.Ordered(this=exp.column("ktx_n"), desc=True),
                        exp.Ordered(this=exp.column("ktx_value")),
                    ]
                ),
            ),
            "ktx_rank",
        ),
    ).from_(union.subquery("ktx_groups"))
    query = (
        exp.select("ktx_col", "ktx_value", "ktx_n")
        .from_(ranked.subquery("ktx_ranked"))
        .where(exp.LTE(this=exp.column("ktx_rank"), expression=exp.Literal.number(top_k)))
        .order_by("ktx_col", "ktx_rank")
    )
    return query.sql(dialect=dialect)


def sample_sql(schema: str | None, table: str, columns: list[str], rows: int, dialect: str) -> str:
    from sqlglot import exp

    return exp.select(*(_col(c) for c in columns)).from_(_table_expr(schema, table)).limit(rows).sql(dialect=dialect)


def profile_table(
    connector,
    schema: str | None,
    table: str,
    columns: list[str],
    *,
    sample_rows: int = 10_000,
    top_k: int = 5,
    sample_size: int = 5,
) -> TableProfile:
    """Profile one table with three queries through the connector's read-only session."""
    dialect = connector.dialect
    stats = connector.execute(stats_sql(schema, table, columns, sample_rows, dialect), max_rows=1).rows[0]
    row_count, sampled = int(stats[0]), int(stats[1])
    profiles = {
        name: ColumnProfile(name, sampled - int(stats[2 + 2 * i]), int(stats[3 + 2 * i]))
        for i, name in enumerate(columns)
    }
    if columns and top_k > 0:
        for col_index, value, count in connector.execute(
            top_values_sql(schema, table, columns, sample_rows, top_k, dialect)
        ).rows:
            profiles[columns[int(col_index)]].top_values.append((value, int(count)))
    samples = []
    if sample_size > 0:
        raw = connector.execute(sample_sql(schema, table, columns, sample_size, dialect), max_rows=sample_size)
        samples = [{h: json_value(v) for h, v in zip(raw.headers, row, strict=False)} for row in raw.rows]
    name = f"{schema}.{table}" if schema else table
    return TableProfile(name, row_count, sampled, profiles, samples)
