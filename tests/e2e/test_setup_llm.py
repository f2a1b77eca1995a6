"""`ktx setup` LLM and embeddings steps, scripted, through the real CLI process, for every backend.
Claude Code and Codex are the stand-in binaries; Anthropic, Vertex and OpenAI are loopback servers."""

from __future__ import annotations

import json

import pytest
from ruamel.yaml import YAML

from tests.conftest import git
from tests.fakes.anthropic_api import AnthropicStandIn, error
from tests.fakes.embeddings_api import EmbeddingsStandIn
from tests.fakes.google_auth import service_account_file
from tests.fakes.harness import FakeClaude, FakeCodex

SKIP_REST = ["--skip-databases", "--skip-sources", "--skip-agents"]
COMMENTED = "# Team config: keep this comment\nconnections: {}\nstorage:\n  git:\n    author: ktx <ktx@example.com>  # bot\nfuture_key: 1\n"


def load(project):
    return YAML(typ="safe").load((project / "ktx.yaml").read_text())


def setup(run_ktx, project, *args, env=None):
    return run_ktx("setup", "--no-input", "--yes", *args, cwd=project, env=env)


@pytest.fixture
def claude(tmp_path):
    return FakeClaude(tmp_path)


def test_claude_code_setup_writes_presets_in_place_and_commits(run_ktx, project, claude):
    (project / "ktx.yaml").write_text(COMMENTED)
    claude.script_runs({"turns": [{"text": "ok"}]})
    env = {"KTX_CLAUDE_CODE_CLI": str(claude.cli)}
    result = setup(run_ktx, project, "--llm-backend", "claude-code", "--skip-embeddings", *SKIP_REST, env=env)
    assert result.returncode == 0, result.stderr
    for model in ("sonnet", "haiku", "opus"):
        assert f"LLM test passed (Claude subscription, {model})" in result.stdout
    assert "LLM ready: yes (sonnet)" in result.stdout
    text = (project / "ktx.yaml").read_text()
    assert text.startswith("# Team config: keep this comment\n") and "# bot" in text and "future_key: 1" in text
    data = load(project)
    assert data["llm"]["provider"] == {"backend": "claude-code"}
    assert data["llm"]["models"] == {
        "default": "sonnet",
        "triage": "haiku",
        "candidateExtraction": "sonnet",
        "curator": "opus",
        "reconcile": "opus",
        "repair": "haiku",
    }
    assert data["scan"]["enrichment"]["mode"] == "llm"
    assert (
        git(project, "log", "-1", "--format=%an <%ae>|%s")
        == "ktx setup <setup@ktx.local>|setup: update ktx project config"
    )
    state = json.loads((project / ".ktx" / "setup" / "state.json").read_text())
    assert state["completed_steps"] == ["project", "llm", "databases", "sources", "agents"]
    assert len(claude.runs()) == 3  # one probe per distinct model

    status = run_ktx("status", "--json", cwd=project, env=env)
    llm = json.loads(status.stdout)["llm"]
    assert (llm["status"], llm["detail"]) == ("ok", "local Claude Code session authenticated")
    fast = json.loads(run_ktx("status", "--json", "--fast", cwd=project, env=env).stdout)["llm"]
    assert fast["status"] == "skipped" and fast["detail"] == "auth probe skipped (--fast)"


def test_failing_non_default_model_falls_back_with_a_warning(run_ktx, project, claude):
    failing = {"turns": [{"text": ""}], "result": {"subtype": "success", "is_error": True, "result": "model not found"}}
    claude.script_runs({"turns": [{"text": "ok"}]}, failing, {"turns": [{"text": "ok"}]})
    result = setup(
        run_ktx,
        project,
        "--llm-backend",
        "claude-code",
        "--skip-embeddings",
        *SKIP_REST,
        env={"KTX_CLAUDE_CODE_CLI": str(claude.cli)},
    )
    assert result.returncode == 0, result.stderr
    assert "LLM model haiku is unavailable for triage, repair; using sonnet for those roles." in result.stderr
    models = load(project)["llm"]["models"]
    assert models["triage"] == models["repair"] == "sonnet" and models["curator"] == "opus"


