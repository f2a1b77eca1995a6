"""The semantic lane: cosine similarity of the query embedding to stored float32 vectors (numpy)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ktx.search.core import Candidate, Lane
from ktx.search.index import SearchIndex, model_id, scope_clause


def semantic(index: SearchIndex, kind: str, scopes: Sequence[str], query_text: str, embedder: Any, limit: int) -> Lane:
    if embedder is None:
        return Lane("semantic", "skipped", reason="embedding_unconfigured")
    import numpy as np

    try:
        vector = np.asarray(embedder.embed([query_text])[0], dtype=np.float32)
    except Exception as exc:
        return Lane("semantic", "skipped", reason=f"embedding_unhealthy:{getattr(exc, 'message', None) or exc}")
    model = model_id(embedder)
    key = (kind, tuple(scopes), model or "")
    if key not in index.vector_cache:
        clause, params = scope_clause(scopes)
        rows = (
            index.reader()
            .execute(
                f"SELECT d.doc_id, d.embedding FROM search_docs AS d WHERE d.kind = ? AND {clause} "
                "AND d.embedding IS NOT NULL AND d.embedding_model = ? ORDER BY d.doc_id",
                [kind, *params, model],
            )
            .fetchall()
        )
        ids = [r[0] for r in rows]
        matrix = (
            np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
            if rows
            else np.zeros((0, len(vector)), dtype=np.float32)
        )
        norms = np.linalg.norm(matrix, axis=1)
        norms[norms == 0] = 1.0
        index.vector_cache[key] = (ids, matrix / norms[:, None])
    ids, normalized = index.vector_cache[key]
    if not ids or normalized.shape[1] != len(vector):
        return Lane("semantic")
    norm = float(np.linalg.norm(vector)) or 1.0
    sims = normalized @ (vector / norm)
    order = np.lexsort((np.array(ids), -sims))
    candidates = []
    for idx in order[:limit]:
        if sims[idx] <= 0:
            break
        candidates.append(Candidate(ids[idx], len(candidates) + 1, float(sims[idx])))
    return Lane("semantic", candidates=candidates)
