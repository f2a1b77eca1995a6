"""Metabase as a context source: what its REST API says, fetched with a plain HTTP client and staged as JSON files.

Read (API key in the `x-api-key` header): databases (`/api/database`, each one's tables and fields from
`/api/database/<id>/metadata`), saved questions, models and metrics (`/api/card`), segments (`/api/segment`),
legacy metrics (`/api/legacy-metric`, `/api/metric` on releases before 0.50), collections (`/api/collection`), and
dashboards (each collection's items, paged, then `/api/dashboard/<id>`). A database's connection `details` are
reduced to what identifies it (engine, host, port, database name): Metabase returns its password there too.
An item the API returns in a shape ktx cannot read is skipped with a warning naming it, never the whole run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ktx.errors import KtxError

# The `details` keys that identify a database (Metabase also returns credentials there: never staged).
IDENTIFYING_DETAILS = ("host", "port", "dbname", "db", "database", "database_file", "project-id", "dataset-id",
                       "account", "warehouse", "catalog")  # fmt: skip
FIELD_KEYS = ("id", "name", "display_name", "description", "semantic_type", "base_type", "fk_target_field_id",
              "visibility_type")  # fmt: skip
PAGE_SIZE = 100
MAX_PAGES = 10_000  # a collection that keeps answering "more" stops here, with a warning


@dataclass
class MetabaseSnapshot:
    databases: list[dict[str, Any]] = field(default_factory=list)  # with `tables` (and their `fields`) when mapped
    cards: list[dict[str, Any]] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)  # legacy metrics
    collections: list[dict[str, Any]] = field(default_factory=list)
    dashboards: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    calls: int = 0

    def files(self) -> dict[str, str]:
        """The raw snapshot, one JSON file per item (what work units and the next run's diff read)."""
        out: dict[str, str] = {}
        for folder, items in (
            ("databases", self.databases),
            ("cards", self.cards),
            ("segments", self.segments),
            ("metrics", self.metrics),
            ("collections", self.collections),
            ("dashboards", self.dashboards),
        ):
            for item in items:
                out[f"{folder}/{item['id']}.json"] = (
                    json.dumps(item, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
                )
        return out


def client(project: Any, connection_id: str, conn: Any) -> Any:
    from ktx.sources.api import JsonApi, governor_for
    from ktx.sources.secrets import required_secret

    url = str(conn.api_url or "").strip()
    if not url:
        raise KtxError(f"connections.{connection_id}.api_url is not set.", hint="Set it to your Metabase's URL.")
    if not re.match(r"^https?://", url):
        raise KtxError(f"connections.{connection_id}.api_url {url!r} is not an http(s) URL.")
    key = required_secret(project, connection_id, conn, "api_key", "Metabase API key")
    return JsonApi(
        url.removesuffix("/api").rstrip("/"),
        {"x-api-key": key, "accept": "application/json"},
        governor=governor_for(project.config),
        provider="metabase",
        label="Metabase",
        auth_hint=(
            "Create an API key in Metabase (Admin settings → Authentication → API keys) and point "
            f"connections.{connection_id}.api_key_ref at it (env:NAME or file:path)."
        ),
    )


def check(project: Any, connection_id: str, conn: Any) -> str:
    """A live check: the key is accepted and the databases can be listed. Returns what was found."""
    with client(project, connection_id, conn) as api:
        databases = _listing(api.get("/api/database"))
    names = ", ".join(sorted(str(d.get("name")) for d in databases if isinstance(d, dict))[:5])
    return f"{len(databases)} database{'s' if len(databases) != 1 else ''}" + (f" ({names})" if names else "")


def _listing(payload: Any) -> list[Any]:
    """`/api/database` and friends answer a list, or `{"data": [...]}` on newer releases."""
    if isinstance(payload, dict) and isinstance(payload.get("data"), list):
        return list(payload["data"])
    if isinstance(payload, list):
        return payload
    raise KtxError(f"Metabase answered {type(payload).__name__} where a list was expected")


def _items(payload: Any, what: str, warnings: list[str]) -> list[dict[str, Any]]:
    """The items of a listing that have an id; each other one is said and skipped."""
    out = []
    for index, item in enumerate(_listing(payload)):
        if not isinstance(item, dict) or not isinstance(item.get("id"), int | str) or isinstance(item.get("id"), bool):
            warnings.append(f"metabase_malformed:{what}[{index}]: not an object with an id; skipped")
            continue
        out.append(item)
    return out


def fetch(project: Any, connection_id: str, conn: Any, mapped: Any, progress: Any) -> MetabaseSnapshot:
    """Everything the projection reads. `mapped(database)` says whether a database's tables are wanted."""
    snap = MetabaseSnapshot()
    warnings = snap.warnings
    with client(project, connection_id, conn) as api:
        progress.stage("Reading Metabase databases")
        for db in _items(api.get("/api/database"), "databases", warnings):
            details = db.get("details") if isinstance(db.get("details"), dict) else {}
            kept = {k: details[k] for k in IDENTIFYING_DETAILS if k in details and not isinstance(details[k], dict)}
            entry = {
                "id": db["id"],
                "name": str(db.get("name") or db["id"]),
                "engine": str(db.get("engine") or ""),
                "details": kept,
                "description": db.get("description"),
            }
            if mapped(entry):
                meta = api.get(f"/api/database/{db['id']}/metadata", params={"include_hidden": "true"})
                entry["tables"] = _tables(meta, db["id"], warnings)
            snap.databases.append(entry)
        progress.stage("Reading Metabase questions")
        snap.cards = [_card(c) for c in _items(api.get("/api/card", params={"f": "all"}), "cards", warnings)]
        snap.segments = _items(api.request("GET", "/api/segment", not_found=[]), "segments", warnings)
        metrics = api.request("GET", "/api/legacy-metric", not_found=None)
        if metrics is None:  # releases before 0.50 call them /api/metric; 0.52+ has neither (metrics are cards)
            metrics = api.request("GET", "/api/metric", not_found=[])
        snap.metrics = _items(metrics, "metrics", warnings)
        snap.collections = [
            {k: c.get(k) for k in ("id", "name", "description", "location", "archived", "personal_owner_id")}
            for c in _items(api.get("/api/collection"), "collections", warnings)
        ]
        progress.stage("Reading Metabase dashboards")
        seen: set[Any] = set()
        for collection_id in ["root", *[c["id"] for c in snap.collections if not c.get("archived")]]:
            for item in _paged(api, f"/api/collection/{collection_id}/items", {"models": "dashboard"}, warnings):
                if item.get("model", "dashboard") != "dashboard" or item["id"] in seen:
                    continue
                seen.add(item["id"])
                dashboard = api.request("GET", f"/api/dashboard/{item['id']}", not_found=None)
                if not isinstance(dashboard, dict) or "id" not in dashboard:
                    warnings.append(f"metabase_malformed:dashboards/{item['id']}: unreadable or gone; skipped")
                    continue
                snap.dashboards.append(_dashboard(dashboard))
        snap.calls = api.calls
    return snap


def _paged(api: Any, path: str, params: dict[str, Any], warnings: list[str]) -> list[dict[str, Any]]:
    """Every item of a `{data, total, limit, offset}` listing, `PAGE_SIZE` at a time."""
    out: list[dict[str, Any]] = []
    offset = 0
    for _ in range(MAX_PAGES):
        payload = api.get(path, params={**params, "limit": PAGE_SIZE, "offset": offset})
        items = _items(payload, path, warnings)
        out += items
        raw = payload.get("data") if isinstance(payload, dict) else payload
        total = payload.get("total") if isinstance(payload, dict) else None
        count = len(raw) if isinstance(raw, list) else 0
        offset += count
        if count == 0 or not isinstance(total, int) or offset >= total:
            return out
    warnings.append(f"metabase_paging_stopped:{path}: more than {MAX_PAGES} pages; the rest was not read")
    return out


def _tables(meta: Any, db_id: Any, warnings: list[str]) -> list[dict[str, Any]]:
    if not isinstance(meta, dict) or not isinstance(meta.get("tables"), list):
        warnings.append(f"metabase_malformed:databases/{db_id}/metadata: no tables list; its tables are not read")
        return []
    tables = []
    for t in meta["tables"]:
        if not isinstance(t, dict) or not isinstance(t.get("id"), int) or not t.get("name"):
            warnings.append(f"metabase_malformed:databases/{db_id}/metadata: a table without id or name; skipped")
            continue
        fields = [
            {k: f.get(k) for k in FIELD_KEYS}
            for f in t.get("fields") or []
            if isinstance(f, dict) and isinstance(f.get("id"), int) and f.get("name")
        ]
        tables.append(
            {
                **{k: t.get(k) for k in ("id", "name", "schema", "display_name", "description", "entity_type")},
                "visibility_type": t.get("visibility_type"),
                "fields": fields,
            }
        )
    return tables


CARD_KEYS = ("id", "name", "description", "type", "archived", "collection_id", "database_id", "table_id",
             "dataset_query", "display", "view_count", "result_metadata", "entity_id")  # fmt: skip


def _card(card: dict[str, Any]) -> dict[str, Any]:
    out = {k: card.get(k) for k in CARD_KEYS if k in card}
    out["type"] = card.get("type") or ("model" if card.get("dataset") else "question")
    if isinstance(out.get("result_metadata"), list):
        out["result_metadata"] = [
            {k: c.get(k) for k in ("name", "display_name", "base_type", "semantic_type", "description")}
            for c in out["result_metadata"]
            if isinstance(c, dict)
        ]
    return out


def _dashboard(dashboard: dict[str, Any]) -> dict[str, Any]:
    tiles = dashboard.get("dashcards")
    if tiles is None:
        tiles = dashboard.get("ordered_cards")  # releases before 0.47
    out_tiles = []
    for tile in tiles if isinstance(tiles, list) else []:
        if not isinstance(tile, dict):
            continue
        card = tile.get("card") if isinstance(tile.get("card"), dict) else {}
        settings = tile.get("visualization_settings") if isinstance(tile.get("visualization_settings"), dict) else {}
        out_tiles.append(
            {
                "id": tile.get("id"),
                "card_id": tile.get("card_id") or card.get("id"),
                "card_name": card.get("name"),
                "text": settings.get("text"),
                "row": tile.get("row"),
                "col": tile.get("col"),
            }
        )
    return {
        "id": dashboard["id"],
        "name": str(dashboard.get("name") or dashboard["id"]),
        "description": dashboard.get("description"),
        "collection_id": dashboard.get("collection_id"),
        "archived": bool(dashboard.get("archived")),
        "tiles": sorted(out_tiles, key=lambda t: (t.get("row") or 0, t.get("col") or 0)),
    }
