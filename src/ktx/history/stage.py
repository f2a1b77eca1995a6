"""Staging query history, deterministically: drop noise, redact, analyze each template's SQL, keep what touches
the scanned scope, and accumulate per-table statistics (executions, users, clauses, observed joins) in buckets.

Redaction runs on the SQL before it is analyzed, stored or shown anywhere, so no later step can leak it."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ktx.history.analyze import analyze
from ktx.history.postgres import Template

REDACTED = "[REDACTED]"
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# `password = '…'`, `api_key => '…'`, `token: "…"`: the quoted value goes, the name stays.
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)\b(password|passwd|pwd|secret|api[_-]?key|token|access[_-]?key)\b(\s*(?:=|=>|:)\s*)('[^']*'|\"[^\"]*\")"
)
_NOISE = re.compile(r"(?is)^\s*(show|describe|desc|explain|use|set|reset|begin|commit|rollback|start|end|vacuum"
                    r"|analyze|checkpoint|discard|deallocate|prepare|execute|listen|notify|copy|fetch|close)\b")  # fmt: skip
_TRIVIAL = re.compile(
    r"(?is)^\s*select\s+(\$\d+|\d+|now\(\)|current_timestamp|version\(\)|current_user|current_database\(\))"
    r"(\s*(,|as)\s*\S+)*\s*;?\s*$"
)
_SYSTEM = re.compile(r"(?i)^(pg_catalog\.|information_schema\.|pg_|snowflake\.account_usage|system\.)")
# ktx's own scan and profile statements (and the wrapper `ktx sql` puts around queries).
_KTX_PROBES = re.compile(r"(?i)ktx_sample|ktx_query_result|ktx_probe|pg_stat_statements")


# Comments and string literals: where a secret is written as text (`/* password=hunter2 */`, `'token: abc'`).
_TEXT_SPANS = re.compile(r"/\*.*?(?:\*/|$)|--[^\n]*|'(?:[^']|'')*'?", re.S)
_BARE_SECRET = re.compile(
    r"(?i)\b(password|passwd|pwd|secret|api[_-]?key|token|access[_-]?key|bearer)\b"
    r"(\s*(?:=>|=|:)\s*|(?<=bearer)\s+)([^\s'\",;*/)>=][^\s'\",;*/)]*)"
)


def _redact_text_span(match: re.Match[str]) -> str:
    span = match.group()
    quote = span.startswith("'")
    body = span[1:-1] if quote and len(span) > 1 and span.endswith("'") else span
    body = _BARE_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", body)
    return f"'{body}'" if quote and span.endswith("'") and len(span) > 1 else body


class Redactor:
    def __init__(self, patterns: list[str]) -> None:
        self.patterns = [re.compile(p[4:], re.I) if p.startswith("(?i)") else re.compile(p) for p in patterns]

    def __call__(self, text: str) -> str:
        text = _SECRET_ASSIGNMENT.sub(lambda m: f"{m.group(1)}{m.group(2)}'{REDACTED}'", text)
        # Inside comments and literals a secret needs no quotes: `password=hunter2`, `Bearer abc`.
        text = _TEXT_SPANS.sub(_redact_text_span, text)
        text = _EMAIL.sub(REDACTED, text)
        for pattern in self.patterns:
            text = pattern.sub(REDACTED, text)
        return text


def bucket_executions(n: int) -> str:
    for limit, label in ((10, "<10"), (100, "10-100"), (1000, "100-1k"), (5000, "1k-5k"), (50000, "5k-50k")):
        if n < limit:
            return label
    return ">50k"


def bucket_users(n: int) -> str:
    if n <= 0:
        return "0"
    if n == 1:
        return "1"
    return "2-5" if n <= 5 else ("5-10" if n <= 10 else ">10")


def bucket_p95(ms: float | None) -> str:
    if ms is None:
        return "unknown"
    return "<100ms" if ms < 100 else ("100ms-1s" if ms < 1000 else ("1s-10s" if ms < 10_000 else ">10s"))


def frequency_tier(executions: int) -> str:
    return "high" if executions >= 1000 else ("mid" if executions >= 10 else "low")


@dataclass
class StagedTemplate:
    id: str
    sql: str  # redacted
    executions: int
    users: dict[str, int]
    tables: list[str]
    joins: list[tuple[str, str, str, str]]
    mean_ms: float | None
    service_account: bool = False


@dataclass
class TableUsage:
    table: str
    executions: int = 0
    users: set[str] = field(default_factory=set)
    p95_ms: float | None = None
    columns: dict[str, Counter[str]] = field(default_factory=dict)
    joins: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (other table, own column, other column)
    templates: list[StagedTemplate] = field(default_factory=list)

    def stats(self) -> dict[str, str]:
        return {
            "executionsBucket": bucket_executions(self.executions),
            "distinctUsersBucket": bucket_users(len(self.users)),
            "p95RuntimeBucket": bucket_p95(self.p95_ms),
        }

    def frequent(self, clause: str, share: float = 0.1, top: int = 5) -> list[str]:
        counts = self.columns.get(clause, Counter())
        return [c for c, n in counts.most_common() if self.executions and n / self.executions >= share][:top]

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "stats": self.stats(),
            "columnsByClause": {k: [[c, n] for c, n in v.most_common()] for k, v in sorted(self.columns.items())},
            "observedJoins": [
                {"withTable": other, "on": [f"{own} = {other}.{col}"], "executions": n}
                for (other, own, col), n in self.joins.most_common()
            ],
            "topTemplates": [
                {"id": t.id, "canonicalSql": t.sql, "executions": t.executions, "topUsers": _top_users(t.users)}
                for t in sorted(self.templates, key=lambda t: -t.executions)[:5]
            ],
        }


def _top_users(users: dict[str, int]) -> list[dict[str, Any]]:
    return [{"user": u, "executions": n} for u, n in sorted(users.items(), key=lambda x: (-x[1], x[0]))[:5]]


@dataclass
class Staged:
    templates: list[StagedTemplate] = field(default_factory=list)
    tables: dict[str, TableUsage] = field(default_factory=dict)
    dropped: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    parse_failures: int = 0
    parse_failure_sample: dict[str, str] | None = None  # the first template that could not be parsed (redacted)


def _matches(patterns: list[re.Pattern[str]], user: str) -> bool:
    return any(p.search(user) for p in patterns)


def stage(
    templates: list[Template],
    config: Any,
    *,
    dialect: str,
    catalog: dict[str, set[str]],
    default_schema: str | None,
) -> Staged:
    """`catalog`: the scanned tables ("schema.table" → columns), the scope floor; empty means no floor."""
    out = Staged()
    redact = Redactor(list(config.redactionPatterns))
    filters = config.filters
    service = [re.compile(p) for p in filters.serviceAccounts.patterns]
    mode = filters.serviceAccounts.mode
    if not catalog:
        out.warnings.append("query_history_scope_floor_disabled:*: no scan of this connection yet; every table counts")
    for template in templates:
        sql = redact(template.sql)
        if _NOISE.match(sql):
            out.dropped["noise"] += 1
            continue
        if filters.dropTrivialProbes and _TRIVIAL.match(sql):
            out.dropped["trivial_probe"] += 1
            continue
        if _KTX_PROBES.search(sql):
            out.dropped["ktx_probe"] += 1
            continue
        users = dict(template.users)
        by_service = sum(n for u, n in users.items() if _matches(service, u))
        is_service = bool(service) and by_service == template.executions and template.executions > 0
        if mode == "exclude" and is_service:
            out.dropped["service_account"] += 1
            continue
        if mode == "include" and service and not is_service:
            out.dropped["not_service_account"] += 1
            continue
        failing = filters.dropFailedBelow
        if (
            failing is not None
            and template.executions
            and template.errors / template.executions >= failing.errorRate
            and template.executions < failing.executions
        ):
            out.dropped["mostly_failing"] += 1
            continue
        analysis = analyze(sql, dialect, catalog, default_schema)
        if analysis.error:
            out.parse_failures += 1
            out.warnings.append(f"parse_failed:{template.id}: {analysis.error}")
            if out.parse_failure_sample is None:
                out.parse_failure_sample = {"template": template.id, "error": analysis.error, "sql": sql[:500]}
            continue
        tables = [t for t in analysis.tables if not _SYSTEM.match(t)]
        if not tables:
            out.dropped["system_tables"] += 1
            continue
        in_scope = [t for t in tables if not catalog or t in catalog]
        if not in_scope:
            out.dropped["out_of_scope"] += 1
            continue
        staged = StagedTemplate(
            template.id,
            sql,
            template.executions,
            users,
            in_scope,
            sorted(j for j in analysis.joins if j[0] in in_scope and j[2] in in_scope),
            template.mean_ms,
            service_account=is_service,
        )
        out.templates.append(staged)
        for table in in_scope:
            usage = out.tables.setdefault(table, TableUsage(table))
            usage.executions += template.executions
            usage.users |= set(users)
            if template.mean_ms is not None:
                usage.p95_ms = max(usage.p95_ms or 0.0, template.mean_ms)
            for clause, columns in analysis.columns.get(table, {}).items():
                counter = usage.columns.setdefault(clause, Counter())
                for column in columns:
                    counter[column] += template.executions
            usage.templates.append(staged)
        for a, ca, b, cb in staged.joins:
            out.tables[a].joins[(b, ca, cb)] += template.executions
            out.tables[b].joins[(a, cb, ca)] += template.executions
    return out
