"""`ktx sl`: list, search and read semantic-layer sources (validate and query arrive with the compiler)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ktx.cli.context import JsonOption, OutputOption, app_state, open_project, open_services, output_mode
from ktx.cli.output import OutputMode
from ktx.cli.search_views import QueryOrSubcommandGroup, emit_rows
from ktx.errors import KtxError, UsageError

ConnectionOption = Annotated[str | None, typer.Option("--connection-id", help="Only this connection's sources.")]

# The CLI's way to pick one connection when a source name is ambiguous.
CONNECTION_HINT = "Re-run with --connection-id <id>."


def _summary(row: dict) -> str:
    counts = (
        (row.get("columnCount", 0), "col"),
        (row.get("measureCount", 0), "measure"),
        (row.get("joinCount", 0), "join"),
    )
    return " · ".join(f"{n} {word}{'' if n == 1 else 's'}" for n, word in counts)


def _search_hint(text: str, commands: list[str]) -> str:
    """`ktx sl quer` searches for "quer"; when nothing matches and the word is close to a command, say so."""
    import difflib

    close = difflib.get_close_matches(text.strip(), commands, n=1, cutoff=0.75)
    if close and " " not in text.strip():
        return f"Run `ktx sl` to inspect available sources. Did you mean the command `ktx sl {close[0]}`?"
    return "Run `ktx sl` to inspect available sources."


def register(app: typer.Typer) -> None:
    sl = typer.Typer(
        suggest_commands=False,
        name="sl",
        cls=QueryOrSubcommandGroup,
        help="Semantic-layer sources. `ktx sl <query…>` searches; bare `ktx sl` lists.",
    )
    app.add_typer(sl)

    def show(ctx: typer.Context, text: str, connection_id: str | None, limit: int | None, mode, command: str) -> None:
        from ktx.search.service import debug_lines

        services = open_services(ctx, mode)
        project = services.project
        outcome = services.search.search_sl(text, connection_id=connection_id, limit=limit)
        if app_state(ctx).debug and text.strip():
            sys.stderr.write("\n".join(debug_lines(outcome, "sl")) + "\n")
        if text.strip() and not outcome.items and outcome.embedding.startswith("unavailable"):
            sys.stderr.write(f"embeddings: {outcome.embedding.replace('unavailable:', 'unavailable —')}\n")
        searching = command == "sl search"
        emit_rows(
            command=command,
            items=outcome.items,
            mode=mode,
            plain=lambda r: (
                ([f"score={r['score']}"] if searching else [])
                + [
                    r["connectionId"],
                    r["name"],
                    f"columns={r.get('columnCount', 0)}",
                    f"measures={r.get('measureCount', 0)}",
                    f"joins={r.get('joinCount', 0)}",
                ]
            ),
            group=lambda r: r["connectionId"],
            title=lambda r: r["name"],
            detail=lambda r: " ".join(x for x in (_summary(r), r.get("description", "")) if x),
            noun=("source", "sources"),
            ranked=searching,
            empty=(
                ("No semantic-layer sources matched " + f'"{text}"')
                if searching
                else f"No semantic-layer sources found in {project.root / 'semantic-layer'}",
                _search_hint(text, [c.name for c in sl.registered_commands if c.name])
                if searching
                else (
                    "Run `ktx ingest <connection>` to scan a warehouse into semantic-layer/<connection>/, or add source "
                    "YAML there by hand."
                ),
            ),
        )

    @sl.command("list")
    def list_sources(
        ctx: typer.Context,
        connection_id: ConnectionOption = None,
        json_: JsonOption = False,
        output: OutputOption = None,
    ) -> None:
        """List sources with their column, measure and join counts."""
        show(ctx, "", connection_id, None, output_mode(json_, output), "sl list")

    @sl.command("search")
    def search(
        ctx: typer.Context,
        query: Annotated[list[str], typer.Argument(metavar="QUERY...")],
        connection_id: ConnectionOption = None,
        limit: Annotated[int | None, typer.Option("--limit", min=1)] = None,
        json_: JsonOption = False,
        output: OutputOption = None,
    ) -> None:
        """Hybrid search over source names, descriptions, columns, measures, joins and sampled values."""
        show(ctx, " ".join(query), connection_id, limit, output_mode(json_, output), "sl search")

    @sl.command("read")
    def read(
        ctx: typer.Context, source: Annotated[str, typer.Argument()], connection_id: ConnectionOption = None
    ) -> None:
        """Print the YAML that defines a source (its overlay, standalone file, or manifest shard)."""
        from ktx.semantic.service import AmbiguousSource, find_source

        project = open_project(ctx, OutputMode.PLAIN)
        try:
            found = find_source(project.root, source, connection_id)
        except AmbiguousSource as exc:
            raise KtxError(f"{exc.message} {CONNECTION_HINT}") from None
        sys.stdout.write((project.root / found.path).read_text(encoding="utf-8"))

    @sl.command("validate")
    def validate(
        ctx: typer.Context,
        source: Annotated[str, typer.Argument(help="Source name (the `name:` in its YAML).")],
        connection_id: ConnectionOption = None,
        offline: Annotated[bool, typer.Option("--offline", help="Skip the live checks against the warehouse.")] = False,
        json_: JsonOption = False,
        output: OutputOption = None,
    ) -> None:
        """Check a source: YAML, joins, measures and graph; then, live, its table, columns and grain uniqueness."""
        from ktx.cli.output import emit_json
        from ktx.semantic.service import AmbiguousSource, validate_source

        mode = output_mode(json_, output)
        services = open_services(ctx, mode)
        try:
            check = validate_source(services, source, connection_id, live=not offline)
        except AmbiguousSource as exc:
            raise KtxError(f"{exc.message} {CONNECTION_HINT}") from None
        if mode is OutputMode.JSON:
            emit_json(check.to_json())
        else:
            for warning in check.report.warnings:
                sys.stderr.write(f"warning: {warning.message}\n")
            for name, outcome in check.checks.items():
                sys.stderr.write(f"  {name}: {outcome}\n")
            if check.report.valid:
                sys.stdout.write(f"Valid semantic-layer source: {check.connection_id}/{source}\n")
            else:
                for error in check.report.errors:
                    sys.stderr.write(f"error: {error.message}\n")
        if not check.report.valid:
            raise typer.Exit(1)

    @sl.command("query")
    def query(
        ctx: typer.Context,
        connection_id: ConnectionOption = None,
        measure: Annotated[
            list[str] | None,
            typer.Option("--measure", "-m", help="Measure (repeatable): `orders.revenue`, `sum(orders.amount)`."),
        ] = None,
        dimension: Annotated[
            list[str] | None,
            typer.Option(
                "--dimension", "-d", help="Dimension (repeatable): `customers.segment`, `orders.ordered_at:month`."
            ),
        ] = None,
        filter_: Annotated[
            list[str] | None,
            typer.Option("--filter", "-f", help="SQL predicate (repeatable); aggregates go to HAVING."),
        ] = None,
        segment: Annotated[
            list[str] | None, typer.Option("--segment", help="Segment `source.segment` (repeatable).")
        ] = None,
        order_by: Annotated[
            list[str] | None, typer.Option("--order-by", help="`field[:asc|desc]` (repeatable).")
        ] = None,
        via: Annotated[
            list[str] | None,
            typer.Option(
                "--via", help="A source the join path must go through when several lead to a dimension (repeatable)."
            ),
        ] = None,
        limit: Annotated[
            int | None, typer.Option("--limit", min=0, help="Row limit of the query (default 1000).")
        ] = None,
        include_empty: Annotated[
            bool | None,
            typer.Option(
                "--include-empty/--no-include-empty", help="Keep dimension members without data (default: keep)."
            ),
        ] = None,
        query_file: Annotated[
            str | None, typer.Option("--query-file", help="JSON query file (`-` for stdin); flags add to it.")
        ] = None,
        format_: Annotated[
            str | None,
            typer.Option(
                "--format",
                help="json (result and plan), sql (only the SQL) or table (runs it; rows only). "
                "Default: table on a terminal, json otherwise.",
            ),
        ] = None,
        output: OutputOption = None,
        json_: JsonOption = False,
        execute: Annotated[bool, typer.Option("--execute", help="Run the SQL read-only on the connection.")] = False,
        max_rows: Annotated[
            int | None,
            typer.Option(
                "--max-rows", min=1, max=10000, help="Rows to fetch with --execute (default: the query limit)."
            ),
        ] = None,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Accepted for scripts; queries never ask.")] = False,
        no_input: Annotated[bool, typer.Option("--no-input", help="Accepted for scripts; queries never ask.")] = False,
    ) -> None:
        """Compile a semantic query to SQL for one connection (and run it with --execute).

        Example: ktx sl query --connection-id warehouse -m orders.revenue -d customers.segment --execute
        """
        from ktx.cli.sl_query import build_query, run_cli_query

        mode = output_mode(json_, output)
        if json_:
            format_ = "json"
        if format_ not in (None, "json", "sql", "table"):
            raise UsageError(f"Invalid --format value: {format_} (use json, sql or table)")
        spec = build_query(query_file, measure, dimension, filter_, segment, order_by, limit, include_empty, via)
        run_cli_query(
            app_state(ctx),
            spec,
            connection_id,
            format_=format_,
            execute=execute,
            max_rows=max_rows,
            mode=mode,
        )
