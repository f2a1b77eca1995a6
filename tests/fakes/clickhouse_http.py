"""A loopback ClickHouse HTTP endpoint backed by chdb (the embedded ClickHouse engine).

Only the transport is fake: queries run on real ClickHouse SQL. Requests are recorded so tests
can assert what ktx sent (settings such as `readonly`).
"""

from __future__ import annotations

import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ChdbHttpServer:
    def __init__(self, state_dir: str) -> None:
        import chdb.session

        self.session = chdb.session.Session(state_dir)
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def _answer(self) -> None:
                url = urllib.parse.urlparse(self.path)
                params = dict(urllib.parse.parse_qsl(url.query))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                query = (params.get("query", "") + "\n" + body).strip()
                server.requests.append({"params": params, "query": query})
                try:
                    with server._lock:
                        if params.get("database"):
                            server.session.query(f"USE {params['database']}")
                        data = server.session.query(query, params.get("default_format", "TabSeparated")).bytes()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("X-ClickHouse-Timezone", "UTC")
                except Exception as exc:
                    data = f"Code: 62. DB::Exception: {exc}".encode()
                    self.send_response(500)
                    self.send_header("X-ClickHouse-Exception-Code", "62")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def setup(self, *statements: str) -> None:
        with self._lock:
            for statement in statements:
                self.session.query(statement)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
