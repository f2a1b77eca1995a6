"""Model validation: grain, joins, measures and graph shape (section 4 of the notes), per source."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from ktx.semantic import sqlexpr
from ktx.semantic.compiler import SemanticEngine
from ktx.semantic.graph import parse_on
from ktx.semantic.sqlexpr import CompileError

_DISPLAY = re.compile(r"(^|_)(name|email|label|title|description)$")
_ID = re.compile(r"^(id|.*_id)$")


@dataclass
class Finding:
    source: str | None  # None: about the whole model
    message: str


@dataclass
class ValidationReport:
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors

    def for_source(self, name: str) -> ValidationReport:
        return ValidationReport(
            [f for f in self.errors if f.source == name],
            [f for f in self.warnings if f.source in (name, None)],
        )


def validate_model(engine: SemanticEngine) -> ValidationReport:
    report = ValidationReport()
    sources, dialect = engine.sources, engine.dialect
    for message in engine.graph.errors:
        owner = re.match(r"Source '([^']+)'", message)
        report.errors.append(Finding(owner.group(1) if owner else None, message))
    for source in sources.values():
        names = {c.name for c in source.columns}
        for col in source.columns:
            if "." in col.name:
                report.errors.append(
                    Finding(source.name, f"Source '{source.name}' column '{col.name}' must be unqualified (no '.')")
                )
        for grain in source.grain:
            if "." in grain:
                report.errors.append(
                    Finding(
                        source.name,
                        f"Source '{source.name}' grain entry '{grain}' is a qualified name; use the bare column name",
                    )
                )
            elif grain not in names:
                report.errors.append(
                    Finding(
                        source.name,
                        f"Source '{source.name}' has grain column '{grain}' that is not in its columns list",
                    )
                )
        if source.sql:
            projection = _sql_projection(source.sql, dialect)
            for grain in source.grain:
                if projection is not None and grain in names and grain not in projection:
                    report.errors.append(
                        Finding(
                            source.name,
                            f"Source '{source.name}' has grain column '{grain}' that is not in the SQL SELECT "
                            "projection. Add it to the SELECT or fix the grain.",
                        )
                    )
        for join in source.joins:
            target = sources.get(join.to)
            if target is None:
                continue
            try:
                pairs = parse_on(join.on, dialect)
            except CompileError:
                continue
            target_names = {c.name for c in target.columns}
            for local, remote in pairs:
                for col in [local] if isinstance(local, exp.Column) else []:
                    if col.name not in names:
                        report.errors.append(
                            Finding(
                                source.name,
                                f"Source '{source.name}' joins to '{join.to}' on local column '{col.name}', but "
                                f"'{col.name}' is not in '{source.name}' columns list",
                            )
                        )
                for col in [remote] if isinstance(remote, exp.Column) else []:
                    if col.name not in target_names:
                        report.errors.append(
                            Finding(
                                source.name,
                                f"Source '{source.name}' joins to '{join.to}' on target column '{col.name}', but "
                                f"'{col.name}' is not in '{join.to}' columns list",
                            )
                        )
                if (
                    join.relationship != "one_to_many"
                    and isinstance(local, exp.Column)
                    and isinstance(remote, exp.Column)
                    and _DISPLAY.search(local.name)
                    and _ID.match(remote.name)
                    and remote.name in target.grain
                ):
                    report.errors.append(
                        Finding(
                            source.name,
                            f"Source '{source.name}' joins '{local.name}' to '{join.to}.{remote.name}': "
                            f"'{local.name}' looks like a display value, not a key matching the identifier "
                            f"grain of '{join.to}'",
                        )
                    )
        for measure in source.measures:
            if measure.time_dimension and source.column(measure.time_dimension) is None:
                report.errors.append(
                    Finding(
                        source.name,
                        f"Source '{source.name}' measure '{measure.name}': time_dimension "
                        f"'{measure.time_dimension}' is not a column of '{source.name}'",
                    )
                )
        duplicates, near_duplicates = _duplicate_measures(source, dialect)
        report.errors += [Finding(source.name, m) for m in duplicates]
        report.warnings += [Finding(source.name, m) for m in near_duplicates]
        if not engine.graph.errors:
            times = [
                m.time_dimension or (source.default_time_dimension or {}).get("column")
                for m in source.measures
                if m.window
            ]
            windowed = [f"{source.name}.{t}" for t in times if t]
            for measure in source.measures:
                query: dict[str, Any] = {"measures": [f"{source.name}.{measure.name}"], "limit": 1}
                try:
                    try:
                        engine.compile(query)
                    except CompileError:
                        if not windowed:
                            raise
                        # A window (or a formula over one) answers per period: checked as it is asked, by the
                        # time dimension its windows read, at the spine's day.
                        engine.compile({**query, "dimensions": [{"field": windowed[0], "granularity": "day"}]})
                except CompileError as exc:
                    # A window with no time spine in the layer is declared right and refused when asked, saying
                    # how to add one: worth a warning, not a broken layer.
                    found = report.warnings if "needs a time spine" in str(exc) else report.errors
                    found.append(Finding(source.name, f"Source '{source.name}' measure '{measure.name}': {exc}"))
            for segment in source.segments:
                try:
                    sqlexpr.parse(segment.expr, dialect, what=f"segment '{segment.name}'")
                except CompileError as exc:
                    report.errors.append(Finding(source.name, f"Source '{source.name}': {exc}"))
    components = engine.graph.components()
    if len(components) > 1:
        lines = [
            f"Model has {len(components)} disconnected components. Queries that span components will fail "
            "with 'No join path' errors:"
        ]
        for index, members in enumerate(components, 1):
            shown = (
                ", ".join(members) if len(members) <= 3 else f"{', '.join(members[:2])}, ... (+{len(members) - 2} more)"
            )
            lines.append(f"  - Component {index} ({len(members)} sources): {shown}")
        report.warnings.append(Finding(None, "\n".join(lines)))
    return report


def _sql_projection(sql: str, dialect: str) -> set[str] | None:
    try:
        tree = sqlexpr.parse(sql, dialect)
    except CompileError:
        return None
    select = tree if isinstance(tree, exp.Select) else None
    if select is None:
        return None
    names = set()
    for projection in select.expressions:
        if isinstance(projection, exp.Star) or (
            isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
        ):
            return None
        names.add(projection.alias_or_name)
    return names


def _duplicate_measures(source, dialect: str) -> tuple[list[str], list[str]]:
    """Identical measures are errors; measures that differ only by `filter` are worth a warning."""
    seen: list[tuple[str, str, frozenset[str], str, str]] = []
    out, near = [], []
    for measure in source.measures:
        try:
            rendered = sqlexpr.parse(measure.expr, dialect).sql(dialect="postgres")
        except CompileError:
            continue
        segments = frozenset(measure.segments)
        flt = (measure.filter or "").strip()
        time = f"{measure.time_dimension or ''}{measure.window!r}{measure.non_additive!r}{measure.conversion!r}"
        time += f"{measure.fill_nulls_with!r}{measure.join_to_timespine!r}"  # the same rows, answered differently
        for name, other, other_segments, other_filter, other_time in seen:
            if other != rendered or other_segments != segments or other_time != time:
                continue
            if other_filter == flt:
                out.append(
                    f"{source.name}: measures '{name}' and '{measure.name}' have the same expression "
                    "and filter — remove one or differentiate them."
                )
            else:
                near.append(
                    f"{source.name}: measure '{measure.name}' has the same expression as '{name}' — "
                    f"differs only by `filter`. Use query-time filtering on '{name}', or add a "
                    "segments[] entry and reference it from the measure."
                )
        seen.append((measure.name, rendered, segments, flt, time))
    return out, near
