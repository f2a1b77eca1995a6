"""What a new user and a hostile file hit, pinned through the real CLI: clear messages, no hangs, nothing lost."""

from __future__ import annotations

import json

import pytest

from tests.conftest import git

ALIAS_BOMB = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
)


# --- semantic layer ------------------------------------------------------------------------------


def test_a_filter_with_a_second_statement_is_refused(run_ktx, shop):
    result = run_ktx(
        "sl", "query", "-m", "orders.order_count", "-f", "1=1; DROP TABLE orders", "--format", "sql", cwd=shop
    )
    assert result.returncode == 1
    assert "it must be one expression, not several statements" in result.stderr
    assert "DROP" not in result.stdout


def test_parse_errors_do_not_name_parser_classes(run_ktx, shop):
    result = run_ktx("sl", "query", "-m", "orders.order_count", "-f", "orders.status =", "--format", "sql", cwd=shop)
    assert result.returncode == 1
    assert "Cannot parse filter 'orders.status ='" in result.stderr
    assert "<class" not in result.stderr and "sqlglot" not in result.stderr


def test_a_misspelt_key_in_a_query_file_is_named(run_ktx, shop, tmp_path):
    query = tmp_path / "q.json"
    query.write_text(json.dumps({"measurez": ["orders.order_count"]}))
    result = run_ktx("sl", "query", "--query-file", str(query), "--format", "sql", cwd=shop)
    assert result.returncode == 1
    assert "unknown key 'measurez' (did you mean 'measures'?)" in result.stderr


def test_a_deeply_nested_query_file_is_refused_with_its_name(run_ktx, shop, tmp_path):
    query = tmp_path / "deep.json"
    query.write_text("[" * 20_000 + "]" * 20_000)
    result = run_ktx("sl", "query", "--query-file", str(query), "--format", "sql", cwd=shop)
    assert result.returncode == 1
    assert f"--query-file {query}: it is nested more than 64 levels deep" in result.stderr
    assert "RecursionError" not in result.stderr


def test_pretty_output_runs_the_query_as_a_table_and_bad_format_is_a_usage_error(run_ktx, shop):
    pretty = run_ktx("sl", "query", "-m", "orders.order_count", "--output", "pretty", cwd=shop)
    assert pretty.returncode == 0, pretty.stderr
    assert "order_count" in pretty.stdout and not pretty.stdout.lstrip().startswith("{")
    bad = run_ktx("sl", "query", "-m", "orders.order_count", "--format", "yaml", cwd=shop)
    assert bad.returncode == 2 and "Invalid --format value: yaml" in bad.stderr


def test_pretty_output_without_a_configured_connection_shows_the_sql(run_ktx, shop):
    import shutil

    shutil.copytree(shop / "semantic-layer" / "warehouse", shop / "semantic-layer" / "other")
    args = ["sl", "query", "--connection-id", "other", "-m", "orders.order_count", "--output", "pretty"]
    result = run_ktx(*args, cwd=shop)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("SELECT") and "not configured in ktx.yaml" in result.stderr


def test_source_counts_are_pluralised(run_ktx, shop):
    result = run_ktx("sl", "--output", "pretty", cwd=shop)
    assert result.returncode == 0, result.stderr
    assert " 1 measures" not in result.stdout and " 1 joins" not in result.stdout


def test_an_alias_bomb_in_the_semantic_layer_names_the_file(run_ktx, shop):
    bomb = shop / "semantic-layer" / "warehouse" / "bomb.yaml"
    bomb.write_text(ALIAS_BOMB)
    result = run_ktx("sl", "validate", "orders", cwd=shop)
    assert result.returncode == 1
    assert "bomb.yaml" in result.stderr and "expands to more than" in result.stderr


DEEP_BLOCKS = {
    "dash-line": "x:\n  " + "- " * 30_000 + "x\n",
    "questions": "? " * 30_000 + "x\n",
    "indented": "x:\n" + "".join(" " * i + "k:\n" for i in range(1, 400)),
}


