"""From staged query history to project files, with no LLM: a `usage:` block per scanned table, join candidates
for relationship discovery (validated there like any other), wiki pages for multi-table query patterns, and
the staged (redacted) evidence under raw-sources."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ktx.history.stage import Staged, StagedTemplate, TableUsage, bucket_executions, bucket_users, frequency_tier
from ktx.scan.relationships.model import Edge

SOURCE = "query-history"
PAGE_PREFIX = "historic-sql-"
MIN_PATTERN_EXECUTIONS = 10
MAX_PATTERN_PAGES = 100  # the most executed table sets; a wiki of thousands of generated pages helps nobody


Columns = dict[str, dict[str, str]]  # source key → lower-case column name → its real name


def usage_block(usage: TableUsage, keys: dict[str, str], columns: Columns, fetched_at: str) -> dict[str, Any]:
    own_key = keys[usage.table]

    def real(key: str, column: str) -> str | None:
        return columns.get(key, {}).get(column)

    joins = []
    for (other, own, col), _ in usage.joins.most_common(5):
        target = keys.get(other)
        if target is None or real(own_key, own) is None or real(target, col) is None:
            continue
        joins.append({"table": target, "on": [f"{real(own_key, own)} = {target}.{real(target, col)}"]})
    block: dict[str, Any] = {
        "source": SOURCE,
        "frequencyTier": frequency_tier(usage.executions),
        "executions": bucket_executions(usage.executions),
        "distinctUsers": bucket_users(len(usage.users)),
        "commonFilters": [c for c in (real(own_key, x) for x in usage.frequent("where")) if c],
        "commonGroupBys": [c for c in (real(own_key, x) for x in usage.frequent("group_by")) if c],
        "commonJoins": joins,
        "lastSeen": fetched_at,
    }
    return {k: v for k, v in block.items() if v not in ([], None)}


def usage_blocks(
    staged: Staged,
    keys: dict[str, str],
    columns: Columns,
    previous: dict[str, Any],
    fetched_at: str,
    narratives: dict[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Source key → its block. A table that had query-history usage before and none now is marked unused."""
    blocks = {keys[t]: usage_block(u, keys, columns, fetched_at) for t, u in staged.tables.items() if t in keys}
    for key, text in (narratives or {}).items():
        if key in blocks:
            blocks[key] = {
                "source": SOURCE,
                "narrative": text,
                **{k: v for k, v in blocks[key].items() if k != "source"},
            }
    for key, old in previous.items():
        if key in blocks or not isinstance(old, dict) or old.get("source") != SOURCE:
            continue
        blocks[key] = {
            "source": SOURCE,
            "frequencyTier": "unused",
            "staleSince": old.get("staleSince") or fetched_at,
            **({"lastSeen": old["lastSeen"]} if old.get("lastSeen") else {}),
        }
    return blocks


def observed_edges(staged: Staged, keys: dict[str, str], columns: Columns) -> list[Edge]:
    """Joins seen in history as candidates, in both directions (validation keeps the one whose target is a key).
    Confidence grows with how often and by how many people the join was run."""
    weights: dict[tuple[str, str, str, str], tuple[int, set[str]]] = {}
    for template in staged.templates:
        for join in template.joins:
            executions, users = weights.get(join, (0, set()))
            weights[join] = (executions + template.executions, users | set(template.users))
    edges = []
    for (a, ca, b, cb), (executions, users) in sorted(weights.items()):
        if a not in keys or b not in keys:
            continue
        ka, kb = keys[a], keys[b]
        ca, cb = columns.get(ka, {}).get(ca), columns.get(kb, {}).get(cb)  # type: ignore[assignment]
        if ca is None or cb is None:
            continue
        confidence = min(0.95, 0.55 + 0.08 * math.log10(max(executions, 1)) + 0.03 * min(len(users), 5))
        for child, cc, parent, pc in ((ka, ca, kb, cb), (kb, cb, ka, ca)):
            edges.append(
                Edge(
                    child,
                    (cc,),
                    parent,
                    (pc,),
                    match="query_history",
                    name_score=0.5,
                    confidence=round(confidence, 3),
                    features={"executions": float(executions), "distinctUsers": float(len(users))},
                    reasons=["query_history"],
                )
            )
    return edges


def _slug(names: list[str]) -> str:
    text = "-".join(re.sub(r"[^a-z0-9]+", "-", n.lower()).strip("-") for n in names)
    return (text or "pattern")[:80].strip("-")


def _short(table: str) -> str:
    return table.split(".")[-1]


def pattern_groups(staged: Staged) -> list[tuple[tuple[str, ...], list[StagedTemplate]]]:
    """Sets of two or more tables queried together (≥ 10 executions), most executed first, at most 100."""
    groups: dict[tuple[str, ...], list[StagedTemplate]] = {}
    for template in staged.templates:
        tables = tuple(sorted(set(template.tables)))
        if len(tables) >= 2:
            groups.setdefault(tables, []).append(template)
    ranked = sorted(groups.items(), key=lambda g: (-sum(t.executions for t in g[1]), g[0]))
    kept = [(t, sorted(ts, key=lambda x: (-x.executions, x.id))) for t, ts in ranked[:MAX_PATTERN_PAGES]]
    return [(t, ts) for t, ts in kept if sum(x.executions for x in ts) >= MIN_PATTERN_EXECUTIONS]


