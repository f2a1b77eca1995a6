"""What search needs to know about semantic-layer sources, read straight from the YAML files.

Handles the two-tier layout (`_schema/*.yaml` manifest shards, standalone sources, overlays by
name) leniently: a file that does not parse is skipped here — validation reports it elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DESCRIPTION_PRIORITY = ("user", "ai", "dbt", "db")


def resolve_description(flat: Any, by_provenance: Any) -> str:
    if isinstance(flat, str) and flat.strip():
        return flat.strip()
    if isinstance(by_provenance, dict):
        for key in DESCRIPTION_PRIORITY:
            value = by_provenance.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
        for value in by_provenance.values():
            if isinstance(value, str) and value.strip():
                return value.strip()
    return ""


@dataclass
class SourceSummary:
    connection_id: str
    name: str
    path: str  # relative to the project root; the overlay when there is one
    description: str = ""
    table: str = ""
    columns: list[tuple[str, str, str]] = field(default_factory=list)  # name, type, description
    measures: list[tuple[str, str, str]] = field(default_factory=list)  # name, expr, description
    joins: list[tuple[str, str, str]] = field(default_factory=list)  # to, relationship, on
    tags: list[str] = field(default_factory=list)
    freshness: str = ""  # what dbt's freshness checks say, for search
    meta: str = ""  # dbt's `meta` (owner, pii flags, …) as text, for search
    usage: float = 0.0  # how much the table is used (query history, Looker's System Activity): ranks search ties

    @property
    def doc_id(self) -> str:
        return f"{self.connection_id}/{self.name}"

    def search_text(self) -> str:
        parts = [self.name.replace("_", " ")]
        if self.description:
            parts.append(self.description)
        if self.table:
            parts.append(f"table: {self.table}")
        parts += [f"{n} ({t}) {d}".strip() for n, t, d in self.columns]
        parts += [f"measure: {n} {e} {d}".strip() for n, e, d in self.measures]
        parts += [f"join: {to} ({rel})" for to, rel, _ in self.joins]
        if self.tags:
            parts.append(f"tags: {' '.join(self.tags)}")
        if self.freshness:
            parts.append(f"freshness: {self.freshness}")
        if self.meta:
            parts.append(f"meta: {self.meta}")
        return ". ".join(parts)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"connectionId": self.connection_id, "name": self.name, "path": self.path}
        if self.description:
            data["description"] = self.description
        data.update(columnCount=len(self.columns), measureCount=len(self.measures), joinCount=len(self.joins))
        if self.usage:
            data["usage"] = self.usage
        return data


def _joins(items: Any) -> list[tuple[str, str, str]]:
    return [
        (str(j.get("to")), str(j.get("relationship", "")), str(j.get("on", "")))
        for j in items or []
        if isinstance(j, dict)
    ]


def _normal_on(on: str) -> str:
    return " ".join(on.split())


def _load_yaml(path: Path) -> Any:
    from ruamel.yaml.error import YAMLError

    from ktx.project.yamlio import safe_load_file

    try:
        return safe_load_file(path)
    except (YAMLError, OSError, UnicodeDecodeError):
        return None


def _columns(items: Any) -> list[tuple[str, str, str]]:
    out = []
    for col in items or []:
        if isinstance(col, dict) and col.get("name"):
            out.append(
                (
                    str(col["name"]),
                    str(col.get("type") or ""),
                    resolve_description(col.get("description"), col.get("descriptions")),
                )
            )
    return out


def _tags(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [str(t) for tags in value.values() for t in (tags or [])]
    return [str(t) for t in value or []] if isinstance(value, list) else []


TIERS = {"high": 3.0, "mid": 2.0, "low": 1.0}


def _meta_text(value: Any) -> str:
    """`meta: {dbt: {owner: finance, contains_pii: true}}` → "owner finance; contains pii true" (scalars only)."""
    if not isinstance(value, dict):
        return ""
    parts = []
    for block in value.values():
        if isinstance(block, dict):
            for key, item in block.items():
                if isinstance(item, str | int | float | bool):
                    parts.append(f"{str(key).replace('_', ' ')} {item}")
    return "; ".join(parts)


def usage_score(value: Any) -> float:
    """One number from an entry's `usage` block: query history's frequency tier (1–3) plus log10 of 1 + the
    query runs Looker's System Activity counted (321 runs → 2.5)."""
    import math

    if not isinstance(value, dict):
        return 0.0
    score = TIERS.get(str(value.get("frequencyTier")), 0.0)
    looker = value.get("looker")
    if isinstance(looker, dict) and isinstance(looker.get("queryRuns"), int | float) and looker["queryRuns"] > 0:
        score += math.log10(1 + float(looker["queryRuns"]))
    return round(score, 3)


