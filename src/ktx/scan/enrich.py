"""LLM enrichment of a scan: `descriptions.ai` per table and column (role `candidateExtraction`), and the
column embeddings that feed relationship locality and embedding-similarity candidates.

Descriptions: one structured call per table (≤ 24 words for the table, ≤ 16 per column) over the columns,
their database comments and up to five sample rows; a column the structured answer left empty gets one
plain-text call of its own when there is something to go on. A failed call leaves that table without new
text: the previous `ai` descriptions stay in the shard.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from ktx.errors import KtxError
from ktx.scan.profile import TableStats
from ktx.warehouse.catalog import CatalogTable

ROLE = "candidateExtraction"
TABLE_WORDS, COLUMN_WORDS = 24, 16
SYSTEM = (
    "You analyse one warehouse table and return JSON. Describe what the table and each column mean for the "
    f"business, directly: at most {TABLE_WORDS} words for the table and {COLUMN_WORDS} words per column. Do not "
    "repeat the name as filler and do not guess beyond what the names, comments and sample rows show."
)
_ERROR_TEXT = re.compile(r"^\s*(failed to generate description|error generating description)", re.I)


class ColumnDescription(BaseModel):
    name: str
    description: str = ""


class TableDescriptions(BaseModel):
    tableDescription: str = ""
    columns: list[ColumnDescription] = Field(default_factory=list)


@dataclass
class DescriptionUpdate:
    table: str
    table_description: str | None
    columns: dict[str, str | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "tableDescription": self.table_description, "columnDescriptions": self.columns}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DescriptionUpdate:
        return cls(data["table"], data.get("tableDescription"), dict(data.get("columnDescriptions") or {}))


def clip_words(text: str | None, limit: int) -> str | None:
    if not text or _ERROR_TEXT.match(text):
        return None
    words = " ".join(text.split()).split(" ")
    clipped = " ".join(words[:limit]).strip()
    if len(words) > limit:
        clipped = clipped.rstrip(",;:") + "…"
    return clipped or None


def table_prompt(key: str, table: CatalogTable, driver: str, samples: list[dict[str, Any]] | None) -> str:
    lines = [f"Table: {key}", f"Data source type: {driver}", "Columns:"]
    for column in table.columns:
        comment = f" - {column.comment}" if column.comment else ""
        lines.append(f"- {column.name} ({column.native_type}){comment}")
    lines.append("Sample rows:")
    if samples:
        for row in samples[:5]:
            lines.append("  " + ", ".join(f"{k}={_short(v)}" for k, v in row.items()))
    else:
        lines.append("  unavailable")
    return "\n".join(lines)


def column_prompt(key: str, table: CatalogTable, column: str, values: list[str], existing: dict[str, str]) -> str:
    lines = [
        f"Column {column} of table {key} ({', '.join(c.name for c in table.columns[:30])}).",
        f"Sample values: {', '.join(_short(v) for v in values[:5]) or 'none'}.",
    ]
    if existing:
        lines.append("What other sources say: " + "; ".join(f"{k}: {v}" for k, v in existing.items()))
    lines.append(f"Describe the column's content directly in at most {COLUMN_WORDS} words.")
    return "\n".join(lines)


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "…"


def sample_rows(connector: Any, table: CatalogTable, limit: int = 20) -> tuple[list[dict[str, Any]] | None, str | None]:
    """Up to `limit` rows, retried twice; (rows, warning)."""
    import time

    from ktx.warehouse.profile import sample_sql
    from ktx.warehouse.values import json_value

    columns = [c.name for c in table.columns]
    if not columns:
        return None, None
    last = ""
    for attempt in range(3):
        try:
            raw = connector.execute(
                sample_sql(table.schema, table.name, columns, limit, connector.dialect), max_rows=limit
            )
            return [{h: json_value(v) for h, v in zip(raw.headers, row, strict=False)} for row in raw.rows], None
        except KtxError as exc:
            last = exc.message
            time.sleep(0.2 * (attempt + 1))
    return None, f"sampling_failed:{table.qualified_name}: {last}"


def describe_with_llm(
    llm: Any,
    connector: Any,
    driver: str,
    tables: dict[str, CatalogTable],
    stats: dict[str, TableStats],
    *,
    concurrency: int = 4,
    on_done: Any = None,
) -> tuple[list[DescriptionUpdate], list[str], int]:
    """Descriptions for every table; returns updates, warnings and the number of tables whose call failed."""
    warnings: list[str] = []
    failures = 0

    def one(item: tuple[str, CatalogTable]) -> tuple[DescriptionUpdate, list[str], bool]:
        key, table = item
        notes: list[str] = []
        samples, warning = sample_rows(connector, table)
        if warning:
            notes.append(warning)
        try:
            answer = llm.generate_object(
                ROLE, table_prompt(key, table, driver, samples), TableDescriptions, SYSTEM, tags={"table": key}
            )
        except KtxError as exc:
            return DescriptionUpdate(key, None), [*notes, f"enrichment_failed:{key}: {exc.message}"], True
        if not samples:
            notes.append(f"description_fallback_used:{key}: described without sample rows")
        by_name = {c.name.lower(): clip_words(c.description, COLUMN_WORDS) for c in answer.columns}
        update = DescriptionUpdate(key, clip_words(answer.tableDescription, TABLE_WORDS))
        table_stats = stats.get(key)
        for column in table.columns:
            text = by_name.get(column.name.lower())
            if text is None:
                values = (
                    table_stats.columns[column.name].top_values
                    if table_stats and column.name in table_stats.columns
                    else []
                )
                existing = {"db": column.comment} if column.comment else {}
                if values or existing:
                    try:
                        text = clip_words(
                            llm.generate_text(ROLE, column_prompt(key, table, column.name, values, existing)),
                            COLUMN_WORDS,
                        )
                    except KtxError as exc:
                        notes.append(f"enrichment_failed:{key}.{column.name}: {exc.message}")
            update.columns[column.name] = text
        return update, notes, False

    updates = []
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="ktx-describe") as pool:
        for update, notes, failed in pool.map(one, sorted(tables.items())):
            updates.append(update)
            warnings += notes
            failures += failed
            if on_done is not None:
                on_done(update.table)
    return updates, warnings, failures


def embedding_text(
    key: str,
    table: CatalogTable,
    column: str,
    *,
    table_description: str | None,
    column_description: str | None,
    foreign_keys: list[str],
    values: list[str],
) -> str:
    col = table.column(column)
    parts = [f"{key}.{column} ({col.native_type if col else 'unknown'})"]
    if table_description or table.comment:
        parts.append(f"Table: {table_description or table.comment}")
    if column_description or (col and col.comment):
        parts.append(str(column_description or col.comment))  # type: ignore[union-attr]
    parts += [f"FK -> {target}" for target in foreign_keys]
    if values:
        parts.append("Values: " + ", ".join(_short(v) for v in values[:20]))
    return ". ".join(parts)


def embed_columns(provider: Any, texts: dict[tuple[str, str], str]) -> dict[tuple[str, str], list[float]]:
    from ktx.llm.embeddings import embed_all

    keys = sorted(texts)
    vectors = embed_all(provider, [texts[k] for k in keys])
    return dict(zip(keys, vectors, strict=True))
