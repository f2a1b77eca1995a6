"""`ktx admin init`: scaffold, its own git repo, the first commit, and the ownership rules."""

from __future__ import annotations

import subprocess

from tests.conftest import git


def test_scaffold_and_first_commit(run_ktx, tmp_path, home):
    # A user git identity must not leak into ktx's commits.
    (home / ".gitconfig").write_text("[user]\n  name = Real Person\n  email = real@person.example\n")
    root = tmp_path / "acme"
    result = run_ktx("admin", "init", str(root))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Initialized ktx project at {root}"
    assert lines[1] == f"Config: {root / 'ktx.yaml'}"
    head = git(root, "rev-parse", "HEAD")
    assert lines[2] == f"Commit: {head}"
    for rel in [
        "ktx.yaml",
        ".ktx/.gitignore",
        "wiki/global/.gitkeep",
        "semantic-layer/.gitkeep",
        "raw-sources/.gitkeep",
    ]:
        assert (root / rel).is_file(), rel
    assert (root / ".ktx" / "cache").is_dir()
    ignore = (root / ".ktx" / ".gitignore").read_text().splitlines()
    for entry in ["cache/", "db.sqlite", "db.sqlite-*", "secrets/", "setup/", "agents/", "ingest-transcripts/"]:
        assert entry in ignore
    assert git(root, "log", "--format=%an <%ae>|%cn <%ce>|%s") == (
        "ktx <ktx@example.com>|ktx <ktx@example.com>|Initialize ktx project: acme"
    )
    tracked = set(git(root, "ls-files").splitlines())
    assert "ktx.yaml" in tracked and ".ktx/.gitignore" in tracked
    assert git(root, "status", "--porcelain") == ""
    # the user's git config was not written to
    assert "ktx@example.com" not in (home / ".gitconfig").read_text()


def test_init_does_not_commit_unrelated_user_files(run_ktx, tmp_path):
    root = tmp_path / "existing"
    root.mkdir()
    (root / "notes.txt").write_text("mine")
    assert run_ktx("admin", "init", str(root)).returncode == 0
    assert "notes.txt" not in git(root, "ls-files")


def test_existing_project_needs_force_and_force_keeps_config(run_ktx, project):
    again = run_ktx("admin", "init", str(project))
    assert again.returncode == 1
    assert f"Project already contains ktx.yaml: {project / 'ktx.yaml'}" in again.stderr
    custom = "# mine\nconnections: {}\n"
    (project / "ktx.yaml").write_text(custom)
    (project / "wiki" / "global" / ".gitkeep").unlink()
    forced = run_ktx("admin", "init", "--force", str(project))
    assert forced.returncode == 0, forced.stderr
    assert "(kept existing)" in forced.stdout
    assert (project / "ktx.yaml").read_text() == custom
    assert (project / "wiki" / "global" / ".gitkeep").exists()


def test_refuses_a_repository_ktx_did_not_create(run_ktx, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    subprocess.run(["git", "init", "-q", str(foreign)], check=True)
    result = run_ktx("admin", "init", str(foreign))
    assert result.returncode == 1
    assert "is already a git repository that ktx did not create" in result.stderr
    assert not (foreign / "ktx.yaml").exists()


def test_worktree_style_git_file_is_foreign(run_ktx, tmp_path):
    wt = tmp_path / "wt"
    wt.mkdir()
    (wt / ".git").write_text("gitdir: /elsewhere\n")
    result = run_ktx("admin", "init", str(wt))
    assert result.returncode == 1 and "ktx did not create" in result.stderr


def test_project_nested_in_another_repo_gets_its_own(run_ktx, tmp_path):
    outer = tmp_path / "outer"
    outer.mkdir()
    subprocess.run(["git", "init", "-q", str(outer)], check=True)
    inner = outer / "analytics" / "ktx"
    assert run_ktx("admin", "init", str(inner)).returncode == 0
    assert (inner / ".git").is_dir()
    assert git(inner, "rev-parse", "--show-toplevel") == str(inner)
    assert git(outer, "status", "--porcelain") == "?? analytics/"


def test_init_json_output(run_ktx, tmp_path):
    import json

    result = run_ktx("admin", "init", str(tmp_path / "j"), "--json")
    data = json.loads(result.stdout)
    assert data["projectDir"] == str(tmp_path / "j") and len(data["commit"]) == 40