def test_failing_default_model_leaves_ktx_yaml_unchanged(run_ktx, project, claude):
    (project / "ktx.yaml").write_text(COMMENTED)
    head = git(project, "rev-parse", "HEAD")
    claude.script_runs(
        {
            "turns": [{"text": ""}],
            "result": {"subtype": "success", "is_error": True, "result": "Invalid API key · Please run /login"},
        }
    )
    result = setup(
        run_ktx,
        project,
        "--llm-backend",
        "claude-code",
        "--skip-embeddings",
        *SKIP_REST,
        env={"KTX_CLAUDE_CODE_CLI": str(claude.cli)},
    )
    assert result.returncode == 1
    assert "Claude Code authentication is not usable" in result.stderr and "Traceback" not in result.stderr
    assert (project / "ktx.yaml").read_text() == COMMENTED
    assert git(project, "rev-parse", "HEAD") == head


def test_claude_code_warns_about_ignored_cache_fields(run_ktx, project, claude):
    (project / "ktx.yaml").write_text("llm:\n  promptCaching:\n    enabled: true\n    systemTtl: 1h\n")
    claude.script_runs({"turns": [{"text": "ok"}]})
    result = setup(
        run_ktx,
        project,
        "--llm-backend",
        "claude-code",
        "--skip-embeddings",
        *SKIP_REST,
        env={"KTX_CLAUDE_CODE_CLI": str(claude.cli)},
    )
    assert result.returncode == 0
    assert "claude-code ignores llm.promptCaching.systemTtl because the Claude Agent SDK" in result.stderr
    assert load(project)["llm"]["promptCaching"] == {"enabled": True, "systemTtl": "1h"}  # kept as is
    status = json.loads(run_ktx("status", "--json", "--fast", cwd=project).stdout)
    assert any("claude-code ignores llm.promptCaching.systemTtl" in w["message"] for w in status["warnings"])


def test_codex_setup_prints_the_isolation_warning(run_ktx, project, tmp_path):
    codex = FakeCodex(tmp_path)
    codex.script_runs({"items": [{"type": "message", "text": "ok"}]})
    env = codex.env
    result = setup(run_ktx, project, "--llm-backend", "codex", "--skip-embeddings", *SKIP_REST, env=env)
    assert result.returncode == 0, result.stderr
    assert "LLM test passed (Codex, gpt-5.5)" in result.stdout and "LLM ready: yes (codex, gpt-5.5)" in result.stdout
    assert "│  Codex backend isolation is limited by the public Codex SDK/CLI surface" in result.stderr
    assert set(load(project)["llm"]["models"].values()) == {"gpt-5.5"}
    assert len(codex.runs()) == 1
    status = json.loads(run_ktx("status", "--json", cwd=project, env=env).stdout)
    assert status["llm"]["status"] == "ok" and status["verdict"] == "partial"


def test_codex_model_not_available_is_not_reported_as_auth(run_ktx, project, tmp_path):
    codex = FakeCodex(tmp_path)
    codex.script_runs(
        {"items": [], "turn_error": "The 'gpt-5.5' model is not supported when using Codex with a ChatGPT account."}
    )
    result = setup(
        run_ktx,
        project,
        "--llm-backend",
        "codex",
        "--skip-embeddings",
        *SKIP_REST,
        env=codex.env,
    )
    assert result.returncode == 1
    assert 'Codex is authenticated, but the configured model "gpt-5.5" is not available' in result.stderr


@pytest.fixture
def api():
    server = AnthropicStandIn()
    yield server
    server.close()