@pytest.mark.parametrize("content", DEEP_BLOCKS.values(), ids=DEEP_BLOCKS.keys())
def test_deep_block_yaml_is_refused_before_the_c_parser_sees_it(run_ktx, shop, content):
    """`x:\n  - - - … x` (30,000 levels) made the C parser die with SIGSEGV in every command that read it."""
    deep = shop / "semantic-layer" / "warehouse" / "deep.yaml"
    deep.write_text(content)
    for args in (("sl",), ("admin", "reindex")):  # listings skip a file they cannot read; they must not die
        result = run_ktx(*args, cwd=shop)
        assert result.returncode in (0, 1), (args, result.returncode, result.stderr[-300:])
    for args in (("sl", "validate", "orders"), ("sl", "query", "-m", "orders.revenue")):
        result = run_ktx(*args, cwd=shop)
        assert result.returncode == 1, (args, result.returncode, result.stderr[-300:])
        assert "deep.yaml" in result.stderr and "nested more than 64 levels deep" in result.stderr, args
    (shop / "ktx.yaml").write_text(content)
    status = run_ktx("status", cwd=shop)
    assert status.returncode == 1 and "nested more than 64 levels deep" in status.stdout


# --- ktx.yaml --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (ALIAS_BOMB, "expands to more than 2,000,000 values"),
        ("a: " + "[" * 20_000 + "]" * 20_000 + "\n", "nested more than 64 levels deep"),
        ("connections: {}\n#" + "x" * (300 << 10) + "\n", "ktx reads at most 256 KB"),
    ],
    ids=["alias-bomb", "deep", "huge"],
)
def test_hostile_config_gets_a_message_not_a_hang(run_ktx, project, content, expected):
    (project / "ktx.yaml").write_text(content)
    status = run_ktx("status", cwd=project)
    assert status.returncode == 1
    assert "Config ktx.yaml cannot be read" in status.stdout
    assert expected in status.stdout
    listed = run_ktx("connection", "list", cwd=project)
    assert listed.returncode == 1 and expected in listed.stderr


def test_misspelt_top_level_key_gets_did_you_mean(run_ktx, project):
    (project / "ktx.yaml").write_text((project / "ktx.yaml").read_text() + "colections: {}\n")
    result = run_ktx("status", "--validate", cwd=project)
    assert "Unsupported colections: unknown field (ignored) — did you mean 'connections'?" in result.stdout


def test_config_that_is_a_directory_is_named(run_ktx, tmp_path):
    folder = tmp_path / "odd"
    (folder / "ktx.yaml").mkdir(parents=True)
    for args in (("status",), ("connection", "list"), ("admin", "init", ".")):
        result = run_ktx(*args, cwd=folder)
        assert result.returncode == 1, args
        assert "ktx.yaml is a directory" in result.stderr, args


# --- wiki ------------------------------------------------------------------------------------------


def test_one_unreadable_page_does_not_break_the_wiki(run_ktx, project):
    pages = project / "wiki" / "global"
    (pages / "good.md").write_text("---\nsummary: Revenue rules\n---\nRevenue excludes refunds.\n")
    (pages / "binary.md").write_bytes(b"\x00\x01\x02PNG")
    (pages / "latin.md").write_bytes("---\nsummary: caf\xe9\n---\nbody\n".encode("latin-1"))
    (pages / "deep.md").write_text("---\nsummary: " + "[" * 5000 + "]" * 5000 + "\n---\nbody\n")
    (pages / "open.md").write_text("---\nsummary: never closed\nRevenue notes\n")
    (pages / "odd.md").write_text("---\nsummary: Odd\ntags: 5\nusage_mode: sometimes\n---\nbody\n")
    listed = run_ktx("wiki", "list", "--output", "plain", cwd=project)
    assert listed.returncode == 0, listed.stderr
    assert "good" in listed.stdout and "odd" in listed.stdout
    for name, reason in (("binary", "binary file"), ("latin", "not UTF-8"), ("deep", "nested more than")):
        assert f"warning: skipped wiki/global/{name}.md: " in listed.stderr and reason in listed.stderr
    assert "wiki/global/open.md: frontmatter has no closing '---'" in listed.stderr
    assert "wiki/global/odd.md: tags: expected a list of strings, got 5" in listed.stderr
    assert "wiki/global/odd.md: usage_mode: 'sometimes' is not one of always, auto, never" in listed.stderr
    read = run_ktx("wiki", "read", "good", cwd=project)
    assert read.returncode == 0 and "Revenue excludes refunds." in read.stdout
    bad = run_ktx("wiki", "read", "latin", cwd=project)
    assert bad.returncode == 1 and "wiki/global/latin.md: not UTF-8 text" in bad.stderr
    found = run_ktx("wiki", "search", "revenue", "--output", "plain", cwd=project)
    assert found.returncode == 0 and "good" in found.stdout
    reindex = run_ktx("admin", "reindex", "--force", cwd=project)
    assert reindex.returncode == 0, reindex.stderr
    assert "warning: skipped wiki/global/binary.md" in reindex.stderr


