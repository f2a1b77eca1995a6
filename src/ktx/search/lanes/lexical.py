"""The lexical lane: BM25 over FTS5, and highlighted snippets for final results."""

from __future__ import annotations

from collections.abc import Sequence

from ktx.search.core import Candidate, Lane, Query
from ktx.search.index import SearchIndex, docs_by_rowid


def lexical(index: SearchIndex, kind: str, scopes: Sequence[str], query: Query, limit: int) -> Lane:
    """BM25 over key, summary, text and tags (weights 4, 3, 1, 2), best first.

    FTS5's own `rank` ordering with a LIMIT is much cheaper than sorting on bm25() in a join;
    rows of other kinds or scopes are filtered afterwards (in memory when the token lane keeps these documents
    there), fetching more when too many drop out.
    """
    terms = query.content_terms
    if not terms:
        return Lane("lexical")
    match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
    allowed = set(scopes)
    in_memory = index.built_substrings(kind, scopes)
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
        if in_memory is not None:
            docs = [(rowid, doc_id) for rowid in ranks if (doc_id := in_memory.doc_id(rowid)) is not None]
        else:
            docs = docs_by_rowid(index, list(ranks), kind, allowed)
        ordered = sorted(docs, key=lambda d: (ranks[d[0]], d[1]))[:limit]
        if len(ordered) >= limit or len(hits) < fetch:
            break
        fetch *= 4
    return Lane(
        "lexical",
        candidates=[Candidate(doc_id, i, ranks[rowid]) for i, (rowid, doc_id) in enumerate(ordered, start=1)],
    )


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
