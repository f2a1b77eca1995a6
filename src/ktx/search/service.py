"""Search over wiki pages and semantic-layer sources: sync the index from files, run the lanes,
fuse, hydrate. One service for the CLI, MCP and ingest."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ktx.memo import remember
from ktx.project.project import Project
from ktx.scan.artifacts import latest_profile, load_profile_dictionary
from ktx.search import lanes as search_lanes
from ktx.search.core import DEFAULT_WEIGHTS, LaneReport, candidate_pool, fuse, normalize_query, run_lanes
from ktx.search.index import IndexDoc, SearchIndex, SyncStats
from ktx.semantic.summaries import connection_dirs, read_sources
from ktx.watch import DirectoryWatch
from ktx.wiki.page import KEY_PATTERN, WikiError
from ktx.wiki.store import LOCAL_USER, WikiStore


@dataclass
class SearchOutcome:
    items: list[dict[str, Any]]
    lanes: list[LaneReport] = field(default_factory=list)
    mode: str = "sqlite-fts5"
    embedding: str = "unconfigured"


class SearchService:
    def __init__(self, project: Project, wiki: WikiStore | None = None) -> None:
        self.project = project
        self.wiki = wiki or WikiStore(project)
        self._watches: dict[str, DirectoryWatch] = {}
        # A long-running server searches from many threads; one of them brings an index scope up to date at a time.
        self._sync_lock = threading.RLock()
        # Wiki results by query, valid while no sync changed the index (a long-running server answers repeated
        # searches from here; any file change, or another writer of the index, starts a new generation).
        self._wiki_generation = 0
        self._wiki_results: dict[tuple[Any, ...], tuple[int, SearchOutcome]] = {}
        self.skipped: list[str] = []  # wiki pages that could not be indexed, each naming its file

    @cached_property
    def index(self) -> SearchIndex:
        return SearchIndex(self.project.state, str(self.project.state_path))

    @cached_property
    def _embedding(self) -> tuple[Any, str]:
        """(provider or None, 'configured' | 'unconfigured' | 'unavailable: <reason>')."""
        from ktx.llm.embeddings import create_embedding_provider

        try:
            provider = create_embedding_provider(self.project.config, self.project.root)
        except Exception as exc:
            return None, f"unavailable: {getattr(exc, 'message', None) or exc}"
        return provider, "configured" if provider is not None else "unconfigured"

    @property
    def embedder(self) -> Any:
        return self._embedding[0]

    @property
    def weights(self) -> dict[str, float]:
        configured = self.project.config.storage.searchWeights
        overrides = configured.model_dump(exclude_none=True) if configured else {}
        return {**DEFAULT_WEIGHTS, **overrides}

    def _quick_lanes(self, memory: Any) -> set[str]:
        """The lanes that answer without waiting on SQLite or an embedding model: the token and lexical lanes when
        the index is kept in memory, the semantic lane when no embedding model is configured (it is skipped)."""
        quick = {"token", "lexical"} if memory is not None else set()
        return quick | ({"semantic"} if self.embedder is None else set())

    # --- wiki ----------------------------------------------------------------------------

    def _wiki_files(self, scope: str, user_id: str | None) -> list[tuple[str, int, int, str]]:
        """(doc_id, mtime, size, path) for every `.md` file of a scope. Runs on every search, so it
        uses plain strings and one stat per file; key checks happen when a file is (re)loaded."""
        folder = self.project.root / ("wiki/global" if scope == "global" else f"wiki/user/{user_id}")
        prefix = "wiki/global/" if scope == "global" else f"wiki/user/{user_id}/"
        files = []
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    name = entry.name
                    if name.endswith(".md"):
                        st = entry.stat()
                        if stat.S_ISREG(st.st_mode):
                            files.append((prefix + name, st.st_mtime_ns, st.st_size, entry.path))
        except FileNotFoundError:
            return []
        return files

    def _wiki_doc(self, path: str | Path, scope: str, user_id: str | None) -> IndexDoc | None:
        path = Path(path)
        if not KEY_PATTERN.match(path.stem):
            return None  # nested or oddly named legacy files are not pages
        try:
            page = self.wiki.load(path, scope, user_id)
        except WikiError as exc:
            self.skipped.append(f"skipped {exc.message}")
            return None
        return IndexDoc(page.path, page.key, page.summary, page.search_text(), " ".join(page.tags), {"tags": page.tags})

    def sync_wiki_scope(
        self, scope: str, user_id: str | None = None, *, force: bool = False, version: int | None = None
    ) -> SyncStats:
        """Bring one wiki scope up to date. After the first sweep, a directory watch tells whether
        any file changed; with no change (and no other writer of the index) there is nothing to do.

        That answer is found without the sync lock, so concurrent searches of an unchanged wiki do not queue
        behind one another; a search that finds a change sweeps under the lock. `version`: the index's version
        the search read as it began."""
        label = "global" if scope == "global" else f"user:{user_id}"
        folder = str(self.project.root / ("wiki/global" if scope == "global" else f"wiki/user/{user_id}"))
        if not force:
            if not os.path.isdir(folder) and self.index.doc_count("wiki", label, version) == 0:
                # No folder, no pages (a user who never wrote one): nothing to watch or sweep, and nothing changed —
                # sweeping it per search re-ran the index sync and invalidated the result cache every time.
                return SyncStats(scanned=0)
            watch = self._watches.get(folder)
            # The watch's events are read once: whoever reads a change must sweep, even if its lock wait ends
            # after another thread's sweep (which may have started before the change).
            if (
                watch is not None
                and watch.active
                and not watch.changed()
                and self.index.unchanged_since_last_sync("wiki", label, version)
            ):
                return SyncStats(scanned=self.index.doc_count("wiki", label, version))
        with self._sync_lock:
            return self._sweep_wiki_scope(scope, user_id, label, folder, force=force)

    def _sweep_wiki_scope(self, scope: str, user_id: str | None, label: str, folder: str, *, force: bool) -> SyncStats:
        watch = self._watches.get(folder)
        if watch is None or not watch.active:
            self._watches[folder] = DirectoryWatch(folder)  # before the sweep: no change slips between
        files = self._wiki_files(scope, user_id)
        external = not self.index.unchanged_since_last_sync("wiki", label)  # another process wrote the index
        stats = self.index.sync_files(
            "wiki", label, files, lambda p: self._wiki_doc(p, scope, user_id), self.embedder, force=force
        )
        if external or force or stats.updated or stats.deleted or stats.error:
            self._wiki_generation += 1
        return stats

    def search_wiki(
        self, query: str, *, user_id: str | None = LOCAL_USER, limit: int | None = None, lanes: set[str] | None = None
    ) -> SearchOutcome:
        """Hybrid search over the user's and global pages; `lanes` restricts lanes (evaluation, debugging)."""
        started = time.perf_counter()
        scopes = ["global"] + ([f"user:{user_id}"] if user_id else [])
        version = self.index.version()  # read once: each read is a statement on the shared connection
        self.sync_wiki_scope("global", version=version)
        if user_id:
            self.sync_wiki_scope("user", user_id, version=version)
        key = (tuple(scopes), query, limit, frozenset(lanes) if lanes is not None else None)
        cached = self._wiki_results.get(key)
        if cached is not None and cached[0] == self._wiki_generation:
            outcome = cached[1]
            self.last_duration_ms = (time.perf_counter() - started) * 1000
            return SearchOutcome([dict(i) for i in outcome.items], outcome.lanes, outcome.mode, outcome.embedding)
        generation = self._wiki_generation
        final = max(1, limit if limit is not None else self.index.count("wiki", scopes))
        q = normalize_query(query)
        pool = candidate_pool(final)
        mode = self.project.config.storage.search
        memory = self.index.in_memory("wiki", scopes, version)
        generators = {"token": lambda qq, n: search_lanes.token(self.index, "wiki", scopes, qq, n, memory)}
        if mode == "sqlite-fts5":
            generators = {
                "lexical": lambda qq, n: search_lanes.lexical(self.index, "wiki", scopes, qq, n, memory),
                **generators,
                "semantic": lambda qq, n: search_lanes.semantic(self.index, "wiki", scopes, qq.raw, self.embedder, n),
            }
        if lanes is not None:
            generators = {name: gen for name, gen in generators.items() if name in lanes}
        ran = run_lanes(generators, q, pool, self._quick_lanes(memory))
        fused, reports = fuse(ran, final, self.weights, pool)
        rows = self.index.rows("wiki", [r.id for r in fused], memory)
        items = []
        for result in fused:
            row = rows.get(result.id)
            if row is None:
                continue
            scope = row["scope"]
            items.append(
                {
                    "key": row["key"],
                    "path": result.id,
                    "scope": "GLOBAL" if scope == "global" else "USER",
                    "summary": row["summary"],
                    "score": round(result.score, 6),
                    "matchReasons": result.match_reasons,
                    "lanes": result.ranks,
                }
            )
        self.last_duration_ms = (time.perf_counter() - started) * 1000
        outcome = SearchOutcome(items, reports, mode, self._embedding[1])
        remember(self._wiki_results, key, (generation, outcome), 2048)
        return SearchOutcome([dict(i) for i in items], reports, mode, outcome.embedding)

    # --- semantic-layer sources ----------------------------------------------------------

    def sl_fingerprint(self, folder: Path) -> str:
        digest = hashlib.sha256()
        profile = latest_profile(self.project.root, folder.name)
        for path in sorted([*folder.rglob("*.y*ml"), *([profile] if profile else [])]):
            st = path.stat()
            digest.update(f"{path}:{st.st_mtime_ns}:{st.st_size}\n".encode())
        return digest.hexdigest()

    def sync_sl_connection(self, connection_id: str, *, force: bool = False) -> SyncStats:
        with self._sync_lock:
            return self._sync_sl_connection(connection_id, force=force)

    def _sync_sl_connection(self, connection_id: str, *, force: bool) -> SyncStats:
        folder = self.project.root / "semantic-layer" / connection_id
        scope_key = f"sl:{connection_id}"
        fingerprint = self.sl_fingerprint(folder)
        if not force and self.index.fingerprint(scope_key) == fingerprint:
            count = self.index.count("sl", [scope_key])
            return SyncStats(scanned=count)
        sources = read_sources(self.project.root, connection_id)
        # Made one by one and held as JSON text: 100,000 sources' documents as dicts are most of an ingest's peak.
        docs = (
            IndexDoc(s.doc_id, s.name, s.description, s.search_text(), " ".join(s.tags), json.dumps(s.to_json()))
            for s in sources
        )
        stats = self.index.sync_docs("sl", scope_key, docs, self.embedder, force=force)
        self._sync_dictionary(connection_id)
        if not stats.error:
            self.index.set_fingerprint(scope_key, fingerprint)
        return stats

    def _sync_dictionary(self, connection_id: str) -> None:
        from ktx.project.state import transaction

        entries = load_profile_dictionary(self.project.root, connection_id)
        with transaction(self.project.state) as conn:
            conn.execute("DELETE FROM sl_dictionary WHERE connection_id = ?", (connection_id,))
            conn.executemany(
                "INSERT OR IGNORE INTO sl_dictionary VALUES (?, ?, ?, ?, ?, ?)",
                [(connection_id, s, c, v, v.lower(), n) for s, c, v, n in entries],
            )

    def sl_connections(self, connection_id: str | None = None) -> list[str]:
        names = [d.name for d in connection_dirs(self.project.root)]
        if connection_id is not None:
            return [connection_id] if connection_id in names else []
        return names

    def search_sl(self, query: str, *, connection_id: str | None = None, limit: int | None = None) -> SearchOutcome:
        connections = self.sl_connections(connection_id)
        for conn_id in connections:
            self.sync_sl_connection(conn_id)
        scopes = [f"sl:{c}" for c in connections] or ["sl:"]
        q = normalize_query(query)
        mode = self.project.config.storage.search
        if not q.terms:
            rows = self.project.state.execute(
                f"SELECT meta FROM search_docs WHERE kind = 'sl' AND scope IN ({', '.join('?' for _ in scopes)}) "
                "ORDER BY doc_id",
                scopes,
            ).fetchall()
            items = [{**json.loads(r[0]), "score": 1} for r in rows]
            return SearchOutcome(items[:limit] if limit else items, [], mode, self._embedding[1])
        total = self.index.count("sl", scopes)
        final = max(1, limit if limit is not None else total)
        pool = candidate_pool(final)
        memory = self.index.in_memory("sl", scopes)
        generators = {"token": lambda qq, n: search_lanes.token(self.index, "sl", scopes, qq, n, memory)}
        if mode == "sqlite-fts5":
            generators = {
                "lexical": lambda qq, n: search_lanes.lexical(self.index, "sl", scopes, qq, n, memory),
                "dictionary": lambda qq, n: search_lanes.dictionary(self.index, connections, qq, n),
                **generators,
                "semantic": lambda qq, n: search_lanes.semantic(self.index, "sl", scopes, qq.raw, self.embedder, n),
            }
        lanes = run_lanes(generators, q, pool, self._quick_lanes(memory))
        lanes.append(self._usage_lane(lanes))
        fused, reports = fuse(lanes, final, self.weights, pool)
        rows = self.index.rows("sl", [r.id for r in fused], memory)
        snippets = search_lanes.snippets(
            self.index, "sl", [r.id for r in fused if "lexical" in r.match_reasons][:20], q
        )
        items = []
        for result in fused:
            row = rows.get(result.id)
            if row is None:
                continue
            item = {
                k: row[k]
                for k in ("connectionId", "name", "path", "description", "columnCount", "measureCount", "joinCount")
                if k in row
            }
            item.update(score=round(result.score, 6), matchReasons=result.match_reasons, lanes=result.ranks)
            if result.id in snippets:
                item["snippet"] = snippets[result.id]
            if "dictionary" in result.evidence:
                item["dictionaryMatches"] = result.evidence["dictionary"]
            items.append(item)
        return SearchOutcome(items, reports, mode, self._embedding[1])

    def _usage_lane(self, lanes: list[Any]) -> Any:
        """The sources other lanes matched, most used first (query history, Looker): usage breaks ties between
        matches; it never brings in a source no lane matched."""
        from ktx.search.core import Candidate, Lane

        matched = {c.id for lane in lanes if lane.status == "available" for c in lane.candidates}
        rows = self.index.rows("sl", sorted(matched)) if matched else {}
        used = sorted(
            ((float(row.get("usage") or 0), doc_id) for doc_id, row in rows.items() if row.get("usage")),
            key=lambda item: (-item[0], item[1]),
        )
        if not used:
            return Lane("usage", "skipped", reason="no usage recorded for the matched sources")
        return Lane(
            "usage", candidates=[Candidate(doc_id, rank, score) for rank, (score, doc_id) in enumerate(used, 1)]
        )

    # --- reindex -------------------------------------------------------------------------

    def reindex(self, *, force: bool = False) -> dict[str, Any]:
        """Every scope from the files: wiki/global, each wiki/user/<id>, each semantic-layer/<conn>."""
        started = time.perf_counter()
        scopes: list[tuple[str, dict[str, Any], Any]] = []
        if (self.project.root / "wiki" / "global").is_dir():
            scopes.append(
                (
                    "wiki/global",
                    {"kind": "wiki", "scope": "global"},
                    lambda: self.sync_wiki_scope("global", force=force),
                )
            )
        for uid in self.wiki.user_ids():
            scopes.append(
                (
                    f"wiki/user/{uid}",
                    {"kind": "wiki", "scope": "user", "scopeId": uid},
                    lambda uid=uid: self.sync_wiki_scope("user", uid, force=force),
                )
            )
        for conn_id in self.sl_connections():
            scopes.append(
                (
                    f"sl/{conn_id}",
                    {"kind": "sl", "connectionId": conn_id},
                    lambda c=conn_id: self.sync_sl_connection(c, force=force),
                )
            )
        results = []
        totals = SyncStats()
        for label, info, run in scopes:
            scope_started = time.perf_counter()
            try:
                stats = run()
            except Exception as exc:  # one broken scope must not stop the others
                stats = SyncStats(error=getattr(exc, "message", None) or str(exc))
            for name in ("scanned", "updated", "deleted", "embeddings_recomputed", "embeddings_failed"):
                setattr(totals, name, getattr(totals, name) + getattr(stats, name))
            results.append(
                {
                    "label": label,
                    **info,
                    **stats.to_json(),
                    "durationMs": round((time.perf_counter() - scope_started) * 1000),
                }
            )
        return {
            "scopes": results,
            "totals": totals.to_json(),
            "dbPath": ".ktx/db.sqlite",
            "force": force,
            "embeddingsAvailable": self.embedder is not None,
            "warnings": list(dict.fromkeys(self.skipped)),
            "durationMs": round((time.perf_counter() - started) * 1000),
        }


def debug_lines(outcome: SearchOutcome, what: str) -> list[str]:
    lines = [f"[debug] {what} search mode={outcome.mode} embedding={outcome.embedding} results={len(outcome.items)}"]
    for lane in outcome.lanes:
        extra = f" reason={lane.reason}" if lane.reason else ""
        lines.append(
            f"[debug] lane={lane.lane} status={lane.status} weight={lane.weight} candidates={lane.returned} "
            f"pool={lane.pool}{extra}"
        )
    return lines
