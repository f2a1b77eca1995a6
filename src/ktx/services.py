"""The services one process holds for a project: built once, reused across calls, closed at the end.

A one-shot CLI command builds one and closes it when the command ends; a long-running server (MCP) can hold one
for hours. `Project` stays paths, config, git and state; everything that talks to a warehouse, an index or a
model lives here, so no service needs `Project` to hand it out (and `project` imports none of them).
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ktx.llm.runtime import LlmRuntime
    from ktx.project.project import Project
    from ktx.search.service import SearchService
    from ktx.semantic.compiler import SemanticEngine
    from ktx.warehouse.connector import Connector
    from ktx.wiki.store import WikiStore


class Services:
    def __init__(self, project: Project) -> None:
        self.project = project
        self._connectors: dict[str, Connector] = {}
        self._llm: tuple[Any, LlmRuntime | None] | None = None
        self._lock = threading.Lock()
        self._config_stamp = self._stamp()

    @cached_property
    def wiki(self) -> WikiStore:
        """Wiki pages of the project: list, read, write, remove."""
        from ktx.wiki.store import WikiStore

        return WikiStore(self.project)

    @cached_property
    def search(self) -> SearchService:
        """Hybrid search over wiki pages and semantic-layer sources; its index readers live as long as this."""
        from ktx.search.service import SearchService

        return SearchService(self.project, self.wiki)

    def connector(self, connection_id: str) -> Connector:
        """The pooled read-only connector of a warehouse connection, opened once per process (do not close it)."""
        with self._lock:
            connector = self._connectors.get(connection_id)
            if connector is None:
                from ktx.warehouse.connections import open_connector

                connector = self._connectors[connection_id] = open_connector(self.project, connection_id)
            return connector

    def semantic(self, connection_id: str) -> SemanticEngine:
        """The compiled semantic layer of a connection (rebuilt when its files change; see semantic.cache)."""
        from ktx.semantic.layer import build_engine

        config = self.project.config
        conn = config.connections.get(connection_id)
        engine, _ = build_engine(
            self.project.root,
            connection_id,
            conn.driver if conn is not None else None,
            ambiguous_paths=config.semantic_layer.ambiguousPaths,
        )
        return engine

    def llm(self, *, governor: Any = None) -> LlmRuntime | None:
        """The project's LLM runtime, or None for backend `none` (one per process and governor)."""
        with self._lock:
            if self._llm is None or self._llm[0] is not governor:
                from ktx.llm.factory import create_llm_runtime

                self._llm = (governor, create_llm_runtime(self.project.config, self.project.root, governor=governor))
            return self._llm[1]

    def warm(self) -> None:
        """For a long-running server, once it is up: load what its first calls would otherwise wait for — the
        search index, and per warehouse connection its semantic layer, SQL dialect and connector code — without
        connecting to any warehouse. A failure is left for the call that meets it to report."""
        import contextlib
        import importlib

        from ktx.warehouse.registry import driver_spec

        with contextlib.suppress(Exception):
            self.search.search_wiki("warm", limit=1)
        for connection_id, conn in self.project.config.connections.items():
            spec = driver_spec(getattr(conn, "driver", ""))
            if spec is None:
                continue  # a context source (dbt, Notion, …): nothing of it is served per call
            with contextlib.suppress(Exception):
                import sqlglot

                importlib.import_module(spec.connector.partition(":")[0])
                sqlglot.Dialect.get_or_raise(spec.dialect)
                self.semantic(connection_id)

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.project.config_path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def refresh(self) -> bool:
        """For a long-running server: when ktx.yaml changed on disk, re-read it and reopen connectors and the
        LLM runtime on next use. Wiki, search and semantic layers follow their files by themselves."""
        stamp = self._stamp()
        with self._lock:
            if stamp == self._config_stamp:
                return False
            self._config_stamp = stamp
            self.project.__dict__.pop("validation", None)
            connectors, self._connectors = list(self._connectors.values()), {}
            self._llm = None
            self.__dict__.pop("search", None)
        for connector in connectors:
            connector.close()
        return True

    def close(self) -> None:
        with self._lock:
            connectors, self._connectors = list(self._connectors.values()), {}
        for connector in connectors:
            connector.close()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
