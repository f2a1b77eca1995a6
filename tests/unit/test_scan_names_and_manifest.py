"""Name normalisation for relationship discovery, and the shard writer's YAML (read back by a YAML parser)."""

from __future__ import annotations

import pytest

from ktx.project.yamlio import safe_load
from ktx.scan.manifest import dump_shard, join_columns, merge_entry, scalar, table_ref
from ktx.scan.relationships.names import is_abbreviation, singularize, table_tokens, tokens
from ktx.scan.snapshot import source_name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("customer_id", ("customer", "id")),
        ("CustomerID", ("customer", "id")),
        ("CUSTOMERID", ("customer", "id")),
        ("o_custkey", ("o", "cust", "key")),
        ("l_linenumber", ("l", "line", "number")),
        ("PlanCode", ("plan", "code")),
        ("categoría_id", ("categoria", "id")),
        ("Größe", ("grosse",)),
        ("paid", ("paid",)),  # not `pa` + `id`
        ("valid", ("valid",)),
        ("address2_id", ("address", "2", "id")),
    ],
)
def test_tokens(name, expected):
    assert tokens(name) == expected


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ("dim_customer", ("customer",)),
        ("stg_orders", ("order",)),
        ("CUST_MST", ("cust",)),
        ("ProductCategories", ("product", "category")),
        ("main.order_lines", ("order", "line")),
        ("status", ("status",)),
    ],
)
def test_table_tokens(table, expected):
    assert table_tokens(table) == expected


def test_inflection_and_abbreviation_rules():
    assert singularize("categories") == "category"
    assert singularize("boxes") == "box"
    assert singularize("address") == "address"
    assert is_abbreviation("cust", "customer")
    assert is_abbreviation("cstmr", "customer")
    assert not is_abbreviation("cat", "dog")


@pytest.mark.parametrize(
    "value",
    ["on", "yes", "No", "off", "null", "1e3", "0123", "12", "a: b", "x #y", "Text, 3 values: a, b", '"q"', "", "-x",
     "[a]", "{a}", "*ref", "&anchor", "!tag", "%x", "@at", "`tick", "a\nb", "trailing: ", "ünïcode", "~"],
)  # fmt: skip
def test_every_scalar_reads_back_as_the_same_string(value):
    text = dump_shard({"t": {"table": value, "columns": [{"name": value, "type": value}]}})
    data = safe_load(text)["tables"]["t"]
    assert data["table"] == value
    assert data["columns"][0] == {"name": value, "type": value}


def test_on_is_quoted_for_yaml_1_1():
    assert scalar("on") == '"on"'
    text = dump_shard({"a": {"table": "a", "columns": [], "joins": [{"to": "b", "on": "a.x = b.y"}]}})
    assert '{to: b, "on": a.x = b.y}' in text


@pytest.mark.parametrize(
    ("dialect", "schema", "name", "expected"),
    [
        ("postgres", "public", "orders", "public.orders"),
        ("postgres", "public", "OrderLines", 'public."OrderLines"'),
        ("postgres", "s", "order items", 's."order items"'),
        ("mysql", "shop", "order", "shop.`order`"),
        ("duckdb", "main", "café", "main.café"),
        ("snowflake", "PUBLIC", "ORDERS", "PUBLIC.ORDERS"),
    ],
)
def test_table_ref_quotes_only_where_the_dialect_needs_it(dialect, schema, name, expected):
    assert table_ref(schema, name, dialect) == expected


def test_source_names_are_word_characters():
    assert source_name("order items") == "order_items"
    assert source_name("2024-sales") == "t_2024_sales"
    assert source_name("café") == "café"


def test_join_columns_reads_quoted_and_unqualified_sides():
    assert join_columns('a."Customer ID" = b.id', "a") == [("Customer ID", "id")]
    assert join_columns("x = b.id AND a.y = b.z", "a") == [("x", "id"), ("y", "z")]
    assert join_columns("a.x > b.y", "a") is None


def test_merge_keeps_foreign_keys_and_drops_joins_whose_columns_left():
    new = {"table": "t", "descriptions": {"db": "new", "profile": "p2"}, "columns": [{"name": "id", "type": "INT"}]}
    old = {
        "table": "t",
        "descriptions": {"db": "old", "profile": "p1", "user": "mine", "ai": "model"},
        "columns": [{"name": "id", "type": "INT", "descriptions": {"user": "the key"}}, {"name": "gone"}],
        "joins": [
            {"to": "u", "on": "t.id = u.t_id", "relationship": "one_to_many", "source": "manual"},
            {"to": "u", "on": "t.gone = u.x", "relationship": "many_to_one", "source": "manual"},
            {"to": "u", "on": "t.id = u.id", "relationship": "one_to_one", "source": "formal"},
        ],
        "tags": ["core"],
    }
    merged = merge_entry(new, old, {"t": {"id"}, "u": {"t_id", "x", "id"}}, "t")
    assert merged["descriptions"] == {"ai": "model", "db": "new", "profile": "p2", "user": "mine"}
    assert merged["columns"] == [{"name": "id", "type": "INT", "descriptions": {"user": "the key"}}]
    assert [j["on"] for j in merged["joins"]] == ["t.id = u.t_id"]  # formal joins are rebuilt, not kept
    assert merged["tags"] == ["core"]


