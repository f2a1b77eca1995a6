"""Entity details: what the latest scan knows about tables an agent names (columns, types, keys, comments, and
the profile's row counts and sample values), resolved from a structured ref, a dotted display ref or a bare name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ktx.scan.artifacts import ScanArtifacts, latest_scan
from ktx.scan.relationships.explain import links_of_table

MAX_SAMPLE_VALUES = 5


@dataclass(frozen=True)
class TableRef:
    catalog: str | None
    db: str | None
    name: str

    def to_json(self) -> dict[str, str | None]:
        return {"catalog": self.catalog, "db": self.db, "name": self.name}


class EntityError(Exception):
    def __init__(self, code: str, message: str, candidates: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.candidates = candidates

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.candidates is not None:
            data["candidates"] = self.candidates
        return data


def _display(doc: dict[str, Any]) -> str:
    return ".".join(p for p in (doc.get("catalog"), doc.get("db"), doc.get("name")) if p)


def _split_display(text: str) -> list[str]:
    """`db.table`, `"My Schema"."Orders"`, `` `db`.`t` `` → parts, quotes removed."""
    parts, current, quote = [], "", ""
    for char in text.strip():
        if quote:
            if char == quote:
                quote = ""
            else:
                current += char
        elif char in '"`[':
            quote = "]" if char == "[" else char
        elif char == ".":
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p.strip() for p in parts]


def resolve_table(scan: ScanArtifacts, table: str | dict[str, Any]) -> dict[str, Any]:
    """The one table document a reference names, or EntityError(table_not_found | ambiguous_table)."""
    docs = scan.tables

    def same(a: Any, b: Any) -> bool:
        return (a or "").lower() == (b or "").lower()

    if isinstance(table, dict):
        hits = [
            d
            for d in docs
            if same(d.get("name"), table.get("name"))
            and same(d.get("db"), table.get("db"))
            and same(d.get("catalog"), table.get("catalog"))
        ]
        label = _display({k: table.get(k) for k in ("catalog", "db", "name")})
    else:
        label = table
        parts = _split_display(table)
        hits = []
        if len(parts) > 1:
            name, db = parts[-1], parts[-2]
            catalog = parts[-3] if len(parts) > 2 else None
            hits = [
                d
                for d in docs
                if same(d.get("name"), name)
                and same(d.get("db"), db)
                and (catalog is None or same(d.get("catalog"), catalog))
            ]
        if not hits:
            hits = [d for d in docs if same(d.get("name"), table.strip())]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise EntityError(
            "ambiguous_table",
            f'Table "{label}" matches {len(hits)} tables; pass the schema too.',
            sorted(_display(d) for d in hits),
        )
    close = sorted(_display(d) for d in docs if (label.split(".")[-1].lower() in _display(d).lower()))[:10]
    raise EntityError(
        "table_not_found", f'Table "{label}" is not in the latest scan of {scan.connection_id}.', close or None
    )


def _column_json(column: dict[str, Any], profiled: dict[str, Any] | None) -> dict[str, Any]:
    native = str(column.get("nativeType") or "")
    data: dict[str, Any] = {
        "name": column.get("name"),
        "nativeType": native,
        "normalizedType": native.split("(", 1)[0].strip().lower(),
        "dimensionType": column.get("dimensionType") or "string",
        "nullable": bool(column.get("nullable", True)),
        "primaryKey": bool(column.get("primaryKey")),
        "comment": column.get("comment"),
    }
    if profiled:
        data["profile"] = {
            "distinctCount": profiled.get("distinctCount"),
            "nullCount": profiled.get("nullCount"),
            "sampledRows": profiled.get("sampled"),
            "min": profiled.get("minValue"),
            "max": profiled.get("maxValue"),
            "sampleValues": [str(v) for v in (profiled.get("sampleValues") or [])[:MAX_SAMPLE_VALUES]],
        }
    return data


def _key_forms(doc: dict[str, Any]) -> set[str]:
    name = str(doc.get("name") or "")
    forms = {name, ".".join(p for p in (doc.get("db"), name) if p)}
    if doc.get("key"):
        forms.add(str(doc["key"]))
    return {f.lower() for f in forms if f}


def _foreign_keys(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for fk in doc.get("foreignKeys") or []:
        for source, target in zip(fk.get("columns") or [], fk.get("refColumns") or [], strict=False):
            out.append(
                {
                    "fromColumn": source,
                    "toCatalog": None,
                    "toDb": fk.get("refDb"),
                    "toTable": fk.get("refTable"),
                    "toColumn": target,
                    "constraintName": fk.get("name"),
                }
            )
    return out


def entity_details(root: Path, connection_id: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One ok- or error-record per requested entity (`{table, columns?}`), in the order asked."""
    scan = latest_scan(root, connection_id)
    results = []
    for entity in entities:
        table = entity["table"]
        if scan is None:
            results.append(
                {
                    "ok": False,
                    "connectionId": connection_id,
                    "table": table,
                    "error": {
                        "code": "scan_missing",
                        "message": f"No scan of {connection_id} yet. Run `ktx ingest {connection_id}` first.",
                    },
                }
            )
            continue
        try:
            doc = resolve_table(scan, table)
            columns = doc.get("columns") or []
            wanted = entity.get("columns")
            if wanted:
                by_name = {str(c.get("name")).lower(): c for c in columns}
                missing = [c for c in wanted if c.lower() not in by_name]
                if missing:
                    raise EntityError(
                        "column_not_found",
                        f"Column{'s' if len(missing) > 1 else ''} {', '.join(missing)} not found in {_display(doc)}.",
                        [str(c.get("name")) for c in columns],
                    )
                columns = [by_name[c.lower()] for c in wanted]
        except EntityError as exc:
            results.append(
                {
                    "ok": False,
                    "connectionId": connection_id,
                    "table": table,
                    "snapshot": scan.snapshot_info,
                    "error": exc.to_json(),
                }
            )
            continue
        profiled = scan.profile_columns(doc)
        results.append(
            {
                "ok": True,
                "connectionId": connection_id,
                "tableRef": TableRef(doc.get("catalog"), doc.get("db"), str(doc.get("name"))).to_json(),
                "display": _display(doc),
                "kind": doc.get("kind") or "table",
                "comment": doc.get("comment"),
                "estimatedRows": doc.get("estimatedRows"),
                "columns": [_column_json(c, profiled.get(str(c.get("name")))) for c in columns],
                "foreignKeys": _foreign_keys(doc),
                # Links discovery found from or to this table (accepted, to review, rejected) and why.
                "discoveredLinks": links_of_table(scan.relationships, _key_forms(doc)),
                "snapshot": scan.snapshot_info,
            }
        )
    return results
