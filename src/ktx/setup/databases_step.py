"""Setup step: add a warehouse connection, test it live, and return the ktx.yaml edit (nothing is written when
the test fails). Credentials are kept out of ktx.yaml: a URL with a password is saved under `.ktx/secrets/`
(0600, git-ignored) and referenced as `file:`; `env:` and `file:` references are kept as given."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ktx.errors import KtxError, UsageError
from ktx.project import yamlio
from ktx.project.config import CONNECTION_ID_PATTERN, KtxConfig
from ktx.project.project import Project
from ktx.setup.llm_step import Edit, save_secret
from ktx.setup.options import SetupOptions
from ktx.setup.ui import SetupUI
from ktx.warehouse.registry import WAREHOUSE_DRIVERS, DriverSpec

MISSING_DATABASE = (
    "Missing database: pass --database <driver> --database-connection-id <id> --database-url <url|path|env:|file:> "
    "(and --database-schema for a scope), or --skip-databases."
)


@dataclass
class NewConnection:
    connection_id: str
    driver: str
    location: str  # URL, path or reference
    schemas: list[str] = field(default_factory=list)


def run_databases_step(project: Project, options: SetupOptions, ui: SetupUI) -> tuple[list[Edit], bool, list[str]]:
    """(edits, completed, connection ids to build context for). Skipped, or no connection asked for without a
    terminal: nothing to write."""
    ui.step("Databases")
    if options.skip_databases:
        ui.line("Databases setup skipped.")
        return [], True, []
    wanted = _from_flags(options) if options.database or options.database_url else None
    if wanted is None and options.database_connection_id:
        _test_existing(project, options.database_connection_id, ui)
        return [], True, list(options.database_connection_id)
    if wanted is None:
        if not ui.interactive:
            ui.line("No warehouse connection added (pass --database … to add one, or --skip-databases).")
            return [], False, []
        wanted = _ask(project, ui)
        if wanted is None:
            ui.line("Databases setup skipped.")
            return [], True, []
    entry = _entry(project, wanted)
    _test_new(project, wanted.connection_id, entry, ui)
    ui.line(f"Connection {wanted.connection_id} ({wanted.driver}) saved.")
    ids = [*project.config.setup.database_connection_ids, wanted.connection_id]
    return (
        [
            lambda d: yamlio.set_path(d, ["connections", wanted.connection_id], entry),
            lambda d: yamlio.set_path(d, ["setup", "database_connection_ids"], list(dict.fromkeys(ids))),
        ],
        True,
        [wanted.connection_id],
    )


def _from_flags(options: SetupOptions) -> NewConnection:
    driver = (options.database or [None])[0]
    if not driver:
        raise UsageError("--database-url needs --database <driver>.")
    if len(options.database or []) > 1:
        raise UsageError("Add one database per `ktx setup` run: pass --database once.")
    ids = options.database_connection_id or []
    if len(ids) > 1:
        raise UsageError("Creating a database takes exactly one --database-connection-id.")
    connection_id = ids[0] if ids else driver
    if not options.database_url:
        raise UsageError(f"--database {driver} needs --database-url (a URL, a file path, or an env:/file: reference).")
    return NewConnection(connection_id, driver, options.database_url, list(options.database_schema or []))


def validate_database_flags(options: SetupOptions) -> None:
    """Up-front checks, before setup touches anything."""
    for driver in options.database or []:
        if driver not in WAREHOUSE_DRIVERS:
            raise UsageError(f"Unsupported --database: {driver} (use {', '.join(WAREHOUSE_DRIVERS)})")
    for connection_id in options.database_connection_id or []:
        if not CONNECTION_ID_PATTERN.match(connection_id):
            raise UsageError(
                f"Invalid --database-connection-id {connection_id!r}: letters, digits, '-' and '_', "
                "starting with a letter or digit."
            )
    if options.skip_databases and (options.database or options.database_url):
        raise UsageError("--skip-databases cannot be combined with --database or --database-url.")


def _ask(project: Project, ui: SetupUI) -> NewConnection | None:
    choice = ui.select(
        "Add a warehouse connection?",
        [(name, name) for name in WAREHOUSE_DRIVERS] + [("skip", "Skip for now")],
        MISSING_DATABASE,
    )
    if choice == "skip":
        return None
    spec = WAREHOUSE_DRIVERS[choice]
    connection_id = ui.text("Connection id", MISSING_DATABASE, default=choice)
    if not CONNECTION_ID_PATTERN.match(connection_id):
        raise KtxError(f"Invalid connection id {connection_id!r}: letters, digits, '-' and '_'.")
    prompt = "Database file path" if spec.location == "file" else "Connection URL (or env:NAME / file:PATH)"
    location = ui.text(prompt, MISSING_DATABASE, secret=spec.location != "file")
    schemas: list[str] = []
    if spec.scope_key:
        answer = ui.text(f"Limit to {spec.scope_key} (comma-separated, empty for all)", MISSING_DATABASE)
        schemas = [s.strip() for s in answer.split(",") if s.strip()]
    return NewConnection(connection_id, choice, location, schemas)


def _entry(project: Project, wanted: NewConnection) -> dict[str, Any]:
    """The ktx.yaml entry: no password ever lands in the file."""
    spec: DriverSpec = WAREHOUSE_DRIVERS[wanted.driver]
    entry: dict[str, Any] = {"driver": wanted.driver}
    location = wanted.location.strip()
    if spec.location == "file" and not location.startswith(("env:", "file:")):
        entry["path"] = relative_to_project(project, location)
    elif spec.location == "credentials":
        entry["credentials_json"] = location
    elif location.startswith(("env:", "file:")):
        entry["url"] = location
    elif urlsplit(location).password:
        entry["url"] = save_secret(project, f"{wanted.connection_id}-url", location)
    else:
        entry["url"] = location
    if wanted.schemas:
        if not spec.scope_key:
            raise UsageError(f"--database-schema does not apply to {wanted.driver} (it has no schemas).")
        entry[spec.scope_key] = wanted.schemas
    return entry


def _test_new(project: Project, connection_id: str, entry: dict[str, Any], ui: SetupUI) -> None:
    from ktx.warehouse.connector import connector_class

    config = KtxConfig.model_validate({"connections": {connection_id: entry}})
    connector = connector_class(entry["driver"])(connection_id, config.connections[connection_id], project.root)
    _run_test(connector, connection_id, entry["driver"], ui)


def _test_existing(project: Project, connection_ids: list[str], ui: SetupUI) -> None:
    from ktx.warehouse.connections import open_connector

    for connection_id in connection_ids:
        conn = project.config.connections.get(connection_id)
        if conn is None:
            raise KtxError(f'Connection "{connection_id}" is not configured in ktx.yaml.')
        _run_test(open_connector(project, connection_id), connection_id, conn.driver, ui)


def _run_test(connector: Any, connection_id: str, driver: str, ui: SetupUI) -> None:
    with ui.spinner(f"Testing {connection_id} ({driver})."):
        try:
            with connector:
                warnings = connector.test()
        except KtxError as exc:
            raise KtxError(
                f"Connection test failed for {connection_id} ({driver}): {exc.message}",
                hint="Nothing was written. Fix the URL, path or credentials and run setup again.",
            ) from None
    ui.line(f"Connection test passed: {connection_id} ({driver})")
    for warning in warnings:
        ui.warn(f"warning: {warning}")


def relative_to_project(project: Project, path: str) -> str:
    """A path inside the project is stored relative to it, so the project can move."""
    try:
        return str(Path(path).resolve().relative_to(project.root))
    except ValueError:
        return path
