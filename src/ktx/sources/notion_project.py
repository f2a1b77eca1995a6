"""Crawled Notion pages as wiki pages: `wiki/global/notion-<title>-<id>.md`, one per page, database and row.

Links between Notion pages become wiki links and `refs` (parent, children, mentions); mentions of the semantic
layer — a `source.measure`, or a source's name in code or with an underscore — become `sl_refs` when they resolve
to a source of the project. Each page says where it comes from (Notion URL, last edit).
"""

from __future__ import annotations

import re
from typing import Any

from ktx.sources.notion_markdown import PAGE_LINK

DOTTED = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\b")
CODE = re.compile(r"`([A-Za-z_][A-Za-z0-9_.]*)`")
SNAKE = re.compile(r"\b([a-z][a-z0-9]*_[a-z0-9_]+)\b")


def page_key(page: dict[str, Any]) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", str(page.get("title") or "untitled").lower()).strip("-")[:50] or "untitled"
    return f"notion-{slug}-{page['id'][-12:]}"


def sl_names(sources: list[Any]) -> dict[str, str]:
    """Name a page may mention (`orders`, `orders.revenue`, `orders.amount`) → `connection/source`; a name two
    sources share is left out (it cannot be resolved)."""
    out: dict[str, str] = {}
    ambiguous: set[str] = set()
    for source in sources:
        ref = f"{source.connection_id}/{source.name}"
        members = [m[0] for m in source.measures] + [c[0] for c in source.columns]
        for name in [source.name, *[f"{source.name}.{m}" for m in members]]:
            key = name.lower()
            if key in out and out[key] != ref:
                ambiguous.add(key)
            out[key] = ref
    return {k: v for k, v in out.items() if k not in ambiguous}


def mentions(text: str, names: dict[str, str]) -> list[str]:
    found: list[str] = []
    for match in DOTTED.finditer(text):
        dotted = f"{match.group(1)}.{match.group(2)}".lower()
        if dotted in names:
            found.append(names[dotted])
    for match in CODE.finditer(text):
        token = match.group(1).lower()
        if token in names:
            found.append(names[token])
    for match in SNAKE.finditer(text):
        if match.group(1) in names:
            found.append(names[match.group(1)])
    return sorted(set(found))


def project(pages: dict[str, dict[str, Any]], connection_id: str, names: dict[str, str]) -> dict[str, str]:
    from ktx.wiki.page import render_page

    keys = {page_id: page_key(page) for page_id, page in pages.items()}
    files: dict[str, str] = {}
    for page_id, page in pages.items():
        refs: list[str] = []

        def link(match: re.Match[str], refs: list[str] = refs) -> str:
            target, label = match.group(1), match.group(2)
            if target in keys:
                refs.append(keys[target])
                return f"[[{keys[target]}|{label}]]" if label else f"[[{keys[target]}]]"
            return label or "(a Notion page not shared with ktx)"

        body_text = PAGE_LINK.sub(link, str(page.get("markdown") or ""))
        lines = [f"# {page.get('title') or 'Untitled'}", ""]
        properties = page.get("properties") or {}
        if properties:
            lines += ["| Property | Value |", "| --- | --- |"]
            lines += [f"| {k} | {PAGE_LINK.sub(link, v).replace('|', '/')} |" for k, v in sorted(properties.items())]
            lines.append("")
        if page.get("kind") == "database":
            rows = [c["id"] for c in page.get("children") or [] if c["id"] in keys]
            lines += [f"Notion database with {len(rows)} row{'s' if len(rows) != 1 else ''}.", ""]
            lines += [f"- [[{keys[r]}|{pages[r].get('title')}]]" for r in rows]
            refs += [keys[r] for r in rows]
        lines.append(body_text)
        children = [c["id"] for c in page.get("children") or [] if c["id"] in keys]
        refs += [keys[c] for c in children]
        if page.get("parent") in keys:
            refs.append(keys[page["parent"]])
        origin = f"From Notion ({connection_id})" + (f": {page['url']}" if page.get("url") else "")
        lines += ["", f"_{origin}, last edited {page.get('last_edited_time')}._"]
        body = "\n".join(lines)
        frontmatter: dict[str, Any] = {
            "summary": str(page.get("title") or "Untitled"),
            "tags": ["notion"] + (["notion-database"] if page.get("kind") == "database" else []),
            "usage_mode": "auto",
            "source": "notion",
            "notion_id": page_id,
            "last_edited_time": page.get("last_edited_time"),
        }
        if page.get("url"):
            frontmatter["notion_url"] = page["url"]
        unique_refs = [r for r in dict.fromkeys(refs) if r != keys[page_id]]
        if unique_refs:
            frontmatter["refs"] = unique_refs
        sl_refs = mentions(body, names)
        if sl_refs:
            frontmatter["sl_refs"] = sl_refs
        files[f"wiki/global/{keys[page_id]}.md"] = render_page(frontmatter, body)
    return files
