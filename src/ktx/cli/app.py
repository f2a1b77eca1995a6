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


# Top-level command words and the option of the root callback that takes a value.
COMMAND_WORDS = ("setup", "status", "connection", "ingest", "wiki", "sl", "sql", "eval", "mcp", "admin", "completion")
VALUE_OPTIONS = ("--project-dir",)


def command_word(args: list[str]) -> str | None:
    """The command `args` invoke, or None (root help, an unknown word, shell completion)."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in VALUE_OPTIONS:
            skip = True
        elif arg == "--":
            return None
        elif not arg.startswith("-"):
            return arg if arg in COMMAND_WORDS else None
    return None


def build_app(only: str | None = None) -> typer.Typer:
    """The CLI; with `only`, just that command. Typer inspects every registered command's signature on
    each run, so a one-shot `ktx sl query` should not pay for the other forty."""
    from ktx.cli import (
        admin_cmd,
        completion_cmd,
        connection_cmd,
        eval_cmd,
        ingest_cmd,
        mcp_cmd,
        setup_cmd,
        sl_cmd,
        sql_cmd,
        status_cmd,
        wiki_cmd,
    )

    app = typer.Typer(
        suggest_commands=False,
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

    registrars = {
        "setup": setup_cmd.register,
        "status": status_cmd.register,
        "connection": connection_cmd.register,
        "ingest": ingest_cmd.register,
        "wiki": wiki_cmd.register,
        "sl": sl_cmd.register,
        "sql": sql_cmd.register,
        "eval": eval_cmd.register,
        "mcp": mcp_cmd.register,
        "admin": admin_cmd.register,
        "completion": completion_cmd.register,
    }  # fmt: skip
    for name, register in registrars.items():
        if only is None or name == only:
            register(app)
    return app


def _check_sql_comment_argument(args: list[str]) -> None:
    """SQL starting with `--` (a comment) looks like an option to the parser; say how to pass it."""
    before_separator = args[: args.index("--")] if "--" in args else args
    for arg in before_separator:
        if arg.startswith("--") and any(c.isspace() for c in arg):
            from ktx.errors import UsageError

            raise UsageError(
                "SQL that starts with `--` (a comment) is read as an option; put `--` before it: "
                'ktx sql -c <connection> -- "-- comment\\nSELECT …"'
            )


def json_requested(args: list[str]) -> bool:
    """Whether this command line asked for JSON output (`--json`, `--output json`, `-o json`, KTX_OUTPUT=json)."""
    import os

    head = args[: args.index("--")] if "--" in args else args
    if "--json" in head or "--output=json" in head or "-ojson" in head:
        return True
    if any(a in ("--output", "-o") and i + 1 < len(head) and head[i + 1] == "json" for i, a in enumerate(head)):
        return True
    return os.environ.get("KTX_OUTPUT", "").strip().lower() == "json" and "--output" not in head and "-o" not in head


def _emit_error_envelope(message: str, hint: str | None, exit_code: int) -> None:
    """A script that asked for JSON gets JSON on stdout for a refusal too, not an empty stdout."""
    import json

    error = {"kind": "error", "error": {"message": message, "hint": hint, "exitCode": exit_code}}
    sys.stdout.write(json.dumps(error, indent=2, ensure_ascii=False) + "\n")


def _keep_option_names_whole() -> None:
    """Help at 80 columns: rich shrinks every column of typer's option table, so a long flag name
    (`--source-warehouse-connection-id`) was cut to `--source-warehouse-connection-…`. The flag-name column (the
    first, or the second after the required-marker column) never wraps; the others share what is left."""
    from rich.table import Table
    from typer import rich_utils

    if getattr(rich_utils.Table, "_ktx_whole_names", False):
        return

    class OptionsTable(Table):
        _ktx_whole_names = True

        def add_row(self, *renderables, **kwargs):  # type: ignore[no-untyped-def]
            super().add_row(*renderables, **kwargs)
            for column in self.columns[:2]:
                column.no_wrap = True

    rich_utils.Table = OptionsTable  # type: ignore[misc]


def run(args: list[str], *, debug: bool = False) -> int:
    """Run the CLI and turn every failure into a message and an exit code, never a traceback."""
    word = command_word(args)
    if "--help" in args or "-h" in args:
        _keep_option_names_whole()
    app = build_app(word)
    try:
        if word == "sql":
            _check_sql_comment_argument(args)
        if word == "ingest":
            from ktx.cli.ingest_cmd import fill_report_default

            args = fill_report_default(args)
        app(args=args, prog_name="ktx", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        if code == 130:  # typer turns Ctrl+C into a silent exit 130; say what happened
            sys.stderr.write("Interrupted.\n")
        return code if isinstance(code, int) else (0 if code is None else 1)
    except KtxError as exc:
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"Error: {exc.message}\n")
        if exc.hint:
            sys.stderr.write(f"{exc.hint}\n")
        if json_requested(args):
            _emit_error_envelope(exc.message, exc.hint, exc.exit_code)
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
        if json_requested(args):
            _emit_error_envelope(f"unexpected {type(exc).__name__}: {exc}", "Re-run with --debug.", 1)
        return 1
    return 0
