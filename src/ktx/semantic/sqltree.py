"""Direct construction of sqlglot SELECT trees.

sqlglot's fluent builders (`select().from_().join()`, `with_`, `as_`) accept strings, so they tokenize,
parse and deep-copy their arguments on every call; in the compiler those calls were most of the compile
time. The compiler always holds finished expressions, so it assembles the nodes itself and owns them:
nothing here copies.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlglot import exp

JOIN_SIDES = {"LEFT", "RIGHT", "FULL"}


def clone(node: exp.Expression) -> exp.Expression:
    """A copy of `node`; tables, columns and identifiers (the compiler's most copied nodes) are rebuilt
    directly, which is several times faster than sqlglot's generic deep copy."""
    if isinstance(node, exp.Identifier):
        return exp.Identifier(this=node.this, quoted=node.quoted)
    if isinstance(node, exp.Column | exp.Table | exp.TableAlias):
        args = {}
        for key, value in node.args.items():
            if value is None:
                continue
            if not isinstance(value, exp.Identifier | exp.TableAlias):
                return node.copy()
            args[key] = clone(value)
        return type(node)(**args)
    return node.copy()


def alias(node: exp.Expression, name: str) -> exp.Alias:
    return exp.Alias(this=node, alias=exp.to_identifier(name))


def column(name: str, table: str | None = None) -> exp.Column:
    return exp.Column(this=exp.to_identifier(name), table=exp.to_identifier(table) if table else None)


def table(name: str) -> exp.Table:
    return exp.Table(this=exp.to_identifier(name))


def select(projections: Iterable[exp.Expression], source: exp.Expression, *, distinct: bool = False) -> exp.Select:
    node = exp.Select(expressions=list(projections), from_=exp.From(this=source))
    if distinct:
        node.set("distinct", exp.Distinct())
    return node


def join(node: exp.Select, source: exp.Expression, kind: str, on: exp.Expression | None = None) -> None:
    """`kind` is LEFT, RIGHT, FULL, INNER or CROSS."""
    step = exp.Join(this=source, on=on)
    step.set("side" if kind in JOIN_SIDES else "kind", kind)
    node.append("joins", step)


def where(node: exp.Select, condition: exp.Expression | None) -> None:
    if condition is not None:
        node.set("where", exp.Where(this=condition))


def group_by(node: exp.Select, keys: list[exp.Expression]) -> None:
    if keys:
        node.set("group", exp.Group(expressions=keys))


def having(node: exp.Select, condition: exp.Expression | None) -> None:
    if condition is not None:
        node.set("having", exp.Having(this=condition))


def order_by(node: exp.Select, keys: list[exp.Ordered]) -> None:
    if keys:
        node.set("order", exp.Order(expressions=keys))


def limit(node: exp.Select, rows: int) -> None:
    node.set("limit", exp.Limit(expression=exp.Literal.number(rows)))


def with_ctes(node: exp.Select, ctes: list[tuple[str, exp.Expression]]) -> None:
    if ctes:
        node.set(
            "with_",
            exp.With(
                expressions=[
                    exp.CTE(this=body, alias=exp.TableAlias(this=exp.to_identifier(name))) for name, body in ctes
                ]
            ),
        )


def union_distinct(parts: list[exp.Expression]) -> exp.Expression:
    result = parts[0]
    for part in parts[1:]:
        result = exp.Union(this=result, expression=part, distinct=True)
    return result


def all_of(parts: list[exp.Expression]) -> exp.Expression:
    """Left-deep AND of `parts` (owned by the caller); OR/AND parts are parenthesised."""
    wrapped = [exp.Paren(this=p) if isinstance(p, exp.Connector) else p for p in parts]
    result = wrapped[0]
    for part in wrapped[1:]:
        result = exp.And(this=result, expression=part)
    return result


def conjunction(parts: list[exp.Expression]) -> exp.Expression | None:
    """Filter clauses joined by AND; with several, each is parenthesised so no operator binds across."""
    if len(parts) <= 1:
        return parts[0] if parts else None
    return all_of([exp.Paren(this=p) for p in parts])
