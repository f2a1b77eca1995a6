"""The wiki service on a real project: commits, validation before writing, shadowing, tags."""

from __future__ import annotations

import pytest

from ktx.project.project import Project
from ktx.wiki.page import WikiError
from ktx.wiki.store import WikiStore
from tests.conftest import git


@pytest.fixture
def store(project):
    return WikiStore(Project(project))


def test_write_creates_a_page_with_frontmatter_and_one_commit(store, project):
    page = store.write("revenue", content="Sum of paid orders.", summary="Revenue", tags=["finance"])
    assert page.path == "wiki/global/revenue.md"
    text = (project / page.path).read_text()
    assert text == "---\nsummary: Revenue\ntags:\n  - finance\nusage_mode: auto\n---\n\nSum of paid orders.\n"
    assert git(project, "log", "-1", "--format=%s") == "Write wiki page: revenue"
    assert git(project, "status", "--porcelain") == ""


def test_update_keeps_unknown_keys_and_omitted_fields_and_empty_list_clears(store, project):
    (project / "wiki/global/revenue.md").write_text(
        "---\nsummary: Old\ntags: [a, b]\nowner_team: analytics\n---\n\nBody\n"
    )
    store.write("revenue", summary="New")
    page = store.read("revenue")
    assert (page.summary, page.tags, page.frontmatter["owner_team"], page.body) == (
        "New",
        ["a", "b"],
        "analytics",
        "Body",
    )
    store.write("revenue", tags=[])
    assert store.read("revenue").tags == []


def test_links_to_missing_pages_are_rejected_and_nothing_changes(store, project):
    store.write("refunds", content="Refund rules.")
    head = git(project, "rev-parse", "HEAD")
    with pytest.raises(WikiError, match=r"wiki references target missing page\(s\): gross-sales"):
        store.write("revenue", content="Revenue is [[gross-sales]] minus [[refunds]].")
    with pytest.raises(WikiError, match="missing page"):
        store.write("revenue", content="x", refs=["nowhere"])
    assert not (project / "wiki/global/revenue.md").exists()
    assert git(project, "rev-parse", "HEAD") == head
    store.write("revenue", content="Revenue minus [[refunds|refunds]] and [[revenue]].", refs=["refunds"])


def test_sl_refs_must_name_existing_sources(store, project):
    folder = project / "semantic-layer" / "wh"
    folder.mkdir(parents=True)
    (folder / "orders.yaml").write_text(
        "name: orders\ntable: main.orders\ngrain: [id]\ncolumns: [{name: id, type: number}]\n"
    )
    with pytest.raises(WikiError, match="unknown semantic-layer source"):
        store.write("revenue", content="x", sl_refs=["invoices"])
    store.write("revenue", content="x", sl_refs=["orders", "wh/orders", "orders.revenue"])


def test_user_pages_shadow_global_ones_and_list_shows_both(store, project):
    store.write("revenue", content="Global definition.", summary="global")
    store.write("revenue", content="Bob's view.", summary="bob", scope="user", user_id="bob")
    assert store.read("revenue", "bob").summary == "bob"
    assert store.read("revenue", "alice").summary == "global"
    assert [p.path for p in store.list("bob")] == ["wiki/global/revenue.md", "wiki/user/bob/revenue.md"]
    assert [p.path for p in store.list("alice")] == ["wiki/global/revenue.md"]


def test_remove_commits_and_missing_is_an_error(store, project):
    store.write("temp", content="x")
    store.remove("temp")
    assert not (project / "wiki/global/temp.md").exists()
    assert git(project, "log", "-1", "--format=%s") == "Remove wiki page: temp"
    with pytest.raises(WikiError, match='Page "temp" not found.'):
        store.remove("temp")


def test_tags_create_rules_and_escaped_newlines(store, project):
    with pytest.raises(WikiError, match="needs content"):
        store.write("empty", summary="no body")
    store.write("a", content="line one\\nline two", tags=["x", "y"])
    store.write("b", content="b", tags=["y", "z"])
    assert store.read("a").body == "line one\nline two"
    assert store.list_tags() == ["x", "y", "z"]


def test_nested_legacy_files_and_bad_keys_are_ignored_or_refused(store, project):
    (project / "wiki/global/nested").mkdir()
    (project / "wiki/global/nested/page.md").write_text("x")
    (project / "wiki/global/bad key.md").write_text("x")
    assert store.list() == []
    with pytest.raises(WikiError, match="Invalid wiki page key"):
        store.write("a/b", content="x")
