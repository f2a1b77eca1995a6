"""Live checks of the context sources ktx reads over an API (`ktx connection test`, `ktx setup --source`)."""

from __future__ import annotations

from typing import Any

from ktx.errors import KtxError


def check_source(project: Any, connection_id: str, conn: Any) -> str:
    """What the service answered (e.g. "2 databases (…)"); a KtxError says why the check failed."""
    if conn.driver == "metabase":
        from ktx.sources import metabase

        return metabase.check(project, connection_id, conn)
    if conn.driver == "notion":
        from ktx.sources import notion

        return notion.check(project, connection_id, conn)
    if conn.driver == "looker":
        from ktx.sources import looker

        return looker.check(project, connection_id, conn)
    raise KtxError(f"{conn.driver} has no live check")