def test_anthropic_setup_checks_each_model_and_enables_caching(run_ktx, project, api):
    env = {"ANTHROPIC_BASE_URL": api.base_url, "MY_ANTHROPIC_KEY": "sk-ant-secret-value"}
    result = setup(
        run_ktx,
        project,
        "--llm-backend",
        "anthropic",
        "--anthropic-api-key-env",
        "MY_ANTHROPIC_KEY",
        "--skip-embeddings",
        *SKIP_REST,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    data = load(project)
    assert data["llm"]["provider"] == {"backend": "anthropic", "anthropic": {"api_key": "env:MY_ANTHROPIC_KEY"}}
    assert data["llm"]["models"]["curator"] == "claude-opus-4-7" and data["llm"]["promptCaching"] == {"enabled": True}
    assert [b["model"] for b in api.bodies] == ["claude-sonnet-4-6", "claude-haiku-4-5", "claude-opus-4-7"]
    assert all(b["max_tokens"] == 8 for b in api.bodies)
    assert "sk-ant-secret-value" not in result.stdout + result.stderr + (project / "ktx.yaml").read_text()


def test_anthropic_failures(run_ktx, project, api):
    missing = setup(
        run_ktx,
        project,
        "--llm-backend",
        "anthropic",
        "--anthropic-api-key-env",
        "NOPE",
        "--skip-embeddings",
        *SKIP_REST,
    )
    assert missing.returncode == 1 and "Missing Anthropic API key: NOPE is not set." in missing.stderr
    no_flag = setup(run_ktx, project, "--llm-backend", "anthropic", "--skip-embeddings", *SKIP_REST)
    assert "Missing Anthropic API key: pass --anthropic-api-key-env or --anthropic-api-key-file." in no_flag.stderr
    api.queue(error(401, "invalid x-api-key"))
    env = {"ANTHROPIC_BASE_URL": api.base_url, "K": "sk-bad"}
    bad = setup(
        run_ktx,
        project,
        "--llm-backend",
        "anthropic",
        "--anthropic-api-key-env",
        "K",
        "--skip-embeddings",
        *SKIP_REST,
        env=env,
    )
    assert (
        bad.returncode == 1
        and "Anthropic model health check failed: anthropic API error 401: invalid x-api-key" in bad.stderr
    )
    assert "provider" not in (load(project).get("llm") or {}) or load(project)["llm"]["provider"]["backend"] == "none"


def test_gateway_setup_with_its_flags(run_ktx, project, api):
    env = {"GW_KEY": "gw-secret-value"}
    result = setup(
        run_ktx,
        project,
        "--llm-backend",
        "gateway",
        "--gateway-base-url",
        api.base_url,
        "--gateway-api-key-env",
        "GW_KEY",
        "--skip-embeddings",
        *SKIP_REST,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    data = load(project)["llm"]
    assert data["provider"] == {"backend": "gateway", "gateway": {"base_url": api.base_url, "api_key": "env:GW_KEY"}}
    assert data["models"]["default"] == "anthropic/claude-sonnet-4-6"
    assert [b["model"] for b in api.bodies] == [
        "anthropic/claude-sonnet-4-6",
        "anthropic/claude-haiku-4-5",
        "anthropic/claude-opus-4-7",
    ]
    assert "gw-secret-value" not in result.stdout + result.stderr + (project / "ktx.yaml").read_text()
    missing = setup(run_ktx, project, "--llm-backend", "gateway", "--skip-embeddings", *SKIP_REST)
    assert missing.returncode == 1 and "Missing gateway URL: pass --gateway-base-url" in missing.stderr


def test_vertex_setup(run_ktx, project, api, tmp_path):
    creds = service_account_file(tmp_path, f"{api.base_url}/token")
    env = {"ANTHROPIC_VERTEX_BASE_URL": f"{api.base_url}/v1", "GOOGLE_APPLICATION_CREDENTIALS": str(creds)}
    result = setup(
        run_ktx,
        project,
        "--llm-backend",
        "vertex",
        "--vertex-project",
        "acme-ml",
        "--skip-embeddings",
        *SKIP_REST,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    data = load(project)["llm"]
    assert data["provider"]["vertex"] == {"project": "acme-ml", "location": "us-east5"}
    assert data["promptCaching"] == {"enabled": True, "vertexFallbackTo5m": True}
    assert api.requests[0]["path"].startswith("/v1/projects/acme-ml/locations/us-east5/publishers/anthropic/models/")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--anthropic-api-key-env", "A", "--anthropic-api-key-file", "/x"],
            "Choose only one Anthropic credential source: --anthropic-api-key-env or --anthropic-api-key-file.",
        ),
        (
            ["--llm-backend", "codex", "--anthropic-api-key-env", "A"],
            "Anthropic API key flags are only valid with --llm-backend anthropic.",
        ),
        (
            ["--llm-backend", "anthropic", "--vertex-project", "p"],
            "Vertex AI flags are only valid with --llm-backend vertex.",
        ),
        (
            ["--skip-embeddings"],
            "Missing LLM backend: pass --llm-backend with one of claude-code, codex, anthropic, vertex, gateway, none.",
        ),
        (
            ["--llm-backend", "anthropic", "--gateway-base-url", "https://gw"],
            "Gateway flags are only valid with --llm-backend gateway.",
        ),
    ],
)
def test_flag_validation_messages(run_ktx, project, args, message):
    before = (project / "ktx.yaml").read_text()
    result = setup(run_ktx, project, *args, *SKIP_REST)
    # Contradictory flags are usage errors (2); a missing answer under --no-input is a plain failure (1).
    assert result.returncode == (1 if message.startswith("Missing") else 2) and message in result.stderr
    assert (project / "ktx.yaml").read_text() == before


