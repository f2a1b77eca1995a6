"""Scan queries come from cached templates; each must equal the tree it was rendered from, in every dialect,
whatever the names (spaces, quotes, reserved words, placeholder look-alikes)."""

from __future__ import annotations

import pytest

from ktx.scan.profile import ProfileColumn, profile_sql, profile_tree
from ktx.scan.relationships.model import TableInfo
from ktx.scan.relationships.validation import validation_sql, validation_tree

DIALECTS = ["postgres", "duckdb", "mysql", "sqlite", "snowflake", "bigquery", "tsql", "clickhouse"]
COLUMNS = [
    ProfileColumn("id", "number"),
    ProfileColumn("Full Name", "string"),
    ProfileColumn("it's", "time"),
    ProfileColumn("select", "boolean"),
    ProfileColumn('we"ird`]', "string"),
    ProfileColumn("ktx__ph__c0__", "number"),  # a name that looks like a placeholder is just a name
]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_profile_template_equals_the_tree(dialect):
    for schema, table in (("my schema", "Order Items"), (None, "select")):
        expected = profile_tree(schema, table, COLUMNS, 250, None).sql(dialect=dialect)
        # (DuckDB's own UNPIVOT replaces one step by default: tests/integration/test_profile_duckdb_unpivot.py.)
        assert profile_sql(schema, table, COLUMNS, 250, dialect, None, engine_specific=False) == expected


@pytest.mark.parametrize("dialect", DIALECTS)
def test_validation_template_equals_the_tree(dialect):
    child, parent = TableInfo("a", "Order Items", "my s"), TableInfo("b", "select")
    for cols in ((("x",), ("y",)), (("a b", "ktx__ph__p0__"), ("d", 'e"f'))):
        expected = validation_tree(child, cols[0], parent, cols[1], 500).sql(dialect=dialect)
        assert validation_sql(child, cols[0], parent, cols[1], 500, dialect) == expected
