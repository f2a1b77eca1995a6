"""`ktx status`: validate ktx.yaml, or report project readiness, or check the machine."""

from __future__ import annotations

from typing import Annotated

import typer

from ktx.cli.context import JsonOption, OutputOption, app_state, output_mode, print_missing_project
from ktx.cli.output import OutputMode, emit_json, glyphs
from ktx.errors import KtxError


def register(app: typer.Typer) -> None:
    @app.command("status")
    def status(
        ctx: typer.Context,
        validate: Annotated[bool, typer.Option("--validate", help="Only check ktx.yaml against the schema.")] = False,
        fast: Annotated[bool, typer.Option("--fast", help="Skip live probes (LLM auth, query history).")] = False,
        verbose: Annotated[bool, typer.Option("--verbose", help="Show every check and configuration detail.")] = False,
        no_input: Annotated[bool, typer.Option("--no-input", help="Never prompt.")] = False,
        json_: JsonOption = False,
        output: OutputOption = None,
    ) -> None:
        """Check the project: config, LLM, embeddings, connections, local data, and a verdict.

        Exit code 1 when the verdict is blocked or ktx.yaml is invalid; 0 for ready or partial.
        """
        from ktx.cli import status_render as render
        from ktx.project.location import CONFIG_FILE

        mode = output_mode(json_, output)
        pretty = mode is OutputMode.PRETTY
        g = glyphs()
        location = app_state(ctx).location()
        root = location.root.resolve()
        config_path = root / CONFIG_FILE
        if config_path.is_dir():
            raise KtxError(f"{config_path} is a directory; ktx.yaml must be a file.")

        if not config_path.is_file():
            from ktx.status import checks

            if validate or location.source in ("flag", "env"):
                print_missing_project(location, mode)
                raise typer.Exit(1)
            env_checks = checks.environment_checks()
            if mode is OutputMode.JSON:
                emit_json(
                    {
                        "title": "ktx status",
                        "projectDir": str(location.root),
                        "project": None,
                        "checks": env_checks,
                    }
                )
            else:
                render.print_lines(render.environment_lines(env_checks, g, verbose=verbose), pretty=pretty)
            raise typer.Exit(1 if any(c["status"] == "fail" for c in env_checks) else 0)

        if validate:  # the answer for these bytes may be known already: no config models to import or build
            from ktx.project.config_check import check_config

            checked = check_config(root)
            ok, issues = checked.ok, checked.issues
        else:
            from ktx.project.project import Project

            project = Project(root)
            validation = project.validation
            ok, issues = validation.ok, [i.to_json() for i in validation.issues]
        if not ok:
            if mode is OutputMode.JSON:
                emit_json({"error": "invalid_config", "projectDir": str(root), "issues": issues})
            else:
                render.print_lines(render.validation_lines(issues, False, g), pretty=pretty)
            raise typer.Exit(1)
        if validate:
            if mode is OutputMode.JSON:
                payload = {"ok": True, "projectDir": str(root)}
                if issues:
                    payload["warnings"] = issues
                emit_json(payload)
            else:
                render.print_lines(render.validation_lines(issues, True, g), pretty=pretty)
            return

        from ktx.status import checks

        backend = validation.config.llm.provider.backend
        if pretty and not fast and backend in ("claude-code", "codex") and validation.config.llm.models.default:
            from ktx.cli.output import console

            label = "Claude Code" if backend == "claude-code" else "Codex"
            with console(stderr=True).status(f"Probing {label} authentication"):
                result = checks.build_project_status(project, fast=fast)
        else:
            result = checks.build_project_status(project, fast=fast)
        if mode is OutputMode.JSON:
            emit_json(result)
        else:
            render.print_lines(render.project_status_lines(result, g, verbose=verbose), pretty=pretty)
        raise typer.Exit(1 if result["verdict"] == "blocked" else 0)
