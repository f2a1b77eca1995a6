"""The dictionary lane: sampled column values of scanned tables that match the query."""

from __future__ import annotations

from collections.abc import Sequence

from ktx.search.core import Candidate, Lane, Query
from ktx.search.index import SearchIndex


def dictionary(index: SearchIndex, connection_ids: Sequence[str], query: Query, limit: int) -> Lane:
    terms = query.substring_terms
    if not terms:
        return Lane("dictionary")
    if not index.reader().execute("SELECT 1 FROM sl_dictionary LIMIT 1").fetchone():
        return Lane("dictionary", "skipped", reason="no_profile_artifact")
    placeholders = ", ".join("?" for _ in connection_ids)
    likes = " OR ".join("value_lower LIKE ?" for _ in terms)
    rows = (
        index.reader()
        .execute(
            "SELECT connection_id, source_name, column_name, value FROM sl_dictionary "
            f"WHERE connection_id IN ({placeholders}) AND ({likes}) ORDER BY connection_id, "
            "source_name, column_name, value",
            [*connection_ids, *[f"%{t}%" for t in terms]],
        )
        .fetchall()
    )
    grouped: dict[str, dict[str, list[str]]] = {}
    for conn_id, source, column, value in rows:
        values = grouped.setdefault(f"{conn_id}/{source}", {}).setdefault(column, [])
        if len(values) < 5:
            values.append(value)
    ranked = sorted(grouped.items(), key=lambda item: (-sum(len(v) for v in item[1].values()), item[0]))
    return Lane(
        "dictionary",
        candidates=[
            Candidate(
                doc_id,
                i,
                float(sum(len(v) for v in cols.values())),
                [{"column": c, "values": v} for c, v in cols.items()],
            )
            for i, (doc_id, cols) in enumerate(ranked[:limit], start=1)
        ],
    )
