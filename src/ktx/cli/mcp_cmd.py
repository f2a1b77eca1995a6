"""`ktx mcp`: serve the project's tools to agents over stdio or HTTP, and manage the HTTP daemon."""

from __future__ import annotations

import os
import sys
import time
from typing import Annotated

import typer

from ktx.cli.context import JsonOption, OutputOption, app_state, open_project, open_services, output_mode
from ktx.cli.output import OutputMode, emit_json

HostOption = Annotated[str, typer.Option("--host", help="Interface to bind (a non-loopback host needs a token).")]
PortOption = Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")]
AllowedHostOption = Annotated[
    list[str] | None,
    typer.Option("--allowed-host", metavar="HOST", help="Also accept this Host header (repeatable)."),
]
AllowedOriginOption = Annotated[
    list[str] | None,
    typer.Option("--allowed-origin", metavar="ORIGIN", help="Accept browser requests from this origin (repeatable)."),
]
JsonResponsesOption = Annotated[
    bool,
    typer.Option(
        "--json-responses",
        help="Answer every request with one JSON body, even a call that asked for progress (its progress "
        "notifications are not sent). Without it, only calls with a progress token get an event stream.",
    ),
]


def register(app: typer.Typer) -> None:
    mcp = typer.Typer(
        suggest_commands=False,
        name="mcp",
        help="Serve ktx tools to agents over MCP (stdio, or an HTTP daemon at http://127.0.0.1:7878/mcp).",
        invoke_without_command=True,
        no_args_is_help=False,
    )
    app.add_typer(mcp)

    @mcp.callback()
    def default(ctx: typer.Context) -> None:
        """With no subcommand: the daemon's status."""
        if ctx.invoked_subcommand is None:
            _print_status(ctx, OutputMode.PRETTY if sys.stdout.isatty() else OutputMode.PLAIN)

    @mcp.command("stdio")
    def stdio(ctx: typer.Context) -> None:
        """Serve over stdin/stdout (for clients that launch ktx themselves, e.g. Claude Desktop). Logs go to
        stderr; stdout carries only JSON-RPC."""
        from ktx.mcp.stdio_fast import ProjectServer, run_stdio

        root = app_state(ctx).location().root
        if not (root / "ktx.yaml").is_file():
            # Plain, not JSON: in stdio mode stdout carries only JSON-RPC, so a missing project is said on stderr.
            open_services(ctx, OutputMode.PLAIN, announce=False)
        load_server = ProjectServer(root)
        try:
            run_stdio(root, load_server)
        except Exception as exc:
            message = getattr(exc, "message", None) or str(exc)
            sys.stderr.write(f"ktx MCP stdio transport error: {message}\n")
            raise typer.Exit(1) from None
        finally:
            load_server.close()

    @mcp.command("start")
    def start(
        ctx: typer.Context,
        host: HostOption = "127.0.0.1",
        port: PortOption = 7878,
        token: Annotated[
            str | None,
            typer.Option("--token", help="Require `Authorization: Bearer <token>` (default: $KTX_MCP_TOKEN)."),
        ] = None,
        foreground: Annotated[
            bool, typer.Option("--foreground", help="Run in this terminal instead of detached.")
        ] = False,
        allowed_host: AllowedHostOption = None,
        allowed_origin: AllowedOriginOption = None,
        json_responses: JsonResponsesOption = False,
        json_: JsonOption = False,
        output: OutputOption = None,
    ) -> None:
        """Start the HTTP MCP server (detached by default; `ktx mcp stop` ends it)."""
        from ktx.mcp.http import HttpSettings

        mode = output_mode(json_, output)
        settings = HttpSettings(
            host,
            port,
            token or os.environ.get("KTX_MCP_TOKEN") or None,
            allowed_host or [],
            allowed_origin or [],
            json_responses,
        )
        settings.validate()
        if foreground:
            from ktx.mcp.http import serve_http

            services = open_services(ctx, mode)
            serve_http(
                services,
                settings,
                on_ready=lambda: sys.stderr.write(f"ktx MCP server listening at {settings.url}\n"),
            )
            return
        from ktx.mcp.daemon import start_daemon

        project = open_project(ctx, mode)
        outcome = start_daemon(project.root, settings)
        if mode is OutputMode.JSON:
            emit_json(
                {"status": outcome.status, "url": outcome.url, "pid": outcome.pid, "tokenAuth": bool(settings.token)}
            )
            return
        verb = "started" if outcome.status == "started" else "already running"
        typer.echo(f"ktx MCP daemon {verb}: {outcome.url}")
        typer.echo("")
        typer.echo("ktx is ready for configured agents.")
        typer.echo('Try asking your agent: "Use ktx to show me the available tables and metrics."')

    @mcp.command("serve-internal", hidden=True)
    def serve_internal(
        ctx: typer.Context,
        port: Annotated[int, typer.Option("--port", min=1, max=65535)],
        host: HostOption = "127.0.0.1",
        allowed_host: AllowedHostOption = None,
        allowed_origin: AllowedOriginOption = None,
        json_responses: JsonResponsesOption = False,
    ) -> None:
        """The daemon's process (the token comes only from KTX_MCP_TOKEN)."""
        from ktx.mcp.http import HttpSettings, serve_http

        settings = HttpSettings(
            host,
            port,
            os.environ.get("KTX_MCP_TOKEN") or None,
            allowed_host or [],
            allowed_origin or [],
            json_responses,
        )
        services = open_services(ctx, OutputMode.PLAIN, announce=False)
        serve_http(
            services,
            settings,
            on_ready=lambda: sys.stderr.write(
                f"{time.strftime('%Y-%m-%dT%H:%M:%S')} ktx MCP server listening at {settings.url}\n"
            ),
        )

    @mcp.command("stop")
    def stop(ctx: typer.Context, json_: JsonOption = False, output: OutputOption = None) -> None:
        """Stop the HTTP daemon (SIGTERM, then SIGKILL after 10 s)."""
        from ktx.mcp.daemon import stop_daemon

        mode = output_mode(json_, output)
        project = open_project(ctx, mode)
        outcome = stop_daemon(project.root)
        if mode is OutputMode.JSON:
            emit_json({"stopped": outcome == "stopped", "outcome": outcome})
            return
        typer.echo(
            {
                "stopped": "ktx MCP daemon stopped.",
                "not-running": "ktx MCP daemon is not running.",
                "not-ours": "ktx MCP daemon is not running; the state file named a process that is not this "
                "project's daemon (left alone) and was removed.",
            }[outcome]
        )

    @mcp.command("status")
    def status(ctx: typer.Context, json_: JsonOption = False, output: OutputOption = None) -> None:
        """Whether the HTTP daemon is running, stale or stopped (exit 0 in every state)."""
        _print_status(ctx, output_mode(json_, output))

    @mcp.command("logs")
    def logs(
        ctx: typer.Context,
        follow: Annotated[
            bool, typer.Option("--follow", "-f", help="Keep printing new lines (Ctrl+C to stop).")
        ] = False,
    ) -> None:
        """Print the daemon's log (.ktx/logs/mcp.log)."""
        from ktx.mcp.daemon import read_logs

        project = open_project(ctx, OutputMode.PLAIN)
        path = read_logs(project.root)
        with open(path, encoding="utf-8", errors="replace") as handle:
            sys.stdout.write(handle.read())
            sys.stdout.flush()
            while follow:
                line = handle.readline()
                if line:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                else:
                    time.sleep(0.2)


def _print_status(ctx: typer.Context, mode: OutputMode) -> None:
    from ktx.mcp.daemon import daemon_status

    project = open_project(ctx, mode)
    status = daemon_status(project.root)
    if mode is OutputMode.JSON:
        emit_json(status.to_json())
        return
    typer.echo(status.detail)
    if status.state == "running" and status.record:
        typer.echo(f"URL: {status.url}")
        typer.echo(f"PID: {status.record.get('pid')}")
        typer.echo(f"Token auth: {'enabled' if status.record.get('tokenAuth') else 'disabled'}")
        typer.echo(f"Project: {project.root}")
    elif status.state == "stale":
        typer.echo("Run `ktx mcp stop` to clear the state, then `ktx mcp start`.")
    else:
        typer.echo("Start it with `ktx mcp start`.")
