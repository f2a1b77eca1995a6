"""A loopback stand-in of Looker's API 4.0 (the endpoints ktx reads), for the real `looker-sdk` pointed at it.

- `POST /api/4.0/login` takes the form `client_id`/`client_secret` and answers an access token; wrong credentials
  are `404 Not found`, as Looker answers them. Every other call needs `Authorization: Bearer <token>` (else 401).
- `GET /user`, `/lookml_models`, `/lookml_models/<model>/explores/<explore>`, `/looks`, `/dashboards`,
  `/dashboards/<id>`; `POST /queries/run/json` answers System Activity rows (or 403 when `usage` is None, as for a
  user without `see_system_activity`).
- Scripted faults: `rate_limit[path] = n` answers `429` with `Retry-After: 1` n times first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import Request, Response, ScriptedApi

PREFIX = "/api/4.0"


def _error(status: int, message: str) -> Response:
    body = {"message": message, "documentation_url": "https://cloud.google.com/looker/docs/"}
    return Response.json(status, body)


@dataclass
class LookerState:
    client_id: str
    client_secret: str
    models: list[dict[str, Any]] = field(default_factory=list)
    explores: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    looks: list[dict[str, Any]] = field(default_factory=list)
    dashboards: list[dict[str, Any]] = field(default_factory=list)
    usage: list[dict[str, Any]] | None = field(default_factory=list)
    rate_limit: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str, float]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)


class LookerStandIn(ScriptedApi):
    state: Any

    def handle(self, request: Request) -> Response:
        state = self.state
        parts = urlsplit(request.path)
        path = parts.path.removeprefix(PREFIX).rstrip("/")
        if self.rate_limited(path):
            return Response(429, b'{"message": "Too many requests"}', {"Retry-After": "1"})
        if path == "/login" and request.method == "POST":
            form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
            if (form.get("client_id"), form.get("client_secret")) != (state.client_id, state.client_secret):
                return _error(404, "Not found")
            token = f"tok{len(state.tokens) + 1}"
            state.tokens.add(token)
            return Response.json(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})
        auth = {k.lower(): v for k, v in request.headers.items()}.get("authorization", "")
        if auth.removeprefix("Bearer ").removeprefix("token ") not in state.tokens:
            return _error(401, "Requires authentication.")
        if path == "/logout":
            return Response(204)
        if path == "/user":
            return Response.json(200, {"id": "7", "display_name": "ktx reader", "email": "ktx@example.com"})
        if path == "/lookml_models":
            return Response.json(200, state.models)
        if path.startswith("/lookml_models/") and "/explores/" in path:
            _, _, model, _, explore = path.split("/")
            found = state.explores.get((model, explore))
            return Response.json(200, found) if found else _error(404, "Not found")
        if path == "/looks":
            return Response.json(200, [{"id": look["id"], "title": look.get("title")} for look in state.looks])
        if path.startswith("/looks/"):
            for look in state.looks:
                if str(look["id"]) == path.split("/")[2]:
                    return Response.json(200, look)
            return _error(404, "Not found")
        if path == "/dashboards":
            return Response.json(200, [{"id": d["id"]} for d in state.dashboards])
        if path.startswith("/dashboards/"):
            for dashboard in state.dashboards:
                if str(dashboard["id"]) == path.split("/")[2]:
                    return Response.json(200, dashboard)
            return _error(404, "Not found")
        if path == "/queries/run/json" and request.method == "POST":
            query = json.loads(request.body or b"{}")
            if query.get("model") != "system__activity":
                return _error(404, "Not found")
            if state.usage is None:
                return _error(403, "You do not have permission to see System Activity.")
            return Response.json(200, state.usage)
        return _error(404, "Not found")

    def calls(self, path: str) -> list[float]:
        return [t for _, p, t in self.state.requests if urlsplit(p).path == PREFIX + path]
