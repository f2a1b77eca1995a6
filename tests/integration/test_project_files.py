"""Round-trip config edits, atomic writes + commits, path guards, and the state database."""

from __future__ import annotations

import sqlite3

import pytest

from ktx.errors import ConfigError
from ktx.project import files as project_files
from ktx.project import yamlio
from ktx.project.files import PathGuardError, atomic_write, atomic_write_many
from ktx.project.project import Project
from ktx.project.state import migrations, open_state, schema_version
from tests.conftest import git

COMMENTED = """\
# Team config — reviewed in PR #12
connections:
  # the main warehouse
  wh:
    driver: duckdb
    path: "warehouse.duckdb"   # quoted on purpose
    custom_thing: keep        # a driver extra
llm:
  provider:
    backend: none
future_block:
  from_newer_ktx: true
"""


def test_set_one_key_keeps_comments_order_quotes_and_unknown_keys():
    doc = yamlio.parse_yaml(COMMENTED)
    yamlio.set_path(doc, ["llm", "provider", "backend"], "claude-code")
    yamlio.set_path(doc, ["llm", "models"], {"default": "sonnet", "triage": "haiku"})
    out = yamlio.dump_yaml(doc)
    assert out.startswith("# Team config — reviewed in PR #12\nconnections:\n  # the main warehouse\n")
    assert 'path: "warehouse.duckdb"   # quoted on purpose' in out
    assert "custom_thing: keep        # a driver extra" in out
    assert "    backend: claude-code\n  models:\n    default: sonnet\n    triage: haiku\n" in out
    assert out.index("connections:") < out.index("llm:") < out.index("future_block:")
    assert "from_newer_ktx: true" in out


def test_filling_an_empty_flow_mapping_switches_to_block_style():
    doc = yamlio.parse_yaml("connections: {}\n")
    yamlio.set_path(doc, ["connections", "wh"], {"driver": "duckdb", "path": "x.duckdb"})
    assert yamlio.dump_yaml(doc) == "connections:\n  wh:\n    driver: duckdb\n    path: x.duckdb\n"


def test_update_config_validates_writes_and_commits(project):
    (project / "ktx.yaml").write_text(COMMENTED)
    proj = Project(project)
    commit = proj.update_config(lambda d: yamlio.set_path(d, ["llm", "models", "default"], "sonnet"), "setup: models")
    assert commit == git(project, "rev-parse", "HEAD")
    assert git(project, "log", "-1", "--format=%s|%an") == "setup: models|ktx"
    text = (project / "ktx.yaml").read_text()
    assert "# the main warehouse" in text and "default: sonnet" in text
    assert proj.config.llm.models.default == "sonnet"


def test_update_config_refuses_invalid_result_and_changes_nothing(project):
    proj = Project(project)
    before = (project / "ktx.yaml").read_text()
    head = git(project, "rev-parse", "HEAD")
    with pytest.raises(ConfigError, match=r"Unsupported llm\.provider\.backend: bogus"):
        proj.update_config(lambda d: yamlio.set_path(d, ["llm", "provider", "backend"], "bogus"), "bad")
    assert (project / "ktx.yaml").read_text() == before
    assert git(project, "rev-parse", "HEAD") == head


def test_commits_use_storage_git_author(project):
    (project / "ktx.yaml").write_text("storage:\n  git:\n    author: Data Bot <bot@acme.test>\n")
    proj = Project(project)
    proj.files.write("wiki/global/revenue.md", "# Revenue\n", "Write wiki page: revenue")
    assert git(project, "log", "-1", "--format=%an <%ae>|%s") == "Data Bot <bot@acme.test>|Write wiki page: revenue"


def test_files_write_many_and_remove_commit_exactly_those_paths(project):
    proj = Project(project)
    (project / "scratch.txt").write_text("user file, not ktx's")
    proj.files.write_many({"wiki/global/a.md": "a", "wiki/global/b.md": "b"}, "two pages")
    assert git(project, "show", "--name-only", "--format=", "HEAD").splitlines() == [
        "wiki/global/a.md",
        "wiki/global/b.md",
    ]
    proj.files.remove("wiki/global/a.md", "remove a")
    assert not (project / "wiki/global/a.md").exists()
    assert "wiki/global/a.md" not in git(project, "ls-files")
    assert "scratch.txt" not in git(project, "ls-files")
    assert proj.files.write("wiki/global/b.md", "b", "no change") is None


