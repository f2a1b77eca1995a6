"""Parsing and rewriting the SQL fragments users write in sources and queries.

Every fragment is parsed with sqlglot in the connection's dialect (so `INTERVAL 30 DAY` survives on
BigQuery) after reserved words in `word.word` references are quoted, and is kept as an AST from
then on: the compiler rewrites trees, never strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from ktx.semantic import sqltree
from ktx.semantic.errors import CompileError

RESERVED = frozenset(
    [
        "select",
        "from",
        "where",
        "group",
        "order",
        "by",
        "having",
        "limit",
        "join",
        "on",
        "as",
        "and",
        "or",
        "not",
        "in",
        "is",
        "null",
        "true",
        "false",
        "between",
        "like",
        "case",
        "when",
        "then",
        "else",
        "end",
        "insert",
        "update",
        "delete",
        "create",
        "drop",
        "alter",
        "table",
        "index",
        "view",
        "union",
        "all",
        "distinct",
        "into",
        "values",
        "set",
        "with",
        "exists",
        "any",
        "some",
        "offset",
        "fetch",
        "for",
        "grant",
        "revoke",
        "primary",
        "key",
        "foreign",
        "references",
        "check",
        "constraint",
        "default",
        "column",
        "cross",
        "full",
        "inner",
        "left",
        "right",
        "outer",
        "natural",
        "using",
        "except",
        "intersect",
        "glob",
        "ilike",
        "lateral",
        "match_recognize",
        "notnull",
        "out",
        "qualify",
        "regexp",
        "returning",
        "rlike",
        "rollback",
        "sample",
        "tablesample",
        "top",
        "uncache",
        "xor",
    ]
)
SUPPORTED_DIALECTS = ("postgres", "duckdb", "sqlite", "mysql", "snowflake", "bigquery", "clickhouse", "tsql")
CUSTOM_AGGREGATES = {"count_distinct", "percentile", "median", "approx_percentile"}
_SAFE_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_STRING = re.compile(r"'(?:[^']|'')*'")
_DOTTED = re.compile(r'(?<![\w"`\]])([A-Za-z_]\w*)\.([A-Za-z_]\w*)(?![\w"`(])')


def check_dialect(dialect: str) -> str:
    name = (dialect or "").lower()
    try:
        sqlglot.Dialect.get_or_raise(name)
    except (ValueError, KeyError):
        raise CompileError(
            f"Unknown SQL dialect '{dialect}'. Use a dialect supported by sqlglot (e.g., postgres, bigquery, "
            "snowflake, mysql, duckdb)."
        ) from None
    return name


def _quote_char(dialect: str) -> tuple[str, str]:
    ident = sqlglot.Dialect.get_or_raise(dialect).tokenizer_class.IDENTIFIERS[0]
    return (ident[0], ident[1]) if isinstance(ident, tuple) else (ident, ident)


def quote_reserved(text: str, dialect: str) -> str:
    """Quote `order.total`-style references whose parts are reserved words; string literals untouched."""
    start, end = _quote_char(dialect)
    pieces, last = [], 0
    for literal in _STRING.finditer(text):
        pieces.append(("code", text[last : literal.start()]))
        pieces.append(("str", literal.group(0)))
        last = literal.end()
    pieces.append(("code", text[last:]))

    def fix(match: re.Match[str]) -> str:
        parts = [match.group(1), match.group(2)]
        if not any(p.lower() in RESERVED for p in parts):
            return match.group(0)
        return ".".join(f"{start}{p}{end}" if p.lower() in RESERVED else p for p in parts)

    return "".join(_DOTTED.sub(fix, chunk) if kind == "code" else chunk for kind, chunk in pieces)


def parse(text: str, dialect: str, *, what: str = "expression", query: bool = False) -> exp.Expression:
    """A fresh tree for `text` (callers rewrite it); parsing happens once per text and dialect.

    `text` must be exactly one expression — or, with `query`, exactly one read-only query (a SQL source).
    """
    node = _parse_cached(text, dialect, query)
    if isinstance(node, str):
        raise CompileError(f"Cannot parse {what} '{text}': {node}")
    return node.copy()


@lru_cache(maxsize=4096)
def _parse_cached(text: str, dialect: str, query: bool = False) -> exp.Expression | str:
    """One expression, or why the text is not one (several statements, a statement, a parse error)."""
    from ktx.warehouse.readonly import parse_error_message, write_operation

    try:
        parsed = [
            n for n in sqlglot.parse(quote_reserved(text, dialect), read=dialect) if not isinstance(n, exp.Semicolon)
        ]
    except ParseError as exc:
        return parse_error_message(exc)
    except RecursionError:
        return "it is nested too deeply"
    except Exception:  # the parser's own failures on odd input
        return "the SQL parser could not read it"
    nodes = [n for n in parsed if n is not None]
    if not nodes:
        return "it is empty"
    if len(nodes) > 1:
        return "it must be one expression, not several statements"
    node = nodes[0]
    if query:
        if not isinstance(node, exp.Query) or write_operation(node):
            return "it must be one read-only query (SELECT or WITH)"
    elif isinstance(node, exp.Query | exp.DDL | exp.DML) or write_operation(node):
        return "it must be an expression, not a statement"
    return node


def _outside_subqueries(node: exp.Expression) -> Iterator[exp.Expression]:
    """Walk a tree but not into subqueries: their columns and aggregates belong to another scope."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        for child in current.iter_expressions():
            if isinstance(child, exp.Subquery | exp.Select | exp.Union):
                continue
            stack.append(child)