def test_join_aliases_are_unique_per_connection_and_never_a_table_name():
    """`user_id` → app_users and `user_key` → crm_users both shorten to `user`, which is also a table: the scan
    wrote `alias: user` twice and the whole connection's layer stopped loading."""
    from ktx.ingest.shards import build_joins
    from ktx.semantic.graph import JoinGraph
    from ktx.semantic.model import Source

    def edge(child: str, column: str, parent: str) -> dict:
        ref = {"from": {"table": child, "columns": [column]}, "to": {"table": parent, "columns": ["id"]}}
        return {**ref, "source": "inferred", "id": f"{child}.{column}->{parent}"}

    accepted = [
        edge("events", "user_id", "app_users"),
        edge("events", "author_user_id", "app_users"),
        edge("events", "user_key", "crm_users"),
        edge("events", "reviewer_user_id", "crm_users"),
    ]
    tables = {"events", "app_users", "crm_users", "user"}
    joins = build_joins(accepted, tables, "duckdb")
    aliases = [j.alias for j in joins["events"] if j.alias]
    assert len(aliases) == 4 and len(set(aliases)) == 4 and not set(aliases) & tables
    columns = {"events": ["id", "user_id", "author_user_id", "user_key", "reviewer_user_id"]}
    sources = {
        name: Source.parse(
            {
                "name": name,
                "table": name,
                "grain": ["id"],
                "columns": [{"name": c, "type": "number"} for c in columns.get(name, ["id"])],
                "joins": [
                    {"to": j.to, "on": j.on, "relationship": j.relationship, **({"alias": j.alias} if j.alias else {})}
                    for j in joins.get(name, [])
                ],
            }
        )
        for name in tables
    }
    assert JoinGraph.build(sources, "duckdb").errors == []


def test_a_large_shard_is_remembered_as_exactly_what_it_reads_back_as(tmp_path) -> None:
    """The ingest checks the layer it writes without parsing its own shard again: what dump_shard hands the file
    cache must be what parsing the text gives."""
    from ktx.project.yamlio import safe_load_file

    entries = {
        f"t{i}": {"table": f"main.t{i}", "grain": ["id"], "description": None, "rows": i * 1.5,
                  "columns": [{"name": c, "type": "INTEGER", "nullable": i % 2 == 0, "top_values": ["on", "1e-05", "x"],
                               "stats": {"distinct": i, "null_rate": 0.25}} for c in ("id", "yes", "no", "null")],
                  "joins": [{"to": f"t{i - 1}", "on": f"t{i}.id = t{i - 1}.id", "relationship": "many_to_one"}]}
        for i in range(1, 400)
    }  # fmt: skip
    text = dump_shard(entries)
    assert len(text) > 64 << 10
    path = tmp_path / "shard.yaml"
    path.write_text(text, encoding="utf-8")
    assert safe_load_file(path) == safe_load(text)


def test_a_consumed_shard_is_written_and_remembered_exactly_as_a_kept_one(tmp_path) -> None:
    """`consume=True` (the ingest's 100,000-table shards): the same text and the same remembered parse, and the
    entries handed over are gone from the caller's mapping as they are written."""
    from ktx.project.yamlio import safe_load_file

    def entries() -> dict[str, dict]:
        return {
            f"t{i}": {"table": f"main.t{i}", "grain": ("id",), "columns": [{"name": "id", "type": "INTEGER"}] * 30,
                      "joins": [{"to": f"t{i - 1}", "on": f"t{i}.id = t{i - 1}.id"}] if i else []}
            for i in range(300)
        }  # fmt: skip

    kept_text = dump_shard(entries())
    handed = entries()
    consumed_text = dump_shard(handed, consume=True)
    assert consumed_text == kept_text and len(kept_text) > 64 << 10
    assert handed == {}
    path = tmp_path / "shard.yaml"
    path.write_text(consumed_text, encoding="utf-8")
    assert safe_load_file(path) == safe_load(consumed_text)
    assert safe_load_file(path)["tables"]["t1"]["grain"] == ["id"]
