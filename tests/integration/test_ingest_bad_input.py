"""Database ingest against a hostile PostgreSQL: a role that may not read pg_constraint nor one of the tables,
and column types ktx has no special knowledge of (json, tsvector, enums, arrays, ranges, money, xml, …). Every
problem is one warning line; the rest of the scan completes and the layer still answers queries."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from ktx.ingest.run import run_ingest
from ktx.project.project import Project, init_project
from ktx.project.yamlio import safe_load
from ktx.semantic.service import run_query
from ktx.services import Services

psycopg = pytest.importorskip("psycopg")
ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def hostile_database():
    try:
        admin = psycopg.connect(ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    name = f"ktx_bad_{uuid.uuid4().hex[:8]}"
    role = f"{name}_reader"
    admin.execute(f"CREATE DATABASE {name}")
    admin.execute(f"CREATE ROLE {role} LOGIN")
    try:
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}", autocommit=True) as db:
            db.execute("CREATE SCHEMA app")
            db.execute("CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy')")
            db.execute(
                "CREATE TABLE app.odd (id serial PRIMARY KEY, doc json, docb jsonb, search tsvector, feeling app.mood, "
                "tags text[], span interval, price money, uid uuid, blob bytea, pt point, x xml, r int4range)"
            )
            db.execute(
                "INSERT INTO app.odd (doc, docb, search, feeling, tags, span, price, uid, blob, pt, x, r) "
                "SELECT json_build_object('n', g), jsonb_build_object('n', g), to_tsvector('english', 'row ' || g), "
                "(ARRAY['sad','ok','happy'])[1 + g % 3]::app.mood, ARRAY['a', 'b' || g], make_interval(days => g), "
                "(g * 1.5)::numeric::money, gen_random_uuid(), decode('00ff', 'hex'), point(g, g), "
                "xmlparse(content '<a>' || g || '</a>'), int4range(g, g + 10) FROM generate_series(1, 40) g"
            )
            db.execute("CREATE TABLE app.customers (id int PRIMARY KEY, region text)")
            db.execute("CREATE TABLE app.orders (id int PRIMARY KEY, customer_id int, amount numeric(10, 2))")
            db.execute("INSERT INTO app.customers SELECT g, CASE WHEN g % 2 = 0 THEN 'north' ELSE 'south' END "
                       "FROM generate_series(1, 20) g")  # fmt: skip
            db.execute("INSERT INTO app.orders SELECT g, 1 + g % 20, g FROM generate_series(1, 100) g")
            db.execute("CREATE TABLE app.secret (id int PRIMARY KEY, token text)")
            db.execute(f"GRANT USAGE ON SCHEMA app TO {role}")
            db.execute(f"GRANT SELECT ON app.odd, app.customers, app.orders TO {role}")
            db.execute("REVOKE SELECT ON pg_catalog.pg_constraint FROM PUBLIC")
        yield name, role
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"DROP ROLE IF EXISTS {role}")
        admin.close()


def test_permission_denied_and_unknown_types_are_warnings_not_failures(hostile_database, tmp_path: Path) -> None:
    name, role = hostile_database
    root = tmp_path / "proj"
    init_project(root)
    entry = {"driver": "postgres", "url": f"postgresql://{role}@127.0.0.1:5432/{name}", "schemas": ["app"]}
    Project(root).update_config(lambda d: d.__setitem__("connections", {"wh": entry}), "add wh")
    with Services(Project(root)) as services:
        [result] = run_ingest(services, "wh").results
    assert result.status == "done", result.message
    codes = {w["code"]: w["message"] for w in result.report["warnings"]}
    assert "catalog_permission_denied" in codes and "pg_constraint" in codes["catalog_permission_denied"]
    secret_warnings = [w for w in result.report["warnings"] if "secret" in w["message"]]
    assert secret_warnings and all("permission denied" in w["message"] for w in secret_warnings)
    tables = safe_load(next((root / "semantic-layer/wh/_schema").glob("*.yaml")).read_text())["tables"]
    assert {"odd", "customers", "orders", "secret"} <= set(tables)
    odd = {c["name"]: c for c in tables["odd"]["columns"]}
    assert set(odd) >= {"doc", "docb", "search", "feeling", "tags", "span", "price", "uid", "blob", "pt", "x", "r"}
    assert (odd["feeling"]["type"], odd["tags"]["type"], odd["r"]["type"]) == ("app.mood", "text[]", "int4range")
    # Types without a numeric cast are profiled as text; only money (which PostgreSQL will not cast to double)
    # loses its value range, and says so.
    failed = {w["message"].split(":")[0] for w in result.report["warnings"] if w["code"] == "profile_failed"}
    assert failed == {"odd.price", "secret"}
    # Keys could not be read, so they were inferred from the data, and the join was found and validated.
    assert any(c.get("pk") for c in tables["customers"]["columns"] if c["name"] == "id")
    assert ("customers", "many_to_one") in {(j["to"], j["relationship"]) for j in tables["orders"]["joins"]}
    with Services(Project(root)) as services:
        rows = run_query(
            services, "wh", {"measures": ["count(orders.id)"], "dimensions": ["customers.region"]}, execute=True
        ).to_json()["rows"]
    assert sorted(int(r[1]) for r in rows) == [50, 50]


def _pg_project(tmp_path: Path, url: str, schemas: list[str]) -> Path:
    root = tmp_path / "proj"
    init_project(root)
    entry = {"driver": "postgres", "url": url, "schemas": schemas}
    Project(root).update_config(lambda d: d.__setitem__("connections", {"wh": entry}), "add wh")
    return root


def test_a_table_dropped_mid_scan_is_a_warning_and_the_rest_completes(tmp_path: Path, monkeypatch) -> None:
    try:
        admin = psycopg.connect(ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    schema = f"ktx_drop_{uuid.uuid4().hex[:8]}"
    try:
        admin.execute(f"CREATE SCHEMA {schema}")
        for name in ("keep_a", "keep_b", "doomed"):
            admin.execute(f"CREATE TABLE {schema}.{name} (id int PRIMARY KEY, label text)")
            admin.execute(f"INSERT INTO {schema}.{name} SELECT g, 'x' || g FROM generate_series(1, 30) g")
        import ktx.ingest.database as database

        original = database.profile_infos

        def drop_then_profile(*args, **kwargs):
            admin.execute(f"DROP TABLE {schema}.doomed")  # after introspection listed it, before it is read
            return original(*args, **kwargs)

        monkeypatch.setattr(database, "profile_infos", drop_then_profile)
        root = _pg_project(tmp_path, "postgresql://postgres@127.0.0.1:5432/test", [schema])
        with Services(Project(root)) as services:
            [result] = run_ingest(services, "wh").results
        assert result.status == "done", result.message
        doomed = [w for w in result.report["warnings"] if "doomed" in w["message"]]
        assert doomed and all(w["code"] == "profile_failed" for w in doomed)
        assert "does not exist" in doomed[0]["message"]
        tables = safe_load(next((root / "semantic-layer/wh/_schema").glob("*.yaml")).read_text())["tables"]
        assert {"keep_a", "keep_b"} <= set(tables)
        assert all(tables[t]["descriptions"].get("profile") for t in ("keep_a", "keep_b"))
    finally:
        admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.close()


def test_wrong_credentials_fail_the_target_in_one_line_without_the_password(tmp_path: Path) -> None:
    root = _pg_project(tmp_path, "postgresql://no_such_role_ktx:pw-Do-Not-Print@127.0.0.1:5432/test", ["public"])
    head = Project(root).git.head()
    with Services(Project(root)) as services:
        [result] = run_ingest(services, "wh").results
    assert result.status == "failed"
    assert "\n" not in result.message and "no_such_role_ktx" in result.message
    assert "pw-Do-Not-Print" not in result.message + str(result.report)
    assert Project(root).git.head() == head and not (root / "semantic-layer" / "wh").exists()
    traces = "".join(p.read_text() for p in (root / ".ktx").rglob("*.jsonl"))
    assert "pw-Do-Not-Print" not in traces
