"""One loopback HTTP harness for the stand-ins (BigQuery REST, ClickHouse HTTP, the embeddings APIs).

A stand-in supplies `handle(request) -> Response`; the harness owns the threaded server on 127.0.0.1 and a free
port, reads bodies, writes status, headers and Content-Length, and stays quiet.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any) -> Response:
        return cls(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})


class LoopbackServer:
    def __init__(self, handle: Callable[[Request], Response]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.command, self.path, dict(self.headers), self.rfile.read(length) if length else b""
                )
                response = handle(request)
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class ScriptedApi:
    """What the SaaS API stand-ins share: the loopback server, every request recorded in `state.requests`
    (method, path with query, monotonic time), and `state.rate_limit[path] = n` for n scripted 429s on a path."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self.server = LoopbackServer(self._record)
        self.url = self.server.url

    def close(self) -> None:
        self.server.close()

    def _record(self, request: Request) -> Response:
        self.state.requests.append((request.method, request.path, time.monotonic()))
        return self.handle(request)

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def rate_limited(self, path: str) -> bool:
        """Whether this request to `path` is one of its scripted 429s (each one is used up)."""
        if self.state.rate_limit.get(path, 0) > 0:
            self.state.rate_limit[path] -= 1
            return True
        return False
