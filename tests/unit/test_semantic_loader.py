"""Semantic-layer source schema and the two-tier loader: every composition rule and error."""

from __future__ import annotations

import textwrap

import pytest

from ktx.semantic.loader import SemanticLayerError, load_directory, semantic_type
from ktx.semantic.model import Join, Source
from ktx.semantic.schemacheck import SchemaError


def write(folder, rel, text):
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


SHARD = """\
tables:
  orders:
    table: public.orders
    descriptions: {db: Orders table}
    columns:
      - {name: id, type: integer, pk: true}
      - {name: customer_id, type: bigint}
      - {name: amount, type: "numeric(10,2)"}
      - {name: status, type: varchar(20), descriptions: {db: order status}}
      - {name: created_at, type: timestamp with time zone}
      - {name: is_gift, type: bool}
      - {name: internal_note, type: text}
    joins:
      - {to: customers, on: customer_id = customers.id, relationship: many_to_one, source: formal}
  customers:
    table: public.customers
    columns:
      - {name: id, type: int4}
      - {name: region, type: text}
"""


@pytest.mark.parametrize(
    ("native", "semantic"),
    [
        ("INTEGER", "number"),
        ("numeric(10,2)", "number"),
        ("double precision", "number"),
        ("timestamp_ntz", "time"),
        ("DATE", "time"),
        ("bool", "boolean"),
        ("varchar(20)", "string"),
        ("jsonb", "string"),
    ],
)
def test_semantic_types(native, semantic):
    assert semantic_type(native) == semantic


def test_manifest_projection(tmp_path):
    write(tmp_path, "_schema/shard.yaml", SHARD)
    layer = load_directory(tmp_path)
    orders, customers = layer.sources["orders"], layer.sources["customers"]
    assert orders.grain == ["id"] and customers.grain == ["id", "region"]  # no PK: every column
    assert [(c.name, c.type) for c in orders.columns][:3] == [
        ("id", "number"),
        ("customer_id", "number"),
        ("amount", "number"),
    ]
    assert orders.column("created_at").role == "time" and orders.column("is_gift").type == "boolean"
    assert orders.joins[0] == Join(
        to="customers", on="customer_id = customers.id", relationship="many_to_one", origin="declared"
    )
    assert orders.resolved_description == "Orders table" and orders.measures == []


def test_overlay_composition(tmp_path):
    write(tmp_path, "_schema/shard.yaml", SHARD)
    write(
        tmp_path,
        "orders.yaml",
        """\
        name: orders
        descriptions: {user: One row per order}
        exclude_columns: [internal_note]
        column_overrides:
          - {name: status, descriptions: {user: "paid, pending or refunded"}, visibility: internal}
        columns:
          - {name: amount_eur, type: number, expr: "amount * 0.9"}
        measures:
          - {name: revenue, expr: sum(amount), filter: "status = 'paid'"}
        segments:
          - {name: gifts, expr: is_gift}
        disable_joins: ["customer_id =  customers.id"]
        joins:
          - {to: customers, on: customer_id = customers.id, relationship: many_to_one, alias: buyer}
        """,
    )
    layer = load_directory(tmp_path)
    orders = layer.sources["orders"]
    assert orders.resolved_description == "One row per order"
    assert orders.descriptions == {"db": "Orders table", "user": "One row per order"}
    assert orders.column("internal_note") is None
    status = orders.column("status")
    assert status.visibility == "internal" and status.resolved_description == "paid, pending or refunded"
    assert status.descriptions == {"db": "order status", "user": "paid, pending or refunded"}
    assert orders.column("amount_eur").computed
    assert [m.name for m in orders.measures] == ["revenue"] and [s.name for s in orders.segments] == ["gifts"]
    assert [(j.to, j.alias) for j in orders.joins] == [("customers", "buyer")]
    assert layer.origins["orders"].endswith("orders.yaml")


def test_standalone_sources_and_duplicates(tmp_path):
    write(tmp_path, "_schema/shard.yaml", SHARD)
    write(
        tmp_path,
        "finance/revenue_daily.yaml",
        """\
        name: revenue_daily
        sql: select date(created_at) as day, sum(amount) as revenue from public.orders group by 1
        grain: [day]
        columns: [{name: day, type: time}, {name: revenue, type: number}]
        """,
    )
    assert load_directory(tmp_path).sources["revenue_daily"].sql.startswith("select")
    write(
        tmp_path,
        "orders_copy.yaml",
        "name: orders\ntable: x.orders\ngrain: [id]\ncolumns: [{name: id, type: number}]\n",
    )
    with pytest.raises(SemanticLayerError, match="Duplicate source name 'orders'"):
        load_directory(tmp_path)


