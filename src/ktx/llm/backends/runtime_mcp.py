"""A per-run loopback MCP server (streamable HTTP on 127.0.0.1, random port, `/mcp`) exposing
exactly one run's tools, guarded by a fresh bearer token and Host checks.

Used by the codex backend: Codex connects to it as an MCP server and finds the token in its own
environment, so the token never reaches this process's environment or any command line.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

from ktx.httpguard import HttpGuard
from ktx.llm.port import LlmError
from ktx.tools import Tool

SERVER_NAME = "ktx-runtime"
PATH = "/mcp"


def _build_server(tools: Sequence[Tool]) -> Any:
    import anyio
    from mcp import types
    from mcp.server.lowlevel import Server

    by_name = {t.name: t for t in tools}
    listed = [types.Tool(name=t.name, description=t.description, inputSchema=t.input_schema()) for t in tools]

    async def list_tools(_ctx: Any, _params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listed)

    async def call_tool(_ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        tool = by_name.get(params.name)
        if tool is None:
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=f"Unknown tool: {params.name}")], isError=True
            )
        try:
            output = await anyio.to_thread.run_sync(tool.call, dict(params.arguments or {}))
        except Exception as exc:  # the model sees tool failures as error results
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=f"Tool {tool.name} failed: {message}")], isError=True
            )
        structured = output.structured if isinstance(output.structured, dict) else None
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=output.markdown)], structuredContent=structured
        )

    return Server(SERVER_NAME, version="0.0.0", on_list_tools=list_tools, on_call_tool=call_tool)


class RuntimeMcpServer:
    """Start with `with RuntimeMcpServer(tools) as server:`; `server.url`, `server.token`."""

    def __init__(self, tools: Sequence[Tool]) -> None:
        self.tools = list(tools)
        self.token = secrets.token_hex(32)
        self.url = ""
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> RuntimeMcpServer:
        import uvicorn
        from mcp.server.transport_security import TransportSecuritySettings

        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=["127.0.0.1:*", "localhost:*"],
            allowed_origins=[],
        )
        app = _build_server(self.tools).streamable_http_app(
            streamable_http_path=PATH, stateless_http=True, json_response=True, transport_security=security
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        guarded = HttpGuard(app, token=self.token, protected_paths=(PATH,))
        config = uvicorn.Config(guarded, log_level="error", lifespan="on", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.__exit__()
                raise LlmError("The ktx runtime MCP server did not start")
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{port}{PATH}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
