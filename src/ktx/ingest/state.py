"""Ingest runs, their reports and memoized scan stages in `.ktx/db.sqlite` (table names as the reference's)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ktx.project.state import register_migration, transaction

SAVE_STAGE = "INSERT OR REPLACE INTO local_scan_enrichment_stages VALUES (?, ?, ?, ?, ?, ?, ?)"
# A streamed output: the row is made with a blob of the right size, then the text is written into it piece by piece
# (read back as bytes, which json.loads takes as it takes text).
SAVE_STAGE_BLOB = "INSERT OR REPLACE INTO local_scan_enrichment_stages VALUES (?, ?, ?, ?, zeroblob(?), ?, ?)"
STREAM_PIECE = 4 << 20


def json_pieces(value: Any) -> Iterator[str]:
    """`json.dumps(value)` in pieces: a dict's items and a list's elements one by one, two levels deep (the list of
    edges inside a stage's dict), so a stage output is never one string of its whole size."""
    yield from _pieces(value, 2)


def json_object_pieces(items: Iterable[tuple[str, Any]], depth: int = 1) -> Iterator[str]:
    """A JSON object's text in pieces from its items as they are made (each value whole at `depth` 1): the
    object need not exist — a 100,000-table profile is written table by table."""
    yield "{"
    for index, (key, item) in enumerate(items):
        yield f"{', ' if index else ''}{json.dumps(key)}: "
        yield from _pieces(item, depth - 1)
    yield "}"


def _pieces(value: Any, depth: int) -> Iterator[str]:
    if depth and isinstance(value, dict) and all(isinstance(k, str) for k in value):
        yield from json_object_pieces(value.items(), depth)
    elif depth and isinstance(value, list | tuple):
        yield "["
        for index, item in enumerate(value):
            if index:
                yield ", "
            yield from _pieces(item, depth - 1)
        yield "]"
    else:
        yield json.dumps(value)


def migrate_ingest_tables(conn: sqlite3.Connection) -> None:
    # One statement at a time: executescript would commit the migration's open transaction.
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


_SCHEMA = """
        CREATE TABLE IF NOT EXISTS local_ingest_runs (
            run_id TEXT PRIMARY KEY,
            connection_id TEXT NOT NULL,
            adapter TEXT NOT NULL,
            status TEXT NOT NULL,              -- running | done | failed
            started_at REAL NOT NULL,
            finished_at REAL,
            sync_id TEXT,
            input_hash TEXT,
            commit_sha TEXT,
            error TEXT
        );
        CREATE INDEX IF NOT EXISTS local_ingest_runs_conn ON local_ingest_runs (connection_id, started_at);
        CREATE TABLE IF NOT EXISTS local_ingest_reports (
            run_id TEXT PRIMARY KEY,
            connection_id TEXT NOT NULL,
            adapter TEXT NOT NULL,
            status TEXT NOT NULL,              -- done | failed
            created_at REAL NOT NULL,
            report_json TEXT NOT NULL,
            raw_content_hashes_json TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX IF NOT EXISTS local_ingest_reports_conn ON local_ingest_reports (connection_id, created_at);
        CREATE TABLE IF NOT EXISTS local_scan_enrichment_stages (
            run_id TEXT NOT NULL,
            stage TEXT NOT NULL,
            input_hash TEXT NOT NULL,
            status TEXT NOT NULL,              -- completed | failed
            output_json TEXT,
            error TEXT,
            updated_at REAL NOT NULL,
            PRIMARY KEY (run_id, stage, input_hash)
        );
        """


register_migration(3, migrate_ingest_tables)


@dataclass
class PreviousRun:
    run_id: str
    sync_id: str | None
    input_hash: str | None
    report: dict[str, Any]
    hashes: dict[str, Any]


class IngestState:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def start_run(self, run_id: str, connection_id: str, adapter: str, input_hash: str | None = None) -> None:
        with transaction(self.conn) as c:
            c.execute(
                "INSERT INTO local_ingest_runs (run_id, connection_id, adapter, status, started_at, input_hash) "
                "VALUES (?, ?, ?, 'running', ?, ?)",
                (run_id, connection_id, adapter, time.time(), input_hash),
            )

    def set_input_hash(self, run_id: str, input_hash: str) -> None:
        with transaction(self.conn) as c:
            c.execute("UPDATE local_ingest_runs SET input_hash = ? WHERE run_id = ?", (input_hash, run_id))

    def finish_run(
        self, run_id: str, status: str, *, sync_id: str | None, commit: str | None, error: str | None = None
    ) -> None:
        with transaction(self.conn) as c:
            c.execute(
                "UPDATE local_ingest_runs SET status = ?, finished_at = ?, sync_id = ?, commit_sha = ?, error = ? "
                "WHERE run_id = ?",
                (status, time.time(), sync_id, commit, error, run_id),
            )

    def save_report(
        self, run_id: str, connection_id: str, adapter: str, status: str, report: dict[str, Any], hashes: dict[str, Any]
    ) -> None:
        with transaction(self.conn) as c:
            c.execute(
                "INSERT OR REPLACE INTO local_ingest_reports VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, connection_id, adapter, status, time.time(), json.dumps(report), json.dumps(hashes)),
            )

    def last_completed(self, connection_id: str, adapter: str = "live-database") -> PreviousRun | None:
        row = self.conn.execute(
            "SELECT r.run_id, u.sync_id, u.input_hash, r.report_json, r.raw_content_hashes_json "
            "FROM local_ingest_reports r JOIN local_ingest_runs u ON u.run_id = r.run_id "
            "WHERE r.connection_id = ? AND r.adapter = ? AND r.status = 'done' ORDER BY r.created_at DESC LIMIT 1",
            (connection_id, adapter),
        ).fetchone()
        if row is None:
            return None
        return PreviousRun(row[0], row[1], row[2], json.loads(row[3]), json.loads(row[4]))

    def unfinished_runs(self, connection_id: str, since: float) -> list[str]:
        """Runs after the last completed one that did not finish (killed or failed): their stages may resume."""
        rows = self.conn.execute(
            "SELECT run_id FROM local_ingest_runs WHERE connection_id = ? AND status IN ('running', 'failed') "
            "AND started_at >= ? ORDER BY started_at DESC",
            (connection_id, since),
        ).fetchall()
        return [r[0] for r in rows]

    def last_completed_at(self, connection_id: str) -> float:
        row = self.conn.execute(
            "SELECT MAX(started_at) FROM local_ingest_runs WHERE connection_id = ? AND status = 'done'",
            (connection_id,),
        ).fetchone()
        return float(row[0] or 0.0)

    def stage(self, run_ids: list[str], stage: str, input_hash: str) -> Any | None:
        """A completed stage output from one of `run_ids` with the same inputs, or None."""
        for run_id in run_ids:
            row = self.conn.execute(
                "SELECT output_json FROM local_scan_enrichment_stages WHERE run_id = ? AND stage = ? "
                "AND input_hash = ? AND status = 'completed'",
                (run_id, stage, input_hash),
            ).fetchone()
            if row is not None:
                return json.loads(row[0])
        return None

    def stage_output(self, run_id: str, stage: str) -> Any | None:
        """The completed output of a run's stage, whatever its inputs were."""
        row = self.conn.execute(
            "SELECT output_json FROM local_scan_enrichment_stages WHERE run_id = ? AND stage = ? "
            "AND status = 'completed' ORDER BY updated_at DESC LIMIT 1",
            (run_id, stage),
        ).fetchone()
        return json.loads(row[0]) if row else None

    def save_stage(
        self,
        run_id: str,
        stage: str,
        input_hash: str,
        status: str,
        output: Any = None,
        error: str | None = None,
    ) -> None:
        """A stage's status with a small output (a large one goes through `save_stage_stream`)."""
        value = json.dumps(output) if output is not None else None
        with transaction(self.conn) as c:
            c.execute(SAVE_STAGE, (run_id, stage, input_hash, status, value, error, time.time()))

    def save_stage_stream(self, run_id: str, stage: str, input_hash: str, chunks: Iterable[str]) -> str:
        """Save a completed stage output as it is made: `chunks`, the pieces of its JSON text, go through a
        temporary file beside the database into the row's blob, so neither the whole text nor SQLite's copy of it
        is ever in memory (100,000 tables' profiles are ~450 MB of JSON). Returns the SHA-256 of the text."""
        digest = hashlib.sha256()
        with tempfile.TemporaryFile(dir=self._folder()) as spool:
            for chunk in chunks:
                data = chunk.encode("utf-8")
                digest.update(data)
                spool.write(data)
            size = spool.tell()
            spool.seek(0)
            with transaction(self.conn) as c:
                cursor = c.execute(SAVE_STAGE_BLOB, (run_id, stage, input_hash, "completed", size, None, time.time()))
                with c.blobopen("local_scan_enrichment_stages", "output_json", cursor.lastrowid) as blob:
                    while piece := spool.read(STREAM_PIECE):
                        blob.write(piece)
        return digest.hexdigest()

    def _folder(self) -> str | None:
        """The database's directory (a spool file there is on the same disk, not in a RAM-backed /tmp)."""
        for _seq, name, file in self.conn.execute("PRAGMA database_list").fetchall():
            if name == "main" and file:
                return os.path.dirname(file)
        return None

    def drop_stage_parts(self, run_id: str, stage: str) -> None:
        """Forget a run's checkpoints of `stage` (`stage#n`) once the whole stage is saved."""
        with transaction(self.conn) as c:
            c.execute(
                "DELETE FROM local_scan_enrichment_stages WHERE run_id = ? AND stage LIKE ? ESCAPE '!'",
                (run_id, stage.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "#%"),
            )

    def report(self, run_id: str | None, connection_id: str | None = None) -> dict[str, Any] | None:
        """A stored report by run id (a unique prefix works), or the latest (optionally for one connection)."""
        if run_id in (None, "", "latest"):
            sql = "SELECT report_json FROM local_ingest_reports"
            args: tuple[Any, ...] = ()
            if connection_id:
                sql += " WHERE connection_id = ?"
                args = (connection_id,)
            row = self.conn.execute(sql + " ORDER BY created_at DESC LIMIT 1", args).fetchone()
            return json.loads(row[0]) if row else None
        exact = self.conn.execute("SELECT report_json FROM local_ingest_reports WHERE run_id = ?", (run_id,)).fetchone()
        if exact is not None:
            return json.loads(exact[0])
        rows = self.conn.execute(
            "SELECT report_json FROM local_ingest_reports WHERE run_id LIKE ? LIMIT 2", (f"{run_id}%",)
        ).fetchall()
        return json.loads(rows[0][0]) if len(rows) == 1 else None  # an ambiguous prefix finds nothing

    def report_ids(self, limit: int = 10) -> list[tuple[str, str, str]]:
        rows = self.conn.execute(
            "SELECT run_id, connection_id, status FROM local_ingest_reports ORDER BY created_at DESC LIMIT ?", (limit,)
        ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]