def pattern_pages(
    staged: Staged,
    keys: dict[str, str],
    connection_id: str,
    existing: dict[str, tuple[dict[str, Any], str]],
    fetched_at: str,
    archive_after_days: int,
    narratives: dict[tuple[str, ...], Any] | None = None,
) -> dict[str, str]:
    """`wiki/global/historic-sql-<slug>.md` per set of tables queried together (see `pattern_groups`); pages of
    earlier runs not seen now are tagged stale, and archived after `archive_after_days`. `narratives` (an LLM's
    title and text per table set) replace the deterministic ones."""
    from ktx.wiki.page import render_page

    files: dict[str, str] = {}
    written: set[str] = set()
    for tables, templates in pattern_groups(staged):
        executions = sum(t.executions for t in templates)
        key = PAGE_PREFIX + _slug([_short(t) for t in tables])
        users = {u for t in templates for u in t.users}
        joins = sorted({f"{_short(a)}.{ca} = {_short(b)}.{cb}" for t in templates for a, ca, b, cb in t.joins})
        names = [keys.get(t, _short(t)) for t in tables]
        title = f"{', '.join(names[:-1])} and {names[-1]} queried together"
        frontmatter = {
            "summary": title[0].upper() + title[1:],
            "tags": ["historic-sql", "pattern"],
            "sl_refs": [f"{connection_id}/{n}" for n in names],
            "usage_mode": "auto",
            "source": "historic-sql",
            "tables": list(tables),
            "representative_sql": templates[0].sql,
            "fingerprints": [t.id for t in templates],
            "last_seen": fetched_at,
        }
        narrative = (
            f"{len(templates)} recurring quer{'y' if len(templates) == 1 else 'ies'} read "
            f"{', '.join(names)} together: {bucket_executions(executions)} executions by "
            f"{bucket_users(len(users))} distinct users in the query history of `{connection_id}`."
        )
        if joins:
            narrative += " They join on " + "; ".join(f"`{j}`" for j in joins) + "."
        told = (narratives or {}).get(tables)
        if told is not None:
            frontmatter["summary"] = told.title
            narrative = f"{told.narrative}\n\n{narrative}"
        body = "\n".join(
            [
                f"# {frontmatter['summary']}",
                "",
                narrative,
                "",
                "## Representative SQL",
                "",
                "```sql",
                templates[0].sql.strip(),
                "```",
                "",
                "## Tables",
                "",
                *[f"- `{t}` (source `{n}`)" for t, n in zip(tables, names, strict=True)],
                "",
                "## Constituent templates",
                "",
                *[f"- `{t.id}`: {bucket_executions(t.executions)} executions" for t in templates[:20]],
                "",
            ]
        )
        files[f"wiki/global/{key}.md"] = render_page(frontmatter, body)
        written.add(key)
    now = datetime.fromisoformat(fetched_at)
    for key, (frontmatter, body) in existing.items():
        if key in written or frontmatter.get("source") != "historic-sql":
            continue
        tags = [t for t in frontmatter.get("tags") or [] if isinstance(t, str)]
        stale_since = frontmatter.get("stale_since") or fetched_at
        updated = dict(frontmatter, stale_since=stale_since)
        if "stale" not in tags:
            tags.append("stale")
        if now - datetime.fromisoformat(str(stale_since)) >= timedelta(days=archive_after_days):
            updated.setdefault("archived_since", fetched_at)
            if "archived" not in tags:
                tags.append("archived")
        updated["tags"] = tags
        if updated != frontmatter:
            files[f"wiki/global/{key}.md"] = render_page(updated, body)
    return files


def existing_pattern_pages(root: Path) -> dict[str, tuple[dict[str, Any], str]]:
    from ktx.wiki.page import parse_page_text

    out = {}
    folder = root / "wiki" / "global"
    for path in sorted(folder.glob(f"{PAGE_PREFIX}*.md")) if folder.is_dir() else []:
        try:
            frontmatter, body = parse_page_text(path.read_text(encoding="utf-8"))
        except Exception:  # a page a person broke is left alone, not rewritten
            continue
        out[path.stem] = (frontmatter, body)
    return out


def staged_files(raw: str, staged: Staged, manifest: dict[str, Any]) -> dict[str, str]:
    files = {f"{raw}/manifest.json": json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"}
    for table, usage in sorted(staged.tables.items()):
        files[f"{raw}/tables/{table}.json"] = json.dumps(usage.to_json(), indent=2, ensure_ascii=False) + "\n"
    patterns = [
        {
            "id": t.id,
            "canonicalSql": t.sql,
            "tablesTouched": t.tables,
            "executionsBucket": bucket_executions(t.executions),
            "distinctUsersBucket": bucket_users(len(t.users)),
            "serviceAccount": t.service_account,
        }
        for t in staged.templates
    ]
    files[f"{raw}/patterns-input.json"] = json.dumps(patterns, indent=2, ensure_ascii=False) + "\n"
    return files


def fetched_now() -> str:
    return datetime.now(UTC).isoformat()