def columns(node: exp.Expression) -> list[exp.Column]:
    return [n for n in _outside_subqueries(node) if isinstance(n, exp.Column) and not isinstance(n.this, exp.Star)]


def is_aggregate(node: exp.Expression) -> bool:
    if isinstance(node, exp.AggFunc):
        return True
    return isinstance(node, exp.Anonymous) and str(node.this).lower() in CUSTOM_AGGREGATES


def aggregates(node: exp.Expression) -> list[exp.Expression]:
    """Outermost aggregate calls in scope (not inside subqueries, not inside another aggregate)."""
    found, stack = [], [node]
    while stack:
        current = stack.pop()
        if is_aggregate(current):
            found.append(current)
            continue
        stack.extend(c for c in current.iter_expressions() if not isinstance(c, exp.Subquery | exp.Select | exp.Union))
    return found


def over_no_rows(node: exp.Expression) -> exp.Expression | None:
    """What an aggregate expression says over zero rows — counts 0, every other aggregate NULL, then the
    expression around them (`coalesce(sum(x), 0)` → 0) — or None when that is NULL."""
    tree = node.copy()
    for agg in aggregates(tree):
        empty = exp.Literal.number(0) if isinstance(agg, exp.Count) else exp.Null()
        if agg is tree:
            tree = empty
        else:
            agg.replace(empty)
    if isinstance(tree, exp.Null) or (isinstance(tree, exp.Paren) and isinstance(tree.this, exp.Null)):
        return None
    nodes = list(tree.walk())
    if (
        isinstance(tree, exp.Binary | exp.Unary)
        and any(isinstance(n, exp.Null) for n in nodes)
        and not any(isinstance(n, exp.Coalesce | exp.Case | exp.If) for n in nodes)
    ):
        return None  # arithmetic over a NULL is NULL
    return tree


def nested_aggregate(node: exp.Expression) -> bool:
    return any(
        is_aggregate(inner) for outer in aggregates(node) for inner in _outside_subqueries(outer) if inner is not outer
    )


def has_window(node: exp.Expression) -> bool:
    return any(isinstance(n, exp.Window) for n in node.walk())


def split_and(node: exp.Expression) -> list[exp.Expression]:
    node = node.unnest() if isinstance(node, exp.Paren) and isinstance(node.unnest(), exp.And) else node
    if isinstance(node, exp.And):
        return split_and(node.this) + split_and(node.expression)
    return [node]


def or_branches(node: exp.Expression) -> list[exp.Expression]:
    inner = node.unnest() if isinstance(node, exp.Paren) else node
    if isinstance(inner, exp.Or):
        return or_branches(inner.this) + or_branches(inner.expression)
    return [node]


def conjunction(parts: list[exp.Expression]) -> exp.Expression | None:
    return sqltree.conjunction([p.copy() for p in parts])


def render(node: exp.Expression, dialect: str) -> str:
    return quote_identifiers(node.copy()).sql(dialect=dialect)


def quote_identifiers(node: exp.Expression) -> exp.Expression:
    """Quote every reserved or unusual identifier, so generated SQL is valid in every dialect."""
    for ident in node.find_all(exp.Identifier):
        name = str(ident.this)
        if not ident.quoted and (name.lower() in RESERVED or not _SAFE_IDENTIFIER.match(name)):
            ident.set("quoted", True)
    return node


