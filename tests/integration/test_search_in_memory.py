"""The token lane's in-memory index (what a long-running server searches once the same pages are asked about
again): the same answers as the SQL lane on text no one here wrote, and never an answer from before a change.

Data: Chinook's albums and tracks (../shared/data/realdb; the found-text test skips where it is absent).
"""

from __future__ import annotations

import gzip
import itertools
import json
import random
import re
import sqlite3
from pathlib import Path

import pytest

import ktx.search.index as search_index
from ktx.project.project import Project
from ktx.search import lanes
from ktx.search.core import normalize_query
from ktx.search.service import SearchService

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "realdb"
SCOPES = ["global", "user:local"]


def page(root: Path, key: str, summary: str, body: str) -> None:
    folder = root / "wiki" / "global"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{key}.md").write_text(f"---\nsummary: {json.dumps(summary)}\n---\n\n{body}\n", encoding="utf-8")


def answers(service: SearchService, question: str) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """The token and lexical lanes' candidates, as a search hands them the documents kept in memory (or not)."""
    memory = service.index.in_memory("wiki", SCOPES)
    query = normalize_query(question)
    token = lanes.token(service.index, "wiki", SCOPES, query, 30, memory)
    lexical = lanes.lexical(service.index, "wiki", SCOPES, query, 30, memory)
    return (
        [(c.id, round(c.raw_score, 9)) for c in token.candidates],
        [(c.id, c.raw_score) for c in lexical.candidates],  # FTS5's bm25 to the last bit
    )


def chinook_pages(root: Path, tmp_path: Path) -> list[str]:
    """One page per album: its title, artist, tracks, composers and genres (accents and punctuation as found)."""
    db = tmp_path / "chinook.sqlite"
    db.write_bytes(gzip.decompress((DATA / "chinook.sqlite.gz").read_bytes()))
    conn = sqlite3.connect(db)
    texts = []
    for album_id, title, artist in conn.execute(
        "SELECT a.AlbumId, a.Title, r.Name FROM Album a JOIN Artist r ON r.ArtistId = a.ArtistId"
    ):
        tracks = conn.execute(
            "SELECT t.Name, coalesce(t.Composer, ''), g.Name FROM Track t JOIN Genre g ON g.GenreId = t.GenreId "
            "WHERE t.AlbumId = ?",
            (album_id,),
        ).fetchall()
        body = f"By {artist}.\n\n" + "\n".join(f"- {name} ({composer}; {genre})" for name, composer, genre in tracks)
        page(root, f"album-{album_id}", title, body)
        texts.append(f"{title} {body}")
    conn.close()
    return texts


@pytest.mark.skipif(not DATA.is_dir(), reason=f"no sample databases at {DATA}")
def test_in_memory_lanes_answer_as_sqlite_does_on_chinook(project, tmp_path, monkeypatch):
    texts = chinook_pages(project, tmp_path)
    runs = [re.findall(r"[a-z0-9]+", line.lower()) for text in texts for line in text.splitlines()]
    words = sorted({w for run in runs for w in run})
    pairs = sorted({f"{a}_{b}" for run in runs for a, b in itertools.pairwise(run)})
    rng = random.Random(3)
    questions = [" ".join(rng.sample(words, k)) for k in (1, 2, 3, 4) for _ in range(40)]
    questions += [w[:2] for w in rng.sample(words, 30)]  # terms under 3 characters: the `instr` path
    questions += [w[1:4] + " " + w[-3:] for w in rng.sample(words, 40)]  # pieces inside words
    questions += [f"{p} {w}" for p, w in zip(rng.sample(pairs, 40), rng.sample(words, 40), strict=True)]  # phrases
    questions += ["Antônio Carlos Jobim", "são paulo", "rock_and_roll", "AC/DC", "the love of", "zzzqqq", "_"]

    monkeypatch.setattr(search_index, "MEMORY_REUSE", 10**9)  # never kept in memory: SQLite answers
    service = SearchService(Project(project))
    service.sync_wiki_scope("global")
    by_sql = {q: answers(service, q) for q in questions}
    assert service.index.in_memory("wiki", SCOPES) is None

    monkeypatch.setattr(search_index, "MEMORY_REUSE", 1)  # kept from the first search on
    service = SearchService(Project(project))
    service.sync_wiki_scope("global")
    in_memory = {q: answers(service, q) for q in questions}
    memory = service.index.in_memory("wiki", SCOPES)
    assert memory is not None and memory.bm25 is not None

    assert in_memory == by_sql
    for lane in (0, 1):  # the comparison is over real answers, not empty lists
        assert sum(1 for q in questions if by_sql[q][lane]) > 0.8 * len(questions)
    assert sum(1 for q in questions if "_" in q and by_sql[q][1]) >= 30
    assert by_sql["Antônio Carlos Jobim"][0][0][1] == 1.0  # "ant" and "nio" of the accented word, as written
    assert by_sql["zzzqqq"] == ([], [])


