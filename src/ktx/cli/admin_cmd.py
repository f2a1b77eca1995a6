"""`ktx admin`: project initialisation, the ktx.yaml JSON Schema, maintenance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ktx.cli.context import JsonOption, OutputOption, output_mode
from ktx.cli.output import OutputMode, emit_json


def register(app: typer.Typer) -> None:
    admin = typer.Typer(
        suggest_commands=False,
        name="admin",
        help="Project administration: init, schema, reindex.",
        no_args_is_help=True,
    )
    app.add_typer(admin)

    @admin.command("init")
    def init(
        directory: Annotated[Path | None, typer.Argument(help="Directory for the project (default: current).")] = None,
        force: Annotated[
            bool,
            typer.Option("--force", help="Repair the scaffold of an existing project (ktx.yaml is kept)."),
        ] = False,
        json_: JsonOption = False,
        output: OutputOption = None,
    ) -> None:
        """Create an empty ktx project: ktx.yaml, wiki/, semantic-layer/, raw-sources/, .ktx/, its own git repo."""
        from ktx.project.project import init_project

        mode = output_mode(json_, output)
        result = init_project(directory or Path.cwd(), force=force)
        if mode is OutputMode.JSON:
            emit_json(
                {
                    "projectDir": str(result.root),
                    "config": str(result.config_path),
                    "commit": result.commit,
                    "keptExistingConfig": result.kept_existing_config,
                }
            )
            return
        typer.echo(f"Initialized ktx project at {result.root}")
        typer.echo(f"Config: {result.config_path}" + (" (kept existing)" if result.kept_existing_config else ""))
        typer.echo(f"Commit: {result.commit or 'none'}")

    @admin.command("schema")
    def schema(
        output_file: Annotated[
            Path | None,
            typer.Option("--output", "-o", help="Write the schema to this file instead of stdout."),
        ] = None,
    ) -> None:
        """Print the JSON Schema (draft-07) of ktx.yaml. Works without a project."""
        from ktx.project.config import config_json_schema
        from ktx.project.files import atomic_write

        text = json.dumps(config_json_schema(), indent=2) + "\n"
        if output_file is None:
            typer.echo(text, nl=False)
            return
        atomic_write(output_file.expanduser().resolve(), text)
        typer.echo(f"Wrote {output_file}")

    @admin.command("reindex")
    def reindex(
        ctx: typer.Context,
        force: Annotated[bool, typer.Option("--force", help="Drop each scope's rows and rebuild from files.")] = False,
        json_: JsonOption = False,
        output: OutputOption = None,
    ) -> None:
        """Rebuild the search index in .ktx/db.sqlite from wiki pages and semantic-layer sources.

        Exit code 1 if any scope failed (other scopes still complete).
        """
        import sys

        from ktx.cli.context import open_services

        mode = output_mode(json_, output)
        summary = open_services(ctx, mode).search.reindex(force=force)
        failed = [s for s in summary["scopes"] if s.get("error")]
        verb = "rebuilt" if force else "updated"
        if mode is OutputMode.JSON:
            emit_json({"kind": "reindex", "data": summary, "meta": {"command": "admin reindex"}})
        else:
            if not summary["embeddingsAvailable"]:
                sys.stderr.write("Embeddings: not configured — indexing lexical only\n")
            for scope in summary["scopes"]:
                embeddings = scope["embeddingsRecomputed"] if summary["embeddingsAvailable"] else "-"
                line = (
                    f"{scope['label']}\tscanned={scope['scanned']}\t{verb}={scope['updated']}\t"
                    f"deleted={scope['deleted']}\tembeddings={embeddings}\tduration_ms={scope['durationMs']}"
                )
                if scope.get("error"):
                    line += f'\terror="{scope["error"]}"'
                sys.stderr.write(line + "\n")
            for warning in summary["warnings"]:
                sys.stderr.write(f"warning: {warning}\n")
            t = summary["totals"]
            total = (
                f"reindex scopes={len(summary['scopes'])} scanned={t['scanned']} {verb}={t['updated']} "
                f"deleted={t['deleted']} embeddings={t['embeddingsRecomputed']} duration_ms={summary['durationMs']}"
            )
            typer.echo(total + (f" failed={len(failed)}" if failed else ""))
        if failed:
            raise typer.Exit(1)
