"""Loopback stand-ins for embedding servers: the OpenAI embeddings API and the
sentence-transformers HTTP protocol. Vectors are deterministic functions of the text."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def fake_vector(text: str, dimensions: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [((digest[i % len(digest)] / 255.0) - 0.5) for i in range(dimensions)]


class EmbeddingsStandIn:
    def __init__(
        self, dimensions: int = 16, *, wrong_dimensions: int | None = None, fail_status: int | None = None
    ) -> None:
        self.dimensions = dimensions
        self.wrong_dimensions = wrong_dimensions
        self.fail_status = fail_status
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if server.fail_status:
                    self._send(server.fail_status, {"error": {"message": "server says no"}})
                    return
                size = server.wrong_dimensions or server.dimensions
                if self.path.endswith("/embeddings") and "input" in body:  # OpenAI
                    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    data = [
                        {"object": "embedding", "index": i, "embedding": fake_vector(t, size)}
                        for i, t in enumerate(inputs)
                    ]
                    data.reverse()  # the client must order by index
                    self._send(
                        200,
                        {
                            "object": "list",
                            "data": data,
                            "model": body["model"],
                            "usage": {"prompt_tokens": 1, "total_tokens": 1},
                        },
                    )
                elif self.path.endswith("/embeddings/compute-bulk"):
                    self._send(200, {"embeddings": [fake_vector(t, size) for t in body["texts"]]})
                elif self.path.endswith("/embeddings/compute"):
                    self._send(200, {"embedding": fake_vector(body["text"], size)})
                else:
                    self._send(404, {"error": "not found"})

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
