"""Setup step: build context for the database connections just set up (`ktx ingest` on each), or leave it."""

from __future__ import annotations

from ktx.project.project import Project
from ktx.setup.options import SetupOptions
from ktx.setup.ui import SetupUI


def run_context_step(project: Project, options: SetupOptions, ui: SetupUI, connection_ids: list[str]) -> str:
    """`built`, `skipped` (nothing to build, or left unbuilt) or `failed` (a connection could not be ingested)."""
    ui.step("Context")
    if not connection_ids:
        ui.line("No new database connection: nothing to build (run `ktx ingest` any time).")
        return "skipped"
    if options.skip_context:
        ui.line(f"Context left unbuilt; run `ktx ingest {' '.join(connection_ids)}` when ready.")
        return "skipped"
    if ui.interactive:
        choice = ui.select(
            "Build context now?",
            [("build", "Build context now (recommended)"), ("skip", "Leave context unbuilt")],
            "Missing context choice: pass --skip-context to leave it unbuilt.",
        )
        if choice == "skip":
            ui.line(f"Context left unbuilt; run `ktx ingest {' '.join(connection_ids)}` when ready.")
            return "skipped"
    from ktx.ingest.report import report_lines
    from ktx.ingest.run import run_ingest
    from ktx.services import Services

    fresh = Project(project.root)  # the config written by this setup run
    ok = True
    with Services(fresh) as services:
        for connection_id in connection_ids:
            with ui.spinner(f"Ingesting {connection_id}."):
                outcome = run_ingest(services, connection_id)
            for result in outcome.results:
                for line in (
                    report_lines(result.report) if result.report else [f"{result.connection_id}: {result.message}"]
                ):
                    ui.line(line)
                if result.failed:
                    ok = False
                    ui.warn(
                        f"Context build failed for {result.connection_id}; fix it and run `ktx ingest {result.connection_id}`."
                    )
    return "built" if ok else "failed"
