"""The Typer application: global options, the command map, and error handling."""

from __future__ import annotations

import sys
import traceback
from typing import Annotated

import typer

from ktx import __version__
from ktx.cli.context import AppState
from ktx.errors import KtxError

HELP = (
    "ktx — the context layer for data agents.\n\n"
    "Reads your warehouse and the tools around it, writes reviewable semantic sources and wiki "
    "pages into this project's git repo, and serves them to agents over MCP and this CLI."
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"ktx {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    from ktx.cli import (
        admin_cmd,
        completion_cmd,
        connection_cmd,
        pending_cmd,
        setup_cmd,
        sl_cmd,
        sql_cmd,
        status_cmd,
        wiki_cmd,
    )

    app = typer.Typer(
        name="ktx",
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def root(
        ctx: typer.Context,
        project_dir: Annotated[
            str | None,
            typer.Option(
                "--project-dir",
                metavar="PATH",
                help="Project directory (default: $KTX_PROJECT_DIR, then the nearest ktx.yaml above cwd).",
            ),
        ] = None,
        debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and diagnostics on stderr.")] = False,
        version: Annotated[
            bool,
            typer.Option("--version", "-v", callback=_version_callback, is_eager=True, help="Print the version."),
        ] = False,
    ) -> None:
        state = ctx.ensure_object(AppState)
        state.project_dir_flag = project_dir
        state.debug = debug
        state.trace(f"dispatch={ctx.invoked_subcommand}")

    setup_cmd.register(app)
    status_cmd.register(app)
    connection_cmd.register(app)
    pending_cmd.register(app, "ingest", "Build context from a connection, a context source, or text.")
    wiki_cmd.register(app)
    sl_cmd.register(app)
    sql_cmd.register(app)
    pending_cmd.register(app, "mcp", "Serve ktx tools to agents over MCP (stdio or HTTP).")
    admin_cmd.register(app)
    completion_cmd.register(app)
    return app


def run(args: list[str], *, debug: bool = False) -> int:
    """Run the CLI and turn every failure into a message and an exit code, never a traceback."""
    app = build_app()
    try:
        app(args=args, prog_name="ktx", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except KtxError as exc:
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"Error: {exc.message}\n")
        if exc.hint:
            sys.stderr.write(f"{exc.hint}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        return 130
    except Exception as exc:  # the last line of defence: one line, details behind --debug
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"Error: unexpected {type(exc).__name__}: {exc}\n")
        if not debug:
            sys.stderr.write("Re-run with --debug for the full traceback.\n")
        return 1
    return 0
