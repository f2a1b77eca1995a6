"""The Connector contract every warehouse driver implements, and the driver registry."""

from __future__ import annotations

import importlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, LifoQueue
from typing import Any, ClassVar

from ktx.bounded import DeadlinePassed, run_bounded
from ktx.errors import KtxError
from ktx.project.config import WarehouseConnection
from ktx.warehouse.catalog import Catalog, parse_table_ref
from ktx.warehouse.fetch import Fetched, fetch_bounded
from ktx.warehouse.readonly import DEFAULT_MAX_ROWS, gate_query
from ktx.warehouse.registry import WAREHOUSE_DRIVERS


class WarehouseError(KtxError):
    """The warehouse or its driver reported an error; the message never contains credentials."""


class QueryTimeout(WarehouseError):
    """A statement ran past the connection's statement_timeout_ms and was cancelled."""


class DriverMissing(KtxError):
    """The Python package a driver needs is not installed."""


@dataclass(frozen=True)
class Scope:
    """What introspection covers: schemas (datasets, databases) and explicit tables."""

    schemas: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()

    def allows(self, schema: str | None, table: str) -> bool:
        if self.tables:
            for ref in self.tables:
                ref_schema, ref_table = parse_table_ref(ref)
                if ref_table == table and (ref_schema is None or ref_schema == schema):
                    return True
            return False
        return not self.schemas or schema in self.schemas


@dataclass
class QueryResult:
    headers: list[str]
    header_types: list[str]
    rows: list[list[Any]]
    truncated: bool = False
    duration_ms: float = 0.0
    truncated_reason: str | None = None  # "rows" (the row cap) or "bytes" (max_result_bytes)
    cells_cut: int = 0  # cells longer than the per-cell limit, shortened with a marker

    @property
    def row_count(self) -> int:
        return len(self.rows)


@dataclass
class RawResult:
    headers: list[str]
    header_types: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    bytes_truncated: bool = False  # fetching stopped at the connection's max_result_bytes
    cells_cut: int = 0


class ConnectionPool:
    """A small blocking pool: at most `size` live connections, reused LIFO (warm first)."""

    def __init__(self, factory: Callable[[], Any], size: int, timeout_s: float = 60.0) -> None:
        self._factory = factory
        self._idle: LifoQueue[Any] = LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._all: list[Any] = []
        self._lock = threading.Lock()
        self.size = size
        self.timeout_s = timeout_s
        self.in_use = 0
        self.peak_in_use = 0

    @contextmanager
    def connection(self) -> Iterator[Any]:
        if not self._slots.acquire(timeout=self.timeout_s):
            raise WarehouseError(
                f"Timed out after {self.timeout_s:.0f}s waiting for a free connection (pool size {self.size}); "
                "raise maxConnections or reduce concurrency."
            )
        conn = None
        cancelled = broken = False
        try:
            try:
                conn = self._idle.get_nowait()
            except Empty:
                conn = self._factory()
                with self._lock:
                    self._all.append(conn)
            with self._lock:
                self.in_use += 1
                self.peak_in_use = max(self.peak_in_use, self.in_use)
            try:
                yield conn
            except (QueryTimeout, KeyboardInterrupt):
                # A cancelled statement may still be unwinding on this connection: never hand it out again.
                cancelled = True
                raise
            except BaseException:
                broken = True
                raise
        finally:
            if conn is not None:
                with self._lock:
                    self.in_use -= 1
                if cancelled or (broken and not _still_usable(conn)):
                    self._discard(conn)
                else:
                    self._idle.put(conn)
            self._slots.release()

    def _discard(self, conn: Any) -> None:
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        with suppress(Exception):
            conn.close()

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with suppress(Exception):
                conn.close()


def _still_usable(conn: Any) -> bool:
    closed = getattr(conn, "closed", False)
    return not closed


