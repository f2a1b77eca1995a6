"""Semantic-layer capabilities for the CLI and MCP: load a connection's model, compile and run a
semantic query through the read-only connector, and validate one source (statically and live)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from ktx.errors import KtxError
from ktx.semantic import sqlexpr
from ktx.semantic.compiler import CompiledQuery, SemanticEngine
from ktx.semantic.layer import build_engine, dialect_for, existing_layer_dir
from ktx.semantic.loader import LoadedLayer, SemanticLayerError
from ktx.semantic.query import SemanticQuery
from ktx.semantic.summaries import SourceSummary
from ktx.semantic.validate import Finding, ValidationReport, validate_model

if TYPE_CHECKING:
    from ktx.services import Services

COMPILE_ONLY_REASON = "Compiled only; the SQL was not run on the connection."
GRAIN_SAMPLE_ROWS = 100_000


def compile_query(
    root: Path, connection_id: str, driver: str | None, query: Any, *, ambiguous_paths: str = "refuse"
) -> SemanticQueryResult:
    """Compile a semantic query for a connection's dialect without touching the warehouse."""
    engine, _ = build_engine(root, connection_id, driver, ambiguous_paths=ambiguous_paths)
    return SemanticQueryResult(connection_id, engine.compile(SemanticQuery.parse(query)))


@dataclass
class SemanticQueryResult:
    """A compiled (and, when executed, run) semantic query; `to_json()` is what both faces print."""

    connection_id: str
    compiled: CompiledQuery
    execution: dict[str, Any] | None = None  # None: compiled only
    headers: list[str] | None = None
    rows: list[list[Any]] = field(default_factory=list)

    @property
    def executed(self) -> bool:
        return self.execution is not None

    @property
    def warnings(self) -> list[str]:
        return list(self.compiled.warnings)

    @property
    def sql(self) -> str:
        return self.compiled.sql

    def to_json(self) -> dict[str, Any]:
        plan = dict(self.compiled.plan)
        plan["execution"] = self.execution or {"mode": "compile_only", "reason": COMPILE_ONLY_REASON}
        return {
            "connectionId": self.connection_id,
            "dialect": self.compiled.dialect,
            "sql": self.compiled.sql,
            "headers": self.headers if self.headers is not None else self.compiled.headers,
            # Compiled only: no rows were fetched, so there is no row count to report (not an empty result).
            "executed": self.executed,
            "rows": self.rows if self.executed else None,
            "totalRows": len(self.rows) if self.executed else None,
            "columns": self.compiled.columns,
            "warnings": self.compiled.warnings,
            "plan": plan,
        }


def run_query(
    services: Services, connection_id: str, query: Any, *, execute: bool, max_rows: int | None = None
) -> SemanticQueryResult:
    """Compile (and with `execute`, run read-only) a semantic query on one configured connection."""
    from ktx.warehouse.connections import connection_config
    from ktx.warehouse.readonly import MAX_ROWS_LIMIT, validate_max_rows
    from ktx.warehouse.values import json_value

    conn = connection_config(services.project, connection_id)
    result = SemanticQueryResult(connection_id, services.semantic(connection_id).compile(SemanticQuery.parse(query)))
    if not execute:
        return result
    # Without an explicit row count, fetch what the query's LIMIT asks for, within the read-only cap.
    limit = max_rows if max_rows is not None else min(max(result.compiled.plan["limit"], 1), MAX_ROWS_LIMIT)
    validate_max_rows(limit)
    rows_result = services.connector(connection_id).query(result.sql, max_rows=limit)
    result.rows = [[json_value(v) for v in row] for row in rows_result.rows]
    result.headers = list(rows_result.headers)
    result.execution = {
        "mode": "executed",
        "driver": conn.driver,
        "maxRows": limit,
        "rowCount": len(result.rows),
        "truncated": rows_result.truncated,
        "truncatedReason": rows_result.truncated_reason,
        "durationMs": round(rows_result.duration_ms, 1),
    }
    return result


@dataclass
class SourceCheck:
    connection_id: str
    name: str
    report: ValidationReport
    checks: dict[str, str] = field(default_factory=dict)  # check → ok | skipped: reason | failed

    def to_json(self) -> dict[str, Any]:
        return {
            "connectionId": self.connection_id,
            "source": self.name,
            "valid": self.report.valid,
            "errors": [f.message for f in self.report.errors],
            "warnings": [f.message for f in self.report.warnings],
            "checks": self.checks,
        }


