"""Load a connection's semantic layer: `_schema/*.yaml` manifest shards (what a scan found),
standalone source files, and overlays that add meaning to manifest tables by name.

Errors name the file and the key; warnings (orphan overlays, skipped files) are returned, not logged.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ktx.errors import KtxError
from ktx.project.yamlio import safe_load_file, yaml_problem
from ktx.semantic.model import Source
from ktx.semantic.schemacheck import SchemaError

_NUMBER = {
    "integer",
    "bigint",
    "smallint",
    "numeric",
    "decimal",
    "float",
    "double",
    "real",
    "int",
    "int2",
    "int4",
    "int8",
    "float4",
    "float8",
    "double precision",
    "number",
    "tinyint",
    "mediumint",
}
_TIME = {
    "timestamp",
    "timestamptz",
    "timestamp with time zone",
    "timestamp without time zone",
    "timestamp_ntz",
    "timestamp_ltz",
    "timestamp_tz",
    "datetime",
    "date",
    "time",
    "timetz",
}
OVERLAY_KEYS = {
    "name",
    "descriptions",
    "grain",
    "columns",
    "column_overrides",
    "joins",
    "measures",
    "segments",
    "exclude_columns",
    "disable_joins",
    "default_time_dimension",
    "time_spine",
    "usage",
}


class SemanticLayerError(KtxError):
    """A semantic-layer file is invalid; the message names the file and the problem."""


def semantic_type(native: str) -> str:
    """DB-native type → semantic column type, from the lower-cased base type (text before `(`)."""
    base = native.split("(", 1)[0].strip().lower()
    if base in _NUMBER:
        return "number"
    if base in _TIME:
        return "time"
    if base in ("boolean", "bool"):
        return "boolean"
    return "string"


@dataclass
class LoadedLayer:
    sources: dict[str, Source]
    origins: dict[str, str] = field(default_factory=dict)  # source → file that defines or overlays it
    warnings: list[str] = field(default_factory=list)


def _read_yaml(path: Path) -> Any:
    from ruamel.yaml.error import YAMLError

    try:
        return safe_load_file(path)
    except YAMLError as exc:
        raise SemanticLayerError(f"{path}: YAML parse error: {yaml_problem(exc)}") from None


def _build(data: dict[str, Any], where: str) -> Source:
    try:
        return Source.parse(data)
    except SchemaError as exc:
        raise SemanticLayerError(f"Invalid source '{data.get('name', '?')}' in {where}: {exc}") from None


GENERATED_OVERLAY_FOLDERS = ("dbt", "metricflow", "lookml", "looker", "metabase")


def _manifest_origin(source: Any) -> str:
    """A scanned join's provenance: declared by the warehouse, projected from dbt tests, or inferred from data."""
    return {"formal": "declared", "manual": "projection"}.get(str(source), "inferred")


def overlay_origin(where: str) -> str:
    """Joins of an overlay a context source generated (semantic-layer/<wh>/<driver>/…) are projections;
    every other overlay or standalone file was written by a person."""
    parts = Path(where).parts
    return "projection" if any(folder in parts for folder in GENERATED_OVERLAY_FOLDERS) else "manual"


