"""`ktx setup --agents`: the files each agent reads, JSON merges that keep users' keys, the manifest and
`--remove`, refusals, and the Claude Desktop entry actually launching a working stdio server."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

from tests.conftest import RunKtx, clean_env


def setup_agents(run_ktx: RunKtx, project: Path, *args: str, env: dict[str, str] | None = None):
    return run_ktx("--project-dir", str(project), "setup", "--agents", "--no-input", *args, env=env)


def test_claude_code_project_install_merges_and_removes_cleanly(run_ktx: RunKtx, project: Path) -> None:
    original = json.dumps({"mcpServers": {"other": {"command": "x"}}, "keep": 1})
    (project / ".mcp.json").write_text(original)
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
    keys = [(e["kind"], e["path"], e.get("jsonPath")) for e in manifest["entries"]]
    assert ("json-key", str(project / ".mcp.json"), ["mcpServers", "ktx"]) in keys
    status = run_ktx("--project-dir", str(project), "status", "--json")
    data = json.loads(status.stdout)
    assert data["agents"][0]["target"] == "claude-code" and data["mcp"]["state"] == "stopped"

    removed = run_ktx("--project-dir", str(project), "setup", "--remove", "--no-input")
    assert removed.returncode == 0, removed.stderr
    assert (project / ".mcp.json").read_text() == original  # byte for byte, not re-indented
    assert not (project / ".claude").exists()
    assert not (project / ".ktx/agents").exists()


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
    # The handshake of every protocol version is recorded at set-up, so Claude Desktop's very first start is
    # answered before the MCP SDK loads.
    recording = project / ".ktx/cache/mcp-stdio-handshake.json"
    answers = json.loads(recording.read_text())["answers"]
    for version in ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"):
        assert answers[f"initialize|{version}"]["protocolVersion"] == version
        assert "discover_data" in {t["name"] for t in answers[f"tools/list|{version}"]["tools"]}
    assert "discover_data" in {t["name"] for t in answers["tools/list|2026-07-28"]["tools"]}
    assert "recorded the MCP handshake" in result.stdout
    recorded_at = recording.stat().st_mtime_ns

    async def main() -> None:
        params = StdioServerParameters(command=entry["command"], args=entry["args"], env={"HOME": str(home)})
        async with Client(params, mode="legacy") as client:
            listed = (await client.list_tools()).tools
            assert "discover_data" in {t.name for t in listed}
            recorded = answers[f"tools/list|{client.protocol_version}"]["tools"]
            assert [t.name for t in listed] == [t["name"] for t in recorded]
            result = await client.call_tool("wiki_search", {"query": "revenue", "limit": 3})
            assert not result.is_error

    anyio.run(main)
    # Nothing was left for the server to record: every answer of the handshake came from the set-up's recording.
    assert recording.stat().st_mtime_ns == recorded_at


CLAUDE_CLI = Path(__import__("claude_agent_sdk").__file__).parent / "_bundled" / "claude"
CODEX_CLI = Path(__import__("codex_cli_bin").__file__).parent / "bin" / "codex"


def _snippet(stdout: str, title_start: str) -> tuple[str, str]:
    """(title, text) of the snippet ktx printed under `  <title>:`, its lines indented by four spaces."""
    lines = [line.removeprefix("│  ") for line in stdout.splitlines()]
    index = next(i for i, line in enumerate(lines) if line.strip().startswith(title_start))
    body = []
    for line in lines[index + 1 :]:
        if not line.startswith("    "):
            break
        body.append(line[4:])
    return lines[index].strip().removesuffix(":"), "\n".join(body)


def _tree(root: Path) -> dict[str, bytes]:
    # .ktx/setup/ is the wizard's own progress record, not something an agent install leaves behind
    files = (p for p in sorted(root.rglob("*")) if p.is_file() and ".ktx/setup" not in str(p.relative_to(root)))
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


def _dirs(root: Path) -> set[str]:
    return {
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir() and ".ktx/setup" not in str(p.relative_to(root))
    }


def test_remove_gives_back_every_file_byte_for_byte_and_deletes_what_ktx_created(
    run_ktx: RunKtx, project: Path, home: Path
) -> None:
    # Hand-formatted, committed files: tabs, odd spacing, no trailing newline, keys ktx does not know.
    (project / ".mcp.json").write_text('{\n\t"mcpServers": { "db": {"command": "pg"} },\n\t"x": [1,2]\n}')
    (project / ".cursor").mkdir()
    (project / ".cursor/mcp.json").write_text('{"mcpServers":{"other":{"url":"http://o"}}}\n')
    (project / "AGENTS.md").write_text("# House rules\n\nUse tabs.")
    (home / ".claude.json").write_text(
        '{\n    "numStartups": 3,\n    "projects": {\n        "/elsewhere": {}\n    }\n}\n'
    )
    desktop = home / ".config/Claude/claude_desktop_config.json"
    desktop.parent.mkdir(parents=True)
    desktop.write_text('{ "globalShortcut": "" }\n')
    project_before, home_before = _tree(project), _tree(home)
    project_dirs, home_dirs = _dirs(project), _dirs(home)

    for args in (
        ("--target", "claude-code", "--mode", "mcp-cli"),
        ("--target", "claude-code", "--local"),
        ("--target", "claude-code", "--global", "--mode", "mcp-cli"),
        ("--target", "cursor", "--mode", "mcp-cli"),
        ("--target", "codex", "--mode", "mcp-cli"),
        ("--target", "opencode"),
        ("--target", "universal"),
        ("--target", "claude-desktop"),
    ):
        result = setup_agents(run_ktx, project, *args)
        assert result.returncode == 0, (args, result.stderr)
    # installing twice changes nothing and is undone as well
    assert setup_agents(run_ktx, project, "--target", "claude-code", "--mode", "mcp-cli").returncode == 0
    claude = json.loads((home / ".claude.json").read_text())
    assert claude["projects"][str(project)]["mcpServers"]["ktx"]["url"].endswith("/mcp")
    assert claude["numStartups"] == 3 and "ktx" in claude["mcpServers"]
    assert "<!-- ktx:begin" in (project / "AGENTS.md").read_text()

    removed = run_ktx("--project-dir", str(project), "setup", "--remove", "--no-input")
    assert removed.returncode == 0, removed.stderr
    assert _tree(project) == project_before
    assert _tree(home) == home_before
    assert _dirs(project) == project_dirs and _dirs(home) == home_dirs  # .claude/, .agents/, .ktx/agents/, ~/.claude/


def test_a_user_file_inside_a_folder_ktx_created_keeps_the_folder(run_ktx: RunKtx, project: Path) -> None:
    assert setup_agents(run_ktx, project, "--target", "claude-code").returncode == 0
    (project / ".claude/settings.json").write_text("{}")
    assert run_ktx("--project-dir", str(project), "setup", "--remove", "--no-input").returncode == 0
    assert (project / ".claude/settings.json").read_text() == "{}"
    assert not (project / ".claude/skills").exists() and not (project / ".mcp.json").exists()


def test_token_placeholders_in_each_clients_own_syntax(run_ktx: RunKtx, project: Path) -> None:
    env = {"KTX_MCP_TOKEN": "t" * 40}
    for target in ("claude-code", "cursor"):
        assert setup_agents(run_ktx, project, "--target", target, env=env).returncode == 0
    claude = json.loads((project / ".mcp.json").read_text())["mcpServers"]["ktx"]
    assert claude["headers"] == {"Authorization": "Bearer ${KTX_MCP_TOKEN}"}
    cursor = json.loads((project / ".cursor/mcp.json").read_text())["mcpServers"]["ktx"]
    assert cursor["headers"] == {"Authorization": "Bearer ${env:KTX_MCP_TOKEN}"}
    opencode = setup_agents(run_ktx, project, "--target", "opencode", env=env)
    snippet = json.loads(_snippet(opencode.stdout, "Add to opencode.json")[1])
    assert snippet["$schema"] == "https://opencode.ai/config.json"
    assert snippet["mcp"]["ktx"] == {
        "type": "remote",
        "url": "http://localhost:7878/mcp",
        "enabled": True,
        "headers": {"Authorization": "Bearer {env:KTX_MCP_TOKEN}"},
        "oauth": False,
    }
    universal = setup_agents(run_ktx, project, "--target", "universal", env=env)
    assert "Paste the Any MCP client" not in universal.stdout and "Point your MCP client at" in universal.stdout


def test_the_real_claude_cli_reads_the_mcp_json_ktx_writes(run_ktx: RunKtx, project: Path, home: Path) -> None:
    (project / ".mcp.json").write_text('{"mcpServers": {"db": {"command": "pg"}}}')
    assert setup_agents(run_ktx, project, "--target", "claude-code", env={"KTX_MCP_TOKEN": "t" * 40}).returncode == 0
    shown = subprocess.run(
        [str(CLAUDE_CLI), "mcp", "get", "ktx"],
        cwd=project,
        env=clean_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert "Type: http" in shown.stdout and "URL: http://localhost:7878/mcp" in shown.stdout
    assert "Authorization: Bearer ${KTX_MCP_TOKEN}" in shown.stdout


def test_codex_reads_the_printed_toml_and_the_agents_md_section(run_ktx: RunKtx, project: Path, home: Path) -> None:
    codex_home = home / "codex-home"
    env = {"KTX_MCP_TOKEN": "t" * 40, "CODEX_HOME": str(codex_home)}
    result = setup_agents(run_ktx, project, "--target", "codex", "--mode", "mcp-cli", env=env)
    assert result.returncode == 0, result.stderr
    title, text = _snippet(result.stdout, "Add to ")
    assert title == f"Add to {codex_home / 'config.toml'} ($CODEX_HOME)"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(text + "\n")
    listed = subprocess.run(
        [str(CODEX_CLI), "mcp", "list", "--json"],
        cwd=project,
        env=clean_env(home, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    (server,) = json.loads(listed.stdout)
    assert server["name"] == "ktx" and server["transport"]["url"] == "http://localhost:7878/mcp"
    assert server["transport"]["bearer_token_env_var"] == "KTX_MCP_TOKEN"
    agents_md = (project / "AGENTS.md").read_text()
    assert agents_md.startswith("<!-- ktx:begin") and "--project-dir" in agents_md
    assert not (project / ".codex").exists()
