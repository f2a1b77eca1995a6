"""`.ktx/db.sqlite`: local, derivable state (indexes, runs, reports) behind one module.

The schema is versioned with `PRAGMA user_version`; each migration runs once, in order,
inside a transaction. Features register their own migrations (`register_migration`) from their
modules; the modules that do are named in FEATURE_MODULES and imported when the database is
opened, so this module never imports a feature and a feature never has to be imported first.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

Migration = Callable[[sqlite3.Connection], None]


def _v1_meta(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS ktx_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


# version → migration. A released version never changes; a new one takes the next number.
_REGISTERED: dict[int, Migration] = {1: _v1_meta}
FEATURE_MODULES = ("ktx.search.index", "ktx.ingest.state", "ktx.memory.state")


def register_migration(version: int, migration: Migration) -> None:
    """Called by a feature module at import: its tables are created at `version`."""
    existing = _REGISTERED.get(version)
    if existing is not None and existing is not migration:
        raise RuntimeError(f"state migration {version} is registered twice")
    _REGISTERED[version] = migration


def migrations() -> list[Migration]:
    """Every migration in version order (1, 2, …); a gap means a feature module is missing."""
    import importlib

    for module in FEATURE_MODULES:
        importlib.import_module(module)
    versions = sorted(_REGISTERED)
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"state migrations are not contiguous: {versions}")
    return [_REGISTERED[v] for v in versions]


def schema_version() -> int:
    return len(migrations())


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
    steps = migrations()
    for version in range(current + 1, len(steps) + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the write lock.
            if conn.execute("PRAGMA user_version").fetchone()[0] >= version:
                conn.execute("COMMIT")
                continue
            steps[version - 1](conn)
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
