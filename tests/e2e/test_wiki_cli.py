"""`ktx wiki`, `ktx sl` (list/search/read) and `ktx admin reindex` through the real CLI, in every mode."""

from __future__ import annotations

import json

from tests.integration.test_search_index import page, sl_project


def wiki_project(project):
    page(project, "revenue", "How revenue is defined", "Revenue is the sum of paid order amounts.")
    page(project, "refunds", "Refund policy", "Refunds reduce revenue within 30 days.")
    page(project, "revenue", "Bob's revenue notes", "Bob counts revenue at shipment.", scope="user/bob")


def test_wiki_list_modes(run_ktx, project):
    wiki_project(project)
    plain = run_ktx("wiki", "--output", "plain", cwd=project)
    assert plain.stdout == "GLOBAL\trefunds\tRefund policy\nGLOBAL\trevenue\tHow revenue is defined\n"
    bob = run_ktx("wiki", "list", "--user-id", "bob", "--output", "plain", cwd=project)
    assert "USER\trevenue\tBob's revenue notes" in bob.stdout
    data = json.loads(run_ktx("wiki", "--json", cwd=project).stdout)
    assert data["kind"] == "list" and data["meta"] == {"command": "wiki list"}
    assert [i["key"] for i in data["data"]["items"]] == ["refunds", "revenue"]
    pretty = run_ktx("wiki", "--output", "pretty", cwd=project).stdout
    assert "GLOBAL (2 pages)" in pretty and "2 pages" in pretty


def test_wiki_search_modes_and_debug(run_ktx, project):
    wiki_project(project)
    plain = run_ktx("wiki", "paid", "order", "--output", "plain", cwd=project)
    first = plain.stdout.splitlines()[0].split("\t")
    assert first[0].startswith("score=") and first[1:] == ["GLOBAL", "revenue", "How revenue is defined"]
    data = json.loads(run_ktx("wiki", "search", "revenue", "--json", "--limit", "1", cwd=project).stdout)
    assert data["meta"] == {"command": "wiki search"} and len(data["data"]["items"]) == 1
    item = data["data"]["items"][0]
    assert set(item) >= {"key", "path", "scope", "summary", "score", "matchReasons", "lanes"}
    debug = run_ktx("--debug", "wiki", "refund", "--output", "plain", cwd=project)
    assert "[debug] wiki search mode=sqlite-fts5 embedding=unconfigured results=1" in debug.stderr
    assert (
        "[debug] lane=semantic status=skipped weight=3.0 candidates=0 pool=25 reason=embedding_unconfigured"
        in debug.stderr
    )
    pretty = run_ktx("wiki", "refund", "--output", "pretty", cwd=project).stdout
    assert "#1 refunds" in pretty


def test_wiki_empty_states_and_read(run_ktx, project):
    empty = run_ktx("wiki", "--output", "plain", cwd=project)
    assert empty.stdout == "" and "No local wiki pages found in" in empty.stderr
    wiki_project(project)
    none = run_ktx("wiki", "zebra", "--output", "plain", cwd=project)
    assert none.stdout == "" and 'No local wiki pages matched "zebra"' in none.stderr
    assert "Run `ktx wiki` to inspect available pages." in none.stderr
    read = run_ktx("wiki", "read", "revenue", "--user-id", "bob", cwd=project)
    assert read.stdout == (project / "wiki/user/bob/revenue.md").read_text()
    missing = run_ktx("wiki", "read", "nope", cwd=project)
    assert missing.returncode == 1 and "No wiki page found for key 'nope'" in missing.stderr


def test_sl_list_search_read(run_ktx, project):
    sl_project(project)
    listed = run_ktx("sl", "--output", "plain", cwd=project)
    assert (
        listed.stdout == "wh\tcustomers\tcolumns=2\tmeasures=0\tjoins=0\nwh\torders\tcolumns=2\tmeasures=1\tjoins=0\n"
    )
    found = run_ktx("sl", "refunded", "--output", "plain", cwd=project)
    assert (
        found.stdout.startswith("score=") and "\two\torders\t" not in found.stdout and "\twh\torders\t" in found.stdout
    )
    data = json.loads(run_ktx("sl", "search", "refunded", "--json", cwd=project).stdout)
    assert data["meta"] == {"command": "sl search"}
    assert data["data"]["items"][0]["dictionaryMatches"] == [{"column": "status", "values": ["refunded"]}]
    read = run_ktx("sl", "read", "orders", cwd=project)
    assert read.stdout == (project / "semantic-layer/wh/orders.yaml").read_text()
    other = project / "semantic-layer/other"
    other.mkdir()
    (other / "orders.yaml").write_text(
        "name: orders\ntable: x.orders\ngrain: [id]\ncolumns: [{name: id, type: number}]\n"
    )
    ambiguous = run_ktx("sl", "read", "orders", cwd=project)
    assert ambiguous.returncode == 1
    assert (
        "Source 'orders' exists in multiple connections: other, wh. Re-run with --connection-id <id>."
        in ambiguous.stderr
    )
    assert run_ktx("sl", "read", "orders", "--connection-id", "other", cwd=project).returncode == 0
    unscoped = run_ktx("sl", "query", "--measure", "x", cwd=project)
    assert unscoped.returncode == 1
    assert "--connection-id is required: semantic layers exist for other, wh" in unscoped.stderr


def test_admin_reindex_outputs(run_ktx, project):
    wiki_project(project)
    sl_project(project)
    plain = run_ktx("admin", "reindex", "--output", "plain", cwd=project)
    assert plain.returncode == 0
    assert "Embeddings: not configured — indexing lexical only" in plain.stderr
    assert "wiki/global\tscanned=2\tupdated=2\tdeleted=0\tembeddings=-" in plain.stderr
    assert plain.stdout.startswith("reindex scopes=3 scanned=5 updated=5 deleted=0")
    forced = run_ktx("admin", "reindex", "--force", "--output", "plain", cwd=project)
    assert "rebuilt=5" in forced.stdout
    data = json.loads(run_ktx("admin", "reindex", "--json", cwd=project).stdout)
    assert data["kind"] == "reindex" and data["meta"] == {"command": "admin reindex"}
    assert [s["label"] for s in data["data"]["scopes"]] == ["wiki/global", "wiki/user/bob", "sl/wh"]
