"""SQL validation of candidates: how many distinct child values find a parent, within a query budget.

One read-only query per candidate compares the distinct non-null child values (up to `sample` of them) with
the parent's; coverage and violations decide. The markers `child_values` / `parent_values` tag these probes
so query-history mining skips them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ktx.errors import KtxError
from ktx.scan.profile import TableStats
from ktx.scan.relationships.model import Edge, TableInfo


def validation_budget(setting: int | str | None, table_count: int) -> int | None:
    """How many candidates get a query: default min(max(2 × tables, 100), 1000) — a small schema's handful of
    tables still gets its value-based candidates checked; `all` is unlimited (None)."""
    if setting == "all":
        return None
    if isinstance(setting, int):
        return setting
    return min(max(2 * table_count, 100), 1000)


def _table(info: TableInfo):
    from ktx.scan.profile import _table as table_node

    return table_node(info.schema, info.name, info.catalog)


def validation_tree(child: TableInfo, child_cols: tuple[str, ...], parent: TableInfo, parent_cols, sample: int):
    """Distinct child tuples, distinct parent tuples, how many child tuples match and how many do not."""
    from sqlglot import exp

    from ktx.scan.profile import _col

    def values(info: TableInfo, cols: tuple[str, ...], limit: int | None):
        projections = [exp.alias_(_col(c), f"v{i}") for i, c in enumerate(cols)]
        not_null = exp.and_(*(exp.Not(this=exp.Is(this=_col(c), expression=exp.Null())) for c in cols))
        query = exp.select(*projections).distinct().from_(_table(info)).where(not_null)
        return query.limit(limit) if limit else query

    on = exp.and_(*(exp.column(f"v{i}", "c").eq(exp.column(f"v{i}", "p")) for i in range(len(child_cols))))
    matched = exp.Not(this=exp.Is(this=exp.column("v0", "p"), expression=exp.Null()))
    one_if = lambda cond: exp.Case(ifs=[exp.If(this=cond, true=exp.Literal.number(1))], default=exp.Literal.number(0))  # noqa: E731
    return (
        exp.select(
            exp.alias_(exp.Count(this=exp.Star()), "child_distinct"),
            exp.alias_(exp.select(exp.Count(this=exp.Star())).from_("parent_values").subquery(), "parent_distinct"),
            exp.alias_(exp.Sum(this=one_if(matched)), "overlap"),
            exp.alias_(exp.Sum(this=one_if(exp.Not(this=matched))), "violation_count"),
        )
        .from_(exp.alias_(exp.to_table("child_values"), "c"))
        .join(exp.alias_(exp.to_table("parent_values"), "p"), on=on, join_type="left")
        .with_("child_values", as_=values(child, child_cols, sample))
        .with_("parent_values", as_=values(parent, tuple(parent_cols), None))
    )


def validation_sql(child: TableInfo, child_cols: tuple[str, ...], parent: TableInfo, parent_cols, sample: int, dialect):
    """The validation query of one candidate, rendered from a cached template of its shape."""
    from ktx.scan import sqltemplate as t

    width = len(child_cols)
    template = t.render_template(
        ("validation", width, sample),
        lambda: validation_tree(
            TableInfo("c", t.placeholder("child")),
            tuple(t.placeholder(f"c{i}") for i in range(width)),
            TableInfo("p", t.placeholder("parent")),
            tuple(t.placeholder(f"p{i}") for i in range(width)),
            sample,
        ),
        dialect,
    )
    values = {
        "child": t.table(child.schema, child.name, child.catalog, dialect),
        "parent": t.table(parent.schema, parent.name, parent.catalog, dialect),
    }
    for i in range(width):
        values[f"c{i}"] = t.ident(child_cols[i], dialect)
        values[f"p{i}"] = t.ident(parent_cols[i], dialect)
    return t.fill(template, values)


def check_tuple(
    connector: Any, child: TableInfo, child_cols, parent: TableInfo, parent_cols, sample: int
) -> dict[str, Any]:
    """Run one validation query; the result has coverage, violations and `error` when it failed."""
    try:
        raw = connector.execute(
            validation_sql(child, tuple(child_cols), parent, parent_cols, sample, connector.dialect)
        )
    except KeyboardInterrupt:
        raise
    except KtxError as exc:
        return {"error": exc.message}
    child_distinct, parent_distinct, overlap, violations = (int(v or 0) for v in raw.rows[0])
    coverage = overlap / child_distinct if child_distinct else 0.0
    return {
        "childDistinct": child_distinct,
        "parentDistinct": parent_distinct,
        "overlap": overlap,
        "violations": violations,
        "coverage": round(coverage, 4),
        "violationRatio": round(violations / child_distinct, 4) if child_distinct else 1.0,
    }


def validate_candidates(
    connector: Any | None,
    edges: list[Edge],
    tables: dict[str, TableInfo],
    stats: dict[str, TableStats],
    *,
    budget: int | None,
    sample: int,
    concurrency: int,
    accept: float,
    review: float,
) -> int:
    """Validate within the budget; sets status, score and reasons. Returns queries run.

    The best candidate of every source column goes first, then every column's second best, and so on (each round
    by confidence): in a wide warehouse, 120 `fact_X.customer_id` columns each get their `customers` link checked
    before any budget goes on `fact_X.customer_id → fact_Y.customer_id`."""
    by_slot: dict[tuple[str, tuple[str, ...]], list[int]] = {}
    for i in sorted(range(len(edges)), key=lambda i: -edges[i].confidence):
        by_slot.setdefault((edges[i].from_table, edges[i].from_columns), []).append(i)
    rank = {i: position for indexes in by_slot.values() for position, i in enumerate(indexes)}
    order = sorted(range(len(edges)), key=lambda i: (rank[i], -edges[i].confidence))
    if connector is None or budget == 0:
        for edge in edges:
            edge.status, edge.score = "review", edge.confidence * 0.6
            edge.reasons.append("validation_unavailable")
        return 0
    chosen = order if budget is None else order[:budget]
    for i in order[len(chosen) :]:
        edges[i].status, edges[i].score = "review", edges[i].confidence * 0.6
        edges[i].reasons.append("validation_unattempted")

    def run(index: int) -> tuple[int, dict[str, Any]]:
        edge = edges[index]
        return index, check_tuple(
            connector, tables[edge.from_table], edge.from_columns, tables[edge.to_table], edge.to_columns, sample
        )

    from ktx.scan.profile import releasing_map

    workers = max(1, min(concurrency, getattr(connector, "max_connections", 1), len(chosen) or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ktx-validate") as pool:
        for index, result in releasing_map(pool, run, chosen, connector):
            judge(edges[index], result, stats, accept, review)
    return len(chosen)


def judge(edge: Edge, result: dict[str, Any], stats: dict[str, TableStats], accept: float, review: float) -> None:
    if "error" in result:
        edge.validation = {"passed": False, **result}
        edge.status, edge.score = "review", edge.confidence * 0.6
        edge.reasons.append("validation_failed")
        return
    parent_stats = stats.get(edge.to_table)
    child_stats = stats.get(edge.from_table)
    empty = [
        side
        for side, table_stats in (("source", child_stats), ("target", parent_stats))
        if table_stats is not None and not table_stats.failed and table_stats.row_count == 0
    ]
    if empty:
        # Nothing to check against: the names propose the link, a person decides (never accepted, never lost).
        edge.validation = {**result, "passed": False, "emptyTable": empty}
        edge.status, edge.score = "review", edge.confidence * 0.6
        edge.reasons.append("empty_table")
        return
    target = parent_stats.columns.get(edge.to_columns[0]) if parent_stats and len(edge.to_columns) == 1 else None
    uniqueness = target.uniqueness if target is not None and target.sampled else 1.0
    if target is not None and target.null_count:
        # Uniqueness over non-null values: a nullable unique key is still a key.
        non_null = target.sampled - target.null_count
        uniqueness = target.distinct_count / non_null if non_null else 0.0
    coverage, violation_ratio = result["coverage"], result["violationRatio"]
    hard = []
    if target is not None and target.duplicates_seen:
        # A many-to-one join into a column whose values repeat multiplies the child's rows: refused, whatever the
        # ratio (0.9998 unique still doubles those rows).
        hard.append("low_target_uniqueness")
    if coverage < 0.9:
        hard.append("low_source_coverage")
    if violation_ratio > 0.01:
        hard.append("excessive_violations")
    if result["childDistinct"] == 0:
        hard.append("no_child_values")
    edge.score = 0.2 * edge.confidence + 0.3 * uniqueness + 0.4 * coverage + 0.1 * (1 - violation_ratio)
    edge.validation = {**result, "targetUniqueness": round(uniqueness, 4), "passed": not hard}
    if hard:
        edge.status = "rejected"
        edge.reasons += hard
        if edge.match == "llm_proposal":
            edge.reasons.append("llm_proposed_but_validation_failed")
    elif edge.score >= accept:
        edge.status = "accepted"
    elif edge.score >= review:
        edge.status = "review"
    else:
        edge.status = "rejected"
