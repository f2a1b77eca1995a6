"""The staged snapshot of a scan: one JSON document per table plus the connection and foreign-key index,
each content-hashed so the next run knows what was added, changed, removed or left alone."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ktx.scan.relationships.model import FormalKey, TableInfo
from ktx.warehouse.catalog import Catalog, CatalogTable

SNAPSHOT_VERSION = 1


def stable_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def content_hash(value: Any) -> str:
    return hashlib.sha256(stable_json(value).encode("utf-8")).hexdigest()


def _b64(text: str | None) -> str:
    return base64.urlsafe_b64encode((text or "_").encode("utf-8")).decode("ascii").rstrip("=")


def table_file(table: CatalogTable) -> str:
    """`tables/<b64(catalog|_)>.<b64(db|_)>.<b64(name)>.json` — safe for any identifier."""
    return f"tables/{_b64(None)}.{_b64(table.schema)}.{_b64(table.name)}.json"


def source_name(name: str) -> str:
    """A table name as a semantic-layer source name: word characters only (`order items` → `order_items`), so
    it reads unquoted in `on` clauses and queries; the real name stays in the entry's `table:`."""
    cleaned = re.sub(r"\W+", "_", name).strip("_") or "table"
    return "t_" + cleaned if cleaned[0].isdigit() else cleaned


def source_keys(catalog: Catalog) -> dict[tuple[str | None, str], str]:
    """The manifest name of every table: its cleaned name, or `<schema>_<name>` when two schemas share it."""
    counts: dict[str, int] = {}
    for table in catalog.tables:
        counts[source_name(table.name)] = counts.get(source_name(table.name), 0) + 1
    keys: dict[tuple[str | None, str], str] = {}
    taken: set[str] = set()
    for table in sorted(catalog.tables, key=lambda t: (t.schema or "", t.name)):
        base = source_name(table.name)
        key = base if counts[base] == 1 else source_name(f"{table.schema or 'default'}_{table.name}")
        while key in taken:
            key += "_"
        taken.add(key)
        keys[(table.schema, table.name)] = key
    return keys


def table_document(table: CatalogTable) -> dict[str, Any]:
    return {
        "catalog": None,
        "db": table.schema,
        "name": table.name,
        "kind": table.kind,
        "comment": table.comment,
        "estimatedRows": table.row_estimate,
        "columns": [
            {
                "name": c.name,
                "nativeType": c.native_type,
                "dimensionType": c.type,
                "nullable": c.nullable,
                "primaryKey": c.name in table.primary_key,
                "comment": c.comment,
            }
            for c in table.columns
        ],
        "primaryKey": list(table.primary_key),
        "foreignKeys": [
            {"columns": fk.columns, "refDb": fk.ref_schema, "refTable": fk.ref_table, "refColumns": fk.ref_columns}
            for fk in table.foreign_keys
        ],
    }


def _hashed_document(document: dict[str, Any]) -> dict[str, Any]:
    # Row estimates drift with every insert; they must not make an unchanged schema look changed.
    return {k: v for k, v in document.items() if k != "estimatedRows"}


@dataclass
class Snapshot:
    connection_id: str
    driver: str
    scope: dict[str, Any]
    tables: dict[str, CatalogTable]  # source key → table
    documents: dict[str, dict[str, Any]]  # relative path → JSON document, besides the tables' (see `all_documents`)
    hashes: dict[str, str]  # relative path → content hash
    keys: dict[tuple[str | None, str], str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def table_paths(self) -> dict[str, str]:
        """source key → the staged file of its table."""
        return {key: table_file(table) for key, table in self.tables.items()}

    def fingerprint(self) -> str:
        return content_hash(self.hashes)

    def all_documents(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every staged document, a table's made when asked: kept, 100,000 of them outweigh the catalog."""
        for table in self.tables.values():
            yield table_file(table), table_document(table)
        yield from self.documents.items()


def build_snapshot(catalog: Catalog, scope: dict[str, Any]) -> Snapshot:
    keys = source_keys(catalog)
    tables = {keys[(t.schema, t.name)]: t for t in catalog.tables}
    documents: dict[str, dict[str, Any]] = {}
    hashes: dict[str, str] = {}
    for table in catalog.tables:
        hashes[table_file(table)] = content_hash(_hashed_document(table_document(table)))
    fks = sorted(
        (
            {
                "from": keys[(t.schema, t.name)],
                "columns": fk.columns,
                "refTable": fk.ref_table,
                "refColumns": fk.ref_columns,
            }
            for t in catalog.tables
            for fk in t.foreign_keys
        ),
        key=stable_json,
    )
    documents["foreign-keys.json"] = {"foreignKeys": fks}
    hashes["foreign-keys.json"] = content_hash(fks)
    connection = {
        "connectionId": catalog.connection_id,
        "driver": catalog.driver,
        "scope": scope,
        "tableCount": len(catalog.tables),
        "snapshotVersion": SNAPSHOT_VERSION,
    }
    documents["connection.json"] = connection
    hashes["connection.json"] = content_hash(connection)
    documents["warnings.json"] = {"warnings": list(catalog.warnings)}
    return Snapshot(
        catalog.connection_id, catalog.driver, scope, tables, documents, hashes, keys, list(catalog.warnings)
    )


@dataclass
class SnapshotDiff:
    added: list[str]
    modified: list[str]
    deleted: list[str]
    unchanged: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.added or self.modified or self.deleted)

    def summary(self) -> dict[str, int]:
        return {
            "tablesAdded": len(self.added),
            "tablesModified": len(self.modified),
            "tablesDeleted": len(self.deleted),
            "tablesUnchanged": len(self.unchanged),
        }


def diff_tables(current: Snapshot, previous_keys: dict[str, str] | None) -> SnapshotDiff:
    """Table-level diff by source key against the last completed run's hashes (`{key: hash}`)."""
    before = previous_keys or {}
    now = {key: current.hashes[path] for key, path in current.table_paths.items()}
    added = sorted(k for k in now if k not in before)
    deleted = sorted(k for k in before if k not in now)
    modified = sorted(k for k in now if k in before and before[k] != now[k])
    unchanged = sorted(k for k in now if k in before and before[k] == now[k])
    return SnapshotDiff(added, modified, deleted, unchanged)


def table_infos(snapshot: Snapshot) -> list[TableInfo]:
    """What relationship discovery needs from each table (foreign keys resolved to source keys later)."""
    infos = []
    for key, table in sorted(snapshot.tables.items()):
        infos.append(
            TableInfo(
                key,
                table.name,
                table.schema,
                None,
                # The catalog's own column objects (they read as ColumnInfo): not a second object per column.
                table.columns,  # type: ignore[arg-type]
                tuple(table.primary_key),
                [
                    FormalKey(tuple(fk.columns), fk.ref_schema, fk.ref_table, tuple(fk.ref_columns))
                    for fk in table.foreign_keys
                ],
                table.kind,
            )
        )
    return infos
