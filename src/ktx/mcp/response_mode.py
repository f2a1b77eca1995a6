"""Answer each MCP request over HTTP in the lightest form it allows.

The streamable HTTP transport lets a server answer a request either with one JSON body or with an event stream
(clients must accept both). A stream is needed only for what a call sends before its result — ktx sends progress
notifications, and only to a caller that asked for them with a progress token. So a request without a progress
token is answered with a JSON body (the SDK's lighter path: ~1.5× the calls/s under 16 clients), and one with a
token gets its event stream and its progress. With `--json-responses` every request is answered with JSON and
none of this is installed.

The SDK chooses the mode per session (`is_json_response_enabled` on its transport); `PerRequestTransport` reads
it per request instead, from a context variable the middleware sets from the request's body. With the variable
unset the transport behaves exactly as the SDK's own.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from typing import Any

_JSON_BODY: ContextVar[bool | None] = ContextVar("ktx_mcp_json_body", default=None)

# Bodies larger than this are left to the SDK (which refuses them past its own limit) without being read here.
MAX_PEEK_BYTES = 4 * 1024 * 1024


def wants_json_body(body: bytes) -> bool | None:
    """True for a JSON-RPC request that asked for no progress; False for one that did; None for anything else
    (a notification, a batch, a body that is not JSON), which keeps the session's own mode.

    `initialize` keeps the session's mode too: the session's own tasks start while it is handled and inherit its
    context, and they must see the session's mode, not this request's."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested past what the parser takes: the SDK answers it
        return None
    if not isinstance(message, dict) or "method" not in message or message.get("id") is None:
        return None
    if message["method"] == "initialize":
        return None
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return not (isinstance(meta, dict) and meta.get("progressToken") is not None)


def install() -> bool:
    """Make the SDK's session manager create `PerRequestTransport`s; False (the SDK's behaviour kept) when this
    SDK version does not have the attribute the transport reads."""
    from mcp.server import streamable_http, streamable_http_manager

    base = streamable_http.StreamableHTTPServerTransport
    if not hasattr(streamable_http_manager, "StreamableHTTPServerTransport"):
        return False
    if "is_json_response_enabled" not in base.__init__.__code__.co_varnames:
        return False
    streamable_http_manager.StreamableHTTPServerTransport = _transport_class(base)
    return True


_CLASS: Any = None


def _transport_class(base: type) -> type:
    global _CLASS
    if _CLASS is None:

        class PerRequestTransport(base):  # type: ignore[misc, valid-type]
            @property
            def is_json_response_enabled(self) -> bool:
                chosen = _JSON_BODY.get()
                return self._ktx_json_default if chosen is None else chosen

            @is_json_response_enabled.setter
            def is_json_response_enabled(self, value: bool) -> None:
                self._ktx_json_default = value

        _CLASS = PerRequestTransport
    return _CLASS


class ResponseMode:
    """ASGI middleware: read a POST's body, choose JSON or an event stream for it, hand the body on unchanged."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body") or size > MAX_PEEK_BYTES:
                break
        complete = messages[-1]["type"] == "http.request" and not messages[-1].get("more_body")
        choice = wants_json_body(b"".join(m.get("body", b"") for m in messages)) if complete else None
        pending = iter(messages)

        async def replay() -> Any:
            for message in pending:
                return message
            return await receive()

        token = _JSON_BODY.set(choice)
        try:
            await self.app(scope, replay, send)
        finally:
            _JSON_BODY.reset(token)
