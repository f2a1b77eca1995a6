"""What one query template touches, from its SQL (sqlglot, in process): the tables, the columns each clause uses
(where, group by, join, order by, select), and the joins it makes (column equalities between two tables)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CLAUSES = ("where", "group_by", "join", "order_by", "select")


@dataclass
class Analysis:
    tables: list[str] = field(default_factory=list)  # "schema.table", lower case, in first-seen order
    columns: dict[str, dict[str, set[str]]] = field(default_factory=dict)  # table → clause → columns
    joins: set[tuple[str, str, str, str]] = field(default_factory=set)  # (table, column, other table, column)
    error: str | None = None

    def add_column(self, table: str, clause: str, column: str) -> None:
        self.columns.setdefault(table, {}).setdefault(clause, set()).add(column.lower())


def _table_name(node: Any, default_schema: str | None) -> str:
    schema = node.db or default_schema
    return f"{schema}.{node.name}".lower() if schema else node.name.lower()


def analyze(
    sql: str, dialect: str, catalog: Mapping[str, set[str]] | None = None, default_schema: str | None = None
) -> Analysis:
    """`catalog` maps "schema.table" to its column names, to place unqualified columns; unknown tables still count."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError
    from sqlglot.optimizer.scope import traverse_scope

    from ktx.history.placeholders import fill_placeholders, has_placeholders

    out = Analysis()
    catalog = catalog or {}
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except (SqlglotError, RecursionError, ValueError) as exc:
        # Normalized text (`date $1`, `IN (...)`, `?`) is not SQL until its placeholders are literals again.
        statements = []
        if has_placeholders(sql):
            try:
                statements = [s for s in sqlglot.parse(fill_placeholders(sql, dialect), read=dialect) if s is not None]
            except (SqlglotError, RecursionError, ValueError):
                statements = []
        if not statements:
            is_parse_error = isinstance(exc, SqlglotError)
            out.error = str(exc).splitlines()[0][:200] if is_parse_error else f"{type(exc).__name__}: {exc}"[:200]
            return out
    for statement in statements:
        try:
            scopes = traverse_scope(statement)
        except (SqlglotError, RecursionError, ValueError, KeyError) as exc:
            out.error = f"scope: {exc}"[:200]
            continue
        for scope in scopes:
            aliases: dict[str, str] = {}
            for alias, source in scope.sources.items():
                if isinstance(source, exp.Table) and source.name:
                    name = _table_name(source, default_schema)
                    aliases[alias.lower()] = name
                    if name not in out.tables:
                        out.tables.append(name)
            if not aliases:
                continue

            def owner(column: Any, _aliases: dict[str, str] = aliases) -> str | None:
                qualifier = (column.table or "").lower()
                if qualifier:
                    return _aliases.get(qualifier)
                if len(set(_aliases.values())) == 1:
                    return next(iter(_aliases.values()))
                having = [t for t in set(_aliases.values()) if column.name.lower() in catalog.get(t, set())]
                return having[0] if len(having) == 1 else None

            select = scope.expression
            if not isinstance(select, exp.Select):
                continue
            parts: list[tuple[str, Any]] = [("select", e) for e in select.expressions]
            for clause, key in (("where", "where"), ("group_by", "group"), ("order_by", "order")):
                node = select.args.get(key)
                if node is not None:
                    parts.append((clause, node))
            for join in select.args.get("joins") or []:
                condition = join.args.get("on")
                if condition is not None:
                    parts.append(("join", condition))
            for clause, node in parts:
                for column in node.find_all(exp.Column):
                    if isinstance(column.this, exp.Star):
                        continue
                    table = owner(column)
                    if table is not None:
                        out.add_column(table, clause, column.name)
            # Joins: equalities between columns of two tables, in ON clauses and (implicit joins) in WHERE.
            conditions = [n for c, n in parts if c in ("join", "where")]
            for condition in conditions:
                for eq in condition.find_all(exp.EQ):
                    left, right = eq.this, eq.expression
                    if not (isinstance(left, exp.Column) and isinstance(right, exp.Column)):
                        continue
                    a, b = owner(left), owner(right)
                    if a and b and a != b:
                        pair = sorted([(a, left.name.lower()), (b, right.name.lower())])
                        out.joins.add((pair[0][0], pair[0][1], pair[1][0], pair[1][1]))
                        out.add_column(a, "join", left.name)
                        out.add_column(b, "join", right.name)
    return out
