"""A loopback stand-in of Metabase's REST API (the endpoints ktx reads), shaped after Metabase's public API docs.

- Auth: the `x-api-key` header; anything else is `401` with the text body `Unauthenticated`, as Metabase answers.
- `/api/database` answers `{"data": [...], "total": n}` (0.45+), `/api/database/<id>/metadata` tables with fields.
- `/api/card`, `/api/segment`, `/api/legacy-metric` (or a 404 there when `legacy_metrics` is None, as 0.52+),
  `/api/collection`, `/api/collection/<id>/items` paged by `limit`/`offset` with `total`, `/api/dashboard/<id>` with
  `dashcards`.
- Scripted faults: `rate_limit[path] = n` answers that path `429` with `Retry-After: 1` n times first.
Every request is recorded (method, path with query, monotonic time) for the tests to assert on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import Request, Response, ScriptedApi


@dataclass
class MetabaseState:
    api_key: str
    databases: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[int, dict[str, Any]] = field(default_factory=dict)
    cards: list[Any] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)
    legacy_metrics: list[dict[str, Any]] | None = field(default_factory=list)
    collections: list[dict[str, Any]] = field(default_factory=list)
    dashboards: list[dict[str, Any]] = field(default_factory=list)
    rate_limit: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str, float]] = field(default_factory=list)


class MetabaseStandIn(ScriptedApi):
    state: Any

    def handle(self, request: Request) -> Response:
        state = self.state
        parts = urlsplit(request.path)
        path, query = parts.path.rstrip("/"), parse_qs(parts.query)
        if {k.lower(): v for k, v in request.headers.items()}.get("x-api-key") != state.api_key:
            return Response(401, b"Unauthenticated", {"Content-Type": "text/plain"})
        if self.rate_limited(path):
            return Response(429, b"Too many requests", {"Retry-After": "1"})
        if request.method != "GET":
            return Response(405, b"")
        if path == "/api/database":
            return Response.json(200, {"data": state.databases, "total": len(state.databases)})
        if path.startswith("/api/database/") and path.endswith("/metadata"):
            db_id = int(path.split("/")[3])
            found = state.metadata.get(db_id)
            return Response.json(200, found) if found is not None else Response(404, b"Not found.")
        if path == "/api/card":
            return Response.json(200, state.cards)
        if path == "/api/segment":
            return Response.json(200, state.segments)
        if path == "/api/legacy-metric":
            if state.legacy_metrics is None:
                return Response(404, b"API endpoint does not exist.")
            return Response.json(200, state.legacy_metrics)
        if path == "/api/metric":
            return Response(404, b"API endpoint does not exist.")
        if path == "/api/collection":
            return Response.json(200, state.collections)
        if path.startswith("/api/collection/") and path.endswith("/items"):
            key = path.split("/")[3]
            owner = None if key == "root" else int(key)
            models = query.get("models") or ["card", "dashboard"]
            items = [
                {"id": d["id"], "name": d["name"], "model": "dashboard"}
                for d in state.dashboards
                if d.get("collection_id") == owner and "dashboard" in models
            ]
            limit = int(query["limit"][0]) if "limit" in query else len(items)
            offset = int(query["offset"][0]) if "offset" in query else 0
            page = items[offset : offset + limit]
            return Response.json(
                200, {"data": page, "total": len(items), "limit": limit, "offset": offset, "models": models}
            )
        if path.startswith("/api/dashboard/"):
            dash_id = int(path.split("/")[3])
            for dashboard in state.dashboards:
                if dashboard["id"] == dash_id:
                    return Response.json(200, dashboard)
            return Response(404, b"Not found.")
        return Response(404, b"API endpoint does not exist.")

    def calls(self, path: str) -> list[float]:
        return [t for _, p, t in self.state.requests if urlsplit(p).path.rstrip("/") == path]
