"""Notion blocks and page properties as Markdown (the API's block objects, not an export).

Links to other Notion pages (page mentions, `child_page` blocks, links to notion.so URLs) are written as
`[[notion-page:<id>]]` placeholders that the projection turns into wiki links once every page has its key.
Block types this module does not know are skipped (Notion adds new ones); their count is returned.
"""

from __future__ import annotations

import re
from typing import Any

PAGE_LINK = re.compile(r"\[\[notion-page:([0-9a-f]{32})(?:\|([^\]]*))?\]\]")
NOTION_URL = re.compile(r"https?://(?:www\.)?notion\.(?:so|site)/(?:[^\s)]*?-)?([0-9a-f]{32})\b")


def compact_id(value: str) -> str:
    return str(value).replace("-", "").lower()


def rich_text(items: Any) -> str:
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        text = str(item.get("plain_text") or "")
        if item.get("type") == "mention":
            mention = item.get("mention") or {}
            kind = mention.get("type")
            if kind == "page" and (mention.get("page") or {}).get("id"):
                out.append(f"[[notion-page:{compact_id(mention['page']['id'])}|{text}]]")
                continue
            if kind == "user":
                out.append(f"@{text.lstrip('@')}")
                continue
        annotations = item.get("annotations") or {}
        if text.strip():
            if annotations.get("code"):
                text = f"`{text}`"
            if annotations.get("bold"):
                text = f"**{text}**"
            if annotations.get("italic"):
                text = f"*{text}*"
            if annotations.get("strikethrough"):
                text = f"~~{text}~~"
        href = item.get("href")
        if isinstance(href, str) and href:
            linked = NOTION_URL.search(href)
            text = f"[[notion-page:{linked.group(1)}|{text}]]" if linked else f"[{text}]({href})"
        out.append(text)
    return "".join(out)


PREFIX = {"heading_1": "# ", "heading_2": "## ", "heading_3": "### ", "quote": "> ", "bulleted_list_item": "- "}


def block_lines(block: dict[str, Any], children: list[str], counter: dict[str, int]) -> list[str]:
    """One block (its children already rendered, indented by the caller) as Markdown lines."""
    kind = str(block.get("type") or "")
    body = block.get(kind) if isinstance(block.get(kind), dict) else {}
    text = rich_text(body.get("rich_text"))
    if kind == "paragraph":
        return [text, *children, ""] if text or children else []
    if kind in ("heading_1", "heading_2", "heading_3"):
        # Headings of the page sit one level below its title.
        return ["#" + PREFIX[kind] + text, "", *children]
    if kind in ("bulleted_list_item", "quote"):
        return [PREFIX[kind] + text, *["  " + c for c in children]]
    if kind == "numbered_list_item":
        return ["1. " + text, *["   " + c for c in children]]
    if kind == "to_do":
        return [f"- [{'x' if body.get('checked') else ' '}] {text}", *["  " + c for c in children]]
    if kind == "toggle":
        return [f"- {text}", *["  " + c for c in children]]
    if kind == "callout":
        icon = (body.get("icon") or {}).get("emoji") or "!"
        return [f"> {icon} {text}", *["> " + c for c in children], ""]
    if kind == "code":
        language = str(body.get("language") or "").replace("plain text", "")
        return [f"```{language}", rich_text(body.get("rich_text")), "```", ""]
    if kind == "equation":
        return [f"$$ {body.get('expression', '')} $$", ""]
    if kind == "divider":
        return ["---", ""]
    if kind == "child_page":
        return [f"- [[notion-page:{compact_id(block.get('id', ''))}|{body.get('title') or 'Untitled'}]]"]
    if kind == "child_database":
        return [f"- Database: {body.get('title') or 'Untitled'}"]
    if kind in ("bookmark", "link_preview", "embed"):
        url = body.get("url")
        caption = rich_text(body.get("caption")) or url
        return [f"[{caption}]({url})", ""] if url else []
    if kind in ("image", "file", "pdf", "video"):
        caption = rich_text(body.get("caption"))
        return [f"({kind}: {caption})", ""] if caption else []
    if kind == "table_row":
        cells = [rich_text(cell).replace("|", "\\|") for cell in body.get("cells") or []]
        return ["| " + " | ".join(cells) + " |"]
    if kind == "table":
        if children:
            width = children[0].count(" | ") + 1
            return [children[0], "|" + " --- |" * width, *children[1:], ""]
        return []
    if kind in ("synced_block", "column_list", "column", "template"):
        return children
    if kind in ("table_of_contents", "breadcrumb", "unsupported"):
        return []
    counter[kind] = counter.get(kind, 0) + 1
    return children


def property_text(prop: Any) -> str:
    """A database row's property value as text."""
    if not isinstance(prop, dict):
        return ""
    kind = prop.get("type")
    value = prop.get(kind)
    if kind in ("title", "rich_text"):
        return rich_text(value)
    if kind in ("select", "status"):
        return str((value or {}).get("name") or "")
    if kind == "multi_select":
        return ", ".join(str(v.get("name")) for v in value or [] if isinstance(v, dict))
    if kind == "date":
        if not value:
            return ""
        return str(value.get("start") or "") + (f" → {value['end']}" if value.get("end") else "")
    if kind in ("number", "url", "email", "phone_number", "created_time", "last_edited_time"):
        return "" if value is None else str(value)
    if kind == "checkbox":
        return "yes" if value else "no"
    if kind == "people":
        return ", ".join(str(p.get("name") or p.get("id")) for p in value or [] if isinstance(p, dict))
    if kind == "relation":
        return ", ".join(f"[[notion-page:{compact_id(r['id'])}]]" for r in value or [] if r.get("id"))
    if kind == "formula":
        inner = value or {}
        return str(inner.get(inner.get("type")) or "")
    return ""


def page_title(page: dict[str, Any]) -> str:
    for prop in (page.get("properties") or {}).values():
        if isinstance(prop, dict) and prop.get("type") == "title":
            return rich_text(prop.get("title")).strip() or "Untitled"
    title = page.get("title")
    if isinstance(title, list):  # a database's own title
        return rich_text(title).strip() or "Untitled"
    return "Untitled"