def test_reindex_reports_no_updates_when_nothing_changed(run_ktx, shop):
    first = run_ktx("admin", "reindex", cwd=shop)
    assert first.returncode == 0, first.stderr
    again = run_ktx("admin", "reindex", cwd=shop)
    assert "updated=0" in again.stdout, again.stdout


# --- project, setup, sql, help ---------------------------------------------------------------------


def test_init_force_leaves_uncommitted_config_edits_uncommitted(run_ktx, project):
    (project / "ktx.yaml").write_text((project / "ktx.yaml").read_text() + "# my own note\n")
    result = run_ktx("admin", "init", "--force", str(project))
    assert result.returncode == 0, result.stderr
    assert git(project, "status", "--porcelain", "--", "ktx.yaml") == "M ktx.yaml"
    assert "# my own note" not in git(project, "show", "HEAD:ktx.yaml")


def test_init_in_an_impossible_place_says_why(run_ktx, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_ktx("admin", "init", str(blocker / "below"))
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: Cannot create a project at {blocker / 'below'}:")
    assert "unexpected" not in result.stderr


def test_status_fails_a_source_dir_that_does_not_exist(run_ktx, project):
    text = (project / "ktx.yaml").read_text().replace("connections: {}", "")
    (project / "ktx.yaml").write_text(text + "connections:\n  dbt:\n    driver: dbt\n    source_dir: ./dbt\n")
    result = run_ktx("status", cwd=project)
    assert "✗ repo: ./dbt does not exist" in result.stdout
    (project / "dbt").mkdir()
    assert "✓ repo: ./dbt" in run_ktx("status", cwd=project).stdout


def test_sql_starting_with_a_comment_needs_the_separator(run_ktx, shop):
    bare = run_ktx("sql", "-c", "warehouse", "-- count\nSELECT count(*) AS n FROM orders", cwd=shop)
    assert bare.returncode == 2 and "put `--` before it" in bare.stderr
    separated = run_ktx(
        "sql", "-c", "warehouse", "--json", "--", "-- count\nSELECT count(*) AS n FROM orders", cwd=shop
    )
    assert separated.returncode == 0, separated.stderr
    trailing = run_ktx("sql", "-c", "warehouse", "--json", "SELECT 1 AS a LIMIT 1 ;\n-- done", cwd=shop)
    assert trailing.returncode == 0 and json.loads(trailing.stdout)["rows"] == [[1]]


def test_setup_accepts_none_and_rejects_bad_values_as_usage_errors(run_ktx, project):
    none = run_ktx("setup", "--llm-backend", "none", "--no-input", "--skip-embeddings", cwd=project)
    assert none.returncode == 0, none.stderr
    assert "backend: none" in (project / "ktx.yaml").read_text()
    bad = run_ktx("setup", "--llm-backend", "bogus", "--no-input", cwd=project)
    assert bad.returncode == 2 and "Unsupported --llm-backend: bogus" in bad.stderr


def test_help_and_hints_do_not_promise_missing_commands(run_ktx, project):
    help_text = run_ktx("--help").stdout
    assert "not implemented yet" not in help_text
    empty = run_ktx("sl", "--output", "plain", cwd=project)
    assert "Run `ktx ingest <connection>`" in empty.stdout + empty.stderr
