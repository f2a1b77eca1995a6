"""`ktx mcp stdio` driven by the official MCP client: the catalogue as listed, every tool with good and bad
arguments, in-band errors, progress, the read-only gate, secrets, and files edited while the server runs."""

from __future__ import annotations

from pathlib import Path

import anyio
import duckdb
import pytest
from mcp import Client

from tests.e2e.mcp_support import SECRET_PASSWORD, build_served_project, error_text, stdio_params, structured

TOOLS = [
    "connection_list",
    "wiki_search",
    "wiki_read",
    "sl_read_source",
    "sl_query",
    "entity_details",
    "dictionary_search",
    "discover_data",
    "sql_execution",
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("mcp")
    return build_served_project(base), base / "home"


def run_session(served: tuple[Path, Path], body) -> None:
    root, home = served

    async def main() -> None:
        async with Client(stdio_params(root, home)) as client:
            await body(client)

    anyio.run(main)


def test_lists_the_catalogue_with_schemas_and_annotations(served) -> None:
    async def body(client: Client) -> None:
        listed = (await client.list_tools()).tools
        assert [t.name for t in listed] == TOOLS
        for tool in listed:
            assert tool.title and len(tool.description) > 60
            assert tool.input_schema["$schema"] == "http://json-schema.org/draft-07/schema#"
            assert tool.input_schema["type"] == "object"
            assert tool.input_schema["additionalProperties"] is False, tool.name
            assert tool.output_schema["additionalProperties"] is False
            assert tool.annotations.read_only_hint is True
            assert tool.annotations.open_world_hint is False
        idempotent = {t.name for t in listed if t.annotations.idempotent_hint}
        assert idempotent == {"connection_list", "wiki_read", "sl_read_source", "entity_details"}
        assert client.server_info.name == "ktx"

    run_session(served, body)


def test_connections_wiki_and_sources(served) -> None:
    async def body(client: Client) -> None:
        connections = structured(await client.call_tool("connection_list", {}))["connections"]
        assert connections == [
            {"id": "pg", "name": "pg", "connectionType": "POSTGRESQL"},
            {"id": "warehouse", "name": "warehouse", "connectionType": "DUCKDB"},
        ]
        hits = structured(await client.call_tool("wiki_search", {"query": "refund policy", "limit": 3}))
        assert hits["results"] and hits["totalFound"] >= len(hits["results"])
        assert all(r["scope"] == "GLOBAL" and r["lanes"] for r in hits["results"])
        key = hits["results"][0]["key"]
        page = structured(await client.call_tool("wiki_read", {"key": key}))
        assert page["key"] == key and page["content"].strip()
        missing = error_text(await client.call_tool("wiki_read", {"key": "no-such-page"}))
        assert missing == 'Wiki page "no-such-page" was not found.'
        slashed = error_text(await client.call_tool("wiki_read", {"key": "global/revenue"}))
        assert "global/revenue" in slashed and "flat" in slashed
        source = structured(
            await client.call_tool("sl_read_source", {"connectionId": "warehouse", "sourceName": "orders"})
        )
        # The scanned table with its overlay composed in: the manifest's table and the overlay's measures.
        assert "table: main.orders" in source["yaml"] and "measures:" in source["yaml"]
        unknown = error_text(
            await client.call_tool("sl_read_source", {"connectionId": "warehouse", "sourceName": "nope"})
        )
        assert unknown == 'Semantic-layer source "nope" was not found.'
        unsafe = error_text(
            await client.call_tool("sl_read_source", {"connectionId": "../etc", "sourceName": "orders"})
        )
        assert unsafe.startswith("Unsafe connection id")
        bad = error_text(await client.call_tool("wiki_search", {"query": "", "limit": 99}))
        assert bad.splitlines() == [
            "query: String should have at least 1 character",
            "limit: Input should be less than or equal to 50",
        ]

    run_session(served, body)


def test_sl_query_returns_rows_matching_hand_written_sql(served) -> None:
    root, _ = served
    with duckdb.connect(str(root / "shop.duckdb"), read_only=True) as con:
        expected = dict(con.execute("select status, count(*) from main.orders group by 1").fetchall())

    async def body(client: Client) -> None:
        progress: list[tuple[float, str | None]] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append((value, message))

        result = structured(
            await client.call_tool(
                "sl_query",
                {
                    "connectionId": "warehouse",
                    "measures": [{"expr": "count(orders.id)", "name": "n"}],
                    "dimensions": [{"field": "orders.status"}],
                    "include": ["sql"],
                },
                progress_callback=on_progress,
            )
        )
        assert result["dialect"] == "duckdb" and "select" in result["sql"].lower()
        status_col = result["headers"].index("orders.status") if "orders.status" in result["headers"] else 0
        got = {row[status_col]: row[-1] for row in result["rows"]}
        assert got == expected and result["totalRows"] == len(expected)
        assert [m for _, m in progress] == [
            "Compiling query",
            "Generating SQL",
            "Executing",
            f"Fetched {len(expected)} rows",
        ]
        # dimensions as strings, as the CLI takes them (an unknown one is named by the compiler)
        cube = error_text(
            await client.call_tool("sl_query", {"connectionId": "warehouse", "measures": ["x"], "dimensions": ["a"]})
        )
        assert "'a'" in cube or "a" in cube.split()
        by_string = structured(
            await client.call_tool(
                "sl_query",
                {"connectionId": "warehouse", "measures": ["count(orders.id)"], "dimensions": ["orders.status"]},
            )
        )
        assert {row[0]: row[1] for row in by_string["rows"]} == expected and by_string["truncated"] is False
        # unknown keys are in-band errors that name the key and what was meant — never an unfiltered total
        typo = error_text(
            await client.call_tool(
                "sl_query",
                {"connectionId": "warehouse", "measures": ["count(orders.id)"], "filter": ["orders.status = 'paid'"]},
            )
        )
        assert typo == "filter: unknown key 'filter' — did you mean 'filters'?"
        singular = error_text(
            await client.call_tool(
                "sl_query", {"connectionId": "warehouse", "measures": ["count(orders.id)"], "dimension": "x"}
            )
        )
        assert singular == "dimension: unknown key 'dimension' — did you mean 'dimensions'?"
        for limit in (0, 10_001):
            bad = error_text(
                await client.call_tool(
                    "sl_query", {"connectionId": "warehouse", "measures": ["count(orders.id)"], "limit": limit}
                )
            )
            assert bad.startswith("limit:")
        cut = structured(
            await client.call_tool(
                "sl_query",
                {"connectionId": "warehouse", "measures": ["count(orders.id)"], "dimensions": ["orders.status"],
                 "limit": 1},
            )
        )  # fmt: skip
        assert cut["totalRows"] == 1 and cut["truncated"] is True
        ambiguous = error_text(await client.call_tool("sl_query", {"measures": ["orders.count"]}))
        assert ambiguous == "connectionId is required when the local project has zero or multiple connections."
        unknown = error_text(
            await client.call_tool("sl_query", {"connectionId": "warehouse", "measures": ["orders.nope"]})
        )
        assert "nope" in unknown

    run_session(served, body)


def test_scan_tools_entity_details_dictionary_and_discover(served) -> None:
    async def body(client: Client) -> None:
        details = structured(
            await client.call_tool(
                "entity_details",
                {
                    "connectionId": "warehouse",
                    "entities": [
                        {"table": "orders"},
                        {"table": "main.customers", "columns": ["id", "no_such_column"]},
                        {"table": {"db": "MAIN", "name": "Regions"}},
                        {"table": "nowhere"},
                    ],
                },
            )
        )["results"]
        orders, customers, regions, nowhere = details
        assert orders["ok"] and orders["display"] == "main.orders" and orders["snapshot"]["syncId"]
        by_name = {c["name"]: c for c in orders["columns"]}
        assert by_name["id"]["primaryKey"] is True and by_name["status"]["profile"]["sampleValues"]
        assert customers["error"]["code"] == "column_not_found" and "email" in customers["error"]["candidates"]
        assert regions["ok"] and regions["tableRef"] == {"catalog": None, "db": "main", "name": "regions"}
        assert nowhere["error"]["code"] == "table_not_found"
        # What discovery found from or to the table, and why: status, name score, validation's counts.
        links = orders["discoveredLinks"]
        assert links and all(link["status"] in ("accepted", "review", "rejected") for link in links)
        accepted = [link for link in links if link["status"] == "accepted"]
        assert accepted and all(link["validationCounts"]["violations"] == 0 for link in accepted)
        assert all("nameScore" in link and "reasons" in link for link in links)

        found = structured(await client.call_tool("dictionary_search", {"values": ["refunded", "zzzz-not-there"]}))
        searched = {s["connectionId"]: s for s in found["searched"]}
        assert searched["warehouse"]["status"] == "ready" and searched["warehouse"]["coverage"]["sampledRows"]
        assert searched["pg"]["status"] == "no_profile_artifact"
        refunded, absent = found["results"]
        assert {(m["sourceName"], m["columnName"]) for m in refunded["matches"]} >= {("orders", "status")}
        assert {m["reason"] for m in absent["misses"]} == {"value_not_in_sample", "no_profile_artifact"}

        refs = structured(await client.call_tool("discover_data", {"query": "revenue by customer segment"}))["refs"]
        kinds = {r["kind"] for r in refs}
        assert refs[0]["score"] == 1.0 and kinds & {"sl_measure", "wiki"} and len(refs) <= 10
        only_tables = structured(
            await client.call_tool("discover_data", {"query": "orders", "kinds": ["table"], "limit": 3})
        )["refs"]
        assert only_tables and {r["kind"] for r in only_tables} == {"table"}
        assert error_text(await client.call_tool("discover_data", {"query": "x", "kinds": ["nope"]})).startswith(
            "kinds.0"
        )

    run_session(served, body)


def test_sql_execution_is_read_only_and_keeps_secrets_out(served) -> None:
    root, _ = served

    async def body(client: Client) -> None:
        progress: list[str | None] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append(message)

        rows = structured(
            await client.call_tool(
                "sql_execution",
                {"connectionId": "warehouse", "sql": "select id from main.orders order by id", "maxRows": 5},
                progress_callback=on_progress,
            )
        )
        assert rows["rowCount"] == 5 and rows["truncated"] is True and rows["rows"][0] == [1]
        assert progress == ["Validating SQL", "Executing", "Fetched 5 rows"]
        for statement in ("drop table main.orders", "delete from main.orders", "select 1; drop table main.orders"):
            refused = error_text(
                await client.call_tool("sql_execution", {"connectionId": "warehouse", "sql": statement})
            )
            assert refused
        catalog = error_text(
            await client.call_tool("sql_execution", {"connectionId": "warehouse", "sql": "show tables"})
        )
        assert catalog.startswith("SQL is not a query: SHOW browses the catalog.") and "read/write" not in catalog
        assert "discover_data" in catalog and "entity_details" in catalog
        failed = error_text(await client.call_tool("sql_execution", {"connectionId": "pg", "sql": "select 1"}))
        assert SECRET_PASSWORD not in failed
        listed = await client.call_tool("connection_list", {})
        assert SECRET_PASSWORD not in listed.content[0].text
        assert error_text(await client.call_tool("sql_execution", {"connectionId": "ghost", "sql": "select 1"})) == (
            'Connection "ghost" is not configured in ktx.yaml\nConfigured connections: pg, warehouse.'
        )

    run_session(served, body)
    with duckdb.connect(str(root / "shop.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from main.orders").fetchone()[0] == 300


def test_a_page_written_while_the_server_runs_is_found_on_the_next_call(served) -> None:
    root, _ = served

    async def body(client: Client) -> None:
        before = structured(await client.call_tool("wiki_search", {"query": "zanzibar shipping surcharge"}))
        assert all(r["key"] != "zanzibar" for r in before["results"])
        (root / "wiki" / "global" / "zanzibar.md").write_text(
            "---\nsummary: Zanzibar shipping surcharge\n---\nOrders shipped to Zanzibar carry a surcharge.\n"
        )
        after = structured(await client.call_tool("wiki_search", {"query": "zanzibar shipping surcharge"}))
        assert after["results"][0]["key"] == "zanzibar"
        (root / "wiki" / "global" / "zanzibar.md").unlink()

    run_session(served, body)


def test_scan_tools_say_scan_missing_before_any_ingest(tmp_path: Path) -> None:
    root = build_served_project(tmp_path, ingest=False)

    async def main() -> None:
        async with Client(stdio_params(root, tmp_path / "home")) as client:
            result = structured(
                await client.call_tool(
                    "entity_details", {"connectionId": "warehouse", "entities": [{"table": "orders"}]}
                )
            )["results"][0]
            assert result["ok"] is False and result["error"]["code"] == "scan_missing"
            assert "ktx ingest warehouse" in result["error"]["message"]
            found = structured(await client.call_tool("dictionary_search", {"values": ["paid"]}))
            assert {s["status"] for s in found["searched"]} == {"no_profile_artifact"}

    anyio.run(main)


def test_stdio_on_a_missing_project_keeps_stdout_for_json_rpc(run_ktx, tmp_path: Path) -> None:
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    result = run_ktx("--project-dir", str(empty), "mcp", "stdio", input="")
    assert result.returncode == 1
    assert result.stdout == ""  # a client would read anything here as a JSON-RPC frame
    assert f"ktx.yaml not found in {empty}" in result.stderr
