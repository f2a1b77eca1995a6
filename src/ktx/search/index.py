"""The search index in `.ktx/db.sqlite`: its tables, and keeping them in sync with the files (FTS5 for the
lexical lane, lower-cased text and trigrams for the token lane, float32 embedding blobs for the semantic lane,
sampled values for the dictionary lane). The lanes that read it live in `ktx/search/lanes/`. Files stay the
source of truth; everything here is rebuilt from them."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ktx.memo import remember
from ktx.project.state import register_migration, transaction
from ktx.search.bm25 import Bm25Mirror, TooLarge
from ktx.search.substrings import SubstringIndex

EMBED_BATCH = 64
# search_fts's tokenizer and its bm25 column weights (key, summary, content, tags), for the table and its mirror.
FTS_TOKENIZER = "porter unicode61"
FTS_WEIGHTS = (4.0, 3.0, 1.0, 2.0)
# Searches of the same documents after which they are kept in memory (SubstringIndex for the token lane, Bm25Mirror
# for the lexical lane): building costs about as much as 50 SQL searches, so a one-off CLI search never builds them
# and a server soon does.
MEMORY_REUSE = 3
ROW_CACHE_SIZE = 20_000


def migrate_search_tables(conn: sqlite3.Connection) -> None:
    # Statement by statement: executescript would commit the migration's open transaction.
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


_SCHEMA = """
        CREATE TABLE IF NOT EXISTS search_docs (
            kind TEXT NOT NULL,
            doc_id TEXT NOT NULL,
            scope TEXT NOT NULL,
            key TEXT NOT NULL,
            summary TEXT NOT NULL DEFAULT '',
            search_text TEXT NOT NULL,
            search_lower TEXT NOT NULL,
            text_hash TEXT NOT NULL,
            file_mtime_ns INTEGER,
            file_size INTEGER,
            meta TEXT,
            embedding BLOB,
            embedding_model TEXT,
            PRIMARY KEY (kind, doc_id)
        );
        CREATE INDEX IF NOT EXISTS search_docs_scope ON search_docs (kind, scope);
        CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(
            key, summary, content, tags, tokenize = '{tokenizer}'
        );
        INSERT INTO search_fts (search_fts, rank) VALUES ('rank', 'bm25({weights})');
        CREATE VIRTUAL TABLE IF NOT EXISTS search_trigram USING fts5(text, tokenize = 'trigram');
        CREATE TABLE IF NOT EXISTS sl_dictionary (
            connection_id TEXT NOT NULL,
            source_name TEXT NOT NULL,
            column_name TEXT NOT NULL,
            value TEXT NOT NULL,
            value_lower TEXT NOT NULL,
            cardinality INTEGER,
            PRIMARY KEY (connection_id, source_name, column_name, value)
        );
        CREATE TABLE IF NOT EXISTS search_fingerprints (scope TEXT PRIMARY KEY, fingerprint TEXT NOT NULL);
        """.replace("{tokenizer}", FTS_TOKENIZER).replace("{weights}", ", ".join(map(str, FTS_WEIGHTS)))


@dataclass
class IndexDoc:
    doc_id: str
    key: str
    summary: str
    search_text: str
    tags: str = ""
    meta: dict[str, Any] | str = field(default_factory=dict)  # or already its JSON text
    mtime_ns: int | None = None
    size: int | None = None

    @property
    def text_hash(self) -> str:
        return hashlib.sha256(self.search_text.encode()).hexdigest()


# A file-backed document: (doc_id, mtime_ns, size, what the loader needs to read it). Plain tuples,
# because a sync looks at every file on every search and most of them have not changed.
FileStat = tuple[str, int, int, Any]


@dataclass
class SyncStats:
    scanned: int = 0
    updated: int = 0
    deleted: int = 0
    embeddings_recomputed: int = 0
    embeddings_failed: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = {
            "scanned": self.scanned,
            "updated": self.updated,
            "deleted": self.deleted,
            "embeddingsRecomputed": self.embeddings_recomputed,
            "embeddingsFailed": self.embeddings_failed,
        }
        if self.error:
            data["error"] = self.error
        return data


def _blob(vector: Sequence[float]) -> bytes:
    import numpy as np

    return np.asarray(vector, dtype=np.float32).tobytes()


class SearchIndex:
    def __init__(self, conn: sqlite3.Connection, path: str | None = None) -> None:
        self.conn = conn
        self.path = path
        self._local = threading.local()
        self.vector_cache: dict[tuple[str, tuple[str, ...], str], Any] = {}
        # (kind, scope) → (data_version, rows): reused while no other connection has written.
        self._known_cache: dict[tuple[str, str], tuple[int, dict[str, tuple[Any, ...]]]] = {}
        # The token lane's documents in memory, per (kind, scopes): built once the same documents are searched
        # again (a one-off search costs less in SQL than building it), valid while nobody wrote the index.
        self._writes = 0  # this connection's own changes to documents (data_version counts only the others')
        self._memory: dict[tuple[str, tuple[str, ...]], tuple[tuple[int, int], InMemory | None, int]] = {}
        self._mirror: tuple[tuple[int, int], Bm25Mirror | None] | None = None  # the lexical lane's, table-wide
        self._memory_lock = threading.Lock()

    def reader(self) -> sqlite3.Connection:
        """A read-only connection for the calling thread, so lanes really run in parallel
        (one shared connection would serialise them). Falls back to the write connection."""
        if self.path is None:
            return self.conn
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._local.conn = conn
        return conn

    def unchanged_since_last_sync(self, kind: str, scope: str, version: int | None = None) -> bool:
        """True when no other connection wrote the index since this one last synced the scope. `version`: the
        `version()` a search read when it began (one read per search, not one per question asked of the index)."""
        cached = self._known_cache.get((kind, scope))
        return cached is not None and cached[0] == (self._data_version() if version is None else version)

    def doc_count(self, kind: str, scope: str, version: int | None = None) -> int:
        """Documents of one scope as last synced (read again only after another connection wrote)."""
        return len(self._known(kind, scope, version))

    def count(self, kind: str, scopes: Sequence[str]) -> int:
        """Documents of `kind` in any of `scopes`, read from the table (no cache)."""
        clause, params = scope_clause(scopes)
        return (
            self.reader()
            .execute(f"SELECT count(*) FROM search_docs d WHERE d.kind = ? AND {clause}", [kind, *params])
            .fetchone()[0]
        )

    def _data_version(self) -> int:
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    def version(self) -> int:
        """Changes whenever another connection (another process) has written the database since."""
        return self._data_version()

    def in_memory(self, kind: str, scopes: Sequence[str], version: int | None = None) -> InMemory | None:
        """The documents of `kind` in `scopes` kept in memory for the lanes; None until they have been searched
        MEMORY_REUSE times with nothing written in between, and while another thread builds them (that
        search goes to SQLite rather than wait). A search asks once and hands the answer to its lanes."""
        key = (kind, tuple(scopes))
        stamp = (self._data_version() if version is None else version, self._writes)
        with self._memory_lock:
            entry = self._memory.get(key)
            uses = entry[2] + 1 if entry is not None and entry[0] == stamp else 1
            if entry is not None and entry[0] == stamp and entry[1] is not None:
                return entry[1]
            building = uses == MEMORY_REUSE
            self._memory[key] = (stamp, None, uses)
            mirror = self._mirror[1] if self._mirror is not None and self._mirror[0] == stamp else None
            build_mirror = building and (self._mirror is None or self._mirror[0] != stamp)
            if build_mirror:
                self._mirror = (stamp, None)  # being built (or, for a table too large, never)
        if not building:
            return None
        reader = self.reader()
        clause, params = scope_clause(scopes)
        rows = reader.execute(
            f"SELECT rowid, doc_id, search_lower FROM search_docs AS d WHERE d.kind = ? AND {clause} ORDER BY d.doc_id",
            [kind, *params],
        )
        try:
            words = SubstringIndex(rows)
        except TooLarge:
            rows.close()
            with self._memory_lock:
                if self._mirror is not None and self._mirror[0] == stamp and build_mirror:
                    self._mirror = None
            return None  # and not tried again for this stamp: its count of uses is past MEMORY_REUSE
        if build_mirror:
            try:
                mirror = Bm25Mirror(reader, FTS_TOKENIZER, FTS_WEIGHTS)
            except TooLarge:
                mirror = None
        built = InMemory(words, mirror)
        with self._memory_lock:
            current = self._memory.get(key)
            if current is not None and current[0] == stamp:
                self._memory[key] = (stamp, built, current[2])
            if build_mirror and self._mirror is not None and self._mirror[0] == stamp:
                self._mirror = (stamp, mirror)
        return built

    def _documents_changed(self) -> None:
        with self._memory_lock:
            self._writes += 1
            self._memory.clear()
            self._mirror = None

    def _known(self, kind: str, scope: str, version: int | None = None) -> dict[str, tuple[Any, ...]]:
        version = self._data_version() if version is None else version
        cached = self._known_cache.get((kind, scope))
        if cached is not None and cached[0] == version:
            return cached[1]
        known = {
            row[0]: tuple(row[1:])
            for row in self.conn.execute(
                "SELECT doc_id, file_mtime_ns, file_size, text_hash, embedding IS NOT NULL, embedding_model "
                "FROM search_docs WHERE kind = ? AND scope = ?",
                (kind, scope),
            )
        }
        self._known_cache[(kind, scope)] = (version, known)
        return known

    # --- writing -------------------------------------------------------------------------

    def clear_scope(self, kind: str, scope: str) -> int:
        rows = self.conn.execute("SELECT rowid FROM search_docs WHERE kind = ? AND scope = ?", (kind, scope)).fetchall()
        with transaction(self.conn):
            for (rowid,) in rows:
                self.conn.execute("DELETE FROM search_fts WHERE rowid = ?", (rowid,))
                self.conn.execute("DELETE FROM search_trigram WHERE rowid = ?", (rowid,))
            self.conn.execute("DELETE FROM search_docs WHERE kind = ? AND scope = ?", (kind, scope))
            self.conn.execute("DELETE FROM search_fingerprints WHERE scope = ?", (f"{kind}:{scope}",))
        self.vector_cache.clear()
        self._known_cache.pop((kind, scope), None)
        self._documents_changed()
        return len(rows)

    def sync_files(
        self,
        kind: str,
        scope: str,
        files: Iterable[FileStat],
        load: Callable[[Any], IndexDoc | None],
        embedder: Any = None,
        *,
        force: bool = False,
    ) -> SyncStats:
        """Bring one scope in line with its files: read only files whose stat changed, re-embed only
        documents whose text changed (or that lack a vector from the current model), drop the rest."""
        stats = SyncStats()
        if force:
            self.clear_scope(kind, scope)
        known = self._known(kind, scope)
        model = model_id(embedder)
        seen: set[str] = set()
        changed: list[IndexDoc] = []
        restat: list[tuple[str, int, int]] = []
        for doc_id, mtime_ns, size, source in files:
            stats.scanned += 1
            seen.add(doc_id)
            prior = known.get(doc_id)
            unchanged = prior is not None and prior[0] == mtime_ns and prior[1] == size
            if unchanged and (model is None or (prior[3] and prior[4] == model)):
                continue
            doc = load(source)
            if doc is None:
                seen.discard(doc_id)
                continue
            doc.mtime_ns, doc.size = mtime_ns, size
            needs_vector = model is not None and prior is not None and (not prior[3] or prior[4] != model)
            if prior is not None and prior[2] == doc.text_hash and not needs_vector:
                restat.append((doc_id, mtime_ns, size))  # touched, not changed
                continue
            changed.append(doc)
        stale = [doc_id for doc_id in known if doc_id not in seen]
        self._apply(kind, scope, changed, stale, embedder, model, stats)
        if restat:
            with transaction(self.conn):
                self.conn.executemany(
                    "UPDATE search_docs SET file_mtime_ns = ?, file_size = ? WHERE kind = ? AND doc_id = ?",
                    [(m, s, kind, d) for d, m, s in restat],
                )
            self._known_cache.pop((kind, scope), None)
        return stats

    def sync_docs(
        self, kind: str, scope: str, docs: Iterable[IndexDoc], embedder: Any = None, *, force: bool = False
    ) -> SyncStats:
        """Like sync_files, for documents made as they are read (compared by text hash)."""
        files = ((d.doc_id, -1, len(d.search_text), d) for d in docs)
        return self.sync_files(kind, scope, files, lambda d: d, embedder, force=force)

    def fingerprint(self, scope_key: str) -> str | None:
        row = self.conn.execute("SELECT fingerprint FROM search_fingerprints WHERE scope = ?", (scope_key,)).fetchone()
        return row[0] if row else None

    def set_fingerprint(self, scope_key: str, value: str) -> None:
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO search_fingerprints (scope, fingerprint) VALUES (?, ?) "
                "ON CONFLICT(scope) DO UPDATE SET fingerprint = excluded.fingerprint",
                (scope_key, value),
            )

    def _apply(
        self,
        kind: str,
        scope: str,
        changed: list[IndexDoc],
        stale: list[str],
        embedder: Any,
        model: str | None,
        stats: SyncStats,
    ) -> None:
        vectors: dict[str, bytes | None] = {}
        if embedder is not None and changed:
            from ktx.llm.embeddings import embed_all

            for start in range(0, len(changed), EMBED_BATCH):
                batch = changed[start : start + EMBED_BATCH]
                try:
                    for doc, vector in zip(batch, embed_all(embedder, [d.search_text for d in batch]), strict=True):
                        vectors[doc.doc_id] = _blob(vector)
                    stats.embeddings_recomputed += len(batch)
                except Exception:
                    stats.embeddings_failed += len(batch)
        if stats.embeddings_failed:
            stats.error = f"{stats.embeddings_failed} embedding recomputation(s) failed"
        with transaction(self.conn):
            for doc_id in stale:
                self._delete(kind, doc_id)
            for doc in changed:
                self._delete(kind, doc.doc_id)
                cursor = self.conn.execute(
                    "INSERT INTO search_docs (kind, doc_id, scope, key, summary, search_text, search_lower, text_hash, "
                    "file_mtime_ns, file_size, meta, embedding, embedding_model) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        kind,
                        doc.doc_id,
                        scope,
                        doc.key,
                        doc.summary,
                        doc.search_text,
                        doc.search_text.lower(),
                        doc.text_hash,
                        doc.mtime_ns,
                        doc.size,
                        doc.meta if isinstance(doc.meta, str) else json.dumps(doc.meta),
                        vectors.get(doc.doc_id),
                        model if vectors.get(doc.doc_id) is not None else None,
                    ),
                )
                self.conn.execute(
                    "INSERT INTO search_fts (rowid, key, summary, content, tags) VALUES (?, ?, ?, ?, ?)",
                    (cursor.lastrowid, doc.key, doc.summary, doc.search_text, doc.tags),
                )
                self.conn.execute(
                    "INSERT INTO search_trigram (rowid, text) VALUES (?, ?)",
                    (cursor.lastrowid, doc.search_text.lower()),
                )
        stats.updated += len(changed)
        stats.deleted += len(stale)
        if changed or stale:
            self.vector_cache.clear()
            self._known_cache.pop((kind, scope), None)
            self._documents_changed()

    def _delete(self, kind: str, doc_id: str) -> None:
        row = self.conn.execute(
            "SELECT rowid FROM search_docs WHERE kind = ? AND doc_id = ?", (kind, doc_id)
        ).fetchone()
        if row:
            self.conn.execute("DELETE FROM search_fts WHERE rowid = ?", (row[0],))
            self.conn.execute("DELETE FROM search_trigram WHERE rowid = ?", (row[0],))
            self.conn.execute("DELETE FROM search_docs WHERE rowid = ?", (row[0],))

    def rows(self, kind: str, ids: Sequence[str], memory: InMemory | None = None) -> dict[str, dict[str, Any]]:
        """What a result shows of each document (scope, key, summary and its metadata), by doc_id; kept in
        `memory` when given, so a server reads each document once per version of the index."""
        known = memory.rows if memory is not None else {}
        wanted = [doc_id for doc_id in ids if doc_id not in known]
        out = {doc_id: known[doc_id] for doc_id in ids if doc_id in known}
        if wanted:
            placeholders = ", ".join("?" for _ in wanted)
            for doc_id, scope, key, summary, meta in self.reader().execute(
                "SELECT doc_id, scope, key, summary, meta FROM search_docs "
                f"WHERE kind = ? AND doc_id IN ({placeholders})",
                [kind, *wanted],
            ):
                out[doc_id] = {"scope": scope, "key": key, "summary": summary, **json.loads(meta or "{}")}
            if memory is not None:
                for doc_id in wanted:
                    if doc_id in out:
                        remember(known, doc_id, out[doc_id], ROW_CACHE_SIZE)
        return out


@dataclass
class InMemory:
    """One kind and set of scopes kept in memory, for one version of the index: the token lane's words, the
    table's BM25 mirror (None for a table left to FTS5) and the documents' shown rows as they are asked for."""

    words: SubstringIndex
    bm25: Bm25Mirror | None
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)


def scope_clause(scopes: Sequence[str]) -> tuple[str, list[str]]:
    """`d.scope IN (?, …)` and its parameters, for queries over search_docs aliased `d`."""
    return f"d.scope IN ({', '.join('?' for _ in scopes)})", list(scopes)


def docs_by_rowid(index: SearchIndex, rowids: list[int], kind: str, scopes: set[str]) -> list[tuple[int, str]]:
    """(rowid, doc_id) of the given FTS/trigram rowids that belong to `kind` and one of `scopes`."""
    out: list[tuple[int, str]] = []
    for start in range(0, len(rowids), 900):  # SQLite's parameter limit
        chunk = rowids[start : start + 900]
        out += [
            (rowid, doc_id)
            for rowid, doc_id, scope in index.reader().execute(
                "SELECT rowid, doc_id, scope FROM search_docs WHERE kind = ? AND rowid IN "
                f"({', '.join('?' for _ in chunk)})",
                [kind, *chunk],
            )
            if scope in scopes
        ]
    return out


def model_id(embedder: Any) -> str | None:
    if embedder is None:
        return None
    return f"{embedder.name}:{embedder.model}:{embedder.dimensions}"


register_migration(2, migrate_search_tables)
