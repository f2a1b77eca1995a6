"""A small, deterministic shop warehouse for the demo and the compiler's correctness tests.

Seven tables with the classic traps built in:
- fan trap: `orders.amount` summed next to `order_items` rows counts each order once per item;
- chasm trap: `orders` and `support_tickets` both hang off `customers` (many-to-one each);
- NULL keys: guest orders have no customer, some customers have no region;
- empty members: the region "Antarctica" has no customers, one product never sold.
The same rows load into DuckDB, SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

# table → [(column, type)], where type is one of int, text, date, money
SCHEMA: dict[str, list[tuple[str, str]]] = {
    "regions": [("id", "int"), ("name", "text")],
    "customers": [("id", "int"), ("name", "text"), ("email", "text"), ("segment", "text"), ("region_id", "int"),
                  ("referred_by", "int"), ("signed_up_at", "date")],
    "products": [("id", "int"), ("name", "text"), ("category", "text"), ("list_price", "money")],
    "orders": [("id", "int"), ("customer_id", "int"), ("ship_region_id", "int"), ("ordered_at", "date"),
               ("status", "text"), ("amount", "money"), ("discount", "money")],
    "order_items": [("id", "int"), ("order_id", "int"), ("product_id", "int"), ("quantity", "int"),
                    ("unit_price", "money")],
    "refunds": [("id", "int"), ("order_id", "int"), ("refunded_at", "date"), ("amount", "money"), ("reason", "text")],
    "support_tickets": [("id", "int"), ("customer_id", "int"), ("opened_at", "date"), ("priority", "text"),
                        ("satisfaction", "int")],
}  # fmt: skip
FOREIGN_KEYS = {
    "customers": [("region_id", "regions"), ("referred_by", "customers")],
    "orders": [("customer_id", "customers"), ("ship_region_id", "regions")],
    "order_items": [("order_id", "orders"), ("product_id", "products")],
    "refunds": [("order_id", "orders")],
    "support_tickets": [("customer_id", "customers")],
}
SQL_TYPES = {
    "duckdb": {"int": "INTEGER", "text": "VARCHAR", "date": "DATE", "money": "DECIMAL(12,2)"},
    "sqlite": {"int": "INTEGER", "text": "TEXT", "date": "DATE", "money": "NUMERIC"},
    "postgres": {"int": "INTEGER", "text": "TEXT", "date": "DATE", "money": "NUMERIC(12,2)"},
}


def rows(seed: int = 7) -> dict[str, list[tuple[Any, ...]]]:
    rng = random.Random(seed)
    money = lambda low, high: Decimal(rng.randint(low * 100, high * 100)) / 100  # noqa: E731
    start = date(2025, 1, 1)
    regions = [(1, "North"), (2, "South"), (3, "East"), (4, "West"), (5, "Antarctica")]
    segments = ["consumer", "smb", "enterprise"]
    customers = []
    for cid in range(1, 61):
        region = None if cid % 13 == 0 else rng.choice([1, 1, 2, 3, 4])
        referred = rng.randint(1, cid - 1) if cid > 5 and rng.random() < 0.3 else None
        customers.append((cid, f"Customer {cid:02d}", f"c{cid}@example.com", rng.choice(segments), region, referred,
                          start + timedelta(days=rng.randint(0, 200))))  # fmt: skip
    categories = {"Books": (8, 40), "Games": (20, 70), "Garden": (15, 120), "Kitchen": (10, 90)}
    products = []
    for pid in range(1, 21):
        category = list(categories)[pid % 4]
        products.append((pid, f"Product {pid:02d}", category, money(*categories[category])))
    sold = [p for p in products if p[0] != 20]  # product 20 never sells
    orders, items, refunds = [], [], []
    item_id = refund_id = 0
    for oid in range(1, 301):
        customer = None if oid % 17 == 0 else rng.randint(1, 59)  # guests; customer 60 never orders
        ordered = start + timedelta(days=rng.randint(0, 364))
        status = rng.choices(["paid", "refunded", "cancelled", "pending"], weights=[70, 10, 8, 12])[0]
        lines = []
        for _ in range(rng.randint(1, 4)):
            product = rng.choice(sold)
            item_id += 1
            lines.append((item_id, oid, product[0], rng.randint(1, 3), product[3]))
        amount = sum((q * p for _, _, _, q, p in lines), Decimal("0"))
        discount = Decimal("0.00") if rng.random() < 0.7 else money(1, 10)
        ship = rng.choice([1, 2, 3, 4]) if rng.random() < 0.9 else None
        orders.append((oid, customer, ship, ordered, status, amount, discount))
        items += lines
        if status == "refunded" or (status == "paid" and rng.random() < 0.05):
            refund_id += 1
            part = amount if status == "refunded" else (amount / 2).quantize(Decimal("0.01"))
            refunds.append((refund_id, oid, ordered + timedelta(days=rng.randint(1, 30)), part,
                            rng.choice(["damaged", "late", "changed mind"])))  # fmt: skip
    tickets = []
    for tid in range(1, 121):
        customer = None if tid % 29 == 0 else rng.randint(1, 60)
        satisfaction = None if rng.random() < 0.2 else rng.randint(1, 5)
        tickets.append((tid, customer, start + timedelta(days=rng.randint(0, 364)),
                        rng.choice(["low", "normal", "high"]), satisfaction))  # fmt: skip
    return {"regions": regions, "customers": customers, "products": products, "orders": orders,
            "order_items": items, "refunds": refunds, "support_tickets": tickets}  # fmt: skip


def ddl(dialect: str, schema: str | None = None) -> list[str]:
    types = SQL_TYPES[dialect]
    prefix = f"{schema}." if schema else ""
    out = []
    for table, cols in SCHEMA.items():
        body = [f"{name} {types[kind]}" + (" PRIMARY KEY" if name == "id" else "") for name, kind in cols]
        if dialect != "duckdb":  # DuckDB FKs are enforced on insert order; the others document them
            body += [f"FOREIGN KEY ({c}) REFERENCES {prefix}{t}(id)" for c, t in FOREIGN_KEYS.get(table, [])]
        out.append(f"CREATE TABLE {prefix}{table} ({', '.join(body)})")
    return out


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def build_duckdb(path: Path) -> Path:
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    try:
        for statement in ddl("duckdb"):
            con.execute(statement)
        for table, data in rows().items():
            marks = ", ".join("?" for _ in SCHEMA[table])
            con.executemany(f"INSERT INTO {table} VALUES ({marks})", data)
    finally:
        con.close()
    return path


def build_sqlite(path: Path) -> Path:
    import sqlite3

    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    try:
        for statement in ddl("sqlite"):
            con.execute(statement)
        for table, data in rows().items():
            marks = ", ".join("?" for _ in SCHEMA[table])
            con.executemany(f"INSERT INTO {table} VALUES ({marks})", [tuple(map(_sqlite_value, r)) for r in data])
        con.commit()
    finally:
        con.close()
    return path


def load_postgres(connection: Any, schema: str) -> None:
    """Create the tables in `schema` on an open psycopg connection (autocommit or caller commits)."""
    with connection.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        cur.execute(f"CREATE SCHEMA {schema}")
        for statement in ddl("postgres", schema):
            cur.execute(statement)
        for table, data in rows().items():
            marks = ", ".join("%s" for _ in SCHEMA[table])
            cur.executemany(f"INSERT INTO {schema}.{table} VALUES ({marks})", data)
