"""Warehouses for the semantic-compiler correctness suite: the demo shop plus a second schema ("ops")
with composite keys, a self-join through an alias, SQL sources (one with its own WITH) and computed
columns — the same rows loaded into DuckDB, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "demo"))

import warehouse as demo

from tests.fixtures.demo import copy_demo_layer
from tests.integration.warehouses import PG_URL, _unavailable

DEMO_LAYER = copy_demo_layer(Path(tempfile.mkdtemp(prefix="ktx-demo-layer-")) / "semantic-layer")

OPS_DDL = [
    "CREATE TABLE depots (id INTEGER PRIMARY KEY, name TEXT, city TEXT)",
    "CREATE TABLE stock (depot_id INTEGER, sku TEXT, on_hand INTEGER, unit_cost NUMERIC(10,2), PRIMARY KEY (depot_id, sku))",
    "CREATE TABLE shipments (id INTEGER PRIMARY KEY, depot_id INTEGER, sku TEXT, qty INTEGER, shipped_on DATE)",
    "CREATE TABLE staff (id INTEGER PRIMARY KEY, name TEXT, manager_id INTEGER, depot_id INTEGER, salary INTEGER)",
    "CREATE TABLE calendar (day DATE PRIMARY KEY, fiscal_quarter TEXT)",
    "CREATE TABLE restocks (id INTEGER PRIMARY KEY, sku TEXT, restocked_on DATE)",
    "CREATE TABLE balances (depot_id INTEGER, on_day DATE, amount INTEGER)",
    "CREATE TABLE logins (id INTEGER PRIMARY KEY, logged_at TIMESTAMP)",
    "CREATE TABLE hours (hour TIMESTAMP PRIMARY KEY)",
]
CALENDAR_DAYS = [date.fromordinal(date(2024, 12, 1).toordinal() + n) for n in range(182)]  # to 2025-05-31


def _fiscal_quarter(day: date) -> str:
    """A fiscal year starting in February: Feb-Apr is Q1 of the fiscal year named by the year it ends in."""
    months = (day.month - 2) % 12
    year = day.year + (1 if day.month >= 2 else 0)
    return f"FY{year % 100}-Q{months // 3 + 1}"


CALENDAR = [(day, _fiscal_quarter(day)) for day in CALENDAR_DAYS]
HOURS = [(datetime(2024, 12, 31) + timedelta(hours=n),) for n in range(96)]  # to 2025-01-03 23:00
OPS_ROWS: dict[str, list[tuple[Any, ...]]] = {
    "depots": [(1, "Alpha", "Oslo"), (2, "Beta", "Bergen"), (3, "Gamma", "Oslo"), (4, "Delta", None)],
    "stock": [(1, "A", 10, Decimal("2.50")), (1, "B", 0, Decimal("4.00")), (2, "A", 5, Decimal("2.75")),
              (2, "C", 7, Decimal("1.10")), (3, "B", 3, Decimal("4.20")), (3, "C", 9, Decimal("1.00"))],
    "shipments": [(1, 1, "A", 4, date(2025, 1, 3)), (2, 1, "A", 2, date(2025, 1, 20)), (3, 1, "B", 1, date(2025, 2, 1)),
                  (4, 2, "A", 3, date(2025, 2, 14)), (5, 2, "C", 12, date(2025, 3, 2)), (6, 3, "C", 6, date(2025, 3, 30)),
                  (7, None, "A", 1, date(2025, 4, 1)), (8, 3, "Z", 2, date(2025, 4, 2))],
    "staff": [(1, "Ada", None, 1, 100), (2, "Ben", 1, 1, 70), (3, "Cy", 1, 2, 65), (4, "Di", 3, 2, 50),
              (5, "Ed", 3, 3, 55), (6, "Flo", None, None, 90)],
    "calendar": CALENDAR,
    # restocks of a SKU: a shipment of it within 30 days after one is a conversion (A: 2, B: 1, C: 1 of 8 shipments)
    "restocks": [(1, "A", date(2024, 12, 20)), (2, "A", date(2025, 2, 10)), (3, "B", date(2025, 1, 25)),
                 (4, "C", date(2025, 3, 20)), (5, "Z", date(2025, 1, 1))],
    # a balance per depot on the days it was counted: the first and last count differ per depot and per month
    "balances": [(1, date(2025, 1, 2), 100), (2, date(2025, 1, 2), 40), (1, date(2025, 1, 31), 120),
                 (2, date(2025, 1, 31), 35), (3, date(2025, 1, 15), 70), (1, date(2025, 2, 28), 90),
                 (3, date(2025, 2, 3), 75), (3, date(2025, 2, 28), 60)],
    # logins placed in hours: one just before midnight, whose hour-later is the next day's first hour
    "logins": [(1, datetime(2025, 1, 1, 1, 15)), (2, datetime(2025, 1, 1, 1, 40)), (3, datetime(2025, 1, 1, 3, 5)),
               (4, datetime(2025, 1, 1, 23, 30)), (5, datetime(2025, 1, 2, 0, 10)), (6, datetime(2025, 1, 2, 2, 0))],
    "hours": HOURS,
}  # fmt: skip
OPS_SOURCES: list[dict[str, Any]] = [
    {"name": "depots", "table": "depots", "grain": ["id"],
     "columns": [{"name": "id", "type": "number"}, {"name": "name", "type": "string"}, {"name": "city", "type": "string"}],
     "measures": [{"name": "depot_count", "expr": "count(*)"}]},
    {"name": "stock", "table": "stock", "grain": ["depot_id", "sku"],
     "columns": [{"name": "depot_id", "type": "number"}, {"name": "sku", "type": "string"},
                 {"name": "on_hand", "type": "number"}, {"name": "unit_cost", "type": "number"},
                 {"name": "stock_value", "type": "number", "expr": "on_hand * unit_cost"}],
     "joins": [{"to": "depots", "on": "depot_id = depots.id", "relationship": "many_to_one"},
               {"to": "sku_totals", "on": "sku = sku_totals.sku", "relationship": "many_to_one"}],
     "measures": [{"name": "units_on_hand", "expr": "sum(on_hand)"}, {"name": "inventory_value", "expr": "sum(stock_value)"},
                  {"name": "empty_slots", "expr": "count(*)", "filter": "on_hand = 0"}]},
    {"name": "shipments", "table": "shipments", "grain": ["id"],
     "columns": [{"name": "id", "type": "number"}, {"name": "depot_id", "type": "number"}, {"name": "sku", "type": "string"},
                 {"name": "qty", "type": "number"}, {"name": "shipped_on", "type": "time", "role": "time"},
                 {"name": "is_bulk", "type": "boolean", "expr": "qty >= 5"}],
     "joins": [{"to": "stock", "on": "depot_id = stock.depot_id AND sku = stock.sku", "relationship": "many_to_one"}],
     "segments": [{"name": "bulk", "expr": "qty >= 5"}],
     "default_time_dimension": {"column": "shipped_on"},
     "measures": [{"name": "shipped_units", "expr": "sum(qty)"}, {"name": "shipment_count", "expr": "count(*)"},
                  {"name": "units_7d", "expr": "sum(qty)", "window": {"kind": "cumulative", "window": "7 days"}},
                  {"name": "units_mtd", "expr": "sum(qty)", "window": {"kind": "cumulative", "grain_to_date": "month"}},
                  {"name": "units_to_date", "expr": "sum(qty)", "window": {"kind": "cumulative"}},
                  {"name": "units_mtd_last", "expr": "sum(qty)",
                   "window": {"kind": "cumulative", "grain_to_date": "month", "period_agg": "last"}},
                  {"name": "units_to_month_start", "expr": "sum(qty)",
                   "window": {"kind": "cumulative", "offset_to_grain": "month"}},
                  {"name": "units_7d_week_before", "expr": "sum(qty)",
                   "window": {"kind": "cumulative", "window": "7 days", "offset": "7 days"}},
                  {"name": "units_7d_avg", "expr": "sum(qty)",
                   "window": {"kind": "cumulative", "window": "7 days", "period_agg": "average"}},
                  {"name": "units_prev_month", "expr": "sum(qty)", "window": {"kind": "offset", "window": "1 month"}},
                  {"name": "units_prev_fiscal_quarter", "expr": "sum(qty)",
                   "window": {"kind": "offset", "window": "1 fiscal_quarter"}},
                  {"name": "units_2_weeks_earlier", "expr": "sum(qty)", "window": {"kind": "offset", "window": "14 days"}},
                  {"name": "units_at_month_start", "expr": "sum(qty)",
                   "window": {"kind": "offset", "grain_to_date": "month"}},
                  {"name": "units_vs_prev_month", "expr": "shipped_units - units_prev_month"},
                  {"name": "shipped_after_restock", "expr": "count(*)",
                   "conversion": {"base": "restocks", "key": "sku", "window": "30 days"}},
                  {"name": "restock_conversion", "expr": "shipped_after_restock / restocks.restock_count"},
                  {"name": "shipped_after_a_2025_restock", "expr": "count(*)",
                   "conversion": {"base": "restocks", "key": "sku", "window": "30 days",
                                  "base_filter": "restocked_on >= '2025-01-01'"}},
                  {"name": "bulk_units", "expr": "sum(qty)", "segments": ["bulk"]},
                  {"name": "units_every_day", "expr": "sum(qty)", "join_to_timespine": True, "fill_nulls_with": 0},
                  {"name": "shipments_every_day", "expr": "count(*)", "join_to_timespine": True},
                  {"name": "oslo_units", "expr": "sum(qty)", "filter": "city = 'Oslo'"}]},
    {"name": "staff", "table": "staff", "grain": ["id"],
     "columns": [{"name": "id", "type": "number"}, {"name": "name", "type": "string"},
                 {"name": "manager_id", "type": "number"}, {"name": "depot_id", "type": "number"},
                 {"name": "salary", "type": "number"}],
     "joins": [{"to": "staff", "on": "manager_id = staff.id", "relationship": "many_to_one", "alias": "manager"},
               {"to": "depots", "on": "depot_id = depots.id", "relationship": "many_to_one"}],
     "measures": [{"name": "headcount", "expr": "count(*)"}, {"name": "payroll", "expr": "sum(salary)"}]},
    {"name": "restocks", "table": "restocks", "grain": ["id"],
     "columns": [{"name": "id", "type": "number"}, {"name": "sku", "type": "string"},
                 {"name": "restocked_on", "type": "time"}],
     "default_time_dimension": {"column": "restocked_on"},
     "measures": [{"name": "restock_count", "expr": "count(*)"}]},
    {"name": "calendar", "table": "calendar", "grain": ["day"],
     "columns": [{"name": "day", "type": "time"}, {"name": "fiscal_quarter", "type": "string"}],
     "time_spine": {"column": "day", "custom_granularities": [{"name": "fiscal_quarter"}]}},
    {"name": "balances", "table": "balances", "grain": ["depot_id", "on_day"],
     "columns": [{"name": "depot_id", "type": "number"}, {"name": "on_day", "type": "time"},
                 {"name": "amount", "type": "number"}],
     "joins": [{"to": "depots", "on": "depot_id = depots.id", "relationship": "many_to_one"}],
     "measures": [{"name": "closing_total", "expr": "sum(amount)", "non_additive": {"column": "on_day", "choose": "max"}},
                  {"name": "opening_by_depot", "expr": "sum(amount)",
                   "non_additive": {"column": "on_day", "choose": "min", "per": ["depot_id"]}}]},
    {"name": "logins", "table": "logins", "grain": ["id"],
     "columns": [{"name": "id", "type": "number"}, {"name": "logged_at", "type": "time", "natural_granularity": "hour"}],
     "default_time_dimension": {"column": "logged_at"},
     "measures": [{"name": "login_count", "expr": "count(*)"},
                  {"name": "logins_3h", "expr": "count(*)", "window": {"kind": "cumulative", "window": "3 hours"}},
                  {"name": "logins_hour_earlier", "expr": "count(*)", "window": {"kind": "offset", "window": "1 hour"}}]},
    {"name": "hours", "table": "hours", "grain": ["hour"], "columns": [{"name": "hour", "type": "time"}],
     "time_spine": {"column": "hour", "granularity": "hour"}},
    {"name": "sku_totals", "grain": ["sku"],
     "sql": "WITH moved AS (SELECT sku, qty FROM shipments WHERE depot_id IS NOT NULL)\n"
            "SELECT sku, SUM(qty) AS moved_units, COUNT(*) AS moves FROM moved GROUP BY sku",
     "columns": [{"name": "sku", "type": "string"}, {"name": "moved_units", "type": "number"},
                 {"name": "moves", "type": "number"}],
     "measures": [{"name": "total_moved", "expr": "sum(moved_units)"}]},
]  # fmt: skip


def write_ops_layer(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for source in OPS_SOURCES:
        (folder / f"{source['name']}.yaml").write_text(json.dumps(source, indent=2))  # JSON is YAML
    return folder


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")  # SQLite's own text form of a timestamp
    if isinstance(value, date):
        return value.isoformat()
    return value


@dataclass
class Engine:
    name: str  # duckdb | sqlite | postgres
    run: Callable[[str], list[tuple[Any, ...]]]

    def hand(self, sql: str) -> str:
        """Per-engine spellings in hand-written SQL: {minute(x)}, {hour(x)}, {day(x)}, {month(x)}, {quarter(x)}, {week(x)},
        {year(x)}, and dates moved by {shift(x, -7 days)} / {shift(x, +1 months)} / {shift(x, -1 hours)}."""

        def swap(match: re.Match[str]) -> str:
            grain, col = match.group(1), match.group(2)
            if grain in ("hour", "minute"):
                if self.name == "sqlite":
                    return f"strftime('%Y-%m-%d %H:{'00' if grain == 'hour' else '%M'}:00', {col})"
                return f"date_trunc('{grain}', {col})"
            if self.name == "sqlite":
                return {
                    "day": f"date({col})",
                    "year": f"date({col}, 'start of year')",
                    "month": f"date({col}, 'start of month')",
                    "week": f"date({col}, '-6 days', 'weekday 1')",
                    "quarter": f"date({col}, 'start of month', '-' || ((CAST(strftime('%m', {col}) AS INTEGER) - 1) % 3) || ' months')",
                }[grain]
            return f"CAST(date_trunc('{grain}', {col}) AS DATE)"

        def shift(match: re.Match[str]) -> str:
            col, count, unit = match.group(1), match.group(2), match.group(3)
            if unit == "hours":
                if self.name == "sqlite":
                    return f"strftime('%Y-%m-%d %H:%M:%S', {col}, '{count} hours')"
                return f"({col} + INTERVAL '{count.lstrip('+')} hours')"
            if self.name == "sqlite":
                return f"date({col}, '{count} {unit}')"
            return f"CAST({col} + INTERVAL '{count.lstrip('+')} {unit}' AS DATE)"

        sql = re.sub(r"\{shift\(([^,]*), ([-+]\d+) (days|months|hours)\)\}", shift, sql)
        return re.sub(r"\{(minute|hour|day|month|quarter|week|year)\(([^)]*)\)\}", swap, sql)


def normalise(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    out = []
    for row in rows:
        values = []
        for value in row:
            if isinstance(value, datetime):
                value = value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
            elif isinstance(value, date):
                value = value.isoformat()
            elif isinstance(value, Decimal | float):
                value = round(float(value), 4)
            elif isinstance(value, bool):
                value = int(value)
            elif isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\d 00:00:00", value):
                value = value[:10]
            values.append(value)
        out.append(tuple(values))
    return out


def sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((v is None, str(type(v)), v if v is not None else 0) for v in row)


@pytest.fixture(scope="session", params=["duckdb", "sqlite", "postgres"])
def sl_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    tmp = tmp_path_factory.mktemp(f"sl-{request.param}")
    if request.param == "duckdb":
        import duckdb

        path = demo.build_duckdb(tmp / "shop.duckdb")
        con = duckdb.connect(str(path))
        for statement in OPS_DDL:
            con.execute(statement)
        for table, data in OPS_ROWS.items():
            con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' for _ in data[0])})", data)
        yield Engine("duckdb", lambda sql: con.execute(sql).fetchall())
        con.close()
    elif request.param == "sqlite":
        path = demo.build_sqlite(tmp / "shop.db")
        con = sqlite3.connect(path, check_same_thread=False)
        for statement in OPS_DDL:
            con.execute(statement)
        for table, data in OPS_ROWS.items():
            con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' for _ in data[0])})",
                            [tuple(_plain(v) for v in r) for r in data])  # fmt: skip
        con.commit()
        yield Engine("sqlite", lambda sql: con.execute(sql).fetchall())
        con.close()
    else:
        import psycopg

        schema = f"ktx_sl_{uuid.uuid4().hex[:10]}"
        try:
            con = psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            _unavailable("PostgreSQL at 127.0.0.1:5432", exc)
        demo.load_postgres(con, schema)
        con.execute(f"SET search_path TO {schema}")
        for statement in OPS_DDL:
            con.execute(statement)
        with con.cursor() as cur:
            for table, data in OPS_ROWS.items():
                cur.executemany(f"INSERT INTO {table} VALUES ({', '.join('%s' for _ in data[0])})", data)
        yield Engine("postgres", lambda sql: con.execute(sql).fetchall())
        con.execute(f"DROP SCHEMA {schema} CASCADE")
        con.close()
