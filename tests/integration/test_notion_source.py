"""Notion as a context source, through the real `notion-client` against a loopback stand-in of Notion's API
(tests/fakes/notion_api.py): pages, child pages and database rows become wiki pages with Markdown from their
blocks, links between pages become `refs`, mentions of scanned tables become `sl_refs`; re-runs read only what
was edited, trashed pages are evicted, a 429 is waited out, a capped run keeps what it did not reach, malformed
items are skipped by name, and a refused token is one line with the fix, never printed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import duckdb
import pytest

from ktx.ingest.run import run_ingest
from ktx.project.project import Project, init_project
from ktx.services import Services
from tests.fakes.notion_api import NotionStandIn, NotionState, block, mention, text

TOKEN = "ntn_TEST_7713_secret_token"
ROOT, DEFS, DB, SOURCE, ROW1, ROW2, BROKEN = (f"{i:032x}" for i in range(1, 8))


def _workspace() -> NotionState:
    state = NotionState(token=TOKEN, max_page_size=3)  # the API may page by fewer than asked: exercise paging
    state.add_page(
        ROOT,
        "Analytics handbook",
        [
            block("heading_1", text("How we count revenue")),
            block("paragraph", text("Revenue is defined in "), mention(DEFS, "Revenue definitions"), text(".")),
            block("bulleted_list_item", text("Refunds are excluded"),
                  children=[block("bulleted_list_item", text("even partial ones", italic=True))]),
            block("code", text("SELECT sum(amount) FROM orders WHERE status = 'paid'"), language="sql"),
            block("to_do", text("Review quarterly"), checked=True),
            block("ai_block"),
            block("child_page", title="Revenue definitions") | {"id": f"{DEFS[:8]}-{DEFS[8:12]}-{DEFS[12:16]}-{DEFS[16:20]}-{DEFS[20:]}"},
            block("child_database", title="Metric owners") | {"id": f"{DB[:8]}-{DB[8:12]}-{DB[12:16]}-{DB[16:20]}-{DB[20:]}"},
        ],
    )  # fmt: skip
    state.add_page(
        DEFS,
        "Revenue definitions",
        [block("paragraph", text("Revenue is "), text("orders.amount", code=True), text(" summed over paid rows."))],
    )
    state.databases[DB] = {
        "object": "database",
        "id": DB,
        "title": [text("Metric owners")],
        "last_edited_time": "2026-11-01T10:00:00.000Z",
        "url": f"https://www.notion.so/{DB}",
        "data_sources": [{"id": SOURCE, "name": "Metric owners"}],
    }
    owner = {"type": "select", "select": {"name": "Finance"}}
    state.add_page(ROW1, "Revenue", [block("paragraph", text("Owned by finance."))], properties={"Team": owner})
    state.add_page(ROW2, "Refund rate", [], properties={"Team": {"type": "select", "select": {"name": "Ops"}}})
    state.data_sources[SOURCE] = [ROW1, ROW2, BROKEN]  # BROKEN is a row the API returns without its fields
    state.rate_limit[f"/v1/blocks/{DEFS}/children"] = 1
    return state


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "proj"
    init_project(root)
    con = duckdb.connect(str(root / "wh.duckdb"))
    con.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, amount DECIMAL(10,2), status VARCHAR)")
    con.execute("INSERT INTO orders VALUES (1, 10, 'paid'), (2, 5, 'refunded')")
    con.close()
    stand_in = NotionStandIn(_workspace())
    monkeypatch.setenv("KTX_TEST_NOTION_TOKEN", TOKEN)
    Project(root).update_config(
        lambda d: d.__setitem__(
            "connections",
            {
                "wh": {"driver": "duckdb", "path": "wh.duckdb"},
                "docs": {"driver": "notion", "api_url": stand_in.url, "auth_token_ref": "env:KTX_TEST_NOTION_TOKEN",
                         "root_page_ids": [ROOT]},
            },
        ),
        "connections",
    )  # fmt: skip
    with Services(Project(root)) as services:
        wh, docs = run_ingest(services, all_=True).results
    assert wh.status == "done" and docs.status == "done", (wh.message, docs.message)
    yield root, stand_in, docs.report
    stand_in.close()


def _page(root: Path, prefix: str) -> str:
    [path] = (root / "wiki/global").glob(f"notion-{prefix}*.md")
    return path.read_text()


def test_pages_rows_and_links_become_wiki_pages(workspace) -> None:
    root, _, report = workspace
    handbook = _page(root, "analytics-handbook")
    assert "## How we count revenue" in handbook
    assert "[[notion-revenue-definitions-" in handbook  # a page mention is a wiki link
    assert "- Refunds are excluded\n  - *even partial ones*" in handbook
    assert "```sql\nSELECT sum(amount) FROM orders WHERE status = 'paid'\n```" in handbook
    assert "- [x] Review quarterly" in handbook
    assert "refs:" in handbook and "notion-metric-owners-" in handbook
    definitions = _page(root, "revenue-definitions")
    assert "wh/orders" in definitions.split("---")[1]  # `orders.amount` resolves to the scanned table
    assert "source: notion" in definitions and "last_edited_time:" in definitions
    owners = _page(root, "metric-owners")
    assert "Notion database with 2 rows." in owners and "[[notion-revenue-" in owners
    assert "| Team | Finance |" in _page(root, f"revenue-{ROW1[-12:]}")
    assert report["pages"] == 5 and report["complete"] is True
    codes = {w["code"]: w["message"] for w in report["warnings"]}
    assert BROKEN in codes["notion_malformed"]
    assert "ai_block" in codes["notion_blocks_skipped"]


def test_rate_limit_waited_and_paging_followed(workspace) -> None:
    _, stand_in, _ = workspace
    first, second = stand_in.calls(f"/v1/blocks/{DEFS}/children")[:2]
    assert second - first >= 0.9  # Retry-After: 1 honoured through the governor
    root_pages = [p for _, p, _ in stand_in.state.requests if p.startswith(f"/v1/blocks/{ROOT}/children")]
    assert any("start_cursor=" in p for p in root_pages)  # 8 blocks, 3 per page: followed


def test_reruns_read_only_what_changed_and_evict_what_is_gone(workspace) -> None:
    root, stand_in, _ = workspace
    stand_in.state.requests.clear()
    with Services(Project(root)) as services:
        [again] = run_ingest(services, "docs").results
    assert again.status == "unchanged", again.report["filesChanged"]
    assert not stand_in.calls("/v1/blocks/")  # nothing edited: no page's blocks read again
    assert again.report["reused"] == 4 and again.report["fetched"] == 0
    page = stand_in.state.pages[DEFS]
    page["last_edited_time"] = "2026-11-02T09:00:00.000Z"
    page["_blocks"] = [block("paragraph", text("Revenue now includes shipping."))]
    stand_in.state.pages[ROW2]["in_trash"] = True
    with Services(Project(root)) as services:
        [third] = run_ingest(services, "docs").results
    assert third.status == "done" and third.report["fetched"] == 1
    assert "includes shipping" in _page(root, "revenue-definitions")
    assert not list((root / "wiki/global").glob("notion-refund-rate-*.md"))
    assert third.report["evicted"] == 1


def test_a_capped_run_keeps_what_it_did_not_reach(workspace) -> None:
    root, _, _ = workspace
    Project(root).update_config(lambda d: d["connections"]["docs"].update({"max_pages_per_run": 2}) or d, "cap")
    with Services(Project(root)) as services:
        [capped] = run_ingest(services, "docs").results
    assert capped.report["complete"] is False
    assert "notion_capped" in {w["code"] for w in capped.report["warnings"]}
    assert list((root / "wiki/global").glob("notion-refund-rate-*.md"))  # not reached, not evicted


def test_connection_test_and_a_refused_token(workspace, run_ktx) -> None:
    root, _, _ = workspace
    ok = run_ktx("connection", "test", "docs", cwd=root)
    assert ok.returncode == 0, ok.stderr
    assert "integration ktx" in ok.stdout
    bad = run_ktx("ingest", "docs", cwd=root, env={"KTX_TEST_NOTION_TOKEN": "ntn_revoked"})
    out = bad.stdout + bad.stderr
    assert bad.returncode == 1 and "Notion refused the token (401" in out and "auth_token_ref" in out
    assert "ntn_revoked" not in out
    log = subprocess.run(["git", "-C", str(root), "log", "-p"], capture_output=True, text=True).stdout
    assert TOKEN not in log


def test_a_page_a_person_edited_is_kept(workspace) -> None:
    root, stand_in, _ = workspace
    [path] = (root / "wiki/global").glob("notion-revenue-definitions*.md")
    path.write_text(path.read_text() + "\nNote from finance: shipping counts from 2027.\n")
    page = stand_in.state.pages[DEFS]
    page["last_edited_time"] = "2026-11-03T09:00:00.000Z"
    page["_blocks"] = [block("paragraph", text("Changed in Notion."))]
    with Services(Project(root)) as services:
        [run] = run_ingest(services, "docs").results
    assert "Note from finance" in path.read_text() and "Changed in Notion." not in path.read_text()
    [kept] = [w for w in run.report["warnings"] if w["code"] == "page_edited_kept"]
    assert path.name in kept["message"]


def test_an_llm_refines_only_the_edited_page_in_the_same_commit(workspace, monkeypatch) -> None:
    """With an LLM backend (the anthropic SDK against the Messages stand-in), each changed Notion page is one work
    unit on top of the deterministic pages, landing in the run's one commit with provenance."""
    import json

    from tests.fakes.anthropic_api import AnthropicStandIn, tool_use
    from tests.fakes.anthropic_api import text as reply

    root, stand_in, _ = workspace
    rule = {"key": "revenue-rule", "summary": "Revenue includes shipping", "content": "Shipping counts as revenue.",
            "sl_refs": ["wh/orders"]}  # fmt: skip
    api = AnthropicStandIn()

    def responder(request: dict) -> dict:
        first, last = json.dumps(request["body"]["messages"][0]), json.dumps(request["body"]["messages"][-1])
        if "tool_result" in last:
            return reply("done")
        return tool_use(("wiki_write", rule)) if f"pages/{DEFS}.json" in first else reply("Nothing to add.")

    api.default = responder
    monkeypatch.setenv("KTX_NOTION_LLM_KEY", "sk-notion")
    provider = {"backend": "anthropic", "anthropic": {"api_key": "env:KTX_NOTION_LLM_KEY", "base_url": api.base_url}}
    Project(root).update_config(
        lambda d: d.__setitem__("llm", {"provider": provider, "models": {"default": "claude-haiku-4-5"}}), "llm"
    )
    page = stand_in.state.pages[DEFS]
    page["last_edited_time"] = "2026-11-05T09:00:00.000Z"
    page["_blocks"] = [block("paragraph", text("Revenue now includes shipping."))]
    try:
        with Services(Project(root)) as services:
            [run] = run_ingest(services, "docs").results
    finally:
        api.close()
    assert run.status == "done", run.message
    assert [u["rawFile"] for u in run.report["workUnits"]] == [f"pages/{DEFS}.json"]
    assert {"unit": f"notion-pages-{DEFS}-json", "rawPath": f"pages/{DEFS}.json", "target": "wiki",
            "key": "revenue-rule"} in run.report["provenance"]  # fmt: skip
    log = Project(root).git.run("log", "-1", "--name-only", "--format=%s").stdout
    assert (
        "ingest(notion): docs" in log and "wiki/global/revenue-rule.md" in log and "notion-revenue-definitions" in log
    )
