"""Notion as a context source: pages and database rows read through the official client (`notion-client`), each
call paced by the ingest rate-limit governor (the client's own retries are off so a 429's `Retry-After` pauses
the whole run, not one thread).

The crawl starts at the configured roots (`root_page_ids`, `root_database_ids`, `root_data_source_ids`), or at
every page shared with the integration (`crawl_mode: all_accessible`, through search), and follows child pages and
child databases. It is incremental: a page whose `last_edited_time` equals the one staged by the last run is not
read again (its Markdown and children come from the staged snapshot). At most `max_pages_per_run` pages are
visited; a capped run keeps what it did not reach. Pages that are gone (trashed, unshared, deleted) are evicted
by a complete run. Memory holds one page's blocks at a time plus the Markdown already produced.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ktx.errors import KtxError
from ktx.sources.notion_markdown import block_lines, compact_id, page_title, property_text

DEFAULT_API = "https://api.notion.com"
MAX_DEPTH = 8  # nested blocks deeper than this are not read (Notion's UI nests far less)


class NotFound(Exception):
    pass


class NotionApi:
    def __init__(self, project: Any, connection_id: str, conn: Any) -> None:
        from notion_client import Client

        from ktx.sources.api import governor_for
        from ktx.sources.secrets import required_secret

        token = required_secret(project, connection_id, conn, "auth_token", "Notion integration token")
        base = str(getattr(conn, "api_url", None) or DEFAULT_API).rstrip("/")
        self.client = Client(auth=token, base_url=base, retry=False, timeout_ms=30_000)
        self.governor = governor_for(project.config)
        self.connection_id = connection_id
        self.calls = 0

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> NotionApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
        import httpx
        from notion_client.errors import HTTPResponseError, RequestTimeoutError

        from ktx.sources.api import ApiAuthError, Retryable, paced, retry_after_ms

        def once() -> Any:
            self.calls += 1
            try:
                return fn(**kwargs)
            except HTTPResponseError as exc:
                if exc.status == 429:
                    raise Retryable(429, retry_after_ms(exc.headers.get("retry-after")), "rate limited (429)") from None
                if exc.status >= 500:
                    raise Retryable(exc.status, None, f"server error {exc.status}") from None
                raise
            except RequestTimeoutError:
                raise Retryable(None, None, "timed out") from None
            except httpx.TransportError as exc:
                raise Retryable(None, None, f"connection failed ({type(exc).__name__})") from None

        try:
            result = paced(once, governor=self.governor, provider="notion", what=f"Notion {what}")
        except HTTPResponseError as exc:
            if exc.status == 401:
                raise ApiAuthError(
                    f"Notion refused the token (401 on {what}): create or refresh the integration's token "
                    f"(notion.so/my-integrations) and point connections.{self.connection_id}.auth_token_ref at it "
                    "(env:NAME or file:path)."
                ) from None
            if exc.status in (403, 404):
                raise NotFound(str(getattr(exc, "code", "") or exc.status)) from None
            raise KtxError(f"Notion {what} failed: {exc.status} {str(exc)[:200]}") from None
        if not isinstance(result, dict):
            raise KtxError(f"Notion {what} answered {type(result).__name__}, not an object")
        return result

    def paged(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """Every `results` item of a cursor-paged listing, one page of 100 at a time."""
        cursor = None
        while True:
            page = self.call(what, fn, **kwargs, page_size=100, **({"start_cursor": cursor} if cursor else {}))
            yield from page.get("results") or []
            cursor = page.get("next_cursor")
            if not page.get("has_more") or not cursor:
                return


def check(project: Any, connection_id: str, conn: Any) -> str:
    """The token is accepted (`users/me`) and, for each configured root, that it is shared with the integration."""
    with NotionApi(project, connection_id, conn) as api:
        me = api.call("users/me", api.client.users.me)
        missing = []
        for page_id in conn.root_page_ids:
            try:
                api.call(f"pages/{page_id}", api.client.pages.retrieve, page_id=page_id)
            except NotFound:
                missing.append(page_id)
        for database_id in conn.root_database_ids:
            try:
                api.call(f"databases/{database_id}", api.client.databases.retrieve, database_id=database_id)
            except NotFound:
                missing.append(database_id)
    if missing:
        raise KtxError(
            f"Notion: {', '.join(missing)} not found or not shared with the integration; share each root page "
            "with it (… → Connections) or fix root_page_ids / root_database_ids."
        )
    roots = len(conn.root_page_ids) + len(conn.root_database_ids) + len(conn.root_data_source_ids)
    who = me.get("name") or me.get("id")
    return f"integration {who}; " + (f"{roots} root(s) shared" if roots else "every shared page (all_accessible)")


def root_id(raw: str) -> str:
    """A page or database id from what a user pastes: the id (dashed or not) or the page's URL."""
    last = raw.strip().split("?")[0].split("#")[0].rstrip("/").split("/")[-1]
    return last.replace("-", "")[-32:].lower()


