"""Index sync and hybrid lanes on a real project and .ktx/db.sqlite; embeddings over loopback HTTP."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from ktx.project.project import Project
from ktx.search.service import SearchService
from tests.fakes.embeddings_api import EmbeddingsStandIn


def page(project, key, summary, body, scope="global"):
    folder = project / "wiki" / scope
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{key}.md").write_text(f"---\nsummary: {summary}\n---\n\n{body}\n")


def keys(outcome):
    return [i["key"] for i in outcome.items]


def test_search_follows_edits_deletes_and_renames_made_outside_ktx(project):
    page(project, "revenue", "Revenue", "Sum of paid order amounts.")
    page(project, "churn", "Churn", "Customers who cancelled.")
    service = SearchService(Project(project))
    assert keys(service.search_wiki("paid")) == ["revenue"]
    page(project, "churn", "Churn", "Customers who cancelled after a paid trial.")
    assert set(keys(service.search_wiki("paid"))) == {"revenue", "churn"}
    (project / "wiki/global/churn.md").unlink()
    assert keys(service.search_wiki("cancelled")) == []
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "wiki"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "pages"], cwd=project, check=True)
    subprocess.run([*git, "mv", "wiki/global/revenue.md", "wiki/global/net-revenue.md"], cwd=project, check=True)
    assert keys(service.search_wiki("paid")) == ["net-revenue"]


def test_unchanged_files_are_not_reread(project):
    for i in range(5):
        page(project, f"p{i}", f"Page {i}", f"body {i}")
    service = SearchService(Project(project))
    service.search_wiki("body")
    loads = []
    original = service._wiki_doc
    service._wiki_doc = lambda *a: loads.append(a) or original(*a)
    service.search_wiki("body")
    assert loads == []
    page(project, "p3", "Page 3", "changed body")
    service.search_wiki("body")
    assert len(loads) == 1


def test_a_user_without_pages_costs_no_sweep_per_search(project):
    """The local user's folder does not exist until a page is written: a search must not sweep and re-sync it
    each time (which also invalidated the result cache: a repeated question ran every lane again)."""
    page(project, "revenue", "Revenue", "Sum of paid order amounts.")
    service = SearchService(Project(project))
    assert not (project / "wiki" / "user").exists()
    for _ in range(2):  # the first search builds the index (and its first write is seen once more)
        assert keys(service.search_wiki("paid")) == ["revenue"]
    syncs, generation = [], service._wiki_generation
    original = service.index.sync_files
    service.index.sync_files = lambda *a, **k: syncs.append(a) or original(*a, **k)
    for _ in range(3):
        assert keys(service.search_wiki("paid")) == ["revenue"]
    assert syncs == [] and service._wiki_generation == generation  # answered from the cache, nothing re-read
    page(project, "paid-trials", "Paid trials", "Trials that became paid.", scope="user/local")
    assert set(keys(service.search_wiki("paid"))) == {"revenue", "paid-trials"}


def test_porter_stemming_and_scopes(project):
    page(project, "refund-policy", "Refund policy", "Refunds are issued within 30 days.")
    page(project, "bob-notes", "Notes", "Refunding rules of thumb.", scope="user/bob")
    service = SearchService(Project(project))
    assert keys(service.search_wiki("refunded")) == ["refund-policy"]
    assert set(keys(service.search_wiki("refunded", user_id="bob"))) == {"refund-policy", "bob-notes"}
    assert service.search_wiki("refund", limit=1).items[0]["key"] in {"refund-policy", "bob-notes"}


@pytest.fixture
def embedding_server():
    server = EmbeddingsStandIn(dimensions=16)
    yield server
    server.close()


def with_embeddings(project, server):
    (project / "ktx.yaml").write_text(
        "ingest:\n  embeddings:\n    backend: sentence-transformers\n    model: fake\n    dimensions: 16\n"
        f"    sentenceTransformers:\n      base_url: {server.base_url}\n"
    )


def test_embeddings_are_float32_blobs_recomputed_only_when_text_changes(project, embedding_server):
    with_embeddings(project, embedding_server)
    page(project, "revenue", "Revenue", "Sum of paid orders.")
    page(project, "churn", "Churn", "Cancelled customers.")
    service = SearchService(Project(project))
    outcome = service.search_wiki("revenue")
    assert outcome.embedding == "configured"
    assert {r.lane: r.status for r in outcome.lanes}["semantic"] == "available"
    rows = [
        tuple(r) for r in service.project.state.execute("SELECT typeof(embedding), length(embedding) FROM search_docs")
    ]
    assert rows == [("blob", 64), ("blob", 64)]

    def embedded_pages() -> int:  # texts sent for pages (the query "revenue" is embedded separately)
        texts = [t for r in embedding_server.requests for t in r["body"].get("texts", [r["body"].get("text")])]
        return sum(1 for t in texts if t != "revenue")

    before = embedded_pages()
    service.search_wiki("revenue")
    assert embedded_pages() == before  # nothing changed: no page embedded again
    os.utime(project / "wiki/global/churn.md")  # touched, same text
    service.search_wiki("revenue")
    assert embedded_pages() == before
    page(project, "churn", "Churn", "Cancelled customers, monthly.")
    changed = service.search_wiki("revenue")
    assert embedded_pages() == before + 1  # only the changed page
    assert {r.lane: r.status for r in changed.lanes}["semantic"] == "available"


def test_semantic_lane_failure_degrades_gracefully(project):
    failing = EmbeddingsStandIn(dimensions=16, fail_status=500)
    try:
        with_embeddings(project, failing)
        page(project, "revenue", "Revenue", "Sum of paid orders.")
        outcome = SearchService(Project(project)).search_wiki("revenue")
        assert keys(outcome) == ["revenue"]
        semantic = next(r for r in outcome.lanes if r.lane == "semantic")
        assert semantic.status == "skipped" and semantic.reason.startswith("embedding_unhealthy:")
    finally:
        failing.close()


def test_token_only_mode_for_other_storage(project):
    (project / "ktx.yaml").write_text("storage:\n  search: postgres-hybrid\n")
    page(project, "revenue", "Revenue", "Sum of paid orders.")
    outcome = SearchService(Project(project)).search_wiki("paid")
    assert keys(outcome) == ["revenue"] and [r.lane for r in outcome.lanes] == ["token"]


def sl_project(project):
    folder = project / "semantic-layer" / "wh"
    folder.mkdir(parents=True)
    (folder / "orders.yaml").write_text(
        "name: orders\ntable: main.orders\ndescription: One row per order\ngrain: [id]\n"
        "columns: [{name: id, type: number}, {name: status, type: string}]\n"
        "measures: [{name: revenue, expr: sum(amount), description: Paid order value}]\n"
    )
    (folder / "_schema").mkdir()
    (folder / "_schema" / "shard.yaml").write_text(
        "tables:\n  customers:\n    table: main.customers\n    columns: [{name: id, type: integer, pk: true}, "
        "{name: region, type: varchar}]\n"
    )
    (folder / "customers.yaml").write_text("name: customers\ndescriptions: {user: People who buy}\n")
    profile = project / "raw-sources/wh/live-database/sync-1/enrichment/relationship-profile.json"
    profile.parent.mkdir(parents=True)
    profile.write_text(
        json.dumps(
            {
                "tables": [
                    {
                        "name": "orders",
                        "columns": [
                            {
                                "name": "status",
                                "type": "varchar",
                                "distinctCount": 3,
                                "sampleValues": ["paid", "refunded", "Paid"],
                            },
                            {
                                "name": "customer_id",
                                "type": "varchar",
                                "distinctCount": 3,
                                "sampleValues": ["refunded-ish"],
                            },
                        ],
                    }
                ]
            }
        )
    )


def test_sl_search_lanes_overlay_and_dictionary(project):
    sl_project(project)
    service = SearchService(Project(project))
    listed = service.search_sl("")
    assert [(i["name"], i["score"]) for i in listed.items] == [("customers", 1), ("orders", 1)]
    customers = listed.items[0]
    assert customers["description"] == "People who buy" and customers["path"] == "semantic-layer/wh/customers.yaml"
    result = service.search_sl("refunded")
    assert [i["name"] for i in result.items] == ["orders"]
    assert result.items[0]["matchReasons"] == ["dictionary"]
    assert result.items[0]["dictionaryMatches"] == [{"column": "status", "values": ["refunded"]}]
    paid = service.search_sl("paid order value")
    assert paid.items[0]["name"] == "orders" and "<mark>" in paid.items[0]["snippet"]


def test_reindex_reports_scopes_and_force_rebuilds(project):
    sl_project(project)
    page(project, "revenue", "Revenue", "x")
    page(project, "mine", "Mine", "y", scope="user/bob")
    service = SearchService(Project(project))
    summary = service.reindex()
    assert [s["label"] for s in summary["scopes"]] == ["wiki/global", "wiki/user/bob", "sl/wh"]
    assert summary["totals"]["scanned"] == 4 and summary["embeddingsAvailable"] is False
    again = service.reindex()
    assert [s["updated"] for s in again["scopes"]][:2] == [0, 0]
    forced = service.reindex(force=True)
    assert [s["updated"] for s in forced["scopes"]] == [1, 1, 2] and forced["force"] is True
    (project / ".ktx" / "db.sqlite").unlink()
    assert keys(SearchService(Project(project)).search_wiki("revenue")) == ["revenue"]  # rebuilt from files
