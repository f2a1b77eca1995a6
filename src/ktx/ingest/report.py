"""What an ingest tells its user: warnings with codes, per-target results, progress hooks, and plain rendering."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class IngestWarning:
    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}

    @classmethod
    def parse(cls, text: str) -> IngestWarning:
        """`code:subject: message` (the form the scan modules use) → code and the rest."""
        code, _, rest = text.partition(":")
        if not rest or " " in code:
            return cls("scan_warning", text)
        return cls(code, rest.strip())


@dataclass
class TargetResult:
    connection_id: str
    driver: str
    operation: str  # database-ingest | source-ingest
    status: str  # done | unchanged | failed | skipped
    run_id: str | None = None
    message: str | None = None
    report: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "connectionId": self.connection_id,
            "driver": self.driver,
            "operation": self.operation,
            "status": self.status,
            "durationMs": round(self.duration_ms, 1),
        }
        if self.run_id:
            out["runId"] = self.run_id
        if self.message:
            out["message"] = self.message
        if self.report:
            out["report"] = self.report
        return out


class Progress(Protocol):
    def stage(self, label: str, total: int | None = None) -> None: ...

    def advance(self, amount: int = 1) -> None: ...


class NoProgress:
    def stage(self, label: str, total: int | None = None) -> None:
        return None

    def advance(self, amount: int = 1) -> None:
        return None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


LIST_LIMIT = 30


def _link_line(link: dict[str, Any]) -> str:
    """`customers(region_id) → regions(id) · score 0.95 · coverage 100%, target unique · name match`."""
    parts = [f"{link['from']} → {link['to']}"]
    if isinstance(link.get("score"), int | float):
        parts.append(f"score {link['score']:.2f}")
    checks = []
    if isinstance(link.get("coverage"), int | float):
        checks.append(f"coverage {link['coverage']:.0%}")
    if isinstance(link.get("targetUniqueness"), int | float):
        unique = link["targetUniqueness"]
        checks.append("target unique" if unique >= 1 else f"target {unique:.1%} unique")
    if link.get("validated") is None:
        checks.append("not validated")
    if checks:
        parts.append(", ".join(checks))
    why = [str(r).replace("_", " ") for r in link.get("reasons") or []] or [str(link.get("source") or "")]
    parts.append(", ".join(w for w in why if w))
    return " · ".join(p for p in parts if p)


# What a context source's report counts, in the order it is said.
SOURCE_COUNTS = (("models", "model"), ("sources", "dbt source"), ("semanticModels", "semantic model"),
                 ("metrics", "metric"), ("views", "view"), ("explores", "explore"), ("looks", "Look"),
                 ("databases", "database"), ("cards", "question"), ("collections", "collection"),
                 ("dashboards", "dashboard"), ("measures", "measure"), ("segments", "segment"), ("pages", "page"),
                 ("fetched", "page read"), ("reused", "page unchanged"), ("evicted", "page removed"),
                 ("matched", "matched"), ("apiCalls", "API call"))  # fmt: skip


def _source_lines(report: dict[str, Any]) -> list[str]:
    """A context source's run: what it read and projected, what it could not, and its work units."""
    targets = report.get("targetConnectionIds") or [report.get("targetConnectionId")]
    counts = [
        f"{report[key]} {word}" if word == "matched" else _plural(int(report[key]), word)
        for key, word in SOURCE_COUNTS
        if isinstance(report.get(key), int) and not isinstance(report.get(key), bool)
    ]
    onto = ", ".join(str(t) for t in targets if t and t != "-")
    lines = [f"  {report.get('adapter')}" + (f" → {onto}" if onto else "") + ": " + ", ".join(counts)]
    if report.get("unchanged"):
        lines.append("  No changes since the last run: nothing rewritten, no commit.")
    if report.get("complete") is False:
        lines.append("  Stopped at max_pages_per_run: the next run goes on.")
    unmapped = report.get("unmapped") or []
    if unmapped:
        lines.append(f"  Not projected: {len(unmapped)}")
        for item in unmapped[:LIST_LIMIT]:
            name = next((str(item[k]) for k in item if k not in ("reason", "name", "type")), "?")
            label = f"{item['name']} ({name})" if item.get("name") and str(item.get("name")) != name else name
            lines.append(f"    {label}: {item.get('reason')}")
        if len(unmapped) > LIST_LIMIT:
            lines.append(f"    … {len(unmapped) - LIST_LIMIT} more (ktx ingest --report {report.get('runId')} --json)")
    units = report.get("workUnits") or []
    if units:
        failed = sum(1 for u in units if u.get("status") == "failed")
        lines.append(f"  Work units: {len(units) - failed} done" + (f", {failed} failed" if failed else ""))
    elif report.get("llm"):
        lines.append(f"  LLM: {report['llm']}")
    return lines


