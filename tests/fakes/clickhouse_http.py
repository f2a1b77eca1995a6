"""A loopback ClickHouse HTTP endpoint backed by chdb (the embedded ClickHouse engine).

Only the transport is fake: queries run on real ClickHouse SQL. Requests are recorded so tests
can assert what ktx sent (settings such as `readonly`).
"""

from __future__ import annotations

import threading
import urllib.parse
from typing import Any

from tests.fakes.loopback import LoopbackServer, Request, Response


class ChdbHttpServer:
    def __init__(self, state_dir: str) -> None:
        import chdb.session

        self.session = chdb.session.Session(state_dir)
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._answer)
        self.port = self.server.port

    def _answer(self, request: Request) -> Response:
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(request.path).query))
        query = (params.get("query", "") + "\n" + request.body.decode()).strip()
        self.requests.append({"params": params, "query": query})
        try:
            with self._lock:
                if params.get("database"):
                    self.session.query(f"USE {params['database']}")
                data = self.session.query(query, params.get("default_format", "TabSeparated")).bytes()
        except Exception as exc:
            return Response(500, f"Code: 62. DB::Exception: {exc}".encode(), {"X-ClickHouse-Exception-Code": "62"})
        return Response(200, data, {"Content-Type": "application/octet-stream", "X-ClickHouse-Timezone": "UTC"})

    def setup(self, *statements: str) -> None:
        with self._lock:
            for statement in statements:
                self.session.query(statement)

    def close(self) -> None:
        self.server.close()


_SHARED: ChdbHttpServer | None = None


def shared_server() -> ChdbHttpServer:
    """The process's one chdb server: chdb embeds a single ClickHouse per process, bound to the first state
    directory it was given, so every test in a process shares it (each with its own databases)."""
    global _SHARED
    if _SHARED is None:
        import atexit
        import tempfile

        _SHARED = ChdbHttpServer(tempfile.mkdtemp(prefix="ktx-chdb-"))
        atexit.register(_SHARED.close)
    return _SHARED
