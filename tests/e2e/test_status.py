"""`ktx status`: --validate, project mode verdicts and exit codes, no-project mode, secrets never shown."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import git


def write_config(project, text):
    (project / "ktx.yaml").write_text(text)


def test_validate_unknown_key_warns_and_leaves_file_untouched(run_ktx, project):
    text = "# keep me\nconnections: {}\nllm:\n  models:\n    bogus: x\nmystery: 1\n"
    write_config(project, text)
    result = run_ktx("status", "--validate", cwd=project)
    assert result.returncode == 0
    assert "Config ktx.yaml schema valid · 2 ignored field(s): llm.models.bogus, mystery" in result.stdout
    assert "Unsupported mystery: unknown field (ignored)" in result.stdout
    assert (project / "ktx.yaml").read_text() == text
    as_json = json.loads(run_ktx("status", "--validate", "--json", cwd=project).stdout)
    assert as_json["ok"] is True
    assert [w["path"] for w in as_json["warnings"]] == ["llm.models.bogus", "mystery"]


def test_validate_bad_value_is_an_error_with_exit_1(run_ktx, project):
    write_config(project, "llm:\n  provider:\n    backend: nope\n")
    result = run_ktx("status", "--validate", cwd=project)
    assert result.returncode == 1
    assert "Config ktx.yaml has 1 schema issue(s)" in result.stdout
    assert "Unsupported llm.provider.backend: nope" in result.stdout
    data = json.loads(run_ktx("status", "--validate", "--json", cwd=project).stdout)
    assert data["error"] == "invalid_config"
    assert data["issues"] == [
        {"path": "llm.provider.backend", "message": "Unsupported llm.provider.backend: nope", "severity": "error"}
    ]
    # project mode refuses too
    assert run_ktx("status", cwd=project).returncode == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("connections: [\n", "ktx.yaml parse error:"),
        ("- a\n- b\n", "ktx.yaml must contain a YAML object"),
    ],
)
def test_validate_syntax_and_root_errors(run_ktx, project, text, message):
    write_config(project, text)
    result = run_ktx("status", "--validate", cwd=project)
    assert result.returncode == 1 and message in result.stdout
    assert "Traceback" not in result.stderr


def test_other_commands_refuse_an_invalid_config_with_the_path(run_ktx, project):
    write_config(project, "connections:\n  wh:\n    driver: postgres\n    port: many\n")
    result = run_ktx("connection", "list", cwd=project)
    assert result.returncode == 1
    assert "Invalid ktx.yaml: connections.wh.port:" in result.stderr
    assert "ktx status --validate" in result.stderr


def test_fresh_project_is_partial_without_llm_and_exits_0(run_ktx, project):
    result = run_ktx("status", "--json", cwd=project)
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["projectName"] == "proj" and data["verdict"] == "partial"
    assert data["llm"]["status"] == "warn" and data["llm"]["backend"] == "none"
    assert data["verdictReason"] == "Partially ready — LLM not configured."
    assert data["localStats"]["unavailable"] == "no .ktx/db.sqlite yet"
    plain = run_ktx("status", cwd=project)
    assert plain.stdout.startswith("ktx status · proj (")
    assert "⚠ Partially ready — LLM not configured." in plain.stdout


def test_missing_default_model_blocks_with_exit_1(run_ktx, project):
    write_config(project, "llm:\n  provider:\n    backend: anthropic\n")
    result = run_ktx("status", "--json", cwd=project)
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["verdict"] == "blocked"
    assert data["llm"]["detail"] == 'llm.models.default is required for backend "anthropic"'


def test_ready_project_and_secret_values_never_printed(run_ktx, project):
    secret = "sk-ant-SUPERSECRET-123"
    write_config(
        project,
        "llm:\n  provider:\n    backend: anthropic\n    anthropic:\n      api_key: env:MY_KEY\n"
        "  models:\n    default: claude-sonnet-4-6\n",
    )
    result = run_ktx("status", "--json", cwd=project, env={"MY_KEY": secret})
    assert result.returncode == 0, result.stdout
    data = json.loads(result.stdout)
    assert data["llm"]["status"] == "ok" and data["llm"]["detail"] == "key set (env: MY_KEY)"
    assert data["verdict"] == "ready" and data["nextActions"] == ["ktx status --json", "ktx sl", "ktx wiki"]
    plain = run_ktx("status", "--verbose", cwd=project, env={"MY_KEY": secret})
    for out in (result.stdout, result.stderr, plain.stdout, plain.stderr):
        assert secret not in out
    missing = json.loads(run_ktx("status", "--json", cwd=project).stdout)
    assert missing["llm"]["status"] == "warn" and missing["llm"]["detail"] == "key missing (env: MY_KEY)"
    assert missing["verdictReason"] == "Partially ready — LLM credentials missing."


def test_anthropic_env_fallback_and_file_reference(run_ktx, project, tmp_path):
    base = "llm:\n  provider:\n    backend: anthropic\n  models:\n    default: claude-sonnet-4-6\n"
    write_config(project, base)
    data = json.loads(run_ktx("status", "--json", cwd=project, env={"ANTHROPIC_API_KEY": "x"}).stdout)
    assert data["llm"]["detail"] == "key set (env: ANTHROPIC_API_KEY)"
    write_config(
        project,
        base.replace("backend: anthropic\n", f"backend: anthropic\n    anthropic:\n      api_key: file:{tmp_path}/k\n"),
    )
    assert json.loads(run_ktx("status", "--json", cwd=project).stdout)["llm"]["status"] == "warn"
    (tmp_path / "k").write_text("secret-in-file")
    out = run_ktx("status", "--json", cwd=project)
    assert json.loads(out.stdout)["llm"]["status"] == "ok" and "secret-in-file" not in out.stdout


def test_connection_static_checks_and_warnings(run_ktx, project):
    write_config(
        project,
        "connections:\n"
        "  pg:\n    driver: postgres\n    url: env:PG_URL\n"
        "  local:\n    driver: duckdb\n    path: missing.duckdb\n"
        "  my:\n    driver: mysql\n    host: db\n"
        "ingest:\n  adapters: [live-database, dbt]\n",
    )
    data = json.loads(run_ktx("status", "--json", cwd=project).stdout)
    conns = {c["name"]: c for c in data["connections"]}
    assert conns["pg"]["status"] == "warn" and conns["pg"]["detail"] == "url missing (env: PG_URL)"
    assert conns["local"]["status"] == "warn" and "not found" in conns["local"]["detail"]
    assert conns["my"]["status"] == "ok" and conns["my"]["detail"] == "host configured"
    messages = [w["message"] for w in data["warnings"]]
    assert any("Adapter dbt is enabled but no connection" in m for m in messages)
    assert any("Embeddings are off while live-database" in m for m in messages)
    assert data["verdict"] == "partial"
    ok = json.loads(run_ktx("status", "--json", cwd=project, env={"PG_URL": "postgresql://u:p@h/db"}).stdout)
    assert {c["name"]: c["status"] for c in ok["connections"]}["pg"] == "ok"
    assert "postgresql://u:p@h/db" not in json.dumps(ok)


def test_query_history_on_unsupported_driver_blocks(run_ktx, project):
    write_config(
        project,
        "connections:\n  my:\n    driver: mysql\n    host: db\n    context:\n      queryHistory:\n        enabled: true\n",
    )
    result = run_ktx("status", "--json", cwd=project)
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["queryHistory"][0]["status"] == "fail" and data["verdict"] == "blocked"


def test_claude_code_cache_fields_and_codex_isolation_warnings(run_ktx, project):
    write_config(
        project,
        "llm:\n  provider:\n    backend: claude-code\n  models:\n    default: sonnet\n"
        "  promptCaching:\n    enabled: true\n    systemTtl: 1h\n    historyTtl: 5m\n",
    )
    data = json.loads(run_ktx("status", "--json", "--fast", cwd=project).stdout)
    assert data["llm"]["status"] == "skipped" and data["llm"]["detail"] == "auth probe skipped (--fast)"
    assert data["warnings"][0]["message"].startswith(
        "claude-code ignores llm.promptCaching.systemTtl, llm.promptCaching.historyTtl because"
    )
    assert data["promptCaching"] == {"enabled": True, "systemTtl": "1h", "historyTtl": "5m"}
    write_config(project, "llm:\n  provider:\n    backend: codex\n  models:\n    default: gpt-5.5\n")
    data = json.loads(run_ktx("status", "--json", "--fast", cwd=project).stdout)
    assert data["verdict"] == "partial" and "Codex backend isolation is limited" in data["warnings"][0]["message"]


def test_no_project_runs_environment_checks(run_ktx, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_ktx("status", cwd=empty)
    assert result.returncode == 0 and "No project here yet." in result.stdout
    data = json.loads(run_ktx("status", "--json", cwd=empty).stdout)
    assert {c["id"] for c in data["checks"]} == {"python", "git", "sqlite-fts5"}
    assert data["project"] is None
    validate = run_ktx("status", "--validate", cwd=empty)
    assert validate.returncode == 1 and "No ktx project here yet." in validate.stderr


def test_status_writes_nothing(run_ktx, project):
    before = git(project, "rev-parse", "HEAD")
    run_ktx("status", cwd=project)
    assert git(project, "rev-parse", "HEAD") == before
    assert git(project, "status", "--porcelain") == ""


def test_misspelt_connection_keys_warn_with_did_you_mean_in_status_and_on_commands(run_ktx, project):
    write_config(
        project,
        "connections:\n  wh:\n    driver: duckdb\n    pth: shop.duckdb\n    schemass: [main]\n"
        "  pg:\n    driver: postgres\n    url: postgresql://127.0.0.1/test\n    schema_s: [public]\n",
    )
    validated = run_ktx("--project-dir", str(project), "status", "--validate")
    assert "connections.wh.pth: unknown key for a duckdb connection (ignored) — did you mean 'path'?" in (
        validated.stdout
    )
    assert "connections.wh.schemass" in validated.stdout and "did you mean 'schemas'?" in validated.stdout
    listed = run_ktx("--project-dir", str(project), "connection", "list")
    assert listed.returncode == 0
    assert "Warning: ktx.yaml: Unsupported connections.pg.schema_s" in listed.stderr


def test_a_stale_git_index_lock_is_reported_then_recovered_by_the_next_write(run_ktx, project):
    """kill -9 of a git mid-write leaves .git/index.lock; every later commit used to fail until it was deleted."""
    (project / ".git" / "index.lock").write_text("")
    status = run_ktx("--project-dir", str(project), "status", "--json")
    repository = json.loads(status.stdout)["storage"]["repository"]
    assert repository["status"] == "warn" and "left .git/index.lock" in repository["detail"]
    assert "left .git/index.lock" in run_ktx("--project-dir", str(project), "status").stdout
    (project / "ktx.yaml").write_text((project / "ktx.yaml").read_text() + "# edited\n")
    wrote = run_ktx("--project-dir", str(project), "setup", "--no-input", "--llm-backend", "none",
                    "--skip-embeddings", "--skip-databases", "--skip-sources", "--skip-agents")  # fmt: skip
    assert wrote.returncode == 0, wrote.stderr
    assert not (project / ".git" / "index.lock").exists()
    log = subprocess.run(["git", "-C", str(project), "log", "--oneline"], capture_output=True, text=True).stdout
    assert "setup: update ktx project config" in log


def test_a_lock_a_live_git_holds_is_not_removed(project):
    from ktx.project.gitrepo import GitRepo

    lock = project / ".git" / "index.lock"
    with open(lock, "w"):  # held open, as a running git holds it
        repo = GitRepo(project, "t <t@t>")
        assert repo.index_lock_state() == "live"
    assert repo.index_lock_state() == "stale"


def test_api_source_checks_name_the_missing_setting(run_ktx, project):
    write_config(
        project,
        "connections:\n"
        "  mb:\n    driver: metabase\n    api_url: https://mb.example.com\n    api_key_ref: env:MB_KEY\n"
        "  lk:\n    driver: looker\n    base_url: https://lk.example.com\n    client_secret_ref: env:LK_SECRET\n"
        "  lk2:\n    driver: looker\n    base_url: https://lk.example.com\n    client_id: abc\n"
        "    client_secret_ref: env:LK_SECRET\n",
    )
    conns = {c["name"]: c for c in json.loads(run_ktx("status", "--json", cwd=project).stdout)["connections"]}
    assert (conns["mb"]["status"], conns["mb"]["detail"]) == ("warn", "api_key missing (env: MB_KEY)")
    assert (conns["lk"]["status"], conns["lk"]["detail"]) == ("warn", "client_id not set")
    ok = run_ktx("status", "--json", cwd=project, env={"MB_KEY": "mb_1", "LK_SECRET": "s3cr3t-lk"})
    conns = {c["name"]: c for c in json.loads(ok.stdout)["connections"]}
    assert conns["mb"]["status"] == "ok" and conns["lk2"]["detail"] == "base_url: https://lk.example.com"
    assert "s3cr3t-lk" not in ok.stdout
