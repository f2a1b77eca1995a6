"""Query-history staging rules, in process: analysis of clauses and joins, filters, redaction, buckets."""

from __future__ import annotations

from ktx.history.analyze import analyze
from ktx.history.jobs import group_jobs, normalize
from ktx.history.postgres import Template
from ktx.history.stage import Redactor, bucket_executions, bucket_users, stage
from ktx.project.config.connections import QueryHistoryConfig

CATALOG = {"public.orders": {"id", "customer_id", "status", "amount"}, "public.customers": {"id", "region"}}


def test_analysis_places_unqualified_columns_and_finds_joins() -> None:
    a = analyze(
        "SELECT region, sum(amount) FROM orders JOIN customers c ON orders.customer_id = c.id "
        "WHERE status = $1 GROUP BY region ORDER BY 2",
        "postgres",
        CATALOG,
        "public",
    )
    assert a.tables == ["public.orders", "public.customers"]
    assert a.columns["public.orders"]["where"] == {"status"}
    assert a.columns["public.customers"]["group_by"] == {"region"}
    assert a.joins == {("public.customers", "id", "public.orders", "customer_id")}
    assert analyze("SELECT * FROM a, b WHERE a.x = b.y", "postgres").joins == {("a", "x", "b", "y")}


def test_filters_redaction_and_parse_failures() -> None:
    config = QueryHistoryConfig(
        enabled=True, filters={"serviceAccounts": {"patterns": ["^etl_"]}}, redactionPatterns=["(?i)acct-\\d+"]
    )
    templates = [
        Template("1", "SELECT count(*) FROM orders /* from bob@corp.example, ACCT-991 */", 20, {"ana": 20}),
        Template("2", "SELECT * FROM orders WHERE status = $1", 50, {"etl_loader": 50}),
        Template("3", "SET search_path = public", 9, {"ana": 9}),
        Template("4", "SELECT $1", 99, {"ana": 99}),
        Template("5", "SELECT ((( broken", 7, {"ana": 7}),
        Template("6", "SELECT * FROM pg_catalog.pg_class", 7, {"ana": 7}),
        Template("7", "SELECT * FROM elsewhere.t", 7, {"ana": 7}),
        Template("8", "SELECT 1 FROM orders WHERE password = 'x' /* token: 'abc123' */", 7, {"bo": 7}),
    ]
    staged = stage(templates, config, dialect="postgres", catalog=CATALOG, default_schema="public")
    assert dict(staged.dropped) == {
        "service_account": 1,
        "noise": 1,
        "trivial_probe": 1,
        "system_tables": 1,
        "out_of_scope": 1,
    }
    assert staged.parse_failures == 1 and any(w.startswith("parse_failed:5:") for w in staged.warnings)
    kept = {t.id: t.sql for t in staged.templates}
    assert set(kept) == {"1", "8"}
    assert "bob@corp.example" not in kept["1"] and "ACCT-991" not in kept["1"] and "[REDACTED]" in kept["1"]
    assert "'x'" not in kept["8"] and "abc123" not in kept["8"]
    assert Redactor([])("password = 'hunter2'") == "password = '[REDACTED]'"
    assert staged.tables["public.orders"].executions == 27


def test_buckets_and_raw_statement_grouping() -> None:
    assert [bucket_executions(n) for n in (3, 10, 999, 4999, 6000, 60000)] == [
        "<10", "10-100", "100-1k", "1k-5k", "5k-50k", ">50k"
    ]  # fmt: skip
    assert [bucket_users(n) for n in (0, 1, 4, 7, 11)] == ["0", "1", "2-5", "5-10", ">10"]
    assert normalize("SELECT * FROM t WHERE a = 'x' AND b = 3", "bigquery") == normalize(
        "SELECT * FROM t WHERE a = 'y' AND b = 4", "bigquery"
    )
    jobs = [("SELECT * FROM t WHERE id = 1", "a", False, 10.0, "2026-01-01")] * 3
    jobs += [("SELECT * FROM t WHERE id = 2", "b", True, 30.0, "2026-01-02")]
    [template] = group_jobs(jobs, "bigquery", 2)
    assert template.executions == 4 and template.errors == 1 and template.users == {"a": 3, "b": 1}
    assert "1" not in template.sql and template.last_seen == "2026-01-02"


def test_pattern_pages_of_earlier_runs_go_stale_then_archived() -> None:
    from ktx.history.stage import Staged
    from ktx.history.usage import pattern_pages
    from ktx.wiki.page import parse_page_text

    old = {"source": "historic-sql", "summary": "Old pattern", "tags": ["historic-sql", "pattern"]}
    fresh = pattern_pages(Staged(), {}, "wh", {"historic-sql-a-b": (old, "body")}, "2026-12-01T00:00:00+00:00", 90)
    stale, _ = parse_page_text(fresh["wiki/global/historic-sql-a-b.md"])
    assert stale["tags"] == ["historic-sql", "pattern", "stale"] and stale["stale_since"] == "2026-12-01T00:00:00+00:00"
    later = pattern_pages(Staged(), {}, "wh", {"historic-sql-a-b": (stale, "body")}, "2027-04-01T00:00:00+00:00", 90)
    archived, _ = parse_page_text(later["wiki/global/historic-sql-a-b.md"])
    assert "archived" in archived["tags"] and archived["archived_since"] == "2027-04-01T00:00:00+00:00"
    # A page a person wrote (not generated from history) is never touched.
    mine = {"summary": "Mine", "tags": ["finance"]}
    assert pattern_pages(Staged(), {}, "wh", {"historic-sql-mine": (mine, "x")}, "2027-04-01T00:00:00+00:00", 90) == {}
