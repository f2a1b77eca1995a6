"""A project change of more paths than a command line holds (a scan of 100,000 tables writes a shard per table)
is committed whole: the paths reach git through stdin, not as arguments."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ktx.project.gitrepo import GitError
from ktx.project.project import Project, init_project


def test_a_commit_of_more_paths_than_a_command_line_holds(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    init_project(root)
    project = Project(root)
    folder = root / "semantic-layer" / "wh" / "_schema" / ("a_rather_long_schema_name_" * 3)
    folder.mkdir(parents=True)
    paths = []
    for i in range(20_000):
        path = folder / f"table_with_a_long_descriptive_name_{i:06d}.yaml"
        path.write_text(f"t: {i}\n")
        paths.append(path)
    # too long as arguments (what git would be given: paths relative to the project)
    assert sum(len(str(p.relative_to(root))) + 1 for p in paths) > os.sysconf("SC_ARG_MAX")
    head = project.git.commit(paths, "ingest: 20,000 shards")
    assert head is not None and head == project.git.head()
    listed = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout
    assert len([line for line in listed.splitlines() if line.startswith("semantic-layer/wh/")]) == 20_000
    # Nothing changed: no commit. One file removed: a commit of just that deletion.
    assert project.git.commit(paths, "again") is None
    paths[7].unlink()
    assert project.git.commit(paths, "one shard gone") is not None
    shown = subprocess.run(["git", "show", "--stat", "--format=", "HEAD"], cwd=root, capture_output=True, text=True)
    assert "1 file changed" in shown.stdout


def test_a_folder_stands_for_its_files_and_other_staged_work_stays_out(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    init_project(root)
    project = Project(root)
    (root / "wiki" / "global" / "a.md").parent.mkdir(parents=True, exist_ok=True)
    (root / "wiki" / "global" / "a.md").write_text("a\n")
    (root / "wiki" / "global" / "b.md").write_text("b\n")
    (root / "wiki" / "global" / "scratch.tmp").write_text("x\n")
    (root / ".gitignore").write_text("*.tmp\n")
    (root / "notes.md").write_text("mine\n")
    subprocess.run(["git", "add", "notes.md", ".gitignore"], cwd=root, check=True)  # a person's staged work
    assert project.git.commit([root / "wiki"], "wiki: two pages") is not None
    committed = subprocess.run(["git", "show", "--name-only", "--format=", "HEAD"], cwd=root, capture_output=True,
                               text=True).stdout.split()  # fmt: skip
    assert committed == ["wiki/global/a.md", "wiki/global/b.md"]  # the ignored file and the staged notes: not
    staged = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=root, capture_output=True, text=True)
    assert staged.stdout.split() == [".gitignore", "notes.md"]  # still staged, for the person to commit
    (root / "wiki" / "global" / "b.md").unlink()
    assert project.git.commit([root / "wiki"], "wiki: one page removed") is not None
    listed = subprocess.run(["git", "ls-files", "wiki"], cwd=root, capture_output=True, text=True).stdout.split()
    assert "wiki/global/a.md" in listed and "wiki/global/b.md" not in listed
    with pytest.raises(GitError, match="scratch.tmp is ignored"):
        project.git.commit([root / "wiki" / "global" / "scratch.tmp"], "named outright")
