"""Where a scan's artifacts live and how to read them. Other packages (search, MCP) read scan output only
through this module, so the layout under `raw-sources/<connection>/live-database/` has one owner."""

from __future__ import annotations

import json
import re
from pathlib import Path

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
