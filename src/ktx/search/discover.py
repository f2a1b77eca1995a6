"""`discover_data`: one ranked list of wiki pages, semantic-layer sources, measures and dimensions, and scanned
tables and columns for a question, so an agent knows where to look before it reads anything.

Three generators (wiki, semantic layer, raw schema) score their candidates by which fields the query's terms
cover (each field weighted), and RRF fuses the three lists.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ktx.search.core import RRF_K, normalize_query
from ktx.semantic.summaries import SourceSummary, read_sources

if TYPE_CHECKING:
    from ktx.services import Services

KINDS = ("wiki", "sl_source", "sl_measure", "sl_dimension", "table", "column")
SAMPLE_VALUES = 5


@dataclass
class Ref:
    kind: str
    id: str
    rank_score: float
    matched_on: str
    summary: str | None = None
    snippet: str | None = None
    connection_id: str | None = None
    table_ref: dict[str, Any] | None = None
    column_name: str | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.connection_id or ''}:{self.id}"

    def to_json(self, score: float) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "id": self.id,
            "score": score,
            "summary": self.summary or None,
            "snippet": self.snippet or None,
            "matchedOn": self.matched_on,
        }
        if self.connection_id is not None:
            data["connectionId"] = self.connection_id
        if self.table_ref is not None:
            data["tableRef"] = self.table_ref
        if self.column_name is not None:
            data["columnName"] = self.column_name
        return data


def _coverage(terms: tuple[str, ...], text: str | None) -> float:
    if not text or not terms:
        return 0.0
    low = text.lower()
    return sum(1 for t in terms if t in low) / len(terms)


def _best(terms: tuple[str, ...], fields: Iterable[tuple[str, str | None, float]]) -> tuple[float, str]:
    best, on = 0.0, ""
    for name, text, weight in fields:
        score = _coverage(terms, text) * weight
        if score > best:
            best, on = score, name
    return best, on


def snippet_around(text: str, terms: tuple[str, ...]) -> str | None:
    flat = re.sub(r"\s+", " ", text).strip()
    low = flat.lower()
    hits = [i for i in (low.find(t) for t in terms) if i >= 0]
    if not hits:
        return None
    start = max(0, min(hits) - 60)
    return flat[start : min(hits) + 140][:200]


def _wiki_refs(services: Services, query: str, terms: tuple[str, ...], limit: int) -> list[Ref]:
    outcome = services.search.search_wiki(query, limit=max(limit, 25))
    refs = []
    for item in outcome.items:
        page = services.wiki.read(item["key"])
        body = page.body if page is not None else ""
        score, on = _best(
            terms, (("name", item["key"], 1.1), ("description", item["summary"], 1.0), ("body", body, 0.8))
        )
        refs.append(
            Ref(
                "wiki",
                item["key"],
                float(item["score"]) + score,
                on or "body",
                summary=item["summary"],
                snippet=snippet_around(body, terms),
            )
        )
    return sorted(refs, key=lambda r: -r.rank_score)


_SOURCES_CACHE: dict[tuple[str, str], tuple[str, list[SourceSummary]]] = {}
_SOURCES_LOCK = threading.Lock()


def _sources(services: Services, connection_id: str) -> list[SourceSummary]:
    """A connection's source summaries, re-read only when its semantic-layer files change."""
    folder = services.project.root / "semantic-layer" / connection_id
    fingerprint = services.search.sl_fingerprint(folder)
    key = (str(services.project.root), connection_id)
    with _SOURCES_LOCK:
        cached = _SOURCES_CACHE.get(key)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    sources = read_sources(services.project.root, connection_id)
    with _SOURCES_LOCK:
        _SOURCES_CACHE[key] = (fingerprint, sources)
    return sources


