"""`ktx connection`: list configured connections (test arrives with the warehouse connectors)."""

from __future__ import annotations

import typer

from ktx.cli.context import JsonOption, OutputOption, open_project, output_mode
from ktx.cli.output import Column, emit_list
from ktx.errors import NotImplementedYet


def register(app: typer.Typer) -> None:
    connection = typer.Typer(name="connection", help="List and test warehouse and context-source connections.")
    app.add_typer(connection)

    def list_connections(ctx: typer.Context, json_: bool, output: str | None) -> None:
        mode = output_mode(json_, output)
        project = open_project(ctx, mode)
        # Only the raw driver names are shown: listing never resolves secrets.
        items = [{"id": cid, "driver": conn.driver} for cid, conn in sorted(project.config.connections.items())]
        emit_list(
            command="connection list",
            items=items,
            columns=[Column("id", "ID"), Column("driver", "DRIVER")],
            mode=mode,
            noun=("connection", "connections"),
            empty_message="No connections configured. Run `ktx setup` to add one.",
        )

    @connection.callback(invoke_without_command=True)
    def default(ctx: typer.Context, json_: JsonOption = False, output: OutputOption = None) -> None:
        """With no subcommand, list connections."""
        if ctx.invoked_subcommand is None:
            list_connections(ctx, json_, output)

    @connection.command("list")
    def list_cmd(ctx: typer.Context, json_: JsonOption = False, output: OutputOption = None) -> None:
        """List connections (ID and driver), sorted by id."""
        list_connections(ctx, json_, output)

    @connection.command(
        "test",
        help="Test one connection, or all with --all.\n\nNot implemented yet in this version of ktx.",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def test() -> None:
        raise NotImplementedYet("connection test")
