"""The token lane's index in memory, for a server that searches the same documents again and again.

The token lane asks which documents contain each query term as a substring. A query term is made of `[a-z0-9_]`
only (see `normalize_query`), so it lies inside a document's lower-cased text exactly when it lies inside one of
that text's maximal `[a-z0-9_]` runs — its words. This index keeps every distinct word once, the documents holding
each word, and answers a term by finding it in the words (a few thousand strings, not the whole corpus) and
taking their documents. Same answers as the SQL lane (trigram MATCH or `instr`), with no SQL per question: on a
10,000-page wiki ~0.1 ms instead of ~7 ms of CPU, after ~0.2 s to build.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from ktx.memo import remember
from ktx.search.bm25 import TooLarge

_WORD = re.compile(r"[a-z0-9_]+")
# Terms whose documents are remembered; a server's questions repeat their words.
TERM_CACHE_SIZE = 20_000
# (word, document) pairs past which a scope is left to SQLite (~80,000 wiki pages; building would take seconds).
MAX_PAIRS = 2_000_000


class SubstringIndex:
    """Documents of one kind and set of scopes, by the words of their text. Ordinals are positions in doc_id
    order, so ties (equal share of the terms found) break by doc_id as the SQL lane's ORDER BY does."""

    def __init__(self, rows: Iterable[tuple[int, str, str]]) -> None:
        """`rows`: (rowid, doc_id, lower-cased text), in doc_id order. Raises TooLarge past MAX_PAIRS."""
        import numpy as np

        self.doc_ids: list[str] = []
        self.ordinal_by_rowid: dict[int, int] = {}
        self._by_mirror: tuple[Any, Any] | None = None
        words: dict[str, int] = {}
        pair_words: list[int] = []
        pair_docs: list[int] = []
        for ordinal, (rowid, doc_id, text) in enumerate(rows):
            self.doc_ids.append(doc_id)
            self.ordinal_by_rowid[rowid] = ordinal
            for word in set(_WORD.findall(text)):
                number = words.setdefault(word, len(words))
                pair_words.append(number)
                pair_docs.append(ordinal)
            if len(pair_docs) > MAX_PAIRS:
                raise TooLarge(len(pair_docs))
        word_of = np.asarray(pair_words, dtype=np.int32)
        order = np.argsort(word_of, kind="stable")
        self._pair_words = word_of[order]
        self._pair_docs = np.asarray(pair_docs, dtype=np.int32)[order]
        self._offsets = np.searchsorted(self._pair_words, np.arange(len(words) + 1))
        # Every word on its own line: a term's occurrences in this text are its occurrences in the words.
        self._text = "".join(word + "\n" for word in words)
        lengths = np.fromiter((len(word) + 1 for word in words), dtype=np.int64, count=len(words))
        self._starts = np.concatenate(([0], np.cumsum(lengths)[:-1])) if len(words) else np.zeros(0, np.int64)
        self._word_count = len(words)
        self.rowids = np.fromiter(self.ordinal_by_rowid, dtype=np.int64, count=len(self.ordinal_by_rowid))
        self._terms: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.doc_ids)

    def _documents(self, term: str) -> Any:
        """Ordinals of the documents containing `term`, ascending."""
        import numpy as np

        cached = self._terms.get(term)
        if cached is not None:
            return cached
        positions = np.fromiter((m.start() for m in re.finditer(re.escape(term), self._text)), dtype=np.int64)
        found = np.unique(np.searchsorted(self._starts, positions, side="right") - 1)
        if len(found) == 0:
            documents = np.zeros(0, dtype=np.int32)
        elif len(found) < 64:
            documents = np.unique(
                np.concatenate([self._pair_docs[self._offsets[w] : self._offsets[w + 1]] for w in found])
            )
        else:  # a short term inside many words: select their pairs at once
            chosen = np.zeros(self._word_count, dtype=bool)
            chosen[found] = True
            documents = np.unique(self._pair_docs[chosen[self._pair_words]])
        with self._lock:
            return remember(self._terms, term, documents, TERM_CACHE_SIZE)

    def top(self, terms: Sequence[str], limit: int) -> list[tuple[str, float]]:
        """(doc_id, share of `terms` found in it), most found first, then by doc_id; at most `limit`."""
        import numpy as np

        counts = np.zeros(len(self.doc_ids), dtype=np.int32)
        for term in dict.fromkeys(terms):
            counts[self._documents(term)] += 1
        found = np.flatnonzero(counts)
        best = found[np.lexsort((found, -counts[found]))][:limit]
        return [(self.doc_ids[i], int(counts[i]) / len(terms)) for i in best]

    def ordinals_in(self, mirror: Any) -> Any:
        """For each of `mirror`'s dense rows, this scope's ordinal of it, or -1 (another kind or scope)."""
        import numpy as np

        known = self._by_mirror
        if known is not None and known[0] is mirror:
            return known[1]
        ordinals = np.full(len(mirror.rowids), -1, dtype=np.int64)
        dense = mirror.dense(self.rowids)
        present = dense < len(mirror.rowids)
        present[present] = mirror.rowids[dense[present]] == self.rowids[present]  # read at the same moment, or not
        ordinals[dense[present]] = np.flatnonzero(present)
        self._by_mirror = (mirror, ordinals)
        return ordinals

    def doc_id(self, rowid: int) -> str | None:
        ordinal = self.ordinal_by_rowid.get(rowid)
        return None if ordinal is None else self.doc_ids[ordinal]
