"""`ktx setup --source metabase|notion|looker` checks the service live (through the loopback stand-ins of their
APIs) before anything is saved: a refused credential or an unshared Notion page saves nothing; secrets are kept as
references only."""

from __future__ import annotations

from pathlib import Path

import pytest

from ktx.project.yamlio import safe_load
from tests.conftest import RunKtx
from tests.e2e.test_setup_sources import _setup, _with_warehouse
from tests.fakes.looker_api import LookerStandIn, LookerState
from tests.fakes.metabase_api import MetabaseStandIn, MetabaseState
from tests.fakes.notion_api import NotionStandIn, NotionState, block, text

PAGE, DATABASE = "1" * 32, "2" * 32


@pytest.fixture
def services():
    metabase = MetabaseStandIn(MetabaseState(api_key="mb_key_1", databases=[{"id": 1, "name": "Shop", "engine": "h2"}]))
    notion_state = NotionState(token="ntn_tok_1")
    notion_state.add_page(PAGE, "Handbook", [block("paragraph", text("hi"))])
    notion_state.databases[DATABASE] = {"object": "database", "id": DATABASE, "title": [text("Owners")],
                                        "data_sources": []}  # fmt: skip
    notion = NotionStandIn(notion_state)
    looker = LookerStandIn(LookerState(client_id="cid", client_secret="lk_secret_1"))
    yield metabase, notion, looker
    for stand_in in (metabase, notion, looker):
        stand_in.close()


def _conn(project: Path, name: str) -> dict:
    return safe_load((project / "ktx.yaml").read_text())["connections"].get(name)


def test_metabase_is_checked_live_then_saved(run_ktx: RunKtx, project: Path, services) -> None:
    metabase, _, _ = services
    _with_warehouse(project)
    args = ("--source", "metabase", "--source-url", metabase.url, "--source-api-key-ref", "env:MB_KEY",
            "--source-database-mapping", "1=wh")  # fmt: skip
    refused = _setup(run_ktx, project, *args, env={"MB_KEY": "mb_wrong"})
    assert (
        refused.returncode == 1 and "refused the credential" in refused.stderr and "Nothing was saved" in refused.stderr
    )
    assert _conn(project, "metabase") is None and "mb_wrong" not in refused.stderr
    done = _setup(run_ktx, project, *args, env={"MB_KEY": "mb_key_1"})
    assert done.returncode == 0, done.stderr
    assert "Connected to the Metabase instance for metabase: 1 database (Shop)" in done.stdout
    assert _conn(project, "metabase") == {"driver": "metabase", "api_url": metabase.url, "api_key_ref": "env:MB_KEY",
                                          "database_mappings": {"1": "wh"}}  # fmt: skip


def test_notion_roots_are_classified_and_unshared_ones_refused(run_ktx: RunKtx, project: Path, services) -> None:
    _, notion, _ = services
    _with_warehouse(project)
    base = ("--source", "notion", "--source-url", notion.url, "--source-auth-token-ref", "env:NOTION_TOKEN")
    unshared = _setup(run_ktx, project, *base, "--source-root", "9" * 32, env={"NOTION_TOKEN": "ntn_tok_1"})
    assert unshared.returncode == 1 and "not found or not shared with the integration" in unshared.stderr
    assert _conn(project, "notion") is None
    url = f"https://www.notion.so/acme/Handbook-{PAGE}?pvs=4"
    done = _setup(run_ktx, project, *base, "--source-root", url, "--source-root", DATABASE,
                  env={"NOTION_TOKEN": "ntn_tok_1"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    conn = _conn(project, "notion")
    assert conn["root_page_ids"] == [PAGE] and conn["root_database_ids"] == [DATABASE]
    assert conn["auth_token_ref"] == "env:NOTION_TOKEN" and "ntn_tok_1" not in (project / "ktx.yaml").read_text()


def test_looker_needs_its_flags_and_a_working_secret(run_ktx: RunKtx, project: Path, services) -> None:
    _, _, looker = services
    _with_warehouse(project)
    missing = _setup(run_ktx, project, "--source", "looker", "--source-url", looker.url)
    assert missing.returncode == 2 and "--source looker needs --source-client-id" in missing.stderr
    literal = _setup(run_ktx, project, "--source", "looker", "--source-url", looker.url, "--source-client-id", "cid",
                     "--source-client-secret-ref", "lk_secret_1")  # fmt: skip
    assert literal.returncode == 2 and "env: or file: reference" in literal.stderr
    args = ("--source", "looker", "--source-url", looker.url, "--source-client-id", "cid",
            "--source-client-secret-ref", "env:LOOKER_SECRET")  # fmt: skip
    wrong = _setup(run_ktx, project, *args, env={"LOOKER_SECRET": "nope"})
    assert wrong.returncode == 1 and "Looker refused the credential" in wrong.stderr
    done = _setup(run_ktx, project, *args, env={"LOOKER_SECRET": "lk_secret_1"})
    assert done.returncode == 0, done.stderr
    assert "signed in as ktx reader" in done.stdout
    assert _conn(project, "looker")["client_secret_ref"] == "env:LOOKER_SECRET"
