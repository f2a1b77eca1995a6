"""A memory capture session: the tools the memory agent may call, writing into a staged change set (nothing
touches the project until the run's gates pass and its one commit lands).

Reviewed definitions are never overwritten. A new page or measure is created; an existing page can only gain a
section; a measure or segment that exists with a different definition is refused and recorded as a conflict with
both versions, for a person to settle."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ktx.errors import KtxError
from ktx.tools import Tool

if TYPE_CHECKING:
    from ktx.memory.state import MemoryState
    from ktx.services import Services

KEY = r"^[a-z0-9][a-z0-9_-]*$"


class SearchArgs(BaseModel):
    query: str = Field(min_length=1)
    limit: int = Field(8, ge=1, le=25)


class KeyArgs(BaseModel):
    key: str = Field(min_length=1)


class WriteArgs(BaseModel):
    key: str = Field(pattern=KEY, max_length=120, description="Flat page key, e.g. 'churn-definition'.")
    summary: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1, max_length=4000, description="Markdown body.")
    tags: list[str] = Field(default_factory=list)
    sl_refs: list[str] = Field(default_factory=list, description="'<connection>/<source>' the page explains.")


class AppendArgs(BaseModel):
    key: str = Field(pattern=KEY)
    heading: str = Field(min_length=1, max_length=120)
    text: str = Field(min_length=1, max_length=4000)


class SourceArgs(BaseModel):
    source: str = Field(min_length=1)


class MeasureArgs(BaseModel):
    source: str = Field(min_length=1)
    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    expr: str = Field(min_length=1, description="Aggregate SQL over the source's columns, e.g. 'sum(amount)'.")
    description: str = Field("", max_length=300)


class SegmentArgs(BaseModel):
    source: str = Field(min_length=1)
    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    expr: str = Field(min_length=1, description="A boolean condition on the source's columns.")
    description: str = Field("", max_length=300)


class ConflictArgs(BaseModel):
    target: str = Field(pattern="^(wiki|sl)$")
    key: str = Field(min_length=1, description="Page key, or '<source>.<measure>' for the semantic layer.")
    reviewed: str = Field(min_length=1, description="What the project says now.")
    proposed: str = Field(min_length=1, description="What the captured text says instead.")
    reason: str = Field("", max_length=500)


def _norm(sql: str) -> str:
    return re.sub(r"\s+", " ", sql.strip().lower())


class MemorySession:
    def __init__(
        self, services: Services, state: MemoryState, run_id: str, label: str, connection_id: str | None
    ) -> None:
        self.services, self.state, self.run_id, self.label = services, state, run_id, label
        self.connection_id = connection_id
        self.root = services.project.root
        self.files: dict[str, str] = {}
        self.captured: dict[str, set[str]] = {"wiki": set(), "sl": set(), "xrefs": set()}
        self.conflicts: list[str] = []
        # Pages written earlier in this same run (reconciliation may rewrite or drop them; reviewed pages, never).
        self.replaceable: set[str] = set()
        self.removed: set[str] = set()

    # --- wiki ---------------------------------------------------------------------------------

    def _page(self, key: str) -> tuple[dict[str, Any], str] | None:
        from ktx.wiki.page import parse_page_text

        rel = f"wiki/global/{key}.md"
        if rel in self.files:
            return parse_page_text(self.files[rel])
        page = self.services.wiki.read(key)
        return (dict(page.frontmatter), page.body) if page is not None else None

    def _known_keys(self) -> set[str]:
        staged = {p.rsplit("/", 1)[-1][:-3] for p in self.files if p.startswith("wiki/global/")}
        return self.services.wiki.keys(None) | staged

    def _check_links(self, key: str, body: str, sl_refs: list[str]) -> None:
        from ktx.wiki.page import WIKILINK

        missing = [
            m.group(1).strip() for m in WIKILINK.finditer(body) if m.group(1).strip() not in self._known_keys() | {key}
        ]
        if missing:
            raise KtxError(f"wiki references target missing page(s): {', '.join(sorted(set(missing)))}")
        for ref in sl_refs:
            conn, _, source = ref.partition("/")
            if not source or source not in self._source_names(conn):
                raise KtxError(f"sl_refs entry {ref!r} is not a semantic-layer source ('<connection>/<source>')")
        if sl_refs or WIKILINK.search(body):
            self.captured["xrefs"].add(key)

    def wiki_search(self, args: SearchArgs) -> str:
        outcome = self.services.search.search_wiki(args.query, limit=args.limit)
        if not outcome.items:
            return "No wiki pages match."
        return "\n".join(f"- {i['key']}: {i['summary']}" for i in outcome.items)

    def wiki_read(self, args: KeyArgs) -> str:
        page = self._page(args.key)
        if page is None:
            raise KtxError(f'Wiki page "{args.key}" was not found.')
        frontmatter, body = page
        return f"summary: {frontmatter.get('summary', '')}\ntags: {frontmatter.get('tags') or []}\n\n{body}"

    def wiki_write(self, args: WriteArgs) -> str:
        from ktx.wiki.page import render_page

        if self._page(args.key) is not None and args.key not in self.replaceable:
            raise KtxError(
                f'Wiki page "{args.key}" already exists and is reviewed: add to it with wiki_append, or call '
                "report_conflict if the text contradicts it."
            )
        self._check_links(args.key, args.content, args.sl_refs)
        frontmatter: dict[str, Any] = {"summary": args.summary, "tags": args.tags, "usage_mode": "auto"}
        if args.sl_refs:
            frontmatter["sl_refs"] = args.sl_refs
        frontmatter["source"] = "memory"
        self.files[f"wiki/global/{args.key}.md"] = render_page(frontmatter, args.content)
        self.captured["wiki"].add(args.key)
        return f"Staged new page {args.key}."

    def wiki_append(self, args: AppendArgs) -> str:
        from ktx.wiki.page import render_page

        page = self._page(args.key)
        if page is None:
            raise KtxError(f'Wiki page "{args.key}" was not found; create it with wiki_write.')
        frontmatter, body = page
        self._check_links(args.key, args.text, [])
        self.files[f"wiki/global/{args.key}.md"] = render_page(
            frontmatter, f"{body.rstrip()}\n\n## {args.heading}\n\n{args.text.strip()}\n"
        )
        self.captured["wiki"].add(args.key)
        return f"Staged a new section on {args.key}."

    def wiki_drop(self, args: KeyArgs) -> str:
        if args.key not in self.replaceable:
            raise KtxError(f'Only pages written in this run can be dropped; "{args.key}" is not one.')
        self.files.pop(f"wiki/global/{args.key}.md", None)
        self.captured["wiki"].discard(args.key)
        self.removed.add(args.key)
        return f"Dropped {args.key} from this run's changes."

    # --- semantic layer -------------------------------------------------------------------------

    def _source_names(self, connection_id: str) -> set[str]:
        from ktx.semantic.summaries import read_sources

        return {s.name for s in read_sources(self.root, connection_id)}

    def _require_connection(self) -> str:
        if not self.connection_id:
            raise KtxError("No connection for this capture: semantic-layer tools need --connection-id.")
        return self.connection_id

    def sl_list_sources(self, _: BaseModel) -> str:
        from ktx.semantic.summaries import read_sources

        conn = self._require_connection()
        lines = []
        for source in read_sources(self.root, conn):
            measures = ", ".join(n for n, _, _ in source.measures) or "none"
            lines.append(f"- {source.name} ({source.table or 'sql'}): measures {measures}")
        return "\n".join(lines) or "No sources."

    def sl_read_source(self, args: SourceArgs) -> str:
        from ktx.semantic.service import read_source_yaml

        conn = self._require_connection()
        staged = self.files.get(self._overlay_path(conn, args.source))
        base = read_source_yaml(self.root, conn, args.source)
        return base if staged is None else f"{base}\n# staged overlay changes:\n{staged}"

    def _overlay_path(self, conn: str, source: str) -> str:
        """The file a person edits for this source: its overlay or standalone file, else a new overlay."""
        from pathlib import Path

        from ktx.semantic.loader import source_dicts

        _, origins, _ = source_dicts(self.root / "semantic-layer" / conn)
        origin = origins.get(source)
        if origin and "_schema" not in Path(origin).parts:
            return str(Path(origin).resolve().relative_to(self.root))
        return f"semantic-layer/{conn}/{source}.yaml"

    def _definitions(self, conn: str, source: str, kind: str) -> dict[str, str]:
        from ktx.project.yamlio import safe_load
        from ktx.semantic.service import read_source_yaml

        data = safe_load(read_source_yaml(self.root, conn, source)) or {}
        staged = self.files.get(self._overlay_path(conn, source))
        items = list(data.get(kind) or []) + list((safe_load(staged) or {}).get(kind) or [] if staged else [])
        return {str(i.get("name")): str(i.get("expr", "")) for i in items if isinstance(i, dict)}

    def _add(self, source: str, kind: str, item: dict[str, Any]) -> str:
        from ktx.project.yamlio import dump_yaml, roundtrip_load

        conn = self._require_connection()
        if source not in self._source_names(conn):
            raise KtxError(f'Semantic-layer source "{source}" was not found.')
        field = "expr"
        existing = self._definitions(conn, source, kind)
        name = item["name"]
        if name in existing:
            if _norm(existing[name]) == _norm(item[field]):
                return f"{source}.{name} already says exactly that; nothing to change."
            conflict = self.state.add_conflict(
                self.run_id,
                "sl",
                f"{source}.{name}",
                existing[name],
                item[field],
                self.label,
                "the captured text defines it differently",
            )
            self.conflicts.append(conflict)
            raise KtxError(
                f"{source}.{name} is already defined as `{existing[name]}`; the reviewed definition stays. "
                f"Recorded conflict {conflict} for a person to settle."
            )
        rel = self._overlay_path(conn, source)
        path = self.root / rel
        text = self.files.get(rel) or (path.read_text(encoding="utf-8") if path.is_file() else None)
        document = roundtrip_load(text, 1_000_000) if text else None
        if not isinstance(document, dict):
            from ktx.project.yamlio import new_document

            document = new_document()
            document["name"] = source
        items = document.get(kind)
        if items is None:
            document[kind] = []
            items = document[kind]
        items.append({k: v for k, v in item.items() if v})
        self.files[rel] = dump_yaml(document)
        self.captured["sl"].add(source)
        return f"Staged {kind[:-1]} {source}.{name}."

    def sl_add_measure(self, args: MeasureArgs) -> str:
        return self._add(
            args.source, "measures", {"name": args.name, "expr": args.expr, "description": args.description}
        )

    def sl_add_segment(self, args: SegmentArgs) -> str:
        return self._add(
            args.source, "segments", {"name": args.name, "expr": args.expr, "description": args.description}
        )

    def revert_breaking_edits(self) -> list[str]:
        """The gate after the loop: drop the staged semantic-layer files when, with the rest of the layer, they
        would not load and validate; returns what was dropped and why."""
        from ktx.semantic.service import layer_problem

        if not self.connection_id:
            return []
        conn = self.connection_id
        staged = {p: t for p, t in self.files.items() if p.startswith(f"semantic-layer/{conn}/")}
        driver = self.services.project.config.connections[conn].driver
        problem = layer_problem(self.root, conn, driver, staged)
        if not problem:
            return []
        for rel in staged:
            self.files.pop(rel)
        self.captured["sl"].clear()
        return [f"{rel}: {problem}" for rel in staged]

    def report_conflict(self, args: ConflictArgs) -> str:
        conflict = self.state.add_conflict(
            self.run_id, args.target, args.key, args.reviewed, args.proposed, self.label, args.reason
        )
        self.conflicts.append(conflict)
        return f"Recorded conflict {conflict}; the reviewed version stays until a person decides."

    def tools(self) -> list[Tool]:
        class NoArgs(BaseModel):
            pass

        tools = [
            Tool("wiki_search", "Search the project's wiki pages.", SearchArgs, self.wiki_search),
            Tool("wiki_read", "Read one wiki page (staged changes included).", KeyArgs, self.wiki_read),
            Tool(
                "wiki_write",
                "Create a NEW wiki page for a business rule, definition, alias or caveat. Existing pages cannot be "
                "replaced: use wiki_append, or report_conflict when the text contradicts them.",
                WriteArgs,
                self.wiki_write,
            ),
            Tool("wiki_append", "Add a section to an existing wiki page.", AppendArgs, self.wiki_append),
            Tool(
                "report_conflict",
                "Record that the captured text contradicts a reviewed definition (a wiki rule or a measure), with "
                "both versions. Nothing is overwritten; a person decides.",
                ConflictArgs,
                self.report_conflict,
            ),
        ]
        if self.replaceable:
            tools.append(
                Tool(
                    "wiki_drop",
                    "Drop a page written earlier in this run (after merging it into another).",
                    KeyArgs,
                    self.wiki_drop,
                )
            )
        if self.connection_id:
            tools += [
                Tool(
                    "sl_list_sources",
                    "List the connection's semantic-layer sources and measures.",
                    NoArgs,
                    self.sl_list_sources,
                ),
                Tool(
                    "sl_read_source",
                    "Read one source's YAML (columns, measures, segments, joins).",
                    SourceArgs,
                    self.sl_read_source,
                ),
                Tool(
                    "sl_add_measure",
                    "Add a NEW measure to a source (aggregate SQL over its columns). A measure that exists with a "
                    "different definition is refused and recorded as a conflict.",
                    MeasureArgs,
                    self.sl_add_measure,
                ),
                Tool(
                    "sl_add_segment",
                    "Add a NEW segment (a named filter) to a source.",
                    SegmentArgs,
                    self.sl_add_segment,
                ),
            ]
        return tools
