"""The HTTP guard in front of every ktx MCP endpoint (the per-run runtime server and `ktx mcp`).

An ASGI middleware: the Host header must be on the allow-list (loopback always), an Origin header — when
present — must equal a configured origin exactly, and a protected path needs `Authorization: Bearer <token>`
when a token is configured. Refusals are plain text with the status codes agents' clients expect (403, 401).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
HOST_REFUSED = "Host header is not allowed for ktx MCP."
ORIGIN_REFUSED = "Origin header is not allowed for ktx MCP."
TOKEN_REFUSED = "Missing or invalid ktx MCP bearer token."


_BRACKETED = re.compile(r"^\[([0-9a-f:.]+)\](?::\d{1,5})?$")
INVALID_HOST = "\0invalid"  # never on an allow-list


def normalize_host(value: str) -> str:
    """Trimmed, lower-case, `[v6]` brackets removed, `:port` removed when the value has exactly one colon.
    A bracketed host must be exactly `[v6]` or `[v6]:port` (`[::1]evil.com` and `[::1` are not hosts)."""
    host = value.strip().lower()
    if host.startswith("["):
        match = _BRACKETED.match(host)
        return match.group(1) if match else INVALID_HOST
    if host.count(":") == 1:
        host, _, port = host.partition(":")
        if port and not port.isdigit():
            return INVALID_HOST
    return host


def normalize_origin(value: str) -> str:
    """`scheme://host[:port]`; anything with a path, query or fragment is refused."""
    parts = urlsplit(value.strip())
    if not parts.scheme or not parts.netloc or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"Allowed origin must be a full origin URL: {value}")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


class HttpGuard:
    def __init__(
        self,
        app: Any,
        *,
        token: str | None = None,
        allowed_hosts: Iterable[str] = (),
        allowed_origins: Iterable[str] = (),
        protected_paths: tuple[str, ...] = ("/mcp",),
    ) -> None:
        self.app = app
        self.token = token
        self.hosts = {normalize_host(h) for h in (*LOOPBACK_HOSTS, *allowed_hosts)}
        self.origins = {normalize_origin(o) for o in allowed_origins}
        self.protected_paths = protected_paths

    def refusal(self, scope: dict[str, Any]) -> tuple[int, str] | None:
        """(status, message) when the request must be refused, else None."""
        raw: dict[str, list[bytes]] = {}
        for key, value in scope.get("headers", []):
            raw.setdefault(key.decode("latin-1").lower(), []).append(value)
        for name in ("host", "authorization", "origin"):
            if len(raw.get(name, [])) > 1:  # which one would win depends on the parser: refuse instead
                return 400, f"More than one {name.title()} header."
        headers = {k: v[0].decode("latin-1") for k, v in raw.items()}
        host = headers.get("host")
        if not host or normalize_host(host) not in self.hosts:
            return 403, HOST_REFUSED
        origin = headers.get("origin")
        if origin is not None:
            try:
                allowed = normalize_origin(origin) in self.origins
            except ValueError:
                allowed = False
            if not allowed:
                return 403, ORIGIN_REFUSED
        path = scope.get("path", "")
        protected = self.token and any(path == p or path.startswith(p + "/") for p in self.protected_paths)
        # Compared as bytes: a header with non-ASCII bytes is simply wrong, never a server error.
        given = (raw.get("authorization") or [b""])[0]
        if protected and not secrets.compare_digest(given, f"Bearer {self.token}".encode()):
            return 401, TOKEN_REFUSED
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            refused = self.refusal(scope)
            if refused is not None:
                await _drain(receive)
                await _plain(send, *refused)
                return
        await self.app(scope, receive, send)


async def _drain(receive: Any) -> None:
    # Answering with an unread request body makes the server reset the connection, and the client
    # then sees a reset instead of the refusal.
    received = 0
    while received < 1 << 20:
        message = await receive()
        received += len(message.get("body", b""))
        if message.get("type") != "http.request" or not message.get("more_body"):
            return


async def _plain(send: Any, status: int, message: str) -> None:
    body = message.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