def rewrite_custom_aggregates(node: exp.Expression, dialect: str) -> exp.Expression:
    """`median(x)`, `percentile(x, p)` and `count_distinct(x)` → portable aggregate nodes."""

    def swap(n: exp.Expression) -> exp.Expression:
        name = str(n.this).lower() if isinstance(n, exp.Anonymous) else ""
        if name == "count_distinct":
            return exp.Count(this=exp.Distinct(expressions=[e.copy() for e in n.expressions]))
        if isinstance(n, exp.Median) or name in ("median", "percentile"):
            args = [n.this] if isinstance(n, exp.Median) else list(n.expressions)
            if name == "percentile" and len(args) != 2:
                raise CompileError(f"percentile() takes a column and a fraction: '{n.sql()}'")
            fraction = args[1].copy() if name == "percentile" else exp.Literal.number("0.5")
            return percentile_node(args[0].copy(), fraction, dialect)
        if name == "approx_percentile":
            if len(n.expressions) != 2:
                raise CompileError(f"approx_percentile() takes a column and a fraction: '{n.sql()}'")
            return approx_percentile_node(n.expressions[0].copy(), n.expressions[1].copy(), dialect)
        return n

    return node.transform(swap, copy=False)


def percentile_node(value: exp.Expression, fraction: exp.Expression, dialect: str) -> exp.Expression:
    if dialect == "clickhouse":
        return exp.Quantile(this=value, quantile=fraction)
    if dialect in ("postgres", "duckdb", "snowflake"):
        return exp.WithinGroup(
            this=exp.PercentileCont(this=fraction), expression=exp.Order(expressions=[exp.Ordered(this=value)])
        )
    raise CompileError(
        f"median()/percentile() are not available as aggregates on {dialect}; use a postgres, duckdb, snowflake "
        "or clickhouse connection, or a pre-computed column."
    )


def approx_percentile_node(value: exp.Expression, fraction: exp.Expression, dialect: str) -> exp.Expression:
    """The engine's own approximate percentile (MetricFlow's `use_approximate_percentile`): its answer is the
    engine's estimate, so there is no portable form and engines without one refuse."""
    if dialect in ("duckdb", "snowflake"):
        return exp.ApproxQuantile(this=value, quantile=fraction)
    if dialect == "clickhouse":
        return exp.Quantile(this=value, quantile=fraction)  # ClickHouse's quantile() is itself approximate
    if dialect == "bigquery" and isinstance(fraction, exp.Literal):
        hundredths = float(fraction.this) * 100
        if hundredths.is_integer() and 0 <= hundredths <= 100:
            quantiles = exp.ApproxQuantiles(this=value, expression=exp.Literal.number(100))
            return exp.Bracket(this=quantiles, expressions=[exp.Literal.number(int(hundredths))], offset=0)
    raise CompileError(
        f"approx_percentile() is not available on {dialect}"
        + (" for this fraction (BigQuery's APPROX_QUANTILES answers whole hundredths)" if dialect == "bigquery" else "")
        + "; use percentile() for the exact value, or a duckdb, snowflake, clickhouse or bigquery connection."
    )


def with_filter(aggregate_expr: exp.Expression, predicate: exp.Expression | None) -> exp.Expression:
    """Apply a measure filter inside every aggregate: `SUM(CASE WHEN f THEN x END)`, `COUNT(CASE WHEN f THEN 1 END)`."""
    if predicate is None:
        return aggregate_expr
    aggs = aggregates(aggregate_expr)
    if not aggs:
        return exp.Case(ifs=[exp.If(this=predicate.copy(), true=aggregate_expr)])
    for agg in aggs:
        target = agg.this if not isinstance(agg, exp.WithinGroup) else None
        if isinstance(agg, exp.WithinGroup):
            ordered = agg.expression.expressions[0]
            ordered.set("this", _case(predicate, ordered.this))
            continue
        if isinstance(agg, exp.Quantile):
            agg.set("this", _case(predicate, agg.this))
            continue
        if isinstance(target, exp.Distinct):
            target.set("expressions", [_case(predicate, e) for e in target.expressions])
        elif isinstance(target, exp.Star) or target is None:
            agg.set("this", _case(predicate, exp.Literal.number(1)))
        else:
            agg.set("this", _case(predicate, target))
    return aggregate_expr


def _case(predicate: exp.Expression, value: exp.Expression) -> exp.Expression:
    return exp.Case(ifs=[exp.If(this=predicate.copy(), true=value.copy())])


def safe_identifier(text: str) -> str:
    """Auto-name for an inline measure: `sum(orders.amount)` → `sum_orders_amount`."""
    name = re.sub(r"[^a-z0-9_]+", "_", text.lower().replace(".", "_"))
    name = re.sub(r"_+", "_", name).strip("_")
    if name and name[0].isdigit():
        name = f"m_{name}"
    return name or "measure"
