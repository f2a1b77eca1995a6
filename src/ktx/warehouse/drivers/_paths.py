"""Database-file locations for the embedded drivers (DuckDB, SQLite)."""

from __future__ import annotations

import os
from pathlib import Path

from ktx.errors import KtxError
from ktx.project.refs import resolve_reference


def database_file(connection_id: str, config, base_dir: Path, schemes: tuple[str, ...]) -> Path:
    """`path:` (relative to the project) or `url:` (`duckdb:///abs/path`, `sqlite:///rel/path`)."""
    raw = config.path
    field = "path"
    if not raw and config.url:
        url = resolve_reference(config.url, field=f"connections.{connection_id}.url", base_dir=base_dir) or ""
        field = "url"
        for scheme in schemes:
            for prefix in (f"{scheme}:///", f"{scheme}://", f"{scheme}:"):
                if url.startswith(prefix):
                    raw = url[len(prefix) :]
                    if prefix.endswith(":///") and not raw.startswith("/") and url.startswith(f"{scheme}:////"):
                        raw = "/" + raw
                    break
            if raw:
                break
        raw = raw or url
    if not raw:
        raise KtxError(f"connections.{connection_id} needs `path:` (the database file) or `url:`")
    path = Path(os.path.expanduser(raw.split("?", 1)[0]))
    if not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        raise KtxError(f"connections.{connection_id}.{field}: database file not found: {path}")
    return path
