"""`ktx setup` adds dbt, MetricFlow and LookML connections (a directory or a git repository) after checking the
source is there; bad flags and a missing source are refused before anything is written."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ktx.project.yamlio import safe_load
from tests.conftest import RunKtx

SKIP = ("--skip-llm", "--skip-embeddings", "--skip-databases", "--skip-context", "--skip-agents")


def _setup(run_ktx: RunKtx, project: Path, *args: str, env: dict[str, str] | None = None):
    return run_ktx("--project-dir", str(project), "setup", "--no-input", "--yes", *SKIP, *args, env=env)


def _with_warehouse(project: Path) -> None:
    text = (project / "ktx.yaml").read_text().replace("connections: {}", "")
    (project / "ktx.yaml").write_text(text + "\nconnections:\n  wh:\n    driver: sqlite\n    path: wh.sqlite\n")


def test_a_local_dbt_project_is_checked_and_saved(run_ktx: RunKtx, project: Path) -> None:
    _with_warehouse(project)
    dbt = project / "transform"
    (dbt / "models").mkdir(parents=True)
    (dbt / "dbt_project.yml").write_text("name: shop\n")
    done = _setup(run_ktx, project, "--source", "dbt", "--source-connection-id", "shop_dbt", "--source-path", str(dbt))
    assert done.returncode == 0, done.stderr
    assert "Found a dbt project for shop_dbt" in done.stdout
    conn = safe_load((project / "ktx.yaml").read_text())["connections"]["shop_dbt"]
    assert conn == {"driver": "dbt", "source_dir": "transform"}  # one warehouse: no mapping needed
    log = subprocess.run(["git", "log", "-1", "--name-only"], cwd=project, capture_output=True, text=True).stdout
    assert "ktx.yaml" in log


def test_a_git_repository_with_lookml(run_ktx: RunKtx, project: Path, tmp_path: Path) -> None:
    _with_warehouse(project)
    repo = tmp_path / "looker"
    repo.mkdir()
    (repo / "orders.view.lkml").write_text("view: orders { sql_table_name: orders ;; }\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "v"], check=True
    )
    done = _setup(
        run_ktx,
        project,
        "--source",
        "lookml",
        "--source-git-url",
        f"file://{repo}",
        "--source-auth-token-ref",
        "env:GH",
    )
    assert done.returncode == 0, done.stderr
    conn = safe_load((project / "ktx.yaml").read_text())["connections"]["lookml"]
    assert conn == {"driver": "lookml", "repoUrl": f"file://{repo}", "auth_token_ref": "env:GH"}


def test_refusals(run_ktx: RunKtx, project: Path, tmp_path: Path) -> None:
    _with_warehouse(project)
    before = (project / "ktx.yaml").read_text()
    both = _setup(run_ktx, project, "--source", "dbt", "--source-path", ".", "--source-git-url", "file:///x")
    assert both.returncode == 2 and "Choose only one of --source-path and --source-git-url" in both.stderr
    token = _setup(run_ktx, project, "--source", "dbt", "--source-path", ".", "--source-auth-token-ref", "ghp_abc")
    assert token.returncode == 2 and "env: or file: reference" in token.stderr and "ghp_abc" not in token.stderr
    skip = run_ktx("--project-dir", str(project), "setup", "--no-input", "--skip-sources", "--source", "dbt")
    assert skip.returncode == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = _setup(run_ktx, project, "--source", "metricflow", "--source-path", str(empty))
    assert missing.returncode == 1 and "no YAML with semantic_models: or metrics:" in missing.stderr
    assert (project / "ktx.yaml").read_text() == before
