"""Per-invocation CLI state: global options, project opening, the missing-project message."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from ktx.cli.output import OutputMode, emit_json, resolve_output_mode
from ktx.errors import KtxError
from ktx.project.location import ProjectLocation

if TYPE_CHECKING:  # the project model pulls in pydantic; `--help` should not pay for it
    from ktx.project.project import Project
    from ktx.services import Services

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (same as --output json).")]
OutputOption = Annotated[
    str | None,
    typer.Option("--output", "-o", metavar="pretty|plain|json", help="Output mode (default: pretty on a TTY)."),
]


@dataclass
class AppState:
    project_dir_flag: str | None = None
    debug: bool = False

    def location(self) -> ProjectLocation:
        from ktx.project.location import resolve_project_dir

        location = resolve_project_dir(self.project_dir_flag)
        self.trace(f"projectDir={location.root} (from {location.source})")
        return location

    def trace(self, message: str) -> None:
        if self.debug:
            sys.stderr.write(f"[debug] {message}\n")


def app_state(ctx: typer.Context) -> AppState:
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


def output_mode(json_flag: bool, output: str | None) -> OutputMode:
    return resolve_output_mode(json_flag, output)


def open_project(ctx: typer.Context, mode: OutputMode, *, announce: bool = True) -> Project:
    """Open the resolved project or print the missing-project message and exit 1."""
    from ktx.project.project import Project

    state = app_state(ctx)
    location = state.location()
    project = Project(location.root)
    if project.config_path.is_dir():
        raise KtxError(f"{project.config_path} is a directory; ktx.yaml must be a file.")
    if not project.exists():
        print_missing_project(location, mode)
        raise typer.Exit(1)
    if announce and mode is not OutputMode.JSON:
        sys.stderr.write(f"Project: {project.root}\n")
        _warn_connection_typos(project)
    return project


def _warn_connection_typos(project: Project) -> None:
    """A misspelt key in a connection changes what ktx does (a scan scope silently dropped): say so on every
    command, not only in `ktx status --validate`."""
    try:
        issues = project.validation.warnings
    except KtxError:
        return
    for issue in issues:
        if issue.path.startswith("connections."):
            sys.stderr.write(f"Warning: ktx.yaml: {issue.message}\n")


def open_services(ctx: typer.Context, mode: OutputMode, *, announce: bool = True) -> Services:
    """The services of the resolved project for this command, closed (pools and all) when the command ends."""
    from ktx.services import Services

    services = Services(open_project(ctx, mode, announce=announce))
    ctx.call_on_close(services.close)
    return services


def print_missing_project(location: ProjectLocation, mode: OutputMode) -> None:
    if mode is OutputMode.JSON:
        emit_json(
            {
                "error": "missing_project",
                "projectDir": str(location.root),
                "message": f"No ktx.yaml found in {location.root}",
            }
        )
        return
    lines = [
        f"No ktx project here yet. (ktx.yaml not found in {location.root})",
        "Run `ktx setup` to create one, or `ktx admin init <dir>` for an empty project.",
    ]
    if location.source == "env":
        lines.append("KTX_PROJECT_DIR points here; unset it or point it at a directory with ktx.yaml.")
    elif location.source == "flag":
        lines.append("--project-dir points here; pass the directory that contains ktx.yaml.")
    else:
        lines.append("To use a project elsewhere, pass --project-dir <path> or set KTX_PROJECT_DIR.")
    sys.stderr.write("\n".join(lines) + "\n")
