"""Loopback stand-ins for embedding servers: the OpenAI embeddings API and the
sentence-transformers HTTP protocol. Vectors are deterministic functions of the text."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from tests.fakes.loopback import LoopbackServer, Request, Response


def fake_vector(text: str, dimensions: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [((digest[i % len(digest)] / 255.0) - 0.5) for i in range(dimensions)]


class EmbeddingsStandIn:
    def __init__(
        self,
        dimensions: int = 16,
        *,
        wrong_dimensions: int | None = None,
        fail_status: int | None = None,
        vector_for: Callable[[str], list[float] | None] | None = None,
    ) -> None:
        """`vector_for` scripts chosen texts' vectors (None: the deterministic hash vector)."""
        self.dimensions = dimensions
        self.vector_for = vector_for
        self.wrong_dimensions = wrong_dimensions
        self.fail_status = fail_status
        self.requests: list[dict[str, Any]] = []
        self.server = LoopbackServer(self._answer)
        self.base_url = self.server.url

    def _answer(self, request: Request) -> Response:
        body = request.json()
        self.requests.append({"path": request.path, "headers": request.headers, "body": body})
        if self.fail_status:
            return Response.json(self.fail_status, {"error": {"message": "server says no"}})
        size = self.wrong_dimensions or self.dimensions
        if request.path.endswith("/embeddings") and "input" in body:  # OpenAI
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            data = [
                {"object": "embedding", "index": i, "embedding": self._vector(t, size)} for i, t in enumerate(inputs)
            ]
            data.reverse()  # the client must order by index
            usage = {"prompt_tokens": 1, "total_tokens": 1}
            return Response.json(200, {"object": "list", "data": data, "model": body["model"], "usage": usage})
        if request.path.endswith("/embeddings/compute-bulk"):
            return Response.json(200, {"embeddings": [self._vector(t, size) for t in body["texts"]]})
        if request.path.endswith("/embeddings/compute"):
            return Response.json(200, {"embedding": self._vector(body["text"], size)})
        return Response.json(404, {"error": "not found"})

    def _vector(self, text: str, size: int) -> list[float]:
        scripted = self.vector_for(text) if self.vector_for is not None else None
        return scripted if scripted is not None else fake_vector(text, size)

    def close(self) -> None:
        self.server.close()