def report_lines(report: dict[str, Any]) -> list[str]:
    """A stored scan report as the plain lines `ktx ingest` and `ktx ingest --report` print."""
    lines = [
        f"Run {report.get('runId')} · {report.get('connectionId')} ({report.get('driver')}) · {report.get('status')}"
    ]
    if report.get("failure"):
        lines.append(f"  Failed: {report['failure']}")
        return lines
    diff = report.get("diffSummary") or {}
    if report.get("targetConnectionId"):  # a context source: what it read and projected, not a table diff
        lines += _source_lines(report)
    elif report.get("unchanged"):
        lines.append(f"  No changes since run {report.get('previousRunId')}: nothing rewritten, no commit.")
    else:
        lines.append(
            "  Tables: {a} added, {m} changed, {d} removed, {u} unchanged".format(
                a=diff.get("tablesAdded", 0),
                m=diff.get("tablesModified", 0),
                d=diff.get("tablesDeleted", 0),
                u=diff.get("tablesUnchanged", 0),
            )
        )
    rel = report.get("relationships") or {}
    if rel:
        lines.append(
            f"  Relationships: {rel.get('accepted', 0)} accepted, {rel.get('review', 0)} to review, "
            f"{rel.get('rejected', 0)} rejected, {rel.get('skipped', 0)} skipped"
        )
    details = report.get("relationshipDetails") or {}
    for status, title in (("accepted", "Accepted links"), ("review", "Links to review")):
        links = details.get(status) or []
        if links:
            lines.append(f"  {title}:")
            lines += [f"    {_link_line(link)}" for link in links[:LIST_LIMIT]]
            if len(links) > LIST_LIMIT:
                lines.append(f"    … {len(links) - LIST_LIMIT} more (ktx ingest --report {report.get('runId')} --json)")
    keys = report.get("primaryKeys") or {}
    if keys:
        lines.append(f"  Primary keys: {keys.get('declared', 0)} declared, {keys.get('inferred', 0)} inferred")
    inferred = report.get("inferredKeys") or []
    for key in inferred[:LIST_LIMIT]:
        score = f" · score {key['score']:.2f}" if isinstance(key.get("score"), int | float) else ""
        lines.append(f"    {key['table']}({', '.join(key['columns'])}) · {key['source']}{score}")
    if len(inferred) > LIST_LIMIT:
        lines.append(f"    … {len(inferred) - LIST_LIMIT} more (ktx ingest --report {report.get('runId')} --json)")
    enrichment = report.get("enrichment") or {}
    if enrichment:
        lines.append("  Enrichment: " + ", ".join(f"{k} {v}" for k, v in enrichment.items()))
    history = report.get("queryHistory")
    if history:
        if history.get("status") == "failed":
            lines.append(f"  Query history: failed: {history.get('message')}")
            if history.get("hint"):
                lines.append(f"    {history['hint']}")
        else:
            pages = history.get("patternPages") or []
            lines.append(
                f"  Query history: {history.get('kept', 0)} of {history.get('templates', 0)} templates kept, "
                f"usage on {history.get('tablesWithUsage', 0)} tables, {history.get('joinsAcceptedFromHistory', 0)} "
                f"joins confirmed from history, {_plural(len(pages), 'pattern page')}"
            )
    state = report.get("enrichmentState") or {}
    if state.get("resumed"):
        lines.append(f"  Resumed from an interrupted run: {', '.join(state['resumed'])}")
    warnings = report.get("warnings") or []
    if warnings:
        lines.append(f"  {_plural(len(warnings), 'warning')}:")
        for warning in warnings[:20]:
            lines.append(f"    [{warning['code']}] {warning['message']}")
        if len(warnings) > 20:
            lines.append(f"    … {len(warnings) - 20} more (ktx ingest --report {report.get('runId')} --json)")
    paths = report.get("artifactPaths") or {}
    if paths.get("manifestShards"):
        lines.append(f"  Files: {', '.join(paths['manifestShards'])}")
    if report.get("commit"):
        lines.append(f"  Commit: {report['commit'][:12]}")
    if report.get("tracePath"):
        lines.append(f"  Trace: {report['tracePath']}")
    return lines
