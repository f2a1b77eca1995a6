"""Introspection on every local engine: names, kinds, keys, comments, types, estimates, scope."""

from __future__ import annotations

from tests.integration.conftest import make_connector


def _tables(catalog):
    return {t.name: t for t in catalog.tables}


def test_finds_tables_views_and_awkward_names(warehouse, connector):
    tables = _tables(connector.introspect())
    assert set(tables) == {"customers", "orders", "order items", "shipments", "CustomerAccounts", "café", "paid_orders"}
    assert tables["paid_orders"].kind == "view"
    assert tables["customers"].kind == "table"
    assert [c.name for c in tables["customers"].columns] == ["id", "Full Name", "email", "select", "region"]
    assert [c.name for c in tables["café"].columns] == ["naïve", "größe"]
    assert [c.name for c in tables["CustomerAccounts"].columns] == ["AccountID", "OwnerName"]
    if warehouse.schema:
        assert tables["orders"].schema == warehouse.schema


def test_primary_and_foreign_keys(warehouse, connector):
    tables = _tables(connector.introspect())
    assert tables["customers"].primary_key == ["id"]
    assert tables["order items"].primary_key == ["order_id", "line_no"]
    assert tables["CustomerAccounts"].primary_key == ["AccountID"]
    assert tables["café"].primary_key == []
    (orders_fk,) = tables["orders"].foreign_keys
    assert (orders_fk.columns, orders_fk.ref_table, orders_fk.ref_columns) == (["customer_id"], "customers", ["id"])
    (composite,) = tables["shipments"].foreign_keys
    assert composite.columns == ["order_id", "line_no"]
    assert (composite.ref_table, composite.ref_columns) == ("order items", ["order_id", "line_no"])


def test_types_nullability_and_comments(warehouse, connector):
    tables = _tables(connector.introspect())
    orders = {c.name: c for c in tables["orders"].columns}
    assert orders["id"].type == "number" and not orders["id"].nullable
    assert orders["amount"].type == "number"
    assert orders["status"].type == "string" and orders["status"].nullable
    assert orders["created_at"].type == "time"
    expected_bool = "number" if warehouse.engine == "mysql" else "boolean"  # MySQL BOOLEAN is TINYINT(1)
    assert orders["is_gift"].type == (expected_bool if warehouse.engine != "sqlite" else "boolean")
    assert (
        orders["status"].native_type.lower().startswith("varchar")
        or "character varying" in orders["status"].native_type
    )
    if warehouse.engine != "sqlite":
        assert tables["customers"].comment == "People who buy things"
        email = tables["customers"].column("email")
        assert email.comment == "Primary contact address"


def test_row_estimates_where_the_engine_keeps_them(warehouse, connector):
    tables = _tables(connector.introspect())
    if warehouse.engine in ("duckdb", "postgres", "mysql"):
        assert tables["orders"].row_estimate == 40
    else:
        assert tables["orders"].row_estimate is None


def test_scope_enabled_tables_and_schema_filters(warehouse):
    qualified = f"{warehouse.schema}.orders" if warehouse.schema else "orders"
    scoped = make_connector(warehouse, enabled_tables=[qualified, "order items"])
    try:
        assert {t.name for t in scoped.introspect().tables} == {"orders", "order items"}
    finally:
        scoped.close()
    if warehouse.engine in ("duckdb", "postgres", "mysql"):
        key = "schemas"
        other = make_connector(warehouse, **{key: ["no_such_schema"]})
        if warehouse.engine == "mysql":
            other = make_connector(warehouse, schemas=["no_such_schema"])
        try:
            assert other.introspect().tables == []
        finally:
            other.close()


def test_introspection_query_count_is_constant(warehouse, connector):
    connector.introspect()
    # Catalog queries are batched per engine, never one per table.
    assert connector.queries_issued <= 4
