"""`ktx connection`: list configured connections (test arrives with the warehouse connectors)."""

from __future__ import annotations

from typing import Annotated

import typer

from ktx.cli.context import JsonOption, OutputOption, open_project, output_mode
from ktx.cli.output import Column, OutputMode, console, emit_json, emit_list, glyphs
from ktx.errors import KtxError, UsageError


def register(app: typer.Typer) -> None:
    connection = typer.Typer(
        suggest_commands=False, name="connection", help="List and test warehouse and context-source connections."
    )
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

    @connection.command("test")
    def test(
        ctx: typer.Context,
        connection_id: Annotated[str | None, typer.Argument(metavar="[ID]", help="Connection to test.")] = None,
        all_: Annotated[bool, typer.Option("--all", help="Test every connection (the default with no id).")] = False,
        json_: JsonOption = False,
        output: OutputOption = None,
    ) -> None:
        """Open a live connection and run a trivial read-only query. Exit 1 if any test fails."""
        from ktx.warehouse.service import check_connection, check_connections

        if connection_id and all_:
            raise UsageError("Pass a connection id or --all, not both.")
        mode = output_mode(json_, output)
        project = open_project(ctx, mode)
        if connection_id:
            result = check_connection(project, connection_id)
            if mode is OutputMode.JSON:
                emit_json(result.to_json())
            elif result.ok:
                typer.echo(f"Connection test passed: {result.connection_id}")
                typer.echo(f"Driver: {result.driver}")
                typer.echo(f"{result.key}: {result.detail}")
                for warning in result.warnings:
                    typer.echo(f"Warning: {warning}", err=True)
            elif result.untested:
                typer.echo(f"Not tested: {result.connection_id} — {result.detail}")
                return
            if not result.ok:
                if mode is OutputMode.JSON:
                    raise typer.Exit(1)
                raise KtxError(result.detail)
            return
        ids = sorted(project.config.connections)
        results = check_connections(project, ids)
        passed = sum(r.ok for r in results)
        failed = sum(r.failed for r in results)
        untested = sum(r.untested for r in results)
        if mode is OutputMode.JSON:
            emit_json(
                {
                    "results": [r.to_json() for r in results],
                    "tested": len(results) - untested,
                    "passed": passed,
                    "failed": failed,
                    "untested": untested,
                }
            )
        elif not results:
            typer.echo("No connections configured. Run `ktx setup` to add one.", err=True)
        else:
            g = glyphs()
            width = max(len(r.connection_id) for r in results)
            lines = ["connection test --all"]
            for r in results:
                mark = f"{g.ok} ok" if r.ok else ("- not tested" if r.untested else f"{g.fail} failed")
                lines.append(f"  {r.connection_id:<{width}}  {r.driver:<10} {mark}" + ("" if r.ok else f"  {r.detail}"))
                lines.extend(f"  {'':<{width}}  warning: {w}" for w in r.warnings)
            summary = f"{len(results) - untested} tested {g.dot} {passed} passed" + (
                f" {g.dot} {failed} failed" if failed else ""
            )
            if untested:
                summary += f" {g.dot} {untested} not tested"
            lines.append(summary)
            if mode is OutputMode.PRETTY:
                console().print("\n".join(lines), markup=False)
            else:
                typer.echo("\n".join(lines))
        if failed:
            raise typer.Exit(1)