def _sl_refs(services: Services, connection_ids: list[str], terms: tuple[str, ...], kinds: set[str]) -> list[Ref]:
    refs = []
    for connection_id in connection_ids:
        for source in _sources(services, connection_id):
            if "sl_source" in kinds:
                score, on = _best(
                    terms,
                    (
                        ("name", source.name, 1.2),
                        ("description", source.description, 1.0),
                        ("display", source.table, 0.8),
                    ),
                )
                if score > 0:
                    refs.append(
                        Ref("sl_source", source.name, score, on, source.description, source.table, connection_id)
                    )
            if "sl_measure" in kinds:
                for name, expr, description in source.measures:
                    score, on = _best(
                        terms, (("name", name, 1.2), ("description", description, 1.0), ("expr", expr, 0.9))
                    )
                    if score > 0:
                        refs.append(
                            Ref("sl_measure", f"{source.name}.{name}", score, on, description, expr, connection_id)
                        )
            if "sl_dimension" in kinds:
                for name, kind, description in source.columns:
                    score, on = _best(
                        terms,
                        (
                            ("name", name, 1.2),
                            ("display", f"{source.name}.{name}", 1.1),
                            ("description", description, 1.0),
                        ),
                    )
                    if score > 0:
                        refs.append(
                            Ref(
                                "sl_dimension",
                                f"{source.name}.{name}",
                                score,
                                on,
                                description,
                                f"{name} ({kind})" if kind else name,
                                connection_id,
                            )
                        )
    return sorted(refs, key=lambda r: -r.rank_score)


def _schema_refs(services: Services, connection_ids: list[str], terms: tuple[str, ...], kinds: set[str]) -> list[Ref]:
    from ktx.scan.artifacts import latest_scan

    refs = []
    for connection_id in connection_ids:
        scan = latest_scan(services.project.root, connection_id)
        if scan is None:
            continue
        for doc in scan.tables:
            table_ref = {"catalog": doc.get("catalog"), "db": doc.get("db"), "name": doc.get("name")}
            display = ".".join(p for p in (doc.get("catalog"), doc.get("db"), doc.get("name")) if p)
            if "table" in kinds:
                score, on = _best(
                    terms,
                    (("name", doc.get("name"), 1.2), ("display", display, 1.1), ("comment", doc.get("comment"), 1.0)),
                )
                if score > 0:
                    refs.append(Ref("table", display, score, on, doc.get("comment"), None, connection_id, table_ref))
            if "column" not in kinds:
                continue
            profiled = scan.profile_columns(doc)
            for column in doc.get("columns") or []:
                name = str(column.get("name"))
                samples = [str(v) for v in (profiled.get(name, {}).get("sampleValues") or [])[:SAMPLE_VALUES]]
                score, on = _best(
                    terms,
                    (
                        ("name", name, 1.2),
                        ("display", f"{display}.{name}", 1.1),
                        ("comment", column.get("comment"), 1.0),
                        ("sample_value", " | ".join(samples), 1.3),
                    ),
                )
                if score <= 0:
                    continue
                native = column.get("nativeType") or ""
                snippet = f"{native} - samples: {', '.join(samples)}" if on == "sample_value" else native
                refs.append(
                    Ref(
                        "column",
                        f"{display}.{name}",
                        score,
                        on,
                        column.get("comment"),
                        snippet,
                        connection_id,
                        table_ref,
                        name,
                    )
                )
    return sorted(refs, key=lambda r: -r.rank_score)


def discover_data(
    services: Services,
    query: str,
    *,
    connection_id: str | None = None,
    kinds: list[str] | None = None,
    limit: int = 10,
) -> list[dict[str, Any]]:
    """Ranked refs across the wiki, the semantic layer and the latest scans; scores are relative to the best."""
    limit = min(max(limit, 1), 50)
    terms = normalize_query(query).substring_terms
    if not terms:
        return []
    wanted = set(kinds or KINDS)
    layers = services.search.sl_connections()
    connections = [connection_id] if connection_id else sorted(set(layers) | set(services.project.config.connections))
    lists: list[list[Ref]] = []
    if "wiki" in wanted:
        lists.append(_wiki_refs(services, query, terms, limit))
    if wanted & {"sl_source", "sl_measure", "sl_dimension"}:
        lists.append(_sl_refs(services, [c for c in connections if c in layers], terms, wanted))
    if wanted & {"table", "column"}:
        lists.append(_schema_refs(services, connections, terms, wanted))
    fused: dict[str, tuple[float, Ref]] = {}
    for refs in lists:
        for rank, ref in enumerate(refs, start=1):
            score, first = fused.get(ref.key, (0.0, ref))
            fused[ref.key] = (score + 1.0 / (RRF_K + rank), first)
    ordered = sorted(fused.values(), key=lambda item: (-item[0], item[1].key))[:limit]
    if not ordered:
        return []
    top = ordered[0][0]
    return [ref.to_json(round(score / top, 3)) for score, ref in ordered]
