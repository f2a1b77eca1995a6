"""The lexical lane's BM25 in memory, for a server that searches the same index again and again.

FTS5 scores every row an OR query matches with its `bm25()` function: on a 10,000-page wiki a question with one
common word costs ~3 ms of CPU, most of a search. This mirror holds FTS5's own tokens of every row (read from its
`fts5vocab` instance table, so stemming and tokenizing are FTS5's, not a re-implementation) and computes the same
formula with the same operations in the same order — equal scores to the last bit, tested against FTS5 on found
text — in ~0.1 ms. It is table-wide, like FTS5's statistics (row count, average length, rows per phrase).

FTS5's bm25 for a row D and query phrases q_i (fts5_aux.c):
    idf_i = log((N - n_i + 0.5) / (n_i + 0.5)), or 1e-6 where that is ≤ 0
    f_i   = Σ over the phrase's instances in D of its column's weight
    score = -Σ_i idf_i · f_i·(k1 + 1) / (f_i + k1·(1 - b + b·|D| / avgdl)),  k1 = 1.2, b = 0.75
N: rows; n_i: rows holding phrase i; |D|: the row's tokens; avgdl: all tokens / N.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

from ktx.memo import remember

K1 = 1.2
B = 0.75
# A table this large is left to FTS5: reading every token would take seconds and tens of MB.
MAX_TOKENS = 5_000_000


class Bm25Mirror:
    """Every token instance of the FTS5 table `search_fts`, by term. Rows are numbered densely (`dense`)."""

    def __init__(self, conn: sqlite3.Connection, tokenizer: str, weights: Sequence[float]) -> None:
        """Read the table through `conn` (one read transaction). Raises `TooLarge` past MAX_TOKENS."""
        import numpy as np

        conn.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.ktx_fts_instances USING fts5vocab(main, 'search_fts', 'instance')"
        )
        conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.ktx_fts_rows USING fts5vocab(main, 'search_fts', 'row')")
        in_transaction = conn.in_transaction
        if not in_transaction:
            conn.execute("BEGIN")
        try:
            total = conn.execute("SELECT coalesce(sum(cnt), 0) FROM temp.ktx_fts_rows").fetchone()[0]
            if total > MAX_TOKENS:
                raise TooLarge(total)
            self.rows = conn.execute("SELECT count(*) FROM search_fts").fetchone()[0]
            rowids = np.asarray([r[0] for r in conn.execute("SELECT rowid FROM search_fts ORDER BY rowid")], np.int64)
            postings = conn.execute(
                "SELECT term, group_concat(doc), group_concat(CASE col "
                + " ".join(f"WHEN '{name}' THEN {i}" for i, name in enumerate(_COLUMNS))
                + " END), group_concat(offset) FROM temp.ktx_fts_instances GROUP BY term"
            ).fetchall()
        finally:
            if not in_transaction:
                conn.execute("ROLLBACK")
        self.rowids = rowids
        self.weights = np.asarray(weights, dtype=np.float64)
        self._terms: dict[str, tuple[Any, Any, Any]] = {}
        every: list[Any] = []
        for term, docs, columns, offsets in postings:
            dense = np.searchsorted(rowids, np.fromstring(docs, dtype=np.int64, sep=",")).astype(np.int32)
            self._terms[term] = (
                dense,
                np.fromstring(columns, dtype=np.int8, sep=","),
                np.fromstring(offsets, dtype=np.int32, sep=","),
            )
            every.append(dense)
        # |D|: a row's tokens are its instances (FTS5 counts what its tokenizer emitted, and indexes each one).
        self.lengths = (
            np.bincount(np.concatenate(every), minlength=len(rowids)).astype(np.float64)
            if every
            else (np.zeros(len(rowids), dtype=np.float64))
        )
        self.avgdl = float(total) / float(self.rows) if self.rows else 0.0
        self._tokenizer = _Tokenizer(tokenizer)
        self._phrases: dict[str, tuple[Any, Any, int]] = {}
        self._lock = threading.Lock()

    def dense(self, rowids: Any) -> Any:
        """Dense numbers of FTS rowids (each must be a row of the table)."""
        import numpy as np

        return np.searchsorted(self.rowids, rowids)

    def _phrase(self, term: str) -> tuple[Any, Any, int]:
        """(dense rows holding the phrase `term` tokenizes to, f_i per such row, n_i)."""
        import numpy as np

        cached = self._phrases.get(term)
        if cached is not None:
            return cached
        tokens = self._tokenizer.tokens(term)
        found = [self._terms.get(token) for token in tokens]
        if not tokens or any(f is None for f in found):
            result = (np.zeros(0, np.int32), np.zeros(0, np.float64), 0)
        elif len(tokens) == 1:
            docs, columns, _ = found[0]  # type: ignore[misc]
            rows, inverse = np.unique(docs, return_inverse=True)
            result = (rows, np.bincount(inverse, weights=self.weights[columns]), len(rows))
        else:  # tokens one after another in one column: where the first is at p, the k-th is at p + k
            keys = None
            for k, (docs, columns, offsets) in enumerate(found):  # type: ignore[misc]
                fits = offsets >= k  # the k-th token of a phrase cannot stand before position k
                at = (
                    (docs[fits].astype(np.int64) << 40)
                    | (columns[fits].astype(np.int64) << 32)
                    | (offsets[fits].astype(np.int64) - k)
                )
                keys = at if keys is None else np.intersect1d(keys, at, assume_unique=True)
            starts = np.sort(keys)
            docs = (starts >> 40).astype(np.int32)
            columns = ((starts >> 32) & 0xFF).astype(np.int8)
            rows, inverse = np.unique(docs, return_inverse=True)
            result = (rows, np.bincount(inverse, weights=self.weights[columns]), len(rows))
        with self._lock:
            return remember(self._phrases, term, result, 20_000)

    def ranks(self, terms: Sequence[str]) -> tuple[Any, Any] | None:
        """(dense rows the OR of `terms` matches, their bm25 rank — negative, best lowest), as FTS5 computes it.
        None when a term has no token at all (`_`): what FTS5 makes of an empty phrase is left to FTS5."""
        import numpy as np

        if any(not self._tokenizer.tokens(term) for term in terms):
            return None
        score = np.zeros(len(self.rowids), dtype=np.float64)
        matched = np.zeros(len(self.rowids), dtype=bool)
        norm = K1 * (1 - B + B * self.lengths / self.avgdl) if self.avgdl else None
        for term in terms:
            rows, freq, hits = self._phrase(term)
            idf = math.log((self.rows - hits + 0.5) / (hits + 0.5))
            if idf <= 0.0:
                idf = 1e-6
            f = np.zeros(len(self.rowids), dtype=np.float64)
            f[rows] = freq
            score += idf * ((f * (K1 + 1.0)) / (f + norm))
            matched[rows] = True
        found = np.flatnonzero(matched)
        return found, -1.0 * score[found]


class TooLarge(Exception):
    """An index too large to keep in memory: searches of it stay with SQLite."""

    def __init__(self, size: int) -> None:
        super().__init__(f"{size} entries")


# search_fts's columns, in order (their weights are the rank function's arguments, in the same order).
_COLUMNS = ("key", "summary", "content", "tags")


class _Tokenizer:
    """FTS5's own tokenizer (an in-memory FTS5 table of the same kind), for turning a query term into the tokens
    FTS5 turns it into: `calculated` → `calcul`, `order_id` → `order`, `id`."""

    def __init__(self, tokenizer: str) -> None:
        self._conn = sqlite3.connect(":memory:", check_same_thread=False)
        self._conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(x, tokenize = '{tokenizer}')")
        self._conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
        self._lock = threading.Lock()
        self._known: dict[str, list[str]] = {}

    def tokens(self, term: str) -> list[str]:
        known = self._known.get(term)
        if known is not None:
            return known
        with self._lock:
            self._conn.execute("DELETE FROM t")
            self._conn.execute("INSERT INTO t (x) VALUES (?)", (term,))
            tokens = [row[0] for row in self._conn.execute("SELECT term FROM v ORDER BY offset")]
            return remember(self._known, term, tokens, 20_000)
