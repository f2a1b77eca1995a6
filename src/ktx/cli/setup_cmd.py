"""`ktx setup`: create or change a project — LLM backend and embeddings today."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ktx.cli.context import app_state

LLM = "LLM backend"
EMB = "Embeddings"
DB = "Databases"
STEPS = "Other steps"
AGENTS = "Agents"
SRC = "Context sources"


def register(app: typer.Typer) -> None:
    @app.command("setup")
    def setup(
        ctx: typer.Context,
        llm_backend: Annotated[
            str | None,
            typer.Option(
                "--llm-backend",
                metavar="BACKEND",
                rich_help_panel=LLM,
                help="The backend ktx itself uses for LLM-backed work: claude-code, codex, anthropic, vertex, gateway "
                "or none.",
            ),
        ] = None,
        anthropic_api_key_env: Annotated[
            str | None,
            typer.Option(
                "--anthropic-api-key-env",
                metavar="NAME",
                rich_help_panel=LLM,
                help="Environment variable holding the Anthropic API key.",
            ),
        ] = None,
        anthropic_api_key_file: Annotated[
            str | None,
            typer.Option(
                "--anthropic-api-key-file",
                metavar="PATH",
                rich_help_panel=LLM,
                help="File holding the Anthropic API key.",
            ),
        ] = None,
        vertex_project: Annotated[
            str | None,
            typer.Option(
                "--vertex-project", metavar="ID", rich_help_panel=LLM, help="Google Cloud project (or env:/file: ref)."
            ),
        ] = None,
        vertex_location: Annotated[
            str | None,
            typer.Option(
                "--vertex-location", metavar="REGION", rich_help_panel=LLM, help="Default us-east5 (or an env: ref)."
            ),
        ] = None,
        gateway_base_url: Annotated[
            str | None,
            typer.Option(
                "--gateway-base-url", metavar="URL", rich_help_panel=LLM, help="AI gateway (Anthropic-compatible) URL."
            ),
        ] = None,
        gateway_api_key_env: Annotated[
            str | None,
            typer.Option(
                "--gateway-api-key-env",
                metavar="NAME",
                rich_help_panel=LLM,
                help="Environment variable holding the gateway key (default AI_GATEWAY_API_KEY).",
            ),
        ] = None,
        gateway_api_key_file: Annotated[
            str | None,
            typer.Option(
                "--gateway-api-key-file", metavar="PATH", rich_help_panel=LLM, help="File holding the gateway key."
            ),
        ] = None,
        skip_llm: Annotated[bool, typer.Option("--skip-llm", rich_help_panel=LLM)] = False,
        embedding_backend: Annotated[
            str | None,
            typer.Option(
                "--embedding-backend", metavar="BACKEND", rich_help_panel=EMB, help="openai or sentence-transformers."
            ),
        ] = None,
        embedding_api_key_env: Annotated[
            str | None, typer.Option("--embedding-api-key-env", metavar="NAME", rich_help_panel=EMB)
        ] = None,
        embedding_api_key_file: Annotated[
            str | None, typer.Option("--embedding-api-key-file", metavar="PATH", rich_help_panel=EMB)
        ] = None,
        skip_embeddings: Annotated[bool, typer.Option("--skip-embeddings", rich_help_panel=EMB)] = False,
        database: Annotated[
            list[str] | None,
            typer.Option(
                "--database",
                metavar="DRIVER",
                rich_help_panel=DB,
                help="Add a warehouse connection (tested before it is saved): duckdb, sqlite, postgres, mysql, "
                "clickhouse, snowflake, bigquery or sqlserver.",
            ),
        ] = None,
        database_connection_id: Annotated[
            list[str] | None,
            typer.Option(
                "--database-connection-id",
                metavar="ID",
                rich_help_panel=DB,
                help="Its connection id (default: the driver); alone, tests existing connections.",
            ),
        ] = None,
        database_url: Annotated[
            str | None,
            typer.Option(
                "--database-url",
                metavar="URL",
                rich_help_panel=DB,
                help="URL (a password in it is saved under .ktx/secrets/), file path, or a secret reference.",
            ),
        ] = None,
        database_schema: Annotated[
            list[str] | None,
            typer.Option(
                "--database-schema", metavar="NAME", rich_help_panel=DB, help="Limit scans to this schema (repeatable)."
            ),
        ] = None,
        skip_databases: Annotated[bool, typer.Option("--skip-databases", rich_help_panel=STEPS)] = False,
        source: Annotated[
            str | None,
            typer.Option(
                "--source",
                metavar="KIND",
                rich_help_panel=SRC,
                help="Add a context source: dbt, metricflow, lookml, looker, metabase or notion.",
            ),
        ] = None,
        source_connection_id: Annotated[
            str | None, typer.Option("--source-connection-id", metavar="ID", rich_help_panel=SRC)
        ] = None,
        source_path: Annotated[
            str | None, typer.Option("--source-path", metavar="DIR", rich_help_panel=SRC, help="A local checkout.")
        ] = None,
        source_git_url: Annotated[
            str | None,
            typer.Option("--source-git-url", metavar="URL", rich_help_panel=SRC, help="A repository (file:// too)."),
        ] = None,
        source_branch: Annotated[str | None, typer.Option("--source-branch", rich_help_panel=SRC)] = None,
        source_subpath: Annotated[
            str | None, typer.Option("--source-subpath", metavar="PATH", rich_help_panel=SRC, help="Inside the repo.")
        ] = None,
        source_auth_token_ref: Annotated[
            str | None,
            typer.Option("--source-auth-token-ref", metavar="REF", rich_help_panel=SRC, help="env:NAME or file:PATH."),
        ] = None,
        source_warehouse_connection_id: Annotated[
            str | None,
            typer.Option(
                "--source-warehouse-connection-id",
                metavar="ID",
                rich_help_panel=SRC,
                help="The warehouse the source describes (needed with several).",
            ),
        ] = None,
        source_url: Annotated[
            str | None,
            typer.Option("--source-url", metavar="URL", rich_help_panel=SRC, help="Looker or Metabase base URL."),
        ] = None,
        source_api_key_ref: Annotated[
            str | None,
            typer.Option(
                "--source-api-key-ref",
                metavar="REF",
                rich_help_panel=SRC,
                help="Metabase API key: env:NAME or file:PATH.",
            ),
        ] = None,
        source_client_id: Annotated[
            str | None,
            typer.Option("--source-client-id", metavar="ID", rich_help_panel=SRC, help="Looker API client id."),
        ] = None,
        source_client_secret_ref: Annotated[
            str | None,
            typer.Option(
                "--source-client-secret-ref",
                metavar="REF",
                rich_help_panel=SRC,
                help="Looker API client secret: env:NAME or file:PATH.",
            ),
        ] = None,
        source_root: Annotated[
            list[str] | None,
            typer.Option(
                "--source-root",
                metavar="ID",
                rich_help_panel=SRC,
                help="A Notion page or database to read, with what it contains (repeatable).",
            ),
        ] = None,
        source_all_pages: Annotated[
            bool,
            typer.Option(
                "--source-all-pages", rich_help_panel=SRC, help="Notion: every page shared with the integration."
            ),
        ] = False,
        source_database_mapping: Annotated[
            list[str] | None,
            typer.Option(
                "--source-database-mapping",
                metavar="MB_ID=CONNECTION",
                rich_help_panel=SRC,
                help="Metabase database id → warehouse connection (repeatable; matched by host and name otherwise).",
            ),
        ] = None,
        skip_sources: Annotated[bool, typer.Option("--skip-sources", rich_help_panel=STEPS)] = False,
        skip_context: Annotated[
            bool,
            typer.Option(
                "--skip-context", rich_help_panel=STEPS, help="Do not ingest the database connections set up now."
            ),
        ] = False,
        skip_agents: Annotated[bool, typer.Option("--skip-agents", rich_help_panel=STEPS)] = False,
        agents: Annotated[
            bool,
            typer.Option(
                "--agents", rich_help_panel=AGENTS, help="Only connect coding agents (skills, rules, MCP config)."
            ),
        ] = False,
        target: Annotated[
            list[str] | None,
            typer.Option(
                "--target",
                metavar="AGENT",
                rich_help_panel=AGENTS,
                help="Agent to connect (repeatable): claude-code, claude-desktop, codex, cursor, opencode, universal. "
                "`--target codex` gives a Codex session access to ktx; it is "
                "unrelated to `--llm-backend codex`, which makes ktx itself run on Codex.",
            ),
        ] = None,
        global_: Annotated[
            bool,
            typer.Option("--global", rich_help_panel=AGENTS, help="Install for your user (claude-code, codex)."),
        ] = False,
        local: Annotated[
            bool,
            typer.Option("--local", rich_help_panel=AGENTS, help="claude-code only: this project, in ~/.claude.json."),
        ] = False,
        agent_mode: Annotated[
            str | None,
            typer.Option(
                "--mode",
                metavar="MODE",
                rich_help_panel=AGENTS,
                help="mcp: the tools and the analytics skill; mcp-cli: also the admin CLI skill and rule.",
            ),
        ] = None,
        install_dir: Annotated[
            str | None,
            typer.Option("--install-dir", metavar="PATH", rich_help_panel=AGENTS, help="Where project-scope files go."),
        ] = None,
        remove_agents: Annotated[
            bool,
            typer.Option(
                "--remove", rich_help_panel=AGENTS, help="Remove every file and config key ktx installed for agents."
            ),
        ] = False,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Create the project without asking.")] = False,
        no_input: Annotated[bool, typer.Option("--no-input", help="Never prompt; missing answers are errors.")] = False,
    ) -> None:
        """Create or change a ktx project: choose the LLM backend and embeddings, health-check them, and write
        ktx.yaml in place (comments kept) in one commit.

        Scripted: ktx setup --no-input --yes --llm-backend claude-code --skip-embeddings --skip-databases
        --skip-sources --skip-agents
        """
        from ktx.setup.options import SetupOptions
        from ktx.setup.wizard import run_setup

        options = SetupOptions(
            no_input=no_input,
            yes=yes,
            llm_backend=llm_backend,
            anthropic_api_key_env=anthropic_api_key_env,
            anthropic_api_key_file=anthropic_api_key_file,
            vertex_project=vertex_project,
            vertex_location=vertex_location,
            gateway_base_url=gateway_base_url,
            gateway_api_key_env=gateway_api_key_env,
            gateway_api_key_file=gateway_api_key_file,
            skip_llm=skip_llm,
            embedding_backend=embedding_backend,
            embedding_api_key_env=embedding_api_key_env,
            embedding_api_key_file=embedding_api_key_file,
            skip_embeddings=skip_embeddings,
            database=database,
            database_connection_id=database_connection_id,
            database_url=database_url,
            database_schema=database_schema,
            skip_databases=skip_databases,
            skip_context=skip_context,
            skip_sources=skip_sources,
            source=source,
            source_connection_id=source_connection_id,
            source_path=source_path,
            source_git_url=source_git_url,
            source_branch=source_branch,
            source_subpath=source_subpath,
            source_auth_token_ref=source_auth_token_ref,
            source_warehouse_connection_id=source_warehouse_connection_id,
            source_url=source_url,
            source_api_key_ref=source_api_key_ref,
            source_client_id=source_client_id,
            source_client_secret_ref=source_client_secret_ref,
            source_root=source_root,
            source_all_pages=source_all_pages,
            source_database_mapping=source_database_mapping,
            skip_agents=skip_agents,
            agents=agents,
            target=target,
            global_=global_,
            local=local,
            agent_mode=agent_mode,
            install_dir=install_dir,
            remove_agents=remove_agents,
        )
        interactive = not no_input and sys.stdin.isatty() and sys.stdout.isatty()
        run_setup(app_state(ctx).location().root, options, interactive=interactive)
