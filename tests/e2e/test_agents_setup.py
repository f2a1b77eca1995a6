"""`ktx setup --agents`: the files each agent reads, JSON merges that keep users' keys, the manifest and
`--remove`, refusals, and the Claude Desktop entry actually launching a working stdio server."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

from tests.conftest import RunKtx


def setup_agents(run_ktx: RunKtx, project: Path, *args: str, env: dict[str, str] | None = None):
    return run_ktx("--project-dir", str(project), "setup", "--agents", "--no-input", *args, env=env)


def test_claude_code_project_install_merges_and_removes_cleanly(run_ktx: RunKtx, project: Path) -> None:
    (project / ".mcp.json").write_text(json.dumps({"mcpServers": {"other": {"command": "x"}}, "keep": 1}))
    result = setup_agents(run_ktx, project, "--target", "claude-code", "--mode", "mcp-cli")
    assert result.returncode == 0, result.stderr
    config = json.loads((project / ".mcp.json").read_text())
    assert config["keep"] == 1 and config["mcpServers"]["other"] == {"command": "x"}
    assert config["mcpServers"]["ktx"] == {"type": "http", "url": "http://localhost:7878/mcp"}
    analytics = (project / ".claude/skills/ktx-analytics/SKILL.md").read_text()
    assert analytics.startswith("---\nname: ktx-analytics") and "discover_data" in analytics and "sl_query" in analytics
    admin = (project / ".claude/skills/ktx/SKILL.md").read_text()
    assert f"--project-dir '{project}'" in admin and " -m ktx" in admin
    assert (project / ".claude/rules/ktx.md").is_file()
    assert "Requires MCP to be started." in result.stdout and "ktx mcp start" in result.stdout
    manifest = json.loads((project / ".ktx/agents/install-manifest.json").read_text())
    assert manifest["installs"] == [
        {"target": "claude-code", "scope": "project", "mode": "mcp-cli", "installRoot": str(project)}
    ]
    assert {"kind": "json-key", "path": str(project / ".mcp.json"), "jsonPath": ["mcpServers", "ktx"]} in manifest[
        "entries"
    ]
    status = run_ktx("--project-dir", str(project), "status", "--json")
    data = json.loads(status.stdout)
    assert data["agents"][0]["target"] == "claude-code" and data["mcp"]["state"] == "stopped"

    removed = run_ktx("--project-dir", str(project), "setup", "--remove", "--no-input")
    assert removed.returncode == 0, removed.stderr
    assert json.loads((project / ".mcp.json").read_text()) == {"mcpServers": {"other": {"command": "x"}}, "keep": 1}
    assert not (project / ".claude").exists()
    assert not (project / ".ktx/agents/install-manifest.json").exists()


def test_a_malformed_config_file_is_reported_and_nothing_is_written(run_ktx: RunKtx, project: Path) -> None:
    (project / ".cursor").mkdir()
    (project / ".cursor/mcp.json").write_text("{broken")
    result = setup_agents(run_ktx, project, "--target", "cursor")
    assert result.returncode == 1
    assert f"{project / '.cursor/mcp.json'} is not valid JSON" in result.stderr and "unchanged" in result.stderr
    assert (project / ".cursor/mcp.json").read_text() == "{broken"
    assert not (project / ".cursor/rules").exists()
    assert not (project / ".ktx/agents/install-manifest.json").exists()


def test_refusals(run_ktx: RunKtx, project: Path) -> None:
    missing = setup_agents(run_ktx, project)
    assert missing.returncode == 1 and "Run in a TTY, or pass --target <target>." in missing.stderr
    cursor_global = setup_agents(run_ktx, project, "--target", "cursor", "--global")
    assert "Global cursor installation is not supported; omit --global." in cursor_global.stderr
    local = setup_agents(run_ktx, project, "--target", "codex", "--local")
    assert "--local applies only to --target claude-code." in local.stderr
    unknown = setup_agents(run_ktx, project, "--target", "vim")
    assert unknown.returncode == 2 and "Unknown --target vim" in unknown.stderr
    desktop_dir = setup_agents(run_ktx, project, "--target", "claude-desktop", "--install-dir", "x")
    assert "--install-dir does not apply to claude-desktop" in desktop_dir.stderr


def test_global_codex_and_claude_code_with_token_auth(run_ktx: RunKtx, project: Path, home: Path) -> None:
    token = "super-secret-token-value"
    codex_home = home / "codex-home"
    result = setup_agents(
        run_ktx,
        project,
        "--target",
        "codex",
        "--target",
        "claude-code",
        "--global",
        env={"KTX_MCP_TOKEN": token, "CODEX_HOME": str(codex_home)},
    )
    assert result.returncode == 0, result.stderr
    assert (codex_home / "skills/ktx-analytics/SKILL.md").is_file()
    assert (home / ".claude/skills/ktx-analytics/SKILL.md").is_file()
    claude = json.loads((home / ".claude.json").read_text())
    assert claude["mcpServers"]["ktx"]["headers"] == {"Authorization": "Bearer ${KTX_MCP_TOKEN}"}
    assert "[mcp_servers.ktx]\n" in result.stdout and 'bearer_token_env_var = "KTX_MCP_TOKEN"' in result.stdout
    for path in (home / ".claude.json", project / ".ktx/agents/install-manifest.json"):
        assert token not in path.read_text()
    assert token not in result.stdout + result.stderr


def test_claude_desktop_bundle_and_a_stdio_entry_that_really_serves(run_ktx: RunKtx, project: Path, home: Path) -> None:
    result = setup_agents(run_ktx, project, "--target", "claude-desktop", "--mode", "mcp-cli")
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(project / ".ktx/agents/claude/ktx-analytics.zip") as bundle:
        assert bundle.namelist() == ["ktx-analytics/SKILL.md"]
        assert "discover_data" in bundle.read("ktx-analytics/SKILL.md").decode()
    assert (project / ".ktx/agents/claude/ktx.zip").is_file()
    entry = json.loads((home / ".config/Claude/claude_desktop_config.json").read_text())["mcpServers"]["ktx"]
    assert entry["args"][-2:] == ["mcp", "stdio"]
    assert "Upload a skill" in result.stdout

    async def main() -> None:
        params = StdioServerParameters(command=entry["command"], args=entry["args"], env={"HOME": str(home)})
        async with Client(params) as client:
            names = [t.name for t in (await client.list_tools()).tools]
            assert "discover_data" in names

    anyio.run(main)
