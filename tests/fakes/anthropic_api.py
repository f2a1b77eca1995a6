"""A loopback stand-in for the Anthropic Messages API (and its Vertex AI paths).

The real `anthropic` SDK talks to it over HTTP. Responses are scripted; every request is
recorded (path, headers, JSON body) so tests assert on what ktx sent. Prompt caching is
accounted like the real service: a request prefix ending at a cache marker is written on first
sight and read afterwards; tokens are estimated as characters / 4.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Response = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


def text(value: str, **extra: Any) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": value}], "stop_reason": "end_turn", **extra}


def tool_use(*calls: tuple[str, dict[str, Any]], say: str | None = None) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": say}] if say else []
    content += [{"type": "tool_use", "name": name, "input": args} for name, args in calls]
    return {"content": content, "stop_reason": "tool_use"}


def error(status: int, message: str = "error", headers: dict[str, str] | None = None) -> dict[str, Any]:
    kind = {429: "rate_limit_error", 529: "overloaded_error", 400: "invalid_request_error"}.get(status, "api_error")
    return {"status": status, "error": {"type": kind, "message": message}, "headers": headers or {}}


def _tokens(value: Any) -> int:
    return max(1, len(json.dumps(value, sort_keys=True)) // 4)


class AnthropicStandIn:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[Response] = []
        self.default: Response = text("ok")
        self.rate_limit_headers: dict[str, str] = {}
        self.token_requests = 0
        self._cache: set[str] = set()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.startswith("/token"):
                    server.token_requests += 1
                    self._json(200, {"access_token": "fake-google-token", "expires_in": 3600, "token_type": "Bearer"})
                    return
                body = json.loads(raw or b"{}")
                request = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                with server._lock:
                    server.requests.append(request)
                    spec = server.script.pop(0) if server.script else server.default
                spec = spec(request) if callable(spec) else spec
                if "status" in spec:
                    self._json(spec["status"], {"type": "error", "error": spec["error"]}, spec.get("headers"))
                    return
                message = server._message(body, spec)
                if body.get("stream"):
                    self._sse(message, spec.get("delay", 0.0))
                else:
                    self._json(200, message)

            def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in {**server.rate_limit_headers, **(headers or {})}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _sse(self, message: dict[str, Any], delay: float) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                for key, value in server.rate_limit_headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.close_connection = True
                try:
                    for event in _events(message):
                        self.wfile.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
                        self.wfile.flush()
                        if delay:
                            time.sleep(delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def queue(self, *responses: Response) -> None:
        with self._lock:
            self.script.extend(responses)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests]

    # --- message building ----------------------------------------------------------------

    def _message(self, body: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
        content = []
        for block in spec["content"]:
            if block["type"] == "tool_use":
                block = {"id": f"toolu_{next(self._ids):04d}", **block}
            content.append(block)
        read, write, total = self._cache_accounting(body)
        return {
            "id": f"msg_{next(self._ids):04d}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "unknown"),
            "content": content,
            "stop_reason": spec.get("stop_reason", "end_turn"),
            "stop_sequence": None,
            "usage": {
                "input_tokens": total - read - write,
                "output_tokens": _tokens(content),
                "cache_read_input_tokens": read,
                "cache_creation_input_tokens": write,
            },
        }

    def _cache_accounting(self, body: dict[str, Any]) -> tuple[int, int, int]:
        """Prefix order is tools → system → messages, as the real service caches it."""
        blocks: list[tuple[Any, bool]] = []
        for tool in body.get("tools") or []:
            blocks.append((tool, "cache_control" in tool))
        system = body.get("system")
        if isinstance(system, str):
            blocks.append((system, False))
        for block in system or [] if isinstance(system, list) else []:
            blocks.append((block, "cache_control" in block))
        for message in body.get("messages") or []:
            content = message["content"]
            parts = [content] if isinstance(content, str) else content
            for part in parts:
                marked = isinstance(part, dict) and "cache_control" in part
                blocks.append(({"role": message["role"], "part": part}, marked))
        total = sum(_tokens(_strip_marker(b)) for b, _ in blocks)
        prefix_tokens = 0
        digest = hashlib.sha256()
        read = written_upto = 0
        for block, marked in blocks:
            digest.update(json.dumps(_strip_marker(block), sort_keys=True).encode())
            prefix_tokens += _tokens(_strip_marker(block))
            if not marked:
                continue
            key = digest.hexdigest()
            with self._lock:
                if key in self._cache:
                    read = prefix_tokens
                else:
                    self._cache.add(key)
                    written_upto = prefix_tokens
        write = max(0, written_upto - read)
        return read, write, total


def _strip_marker(block: Any) -> Any:
    if isinstance(block, dict):
        return {k: _strip_marker(v) for k, v in block.items() if k != "cache_control"}
    return block


def _events(message: dict[str, Any]) -> list[dict[str, Any]]:
    start = {**message, "content": [], "stop_reason": None, "usage": {**message["usage"], "output_tokens": 1}}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            events.append(
                {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
            )
            events.append(
                {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": block["text"]}}
            )
        else:
            events.append(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}},
                }
            )
            events.append(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])},
                }
            )
        events.append({"type": "content_block_stop", "index": index})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": message["usage"]["output_tokens"]},
        }
    )
    events.append({"type": "message_stop"})
    return events
