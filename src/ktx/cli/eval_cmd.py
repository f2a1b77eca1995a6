"""`ktx eval [PATH…]`: run the project's eval cases (`evals/*.yaml`); `ktx eval init` drafts some."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ktx.cli.context import JsonOption, OutputOption, open_services, output_mode
from ktx.cli.output import OutputMode, emit_json
from ktx.errors import UsageError


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_(
        ctx: typer.Context,
        paths: Annotated[
            list[str] | None,
            typer.Argument(metavar="[PATH]...", help="Case files or folders (default: evals/*.yaml); `init` drafts."),
        ] = None,
        case: Annotated[
            list[str] | None, typer.Option("--case", metavar="ID", help="Only this case (repeatable).")
        ] = None,
        tag: Annotated[list[str] | None, typer.Option("--tag", metavar="T", help="Only cases with this tag.")] = None,
        connection_id: Annotated[
            str | None, typer.Option("--connection-id", help="Run every case on this connection.")
        ] = None,
        agent: Annotated[
            bool, typer.Option("--agent", help="Ask an agent each case's question (needs an LLM backend).")
        ] = False,
        repeat: Annotated[int, typer.Option("--repeat", min=1, max=20, help="With --agent: runs per case.")] = 1,
        junit: Annotated[str | None, typer.Option("--junit", metavar="FILE", help="Also write a JUnit report.")] = None,
        force: Annotated[bool, typer.Option("--force", help="With `init`: replace evals/examples.yaml.")] = False,
        json_: JsonOption = False,
        output: OutputOption = None,
    ) -> None:
        """Run questions with known answers against the context, read-only and bounded: pass, fail (with the first
        differing rows) or error per case, then a summary. Exit 1 if any case did not pass. No LLM needed; --agent
        asks an agent instead.

        Examples: ktx eval · ktx eval --tag finance --junit eval.xml · ktx eval --agent --repeat 3 · ktx eval init
        """
        mode = output_mode(json_, output)
        services = open_services(ctx, mode)
        if paths == ["init"]:
            _init(services, force, mode)
            return
        if repeat != 1 and not agent:
            raise UsageError("--repeat goes with --agent.")
        from ktx.evals.run import changed_answers, read_last_run, run_evals, save_last_run

        def progress(index: int, total: int, case_id: str) -> None:
            if mode is not OutputMode.JSON:
                sys.stderr.write(f"[{index}/{total}] {case_id}\n")
                sys.stderr.flush()

        before = read_last_run(services.project.root)
        if agent:
            from ktx.evals.agent import run_agent_evals

            run = run_agent_evals(
                services, paths, case_ids=case, tags=tag, connection_id=connection_id, repeat=repeat, progress=progress
            )
        else:
            run = run_evals(services, paths, case_ids=case, tags=tag, connection_id=connection_id, progress=progress)
        if run.results or run.problems:
            save_last_run(services.project.root, run)
        if junit:
            from ktx.evals.run import junit_xml
            from ktx.project.files import atomic_write

            atomic_write(Path(junit), junit_xml(run))
        changed = changed_answers(before, run)
        if mode is OutputMode.JSON:
            emit_json({**run.to_json(), "changedSinceLastRun": changed})
        else:
            _print(run, changed)
        if not run.results and not run.problems:
            sys.stderr.write("No eval cases found (evals/*.yaml). Draft some: ktx eval init\n")
        if run.failed:
            raise typer.Exit(1)


def _print(run: Any, changed: list[str]) -> None:
    for problem in run.problems:
        typer.echo(f"error  {problem}")
    for r in run.results:
        extra = ""
        if r.agent:
            extra = (
                f"  · {r.agent['toolCalls']} tool calls, {r.agent['inputTokens']} in / {r.agent['outputTokens']} out"
                f" tokens, {r.agent['cacheReadTokens']} cache reads, pass rate {r.agent['passRate']:.0%}"
            )
        review = "  (review: expected is a draft)" if r.review else ""
        typer.echo(f"{r.status:<5}  {r.id}  {r.duration_ms:.0f} ms{extra}{review}")
        if r.message:
            typer.echo(f"       {r.message}")
        for diff in r.diffs:
            typer.echo(f"       {diff}")
    s = run.summary()
    accuracy = f"{s['accuracy']:.0%}" if s["accuracy"] is not None else "-"
    typer.echo(f"{s['passed']}/{s['total']} passed · accuracy {accuracy} · {s['durationMs'] / 1000:.1f} s")
    for line in changed:
        typer.echo(f"changed since the last run: {line}")


def _init(services: Any, force: bool, mode: OutputMode) -> None:
    from ktx.evals.draft import write_examples

    path, count = write_examples(services, force=force)
    if mode is OutputMode.JSON:
        emit_json({"path": str(path), "cases": count})
        return
    typer.echo(f"Wrote {count} draft cases to {path.relative_to(services.project.root)} (each marked review: true).")
    typer.echo("Check each expected.sql, remove `review: true`, then run: ktx eval")
