"""`.ktx/db.sqlite`: local, derivable state (indexes, runs, reports) behind one module.

The schema is versioned with `PRAGMA user_version`; each migration runs once, in order,
inside a transaction. Later features append migrations to `MIGRATIONS`.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

Migration = Callable[[sqlite3.Connection], None]


def _v1_meta(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS ktx_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


def _v2_search(conn: sqlite3.Connection) -> None:
    from ktx.search.index import migrate_search_tables

    migrate_search_tables(conn)


MIGRATIONS: list[Migration] = [_v1_meta, _v2_search]  # only append: a released version never changes


def schema_version() -> int:
    return len(MIGRATIONS)


def open_state(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """Open (and migrate, unless read-only) the state database."""
    if read_only:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        return conn
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    migrate(conn)
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Apply pending migrations; returns the resulting version. A newer database is left alone."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    for version in range(current + 1, len(MIGRATIONS) + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the write lock.
            if conn.execute("PRAGMA user_version").fetchone()[0] >= version:
                conn.execute("COMMIT")
                continue
            MIGRATIONS[version - 1](conn)
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return conn.execute("PRAGMA user_version").fetchone()[0]


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """An explicit write transaction on the autocommit state connection."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