def classify_roots(project: Any, connection_id: str, conn: Any, ids: list[str]) -> tuple[list[str], list[str]]:
    """Which of `ids` are pages and which databases (as the integration sees them); one not found is an error."""
    pages: list[str] = []
    databases: list[str] = []
    missing: list[str] = []
    with NotionApi(project, connection_id, conn) as api:
        for raw in ids:
            item = root_id(raw)
            try:
                api.call(f"pages/{item}", api.client.pages.retrieve, page_id=item)
                pages.append(item)
                continue
            except NotFound:
                pass
            try:
                api.call(f"databases/{item}", api.client.databases.retrieve, database_id=item)
                databases.append(item)
            except NotFound:
                missing.append(raw)
    if missing:
        raise KtxError(
            f"Notion: {', '.join(missing)} not found or not shared with the integration; share each with it "
            "(… → Connections) and try again."
        )
    return pages, databases


@dataclass
class Crawl:
    pages: dict[str, dict[str, Any]] = field(default_factory=dict)  # compact id → staged page
    complete: bool = True
    fetched: int = 0  # pages whose blocks were read
    reused: int = 0  # unchanged pages taken from the last snapshot
    skipped_blocks: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    calls: int = 0


def previous_snapshot(folder: Path) -> dict[str, dict[str, Any]]:
    """The pages the last run staged (`raw-sources/<conn>/notion/snapshot/pages/*.json`)."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            page = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a damaged staged file is simply read again from Notion
        if isinstance(page, dict) and page.get("id"):
            out[str(page["id"])] = page
    return out


def crawl(project: Any, connection_id: str, conn: Any, previous: dict[str, dict[str, Any]], progress: Any) -> Crawl:
    out = Crawl()
    limit = int(conn.max_pages_per_run)
    queue: deque[tuple[str, str, str | None, dict[str, Any] | None]] = deque()  # kind, id, parent, known object
    for page_id in conn.root_page_ids:
        queue.append(("page", compact_id(page_id), None, None))
    for database_id in conn.root_database_ids:
        queue.append(("database", compact_id(database_id), None, None))
    for source_id in conn.root_data_source_ids:
        queue.append(("data_source", compact_id(source_id), None, None))
    progress.stage("Reading Notion pages")
    with NotionApi(project, connection_id, conn) as api:
        if conn.crawl_mode == "all_accessible":
            found = api.paged("search", api.client.search, filter={"property": "object", "value": "page"})
            for item in found:
                if isinstance(item, dict) and item.get("id"):
                    queue.append(("page", compact_id(item["id"]), None, item))
        seen: set[str] = set()
        while queue:
            kind, item_id, parent, known = queue.popleft()
            if item_id in seen:
                continue
            seen.add(item_id)
            if len(out.pages) >= limit:
                out.complete = False
                out.warnings.append(
                    f"notion_capped:{connection_id}: max_pages_per_run ({limit}) reached; the rest is read by the "
                    "next run, and pages not reached keep their last version"
                )
                break
            try:
                if kind == "database":
                    _database(api, item_id, parent, queue, out)
                elif kind == "data_source":
                    for row in api.paged(
                        f"data_sources/{item_id}/query", api.client.data_sources.query, data_source_id=item_id
                    ):
                        if isinstance(row, dict) and row.get("object") == "page" and row.get("id"):
                            queue.append(("page", compact_id(row["id"]), parent, row))
                else:
                    _page(api, item_id, parent, known, previous, queue, out)
            except NotFound:
                if parent is None:
                    out.warnings.append(
                        f"notion_not_shared:{item_id}: not found or not shared with the integration; skipped"
                    )
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                out.warnings.append(f"notion_malformed:{item_id}: {type(exc).__name__}: {exc}; skipped")
            progress.advance()
        out.calls = api.calls
    return out


def _database(api: NotionApi, item_id: str, parent: str | None, queue: deque, out: Crawl) -> None:
    database = api.call(f"databases/{item_id}", api.client.databases.retrieve, database_id=item_id)
    if database.get("in_trash") or database.get("archived"):
        return
    sources = [s for s in database.get("data_sources") or [] if isinstance(s, dict) and s.get("id")]
    out.pages[item_id] = {
        "id": item_id,
        "kind": "database",
        "title": page_title(database),
        "url": database.get("url"),
        "last_edited_time": database.get("last_edited_time"),
        "parent": parent,
        "children": [],
        "markdown": "",
    }
    for source in sources:
        queue.appendleft(("data_source", compact_id(source["id"]), item_id, None))


def _page(
    api: NotionApi,
    item_id: str,
    parent: str | None,
    known: dict[str, Any] | None,
    previous: dict[str, dict[str, Any]],
    queue: deque,
    out: Crawl,
) -> None:
    page = known if known is not None else api.call(f"pages/{item_id}", api.client.pages.retrieve, page_id=item_id)
    if page.get("in_trash") or page.get("archived"):
        return
    edited = page.get("last_edited_time")
    if not isinstance(edited, str):
        raise ValueError("the page has no last_edited_time")
    before = previous.get(item_id)
    if before and before.get("last_edited_time") == edited and before.get("kind") == "page":
        staged = dict(before, parent=parent or before.get("parent"))
        out.reused += 1
    else:
        children: list[dict[str, str]] = []
        lines = _blocks(api, item_id, children, out.skipped_blocks, 0)
        properties = {
            name: text
            for name, prop in (page.get("properties") or {}).items()
            if isinstance(prop, dict) and prop.get("type") != "title" and (text := property_text(prop))
        }
        staged = {
            "id": item_id,
            "kind": "page",
            "title": page_title(page),
            "url": page.get("url"),
            "last_edited_time": edited,
            "parent": parent,
            "properties": properties,
            "children": children,
            "markdown": "\n".join(lines).strip() + "\n",
        }
        out.fetched += 1
    out.pages[item_id] = staged
    for child in staged.get("children") or []:
        queue.append((child["kind"], child["id"], item_id, None))
    if parent and parent in out.pages:
        siblings = out.pages[parent].setdefault("children", [])
        if out.pages[parent].get("kind") == "database" and {"kind": "page", "id": item_id} not in siblings:
            siblings.append({"kind": "page", "id": item_id})


def _blocks(
    api: NotionApi, block_id: str, children: list[dict[str, str]], counter: dict[str, int], depth: int
) -> list[str]:
    lines: list[str] = []
    for block in api.paged(f"blocks/{block_id}/children", api.client.blocks.children.list, block_id=block_id):
        if not isinstance(block, dict) or not block.get("type"):
            counter["malformed"] = counter.get("malformed", 0) + 1
            continue
        kind = block["type"]
        inner: list[str] = []
        if kind == "child_page":
            children.append({"kind": "page", "id": compact_id(block["id"])})
        elif kind == "child_database":
            children.append({"kind": "database", "id": compact_id(block["id"])})
        elif block.get("has_children") and depth < MAX_DEPTH:
            inner = _blocks(api, block["id"], children, counter, depth + 1)
        lines += block_lines(block, inner, counter)
    return lines
