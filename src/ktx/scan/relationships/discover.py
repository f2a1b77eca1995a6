"""Relationship discovery, step by step: formal keys, candidates (names, embeddings, LLM), scoring, SQL
validation within a budget, primary-key inference, conflict resolution, composite keys."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ktx.scan.profile import TableStats
from ktx.scan.relationships.candidates import (
    MIN_CONFIDENCE,
    build_indexes,
    generate_candidates,
    source_columns,
    types_compatible,
)
from ktx.scan.relationships.composite import discover_composites
from ktx.scan.relationships.inclusion import inclusion_candidates
from ktx.scan.relationships.model import DiscoveryResult, Edge, TableInfo
from ktx.scan.relationships.names import clear_name_caches
from ktx.scan.relationships.proposals import propose
from ktx.scan.relationships.resolver import infer_primary_keys, resolve_edges
from ktx.scan.relationships.scoring import score_edge
from ktx.scan.relationships.validation import validate_candidates, validation_budget

EMBEDDING_THRESHOLD = 0.92


@dataclass
class DiscoverySettings:
    accept_threshold: float = 0.85
    review_threshold: float = 0.55
    validation_required: bool = True
    max_candidates_per_column: int = 25
    sample_rows: int = 10_000
    validation_concurrency: int = 4
    validation_budget: int | str | None = None
    llm_proposals: bool = True
    max_llm_tables: int = 40

    @classmethod
    def from_config(cls, config: Any) -> DiscoverySettings:
        return cls(
            config.acceptThreshold,
            config.reviewThreshold,
            config.validationRequiredForManifest,
            config.maxCandidatesPerColumn,
            config.profileSampleRows,
            config.validationConcurrency,
            config.validationBudget,
            config.llmProposals,
            config.maxLlmTablesPerBatch,
        )


def formal_edges(tables: list[TableInfo]) -> tuple[list[Edge], list[dict[str, Any]]]:
    by_ref = {}
    for table in tables:
        by_ref[(table.schema, table.name)] = table
        by_ref.setdefault((None, table.name), table)
    edges: dict[str, Edge] = {}
    skipped: list[dict[str, Any]] = []
    for table in tables:
        for fk in table.foreign_keys:
            target = by_ref.get((fk.ref_schema, fk.ref_table)) or by_ref.get((None, fk.ref_table))
            label = f"{table.key}({','.join(fk.columns)}) -> {fk.ref_table}({','.join(fk.ref_columns)})"
            if (
                target is None
                or any(table.column(c) is None for c in fk.columns)
                or any(target.column(c) is None for c in fk.ref_columns)
            ):
                skipped.append({"relationship": label, "reason": "formal_metadata_endpoint_not_found"})
                continue
            edge = Edge(
                table.key,
                tuple(fk.columns),
                target.key,
                tuple(fk.ref_columns),
                source="formal",
                match="formal",
                confidence=1.0,
                status="accepted",
                score=1.0,
                pk_score=1.0,
                fk_score=1.0,
                reasons=["formal_metadata"],
            )
            if edge.id in edges:
                skipped.append({"relationship": label, "reason": "formal_metadata_duplicate"})
                continue
            edges[edge.id] = edge
    return list(edges.values()), skipped


def embedding_candidates(
    tables: list[TableInfo], stats: dict[str, TableStats], indexes: Any, embeddings: dict[tuple[str, str], list[float]]
) -> list[Edge]:
    """Pairs whose column embeddings are nearly identical (cosine ≥ 0.92), toward key-evidence targets."""
    import numpy as np

    targets = [
        (key, column, score)
        for key, found in indexes.targets.items()
        for column, score, _ in found
        if (key, column) in embeddings
    ]
    if not targets:
        return []
    matrix = np.array([embeddings[(k, c)] for k, c, _ in targets], dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True) + 1e-9
    by_key = {t.key: t for t in tables}
    edges = []
    for table in tables:
        for column, _ in source_columns(indexes.names[table.key], stats.get(table.key)):
            vector = embeddings.get((table.key, column.name))
            if vector is None:
                continue
            v = np.array(vector, dtype=np.float32)
            sims = matrix @ (v / (np.linalg.norm(v) + 1e-9))
            for i in np.nonzero(sims >= EMBEDDING_THRESHOLD)[0]:
                key, target_column, key_score = targets[int(i)]
                target = by_key[key].column(target_column)
                if key == table.key or target is None or not types_compatible(column, target):
                    continue
                edges.append(
                    Edge(
                        table.key,
                        (column.name,),
                        key,
                        (target_column,),
                        match="embedding_similarity",
                        name_score=float(sims[i]),
                        target_key_score=key_score,
                        reasons=["embedding_similarity"],
                        features={"embedding": float(sims[i])},
                    )
                )
    return edges


def _merge(into: dict[str, Edge], edges: list[Edge]) -> None:
    for edge in edges:
        current = into.get(edge.id)
        if current is None:
            into[edge.id] = edge
            continue
        kept = edge if edge.confidence > current.confidence else current
        reasons = list(dict.fromkeys(current.reasons + edge.reasons))
        if not current.match == edge.match == "inclusion_dependency":
            # A name found this link too: that the values alone would fit other keys no longer matters.
            reasons = [r for r in reasons if r != "inclusion_ambiguous"]
        if current.match != "inclusion_dependency" and edge.match == "inclusion_dependency":
            kept = current  # keep the name's account of the link; the values' agreement is in its reasons
        kept.reasons = reasons
        into[edge.id] = kept


def _drop_implied(edges: list[Edge], composite_edges: list[Edge]) -> None:
    """`takes.course_id` → course is implied by takes(course_id, sec_id, …) → section and section.course_id →
    course, where section is keyed by its course plus its own discriminators: the single-column shortcut goes back
    to review, so the join graph keeps the link the schema means."""
    accepted = {
        (e.from_table, e.from_columns[0]): e for e in edges if e.status == "accepted" and len(e.from_columns) == 1
    }
    for composite in composite_edges:
        if composite.status != "accepted":
            continue
        parent_refs = sum(1 for c in composite.to_columns if (composite.to_table, c) in accepted)
        if parent_refs != 1:
            # The parent is a junction (partsupp: part and supplier): its columns' own links are the schema's too
            # (TPC-H declares lineitem.l_partkey → part beside lineitem → partsupp).
            continue
        for child_col, parent_col in zip(composite.from_columns, composite.to_columns, strict=True):
            direct = accepted.get((composite.from_table, child_col))
            via = accepted.get((composite.to_table, parent_col))
            if direct is not None and via is not None and direct.to_table == via.to_table:
                direct.status = "review"
                direct.reasons.append(f"implied_by_composite:{composite.to_table}")


def _report_polymorphic(edges: list[Edge]) -> list[str]:
    """Polymorphic candidates stay for review with each target's exact share of the values (from validation),
    and one warning per column names them all."""
    by_column: dict[tuple[str, tuple[str, ...]], list[Edge]] = {}
    for edge in edges:
        if edge.match != "polymorphic_partial":
            continue
        coverage = (edge.validation or {}).get("coverage")
        if coverage is None or coverage < 0.05 or (edge.validation or {}).get("error"):
            continue
        edge.status = "review"
        edge.reasons = ["polymorphic_partial", f"covers {coverage:.0%} of the values"]
        by_column.setdefault((edge.from_table, edge.from_columns), []).append(edge)
    warnings = []
    for (table, columns), found in by_column.items():
        if len(found) < 2:
            for edge in found:
                edge.status = "rejected"
            continue
        shares = ", ".join(
            f"{e.to_table}.{','.join(e.to_columns)} {(e.validation or {}).get('coverage', 0):.0%}" for e in found
        )
        warnings.append(
            f"polymorphic_link: {table}.{','.join(columns)} holds keys of several tables ({shares}); listed for "
            "review, not joined — add a filtered join per type in an overlay if that is what it is"
        )
    return warnings


def discover_relationships(
    tables: list[TableInfo],
    stats: dict[str, TableStats],
    connector: Any | None,
    settings: DiscoverySettings,
    *,
    llm: Any = None,
    embeddings: dict[tuple[str, str], list[float]] | None = None,
    observed: list[Edge] | None = None,
    progress: Callable[[str], None] | None = None,
) -> DiscoveryResult:
    """`observed`: joins seen in query history; like LLM proposals they are candidates, and only SQL validation
    makes them accepted."""
    started = time.perf_counter()
    result = DiscoveryResult()
    by_key = {t.key: t for t in tables}
    formal, skipped = formal_edges(tables)
    result.skipped = skipped
    formal_slots = {(e.from_table, e.from_columns) for e in formal}
    indexes = build_indexes(tables, stats)
    if progress:
        progress("candidates")
    generated = generate_candidates(tables, stats, indexes, exclude={e.id for e in formal})
    generated += inclusion_candidates(tables, stats, indexes, exclude={e.id for e in formal})
    if embeddings:
        generated += embedding_candidates(tables, stats, indexes, embeddings)
    candidates: dict[str, Edge] = {}
    per_column: dict[tuple[str, tuple[str, ...]], list[Edge]] = {}
    for edge in generated:
        if (edge.from_table, edge.from_columns) in formal_slots:
            continue
        similarity = edge.features.get("embedding") if embeddings else None
        if score_edge(edge, by_key, stats, similarity) < MIN_CONFIDENCE:
            continue
        per_column.setdefault((edge.from_table, edge.from_columns), []).append(edge)
    for edges in per_column.values():
        if any(by_key[e.to_table].kind != "view" for e in edges):
            # A view repeats its tables' columns: it is a target only when no table qualifies.
            edges[:] = [e for e in edges if by_key[e.to_table].kind != "view"]
        edges.sort(key=lambda e: (-e.confidence, e.to_table))
        _merge(candidates, edges[: settings.max_candidates_per_column])
    del generated, per_column  # the candidates below the cut are not kept through validation
    llm_status = "skipped"
    if llm is not None and settings.llm_proposals and tables:
        if progress:
            progress("llm proposals")
        proposed, warnings, llm_status = propose(llm, tables, stats, settings.max_llm_tables)
        result.warnings += warnings
        _merge(candidates, [e for e in proposed if (e.from_table, e.from_columns) not in formal_slots])
    if observed:
        _merge(
            candidates,
            [e for e in observed if (e.from_table, e.from_columns) not in formal_slots and e.from_table in by_key],
        )
    edges = list(candidates.values())
    if progress:
        progress(f"validating {len(edges)} candidates")
    budget = validation_budget(settings.validation_budget, len(tables))
    queries = validate_candidates(
        connector,
        edges,
        by_key,
        stats,
        budget=budget,
        sample=settings.sample_rows,
        concurrency=settings.validation_concurrency,
        accept=settings.accept_threshold,
        review=settings.review_threshold,
    )
    unattempted = sum(1 for edge in edges if "validation_unattempted" in edge.reasons)
    if unattempted:
        result.warnings.append(
            f"validation_budget_exhausted: {queries} validation queries (the budget) left {unattempted} of "
            f"{len(edges)} candidate links unchecked; they are listed for review, not accepted. Set "
            "scan.relationships.validationBudget: all (or a larger number) in ktx.yaml to check them."
        )
    keys, pk_scores = infer_primary_keys(by_key, stats, [*formal, *edges], indexes)
    resolve_edges(
        edges,
        pk_scores,
        validation_required=settings.validation_required,
        review_floor=settings.review_threshold,
        keys=keys,
    )
    result.warnings += _report_polymorphic(edges)
    composite_edges: list[Edge] = []
    if connector is not None:
        if progress:
            progress("composite keys")
        linked: dict[str, dict[str, str]] = {}
        for edge in [*formal, *edges]:
            if edge.status == "accepted" and len(edge.from_columns) == 1 and edge.to_table != edge.from_table:
                linked.setdefault(edge.from_table, {})[edge.from_columns[0]] = edge.to_table
        composite_edges, composite_queries, composite_warnings = discover_composites(
            connector,
            by_key,
            stats,
            indexes,
            keys,
            sample=settings.sample_rows,
            references=linked,
        )
        queries += composite_queries
        result.warnings += composite_warnings
    _drop_implied(edges, composite_edges)
    result.primary_keys = keys
    seen: set[str] = set()
    for edge in [*formal, *edges, *composite_edges]:
        if edge.id in seen:
            continue
        seen.add(edge.id)
        {"accepted": result.accepted, "review": result.review, "rejected": result.rejected}[edge.status].append(edge)
    counts: dict[str, int] = {}
    for edge in [*formal, *edges, *composite_edges]:
        counts[edge.match] = counts.get(edge.match, 0) + 1
    result.diagnostics = {
        "summary": result.counts(),
        "noAcceptedReason": None if result.accepted else ("no_candidates" if not edges else "none_passed_validation"),
        "candidateCountsBySource": counts,
        "validation": {
            "available": connector is not None,
            "sqlAvailable": connector is not None,
            "queryCount": queries,
        },
        "budget": budget if budget is not None else "all",
        "thresholds": {"accept": settings.accept_threshold, "review": settings.review_threshold},
        "llmRelationshipValidation": llm_status,
        "durationMs": round((time.perf_counter() - started) * 1000, 1),
    }
    clear_name_caches()
    return result