@pytest.mark.parametrize("bad", ["/etc/passwd", "../outside.md", "wiki/../../x", ".git/config"])
def test_path_guards(project, bad):
    with pytest.raises(PathGuardError):
        Project(project).files.write(bad, "x", "nope")


def test_atomic_write_leaves_no_temp_files_and_keeps_mode(tmp_path):
    target = tmp_path / "f.txt"
    atomic_write(target, "one", mode=0o600)
    atomic_write(target, "two")
    assert target.read_text() == "two"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


@pytest.mark.parametrize("syncfs", [True, False], ids=["one syncfs", "an fsync per file"])
def test_atomic_write_many_writes_every_file_or_leaves_the_old_ones(tmp_path, monkeypatch, syncfs):
    if not syncfs:
        monkeypatch.setattr(project_files, "_syncfs", lambda folders: False)  # as on macOS or Windows
    kept = tmp_path / "a" / "kept.yaml"
    kept.parent.mkdir()
    kept.write_text("old\n")
    kept.chmod(0o600)
    files = [(tmp_path / "a" / f"f{i}.yaml", f"n: {i}\n") for i in range(300)] + [(kept, b"new\n")]
    atomic_write_many([*files, (tmp_path / "b" / "c" / "deep.json", "{}")])
    assert [p.read_text() for p, _ in files[:3]] == ["n: 0\n", "n: 1\n", "n: 2\n"] and kept.read_text() == "new\n"
    assert (tmp_path / "b" / "c" / "deep.json").read_text() == "{}"
    assert kept.stat().st_mode & 0o777 == 0o600 and files[0][0].stat().st_mode & 0o777 == 0o644
    assert list(tmp_path.rglob("*.tmp")) == []
    # a file that cannot be written (its folder is a file): nothing is replaced, no temporary file is left
    (tmp_path / "blocked").write_text("a file")
    with pytest.raises(OSError):
        atomic_write_many([(kept, "newer\n"), (tmp_path / "blocked" / "x.yaml", "x")])
    assert kept.read_text() == "new\n" and list(tmp_path.rglob("*.tmp")) == []


def test_state_database_is_wal_and_migrated_once(tmp_path):
    db = tmp_path / ".ktx" / "db.sqlite"
    conn = open_state(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema_version() == len(migrations())
    conn.execute("INSERT INTO ktx_meta VALUES ('k', 'v')")
    conn.close()
    again = open_state(db)
    assert again.execute("SELECT value FROM ktx_meta WHERE key='k'").fetchone()[0] == "v"
    ro = open_state(db, read_only=True)
    with pytest.raises(sqlite3.OperationalError):
        ro.execute("INSERT INTO ktx_meta VALUES ('x', 'y')")


def test_bootstraps_a_repo_for_a_copied_project_without_git(tmp_path):
    root = tmp_path / "copied"
    root.mkdir()
    (root / "ktx.yaml").write_text("connections: {}\n")
    Project(root).files.write("wiki/global/x.md", "x", "first page")
    assert git(root, "log", "--format=%s").splitlines() == ["first page", "Initialize ktx project repository"]


def test_a_large_read_only_document_is_parsed_once_until_the_file_changes(tmp_path):
    from ktx.project.files import atomic_write

    path = tmp_path / "main.yaml"
    rows = "".join(f"  t{i}:\n    table: main.t{i}\n" for i in range(4000))
    atomic_write(path, "tables:\n" + rows)
    first = yamlio.safe_load_file(path)
    assert yamlio.safe_load_file(path) is first  # the second reader of an unchanged file shares the parse
    copy = tmp_path / "copy.yaml"
    copy.write_text(path.read_text())
    assert yamlio.safe_load_file(copy) is first  # so does a reader of the same text elsewhere
    atomic_write(path, "tables:\n" + rows + "  extra:\n    table: main.extra\n")
    again = yamlio.safe_load_file(path)
    assert again is not first and "extra" in again["tables"]  # a rewrite is read afresh
    small = tmp_path / "small.yaml"
    small.write_text("a: 1\n")
    assert yamlio.safe_load_file(small) is not yamlio.safe_load_file(small)  # small files are not kept
