"""A loopback stand-in of Notion's public API (version 2025-09-03 shapes: databases hold data sources), for the
real `notion-client` library pointed at it with `base_url`.

- Auth: `Authorization: Bearer <token>` and a `Notion-Version` header; otherwise the API's error object
  (`{"object": "error", "status": 401, "code": "unauthorized", ...}`).
- `GET /v1/users/me`, `GET /v1/pages/<id>`, `GET /v1/blocks/<id>/children` (cursor-paged), `GET /v1/databases/<id>`,
  `POST /v1/data_sources/<id>/query` (cursor-paged), `POST /v1/search` (cursor-paged).
- Unknown or trashed-and-purged ids: `404 object_not_found`. `max_page_size` caps every page of results (the API
  may return fewer than `page_size`), so paging is exercised on small workspaces.
- Scripted faults: `rate_limit[path] = n` answers `429 rate_limited` with `Retry-After: 1` n times first.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import Request, Response, ScriptedApi


def dashed(compact: str) -> str:
    return str(uuid.UUID(compact))


def text(content: str, **annotations: bool) -> dict[str, Any]:
    return {
        "type": "text",
        "text": {"content": content, "link": None},
        "plain_text": content,
        "href": None,
        "annotations": {"bold": False, "italic": False, "code": False, "strikethrough": False, **annotations},
    }


def mention(page_id: str, label: str) -> dict[str, Any]:
    return {
        "type": "mention",
        "mention": {"type": "page", "page": {"id": dashed(page_id)}},
        "plain_text": label,
        "href": f"https://www.notion.so/{page_id}",
        "annotations": {},
    }


def block(kind: str, *rich: dict[str, Any], children: list[dict[str, Any]] | None = None, **body: Any) -> dict:
    payload = {"rich_text": list(rich), **body} if kind not in ("divider", "child_page", "child_database") else body
    out = {"object": "block", "id": dashed(uuid.uuid4().hex), "type": kind, kind: payload, "has_children": False}
    if children:
        out["has_children"] = True
        out["_children"] = children
    return out


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"object": "error", "status": status, "code": code, "message": message}).encode()
    return Response(status, body, {"Content-Type": "application/json", **(headers or {})})


@dataclass
class NotionState:
    token: str
    pages: dict[str, dict[str, Any]] = field(default_factory=dict)  # compact id → page (with "_blocks")
    databases: dict[str, dict[str, Any]] = field(default_factory=dict)  # compact id → database (with "_sources")
    data_sources: dict[str, list[str]] = field(default_factory=dict)  # compact id → row page ids
    max_page_size: int = 100
    rate_limit: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str, float]] = field(default_factory=list)

    def add_page(
        self, page_id: str, title: str, blocks: list[dict[str, Any]], *, edited: str = "2026-11-01T10:00:00.000Z",
        properties: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        self.pages[page_id] = {
            "object": "page",
            "id": dashed(page_id),
            "created_time": "2026-01-01T00:00:00.000Z",
            "last_edited_time": edited,
            "in_trash": False,
            "url": f"https://www.notion.so/{title.replace(' ', '-')}-{page_id}",
            "properties": {"title": {"id": "title", "type": "title", "title": [text(title)]}, **(properties or {})},
            "_blocks": blocks,
        }


class NotionStandIn(ScriptedApi):
    state: Any

    def _children_of(self, block_id: str) -> list[dict[str, Any]] | None:
        """A page's blocks, or a nested block's children (searched only for those, which are rare)."""
        page = self.state.pages.get(block_id)
        if page is not None:
            return page.get("_blocks") or []

        def walk(blocks: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
            for b in blocks:
                if b.get("_children"):
                    if b["id"].replace("-", "") == block_id:
                        return b["_children"]
                    found = walk(b["_children"])
                    if found is not None:
                        return found
            return None

        for page in self.state.pages.values():
            found = walk(page.get("_blocks") or [])
            if found is not None:
                return found
        return None

    def _paged(self, items: list[Any], size: Any, cursor: Any) -> Response:
        size = min(int(size or 100), self.state.max_page_size)
        start = int(cursor or 0)
        page = items[start : start + size]
        more = start + size < len(items)
        return Response.json(
            200,
            {"object": "list", "results": page, "next_cursor": str(start + size) if more else None, "has_more": more},
        )

    @staticmethod
    def _public(item: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item.items() if not k.startswith("_")}

    def handle(self, request: Request) -> Response:
        state = self.state
        parts = urlsplit(request.path)
        path, query = parts.path.rstrip("/"), parse_qs(parts.query)
        headers = {k.lower(): v for k, v in request.headers.items()}
        if headers.get("authorization") != f"Bearer {state.token}":
            return error(401, "unauthorized", "API token is invalid.")
        if not headers.get("notion-version"):
            return error(400, "missing_version", "Notion-Version header failed validation.")
        if self.rate_limited(path):
            return error(429, "rate_limited", "You have been rate limited.", {"Retry-After": "1"})
        segments = path.split("/")[2:]  # after /v1
        body = request.json() if request.method == "POST" else {}
        if segments == ["users", "me"]:
            return Response.json(200, {"object": "user", "id": dashed(uuid.uuid4().hex), "name": "ktx", "type": "bot"})
        if segments[:1] == ["pages"] and len(segments) == 2:
            page = state.pages.get(segments[1].replace("-", ""))
            return Response.json(200, self._public(page)) if page else error(404, "object_not_found", "Not found.")
        if segments[:1] == ["blocks"] and segments[2:] == ["children"]:
            blocks = self._children_of(segments[1].replace("-", ""))
            if blocks is None:
                return error(404, "object_not_found", "Could not find block.")
            public = [self._public(b) for b in blocks]
            return self._paged(public, (query.get("page_size") or [None])[0], (query.get("start_cursor") or [None])[0])
        if segments[:1] == ["databases"] and len(segments) == 2:
            database = state.databases.get(segments[1].replace("-", ""))
            return Response.json(200, database) if database else error(404, "object_not_found", "Not found.")
        if segments[:1] == ["data_sources"] and segments[2:] == ["query"] and request.method == "POST":
            rows = state.data_sources.get(segments[1].replace("-", ""))
            if rows is None:
                return error(404, "object_not_found", "Not found.")
            items = [self._public(state.pages[r]) if r in state.pages else {"object": "page", "id": r} for r in rows]
            return self._paged(items, body.get("page_size"), body.get("start_cursor"))
        if segments == ["search"] and request.method == "POST":
            items = [self._public(p) for p in state.pages.values() if not p.get("in_trash")]
            return self._paged(items, body.get("page_size"), body.get("start_cursor"))
        return error(400, "invalid_request_url", "Invalid request URL.")

    def calls(self, prefix: str) -> list[float]:
        return [t for _, p, t in self.state.requests if urlsplit(p).path.startswith(prefix)]
