"""With an LLM configured, short narratives on top of the deterministic query-history output: one structured call
per queried table (how it is used) and per pattern page (what the recurring question is). Only redacted,
normalized SQL and bucketed statistics are sent. A failed call keeps the deterministic text."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from ktx.errors import KtxError
from ktx.history.stage import Staged, StagedTemplate

MAX_TABLES = 50
MAX_PATTERNS = 20
SYSTEM = (
    "You describe how a data warehouse is used, from statistics of its query history. Write for an analyst who "
    "needs to know what a table or a recurring query is for. Be concrete and short; never invent business facts; "
    "never repeat literal values, user names, emails or credentials."
)


class TableNarrative(BaseModel):
    narrative: str = Field(description="At most 40 words: what people use this table for, and how.")


class PatternNarrative(BaseModel):
    title: str = Field(description="At most 10 words naming the recurring question.")
    narrative: str = Field(description="At most 60 words: what the queries answer and how the tables relate.")


def _templates(templates: list[StagedTemplate], limit: int = 5) -> str:
    top = sorted(templates, key=lambda t: -t.executions)[:limit]
    return "\n".join(f"- ({t.executions} runs) {t.sql[:600]}" for t in top)


def table_narratives(llm: Any, staged: Staged, keys: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Source key → narrative; warnings for calls that failed."""
    out, warnings = {}, []
    ranked = sorted(staged.tables.values(), key=lambda u: -u.executions)[:MAX_TABLES]
    for usage in ranked:
        if usage.table not in keys:
            continue
        prompt = (
            f"Table: {usage.table}\nStatistics: {json.dumps(usage.stats())}\n"
            f"Columns by clause: {json.dumps({k: [c for c, _ in v.most_common(8)] for k, v in usage.columns.items()})}\n"
            f"Joined with: {', '.join(sorted({o for o, _, _ in usage.joins})) or 'nothing'}\n"
            f"Most run queries:\n{_templates(usage.templates)}"
        )
        try:
            answer = llm.generate_object("candidateExtraction", prompt, TableNarrative, system=SYSTEM)
            out[keys[usage.table]] = " ".join(answer.narrative.split()[:40])
        except KtxError as exc:
            warnings.append(f"enrichment_failed:{usage.table}: query-history narrative: {exc.message}")
    return out, warnings


def pattern_narratives(
    llm: Any, groups: list[tuple[tuple[str, ...], list[StagedTemplate]]]
) -> tuple[dict[tuple[str, ...], PatternNarrative], list[str]]:
    out, warnings = {}, []
    for tables, templates in groups[:MAX_PATTERNS]:
        prompt = f"Tables queried together: {', '.join(tables)}\nThe recurring queries:\n{_templates(templates)}"
        try:
            answer = llm.generate_object("candidateExtraction", prompt, PatternNarrative, system=SYSTEM)
            out[tables] = PatternNarrative(
                title=" ".join(answer.title.split()[:10]), narrative=" ".join(answer.narrative.split()[:60])
            )
        except KtxError as exc:
            warnings.append(f"enrichment_failed:{'+'.join(tables)}: query-history pattern narrative: {exc.message}")
    return out, warnings