class Connector(ABC):
    """One configured warehouse connection. Subclasses supply the engine-specific parts."""

    driver: ClassVar[str]
    dialect: ClassVar[str]  # sqlglot dialect name
    default_max_connections: ClassVar[int] = 4
    read_only_session: ClassVar[bool] = True
    supports_query_history: ClassVar[bool] = False
    scope_keys: ClassVar[tuple[str, ...]] = ()
    # True when the engine enforces statement_timeout_ms itself; the client-side watchdog then only backs it up.
    native_timeout: ClassVar[bool] = False
    default_schemas: ClassVar[tuple[str, ...]] = ()

    def __init__(self, connection_id: str, config: WarehouseConnection, base_dir: Path) -> None:
        self.connection_id = connection_id
        self.config = config
        self.base_dir = base_dir
        self.queries_issued = 0
        self._pool: ConnectionPool | None = None
        self._pool_lock = threading.Lock()

    # --- engine-specific -----------------------------------------------------------------

    @abstractmethod
    def _connect(self) -> Any:
        """Open one DBAPI-like connection in read-only mode."""

    @abstractmethod
    def _run(
        self, conn: Any, sql: str, max_rows: int | None, timeout_ms: int, max_bytes: int | None = None
    ) -> RawResult:
        """Execute one statement inside a read-only transaction and fetch up to `max_rows` rows — and, for user
        queries, at most `max_bytes` (engines that can stream a result fetch it in batches; see `_fetch`).

        Engines with their own statement timeout apply `timeout_ms` here (see `native_timeout`).
        """

    @staticmethod
    def _fetch(fetchmany: Any, fetchall: Any, max_rows: int | None, max_bytes: int | None) -> Fetched:
        if max_bytes is None:  # ktx's own catalog and profile queries
            return Fetched(list(fetchmany(max_rows) if max_rows is not None else fetchall()))
        return fetch_bounded(fetchmany, max_rows, max_bytes)

    @staticmethod
    def _raw(headers: list[str], types: list[str], fetched: Fetched) -> RawResult:
        return RawResult(headers, types, fetched.rows, fetched.bytes_truncated, fetched.cells_cut)

    def _cancel(self, conn: Any) -> None:  # noqa: B027 - optional hook, default is no cancellation
        """Cancel the statement running on `conn` from another thread (watchdog and Ctrl+C)."""

    def _is_timeout(self, exc: BaseException) -> bool:
        """Whether a driver error is the engine's own statement-timeout cancellation."""
        return False

    @abstractmethod
    def introspect(self, scope: Scope | None = None) -> Catalog:
        """Tables, views, columns, keys, comments and row estimates in scope."""

    # --- shared behaviour ----------------------------------------------------------------

    @property
    def max_connections(self) -> int:
        return self.config.maxConnections or self.default_max_connections

    @property
    def pool(self) -> ConnectionPool:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ConnectionPool(self._guarded_connect, self.max_connections)
            return self._pool

    def _guarded_connect(self) -> Any:
        try:
            return self._connect()
        except KtxError:
            raise
        except Exception as exc:
            raise WarehouseError(self.describe_error(exc)) from None

    def describe_error(self, exc: BaseException) -> str:
        """One line from a driver error, with any configured secret scrubbed out."""
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"{self.connection_id} ({self.driver}): {scrub_secrets(text, self.secret_values())}"

    def secret_values(self) -> list[str]:
        """Resolved credential values that must never appear in messages."""
        return []

    @property
    def statement_timeout_ms(self) -> int:
        return self.config.statement_timeout_ms

    def execute(
        self, sql: str, *, max_rows: int | None = None, timeout_ms: int | None = None, max_bytes: int | None = None
    ) -> RawResult:
        """Run trusted, ktx-built SQL (catalog and profiling queries) through the read-only session.

        Bounded by `timeout_ms` (default: the connection's statement_timeout_ms); Ctrl+C cancels it too.
        """
        limit = timeout_ms or self.statement_timeout_ms
        with self.pool.connection() as conn:
            self.queries_issued += 1
            started = time.monotonic()
            try:
                return run_bounded(
                    lambda: self._run(conn, sql, max_rows, limit, max_bytes),
                    cancel=lambda: self._cancel(conn),
                    deadline_s=limit / 1000 + (1.0 if self.native_timeout else 0.0),
                )
            except KtxError:
                raise
            except DeadlinePassed:
                raise QueryTimeout(_timeout_message(time.monotonic() - started)) from None
            except Exception as exc:
                if self._is_timeout(exc):
                    raise QueryTimeout(_timeout_message(time.monotonic() - started)) from None
                raise WarehouseError(self.describe_error(exc)) from None

    def user_function_names(self) -> frozenset[str]:
        """Names of functions the database's users defined (not built-ins, not extensions), which a call or
        attribute notation could resolve to; the gate refuses them (default: an engine where that cannot happen)."""
        return frozenset()

    def gate_allowances(self) -> frozenset[str]:
        """Functions this connection opted into beyond the dialect's allow-list (default: none)."""
        return frozenset()

    def query(self, sql: str, max_rows: int = DEFAULT_MAX_ROWS, *, timeout_ms: int | None = None) -> QueryResult:
        """Run user SQL: parser gate, read-only session, row cap, statement timeout."""
        gated = gate_query(sql, self.dialect, max_rows, self.gate_allowances(), self.user_function_names())
        self._preflight(gated.sql)
        started = time.perf_counter()
        raw = self.execute(
            gated.sql, max_rows=max_rows + 1, timeout_ms=timeout_ms, max_bytes=self.config.max_result_bytes
        )
        rows = [list(r) for r in raw.rows]
        by_rows = len(rows) > max_rows
        return QueryResult(
            headers=raw.headers,
            header_types=raw.header_types,
            rows=rows[:max_rows],
            truncated=by_rows or raw.bytes_truncated,
            duration_ms=(time.perf_counter() - started) * 1000,
            truncated_reason="bytes" if raw.bytes_truncated else ("rows" if by_rows else None),
            cells_cut=raw.cells_cut,
        )

    def _preflight(self, sql: str) -> None:
        """A driver's server-side check of a gated statement before it runs (default: none)."""
        return None

    # A query that reads the database itself: `SELECT 1` alone succeeds on SQLite even when the file
    # is not a database at all.
    probe_sql: ClassVar[str] = "SELECT 1"

    def test(self) -> list[str]:
        """Run a real read-only query; returns warnings about the role (superuser, write privileges)."""
        self.execute(self.probe_sql, max_rows=1)
        try:
            return self.privilege_warnings()
        except KtxError:
            return []  # a role that may not read its own grants is not a role that can write

    def privilege_warnings(self) -> list[str]:
        """Why the connection's role is more powerful than ktx needs (default: nothing to say)."""
        return []

    def scope(self) -> Scope:
        """The introspection scope from ktx.yaml: `enabled_tables`, then the driver's scope keys."""
        tables = tuple(self.config.enabled_tables or ())
        schemas: list[str] = []
        for key in self.scope_keys:
            value = getattr(self.config, key, None)
            if value is None and self.config.model_extra:
                value = self.config.model_extra.get(key)
            if isinstance(value, str):
                schemas.append(value)
            elif isinstance(value, list):
                schemas.extend(str(v) for v in value)
        return Scope(tuple(dict.fromkeys(schemas)) or self.default_schemas, tables)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _timeout_message(elapsed_s: float) -> str:
    return f"Query cancelled after {elapsed_s:.1f} s (statement_timeout_ms)"


def scrub_secrets(text: str, secrets: Sequence[str]) -> str:
    import re

    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "[redacted]")
    # user:password@host in any URL-looking fragment
    return re.sub(r"(\w+://[^:/@\s]+):[^@\s]+@", r"\1:[redacted]@", text)


def connector_class(driver: str) -> type[Connector]:
    spec = WAREHOUSE_DRIVERS.get(driver)
    if spec is None:
        raise KtxError(
            f"Driver {driver!r} is not a warehouse driver. Warehouse drivers: {', '.join(WAREHOUSE_DRIVERS)}."
        )
    module_name, class_name = spec.connector.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def require_module(module: str, extra: str) -> Any:
    """Import a driver's package or explain which pip extra provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise DriverMissing(
            f"The {extra} driver needs the Python package for {module}.",
            hint=f"Install it with: pip install 'ktx-context[{extra}]'",
        ) from None
