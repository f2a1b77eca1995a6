"""Profiling is checkpointed: a run that dies partway (here: the process ends inside the third batch, as a kill
would) leaves the batches it finished, and the next run profiles only the rest — same files as a clean run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmarks.relationships import build_scale

from ktx.ingest import database
from ktx.ingest.run import run_ingest
from ktx.project.project import Project, init_project
from ktx.services import Services


class Killed(BaseException):
    """Not an Exception: nothing in ktx catches it, like a SIGKILL the run never sees."""


def _project(root: Path, warehouse: Path) -> Project:
    init_project(root)
    config = root / "ktx.yaml"
    text = config.read_text().replace("connections: {}", "")
    config.write_text(text + f"\nconnections:\n  wh:\n    driver: duckdb\n    path: {warehouse}\n")
    return Project(root)


def _shards(root: Path) -> dict[str, str]:
    folder = root / "semantic-layer" / "wh"
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*.yaml"))}


def test_a_run_killed_mid_profile_resumes_from_its_last_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tmp_path / "w.duckdb"
    build_scale(warehouse, tables=50, rows=40)
    monkeypatch.setattr(database, "PROFILE_CHECKPOINT", 10)
    real = database.profile_infos
    profiled: list[str] = []

    def dying(connector, tables, **kwargs):  # type: ignore[no-untyped-def]
        if len(profiled) >= 20:
            raise Killed
        result = real(connector, tables, **kwargs)
        profiled.extend(result)
        return result

    project = _project(tmp_path / "proj", warehouse)
    monkeypatch.setattr(database, "profile_infos", dying)
    with pytest.raises(Killed), Services(project) as services:
        run_ingest(services, "wh")
    assert len(profiled) == 20
    assert not (project.root / "semantic-layer" / "wh").exists()  # nothing of the killed run was written

    monkeypatch.setattr(
        database, "profile_infos", lambda c, t, **k: profiled.extend(x.key for x in t) or real(c, t, **k)
    )
    profiled.clear()
    with Services(project) as services:
        result = run_ingest(services, "wh").results[0]
    assert result.status == "done"
    assert len(profiled) == 30  # only the tables the killed run had not finished
    assert "profile (20 of 50 tables)" in result.report["enrichmentState"]["resumed"]

    clean = _project(tmp_path / "clean", warehouse)
    with Services(clean) as services:
        assert run_ingest(services, "wh").results[0].status == "done"
    assert _shards(project.root) == _shards(clean.root)
    # The local profile is written table by table: still one JSON document, every table in key order.
    from ktx.scan.artifacts import local_profile_path

    written = json.loads((project.root / local_profile_path("wh")).read_text())
    assert written["connectionId"] == "wh" and written["sampleValuesPerColumn"] == 5
    assert [t["name"] for t in written["tables"]] == sorted(t["name"] for t in written["tables"])
    assert len(written["tables"]) == 50 and all(t["columns"] and t["rowCount"] == 40 for t in written["tables"])
    # The whole stage is saved for the next run's unchanged tables; the checkpoints are gone.
    with Services(project) as services:
        again = run_ingest(services, "wh").results[0]
    assert again.status == "unchanged"


def test_an_ingest_gives_back_the_embedded_warehouse_and_its_connection_still_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB's instance of a large file holds the whole catalog (1.4 GB for 100,000 tables): once the scan's queries
    are over, the files are made and committed without it; the connection opens again when asked."""
    from ktx.warehouse.drivers import duckdb as driver

    # No release on the way (a small file's instance would otherwise be closed between batches by chance).
    monkeypatch.setattr(driver, "RELEASE_AT", 1 << 40)
    monkeypatch.setattr(driver, "REOPEN_AMORTIZED", 1 << 40)
    warehouse = tmp_path / "w.duckdb"
    build_scale(warehouse, tables=12, rows=20)
    project = _project(tmp_path / "proj", warehouse)
    with Services(project) as services:
        assert run_ingest(services, "wh").results[0].status == "done"
        connector = services.connector("wh")
        assert connector._db is None  # type: ignore[attr-defined]
        assert connector.execute("SELECT count(*) FROM duckdb_tables()").rows == [(12,)]
