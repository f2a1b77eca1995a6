"""Relationship discovery on public sample databases no one here wrote, every declared constraint stripped, no LLM:
the keys and join directions ktx writes are checked against the ones the databases declare.

Data: ../shared/data/realdb (Sakila for PostgreSQL, Chinook for SQLite; see its README). Skips where it is absent.
The full scoring of all four databases is `python benchmarks/real_schemas.py`.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from ktx.project.yamlio import safe_load

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "realdb"
ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"no sample databases at {DATA}")


def _layer(root: Path, connection: str) -> dict[str, dict[str, Any]]:
    tables: dict[str, dict[str, Any]] = {}
    for shard in sorted((root / "semantic-layer" / connection / "_schema").glob("*.yaml")):
        tables.update(safe_load(shard.read_text())["tables"])
    return tables


def _pk(tables: dict[str, dict[str, Any]], name: str) -> list[str]:
    return [c["name"] for c in tables[name]["columns"] if c.get("pk")]


def _joins(tables: dict[str, dict[str, Any]], name: str) -> dict[str, str]:
    """The tables `name` points at (many-to-one or one-to-one from its side): the manifest also lists the
    reverse side of each link as one_to_many."""
    joins = tables[name].get("joins") or []
    return {j["to"]: j["on"].replace("`", "") for j in joins if j.get("relationship") != "one_to_many"}


def _ingest(run_ktx, project: Path, connection: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    config = project / "ktx.yaml"
    config.write_text(
        config.read_text().replace("connections: {}", f"connections:\n  {name}: {json.dumps(connection)}")
    )
    result = run_ktx("ingest", name, cwd=project)
    assert result.returncode == 0, result.stderr
    return _layer(project, name)


@pytest.fixture
def stripped_sakila():
    psycopg = pytest.importorskip("psycopg")
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    try:
        admin = psycopg.connect(ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    name = f"ktx_sakila_{uuid.uuid4().hex[:8]}"
    admin.execute(f"CREATE DATABASE {name}")
    try:
        dump = gzip.decompress((DATA / "sakila.sql.gz").read_bytes())
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-d", name], input=dump, capture_output=True, check=True
        )
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}", autocommit=True) as db:
            for (table,) in db.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'payment_p2007_%'"):
                db.execute(f"DROP TABLE {table} CASCADE")  # empty inheritance partitions of payment
            constraints = db.execute(
                "SELECT conrelid::regclass::text, conname FROM pg_constraint "
                "WHERE contype IN ('f', 'p', 'u') AND connamespace = 'public'::regnamespace ORDER BY contype = 'f' DESC"
            ).fetchall()
            for table, constraint in constraints:
                db.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}" CASCADE')
            indexes = db.execute(
                "SELECT indexrelid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
                "WHERE i.indisunique AND c.relnamespace = 'public'::regnamespace"
            ).fetchall()
            for (index,) in indexes:
                db.execute(f"DROP INDEX {index}")
            for table, column in db.execute(
                "SELECT table_name, column_name FROM information_schema.columns c JOIN pg_tables t "
                "ON t.tablename = c.table_name AND t.schemaname = c.table_schema "
                "WHERE c.table_schema = 'public' AND c.is_nullable = 'NO'"
            ).fetchall():
                db.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" DROP NOT NULL')
        yield name
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def test_sakila_keys_and_join_directions_come_from_the_data(run_ktx, project, stripped_sakila):
    tables = _ingest(
        run_ktx, project, {"driver": "postgres", "url": f"postgresql://postgres@127.0.0.1:5432/{stripped_sakila}"}, "s"
    )
    assert not [t for t in tables if t.startswith("payment_p2007")]
    # payment.rental_id: 16,044 distinct in 16,049 rows — the profile saw duplicates, so it is not the key.
    assert _pk(tables, "payment") == ["payment_id"]
    # Each customer has its own address and each film one category, so both sides look unique: the column named
    # after its own table (address.address_id, film.film_id) is the parent, never the child.
    assert "address" in _joins(tables, "customer")
    assert "customer" not in _joins(tables, "address")
    assert "film" in _joins(tables, "film_category")
    assert "film_category" not in _joins(tables, "film")
    assert "film_category" not in _joins(tables, "category")
    assert "category" in _joins(tables, "film_category")
    # A junction table is keyed by its references together, although each film happens to have one category.
    assert sorted(_pk(tables, "film_category")) == ["category_id", "film_id"]
    assert sorted(_pk(tables, "film_actor")) == ["actor_id", "film_id"]
    assert "actor" in _joins(tables, "film_actor")


def test_chinook_with_names_and_types_only(run_ktx, project, tmp_path):
    original = tmp_path / "chinook-orig.sqlite"
    original.write_bytes(gzip.decompress((DATA / "chinook.sqlite.gz").read_bytes()))
    stripped = tmp_path / "chinook.sqlite"
    src, dst = sqlite3.connect(original), sqlite3.connect(stripped)
    for (table,) in src.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"):
        columns = src.execute(f'PRAGMA table_info("{table}")').fetchall()
        dst.execute(f'CREATE TABLE "{table}" ({", ".join(f"{c[1]} {c[2]}" for c in columns)})')
        dst.executemany(
            f'INSERT INTO "{table}" VALUES ({", ".join("?" * len(columns))})', src.execute(f'SELECT * FROM "{table}"')
        )
    dst.commit()
    src.close()
    dst.close()
    tables = _ingest(run_ktx, project, {"driver": "sqlite", "path": str(stripped)}, "c")
    declared = {"Album": "AlbumId", "Artist": "ArtistId", "Customer": "CustomerId", "Invoice": "InvoiceId",
                "Track": "TrackId", "Genre": "GenreId", "MediaType": "MediaTypeId"}  # fmt: skip
    for table, key in declared.items():
        assert _pk(tables, table) == [key], table
    assert "Artist" in _joins(tables, "Album") and "Album" not in _joins(tables, "Artist")
    assert "Invoice" in _joins(tables, "InvoiceLine") and "InvoiceLine" not in _joins(tables, "Invoice")
    # Links whose names do not line up with a table: the customer's support rep and the employee's manager.
    assert _joins(tables, "Customer")["Employee"] == "Customer.SupportRepId = Employee.EmployeeId"
    assert _joins(tables, "Employee")["Employee"] == "Employee.ReportsTo = Employee.EmployeeId"


@pytest.fixture
def stripped_classicmodels():
    pymysql = pytest.importorskip("pymysql")
    if shutil.which("mysql") is None:
        pytest.skip("the mysql client is not installed")
    try:
        admin = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True, connect_timeout=3)
    except pymysql.err.OperationalError:
        pytest.skip("MariaDB is not running on 127.0.0.1:3306")
    suffix = uuid.uuid4().hex[:8]
    original, stripped = f"ktx_cm_orig_{suffix}", f"ktx_cm_{suffix}"
    try:
        dump = gzip.decompress((DATA / "classicmodels.sql.gz").read_bytes()).replace(
            b"`helderlee`", f"`{original}`".encode()
        )
        subprocess.run(["mysql", "-h", "127.0.0.1", "-u", "root"], input=dump, capture_output=True, check=True)
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {stripped}")
            cur.execute(f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{original}'")
            for (table,) in cur.fetchall():
                # CREATE TABLE … AS SELECT copies names, types and rows: no keys, no indexes.
                cur.execute(f"CREATE TABLE {stripped}.`{table}` AS SELECT * FROM {original}.`{table}`")
        yield stripped
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {original}")
            cur.execute(f"DROP DATABASE IF EXISTS {stripped}")
        admin.close()


def test_classicmodels_text_code_keys_and_self_references(run_ktx, project, stripped_classicmodels):
    tables = _ingest(
        run_ktx, project, {"driver": "mysql", "url": f"mysql://root@127.0.0.1:3306/{stripped_classicmodels}"}, "m"
    )
    # A text code with no key suffix, into a 7-row table: the column is named as its table.
    assert _pk(tables, "productlines") == ["productLine"]
    assert _joins(tables, "products")["productlines"] == "products.productLine = productlines.productLine"
    assert _joins(tables, "employees")["employees"] == "employees.reportsTo = employees.employeeNumber"
    # orderNumber names orders, not (by abbreviation) orderdetails itself.
    assert _joins(tables, "orderdetails")["orders"] == "orderdetails.orderNumber = orders.orderNumber"
