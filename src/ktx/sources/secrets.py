"""The credential of a SaaS context source: only ever an `env:` or `file:` reference in ktx.yaml."""

from __future__ import annotations

from typing import Any

from ktx.errors import KtxError


def required_secret(project: Any, connection_id: str, conn: Any, field: str, label: str) -> str:
    """The value `connections.<id>.<field>_ref` (or `<field>`) points at; a literal token in ktx.yaml is refused
    (it would be committed with the project), an unset variable or missing file is said with the fix."""
    from ktx.project.refs import parse_reference, resolve_reference

    setting = f"{field}_ref"
    value = getattr(conn, setting, None) or getattr(conn, field, None)
    where = f"connections.{connection_id}.{setting if getattr(conn, setting, None) else field}"
    if not value:
        raise KtxError(f"{where} is not set.", hint=f"Set {setting}: env:NAME (or file:path) holding the {label}.")
    if parse_reference(str(value)).kind == "literal":
        raise KtxError(
            f"{where} holds the {label} itself; ktx only reads it from an env: or file: reference.",
            hint=f"Move the value to an environment variable and set {setting}: env:NAME.",
        )
    resolved = resolve_reference(str(value), field=where, base_dir=project.root)
    if not resolved:
        raise KtxError(f"{where} ({value}) is empty or unset.", hint=f"Export the {label} in that variable.")
    return resolved
