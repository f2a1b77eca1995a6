"""`ktx sql`: run read-only SQL against a warehouse connection."""

from __future__ import annotations

from typing import Annotated

import typer

from ktx.cli.context import JsonOption, OutputOption, open_services, output_mode
from ktx.cli.output import OutputMode, emit_json, emit_result_rows


def register(app: typer.Typer) -> None:
    @app.command("sql")
    def sql(
        ctx: typer.Context,
        statement: Annotated[
            list[str], typer.Argument(metavar="SQL...", help="The query (words are joined by spaces).")
        ],
        connection: Annotated[str, typer.Option("--connection", "-c", help="Connection id from ktx.yaml.")],
        max_rows: Annotated[
            int, typer.Option("--max-rows", min=1, max=10000, help="Return at most this many rows (1–10000).")
        ] = 1000,
        json_: JsonOption = False,
        output: OutputOption = None,
    ) -> None:
        """Run one read-only query. Writes, DDL, several statements and session changes are refused.

        Example: ktx sql -c warehouse "select status, count(*) from orders group by 1"
        """
        from ktx.warehouse.service import run_sql

        mode = output_mode(json_, output)
        services = open_services(ctx, mode)
        result = run_sql(services, connection, " ".join(statement), max_rows=max_rows)
        if mode is OutputMode.JSON:
            emit_json(result)
            return
        note = None
        if result["truncatedReason"] == "bytes":
            note = (
                f"Showing the first {result['rowCount']} rows: the result reached the connection's max_result_bytes "
                "(select fewer or narrower columns, or raise max_result_bytes in ktx.yaml)."
            )
        elif result["truncated"]:
            note = f"Showing the first {result['rowCount']} rows; more exist (raise --max-rows, up to 10000)."
        if result["cellsCut"]:
            cut = f"{result['cellsCut']} cell(s) longer than the per-cell limit were shortened (marked '…[truncated')."
            note = f"{note} {cut}" if note else cut
        count = result["rowCount"]
        footer = f"{count} row{'s' if count != 1 else ''} ({result['durationMs']} ms)"
        emit_result_rows(result["headers"], result["rows"], mode, footer=footer, note=note)
