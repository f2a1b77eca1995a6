"""Memory runs and the conflicts they found, in `.ktx/db.sqlite` (`local_memory_runs` as the reference names it)."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from typing import Any

from ktx.project.state import register_migration, transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS local_memory_runs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,                 -- running | done | error
    stage TEXT NOT NULL,
    input_hash TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    connection_id TEXT,
    output_summary_json TEXT,
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS local_memory_conflicts (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    target TEXT NOT NULL,                 -- wiki | sl
    key TEXT NOT NULL,
    reviewed TEXT NOT NULL,               -- what the project says now
    proposed TEXT NOT NULL,               -- what the captured text says
    source TEXT NOT NULL,                 -- the input's label
    reason TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'open',  -- open | resolved
    created_at REAL NOT NULL
);
"""


def migrate_memory_tables(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


register_migration(4, migrate_memory_tables)


class MemoryState:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def start(self, input_hash: str, chat_id: str, label: str, connection_id: str | None) -> str:
        run_id = f"memory-{uuid.uuid4()}"
        now = time.time()
        with transaction(self.conn) as c:
            c.execute(
                "INSERT INTO local_memory_runs VALUES (?, 'running', 'queued', ?, ?, ?, ?, NULL, NULL, ?, ?)",
                (run_id, input_hash, chat_id, label, connection_id, now, now),
            )
        return run_id

    def update(
        self,
        run_id: str,
        *,
        stage: str,
        status: str = "running",
        summary: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        with transaction(self.conn) as c:
            c.execute(
                "UPDATE local_memory_runs SET status = ?, stage = ?, output_summary_json = coalesce(?, "
                "output_summary_json), error = ?, updated_at = ? WHERE id = ?",
                (status, stage, json.dumps(summary) if summary is not None else None, error, time.time(), run_id),
            )

    def get(self, run_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM local_memory_runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        data = dict(row)
        data["summary"] = json.loads(data.pop("output_summary_json") or "{}")
        return data

    def add_conflict(
        self, run_id: str, target: str, key: str, reviewed: str, proposed: str, source: str, reason: str
    ) -> str:
        conflict_id = f"conflict-{uuid.uuid4().hex[:12]}"
        with transaction(self.conn) as c:
            c.execute(
                "INSERT INTO local_memory_conflicts VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?)",
                (conflict_id, run_id, target, key, reviewed, proposed, source, reason, time.time()),
            )
        return conflict_id

    def open_conflicts(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT id, run_id, target, key, reviewed, proposed, source, reason, created_at "
            "FROM local_memory_conflicts WHERE status = 'open' ORDER BY created_at"
        ).fetchall()
        return [dict(r) for r in rows]
