"""Memory capture through the real anthropic SDK against the loopback Messages API, with scripted tool calls:
new knowledge is committed once, a contradiction of a reviewed measure is a recorded conflict (the file is
untouched and `ktx status` lists it), an edit that breaks the semantic layer is reverted, and with no LLM the
capture is refused. The MCP memory tools run the same capture in the server's background."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from ktx.memory.capture import MemoryItem, capture
from ktx.project.project import Project
from ktx.semantic.service import compile_query
from ktx.services import Services
from tests.conftest import clean_env
from tests.e2e.mcp_support import build_served_project
from tests.fakes.anthropic_api import AnthropicStandIn, error, text, tool_use

KEY = "sk-ant-memory-DO-NOT-LEAK"
OVERLAY = "semantic-layer/warehouse/orders.yaml"


@pytest.fixture(scope="module")
def base_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_served_project(tmp_path_factory.mktemp("memory"))


@pytest.fixture
def api():
    server = AnthropicStandIn()
    yield server
    server.close()


@pytest.fixture
def project(base_project: Path, tmp_path: Path, api: AnthropicStandIn, monkeypatch) -> Path:
    import shutil

    root = tmp_path / "proj"
    shutil.copytree(base_project, root, symlinks=True)
    llm = {
        "provider": {"backend": "anthropic", "anthropic": {"api_key": "env:KTX_TEST_KEY", "base_url": api.base_url}},
        "models": {"default": "claude-sonnet-4-6"},
    }
    Project(root).git.commit(["semantic-layer", "wiki"], "Demo overlays and wiki")
    Project(root).update_config(lambda d: d.__setitem__("llm", llm), "Configure the LLM")
    monkeypatch.setenv("KTX_TEST_KEY", KEY)
    return root


def _head(root: Path) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()


def test_new_knowledge_lands_in_one_commit(project: Path, api: AnthropicStandIn) -> None:
    api.queue(
        tool_use(("wiki_search", {"query": "refunds"})),
        tool_use(
            (
                "sl_add_measure",
                {
                    "source": "orders",
                    "name": "refunded_amount",
                    "expr": "sum(net_amount)",
                    "description": "Net amount of refunded orders.",
                },
            )
        ),
        tool_use(
            (
                "wiki_write",
                {
                    "key": "refund-accounting",
                    "summary": "How refunds are counted",
                    "content": "Refunds are booked on the day the refund is issued. See [[revenue-definition]].",
                    "tags": ["finance"],
                    "sl_refs": ["warehouse/orders"],
                },
            )
        ),
        text("Captured the refund rule."),
    )
    before = _head(project)
    with Services(Project(project)) as services:
        [result] = capture(
            services,
            [MemoryItem("note", "Refunds are booked on the refund day. Define refunded amount as sum of net amount.")],
            connection_id="warehouse",
        )
    assert result.status == "done", result.error
    assert result.captured == {"wiki": ["refund-accounting"], "sl": ["orders"], "xrefs": ["refund-accounting"]}
    log = subprocess.run(["git", "log", "--format=%s", f"{before}..HEAD"], cwd=project, capture_output=True, text=True)
    assert log.stdout.strip().splitlines() == [f"memory: note ({result.run_id})"]
    assert "refunded_amount" in (project / OVERLAY).read_text()
    assert "# Overlay: meaning added" in (project / OVERLAY).read_text()  # the person's comment survived
    compiled = compile_query(project, "warehouse", "duckdb", {"measures": ["orders.refunded_amount"]})
    assert "sum" in compiled.sql.lower()
    tools = {t["name"] for t in api.requests[0]["body"]["tools"]}
    assert {"wiki_write", "sl_add_measure", "report_conflict"} <= tools
    assert KEY not in json.dumps(result.to_json())


def test_a_contradiction_is_a_conflict_and_nothing_is_written(project: Path, api: AnthropicStandIn) -> None:
    overlay = (project / OVERLAY).read_text()
    api.queue(
        tool_use(("sl_add_measure", {"source": "orders", "name": "revenue", "expr": "sum(amount)"})),
        text("Recorded the contradiction."),
    )
    head = _head(project)
    with Services(Project(project)) as services:
        [result] = capture(
            services,
            [MemoryItem("slack", "Revenue includes refunds and discounts: it is sum(amount).")],
            connection_id="warehouse",
        )
    assert result.status == "done" and len(result.conflicts) == 1 and result.commit is None
    assert (project / OVERLAY).read_text() == overlay and _head(project) == head
    tool_result = json.dumps(api.requests[-1]["body"]["messages"][-1])
    assert "already defined" in tool_result and "conflict" in tool_result
    status = subprocess.run(
        [sys.executable, "-m", "ktx", "--project-dir", str(project), "status", "--json"],
        capture_output=True,
        text=True,
        env=clean_env(project.parent),
    )
    [conflict] = json.loads(status.stdout)["conflicts"]
    assert (conflict["key"], conflict["reviewed"], conflict["proposed"], conflict["source"]) == (
        "orders.revenue",
        "sum(net_amount)",
        "sum(amount)",
        "slack",
    )
    plain = subprocess.run(
        [sys.executable, "-m", "ktx", "--project-dir", str(project), "status", "--output", "plain"],
        capture_output=True,
        text=True,
        env=clean_env(project.parent),
    )
    assert "Open conflicts (1)" in plain.stdout


def test_a_change_that_breaks_the_layer_is_reverted(project: Path, api: AnthropicStandIn) -> None:
    overlay = (project / OVERLAY).read_text()
    api.queue(
        tool_use(("sl_add_measure", {"source": "orders", "name": "bogus_total", "expr": "sum(no_such_column)"})),
        text("done"),
    )
    with Services(Project(project)) as services:
        [result] = capture(
            services, [MemoryItem("bad", "Bogus total is the sum of no_such_column.")], connection_id="warehouse"
        )
    assert result.status == "done" and result.reverted and "orders.yaml" in result.reverted[0]
    assert result.captured["sl"] == [] and (project / OVERLAY).read_text() == overlay


def test_without_an_llm_capture_is_refused(base_project: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ktx", "--project-dir", str(base_project), "ingest", "--text", "Churn means cancelled."],
        capture_output=True,
        text=True,
        env=clean_env(tmp_path),
    )
    assert done.returncode == 1 and "needs an LLM backend" in done.stderr and "ktx setup" in done.stderr
    empty = subprocess.run(
        [sys.executable, "-m", "ktx", "--project-dir", str(base_project), "ingest", "--text", "  "],
        capture_output=True,
        text=True,
        env=clean_env(tmp_path),
    )
    assert empty.returncode == 2 and "empty" in empty.stderr


def test_cli_text_and_file_items(project: Path, api: AnthropicStandIn, tmp_path: Path) -> None:
    note = tmp_path / "glossary.md"
    note.write_text("| term | meaning |\n|---|---|\n| GMV | gross merchandise value |\n")
    api.queue(
        text("nothing durable here"),  # --text items come first, then --file items
        tool_use(("wiki_write", {"key": "gmv", "summary": "GMV", "content": "Gross merchandise value."})),
        text("ok"),
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ktx",
            "--project-dir",
            str(project),
            "ingest",
            "--file",
            str(note),
            "--text",
            "hello",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=clean_env(tmp_path, KTX_TEST_KEY=KEY),
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [r["label"] for r in data["results"]] == ['"hello"', "glossary.md"]
    assert data["results"][0]["commitHash"] is None and data["results"][1]["captured"]["wiki"] == ["gmv"]
    assert KEY not in done.stdout + done.stderr


def test_mcp_memory_tools_run_in_the_background(project: Path, api: AnthropicStandIn, tmp_path: Path) -> None:
    from mcp import Client, StdioServerParameters

    api.queue(
        tool_use(("wiki_write", {"key": "churn", "summary": "Churn", "content": "A customer churns after 90 days."})),
        text("ok"),
    )

    async def main() -> None:
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "ktx", "--project-dir", str(project), "mcp", "stdio"],
            env=clean_env(tmp_path, KTX_TEST_KEY=KEY),
        )
        async with Client(params) as client:
            names = [t.name for t in (await client.list_tools()).tools]
            assert names[-2:] == ["memory_ingest", "memory_ingest_status"]
            started = await client.call_tool("memory_ingest", {"content": "Churn: no order for 90 days."})
            run_id = started.structured_content["runId"]
            assert run_id.startswith("memory-")
            deadline = time.monotonic() + 60
            while True:
                status = (await client.call_tool("memory_ingest_status", {"runId": run_id})).structured_content
                if status["done"] or time.monotonic() > deadline:
                    break
                await anyio.sleep(0.2)
            assert status["status"] == "done" and status["captured"]["wiki"] == ["churn"] and status["commitHash"]
            missing = await client.call_tool("memory_ingest_status", {"runId": "memory-nope"})
            assert missing.is_error and missing.content[0].text == 'Memory ingest run "memory-nope" was not found.'

    anyio.run(main)
    assert (project / "wiki/global/churn.md").is_file()


def test_an_llm_failing_mid_run_writes_nothing_and_says_how_to_retry(
    project: Path, api: AnthropicStandIn, tmp_path
) -> None:
    api.queue(
        tool_use(("wiki_write", {"key": "half-done", "summary": "x", "content": "Staged, never committed."})),
        error(400, "the model refused the request"),
    )
    head = _head(project)
    done = subprocess.run(
        [sys.executable, "-m", "ktx", "--project-dir", str(project), "ingest", "--text", "Half-done means x."],
        capture_output=True,
        text=True,
        env=clean_env(tmp_path, KTX_TEST_KEY=KEY),
    )
    assert done.returncode == 1
    assert "Failed text items:" in done.stdout and "the model refused the request" in done.stdout
    assert "retry the same --text/--file" in done.stdout
    assert _head(project) == head and not (project / "wiki/global/half-done.md").exists()