def test_setup_needs_yes_to_create_a_project_and_agents_are_separate(run_ktx, tmp_path):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    result = run_ktx("setup", "--no-input", "--skip-llm", "--skip-embeddings", *SKIP_REST, cwd=fresh)
    assert result.returncode == 1 and "Missing setup choice: pass --yes" in result.stderr
    assert not (fresh / "ktx.yaml").exists()
    # `--agents` runs only the project step and the agents step.
    agents = run_ktx("setup", "--no-input", "--yes", "--agents", "--target", "codex", cwd=fresh)
    assert agents.returncode == 0, agents.stderr
    assert (fresh / ".agents/skills/ktx-analytics/SKILL.md").is_file() and "[mcp_servers.ktx]" in agents.stdout
    help_text = run_ktx("setup", "--help", env={"COLUMNS": "400"}).stdout
    assert "it is unrelated to `--llm-backend codex`, which makes ktx itself run on Codex" in help_text


def test_openai_embeddings_step(run_ktx, project, tmp_path):
    server = EmbeddingsStandIn(dimensions=1536)
    try:
        env = {"OPENAI_BASE_URL": f"{server.base_url}/v1", "EMB_KEY": "sk-emb"}
        result = setup(
            run_ktx,
            project,
            "--skip-llm",
            "--embedding-backend",
            "openai",
            "--embedding-api-key-env",
            "EMB_KEY",
            *SKIP_REST,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        assert load(project)["ingest"]["embeddings"] == {
            "backend": "openai",
            "model": "text-embedding-3-small",
            "dimensions": 1536,
            "openai": {"api_key": "env:EMB_KEY"},
        }
        assert server.requests[0]["body"]["input"] == "ktx embedding health check"
        wrong = EmbeddingsStandIn(dimensions=1536, wrong_dimensions=8)
        try:
            bad = setup(
                run_ktx,
                project,
                "--skip-llm",
                "--embedding-backend",
                "openai",
                "--embedding-api-key-env",
                "EMB_KEY",
                *SKIP_REST,
                env={**env, "OPENAI_BASE_URL": f"{wrong.base_url}/v1"},
            )
            assert bad.returncode == 1 and "Embedding health check failed" in bad.stderr
        finally:
            wrong.close()
    finally:
        server.close()


@pytest.mark.slow
def test_local_embeddings_step_runs_the_bundled_model(run_ktx, project):
    result = setup(run_ktx, project, "--skip-llm", "--embedding-backend", "sentence-transformers", *SKIP_REST)
    assert result.returncode == 0, result.stderr
    assert "Embeddings ready: yes (sentence-transformers all-MiniLM-L6-v2, 384 dims)" in result.stdout
    assert load(project)["ingest"]["embeddings"]["dimensions"] == 384
    assert "Loading weights" not in result.stderr and "it/s]" not in result.stderr  # no library progress bars
