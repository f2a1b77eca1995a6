"""Confidence of a candidate from weighted signals (name, types, values, profile, structure)."""

from __future__ import annotations

from ktx.scan.profile import TableStats
from ktx.scan.relationships.candidates import types_compatible, value_overlap
from ktx.scan.relationships.model import Edge, TableInfo

WEIGHTS = {
    "nameSimilarity": 0.24,
    "typeCompatibility": 0.10,
    "valueOverlap": 0.22,
    "embeddingSimilarity": 0.10,
    "profileUniqueness": 0.22,
    "profileNullRate": 0.08,
    "structuralPrior": 0.04,
}


def _structural_prior(edge: Edge, stats: dict[str, TableStats]) -> float:
    if edge.from_table == edge.to_table:
        return 0.72
    child, parent = stats.get(edge.from_table), stats.get(edge.to_table)
    if child is None or parent is None or not child.row_count or not parent.row_count:
        return 0.5
    ratio = parent.row_count / child.row_count
    return 0.7 if 0.05 <= ratio <= 20 else 0.4


def score_edge(
    edge: Edge, tables: dict[str, TableInfo], stats: dict[str, TableStats], embedding_similarity: float | None = None
) -> float:
    """Set `edge.features` and `edge.confidence`; 0 when the column types cannot join."""
    child_col = tables[edge.from_table].column(edge.from_columns[0])
    parent_col = tables[edge.to_table].column(edge.to_columns[0])
    compatible = child_col is not None and parent_col is not None and types_compatible(child_col, parent_col)
    child_stats = stats.get(edge.from_table)
    parent_stats = stats.get(edge.to_table)
    source = child_stats.columns.get(edge.from_columns[0]) if child_stats else None
    target = parent_stats.columns.get(edge.to_columns[0]) if parent_stats else None
    overlap = value_overlap(source, target) or 0.0
    features = {
        "nameSimilarity": edge.name_score,
        "typeCompatibility": 1.0 if compatible else 0.0,
        "valueOverlap": overlap,
        "embeddingSimilarity": embedding_similarity or 0.0,
        "profileUniqueness": target.uniqueness if target is not None and target.sampled else edge.target_key_score,
        "profileNullRate": 1 - source.null_rate if source is not None and source.sampled else 0.5,
        "structuralPrior": _structural_prior(edge, stats),
    }
    weights = dict(WEIGHTS)
    if embedding_similarity is None:
        weights.pop("embeddingSimilarity")
    total = sum(weights.values())
    raw = sum(weights[k] * features[k] for k in weights) / total
    edge.features = features
    edge.confidence = 0.0 if not compatible else round(min(1.0, max(0.0, 0.56 + 0.65 * raw)), 3)
    return edge.confidence