def test_a_page_changed_after_the_index_is_kept_in_memory_is_found_as_it_now_reads(project, monkeypatch):
    monkeypatch.setattr(search_index, "MEMORY_REUSE", 2)
    page(project, "revenue", "Revenue", "Sum of paid order amounts.")
    page(project, "churn", "Churn", "Customers who cancelled.")
    service = SearchService(Project(project))
    for question in ("paid", "orders", "cancel"):  # distinct questions: each runs the lanes
        service.search_wiki(question)
    assert service.index.in_memory("wiki", SCOPES) is not None
    assert [i["key"] for i in service.search_wiki("refunded").items] == []

    page(project, "churn", "Churn", "Customers who cancelled, refunded in full.")
    assert [i["key"] for i in service.search_wiki("refunded").items] == ["churn"]
    (project / "wiki" / "global" / "revenue.md").unlink()
    assert [i["key"] for i in service.search_wiki("amounts").items] == []


def test_another_process_writing_the_index_retires_what_is_kept_in_memory(project, monkeypatch):
    """Another process (another `ktx`, here another connection) re-indexes a changed page: this server's own sync
    then finds nothing to write, so only the database's change counter says its memory is out of date."""
    monkeypatch.setattr(search_index, "MEMORY_REUSE", 2)
    page(project, "revenue", "Revenue", "Sum of paid order amounts.")
    server = SearchService(Project(project))
    for question in ("paid", "order"):
        server.search_wiki(question)
    assert server.index.in_memory("wiki", SCOPES) is not None

    page(project, "revenue", "Revenue", "Sum of paid order amounts, net of tax.")
    other = SearchService(Project(project))
    assert [i["key"] for i in other.search_wiki("tax").items] == ["revenue"]
    assert [i["key"] for i in server.search_wiki("tax").items] == ["revenue"]
    memory = server.index.in_memory("wiki", SCOPES)
    assert memory is not None  # asked again after the change: rebuilt from the page as it now reads
    token, lexical = answers(server, "tax")
    assert token == [("wiki/global/revenue.md", 1.0)] and [doc for doc, _ in lexical] == ["wiki/global/revenue.md"]


def test_an_index_too_large_to_keep_is_searched_by_sqlite_with_the_same_answers(project, monkeypatch):
    import ktx.search.bm25 as bm25
    import ktx.search.substrings as substrings

    for i in range(30):
        page(project, f"p{i:02}", f"Page {i}", f"orders and refunds, week {i}, region {'north' if i % 3 else 'south'}")
    monkeypatch.setattr(search_index, "MEMORY_REUSE", 1)
    service = SearchService(Project(project))
    service.sync_wiki_scope("global")
    expected = {q: answers(service, q) for q in ("refunds north", "week 2", "south_region orders")}
    assert service.index.in_memory("wiki", SCOPES).bm25 is not None

    monkeypatch.setattr(bm25, "MAX_TOKENS", 100)  # the table's tokens: over; its words: kept
    service = SearchService(Project(project))
    service.sync_wiki_scope("global")
    assert {q: answers(service, q) for q in expected} == expected
    memory = service.index.in_memory("wiki", SCOPES)
    assert memory is not None and memory.bm25 is None

    monkeypatch.setattr(substrings, "MAX_PAIRS", 100)  # the scope's words: over too
    service = SearchService(Project(project))
    service.sync_wiki_scope("global")
    assert {q: answers(service, q) for q in expected} == expected
    assert service.index.in_memory("wiki", SCOPES) is None
    assert [i["key"] for i in service.search_wiki("refunds south", limit=3).items] == ["p00", "p03", "p06"]
