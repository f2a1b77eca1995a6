"""`ktx sl`: list, search and read semantic-layer sources (validate and query arrive with the compiler)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ktx.cli.context import JsonOption, OutputOption, app_state, open_project, output_mode
from ktx.cli.search_views import QueryOrSubcommandGroup, emit_rows
from ktx.errors import KtxError, NotImplementedYet

ConnectionOption = Annotated[str | None, typer.Option("--connection-id", help="Only this connection's sources.")]


def _summary(row: dict) -> str:
    return f"{row.get('columnCount', 0)} cols · {row.get('measureCount', 0)} measures · {row.get('joinCount', 0)} joins"


def register(app: typer.Typer) -> None:
    sl = typer.Typer(
        name="sl",
        cls=QueryOrSubcommandGroup,
        help="Semantic-layer sources. `ktx sl <query…>` searches; bare `ktx sl` lists.",
    )
    app.add_typer(sl)

    def show(ctx: typer.Context, text: str, connection_id: str | None, limit: int | None, mode, command: str) -> None:
        from ktx.search.service import debug_lines

        project = open_project(ctx, mode)
        outcome = project.search.search_sl(text, connection_id=connection_id, limit=limit)
        if app_state(ctx).debug and text.strip():
            sys.stderr.write("\n".join(debug_lines(outcome, "sl")) + "\n")
        if text.strip() and not outcome.items and outcome.embedding.startswith("unavailable"):
            sys.stderr.write(f"embeddings: {outcome.embedding.replace('unavailable:', 'unavailable —')}\n")
        searching = command == "sl search"
        emit_rows(
            command=command, items=outcome.items, mode=mode,
            plain=lambda r: ([f"score={r['score']}"] if searching else []) + [
                r["connectionId"], r["name"], f"columns={r.get('columnCount', 0)}",
                f"measures={r.get('measureCount', 0)}", f"joins={r.get('joinCount', 0)}"],
            group=lambda r: r["connectionId"], title=lambda r: r["name"],
            detail=lambda r: " ".join(x for x in (_summary(r), r.get("description", "")) if x),
            noun=("source", "sources"), ranked=searching,
            empty=(("No semantic-layer sources matched " + f'"{text}"') if searching
                   else f"No semantic-layer sources found in {project.root / 'semantic-layer'}",
                   "Run `ktx sl` to inspect available sources." if searching
                   else "Add source YAML under semantic-layer/<connection>/ or run `ktx ingest <connectionId>`."),
        )  # fmt: skip

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
        from ktx.cli.output import OutputMode
        from ktx.semantic.summaries import all_sources

        project = open_project(ctx, OutputMode.PLAIN)
        matches = [
            s for s in all_sources(project.root) if s.name == source and connection_id in (None, s.connection_id)
        ]
        if not matches:
            raise KtxError(f'Semantic-layer source "{source}" was not found.')
        if len(matches) > 1:
            ids = ", ".join(sorted(m.connection_id for m in matches))
            raise KtxError(
                f"Source '{source}' exists in multiple connections: {ids}. Re-run with --connection-id <id>."
            )
        sys.stdout.write((project.root / matches[0].path).read_text(encoding="utf-8"))

    for name in ("validate", "query"):

        @sl.command(name, help=f"Not implemented yet: `ktx sl {name}` arrives with the semantic compiler.",
                    context_settings={"allow_extra_args": True, "ignore_unknown_options": True})  # fmt: skip
        def pending(ctx: typer.Context, _name: str = typer.Option(name, hidden=True)) -> None:
            raise NotImplementedYet(f"sl {_name}")
