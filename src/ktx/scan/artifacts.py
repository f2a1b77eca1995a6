"""Where a scan's artifacts live and how to read them. Other packages (search, MCP) read scan output only
through this module, so the layout under `raw-sources/<connection>/live-database/` has one owner."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_STRING_TYPES = re.compile(r"varchar|char|text|string|character|enum|bool", re.I)
_EXCLUDED_COLUMNS = re.compile(
    r"_id$|_uuid$|_key$|_hash$|_token$|^id$|^uuid$|_at$|_date$|_time$|description$|comment$|notes?$|message$|"
    r"body$|content$|_url$|_path$|email$|^phone|address$",
    re.I,
)


def local_profile_path(connection_id: str) -> Path:
    """Where a scan keeps its column profile (with sampled values): local state, never committed."""
    return Path(".ktx") / "cache" / "scan" / connection_id / "relationship-profile.json"


def latest_profile(root: Path, connection_id: str) -> Path | None:
    """This ktx's local profile, else the newest one a reference-product scan committed under raw-sources."""
    local = root / local_profile_path(connection_id)
    if local.is_file():
        return local
    base = root / "raw-sources" / connection_id / "live-database"
    if not base.is_dir():
        return None
    found = sorted(base.rglob("enrichment/relationship-profile.json"))
    return found[-1] if found else None


def load_profile_dictionary(root: Path, connection_id: str) -> list[tuple[str, str, str, int | None]]:
    """Sampled values for the dictionary lane: (source, column, value, cardinality).

    Reads the latest `raw-sources/<conn>/live-database/**/enrichment/relationship-profile.json`:
    `{"tables": [{"name": ..., "columns": [{"name", "type", "distinctCount", "sampleValues": [...]}]}]}`.
    Only string-like, low-cardinality (≤ 200) columns whose names do not look like ids, timestamps
    or free text are used.
    """
    path = latest_profile(root, connection_id)
    if path is None:
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    entries = []
    for table in data.get("tables", []) if isinstance(data, dict) else []:
        for column in table.get("columns", []):
            name, kind = str(column.get("name", "")), str(column.get("type", ""))
            distinct = column.get("distinctCount")
            if not _STRING_TYPES.search(kind) or _EXCLUDED_COLUMNS.search(name):
                continue
            if isinstance(distinct, int) and distinct > 200:
                continue
            seen: dict[str, str] = {}
            for value in column.get("sampleValues") or []:
                text = str(value).strip()
                if text and text.lower() not in seen:
                    seen[text.lower()] = text
            entries += [(str(table.get("name")), name, v, distinct) for v in sorted(seen.values())]
    return entries


@dataclass
class ScanArtifacts:
    """What the latest completed scan of a connection left: its report, one structural document per table,
    and (when this machine ran it) the local profile with sampled values."""

    connection_id: str
    report: dict[str, Any]
    tables: list[dict[str, Any]]
    profile: dict[str, Any] | None
    relationships: dict[str, Any] | None = None  # enrichment/relationships.json: every discovered link, with evidence

    @property
    def snapshot_info(self) -> dict[str, Any]:
        return {
            "syncId": self.report.get("syncId"),
            "extractedAt": self.report.get("createdAt") or self.report.get("extractedAt"),
            "scanRunId": self.report.get("runId"),
        }

    def profile_columns(self, table: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The profiled columns of one structural table document, by column name."""
        if not self.profile:
            return {}
        wanted = ".".join(p for p in (table.get("db"), table.get("name")) if p)
        for entry in self.profile.get("tables", []):
            if entry.get("table") in (wanted, table.get("name")):
                return {str(c.get("name")): c for c in entry.get("columns", [])}
        return {}


_SCAN_CACHE: dict[tuple[str, str], tuple[tuple[int, ...], ScanArtifacts]] = {}
_SCAN_LOCK = threading.Lock()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def latest_scan(root: Path, connection_id: str) -> ScanArtifacts | None:
    """The lexicographically last `raw-sources/<conn>/live-database/**/scan-report.json` and the table documents
    beside it, or None when the connection was never scanned. Re-read only when the files changed."""
    base = root / "raw-sources" / connection_id / "live-database"
    reports = sorted(base.rglob("scan-report.json")) if base.is_dir() else []
    if not reports:
        return None
    report_path = reports[-1]
    tables_dir = report_path.parent / "tables"
    profile_path = latest_profile(root, connection_id)
    stamps = tuple(
        p.stat().st_mtime_ns if p.exists() else 0 for p in (report_path, tables_dir, profile_path or report_path)
    )
    key = (str(root), connection_id)
    with _SCAN_LOCK:
        cached = _SCAN_CACHE.get(key)
        if cached is not None and cached[0] == stamps:
            return cached[1]
    report = _read_json(report_path)
    tables = [doc for p in sorted(tables_dir.glob("*.json")) if isinstance(doc := _read_json(p), dict)]
    profile = _read_json(profile_path) if profile_path is not None else None
    links = _read_json(report_path.parent / "enrichment" / "relationships.json")
    scan = ScanArtifacts(
        connection_id,
        report if isinstance(report, dict) else {},
        tables,
        profile if isinstance(profile, dict) else None,
        links if isinstance(links, dict) else None,
    )
    with _SCAN_LOCK:
        _SCAN_CACHE[key] = (stamps, scan)
    return scan
