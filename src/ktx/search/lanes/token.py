"""The token lane: query terms found as substrings of the text (trigram index, `instr` for short terms)."""

from __future__ import annotations

from collections.abc import Sequence

from ktx.search.core import Candidate, Lane, Query
from ktx.search.index import InMemory, SearchIndex, scope_clause


def token(
    index: SearchIndex, kind: str, scopes: Sequence[str], query: Query, limit: int, memory: InMemory | None = None
) -> Lane:
    """Score = fraction of query terms found as substrings of the page text.

    With the documents kept in `memory` (a server searching them again and again), the terms are looked up in
    their words (`SubstringIndex`, same answers). Before that, terms of 3+ characters come from the trigram index
    and are counted in SQL (grouped before the join, so each matching document is looked up once); a query of only
    shorter terms falls back to `instr` over the scope.
    """
    terms = query.substring_terms
    if not terms:
        return Lane("token")
    if memory is not None:
        found = memory.words.top(terms, limit)
        return Lane("token", candidates=[Candidate(doc_id, i, score) for i, (doc_id, score) in enumerate(found, 1)])
    clause, params = scope_clause(scopes)
    long_terms = [t for t in terms if len(t) >= 3]
    if long_terms:
        union = " UNION ALL ".join("SELECT rowid FROM search_trigram WHERE search_trigram MATCH ?" for _ in long_terms)
        rows = (
            index.reader()
            .execute(
                f"SELECT d.doc_id, t.found * 1.0 / ? AS score FROM (SELECT rowid, count(*) AS found FROM ({union}) "
                f"GROUP BY rowid) AS t JOIN search_docs AS d ON d.rowid = t.rowid WHERE d.kind = ? AND {clause} "
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