class AmbiguousSource(KtxError):
    """A source name exists in several connections; each face says how to pick one."""

    def __init__(self, message: str, connection_ids: list[str]) -> None:
        super().__init__(message)
        self.connection_ids = connection_ids


def find_source(root: Path, name: str, connection_id: str | None) -> SourceSummary:
    """The one source named `name` (in `connection_id` when given); ambiguity across connections is an error."""
    from ktx.semantic.summaries import all_sources

    matches = [s for s in all_sources(root) if s.name == name and connection_id in (None, s.connection_id)]
    if not matches:
        raise KtxError(f'Semantic-layer source "{connection_id + "/" if connection_id else ""}{name}" was not found')
    if len(matches) > 1:
        ids = ", ".join(sorted(m.connection_id for m in matches))
        raise AmbiguousSource(
            f"Source '{name}' exists in multiple connections: {ids}.", [m.connection_id for m in matches]
        )
    return matches[0]


def validate_source(
    services: Services, name: str, connection_id: str | None = None, *, live: bool = True
) -> SourceCheck:
    """Static checks of the model around one source, then (when the connection is a reachable warehouse)
    that its table, columns, join keys and grain exist, and that the grain is unique on a sample."""
    project = services.project
    connection_id = find_source(project.root, name, connection_id).connection_id
    conn = project.config.connections.get(connection_id)
    driver = conn.driver if conn is not None else None
    check = SourceCheck(connection_id, name, ValidationReport())
    try:
        engine, layer = build_engine(project.root, connection_id, driver)
    except SemanticLayerError as exc:
        check.report.errors.append(Finding(name, str(exc)))
        return check
    if name not in engine.sources:
        check.report.errors.append(Finding(name, f"Source '{name}' did not load (see warnings)"))
        check.report.warnings += [Finding(None, w) for w in layer.warnings]
        return check
    check.report = validate_model(engine).for_source(name)
    check.report.warnings += [Finding(None, w) for w in layer.warnings if f"'{name}'" in w]
    # Joins between the same two sources that lost to a higher-precedence one: listed, never silently ignored.
    check.report.warnings += [Finding(name, d) for d in engine.graph.dropped if f"'{name}:" in d or f" {name}" in d]
    check.checks["model"] = "ok" if check.report.valid else "failed"
    _manifest_checks(check, engine, layer)
    if not live:
        check.checks["live"] = "skipped: offline"
    elif conn is None:
        check.checks["live"] = f"skipped: connection '{connection_id}' is not configured in ktx.yaml"
    else:
        _live_checks(services, check, engine)
    return check


def _manifest_checks(check: SourceCheck, engine: SemanticEngine, layer: LoadedLayer) -> None:
    """A standalone table source checked against the scanned manifest entry for the same table."""
    source = engine.sources[check.name]
    origin = layer.origins.get(check.name, "")
    if not source.table or "_schema" in Path(origin).parts:
        check.checks["catalog"] = "skipped: no scanned table to compare with"
        return
    target = source.table.replace('"', "").replace("`", "").lower()
    manifest = next(
        (
            s
            for s in engine.sources.values()
            if s.name != source.name
            and s.table
            and (target.endswith(s.table.lower()) or s.table.lower().endswith("." + target))
        ),
        None,
    )
    if manifest is None:
        check.checks["catalog"] = "skipped: no scanned table to compare with"
        return
    physical = {c.name for c in manifest.columns if not c.expr}
    declared = [c.name for c in source.columns if not c.expr and c.name not in physical]
    if declared:
        check.report.errors.append(
            Finding(
                source.name,
                (
                    f'{source.name}: table "{source.table}" matched manifest {manifest.name}, but declared '
                    f"column(s) absent from physical table: {', '.join(declared)}. Available columns: "
                    f"{', '.join(sorted(physical))}"
                ),
            )
        )
    check.checks["catalog"] = "failed" if declared else "ok"


