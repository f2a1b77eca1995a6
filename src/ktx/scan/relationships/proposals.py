"""One LLM call proposes keys and links over the first `maxLlmTablesPerBatch` tables; every proposal is a
candidate like any other and still has to pass SQL validation before it is accepted."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ktx.scan.profile import TableStats
from ktx.scan.relationships.model import Edge, TableInfo

ROLE = "candidateExtraction"
SYSTEM = (
    "You find primary keys and foreign-key links in a warehouse schema from column names, types and profile "
    "statistics. Propose only links you would bet on; every proposal is checked against the data."
)


class PkProposal(BaseModel):
    table: str
    column: str
    confidence: float = Field(ge=0, le=1)
    rationale: str = ""


class FkProposal(BaseModel):
    fromTable: str
    fromColumn: str
    toTable: str
    toColumn: str
    confidence: float = Field(ge=0, le=1)
    rationale: str = ""


class RelationshipProposals(BaseModel):
    pkCandidates: list[PkProposal] = Field(default_factory=list)
    fkCandidates: list[FkProposal] = Field(default_factory=list)


def proposal_prompt(tables: list[TableInfo], stats: dict[str, TableStats], limit: int) -> str:
    lines = ["Tables (name: columns as name type [pk] unique=… nulls=… samples=…):"]
    for table in tables[:limit]:
        table_stats = stats.get(table.key)
        lines.append(f"\n{table.key} ({table_stats.row_count if table_stats else '?'} rows)")
        for column in table.columns[:80]:
            col = table_stats.columns.get(column.name) if table_stats else None
            parts = [f"- {column.name} {column.native_type}"]
            if column.name in table.declared_pk:
                parts.append("pk")
            if col is not None and col.sampled:
                parts.append(f"unique={col.uniqueness:.2f} nulls={col.null_rate:.2f}")
                if col.top_values:
                    parts.append("samples=" + ", ".join(v[:40] for v in col.top_values[:5]))
            lines.append(" ".join(parts))
    lines.append(
        "\nReturn pkCandidates and fkCandidates (fromTable.fromColumn references toTable.toColumn), each with a "
        "confidence between 0 and 1 and a one-line rationale."
    )
    return "\n".join(lines)


def propose(
    llm: Any, tables: list[TableInfo], stats: dict[str, TableStats], limit: int
) -> tuple[list[Edge], list[str], str]:
    """LLM candidates, warnings, and the stage status (`completed` or `failed`)."""
    from ktx.errors import KtxError

    try:
        answer = llm.generate_object(
            ROLE, proposal_prompt(tables, stats, limit), RelationshipProposals, SYSTEM, tags={"stage": "relationships"}
        )
    except KtxError as exc:
        return [], [f"relationship_llm_proposal_failed: {exc.message}"], "failed"
    by_lower = {t.key.lower(): t for t in tables}
    for t in tables:
        by_lower.setdefault(t.name.lower(), t)
    proposed_pks = {(p.table.lower(), p.column.lower()) for p in answer.pkCandidates}
    edges: list[Edge] = []
    warnings: list[str] = []
    for fk in answer.fkCandidates:
        if fk.confidence < 0.55:
            continue
        child, parent = by_lower.get(fk.fromTable.lower()), by_lower.get(fk.toTable.lower())
        child_col = _column(child, fk.fromColumn)
        parent_col = _column(parent, fk.toColumn)
        if child is None or parent is None or child_col is None or parent_col is None:
            warnings.append(
                f"relationship_llm_invalid_reference: {fk.fromTable}.{fk.fromColumn} -> {fk.toTable}.{fk.toColumn}"
            )
            continue
        key_score = 0.88 if (parent.key.lower(), parent_col.lower()) in proposed_pks else 0.68
        edges.append(
            Edge(
                child.key,
                (child_col,),
                parent.key,
                (parent_col,),
                match="llm_proposal",
                name_score=0.45,
                target_key_score=key_score,
                confidence=round(fk.confidence, 3),
                reasons=["llm_proposal"],
            )
        )
    return edges, warnings, "completed"


def _column(table: TableInfo | None, name: str) -> str | None:
    if table is None:
        return None
    return next((c.name for c in table.columns if c.name.lower() == name.lower()), None)
