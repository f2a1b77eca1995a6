"""`ktx setup` databases step: add, test and save a warehouse connection without editing YAML."""

from __future__ import annotations

import os
import stat
import uuid

import pytest

from tests.conftest import git
from tests.integration.warehouses import build_duckdb, pg_connect

REST = ["--no-input", "--skip-llm", "--skip-embeddings", "--skip-sources", "--skip-agents"]


def test_duckdb_connection_is_tested_saved_and_committed(run_ktx, project, tmp_path):
    wh = build_duckdb(tmp_path)
    result = run_ktx(
        "setup",
        *REST,
        "--database",
        "duckdb",
        "--database-connection-id",
        "shop",
        "--database-url",
        wh.config["path"],
        "--database-schema",
        "main",
        cwd=project,
    )
    assert result.returncode == 0, result.stderr
    assert "Connection test passed: shop (duckdb)" in result.stdout
    text = (project / "ktx.yaml").read_text()
    assert "shop:" in text and "driver: duckdb" in text and "- main" in text
    # The saved connection was then ingested (the context step): config commit, then the ingest commit.
    subjects = git(project, "log", "-2", "--format=%s").splitlines()
    assert subjects[1] == "setup: update ktx project config"
    assert subjects[0].startswith("ingest(live-database): shop ")
    assert (project / "semantic-layer" / "shop" / "_schema" / "main.yaml").is_file()
    query = run_ktx("sql", "-c", "shop", "--json", "select count(*) as n from orders", cwd=project)
    assert query.returncode == 0, query.stderr


def test_skip_context_saves_the_connection_without_ingesting(run_ktx, project, tmp_path):
    wh = build_duckdb(tmp_path)
    result = run_ktx(
        "setup", *REST, "--skip-context", "--database", "duckdb", "--database-connection-id", "shop",
        "--database-url", wh.config["path"], cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "run `ktx ingest shop` when ready" in result.stdout
    assert git(project, "log", "-1", "--format=%s") == "setup: update ktx project config"
    assert not (project / "semantic-layer" / "shop").exists()


def test_a_password_in_the_url_goes_to_a_secret_file_not_ktx_yaml(run_ktx, project):
    role = f"ktx_setup_{uuid.uuid4().hex[:8]}"
    password = "S3cret-" + uuid.uuid4().hex[:6]
    admin = pg_connect()
    admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        url = f"postgresql://{role}:{password}@127.0.0.1:5432/test"
        result = run_ktx(
            "setup",
            *REST,
            "--database",
            "postgres",
            "--database-connection-id",
            "pg",
            "--database-url",
            url,
            cwd=project,
        )
        assert result.returncode == 0, result.stderr
        text = (project / "ktx.yaml").read_text()
        assert password not in text and "url: file:" in text
        secret = project / ".ktx" / "secrets" / "pg-url"
        assert secret.read_text().strip() == url
        assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
        assert password not in result.stdout + result.stderr
        assert password not in git(project, "log", "-p")
        assert run_ktx("connection", "test", "pg", cwd=project).returncode == 0
    finally:
        admin.execute(f"DROP ROLE {role}")
        admin.close()


def test_a_failed_test_writes_nothing(run_ktx, project):
    before = (project / "ktx.yaml").read_text()
    result = run_ktx(
        "setup",
        *REST,
        "--database",
        "postgres",
        "--database-connection-id",
        "down",
        "--database-url",
        "postgresql://nobody:pw-never-shown@127.0.0.1:1/db",
        cwd=project,
    )
    assert result.returncode == 1
    assert "Connection test failed for down (postgres)" in result.stderr
    assert "pw-never-shown" not in result.stdout + result.stderr
    assert (project / "ktx.yaml").read_text() == before
    # nothing means nothing: the password is not left behind under .ktx/secrets/ either
    assert not (project / ".ktx" / "secrets" / "down-url").exists()
    leftovers = [p for p in project.rglob("*") if p.is_file() and ".git" not in p.parts]
    assert not [p for p in leftovers if "pw-never-shown" in p.read_text(errors="replace")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--database", "oracle", "--database-url", "x"], "Unsupported --database: oracle"),
        (["--database", "duckdb", "--database-connection-id", "bad id", "--database-url", "x"], "Invalid"),
        (["--database", "duckdb", "--database-url", "x", "--skip-databases"], "cannot be combined"),
        (["--database", "duckdb"], "--database duckdb needs --database-url"),
        (
            [
                "--database",
                "duckdb",
                "--database-url",
                "x",
                "--database-connection-id",
                "a",
                "--database-connection-id",
                "b",
            ],
            "exactly one --database-connection-id",
        ),
        (["--database", "sqlite", "--database-url", "x.db", "--database-schema", "main"], "does not apply to sqlite"),
    ],
)
def test_bad_database_flags_are_usage_errors(run_ktx, project, args, message):
    before = (project / "ktx.yaml").read_text()
    rest = [a for a in REST if a != "--skip-databases"]
    result = run_ktx("setup", *rest, *args, cwd=project)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert (project / "ktx.yaml").read_text() == before
