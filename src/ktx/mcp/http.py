"""`ktx mcp` over streamable HTTP: stateful MCP sessions at `/mcp`, `GET /health`, behind the Host/Origin/token
guard, served by uvicorn. One services object (pools, index readers, compiled layers) lives as long as the server.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ktx.errors import KtxError
from ktx.httpguard import LOOPBACK_HOSTS, HttpGuard, normalize_host, normalize_origin

if TYPE_CHECKING:
    from ktx.services import Services

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7878
MCP_PATH = "/mcp"


@dataclass
class HttpSettings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None
    allowed_hosts: list[str] = field(default_factory=list)
    allowed_origins: list[str] = field(default_factory=list)
    # One JSON body for every request, even one that asked for progress (no progress notifications are sent).
    # Without it, a request is answered with JSON unless it carries a progress token (see mcp/response_mode.py).
    json_responses: bool = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{MCP_PATH}"

    def validate(self) -> None:
        """Refuse settings that would expose the project: a non-loopback bind needs a token."""
        if not is_loopback(self.host) and not self.token:
            raise KtxError(
                f"Binding ktx MCP to {self.host} requires --token or KTX_MCP_TOKEN",
                hint="Pass --token <secret> (or set KTX_MCP_TOKEN), or bind to 127.0.0.1.",
            )
        if not is_loopback(self.host) and self.token and not strong_token(self.token):
            raise KtxError(
                f"The token for binding ktx MCP to {self.host} is too weak: use at least 32 characters that look "
                "random (not one repeated character, not whitespace).",
                hint='Generate one: python -c "import secrets; print(secrets.token_urlsafe(32))"',
            )
        if not 0 < self.port < 65536:
            raise KtxError(f"--port must be between 1 and 65535, got {self.port}")
        for origin in self.allowed_origins:
            try:
                normalize_origin(origin)
            except ValueError as exc:
                raise KtxError(str(exc)) from None

    def guard_origins(self) -> list[str]:
        """The configured origins plus this server's own loopback origins (a page served by this very port
        cannot be a rebinding attack); any other origin must be configured exactly."""
        own = [f"http://{h}:{self.port}" for h in ("127.0.0.1", "localhost", "[::1]")]
        return [*own, *self.allowed_origins]

    def guard_hosts(self) -> list[str]:
        extra = [] if is_loopback(self.host) else [self.host]
        return [*extra, *self.allowed_hosts]


def is_loopback(host: str) -> bool:
    return normalize_host(host) in LOOPBACK_HOSTS


def build_app(services: Services, settings: HttpSettings) -> Any:
    """The guarded ASGI app: `/mcp` (MCP sessions) and `/health`."""
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from ktx.mcp.response_mode import ResponseMode, install
    from ktx.mcp.server import project_server

    async def health(_request: Request) -> JSONResponse:
        # Who this daemon is: a state file copied with a project (cp -a) names a pid and port of another project's
        # daemon, and `ktx mcp status|stop` and agent setup compare these with their own project before trusting it.
        return JSONResponse(
            {"status": "ok", "projectDir": str(services.project.root), "port": settings.port, "pid": os.getpid()}
        )

    per_request = not settings.json_responses and install()
    app = project_server(services).streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=False,
        json_response=settings.json_responses,
        # The guard in front checks Host and Origin with ktx's own rules and messages.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        host=settings.host,
        custom_starlette_routes=[Route("/health", health, methods=["GET"])],
    )
    if per_request:
        app = ResponseMode(app)
    return HttpGuard(
        app,
        token=settings.token,
        allowed_hosts=settings.guard_hosts(),
        allowed_origins=settings.guard_origins(),
        protected_paths=(MCP_PATH,),
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind now, so a taken port is reported before anything else happens."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: a streamed (SSE) answer is several small writes, and Nagle's algorithm
    # would hold each one back until the client's delayed ACK (~40 ms per call).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise KtxError(f"Port {port} is already in use. Choose another port with --port <n>.") from None
        raise KtxError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def serve_http(services: Services, settings: HttpSettings, *, on_ready: Any = None) -> None:
    """Run until SIGINT/SIGTERM."""
    import threading

    import uvicorn

    from ktx.mcp.catalog import warm_catalogue

    settings.validate()
    sock = bind_socket(settings.host, settings.port)
    app = build_app(services, settings)
    # uvicorn picks uvloop and httptools when installed (they are dependencies where they build): ~1.3× the calls
    # per second of asyncio and h11 under 16 clients.
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    original = server.startup

    async def startup(sockets: Any = None) -> None:
        _declare_asyncio()
        await original(sockets=sockets)
        if server.started:
            threading.Thread(target=warm_catalogue, args=(services,), name="ktx-mcp-warm", daemon=True).start()
            if on_ready is not None:
                on_ready()

    server.startup = startup  # type: ignore[method-assign]
    # Tool calls run in worker threads beside the event loop: the interpreter's default 5 ms between thread
    # switches lets one call's Python work hold up every other request's parsing and answer (the p95 under 16
    # clients: ~80 → ~60 ms at 1 ms, before the local-tool pool).
    sys.setswitchinterval(0.001)
    server.run(sockets=[sock])


def _declare_asyncio() -> None:
    """Tell sniffio which library runs this thread: anyio asks it at every checkpoint of the SDK's streams, and
    without the answer it sniffs with `asyncio.current_task()` — ~10 % of the daemon's interpreter time under 16
    clients. The thread runs nothing but this event loop."""
    try:
        import sniffio
    except ImportError:  # anyio then checks for a running loop itself, which is cheap
        return
    sniffio.thread_local.name = "asyncio"


def strong_token(token: str) -> bool:
    """At least 32 characters, no whitespace, and varied enough to be random (not `aaaa…`, not `abab…`)."""
    return len(token) >= 32 and not any(c.isspace() for c in token) and len(set(token)) >= 12
