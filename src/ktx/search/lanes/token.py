"""The token lane: query terms found as substrings of the text (trigram index, `instr` for short terms)."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Sequence

from ktx.search.core import Candidate, Lane, Query
from ktx.search.index import SearchIndex, scope_clause

Postings = Callable[[str], Sequence[str]]


def term_postings(index: SearchIndex, kind: str, scopes: Sequence[str], term: str) -> tuple[str, ...]:
    """Every document of `kind` in `scopes` whose text holds `term` (3+ characters) as a substring."""
    clause, params = scope_clause(scopes)
    rows = (
        index.reader()
        .execute(
            "SELECT d.doc_id FROM search_trigram AS t JOIN search_docs AS d ON d.rowid = t.rowid "
            f"WHERE search_trigram MATCH ? AND d.kind = ? AND {clause}",
            ['"' + term.replace('"', '""') + '"', kind, *params],
        )
        .fetchall()
    )
    return tuple(sys.intern(r[0]) for r in rows)


def token(
    index: SearchIndex,
    kind: str,
    scopes: Sequence[str],
    query: Query,
    limit: int,
    postings: Postings | None = None,
) -> Lane:
    """Score = fraction of query terms found as substrings of the page text.

    Terms of 3+ characters come from the trigram index and are counted in SQL — or, with `postings` (each term's
    documents, which a caller may keep between questions that share words), counted here; a query of only
    shorter terms falls back to `instr` over the scope.
    """
    terms = query.substring_terms
    if not terms:
        return Lane("token")
    clause, params = scope_clause(scopes)
    long_terms = [t for t in terms if len(t) >= 3]
    if long_terms and postings is not None:
        counts: Counter[str] = Counter()
        for term in long_terms:
            counts.update(postings(term))
        # The SQL's order: most terms found first, then doc_id (SQLite compares text as UTF-8 bytes, which orders
        # like code points).
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
        rows = [(doc_id, found * 1.0 / len(terms)) for doc_id, found in ranked]
    elif long_terms:
        union = " UNION ALL ".join("SELECT rowid FROM search_trigram WHERE search_trigram MATCH ?" for _ in long_terms)
        rows = (
            index.reader()
            .execute(
                f"SELECT d.doc_id, count(*) * 1.0 / ? AS score FROM ({union}) AS t JOIN search_docs AS d "
                f"ON d.rowid = t.rowid WHERE d.kind = ? AND {clause} GROUP BY t.rowid "
                "ORDER BY score DESC, d.doc_id ASC LIMIT ?",
                [len(terms), *['"' + t.replace('"', '""') + '"' for t in long_terms], kind, *params, limit],
            )
            .fetchall()
        )
    else:
        hits = " + ".join("(instr(d.search_lower, ?) > 0)" for _ in terms)
        rows = (
            index.reader()
            .execute(
                f"SELECT d.doc_id, ({hits}) * 1.0 / ? AS score FROM search_docs AS d WHERE d.kind = ? AND {clause} "
                "AND score > 0 ORDER BY score DESC, d.doc_id ASC LIMIT ?",
                [*terms, len(terms), kind, *params, limit],
            )
            .fetchall()
        )
    return Lane("token", candidates=[Candidate(r[0], i, r[1]) for i, r in enumerate(rows, start=1)])
