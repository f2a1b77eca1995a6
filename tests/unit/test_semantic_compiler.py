"""Compiler unit tests: graph, planning decisions, the errors of the notes' section 3, and per-dialect SQL."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlglot

from ktx.semantic.compiler import SemanticEngine
from ktx.semantic.graph import JoinGraph
from ktx.semantic.model import Column, Source, Window
from ktx.semantic.sqlexpr import CompileError

DIALECTS = ["postgres", "duckdb", "sqlite", "mysql", "snowflake", "bigquery", "clickhouse", "tsql"]


def src(name: str, cols: list[str], *, grain: list[str] | None = None, **extra: Any) -> Source:
    columns = [{"name": c.split(":")[0], "type": c.split(":")[1] if ":" in c else "number"} for c in cols]
    return Source.parse({"name": name, "table": f"public.{name}", "grain": grain or ["id"],
                                  "columns": columns, **extra})  # fmt: skip


def m2o(to: str, on: str, **kw: Any) -> dict[str, Any]:
    return {"to": to, "on": on, "relationship": "many_to_one", **kw}


def chasm(dialect: str = "postgres") -> SemanticEngine:
    return SemanticEngine({
        "customers": src("customers", ["id", "segment:string", "region_id"], joins=[m2o("regions", "region_id = regions.id")]),
        "regions": src("regions", ["id", "name:string"]),
        "orders": src("orders", ["id", "customer_id", "amount", "cost", "status:string", "created_at:time"],
                      joins=[m2o("customers", "customer_id = customers.id")],
                      measures=[{"name": "revenue", "expr": "sum(amount)", "filter": "status != 'refunded'"},
                                {"name": "total_cost", "expr": "sum(cost)"},
                                {"name": "profit", "expr": "revenue - total_cost"},
                                {"name": "margin", "expr": "profit / revenue"},
                                {"name": "loop_a", "expr": "loop_b + 1"}, {"name": "loop_b", "expr": "loop_a + 1"}]),
        "tickets": src("tickets", ["id", "customer_id", "priority:string", "secret:string"],
                       joins=[m2o("customers", "customer_id = customers.id")],
                       measures=[{"name": "revenue", "expr": "sum(id)"}]),
    }, dialect)  # fmt: skip


def hub() -> SemanticEngine:
    return SemanticEngine({
        "hub": src("hub", ["id", "segment:string"]),
        "fact_a": src("fact_a", ["id", "hub_id", "val", "category:string"], joins=[m2o("hub", "hub_id = hub.id")]),
        "fact_b": src("fact_b", ["id", "hub_id", "val"], joins=[m2o("hub", "hub_id = hub.id")]),
        "details": src("details", ["id", "hub_id", "note:string"], joins=[m2o("hub", "hub_id = hub.id")]),
    }, "postgres")  # fmt: skip


# ---- graph -------------------------------------------------------------------------------------------


def test_edges_are_bidirectional_with_inverted_relationship() -> None:
    graph = chasm().graph
    forward = next(e for e in graph.adjacency["orders"] if e.to == "customers")
    backward = next(e for e in graph.adjacency["customers"] if e.to == "orders")
    assert forward.relationship == "many_to_one" and backward.relationship == "one_to_many"
    assert forward.column_pairs() == [("customer_id", "id")] and backward.column_pairs() == [("id", "customer_id")]


def test_shortest_path_prefers_two_safe_hops_over_one_fan_out() -> None:
    sources = {
        "a": src("a", ["id", "b_id", "c_id"], joins=[m2o("b", "b_id = b.id")]),
        "b": src("b", ["id", "c_id"], joins=[m2o("c", "c_id = c.id")]),
        "c": src("c", ["id", "a_id"], joins=[m2o("a", "a_id = a.id")]),  # c → a is one_to_many from a
    }
    path = JoinGraph.build(sources, "postgres").shortest_paths("a")["c"]
    assert [e.to for e in path.edges] == ["b", "c"] and not path.fans_out


def _diamond(prefer_c: bool = False, ambiguous_paths: str = "refuse") -> SemanticEngine:
    c_join = m2o("c", "c_id = c.id")
    if prefer_c:
        c_join = {**c_join, "preferred": True}
    return SemanticEngine({
        "a": src("a", ["id", "b_id", "c_id", "x"], joins=[m2o("b", "b_id = b.id"), c_join]),
        "b": src("b", ["id", "d_id"], joins=[m2o("d", "d_id = d.id")]),
        "c": src("c", ["id", "d_id"], joins=[m2o("d", "d_id = d.id")]),
        "d": src("d", ["id", "label:string"]),
    }, "postgres", ambiguous_paths=ambiguous_paths)  # fmt: skip


def test_two_join_paths_to_a_dimension_are_refused_with_the_candidates_and_how_to_choose() -> None:
    query = {"measures": ["sum(a.x)"], "dimensions": ["d.label"]}
    with pytest.raises(CompileError) as refused:
        _diamond().compile(query)
    message = str(refused.value)
    assert "Ambiguous join path from 'a' to 'd': a → b → d; a → c → d" in message
    assert 'add "via": ["b"]' in message and "preferred: true" in message
    via_c = _diamond().compile({**query, "via": ["c"]})
    assert "public.c AS c" in via_c.sql and "public.b AS b" not in via_c.sql and not via_c.warnings
    preferred = _diamond(prefer_c=True).compile(query)
    assert "public.c AS c" in preferred.sql and "public.b AS b" not in preferred.sql
    picked = _diamond(ambiguous_paths="pick").compile(query)
    assert any("Ambiguous join path from 'a' to 'd'" in w for w in picked.warnings)
    assert picked.to_json()["warnings"] == picked.warnings


def test_a_bad_join_is_left_out_with_a_warning_and_never_takes_the_layer_down() -> None:
    engine = SemanticEngine({"a": src("a", ["id", "b_id"], joins=[m2o("b", "b_id = b.id = a.id")]), "b": src("b", ["id"]),
                             "c": src("c", ["id"], joins=[m2o("zzz", "id = zzz.id")])}, "postgres")  # fmt: skip
    compiled = engine.compile({"measures": ["sum(a.id)"]})  # a query that needs neither join still answers
    warnings = " ".join(compiled.warnings)
    assert "Join left out of the layer" in warnings and "Invalid join condition: 'b_id = b.id = a.id'" in warnings
    assert "'zzz' is not defined" in warnings
    with pytest.raises(CompileError):  # one that needs the bad join is refused, never answered without it
        engine.compile({"measures": ["sum(a.id)"], "dimensions": ["b.id"]})


# ---- planning ----------------------------------------------------------------------------------------


def test_single_fact_query_has_no_ctes_and_reports_the_plan() -> None:
    compiled = chasm().compile({"measures": ["orders.revenue"], "dimensions": ["customers.segment"]})
    assert (
        "WITH" not in compiled.sql
        and "SUM(CASE WHEN orders.status <> 'refunded' THEN orders.amount END)" in compiled.sql
    )
    assert compiled.plan["has_fan_out"] is False and compiled.plan["anchor_source"] == "customers"
    assert compiled.plan["measures"][0]["provenance"] == "verified"


def test_chasm_builds_one_cte_per_fact_and_a_null_safe_key_spine() -> None:
    compiled = chasm().compile(
        {"measures": ["sum(orders.amount)", "count(tickets.id)"], "dimensions": ["customers.segment"]}
    )
    assert "orders_agg AS" in compiled.sql and "tickets_agg AS" in compiled.sql
    assert "IS NOT DISTINCT FROM" in compiled.sql and "UNION" in compiled.sql
    assert compiled.plan["fan_out_description"].startswith("Chasm trap: 2 independent measure sources")
    assert [g["cte"] for g in compiled.plan["measure_groups"]] == ["orders_agg", "tickets_agg"]


def test_derived_measures_are_parenthesised_and_divide_safely() -> None:
    compiled = chasm().compile({"measures": ["orders.margin"]})
    sql = re.sub(r"\s*\)", ")", re.sub(r"\(\s*", "(", re.sub(r"\s+", " ", compiled.sql)))
    # (revenue - cost) / revenue — the subtraction must be grouped, the division NULL-safe and real.
    assert "((SUM(CASE WHEN orders.status <> 'refunded' THEN orders.amount END) - SUM(orders.cost)) AS" in sql
    assert "NULLIF(" in sql and "CAST(" in sql


def test_a_measure_that_is_another_measures_name_compiles_to_that_measure() -> None:
    engine = SemanticEngine({"orders": src("orders", ["id", "amount"], measures=[
        {"name": "revenue", "expr": "sum(amount)"}, {"name": "sales", "expr": "revenue"},
        {"name": "turnover", "expr": "sales"}])}, "duckdb")  # fmt: skip
    sql = engine.compile({"measures": ["orders.turnover"]}).sql
    assert "SUM(orders.amount) AS turnover" in sql and "sales" not in sql


def test_having_on_a_derived_measure_works_in_both_shapes() -> None:
    single = chasm().compile(
        {"measures": ["orders.margin"], "dimensions": ["customers.segment"], "filters": ["orders.margin > 0.1"]}
    )
    assert "HAVING" in single.sql and "margin >" not in single.sql
    split = chasm().compile({"measures": ["orders.margin", "count(tickets.id)"], "dimensions": ["customers.segment"],
                             "filters": ["orders.margin > 0.1"]})  # fmt: skip
    outer = split.sql.split("dimension_keys AS")[1]
    # A sum over a segment without orders is NULL, as computed alone: the HAVING reads the CTE as it is.
    assert "WHERE" in outer and "orders_agg._revenue" in outer and "COALESCE(orders_agg." not in outer


def test_same_named_measures_get_distinct_names_never_dropped() -> None:
    compiled = chasm().compile({"measures": ["orders.revenue", "tickets.revenue"], "dimensions": ["customers.segment"]})
    assert compiled.headers == ["segment", "orders_revenue", "tickets_revenue"]
    with pytest.raises(CompileError, match="both named 'x'"):
        chasm().compile(
            {"measures": [{"expr": "sum(orders.amount)", "name": "x"}, {"expr": "count(tickets.id)", "name": "x"}]}
        )


def test_reserved_words_are_quoted_in_every_dialect() -> None:
    for dialect in DIALECTS:
        engine = SemanticEngine({
            "order": Source.parse({"name": "order", "table": "public.order", "grain": ["id"],
                                             "columns": [{"name": "id", "type": "number"}, {"name": "group", "type": "string"},
                                                         {"name": "select", "type": "number"}]}),
        }, dialect)  # fmt: skip
        sql = engine.compile({"measures": ["sum(order.select)"], "dimensions": ["order.group"]}).sql
        sqlglot.parse_one(sql, read=dialect)  # must be valid in the dialect
        quote = {"mysql": "`", "bigquery": "`", "tsql": "["}.get(dialect, '"')
        assert f"{quote}group" in sql and f"{quote}select" in sql and f"{quote}order" in sql, (dialect, sql)


def test_sql_sources_become_leading_ctes_with_hoisted_inner_ctes() -> None:
    engine = SemanticEngine({"s": Source.parse({
        "name": "s", "sql": "WITH base AS (SELECT 1 AS id, 2 AS v) SELECT id, v FROM base", "grain": ["id"],
        "columns": [{"name": "id", "type": "number"}, {"name": "v", "type": "number"}]})}, "postgres")  # fmt: skip
    sql = engine.compile({"measures": ["sum(s.v)"]}).sql
    assert sql.count("WITH") == 1 and "s__base AS" in sql and "FROM s__base AS base" in sql


def test_computed_columns_expand_everywhere_but_join_keys() -> None:
    engine = SemanticEngine({
        "o": src("o", ["id", "c_id", "price", "qty"], joins=[m2o("c", "c_id = c.id")]),
        "c": src("c", ["id"]),
    }, "postgres")  # fmt: skip
    engine.sources["o"].columns.append(Column(name="total", type="number", expr="price * qty"))
    sql = engine.compile({"measures": ["sum(o.total)"], "dimensions": ["c.id"], "filters": ["o.total > 5"]}).sql
    assert "SUM((o.price * o.qty))" in sql.replace("\n", "").replace("  ", "") or "SUM(o.price * o.qty)" in sql
    assert "o.c_id = c.id" in sql or "c.id = o.c_id" in sql


def test_time_truncation_per_dialect() -> None:
    expected = {"postgres": "DATE_TRUNC('MONTH'", "duckdb": "DATE_TRUNC('MONTH'", "snowflake": "DATE_TRUNC('MONTH'",
                "bigquery": "DATE_TRUNC(orders.created_at, MONTH)", "clickhouse": "dateTrunc('MONTH'",
                "tsql": "DATETRUNC(MONTH", "mysql": "DATE_FORMAT(orders.created_at, '%Y-%m-01')",
                "sqlite": "'start of month'"}  # fmt: skip
    for dialect, fragment in expected.items():
        sql = (
            chasm(dialect)
            .compile(
                {
                    "measures": ["orders.total_cost"],
                    "dimensions": [{"field": "orders.created_at", "granularity": "month"}],
                }
            )
            .sql
        )
        assert fragment in sql, (dialect, sql)
        assert "created_at_month" in sql


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_granularity_parses_back_in_every_dialect(dialect: str) -> None:
    from ktx.semantic.grains import GRANULARITIES

    for grain in GRANULARITIES:
        query = {
            "measures": ["orders.total_cost"],
            "dimensions": [{"field": "orders.created_at", "granularity": grain}],
        }
        sql = chasm(dialect).compile(query).sql
        sqlglot.parse_one(sql, read=dialect)
        assert f"created_at_{grain}" in sql, (dialect, grain)


def test_limit_and_dialect_rendering() -> None:
    assert "TOP 5" in chasm("tsql").compile({"measures": ["orders.total_cost"], "limit": 5}).sql
    assert "LIMIT 0" in chasm().compile({"measures": ["orders.total_cost"], "limit": 0}).sql
    for dialect in DIALECTS:
        sql = (
            chasm(dialect)
            .compile({"measures": ["orders.total_cost", "count(tickets.id)"], "dimensions": ["customers.segment"]})
            .sql
        )
        sqlglot.parse_one(sql, read=dialect)


# ---- errors (notes section 3) ------------------------------------------------------------------------

ERRORS = [
    ({"measures": ["count(*)"]}, "Measure 'count\\(\\*\\)' does not reference any source"),
    ({"measures": ["orders.amount"]}, "is not a pre-defined measure on source 'orders' and has no aggregate function"),
    ({"measures": ["revenue"]}, "Measure 'revenue' is ambiguous: it exists in multiple sources \\(orders, tickets\\)"),
    ({"measures": ["avg(sum(orders.amount))"]}, "Nested aggregation is not supported"),
    ({"measures": ["row_number() over (order by orders.id)"]}, "Window functions \\(OVER clause\\) are not supported"),
    ({"measures": ["orders.loop_a"]}, "Circular dependency detected: loop_"),
    ({"measures": [{"expr": "a + 1", "name": "b"}, {"expr": "b + 1", "name": "a"}]}, "Circular dependency detected"),
    ({"measures": ["sum(orders.nope)"]}, "Column 'nope' does not exist in source 'orders'. Available: amount"),
    ({"measures": ["sum(orders.amount)"], "dimensions": ["orders.revenue"]}, "Column 'revenue' does not exist in source 'orders'"),
    ({"measures": ["sum(orders.amount)"], "filters": ["orders.status = 'x' OR sum(orders.amount) > 1"]},
     "mixes aggregate and non-aggregate conditions with OR"),
    ({"measures": ["sum(orders.amount)"], "order_by": ["nope"]}, "ORDER BY field 'nope' is not a recognized measure or dimension"),
    ({"measures": ["sum(customers.id)"], "dimensions": ["orders.status"]}, "reached from measure source 'customers' through a one_to_many join"),
    ({"measures": ["sum(orders.amount)"], "segments": ["orders"]}, "must be a dotted 'source.segment_name' reference"),
    ({"measures": ["sum(orders.amount)"], "segments": ["nope.x"]}, "references unknown source 'nope'"),
    ({"measures": ["sum(orders.amount)"], "segments": ["orders.x"]}, "references unknown segment 'x' on source 'orders'"),
    ({"measures": ["sum(orders.amount)"], "limit": -1}, "limit must be non-negative, got -1"),
    ({"measures": [], "dimensions": []}, "Query does not reference any sources"),
    ({"measures": ["sum(orders.amount)"], "dimensions": ["segment", "status", "nowhere"]}, "Column 'nowhere' does not exist in any source"),
]  # fmt: skip


@pytest.mark.parametrize(("query", "message"), ERRORS, ids=[e[1][:40] for e in ERRORS])
def test_compile_errors_name_the_problem(query: dict[str, Any], message: str) -> None:
    with pytest.raises(CompileError, match=message):
        chasm().compile(query)


def test_hub_errors_asymmetric_grain_unreachable_filter_and_fan_filter() -> None:
    with pytest.raises(
        CompileError, match="Asymmetric dimension grain in chasm trap: 'fact_a' groups by \\['fact_a.category'\\]"
    ):
        hub().compile({"measures": ["sum(fact_a.val)", "sum(fact_b.val)"], "dimensions": ["fact_a.category"]})
    with pytest.raises(CompileError, match="Filter on 'details' is not reachable via many_to_one/one_to_one edges"):
        hub().compile({"measures": ["sum(fact_a.val)", "sum(fact_b.val)"], "filters": ["details.note = 'x'"]})
    with pytest.raises(
        CompileError, match="Filter on 'details' requires a one_to_many join from measure source 'fact_a'"
    ):
        hub().compile({"measures": ["sum(fact_a.val)"], "filters": ["details.note = 'x'"]})
    with pytest.raises(CompileError, match="Aggregate locality cannot safely reach 'details'"):
        hub().compile({"measures": ["sum(fact_a.val)", "sum(fact_b.val)"], "dimensions": ["details.note"]})


def test_unreachable_sources_and_hidden_columns() -> None:
    engine = SemanticEngine({
        "a": src("a", ["id", "v"]),
        "b": Source.parse({"name": "b", "table": "b", "grain": ["id"], "columns": [
            {"name": "id", "type": "number"}, {"name": "pii", "type": "string", "visibility": "hidden"}]}),
    }, "postgres")  # fmt: skip
    with pytest.raises(CompileError, match="No join path from 'a' to 'b'"):
        engine.compile({"measures": ["sum(a.v)"], "dimensions": ["b.id"], "include_empty": False})
    with pytest.raises(CompileError, match="Column 'b.pii' is hidden and cannot be queried"):
        engine.compile({"measures": ["count(b.id)"], "dimensions": ["b.pii"]})
    with pytest.raises(CompileError, match="Unknown SQL dialect 'nosuch'"):
        SemanticEngine({}, "nosuch")


def test_query_contract_problems_are_reported_together() -> None:
    with pytest.raises(CompileError) as caught:
        chasm().compile({
            "measures": ["orders.total_cost", 7, {"expr": ""}], "dimensions": [{"field": "orders.created_at",
            "granularity": "fortnight"}], "order_by": [{"field": "total_cost", "direction": "up"}],
            "limit": "many", "include_empty": "maybe", "having": ["x"],
        })  # fmt: skip
    message = str(caught.value)
    assert message.startswith("Invalid semantic query: unknown key 'having' (allowed: dimensions, filters,")
    for problem in ("measures.1: expected a string or a mapping, got 7", "measures.2: 'expr' must not be empty",
                    "order_by.0.direction: expected one of 'asc', 'desc', got 'up'",
                    "limit: expected a whole number, got 'many'", "include_empty: expected true or false"):  # fmt: skip
        assert problem in message
    # A granularity may be a custom one of the layer's time spine: checked against the layer when compiled.
    with pytest.raises(CompileError, match=r"Unknown granularity 'fortnight' in dimension 'orders.created_at:fortnight'. "
                       r"Use one of: second, minute, hour, day, week, month, quarter, year\."):  # fmt: skip
        chasm().compile({"measures": ["orders.total_cost"],
                         "dimensions": [{"field": "orders.created_at", "granularity": "fortnight"}]})  # fmt: skip


def test_query_contract_accepts_json_spellings() -> None:
    compiled = chasm().compile({"measures": ["orders.total_cost"],
                                "dimensions": ["customers.segment", {"field": "orders.status", "granularity": ""}],
                                "order_by": [{"field": "total_cost", "direction": "DESC"}], "limit": "5",
                                "include_empty": "false"})  # fmt: skip
    assert "LIMIT 5" in compiled.sql and "ORDER BY\n  total_cost DESC" in compiled.sql
    assert compiled.plan["order_by"] == [{"field": "total_cost", "direction": "desc"}]
    assert compiled.plan["include_empty"] is False


# ---- time windows and semi-additive measures ---------------------------------------------------------


def windows(dialect: str = "postgres", *, spine: bool = True) -> SemanticEngine:
    sources = {
        "fct": src("fct", ["id", "ds:time", "amount", "kind:string"], default_time_dimension={"column": "ds"},
                   measures=[{"name": "rev", "expr": "sum(amount)"},
                             {"name": "rev7", "expr": "sum(amount)", "window": {"kind": "cumulative", "window": "7 days"}},
                             {"name": "rev_prev", "expr": "sum(amount)", "window": {"kind": "offset", "window": "1 month"}},
                             {"name": "rev_all", "expr": "sum(amount)", "window": {"kind": "cumulative"}},
                             {"name": "growth", "expr": "rev - rev_prev"},
                             {"name": "last_day", "expr": "sum(amount)", "non_additive": {"column": "ds", "choose": "max"}},
                             {"name": "rev_daily", "expr": "sum(amount)", "join_to_timespine": True, "fill_nulls_with": 0},
                             {"name": "rev_or_zero", "expr": "sum(amount)", "fill_nulls_with": 0}]),
    }  # fmt: skip
    if spine:
        sources["cal"] = src("cal", ["ds:time"], grain=["ds"], time_spine={"column": "ds"})
    return SemanticEngine(sources, dialect)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_windows_and_semi_additive_measures_compile_in_every_dialect(dialect: str) -> None:
    day = [{"field": "fct.ds", "granularity": "day"}]
    for query in ({"measures": ["fct.rev7"], "dimensions": day},
                  {"measures": ["fct.rev7"], "dimensions": [{"field": "fct.ds", "granularity": "month"}, "fct.kind"]},
                  {"measures": ["fct.growth"], "dimensions": [{"field": "fct.ds", "granularity": "month"}]},
                  {"measures": ["fct.last_day"], "dimensions": ["fct.kind"]}):  # fmt: skip
        sql = windows(dialect).compile(query).sql
        sqlglot.parse_one(sql, read=dialect)  # what ktx writes, the dialect reads back
        assert "cal AS __ktx_spine_rows" in sql or "__ktx_edge" in sql


@pytest.mark.parametrize("dialect", DIALECTS)
def test_measures_joined_to_the_time_spine_compile_in_every_dialect(dialect: str) -> None:
    day = {"field": "fct.ds", "granularity": "day"}
    for query in ({"measures": ["fct.rev_daily"], "dimensions": [day], "filters": ["fct.ds >= '2026-01-01'"]},
                  {"measures": ["fct.rev_daily", "fct.rev7"], "dimensions": [day, "fct.kind"]}):  # fmt: skip
        compiled = windows(dialect).compile(query)
        sqlglot.parse_one(compiled.sql, read=dialect)
        assert "__ktx_known" in compiled.sql and compiled.plan["time_spine"] == "cal"


def test_fill_nulls_with_and_the_time_spine_only_where_they_apply() -> None:
    engine = windows("duckdb")
    # Without its time dimension, join_to_timespine has nothing to fill: a plain aggregate, NULL read as 0.
    plain = engine.compile({"measures": ["fct.rev_daily"], "dimensions": ["fct.kind"]}).sql
    assert "__ktx_spine" not in plain and "COALESCE(SUM(fct.amount), 0)" in plain
    assert "COALESCE(SUM(fct.amount), 0)" in engine.compile({"measures": ["fct.rev_or_zero"]}).sql
    with pytest.raises(CompileError, match="whose periods are days: asked by hour"):
        engine.compile({"measures": ["fct.rev_daily"], "dimensions": [{"field": "fct.ds", "granularity": "hour"}]})
    no_spine = windows("duckdb", spine=False)
    with pytest.raises(CompileError, match="needs a time spine"):
        no_spine.compile({"measures": ["fct.rev_daily"], "dimensions": [{"field": "fct.ds", "granularity": "day"}]})


def test_a_window_asked_by_the_bare_time_column_reads_rows_by_their_day() -> None:
    sql = windows("duckdb").compile({"measures": ["fct.rev7"], "dimensions": ["fct.ds"]}).sql
    assert "DATE_TRUNC('DAY', fct.ds) <= __ktx_spine.period" in sql  # not the raw timestamp against a midnight


def test_windows_refuse_what_they_cannot_answer() -> None:
    with pytest.raises(CompileError, match="needs a time spine: mark a calendar source"):
        windows(spine=False).compile(
            {"measures": ["fct.rev7"], "dimensions": [{"field": "fct.ds", "granularity": "day"}]}
        )
    with pytest.raises(CompileError, match="has one row per day: mark a calendar with one row per hour"):
        windows().compile({"measures": ["fct.rev7"], "dimensions": [{"field": "fct.ds", "granularity": "hour"}]})
    # By a coarser grain, a cumulative value is its period's first day's (or last day's, or their average).
    monthly = windows().compile({"measures": ["fct.rev7"], "dimensions": [{"field": "fct.ds", "granularity": "month"}]})
    assert "__ktx_edge" in monthly.sql and "MIN(__ktx_daily.ds_month) OVER" in monthly.sql
    # Asked without its time dimension, a window is answered per day of the spine, and the answer says so ...
    alone = windows().compile({"measures": ["fct.growth"]})
    assert alone.headers == ["ds_day", "growth"] and "Answered per day of fct.ds" in " ".join(alone.warnings)
    # ... except a running total over all time, which without periods is the total of all rows.
    total = windows().compile({"measures": ["fct.rev_all"]})
    assert "aggregates all rows" in " ".join(total.warnings) and "__ktx_spine" not in total.sql
    with pytest.raises(ValueError, match="shift a cumulative window"):
        Window(kind="offset", window="1 day", offset="1 day")
    with pytest.raises(ValueError, match="'offset' or 'offset_to_grain', not both"):
        Window(kind="cumulative", offset="1 day", offset_to_grain="month")
    with pytest.raises(ValueError, match="must be a count and a unit"):
        Source.parse({"name": "x", "table": "x", "grain": ["id"], "columns": [{"name": "id", "type": "number"}],
                      "measures": [{"name": "m", "expr": "sum(id)", "window": {"kind": "cumulative", "window": "a week"}}]})  # fmt: skip


def test_a_formula_across_groups_reads_a_missing_side_as_the_measure_over_no_rows() -> None:
    """A count over no rows is 0, a sum NULL: inside a formula across sources each side says what it would alone."""
    sql = (
        chasm()
        .compile(
            {
                "measures": [{"expr": "count(tickets.id) / orders.total_cost", "name": "x"}],
                "dimensions": ["customers.segment"],
            }
        )
        .sql
    )
    assert "COALESCE(tickets_agg." in sql and "COALESCE(orders_agg." not in sql


@pytest.mark.parametrize("dialect", DIALECTS)
def test_conversion_measures_compile_where_the_dialect_allows_them(dialect: str) -> None:
    engine = SemanticEngine({
        "visits": src("visits", ["id", "user_id", "ds:time"], default_time_dimension={"column": "ds"},
                      measures=[{"name": "visits", "expr": "count(*)"}]),
        "buys": src("buys", ["id", "user_id", "ds:time"], default_time_dimension={"column": "ds"},
                    measures=[{"name": "converted", "expr": "count(*)",
                               "conversion": {"base": "visits", "key": "user_id", "window": "7 days"}},
                              {"name": "rate", "expr": "converted / visits.visits"},
                              {"name": "converted_from_ads", "expr": "count(*)",
                               "conversion": {"base": "visits", "key": "user_id", "base_filter": "id > 100"}},
                              {"name": "bad_filter", "expr": "count(*)",
                               "conversion": {"base": "visits", "key": "user_id", "base_filter": "referrer = 'x'"}}]),
    }, dialect)  # fmt: skip
    if dialect in ("tsql", "clickhouse"):  # no correlated EXISTS inside an aggregate there
        with pytest.raises(CompileError, match="not supported on"):
            engine.compile({"measures": ["buys.rate"]})
        return
    sql = engine.compile({"measures": ["buys.rate"]}).sql
    sqlglot.parse_one(sql, read=dialect)
    assert "EXISTS" in sql and "__ktx_base" in sql
    filtered = engine.compile({"measures": ["buys.converted_from_ads"]}).sql
    sqlglot.parse_one(filtered, read=dialect)
    assert "__ktx_base.id > 100" in filtered.replace('"', "").replace("`", "")
    with pytest.raises(CompileError, match="base_filter column 'referrer' does not exist in 'visits'"):
        engine.compile({"measures": ["buys.bad_filter"]})


def _hourly(*, hourly_spine: bool) -> SemanticEngine:
    at = {"name": "at", "type": "time", "natural_granularity": "hour"}
    sources = {
        "logins": Source.parse({"name": "logins", "table": "public.logins", "grain": ["id"],
                                "columns": [{"name": "id", "type": "number"}, at],
                                "default_time_dimension": {"column": "at"},
                                "measures": [{"name": "n3h", "expr": "count(*)",
                                              "window": {"kind": "cumulative", "window": "3 hours"}},
                                             {"name": "n7d", "expr": "count(*)",
                                              "window": {"kind": "cumulative", "window": "7 days"}}]}),
        "days": src("days", ["ds:time"], grain=["ds"], time_spine={"column": "ds"}),
    }  # fmt: skip
    if hourly_spine:
        sources["hours"] = src("hours", ["ts:time"], grain=["ts"], time_spine={"column": "ts", "granularity": "hour"})
    return SemanticEngine(sources, "duckdb")


def test_a_measure_reads_the_spine_at_its_columns_grain() -> None:
    """An hourly column's windows read the hourly spine; a daily measure beside it keeps the daily one; a window in
    hours on a layer with only a daily spine is refused, saying what to add (an hour earlier than a day is no day:
    it would match nothing)."""
    hour = {"field": "logins.at", "granularity": "hour"}
    hourly = _hourly(hourly_spine=True).compile({"measures": ["logins.n3h"], "dimensions": [hour]})
    assert hourly.plan["time_spine"] == "hours" and "public.hours AS __ktx_spine_rows" in hourly.sql
    assert "> __ktx_spine.period - INTERVAL 3 HOUR" in hourly.sql
    daily = windows("duckdb").compile(
        {"measures": ["fct.rev7"], "dimensions": [{"field": "fct.ds", "granularity": "day"}]}
    )
    assert daily.plan["time_spine"] == "cal"
    with pytest.raises(CompileError, match=r"in hours, and the time spine it reads \(days\) has one row per day"):
        _hourly(hourly_spine=False).compile({"measures": ["logins.n3h"], "dimensions": [hour]})
    # Asked without its time dimension, it is answered per hour of the spine it reads.
    bare = _hourly(hourly_spine=True).compile({"measures": ["logins.n3h"]})
    assert any("Answered per hour of logins.at" in w for w in bare.warnings)


def test_the_coarsest_spine_at_or_below_the_grain_is_chosen() -> None:
    engine = _hourly(hourly_spine=True)
    assert engine.time_spine("hour").name == "hours"  # type: ignore[union-attr]
    assert engine.time_spine("day").name == "days"  # type: ignore[union-attr]
    assert engine.time_spine("month").name == "days"  # type: ignore[union-attr]
    only_hours = SemanticEngine({"hours": engine.sources["hours"]}, "duckdb")
    assert only_hours.time_spine("day").name == "hours"  # type: ignore[union-attr]
    assert engine.base_grain("logins", "at") == "hour" and engine.base_grain("days", "ds") == "day"


def _fiscal(dialect: str = "duckdb") -> SemanticEngine:
    engine = windows(dialect)
    sources = dict(engine.sources)
    sources["cal"] = src(
        "cal", ["ds:time", "fq:string"], grain=["ds"],
        time_spine={"column": "ds", "custom_granularities": [{"name": "fiscal_quarter", "column": "fq"}]},
    )  # fmt: skip
    return SemanticEngine(sources, dialect)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_custom_granularity_reads_the_calendars_column(dialect: str) -> None:
    """`fct.ds:fiscal_quarter`: each row's period from the time spine's own column (a LEFT JOIN on the row's day,
    one spine row per day, so no row is repeated or lost), in every dialect."""
    compiled = _fiscal(dialect).compile(
        {"measures": ["fct.rev"], "dimensions": [{"field": "fct.ds", "granularity": "fiscal_quarter"}]}
    )
    sqlglot.parse_one(compiled.sql, read=dialect)
    assert "LEFT JOIN public.cal AS __ktx_calendar_0" in compiled.sql
    assert compiled.columns[0]["name"] == "ds_fiscal_quarter"


def test_a_custom_granularity_is_checked_against_the_layer() -> None:
    with pytest.raises(CompileError, match=r"Use one of: second, .*, year, or a custom granularity of the time spine: "
                       r"fiscal_quarter\."):  # fmt: skip
        _fiscal().compile({"measures": ["fct.rev"], "dimensions": [{"field": "fct.ds", "granularity": "fiscal_week"}]})
    with pytest.raises(CompileError, match=r"by a custom granularity \(fiscal_quarter\) it is not answered yet"):
        _fiscal().compile(
            {"measures": ["fct.rev7"], "dimensions": [{"field": "fct.ds", "granularity": "fiscal_quarter"}]}
        )
    with pytest.raises(ValueError, match="must be an identifier other than second, minute, hour"):
        src("c2", ["ds:time"], grain=["ds"], time_spine={"column": "ds", "custom_granularities": [{"name": "month"}]})


def _timed(dialect: str = "duckdb") -> SemanticEngine:
    return SemanticEngine({
        "orders": src("orders", ["id", "amount", "ordered_at:time", "paid_at:time"],
                      default_time_dimension={"column": "ordered_at"},
                      measures=[{"name": "revenue", "expr": "sum(amount)"},
                                {"name": "payments", "expr": "sum(amount)", "time_dimension": "paid_at"},
                                {"name": "per_visit", "expr": "revenue / visits.visit_count"}]),
        "visits": src("visits", ["id", "user_id", "seen_on:time"], default_time_dimension={"column": "seen_on"},
                      measures=[{"name": "visit_count", "expr": "count(*)"}]),
        "buys": src("buys", ["id", "user_id", "bought_on:time"], default_time_dimension={"column": "bought_on"},
                    measures=[{"name": "converted", "expr": "count(*)",
                               "conversion": {"base": "visits", "key": "user_id", "window": "7 days"}}]),
        "notes": src("notes", ["id", "text:string"], measures=[{"name": "note_count", "expr": "count(*)"}]),
    }, dialect)  # fmt: skip


@pytest.mark.parametrize("dialect", DIALECTS)
def test_metric_time_is_each_measures_own_time_column(dialect: str) -> None:
    """A formula across sources by `metric_time`: each source grouped by its own time column at the grain, the
    groups joined on it (MetricFlow's metric_time) — where a named time column of one source is refused, since
    the other cannot reach it."""
    month = {"field": "metric_time", "granularity": "month"}
    compiled = _timed(dialect).compile({"measures": ["orders.per_visit"], "dimensions": [month]})
    sqlglot.parse_one(compiled.sql, read=dialect)
    assert [c["name"] for c in compiled.columns] == ["metric_time_month", "per_visit"]
    sql = compiled.sql.replace('"', "").replace("`", "").lower()
    assert "orders.ordered_at" in sql and "visits.seen_on" in sql
    with pytest.raises(CompileError, match="cannot reach"):
        _timed(dialect).compile({"measures": ["orders.per_visit"], "dimensions": [{"field": "orders.ordered_at",
                                                                                     "granularity": "month"}]})  # fmt: skip


def test_metric_time_splits_a_source_placed_in_time_twice() -> None:
    """revenue by ordered_at and payments by paid_at are two numbers per month: two groups of one source."""
    month = {"field": "metric_time", "granularity": "month"}
    compiled = _timed().compile({"measures": ["orders.revenue", "orders.payments"], "dimensions": [month]})
    assert "DATE_TRUNC('MONTH', orders.ordered_at)" in compiled.sql
    assert "DATE_TRUNC('MONTH', orders.paid_at)" in compiled.sql
    single = _timed().compile({"measures": ["orders.revenue"], "dimensions": [month]})
    assert "ordered_at" in single.sql and "paid_at" not in single.sql


def test_metric_time_refuses_what_it_cannot_place() -> None:
    month = {"field": "metric_time", "granularity": "month"}
    with pytest.raises(CompileError, match="'note_count' has no time dimension"):
        _timed().compile({"measures": ["notes.note_count"], "dimensions": [month]})
    with pytest.raises(CompileError, match="ask it with a measure"):
        _timed().compile({"dimensions": [month]})


def test_metric_time_places_a_conversion_at_its_base_events_time() -> None:
    """By metric_time a conversion counts at the time of the latest base event it matched (MetricFlow's
    attribution), a column its rows get from a correlated sub-query; rows no base event precedes are no
    conversions and make no group."""
    month = {"field": "metric_time", "granularity": "month"}
    sql = _timed().compile({"measures": ["buys.converted", "visits.visit_count"], "dimensions": [month]}).sql
    assert "MAX(__ktx_base.seen_on)" in sql and "AS __ktx_converted_converted" in sql
    assert "DATE_TRUNC('MONTH', buys.__ktx_converted_converted) AS metric_time_month" in sql
    assert "WHERE NOT ( SELECT MAX(__ktx_base.seen_on)" in " ".join(sql.split())
