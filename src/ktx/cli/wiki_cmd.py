"""`ktx wiki`: list, search and read wiki pages."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ktx.cli.context import JsonOption, OutputOption, app_state, open_services, output_mode
from ktx.cli.search_views import QueryOrSubcommandGroup, emit_rows
from ktx.errors import KtxError

UserIdOption = Annotated[str, typer.Option("--user-id", help="Whose user pages to include (default: local).")]


def register(app: typer.Typer) -> None:
    wiki = typer.Typer(
        suggest_commands=False,
        name="wiki",
        cls=QueryOrSubcommandGroup,
        help="List, search and read wiki pages. `ktx wiki <query…>` searches; bare `ktx wiki` lists.",
    )
    app.add_typer(wiki)

    @wiki.command("list")
    def list_pages(
        ctx: typer.Context, user_id: UserIdOption = "local", json_: JsonOption = False, output: OutputOption = None
    ) -> None:
        """List global pages and the user's pages."""
        mode = output_mode(json_, output)
        services = open_services(ctx, mode)
        project = services.project
        pages = services.wiki.list(user_id)
        for warning in [*services.wiki.skipped, *(w for p in pages for w in p.warnings)]:
            sys.stderr.write(f"warning: {warning}\n")
        items = [p.to_json() for p in pages]
        emit_rows(
            command="wiki list",
            items=items,
            mode=mode,
            plain=lambda r: [r["scope"], r["key"], r["summary"]],
            group=lambda r: r["scope"],
            title=lambda r: r["key"],
            detail=lambda r: r["summary"],
            noun=("page", "pages"),
            ranked=False,
            empty=(
                f"No local wiki pages found in {project.root / 'wiki'}",
                "Add Markdown files under wiki/global/ (shared) or wiki/user/<user>/ (yours); files directly in wiki/ are not read.",
            ),
        )

    @wiki.command("search")
    def search(
        ctx: typer.Context,
        query: Annotated[list[str], typer.Argument(metavar="QUERY...", help="Words to search for.")],
        user_id: UserIdOption = "local",
        limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most this many results.")] = None,
        json_: JsonOption = False,
        output: OutputOption = None,
    ) -> None:
        """Hybrid search: lexical (FTS5), token and, with embeddings configured, semantic lanes."""
        from ktx.search.service import debug_lines

        mode = output_mode(json_, output)
        services = open_services(ctx, mode)
        text = " ".join(query)
        outcome = services.search.search_wiki(text, user_id=user_id, limit=limit)
        for warning in dict.fromkeys(services.search.skipped):
            sys.stderr.write(f"warning: {warning}\n")
        if app_state(ctx).debug:
            sys.stderr.write("\n".join(debug_lines(outcome, "wiki")) + "\n")
        emit_rows(
            command="wiki search",
            items=outcome.items,
            mode=mode,
            plain=lambda r: [f"score={r['score']}", r["scope"], r["key"], r["summary"]],
            group=lambda r: r["scope"],
            title=lambda r: r["key"],
            detail=lambda r: r["summary"],
            noun=("page", "pages"),
            ranked=True,
            empty=(f'No local wiki pages matched "{text}"', "Run `ktx wiki` to inspect available pages."),
        )

    @wiki.command("read")
    def read(
        ctx: typer.Context, key: Annotated[str, typer.Argument(help="Page key.")], user_id: UserIdOption = "local"
    ) -> None:
        """Print a page exactly as stored, frontmatter included (the user's page shadows the global one)."""
        from ktx.cli.output import OutputMode

        services = open_services(ctx, OutputMode.PLAIN)
        project = services.project
        page = services.wiki.read(key, user_id)
        if page is None:
            raise KtxError(f"No wiki page found for key '{key}'")
        for warning in page.warnings:
            sys.stderr.write(f"warning: {warning}\n")
        sys.stdout.write((project.root / page.path).read_text(encoding="utf-8"))