def _live_checks(services: Services, check: SourceCheck, engine: SemanticEngine) -> None:
    source = engine.sources[check.name]
    dialect = engine.dialect
    base = (
        exp.to_table(source.table, dialect=dialect)
        if source.table
        else exp.paren(
            sqlexpr.parse(source.sql or "", dialect, what=f"SQL of source '{source.name}'", query=True), copy=False
        ).as_("_base")
    )
    try:
        connector = services.connector(check.connection_id)
    except KtxError as exc:
        check.checks["live"] = f"skipped: {exc}"
        return
    try:
        probe = connector.query(exp.select("*").from_(base.copy()).limit(1).sql(dialect=dialect), max_rows=1)
    except KtxError as exc:
        check.report.errors.append(
            Finding(source.name, f"{source.name}: cannot read {source.table or 'its SQL'}: {exc}")
        )
        check.checks["live"] = "failed"
        return
    headers = {h.lower() for h in probe.headers}
    missing = [c.name for c in source.columns if not c.expr and c.name.lower() not in headers]
    if missing:
        check.report.errors.append(
            Finding(
                source.name,
                (
                    f"{source.name}: column(s) not found in {source.table or 'its SQL result'}: "
                    f"{', '.join(missing)}. Available: {', '.join(probe.headers)}"
                ),
            )
        )
    check.checks["columns"] = "failed" if missing else "ok"
    grain = [g for g in source.grain if g.lower() in headers]
    if len(grain) != len(source.grain):
        check.checks["grain"] = "skipped: grain columns missing"
        return
    keys = [exp.column(g) for g in grain]
    sample = exp.select(*keys).from_(base.copy()).limit(GRAIN_SAMPLE_ROWS).subquery("sample")
    dupes = exp.select(*[k.copy() for k in keys]).from_(sample).group_by(*[k.copy() for k in keys])
    dupes = dupes.having(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1)))
    count = exp.select(exp.Count(this=exp.Star()).as_("duplicated_keys")).from_(dupes.subquery("dupes"))
    sql = sqlexpr.quote_identifiers(count).sql(dialect=dialect)
    try:
        duplicated = connector.query(sql, max_rows=1).rows[0][0]
    except KtxError as exc:
        check.checks["grain"] = f"failed: {exc}"
        check.report.errors.append(Finding(source.name, f"{source.name}: grain check failed: {exc}"))
        return
    if duplicated:
        check.report.errors.append(
            Finding(
                source.name,
                (
                    f"{source.name}: declared grain [{', '.join(source.grain)}] is not unique: {duplicated} "
                    f"key value(s) repeat in a sample of up to {GRAIN_SAMPLE_ROWS:,} rows. Fix the grain "
                    "(fan-out protection relies on it)."
                ),
            )
        )
    check.checks["grain"] = "failed" if duplicated else f"ok (unique in a sample of up to {GRAIN_SAMPLE_ROWS:,} rows)"


def read_source_yaml(root: Path, connection_id: str, name: str) -> str:
    """The YAML that defines one source as the compiler sees it: a standalone file as written, a scanned table
    with its overlay composed into one document."""
    from ktx.project.yamlio import dump_yaml, safe_load
    from ktx.semantic.loader import source_dicts

    bases, origins, _ = source_dicts(existing_layer_dir(root, connection_id))
    if name not in bases:
        raise KtxError(f'Semantic-layer source "{name}" was not found.')
    origin = Path(origins[name])
    if "_schema" not in origin.parts:
        text = origin.read_text(encoding="utf-8")
        if isinstance(own := safe_load(text), dict) and (own.get("table") or own.get("sql")):
            return text  # a standalone source with no overlay: the file as written, comments and all
    return dump_yaml(bases[name])


def layer_problem(root: Path, connection_id: str, driver: str | None, changes: dict[str, str | None]) -> str | None:
    """Why the connection's semantic layer would not load and validate with `changes` applied (project-relative
    paths; None deletes), or None when it would. The project's files are not touched."""
    from ktx.semantic.layer import layer_with_changes
    from ktx.semantic.loader import load_directory

    if not changes:
        return None
    with layer_with_changes(root, connection_id, changes) as copy:
        try:
            layer = load_directory(copy)
            report = validate_model(SemanticEngine(layer.sources, dialect_for(driver)))
        except KtxError as exc:
            return exc.message
        except Exception as exc:  # an edit the loader cannot even read
            return f"{type(exc).__name__}: {exc}"
    if not report.valid:
        return "; ".join(str(f.message) for f in report.errors[:3])
    return None