def test_orphan_overlays_and_nameless_files_are_warnings(tmp_path):
    write(tmp_path, "_schema/shard.yaml", SHARD)
    write(tmp_path, "ghost.yaml", "name: ghost\ndescriptions: {user: nobody}\n")
    write(tmp_path, "notes.yaml", "- just\n- a list\n")
    layer = load_directory(tmp_path)
    assert any("Orphan overlay 'ghost'" in w for w in layer.warnings)
    assert any("notes.yaml: not a source" in w for w in layer.warnings)


@pytest.mark.parametrize(
    ("overlay", "message"),
    [
        ("name: orders\ndescription: flat\n", "use 'descriptions'"),
        ("name: orders\ntable: y.orders_v2\n", None),  # table → standalone: duplicate with the manifest
        ("name: orders\ncolumns: [{name: x, type: number}]\n", "computed column 'x' needs 'expr' and 'type'"),
        ("name: orders\ncolumn_overrides: [{name: nope}]\n", "Column override 'nope' does not match a manifest column"),
        (
            "name: orders\ncolumn_overrides: [{name: status, type: number}]\n",
            "column override 'status' cannot set 'type'",
        ),
        (
            "name: orders\nexclude_columns: [status]\ncolumn_overrides: [{name: status, visibility: hidden}]\n",
            "column_overrides conflict with exclude_columns: status",
        ),
        (
            "name: orders\ncolumns: [{name: status, type: string, expr: upper(status)}]\n",
            "move it to 'column_overrides:'",
        ),
        ("name: orders\nmystery: 1\n", "unknown overlay key 'mystery'"),
    ],
)
def test_overlay_errors_name_the_file(tmp_path, overlay, message):
    write(tmp_path, "_schema/shard.yaml", SHARD)
    path = write(tmp_path, "orders.yaml", overlay)
    with pytest.raises(SemanticLayerError) as exc:
        load_directory(tmp_path)
    if message:
        assert message in exc.value.message and str(path) in exc.value.message
    else:
        assert "Duplicate source name 'orders'" in exc.value.message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "table: t\nsql: select 1\ngrain: [id]\ncolumns: [{name: id, type: number}]\n",
            "'table' and 'sql' are mutually exclusive",
        ),
        ("table: t\ngrain: []\ncolumns: [{name: id, type: number}]\n", "grain must be non-empty"),
        ("table: t\ngrain: [id]\ncolumns: [{name: id, type: integer}]\n", "columns.0.type"),
        ("table: t\ngrain: [id]\ncolumns: [{name: id, type: number}]\nunknown_field: 1\n", "unknown_field"),
        (
            "table: t\ngrain: [id]\ncolumns: [{name: id, type: number}]\njoins: [{to: x, on: a = x.b, relationship: many}]\n",
            "joins.0.relationship",
        ),
    ],
)
def test_source_validation_errors(tmp_path, body, message):
    write(tmp_path, "s.yaml", "name: s\n" + body)
    with pytest.raises(SemanticLayerError) as exc:
        load_directory(tmp_path)
    assert message in exc.value.message and "Invalid source 's' in" in exc.value.message


def test_a_join_to_an_undefined_source_is_a_warning_not_a_broken_layer(tmp_path):
    write(
        tmp_path,
        "s.yaml",
        "name: s\ntable: t\ngrain: [id]\ncolumns: [{name: id, type: number}]\n"
        "joins: [{to: missing, on: id = missing.id, relationship: many_to_one}]\n",
    )
    layer = load_directory(tmp_path)
    assert "s" in layer.sources
    assert "Source 's' joins to 'missing', but 'missing' is not defined; join left out" in layer.warnings


def test_yaml_syntax_errors_name_the_file(tmp_path):
    path = write(tmp_path, "broken.yaml", "name: [unclosed\n")
    with pytest.raises(SemanticLayerError, match=f"{path}: YAML parse error"):
        load_directory(tmp_path)


