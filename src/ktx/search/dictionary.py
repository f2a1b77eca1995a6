"""Dictionary search: which columns hold a value someone mentioned ("Acme", "EMEA"), from the values a scan
sampled. A miss is not proof of absence: only sampled values of low-cardinality text columns are searched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ktx.scan.artifacts import latest_scan, load_profile_dictionary


def _coverage(root: Path, connection_id: str) -> dict[str, Any] | None:
    scan = latest_scan(root, connection_id)
    profile = scan.profile if scan is not None else None
    if not profile:
        return None
    return {
        "sampledRows": profile.get("profileSampleRows"),
        "valuesPerColumn": profile.get("sampleValuesPerColumn"),
        "profiledColumns": sum(len(t.get("columns", [])) for t in profile.get("tables", [])),
        "syncId": profile.get("syncId") or scan.report.get("syncId"),
        "profiledAt": profile.get("profiledAt") or scan.report.get("createdAt"),
    }


def dictionary_search(root: Path, connection_ids: list[str], values: list[str]) -> dict[str, Any]:
    """Case-insensitive substring matches of each value against each connection's sampled values."""
    searched = []
    entries: dict[str, list[tuple[str, str, str, int | None]]] = {}
    for connection_id in connection_ids:
        coverage = _coverage(root, connection_id)
        dictionary = load_profile_dictionary(root, connection_id) if coverage is not None else []
        status = "no_profile_artifact" if coverage is None else ("ready" if dictionary else "no_candidate_columns")
        entries[connection_id] = dictionary
        searched.append(
            {
                "connectionId": connection_id,
                "coverage": coverage
                or {
                    "sampledRows": None,
                    "valuesPerColumn": None,
                    "profiledColumns": 0,
                    "syncId": None,
                    "profiledAt": None,
                },
                "status": status,
            }
        )
    statuses = {s["connectionId"]: s["status"] for s in searched}
    results = []
    for value in values:
        needle = value.strip().lower()
        matches, misses = [], []
        for connection_id in connection_ids:
            hits = [
                {
                    "connectionId": connection_id,
                    "sourceName": source,
                    "columnName": column,
                    "matchedValue": sampled,
                    "cardinality": cardinality,
                }
                for source, column, sampled, cardinality in entries[connection_id]
                if needle and needle in sampled.lower()
            ]
            # Exact matches first, then shorter values (closer to what was asked).
            hits.sort(key=lambda h: (h["matchedValue"].lower() != needle, len(h["matchedValue"]), h["sourceName"]))
            matches += hits
            if not hits:
                status = statuses[connection_id]
                misses.append(
                    {"connectionId": connection_id, "reason": "value_not_in_sample" if status == "ready" else status}
                )
        results.append({"value": value, "matches": matches, "misses": misses})
    return {"searched": searched, "results": results}
