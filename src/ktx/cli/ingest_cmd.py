"""`ktx ingest`: build context from warehouse connections; `--report` prints a stored report again."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer

from ktx.cli.context import JsonOption, OutputOption, open_services, output_mode
from ktx.cli.output import OutputMode, console, emit_json
from ktx.errors import KtxError, UsageError


class _TerminalProgress:
    """One live line on stderr: target n/N, connection, stage, table n/N, elapsed."""

    def __init__(self, live: Any, label: str) -> None:
        self.live, self.label = live, label
        self.started = time.monotonic()
        self.stage_label, self.done, self.total = "Starting", 0, None
        self._render()

    def stage(self, label: str, total: int | None = None) -> None:
        self.stage_label, self.done, self.total = label, 0, total
        self._render()

    def advance(self, amount: int = 1) -> None:
        self.done += amount
        self._render()

    def _render(self) -> None:
        from rich.text import Text

        elapsed = int(time.monotonic() - self.started)
        count = f" {self.done}/{self.total}" if self.total else ""
        self.live.update(Text(f"{self.label} · {self.stage_label}{count} · {elapsed // 60}:{elapsed % 60:02d}"))


class _LineProgress:
    """Without a terminal (CI, a pipe, an agent's shell): a plain line on stderr at each stage and at most every
    few seconds within one, so a long scan is never silent."""

    def __init__(self, label: str, every_s: float = 3.0) -> None:
        self.label, self.every_s = label, every_s
        self.started = self.last = time.monotonic()
        self.stage_label, self.done, self.total = "Starting", 0, None

    def stage(self, label: str, total: int | None = None) -> None:
        self.stage_label, self.done, self.total = label, 0, total
        self._write()

    def advance(self, amount: int = 1) -> None:
        self.done += amount
        if time.monotonic() - self.last >= self.every_s or (self.total and self.done == self.total):
            self._write()

    def _write(self) -> None:
        self.last = time.monotonic()
        elapsed = int(self.last - self.started)
        count = f" {self.done}/{self.total}" if self.total else ""
        sys.stderr.write(f"{self.label} · {self.stage_label}{count} · {elapsed // 60}:{elapsed % 60:02d}\n")
        sys.stderr.flush()


def _print_result(result: Any, mode: OutputMode) -> None:
    from ktx.ingest.report import report_lines

    if result.report:
        lines = report_lines(result.report)
    else:
        lines = [
            f"{result.connection_id} ({result.driver}) · {result.status}"
            + (f": {result.message}" if result.message else "")
        ]
    text = "\n".join(lines)
    if mode is OutputMode.PRETTY:
        console().print(text, markup=False, highlight=False)
    else:
        typer.echo(text)


def fill_report_default(args: list[str]) -> list[str]:
    """`--report` with no value (last, or before another option) means `--report latest`."""
    out = list(args)
    for i, arg in enumerate(out):
        if arg == "--report" and (i + 1 == len(out) or out[i + 1].startswith("-")):
            out.insert(i + 1, "latest")
            break
    return out


def register(app: typer.Typer) -> None:
    @app.command("ingest")
    def ingest(
        ctx: typer.Context,
        connection_id: Annotated[
            str | None, typer.Argument(metavar="[CONNECTION_ID]", help="Connection to ingest (default: all).")
        ] = None,
        all_: Annotated[bool, typer.Option("--all", help="Ingest every connection (the default with no id).")] = False,
        fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop at the first failed connection.")] = False,
        query_history: Annotated[
            bool,
            typer.Option(
                "--query-history",
                help="Also learn from the warehouse's query history (PostgreSQL, BigQuery, Snowflake): usage per "
                "table, joins people run, query-pattern wiki pages.",
            ),
        ] = False,
        window_days: Annotated[
            int | None,
            typer.Option(
                "--query-history-window-days", min=1, metavar="N", help="History window (BigQuery, Snowflake)."
            ),
        ] = None,
        report: Annotated[
            str | None,
            typer.Option(
                "--report",
                metavar="[RUN_ID|latest]",
                help="Print a stored ingest report again (a run id, a unique prefix, or latest) and exit.",
            ),
        ] = None,
        text: Annotated[
            list[str] | None,
            typer.Option("--text", metavar="TEXT", help="Capture this text into memory (repeatable; needs an LLM)."),
        ] = None,
        file: Annotated[
            list[str] | None,
            typer.Option("--file", metavar="PATH|-", help="Capture a file (or stdin, `-`) into memory (repeatable)."),
        ] = None,
        memory_connection: Annotated[
            str | None,
            typer.Option(
                "--connection-id", help="Memory capture may also add measures and segments to this connection."
            ),
        ] = None,
        user_id: Annotated[str, typer.Option("--user-id", help="Who the captured text came from.")] = "local",
        run_evals_after: Annotated[
            bool,
            typer.Option(
                "--eval", help="After the ingest, run the project's eval cases and say which answers changed."
            ),
        ] = False,
        wait: Annotated[
            bool,
            typer.Option(
                "--wait", help="If another ingest is writing to this project, wait for it instead of stopping."
            ),
        ] = False,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Accept every prompt (ingest asks none today).")] = False,
        no_input: Annotated[bool, typer.Option("--no-input", help="Never prompt; fail instead.")] = False,
        plain: Annotated[bool, typer.Option("--plain", help="Plain text (same as --output plain).")] = False,
        json_: JsonOption = False,
        output: OutputOption = None,
    ) -> None:
        """Scan warehouse connections into semantic-layer/<id>/_schema/*.yaml: tables, columns, keys, joins
        (declared and discovered) and descriptions. Works without an LLM; with one, adds AI descriptions and
        relationship proposals (validated against the data). One git commit per connection; an unchanged
        warehouse changes nothing. Exit 1 if any connection failed."""
        if plain and (json_ or output not in (None, "plain")):
            raise UsageError("--plain and --json/--output cannot be combined.")
        mode = output_mode(json_, "plain" if plain else output)
        services = open_services(ctx, mode)
        if report is not None:
            _show_report(services, report, connection_id, mode)
            return
        if text or file:
            if connection_id or all_ or query_history:
                raise UsageError("--text/--file capture memory; pass --connection-id instead of a connection or --all.")
            _capture_memory(services, text or [], file or [], memory_connection, user_id, fail_fast, mode)
            return
        if memory_connection:
            raise UsageError(
                "--connection-id goes with --text/--file; to ingest a connection, name it: ktx ingest <id>."
            )
        from ktx.ingest.run import run_ingest

        live = None
        interactive = mode is OutputMode.PRETTY and sys.stderr.isatty()
        if interactive:
            from rich.console import Console
            from rich.live import Live

            live = Live(console=Console(stderr=True), transient=True, refresh_per_second=8)
            live.start()

        def progress_for(target: Any, index: int, total: int) -> Any:
            from ktx.ingest.report import NoProgress

            if live is None:
                if mode is OutputMode.JSON:
                    return NoProgress()
                sys.stderr.write(f"Ingesting {target.connection_id} ({target.driver}) [{index}/{total}]\n")
                return _LineProgress(f"{target.connection_id}")
            prefix = f"[{index}/{total}] " if total > 1 else ""
            return _TerminalProgress(live, f"{prefix}{target.connection_id} ({target.driver})")

        try:
            outcome = run_ingest(
                services,
                connection_id,
                all_=all_,
                fail_fast=fail_fast,
                progress_for=progress_for,
                query_history=query_history,
                window_days=window_days,
                wait=wait,
                on_wait=lambda message: sys.stderr.write(message + "\n"),
            )
        finally:
            if live is not None:
                live.stop()
        del yes, no_input  # accepted for scripts: ingest asks no questions
        if mode is OutputMode.JSON:
            emit_json(outcome.to_json())
        else:
            for result in outcome.results:
                _print_result(result, mode)
            counts: dict[str, int] = {}
            for result in outcome.results:
                counts[result.status] = counts.get(result.status, 0) + 1
            if len(outcome.results) > 1:
                summary = ", ".join(f"{n} {status}" for status, n in counts.items())
                typer.echo(f"{len(outcome.results)} connections: {summary}")
            if not outcome.failed and any(r.status == "done" for r in outcome.results):
                typer.echo("Next: `ktx sl` to see the sources, `ktx sl query` to ask a question.", err=True)
        if run_evals_after and not outcome.failed:
            _evals_after_ingest(services, mode)
        if outcome.failed:
            raise typer.Exit(1)


def _evals_after_ingest(services: Any, mode: OutputMode) -> None:
    """`ktx ingest --eval`: the project's cases against what the ingest just committed, and what changed."""
    from ktx.evals.run import changed_answers, read_last_run, run_evals, save_last_run

    before = read_last_run(services.project.root)
    run = run_evals(services)
    save_last_run(services.project.root, run)
    changed = changed_answers(before, run)
    summary = run.summary()
    stream = sys.stderr if mode is OutputMode.JSON else sys.stdout
    stream.write(f"Evals: {summary['passed']}/{summary['total']} passed after the ingest\n")
    for line in changed:
        stream.write(f"  changed: {line}\n")
    for result in run.results:
        if result.status != "pass":
            stream.write(f"  {result.status}: {result.id}{': ' + result.message if result.message else ''}\n")
    if run.failed:
        raise typer.Exit(1)


def _memory_items(texts: list[str], files: list[str]) -> list[Any]:
    from pathlib import Path

    from ktx.memory.capture import MemoryItem

    items: list[MemoryItem] = []
    labels: dict[str, int] = {}

    def label(base: str) -> str:
        labels[base] = labels.get(base, 0) + 1
        return base if labels[base] == 1 else f"{base} ({labels[base]})"

    for value in texts:
        preview = " ".join(value.split())
        items.append(MemoryItem(label(f'"{preview[:47] + "..." if len(preview) > 50 else preview}"'), value))
    for name in files:
        if name == "-":
            items.append(MemoryItem(label("stdin"), sys.stdin.read()))
            continue
        path = Path(name)
        try:
            content = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--file {name}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
        items.append(MemoryItem(label(path.name), content))
    empty = [i.label for i in items if not i.content.strip()]
    if empty:
        raise UsageError(f"Nothing to capture in {', '.join(empty)} (empty).")
    return items


def _capture_memory(
    services: Any,
    texts: list[str],
    files: list[str],
    connection_id: str | None,
    user_id: str,
    fail_fast: bool,
    mode: OutputMode,
) -> None:
    from ktx.memory.capture import capture, require_llm

    items = _memory_items(texts, files)
    require_llm(services)
    if mode is not OutputMode.JSON:
        sys.stderr.write(f"Capturing {len(items)} item{'s' if len(items) != 1 else ''} into memory (user {user_id})\n")
    results = capture(services, items, connection_id=connection_id, fail_fast=fail_fast)
    failed = [r for r in results if r.status != "done"]
    if mode is OutputMode.JSON:
        emit_json(
            {
                "status": "failed" if failed else "done",
                "projectDir": str(services.project.root),
                "connectionId": connection_id,
                "userId": user_id,
                "results": [r.to_json() for r in results],
            }
        )
    else:
        for r in results:
            counts = ", ".join(f"{k}={len(v)}" for k, v in r.captured.items())
            line = f"{r.label}: {r.status} · {counts}" + (f" · commit {r.commit[:12]}" if r.commit else "")
            typer.echo(line)
            for conflict in r.conflicts:
                typer.echo(f"  conflict {conflict}: the reviewed definition was kept (see `ktx status`)")
            for reverted in r.reverted:
                typer.echo(f"  reverted {reverted}")
        if failed:
            typer.echo("Failed text items:")
            for r in failed:
                typer.echo(f"  {r.label}: {r.error}")
            typer.echo("Nothing was written for them; retry the same --text/--file once the cause is fixed.")
    if failed:
        raise typer.Exit(1)


def _show_report(services: Any, run_id: str, connection_id: str | None, mode: OutputMode) -> None:
    from ktx.ingest.report import report_lines
    from ktx.ingest.state import IngestState

    state = IngestState(services.project.state)
    stored = state.report(run_id, connection_id)
    if stored is None:
        recent = ", ".join(r for r, _, _ in state.report_ids(5)) or "none yet"
        raise KtxError(f"No ingest report {run_id!r}.", hint=f"Recent runs: {recent}.")
    if mode is OutputMode.JSON:
        emit_json(stored)
    else:
        typer.echo("\n".join(report_lines(stored)))
