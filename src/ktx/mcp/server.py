"""The ktx MCP server: the tool catalogue over one long-lived services object, on the official `mcp` SDK.

Tool errors never escape as protocol errors: bad arguments and failed calls come back in-band (`isError`, one
line per problem) so the agent can correct itself. Successful calls return the structured result and the same
JSON, compact, as text for clients that ignore `structuredContent`.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import sys
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ktx import __version__
from ktx.errors import KtxError
from ktx.tools import Tool, progress_sink

if TYPE_CHECKING:
    from ktx.services import Services

SERVER_NAME = "ktx"
INSTRUCTIONS = (
    "ktx serves this project's data context: call discover_data first, inspect hits with wiki_read, "
    "sl_read_source or entity_details, then answer with sl_query (preferred) or sql_execution."
)


def validation_lines(exc: ValidationError, model: Any = None) -> str:
    """`<dotted.path or <root>>: <message>`, one per problem; an unknown key names the keys it may have meant."""
    lines = []
    known = _field_names(model) if model is not None else set()
    for error in exc.errors():
        path = ".".join(str(p) for p in error.get("loc", ())) or "<root>"
        if error.get("type") == "extra_forbidden":
            key = str(error["loc"][-1]) if error.get("loc") else path
            close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
            hint = f" — did you mean '{close[0]}'?" if close else ""
            lines.append(f"{path}: unknown key '{key}'{hint}")
            continue
        lines.append(f"{path}: {error.get('msg', 'invalid')}")
    return "\n".join(dict.fromkeys(lines))


def _field_names(model: Any, seen: set[Any] | None = None) -> set[str]:
    """Every field name of a pydantic model and the models nested in it (for did-you-mean)."""
    import typing

    seen = seen if seen is not None else set()
    if model in seen or not hasattr(model, "model_fields"):
        return set()
    seen.add(model)
    names = set(model.model_fields)
    for info in model.model_fields.values():
        stack = [info.annotation]
        while stack:
            kind = stack.pop()
            if hasattr(kind, "model_fields"):
                names |= _field_names(kind, seen)
            stack += list(typing.get_args(kind))
    return names


def error_text(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return validation_lines(exc)
    if isinstance(exc, KtxError):
        return exc.message + (f"\n{exc.hint}" if getattr(exc, "hint", None) else "")
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _listed(tool: Tool) -> Any:
    from mcp import types

    hints = tool.annotations
    return types.Tool(
        name=tool.name,
        title=tool.title,
        description=tool.description,
        inputSchema=tool.input_schema(),
        outputSchema=tool.output_schema(),
        annotations=types.ToolAnnotations(
            title=tool.title,
            readOnlyHint=hints.get("readOnlyHint", False),
            destructiveHint=hints.get("destructiveHint", False),
            idempotentHint=hints.get("idempotentHint", False),
            openWorldHint=hints.get("openWorldHint", False),
        ),
        execution=types.ToolExecution(taskSupport="forbidden"),
    )


def _error(text: str) -> Any:
    from mcp import types

    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], isError=True)


# Threads for the calls of local tools (Tool.local). Their work is Python holding the interpreter lock: more threads
# add no speed, only contention with each other and with the event loop answering other requests (16 clients of
# wiki_search: p95 ~60 ms with anyio's 40 threads, ~47 ms with two; benchmarks/mcp_serving.py).
LOCAL_THREADS = 2


def build_server(tools: Sequence[Tool], *, log: Any = None, before_call: Callable[[], Any] | None = None) -> Any:
    """A low-level MCP server that lists and calls `tools` (handlers run in worker threads, each after
    `before_call`)."""
    import anyio
    import anyio.lowlevel
    from mcp import types
    from mcp.server.lowlevel import Server

    by_name = {t.name: t for t in tools}
    listed = [_listed(t) for t in tools]
    log = log or sys.stderr
    # One pool of LOCAL_THREADS per event loop for the tools that only compute (a limiter belongs to its loop).
    local_pools: weakref.WeakKeyDictionary[Any, anyio.CapacityLimiter] = weakref.WeakKeyDictionary()

    def pool(tool: Tool) -> anyio.CapacityLimiter | None:
        if not tool.local:
            return None  # anyio's shared pool: a call waiting on a warehouse or a model holds no one else up
        loop = anyio.lowlevel.current_token().native_token  # the event loop itself (a token is made per call)
        limiter = local_pools.get(loop)
        if limiter is None:
            limiter = local_pools[loop] = anyio.CapacityLimiter(LOCAL_THREADS)
        return limiter

    async def list_tools(_ctx: Any, _params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listed)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        tool = by_name.get(params.name)
        if tool is None:
            return _error(f"Unknown tool: {params.name}. Available tools: {', '.join(by_name)}.")
        try:
            parsed = tool.input_model.model_validate(dict(params.arguments or {}))
        except ValidationError as exc:
            return _error(validation_lines(exc, tool.input_model))

        def report(fraction: float, message: str) -> None:
            with contextlib.suppress(Exception):  # a client that went away must not fail the call
                anyio.from_thread.run(ctx.session.report_progress, fraction, 1.0, message)

        # Progress goes out only to a caller that asked for it (a progress token); otherwise reporting costs
        # nothing, not a hop to the event loop per report.
        wants_progress = (params.meta or {}).get("progress_token") is not None

        def run() -> Any:
            progress_sink(report if wants_progress else None)
            if before_call is not None:
                before_call()
            return tool.handler(parsed)

        try:
            value = await anyio.to_thread.run_sync(run, limiter=pool(tool))
        except Exception as exc:
            if not isinstance(exc, KtxError | ValidationError):
                log.write(f"ktx MCP tool {tool.name} failed: {error_text(exc)}\n")
            return _error(error_text(exc))
        structured = value if isinstance(value, dict) else {"result": value}
        text = json.dumps(structured, ensure_ascii=False, separators=(",", ":"), default=str)
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)], structuredContent=structured)

    server = Server(
        SERVER_NAME,
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
    # The SDK's default OpenTelemetry middleware is a no-op without an exporter but costs ~10% of a call.
    server.middleware = []
    return server


def project_server(services: Services) -> Any:
    from ktx.mcp.catalog import build_catalogue

    return build_server(build_catalogue(services), before_call=services.refresh)
