"""Hybrid search core: lanes return ranked candidates (or say why they could not), and
Reciprocal Rank Fusion merges them: each candidate scores `weight / (K + rank)` per lane."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

RRF_K = 60
DEFAULT_WEIGHTS = {"lexical": 1.5, "token": 0.75, "semantic": 3.0, "dictionary": 2.0, "usage": 0.5}
_SPLIT = re.compile(r"[^a-z0-9_]+")

LaneStatus = Literal["available", "skipped", "failed"]


# Words that match nearly every page; dropped from lexical and token matching when the query has
# other words (a query made only of them keeps them).
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "our",
        "the",
        "to",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "with",
        "you",
        "your",
    ]
)


@dataclass(frozen=True)
class Query:
    raw: str
    terms: tuple[str, ...]  # duplicates kept

    @property
    def normalized(self) -> str:
        return " ".join(self.terms)

    @property
    def unique_terms(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.terms))

    @property
    def content_terms(self) -> tuple[str, ...]:
        """Unique terms without stopwords (all terms when nothing else is left)."""
        kept = tuple(t for t in self.unique_terms if t not in STOPWORDS)
        return kept or self.unique_terms

    @property
    def substring_terms(self) -> tuple[str, ...]:
        """Terms for substring matching: content terms of 3+ characters (`a` is inside every page)."""
        kept = tuple(t for t in self.content_terms if len(t) >= 3)
        return kept or self.content_terms


def normalize_query(text: str) -> Query:
    return Query(text, tuple(t for t in _SPLIT.split(text.lower()) if t))


def candidate_pool(limit: int) -> int:
    return max(25, 3 * max(1, limit))


@dataclass
class Candidate:
    id: str
    rank: int = 0
    raw_score: float | None = None
    evidence: Any = None


@dataclass
class Lane:
    name: str
    status: LaneStatus = "available"
    candidates: list[Candidate] = field(default_factory=list)
    reason: str | None = None
    weight: float | None = None


@dataclass
class FusedResult:
    id: str
    score: float
    match_reasons: list[str]
    ranks: dict[str, int]
    raw_scores: dict[str, float | None]
    evidence: dict[str, Any]


@dataclass
class LaneReport:
    lane: str
    status: LaneStatus
    weight: float
    returned: int
    pool: int
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "lane": self.lane,
            "status": self.status,
            "weight": self.weight,
            "returnedCandidateCount": self.returned,
            "effectiveCandidatePoolLimit": self.pool,
        }
        if self.reason:
            data["reason"] = self.reason
        return data


LaneGenerator = Callable[[Query, int], Lane]


def run_lanes(
    generators: Mapping[str, LaneGenerator], query: Query, pool: int, inline: Collection[str] = ()
) -> list[Lane]:
    """Run every lane concurrently; an exception becomes a `failed` lane with its message. Lanes named in `inline`
    (answered in memory, or skipped, in well under a millisecond) run in the calling thread while the others run in
    the pool: handing them to a thread would cost more than they do."""

    def run(name: str, generator: LaneGenerator) -> Lane:
        try:
            lane = generator(query, pool)
        except Exception as exc:  # one broken lane must not break search
            return Lane(name, "failed", reason=str(exc) or type(exc).__name__)
        lane.name = name
        return lane

    pooled = [n for n in generators if n not in inline]
    if len(pooled) <= 1:  # at most one lane needs a thread: this one
        return [run(n, g) for n, g in generators.items()]
    futures = {n: _executor().submit(run, n, generators[n]) for n in pooled}
    done = {n: run(n, g) for n, g in generators.items() if n in inline}
    return [done[n] if n in done else futures[n].result() for n in generators]


_EXECUTOR: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    """One long-lived pool: creating threads per search would cost more than some lanes."""
    global _EXECUTOR
    if _EXECUTOR is None:
        _EXECUTOR = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ktx-search-lane")
    return _EXECUTOR


def _clean(lane: Lane) -> list[Candidate]:
    best: dict[str, Candidate] = {}
    for position, cand in enumerate(lane.candidates, start=1):
        rank = cand.rank if isinstance(cand.rank, int) and cand.rank > 0 else position
        prior = best.get(cand.id)
        if prior is None or rank < prior.rank:
            best[cand.id] = Candidate(cand.id, rank, cand.raw_score, cand.evidence)
    return sorted(best.values(), key=lambda c: (c.rank, c.id))


def fuse(
    lanes: Sequence[Lane], limit: int, weights: Mapping[str, float] | None = None, pool: int | None = None
) -> tuple[list[FusedResult], list[LaneReport]]:
    """RRF over available lanes; ties: more matching lanes first, then id."""
    weights = {**DEFAULT_WEIGHTS, **(weights or {})}
    fused: dict[str, FusedResult] = {}
    reports = []
    for lane in lanes:
        weight = lane.weight if lane.weight is not None else weights.get(lane.name, 1.0)
        candidates = _clean(lane) if lane.status == "available" else []
        reports.append(LaneReport(lane.name, lane.status, weight, len(candidates), pool or 0, lane.reason))
        for cand in candidates:
            entry = fused.setdefault(cand.id, FusedResult(cand.id, 0.0, [], {}, {}, {}))
            entry.score += weight / (RRF_K + cand.rank)
            entry.match_reasons.append(lane.name)
            entry.ranks[lane.name] = cand.rank
            entry.raw_scores[lane.name] = cand.raw_score
            if cand.evidence is not None:
                entry.evidence[lane.name] = cand.evidence
    ordered = sorted(fused.values(), key=lambda r: (-r.score, -len(r.match_reasons), r.id))
    return ordered[: max(1, limit)], reports
