"""A configured warehouse connection and its connector: what the per-process `Services` needs, with no dependency
on the capabilities built on top (warehouse.service imports this, never the reverse)."""

from __future__ import annotations

from typing import Any

from ktx.errors import KtxError
from ktx.project.config import WAREHOUSE_DRIVERS
from ktx.project.project import Project
from ktx.warehouse.connector import Connector, connector_class


def connection_config(project: Project, connection_id: str) -> Any:
    """The configured connection entry, or a clear error listing the configured ones."""
    connections = project.config.connections
    conn = connections.get(connection_id)
    if conn is None:
        known = ", ".join(sorted(connections)) or "none"
        raise KtxError(
            f'Connection "{connection_id}" is not configured in ktx.yaml',
            hint=f"Configured connections: {known}.",
        )
    return conn


def open_connector(project: Project, connection_id: str) -> Connector:
    """The connector for a configured warehouse connection (caller closes it)."""
    conn = connection_config(project, connection_id)
    if conn.driver not in WAREHOUSE_DRIVERS:
        raise KtxError(f'Connection "{connection_id}" does not support read-only SQL execution.')
    return connector_class(conn.driver)(connection_id, conn, project.root)
