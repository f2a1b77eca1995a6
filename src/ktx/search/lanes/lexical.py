"""The lexical lane: BM25 over FTS5, and highlighted snippets for final results."""

from __future__ import annotations

from collections.abc import Sequence

from ktx.search.core import Candidate, Lane, Query
from ktx.search.index import InMemory, SearchIndex, docs_by_rowid


def lexical(
    index: SearchIndex, kind: str, scopes: Sequence[str], query: Query, limit: int, memory: InMemory | None = None
) -> Lane:
    """BM25 over key, summary, text and tags (weights 4, 3, 1, 2): the best `limit` documents of `kind` in
    `scopes`, by rank and then doc_id.

    With the documents kept in `memory` (a server searching them again and again) the same scores come from the
    table's BM25 mirror. Otherwise FTS5 ranks: its own `rank` ordering with a LIMIT is much cheaper than sorting on
    bm25() in a join; rows of other kinds or scopes are filtered afterwards, fetching more while too many drop out or
    the last fetched row ties with the last one kept.
    """
    terms = query.content_terms
    if not terms:
        return Lane("lexical")
    found = _in_memory(memory, terms, limit) if memory is not None else None
    if found is None:
        found = _by_fts5(index, kind, scopes, terms, limit, memory)
    return Lane("lexical", candidates=[Candidate(doc_id, i, rank) for i, (doc_id, rank) in enumerate(found, start=1)])


def _in_memory(memory: InMemory, terms: Sequence[str], limit: int) -> list[tuple[str, float]] | None:
    import numpy as np

    documents, mirror = memory.words, memory.bm25
    if mirror is None:
        return None
    ranked = mirror.ranks(terms)
    if ranked is None:
        return None
    rows, ranks = ranked
    ordinals = documents.ordinals_in(mirror)[rows]
    kept = ordinals >= 0
    ordinals, ranks = ordinals[kept], ranks[kept]
    best = np.lexsort((ordinals, ranks))[:limit]  # doc_id order is ordinal order
    return [(documents.doc_ids[ordinals[i]], float(ranks[i])) for i in best]


def _by_fts5(
    index: SearchIndex, kind: str, scopes: Sequence[str], terms: Sequence[str], limit: int, memory: InMemory | None
) -> list[tuple[str, float]]:
    match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
    allowed = set(scopes)
    fetch = limit * 4
    while True:
        hits = (
            index.reader()
            .execute(
                "SELECT rowid, rank FROM search_fts WHERE search_fts MATCH ? ORDER BY rank LIMIT ?", (match, fetch)
            )
            .fetchall()
        )
        ranks = {rowid: rank for rowid, rank in hits}
        if memory is not None:
            docs = [(rowid, doc_id) for rowid in ranks if (doc_id := memory.words.doc_id(rowid)) is not None]
        else:
            docs = docs_by_rowid(index, list(ranks), kind, allowed)
        ordered = sorted(docs, key=lambda d: (ranks[d[0]], d[1]))[:limit]
        if len(hits) < fetch or (len(ordered) >= limit and ranks[ordered[-1][0]] < hits[-1][1]):
            break  # every row, or every row that could rank with the last one kept, was seen
        fetch *= 4
    return [(doc_id, ranks[rowid]) for rowid, doc_id in ordered]


def snippets(index: SearchIndex, kind: str, doc_ids: Sequence[str], query: Query) -> dict[str, str]:
    """`<mark>`-highlighted excerpts for a few final results (one FTS lookup each)."""
    terms = query.content_terms
    if not terms or not doc_ids:
        return {}
    match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
    out = {}
    for doc_id in doc_ids:
        row = index.conn.execute(
            "SELECT snippet(search_fts, 2, '<mark>', '</mark>', '...', 12) FROM search_fts "
            "WHERE search_fts MATCH ? "
            "AND rowid = (SELECT rowid FROM search_docs WHERE kind = ? AND doc_id = ?)",
            (match, kind, doc_id),
        ).fetchone()
        if row and row[0]:
            out[doc_id] = row[0]
    return out