def _freshness(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    parts = []
    for block in value.values():
        if isinstance(block, dict):
            raw = block.get("raw") if isinstance(block.get("raw"), dict) else {}
            for level in ("warn_after", "error_after"):
                rule = raw.get(level) if isinstance(raw, dict) else None
                if isinstance(rule, dict) and rule.get("count"):
                    parts.append(f"{level.replace('_', ' ')} {rule['count']} {rule.get('period', '')}".strip())
            if block.get("loaded_at_field"):
                parts.append(f"loaded at {block['loaded_at_field']}")
    return ", ".join(parts)


def connection_dirs(project_root: Path) -> list[Path]:
    base = project_root / "semantic-layer"
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_dir() and p.name != "_schema" and not p.name.startswith("."))


def read_sources(project_root: Path, connection_id: str) -> list[SourceSummary]:
    """Every source of one connection: manifest entries, standalone files, overlays applied."""
    folder = project_root / "semantic-layer" / connection_id
    sources: dict[str, SourceSummary] = {}
    for shard in sorted((folder / "_schema").glob("*.y*ml")):
        data = _load_yaml(shard)
        tables = data.get("tables") if isinstance(data, dict) else None
        for name, entry in (tables or {}).items():
            if not isinstance(entry, dict):
                continue
            sources[str(name)] = SourceSummary(
                connection_id,
                str(name),
                str(shard.relative_to(project_root)),
                description=resolve_description(entry.get("description"), entry.get("descriptions")),
                table=str(entry.get("table") or ""),
                columns=_columns(entry.get("columns")),
                joins=_joins(entry.get("joins")),
                tags=_tags(entry.get("tags")),
                freshness=_freshness(entry.get("freshness")),
                usage=usage_score(entry.get("usage")),
                meta=_meta_text(entry.get("meta")),
            )
    files = sorted(p for p in folder.rglob("*.y*ml") if "_schema" not in p.relative_to(folder).parts)
    overlays = []
    for path in files:
        data = _load_yaml(path)
        if not isinstance(data, dict) or not data.get("name"):
            continue
        if data.get("table") or data.get("sql"):
            name = str(data["name"])
            sources[name] = SourceSummary(
                connection_id,
                name,
                str(path.relative_to(project_root)),
                description=resolve_description(data.get("description"), data.get("descriptions")),
                table=str(data.get("table") or "sql"),
                columns=_columns(data.get("columns")),
                measures=[
                    (str(m.get("name")), str(m.get("expr", "")), str(m.get("description") or ""))
                    for m in data.get("measures") or []
                    if isinstance(m, dict)
                ],
                joins=_joins(data.get("joins")),
                tags=_tags(data.get("tags")),
            )
        else:
            overlays.append((path, data))
    for path, data in overlays:
        base = sources.get(str(data["name"]))
        if base is None:
            continue
        base.path = str(path.relative_to(project_root))
        described = resolve_description(None, data.get("descriptions"))
        base.description = described or base.description
        excluded = set(data.get("exclude_columns") or [])
        base.columns = [c for c in base.columns if c[0] not in excluded] + _columns(data.get("columns"))
        overrides = {str(o.get("name")): o for o in data.get("column_overrides") or [] if isinstance(o, dict)}
        base.columns = [
            (n, t, resolve_description(None, overrides[n].get("descriptions")) or d) if n in overrides else (n, t, d)
            for n, t, d in base.columns
        ]
        if "measures" in data:
            base.measures = [
                (str(m.get("name")), str(m.get("expr", "")), str(m.get("description") or ""))
                for m in data.get("measures") or []
                if isinstance(m, dict)
            ]
        # As the loader does: disable_joins removes joins by their exact `on` (whitespace aside), and an
        # overlay join restating one already there replaces it instead of counting twice.
        disabled = {_normal_on(on) for on in data.get("disable_joins") or [] if isinstance(on, str)}
        added = _joins(data.get("joins"))
        restated = {(to, _normal_on(on)) for to, _, on in added}
        base.joins = [
            j for j in base.joins if _normal_on(j[2]) not in disabled and (j[0], _normal_on(j[2])) not in restated
        ] + added
    return sorted(sources.values(), key=lambda s: s.name)


def all_sources(project_root: Path) -> list[SourceSummary]:
    return [s for d in connection_dirs(project_root) for s in read_sources(project_root, d.name)]