def test_a_source_needs_table_or_sql():
    with pytest.raises(SchemaError, match="resolved source must have 'table' or 'sql'"):
        Source.parse({"name": "s", "grain": ["id"], "columns": [{"name": "id", "type": "number"}]})


def test_schema_problems_are_all_reported_with_their_key_paths(tmp_path):
    write(
        tmp_path,
        "orders.yaml",
        """
        name: orders
        table: public.orders
        grain: id
        colums: []
        columns:
          - {name: id, type: integer}
          - {name: "", type: number}
          - {name: total, type: number, visibility: secret}
        joins:
          - {to: customers, on: "customer_id = customers.id", relationship: many}
        measures:
          - {name: revenue, expr: sum(total), segments: paid}
        """,
    )
    with pytest.raises(SemanticLayerError) as caught:
        load_directory(tmp_path, check_joins=False)
    message = str(caught.value)
    assert message.startswith(f"Invalid source 'orders' in {tmp_path / 'orders.yaml'}: ")
    for problem in (
        "unknown key 'colums'",
        "grain: expected a list, got 'id'",
        "columns.0.type: expected one of 'string', 'number', 'time', 'boolean', got 'integer'",
        "columns.1: 'name' must not be empty",
        "columns.2.visibility: expected one of 'public', 'internal', 'hidden', got 'secret'",
        "joins.0.relationship: expected one of 'many_to_one', 'one_to_many', 'one_to_one', got 'many'",
        "measures.0.segments: expected a list, got 'paid'",
    ):
        assert problem in message


def test_schema_types_are_strict_and_optional_keys_default():
    base = {"name": "s", "table": "t", "grain": ["id"], "columns": [{"name": "id", "type": "number"}]}
    source = Source.parse(base)
    assert source.joins == [] and source.description is None and source.columns[0].visibility == "public"
    with pytest.raises(SchemaError, match="name: expected a string, got 42"):
        Source.parse({**base, "name": 42})
    with pytest.raises(SchemaError, match="columns: required"):
        Source.parse({k: v for k, v in base.items() if k != "columns"})
    with pytest.raises(SchemaError, match="'table' and 'sql' are mutually exclusive"):
        Source.parse({**base, "sql": "select 1"})
    with pytest.raises(SchemaError, match="expected a mapping, got 'x'"):
        Source.parse({**base, "tags": "x"})
    nested = Source.parse({**base, "columns": [{"name": "id", "type": "number", "tests": {"dbt": [{"name": "unique"}]},
                                               "constraints": {"pk": {"unique": True}}}]})  # fmt: skip
    assert nested.columns[0].tests.dbt[0].name == "unique" and nested.columns[0].constraints["pk"].unique is True


def test_a_join_a_person_writes_wins_over_the_scans_in_either_direction(tmp_path):
    """The scan wrote customer → address and its reverse on address; a person's overlay on customer restating the
    link (as one_to_one) was silently ignored because the graph kept the first duplicate edge it met."""
    from ktx.semantic.compiler import SemanticEngine

    write(
        tmp_path,
        "_schema/public.yaml",
        "tables:\n"
        "  address:\n    table: address\n    columns:\n      - {name: id, type: INTEGER, pk: true}\n"
        "      - {name: city, type: VARCHAR}\n"
        "    joins:\n      - {to: customer, on: address.id = customer.address_id, relationship: one_to_many,"
        " source: inferred}\n"
        "  customer:\n    table: customer\n    columns:\n      - {name: id, type: INTEGER, pk: true}\n"
        "      - {name: address_id, type: INTEGER}\n"
        "    joins:\n      - {to: address, on: customer.address_id = address.id, relationship: many_to_one,"
        " source: inferred}\n",
    )
    write(
        tmp_path,
        "customer.yaml",
        "name: customer\njoins:\n  - {to: address, on: address_id = address.id, relationship: one_to_one}\n",
    )
    engine = SemanticEngine(load_directory(tmp_path).sources, "duckdb")
    [edge] = [e for e in engine.graph.adjacency["customer"] if e.to == "address"]
    assert edge.relationship == "one_to_one"  # the person's, not the scan's many_to_one
    [reverse] = [e for e in engine.graph.adjacency["address"] if e.to == "customer"]
    assert reverse.relationship == "one_to_one"
    dropped = " ".join(engine.graph.dropped)
    assert "'address: address.id = customer.address_id' (inferred) dropped" in dropped
    assert "(manual) already joins address and customer" in dropped
