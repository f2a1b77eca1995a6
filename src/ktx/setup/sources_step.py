"""Setup step: add a dbt, MetricFlow or LookML connection (a local directory or a git repository, and the
warehouse it describes), check that the source is really there, and return the ktx.yaml edit. Nothing is written
when the check fails. Tokens are kept as `env:`/`file:` references, never as values."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ktx.errors import KtxError, UsageError
from ktx.project import yamlio
from ktx.project.config import CONNECTION_ID_PATTERN, WAREHOUSE_DRIVERS
from ktx.project.project import Project
from ktx.setup.llm_step import Edit
from ktx.setup.options import SetupOptions
from ktx.setup.ui import SetupUI

SOURCES = ("dbt", "metricflow", "lookml", "looker", "metabase", "notion")
API_SOURCES = ("looker", "metabase", "notion")
LABELS = {"dbt": "dbt project", "metricflow": "MetricFlow semantic models", "lookml": "LookML project",
          "looker": "Looker instance", "metabase": "Metabase instance", "notion": "Notion workspace"}  # fmt: skip


def validate_source_flags(options: SetupOptions) -> None:
    if options.source and options.source not in SOURCES:
        raise UsageError(f"Unsupported --source {options.source} (this version adds {', '.join(SOURCES)})")
    if options.source_path and options.source_git_url:
        raise UsageError("Choose only one of --source-path and --source-git-url.")
    if options.skip_sources and options.source:
        raise UsageError("--skip-sources cannot be combined with --source.")
    for flag, ref in (
        ("--source-auth-token-ref", options.source_auth_token_ref),
        ("--source-api-key-ref", options.source_api_key_ref),
        ("--source-client-secret-ref", options.source_client_secret_ref),
    ):
        if ref and not ref.startswith(("env:", "file:")):
            raise UsageError(f"{flag} must be an env: or file: reference (the secret itself is never saved).")
    for mapping in options.source_database_mapping or []:
        if "=" not in mapping or not all(part.strip() for part in mapping.split("=", 1)):
            raise UsageError(f"--source-database-mapping {mapping!r} is not METABASE_ID=CONNECTION.")
    if options.source_connection_id and not CONNECTION_ID_PATTERN.match(options.source_connection_id):
        raise UsageError(f"Invalid --source-connection-id {options.source_connection_id!r}")
    if options.source_git_url:
        from ktx.errors import KtxError
        from ktx.sources.run import check_clone_url

        try:
            check_clone_url(options.source_git_url, "--source-git-url")
        except KtxError as exc:
            raise UsageError(f"{exc.message} {exc.hint}") from None


@dataclass
class NewSource:
    connection_id: str
    driver: str
    entry: dict[str, Any]


def detect(driver: str, folder: Path) -> str | None:
    """Why `folder` is not a `driver` source, or None when it is."""
    if not folder.is_dir():
        return f"{folder} is not a directory"
    if driver == "dbt":
        return (
            None
            if any((folder / n).is_file() for n in ("dbt_project.yml", "dbt_project.yaml"))
            else (f"no dbt_project.yml in {folder}")
        )
    if driver == "lookml":
        return None if any(folder.rglob("*.lkml")) or any(folder.rglob("*.lookml")) else f"no .lkml files in {folder}"
    for path in folder.rglob("*.y*ml"):
        head = path.read_text(encoding="utf-8", errors="replace")[:200_000]
        if "semantic_models:" in head or "\nmetrics:" in head or head.startswith("metrics:"):
            return None
    return f"no YAML with semantic_models: or metrics: in {folder}"


def _entry(project: Project, options: SetupOptions, driver: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"driver": driver}
    if options.source_git_url:
        entry["repo_url" if driver == "dbt" else "repoUrl"] = options.source_git_url
        if options.source_branch:
            entry["branch"] = options.source_branch
        if options.source_subpath:
            entry["path"] = options.source_subpath
        if options.source_auth_token_ref:
            entry["auth_token_ref"] = options.source_auth_token_ref
    else:
        path = Path(options.source_path or "").expanduser()
        absolute = path if path.is_absolute() else (Path.cwd() / path)
        try:
            entry["source_dir"] = str(absolute.resolve().relative_to(project.root))
        except ValueError:
            entry["source_dir"] = str(absolute.resolve())
        if options.source_subpath:
            entry["path"] = options.source_subpath
    warehouses = sorted(c for c, v in project.config.connections.items() if v.driver in WAREHOUSE_DRIVERS)
    target = options.source_warehouse_connection_id
    if target and target not in warehouses:
        raise KtxError(f"--source-warehouse-connection-id {target} is not a warehouse connection in ktx.yaml.")
    if target or len(warehouses) != 1:
        if not target:
            raise KtxError(
                "Which warehouse does this source describe? Pass --source-warehouse-connection-id <id> "
                f"(configured: {', '.join(warehouses) or 'none — add one first'})."
            )
        entry["warehouse_connection_id"] = target
    return entry


def _check(project: Project, connection_id: str, entry: dict[str, Any], ui: SetupUI) -> None:
    from types import SimpleNamespace

    from ktx.sources.run import fetch

    conn = SimpleNamespace(**{"path": None, "branch": None, "auth_token_ref": None, **entry})
    with ui.spinner(f"Checking {connection_id}."), tempfile.TemporaryDirectory() as tmp:
        # A repository is cloned for the check only, into a scratch directory; `ktx ingest` clones it again.
        folder, _ = fetch(project, connection_id, conn, cache_dir=Path(tmp) / "clone")
        problem = detect(entry["driver"], folder)
    if problem:
        raise KtxError(f"{connection_id}: {problem}; nothing was saved.")
    ui.line(f"Found a {LABELS[entry['driver']]} for {connection_id}.")


def run_sources_step(project: Project, options: SetupOptions, ui: SetupUI) -> tuple[list[Edit], bool]:
    ui.step("Context sources")
    if options.skip_sources:
        ui.line("Context sources setup skipped.")
        return [], True
    driver = options.source
    if driver is None:
        if not ui.interactive:
            ui.line(f"No context source added (pass --source {'|'.join(SOURCES)} … to add one, or --skip-sources).")
            return [], False
        choice = ui.select(
            "Add a context source?",
            [(d, f"{LABELS[d]} ({d})") for d in SOURCES] + [("skip", "Skip")],
            "",
        )
        if choice == "skip":
            ui.line("Context sources setup skipped.")
            return [], True
        driver = choice
        if driver not in API_SOURCES:
            options.source_path = ui.text("Directory (or a git URL)", "", default=".")
            if options.source_path.startswith(("http://", "https://", "git@", "file://")):
                options.source_git_url, options.source_path = options.source_path, None
    if driver in API_SOURCES:
        return _run_api_source(project, options, ui, driver)
    if not (options.source_path or options.source_git_url):
        raise UsageError(f"--source {driver} needs --source-path <dir> or --source-git-url <url>.")
    connection_id = options.source_connection_id or (driver if driver not in project.config.connections else None)
    if connection_id is None:
        if not ui.interactive:
            raise UsageError(f"A connection named {driver} exists; pass --source-connection-id <id>.")
        connection_id = ui.text("Connection id", "", default=f"{driver}_source")
    entry = _entry(project, options, driver)
    _check(project, connection_id, entry, ui)
    ui.line(f"Connection {connection_id} ({driver}) saved; `ktx ingest {connection_id}` projects it.")
    return [lambda d: yamlio.set_path(d, ["connections", connection_id], entry)], True


def _connection_id(project: Project, options: SetupOptions, ui: SetupUI, driver: str) -> str:
    connection_id = options.source_connection_id or (driver if driver not in project.config.connections else None)
    if connection_id is None:
        if not ui.interactive:
            raise UsageError(f"A connection named {driver} exists; pass --source-connection-id <id>.")
        connection_id = ui.text("Connection id", "", default=f"{driver}_source")
    return connection_id


def _ask(ui: SetupUI, value: str | None, prompt: str, flag: str, driver: str) -> str:
    if value:
        return value
    if not ui.interactive:
        raise UsageError(f"--source {driver} needs {flag}.")
    return ui.text(prompt, "")


def _api_entry(project: Project, options: SetupOptions, ui: SetupUI, driver: str) -> dict[str, Any]:
    """The ktx.yaml entry of a Looker, Metabase or Notion connection, from the flags (or prompts)."""
    entry: dict[str, Any] = {"driver": driver}
    if driver == "metabase":
        entry["api_url"] = _ask(ui, options.source_url, "Metabase URL", "--source-url", driver)
        entry["api_key_ref"] = _ask(ui, options.source_api_key_ref, "API key (env:NAME or file:PATH)",
                                    "--source-api-key-ref", driver)  # fmt: skip
        mappings = dict(m.split("=", 1) for m in options.source_database_mapping or [])
        if mappings:
            entry["database_mappings"] = {k.strip(): v.strip() for k, v in mappings.items()}
    elif driver == "looker":
        entry["base_url"] = _ask(ui, options.source_url, "Looker URL", "--source-url", driver)
        entry["client_id"] = _ask(ui, options.source_client_id, "API client id", "--source-client-id", driver)
        entry["client_secret_ref"] = _ask(ui, options.source_client_secret_ref,
                                          "Client secret (env:NAME or file:PATH)", "--source-client-secret-ref",
                                          driver)  # fmt: skip
    else:
        entry["auth_token_ref"] = _ask(ui, options.source_auth_token_ref, "Integration token (env:NAME or file:PATH)",
                                       "--source-auth-token-ref", driver)  # fmt: skip
        if options.source_url:
            entry["api_url"] = options.source_url
        if options.source_all_pages:
            entry["crawl_mode"] = "all_accessible"
        elif not options.source_root:
            if not ui.interactive:
                raise UsageError("--source notion needs --source-root <page or database id> (or --source-all-pages).")
            options.source_root = [r.strip() for r in ui.text("Root page or database ids (comma-separated)", "")
                                   .split(",") if r.strip()]  # fmt: skip
    for key in ("api_key_ref", "client_secret_ref", "auth_token_ref"):
        if key in entry and not str(entry[key]).startswith(("env:", "file:")):
            raise UsageError(f"{key} must be an env: or file: reference (the secret itself is never saved).")
    warehouses = sorted(c for c, v in project.config.connections.items() if v.driver in WAREHOUSE_DRIVERS)
    target = options.source_warehouse_connection_id
    if target and target not in warehouses:
        raise KtxError(f"--source-warehouse-connection-id {target} is not a warehouse connection in ktx.yaml.")
    if target and driver != "metabase":
        entry["warehouse_connection_id"] = target
    elif driver == "looker" and len(warehouses) != 1:
        raise KtxError(
            "Which warehouse do Looker's explores query? Pass --source-warehouse-connection-id <id> "
            f"(configured: {', '.join(warehouses) or 'none — add one first'})."
        )
    return entry


def _run_api_source(project: Project, options: SetupOptions, ui: SetupUI, driver: str) -> tuple[list[Edit], bool]:
    """Checked live before anything is saved: the credential is accepted (and Notion's roots are shared)."""
    from ktx.project.config import KtxConfig
    from ktx.sources.live import check_source

    connection_id = _connection_id(project, options, ui, driver)
    entry = _api_entry(project, options, ui, driver)
    if driver == "notion" and options.source_root:
        from ktx.sources.notion import classify_roots

        probe = KtxConfig.model_validate({"connections": {connection_id: entry}}).connections[connection_id]
        with ui.spinner(f"Finding {len(options.source_root)} Notion root(s)."):
            pages, databases = classify_roots(project, connection_id, probe, options.source_root)
        if pages:
            entry["root_page_ids"] = pages
        if databases:
            entry["root_database_ids"] = databases
    try:
        conn = KtxConfig.model_validate({"connections": {connection_id: entry}}).connections[connection_id]
    except Exception as exc:
        raise KtxError(f"{connection_id}: {exc}; nothing was saved.") from None
    with ui.spinner(f"Checking {connection_id}."):
        try:
            found = check_source(project, connection_id, conn)
        except KtxError as exc:
            raise KtxError(f"{connection_id}: {exc.message} Nothing was saved.") from None
    ui.line(f"Connected to the {LABELS[driver]} for {connection_id}: {found}.")
    ui.line(f"Connection {connection_id} ({driver}) saved; `ktx ingest {connection_id}` reads it.")
    return [lambda d: yamlio.set_path(d, ["connections", connection_id], entry)], True
