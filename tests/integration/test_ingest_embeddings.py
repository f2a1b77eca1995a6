"""Column embeddings in database ingest, through the embeddings stand-in: a link neither the names nor the values
reveal (`zeta_key` → `customers.id`; its three values sit at the bottom of the ids' range, as a small code's would)
is proposed from embedding similarity, still has to pass SQL validation, and without embeddings it is not found."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ktx.ingest.run import run_ingest
from ktx.project.project import Project, init_project
from ktx.services import Services
from tests.fakes.embeddings_api import EmbeddingsStandIn

SAME = [1.0] + [0.0] * 15


def _warehouse(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("CREATE TABLE visits (id INTEGER PRIMARY KEY, zeta_key INTEGER, minutes INTEGER)")
        db.executemany("INSERT INTO customers VALUES (?, ?)", [(i, f"c{i}") for i in range(1, 41)])
        db.executemany("INSERT INTO visits VALUES (?, ?, ?)", [(i, 1 + i % 3, i % 90) for i in range(1, 201)])
        # Embeds like a customer id too, but its values are not customer ids: validation must reject it.
        db.execute("CREATE TABLE audits (id INTEGER PRIMARY KEY, omega_key INTEGER)")
        db.executemany("INSERT INTO audits VALUES (?, ?)", [(i, 5000 + i) for i in range(1, 101)])


def _run(tmp_path: Path, embeddings: dict | None) -> dict:
    root = tmp_path / ("with" if embeddings else "without")
    init_project(root)
    _warehouse(root / "wh.sqlite")

    def edit(doc) -> None:
        doc["connections"] = {"wh": {"driver": "sqlite", "path": "wh.sqlite"}}
        if embeddings:
            doc["scan"] = {"enrichment": {"embeddings": embeddings}}

    Project(root).update_config(edit, "config")
    with Services(Project(root)) as services:
        [result] = run_ingest(services, "wh").results
    assert result.status == "done", result.message
    return result.report


def _links(report_root: Path) -> dict:
    import json

    return json.loads((report_root / "raw-sources/wh/live-database/snapshot/enrichment/relationships.json").read_text())


def test_embedding_similarity_proposes_a_link_names_cannot(tmp_path: Path) -> None:
    def vector_for(text: str) -> list[float] | None:
        # The two columns' descriptions are scripted to mean the same thing; every other text stays distinct.
        return SAME if text.startswith(("visits.zeta_key", "audits.omega_key", "customers.id")) else None

    server = EmbeddingsStandIn(dimensions=16, vector_for=vector_for)
    try:
        report = _run(
            tmp_path,
            {
                "backend": "sentence-transformers",
                "model": "fake",
                "dimensions": 16,
                "sentenceTransformers": {"base_url": server.base_url},
            },
        )
        embedded = [t for r in server.requests for t in r["body"].get("texts", [r["body"].get("text")])]
    finally:
        server.close()
    assert report["enrichment"]["embeddings"] == "completed"
    assert any(t.startswith("visits.zeta_key") for t in embedded)
    links = _links(tmp_path / "with")
    accepted = {e["id"]: e for e in links["accepted"]}
    link = accepted["visits:(zeta_key)->customers:(id)"]
    assert link["match"] == "embedding_similarity" and link["validation"]["passed"] is True
    assert not any(e["from"]["table"] == "audits" for e in links["accepted"])
    assert any(e["from"]["table"] == "audits" for e in links["rejected"] + links["review"] + links["skipped"])
    assert _run(tmp_path, None)["enrichment"]["embeddings"] == "skipped"
    without = _links(tmp_path / "without")
    assert not [e for e in without["accepted"] + without["review"] if e["from"]["table"] == "visits"]