def project_manifest_entry(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """A manifest entry as a source dict: semantic types, time roles, grain = PK (or every column)."""
    columns = []
    for col in entry.get("columns") or []:
        kind = semantic_type(str(col.get("type", "")))
        projected = {"name": col["name"], "type": kind}
        if kind == "time":
            projected["role"] = "time"
        for key in ("descriptions", "constraints", "enum_values", "tests"):
            if col.get(key) is not None:
                projected[key] = col[key]
        columns.append(projected)
    pk = [c["name"] for c in entry.get("columns") or [] if c.get("pk")]
    if not pk:  # no key found by the scan: a column dbt tests as unique and not null is the grain
        pk = [
            c["name"]
            for c in entry.get("columns") or []
            if ((c.get("constraints") or {}).get("dbt") or {}).get("unique")
            and ((c.get("constraints") or {}).get("dbt") or {}).get("not_null")
        ][:1]
    source: dict[str, Any] = {
        "name": name,
        "table": entry.get("table"),
        "grain": pk or [c["name"] for c in columns],
        "columns": columns,
        "joins": [
            {**{k: v for k, v in j.items() if k != "source"}, "origin": _manifest_origin(j.get("source"))}
            for j in entry.get("joins") or []
            if isinstance(j, dict)
        ],
    }
    for key in ("descriptions", "default_time_dimension", "tags", "freshness", "usage"):
        if entry.get(key) is not None:
            source[key] = entry[key]
    return source


def _normalise_on(on: str) -> str:
    return re.sub(r"\s+", " ", on.strip())


def validate_overlay(data: dict[str, Any], base: dict[str, Any], where: str) -> None:
    problems = []
    if "description" in data:
        problems.append("use 'descriptions' (by provenance), not 'description'")
    if "table" in data:
        problems.append("'table' is owned by the manifest")
    if "sql" in data:
        problems.append("'sql' makes a file a standalone source, not an overlay")
    for key in sorted(set(data) - OVERLAY_KEYS - {"description", "table", "sql"}):
        problems.append(f"unknown overlay key '{key}'")
    for col in data.get("columns") or []:
        if not isinstance(col, dict) or not col.get("expr") or not col.get("type"):
            problems.append(
                f"computed column '{col.get('name') if isinstance(col, dict) else col}' needs 'expr' and 'type'"
            )
        elif "description" in col:
            problems.append(f"column '{col['name']}': use 'descriptions', not 'description'")
    base_columns = {c["name"] for c in base.get("columns", [])}
    for override in data.get("column_overrides") or []:
        name = override.get("name")
        for key in ("description", "type", "expr"):
            if key in override:
                problems.append(f"column override '{name}' cannot set '{key}'")
        if name not in base_columns:
            problems.append(f"Column override '{name}' does not match a manifest column")
    if problems:
        raise SemanticLayerError(f"Invalid overlay '{data.get('name')}' in {where}: {'; '.join(problems)}")


def compose(base: dict[str, Any], overlay: dict[str, Any], where: str) -> dict[str, Any]:
    """Apply an overlay to a base source dict (manifest entry or standalone source)."""
    validate_overlay(overlay, base, where)
    out = copy.deepcopy(base)
    if overlay.get("descriptions"):
        out["descriptions"] = {**(base.get("descriptions") or {}), **overlay["descriptions"]}
    excluded = set(overlay.get("exclude_columns") or [])
    overrides = {o["name"]: o for o in overlay.get("column_overrides") or []}
    conflict = sorted(excluded & set(overrides))
    if conflict:
        raise SemanticLayerError(
            f"Invalid overlay '{overlay['name']}' in {where}: column_overrides conflict with "
            f"exclude_columns: {', '.join(conflict)}"
        )
    columns = []
    for col in out.get("columns", []):
        if col["name"] in excluded:
            continue
        override = overrides.get(col["name"])
        if override:
            merged = {**col, **{k: v for k, v in override.items() if k not in ("name", "descriptions")}}
            if override.get("descriptions"):
                merged["descriptions"] = {**(col.get("descriptions") or {}), **override["descriptions"]}
            col = merged
        columns.append(col)
    names = {c["name"] for c in columns} | excluded
    for computed in overlay.get("columns") or []:
        if computed["name"] in names:
            raise SemanticLayerError(
                f"Invalid overlay '{overlay['name']}' in {where}: computed column '{computed['name']}' reuses a "
                "manifest column name; to describe that column, move it to 'column_overrides:'"
            )
        columns.append(computed)
    out["columns"] = columns
    for key in ("measures", "segments"):
        if key in overlay:
            # By name: a second overlay (a person's beside a generated one) redefines or adds, and keeps the rest.
            mine = {str(i.get("name")): i for i in overlay[key] or [] if isinstance(i, dict)}
            kept = [i for i in out.get(key) or [] if not (isinstance(i, dict) and str(i.get("name")) in mine)]
            out[key] = kept + copy.deepcopy([i for i in overlay[key] or []])
    for key in ("grain", "default_time_dimension", "time_spine", "usage"):
        if key in overlay:
            out[key] = copy.deepcopy(overlay[key])
    name = str(overlay.get("name") or base.get("name") or "")
    disabled = {_normalise_on(on) for on in overlay.get("disable_joins") or []}
    joins = [j for j in out.get("joins", []) if _normalise_on(j["on"]) not in disabled]
    by_key = {_join_key(name, j): i for i, j in enumerate(joins)}
    origin = overlay_origin(where)
    for join in overlay.get("joins") or []:
        if isinstance(join, dict) and "origin" not in join:
            join = {**join, "origin": origin}
        key = _join_key(name, join)
        if key in by_key:
            # The same link written by a person (`ship_region_id = regions.id`) and by a scan
            # (`orders.ship_region_id = regions.id`): the person's version (alias, relationship) wins.
            joins[by_key[key]] = copy.deepcopy(join)
            continue
        joins.append(copy.deepcopy(join))
        by_key[key] = len(joins) - 1
    out["joins"] = joins
    return out


def _join_key(source: str, join: dict[str, Any]) -> str:
    """A join's identity: its target and its equalities, each side qualified, in a stable order."""
    parts = []
    for clause in re.split(r"\s+AND\s+", _normalise_on(str(join.get("on", ""))), flags=re.I):
        sides = [s.strip() for s in clause.split("=")] if clause.count("=") == 1 else [clause]
        sides = [s if "." in s or len(sides) == 1 else f"{source}.{s}" for s in sides]
        parts.append(" = ".join(sorted(sides)))
    return f"{join.get('to')}::{' AND '.join(sorted(parts))}"


def source_dicts(folder: Path) -> tuple[dict[str, dict[str, Any]], dict[str, str], list[str]]:
    """Every source of one connection directory as composed dicts (not yet validated), the file that defines or
    overlays each, and warnings."""
    bases: dict[str, dict[str, Any]] = {}
    origins: dict[str, str] = {}
    warnings: list[str] = []
    for shard in sorted((folder / "_schema").glob("*.y*ml")):
        data = _read_yaml(shard)
        if not isinstance(data, dict) or not isinstance(data.get("tables"), dict):
            warnings.append(f"{shard}: not a manifest shard (expected a 'tables' mapping); skipped")
            continue
        for name, entry in data["tables"].items():
            if name in bases:
                raise SemanticLayerError(f"Duplicate source name '{name}' in {shard} (also in {origins[name]})")
            bases[str(name)] = project_manifest_entry(str(name), entry)
            origins[str(name)] = str(shard)
    overlays: list[tuple[Path, dict[str, Any]]] = []
    for path in sorted(p for p in folder.rglob("*.y*ml") if "_schema" not in p.relative_to(folder).parts):
        data = _read_yaml(path)
        if not isinstance(data, dict) or not data.get("name"):
            warnings.append(f"{path}: not a source (no 'name'); skipped")
            continue
        name = str(data["name"])
        if data.get("table") or data.get("sql"):
            if name in bases:
                raise SemanticLayerError(f"Duplicate source name '{name}' in {path} (also in {origins[name]})")
            origin = overlay_origin(str(path))
            data = {
                **data,
                "joins": [
                    {**j, "origin": j.get("origin") or origin} if isinstance(j, dict) else j
                    for j in data.get("joins") or []
                ],
            }
            bases[name] = data
            origins[name] = str(path)
        else:
            overlays.append((path, data))
    for path, overlay in overlays:
        name = str(overlay["name"])
        if name not in bases:
            warnings.append(f"Orphan overlay '{name}' in {path}: no manifest entry or source with that name; skipped")
            continue
        present = {_normalise_on(j["on"]) for j in bases[name].get("joins") or [] if isinstance(j, dict) and "on" in j}
        for on in overlay.get("disable_joins") or []:
            if isinstance(on, str) and _normalise_on(on) not in present:
                warnings.append(
                    f"{path}: disable_joins entry '{on}' matches no join of '{name}' (an entry is a join's exact "
                    f"`on`, e.g. one of: {'; '.join(sorted(present)) or 'none'}); nothing was disabled by it"
                )
        bases[name] = compose(bases[name], overlay, str(path))
        origins[name] = str(path)
    return bases, origins, warnings


def load_directory(folder: Path, *, check_joins: bool = True) -> LoadedLayer:
    """Every source of one connection directory, composed and validated."""
    bases, origins, warnings = source_dicts(folder)
    sources = {name: _build(data, origins[name]) for name, data in bases.items()}
    if check_joins:
        # One join to a source that does not exist must not take the connection's layer down: the join graph
        # leaves it out (every answer says so) and the rest of the layer keeps answering.
        for source in sources.values():
            for join in source.joins:
                if join.to not in sources:
                    warnings.append(
                        f"Source '{source.name}' joins to '{join.to}', but '{join.to}' is not defined; join left out"
                    )
    return LoadedLayer(dict(sorted(sources.items())), origins, warnings)
