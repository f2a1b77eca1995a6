"""The agent targets ktx installs into: one entry per agent, naming the files it reads (skills, rules), where
its MCP client config lives, and which scopes it supports. Adding an agent is one entry here."""

from __future__ import annotations

import io
import json
import os
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

Scope = Literal["project", "global", "local"]
Mode = Literal["mcp", "mcp-cli"]


@dataclass(frozen=True)
class FileEntry:
    path: Path
    content: bytes
    role: str  # analytics-skill | skill | rule | claude-desktop-skill-bundle


@dataclass(frozen=True)
class JsonKeyEntry:
    path: Path
    json_path: tuple[str, ...]
    value: dict[str, Any]


@dataclass(frozen=True)
class MarkedSection:
    """A block of a shared Markdown file (Codex's AGENTS.md) between ktx's markers; the rest is the user's."""

    path: Path
    content: str
    role: str


@dataclass(frozen=True)
class Snippet:
    title: str
    text: str


@dataclass
class InstallContext:
    target: str
    scope: Scope
    mode: Mode
    install_root: Path  # project scope: where files go (default: the project directory)
    project_dir: Path
    home: Path
    endpoint: str
    token_auth: bool
    launcher: str = field(default_factory=lambda: f"'{sys.executable}' -m ktx")

    def headers(self, placeholder: str = "${KTX_MCP_TOKEN}") -> dict[str, str] | None:
        """The placeholder, never the token: each client expands its own syntax from its environment
        (Claude Code `${NAME}`, Cursor `${env:NAME}`, OpenCode `{env:NAME}`)."""
        return {"Authorization": f"Bearer {placeholder}"} if self.token_auth else None

    def render(self, template: str) -> str:
        text = resources.files("ktx.agents").joinpath("templates", template).read_text(encoding="utf-8")
        return text.replace("{launcher}", self.launcher).replace("{project_dir}", str(self.project_dir))


Plan = list[FileEntry | JsonKeyEntry | MarkedSection | Snippet]


def _http_value(ctx: InstallContext, *, typed: bool, placeholder: str = "${KTX_MCP_TOKEN}") -> dict[str, Any]:
    value: dict[str, Any] = {"type": "http"} if typed else {}
    value["url"] = ctx.endpoint
    headers = ctx.headers(placeholder)
    if headers:
        value["headers"] = headers
    return value


def _skills(ctx: InstallContext, base: Path, *, rule: Path | None) -> Plan:
    plan: Plan = [
        FileEntry(
            base / "skills" / "ktx-analytics" / "SKILL.md", ctx.render("analytics-skill.md").encode(), "analytics-skill"
        )
    ]
    if ctx.mode == "mcp-cli":
        plan.append(FileEntry(base / "skills" / "ktx" / "SKILL.md", ctx.render("admin-skill.md").encode(), "skill"))
        if rule is not None:
            plan.append(FileEntry(rule, ctx.render("admin-rule.md").encode(), "rule"))
    return plan


def _claude_code(ctx: InstallContext) -> Plan:
    base = ctx.home / ".claude" if ctx.scope == "global" else ctx.install_root / ".claude"
    plan = _skills(ctx, base, rule=base / "rules" / "ktx.md")
    value = _http_value(ctx, typed=True)
    if ctx.scope == "project":
        plan.append(JsonKeyEntry(ctx.install_root / ".mcp.json", ("mcpServers", "ktx"), value))
    elif ctx.scope == "global":
        plan.append(JsonKeyEntry(ctx.home / ".claude.json", ("mcpServers", "ktx"), value))
    else:
        key = ("projects", str(ctx.project_dir), "mcpServers", "ktx")
        plan.append(JsonKeyEntry(ctx.home / ".claude.json", key, value))
    return plan


def codex_home(home: Path) -> Path:
    return Path(os.environ.get("CODEX_HOME") or home / ".codex")


def _codex(ctx: InstallContext) -> Plan:
    # Codex reads instructions from AGENTS.md (the project's, and $CODEX_HOME/AGENTS.md globally): the rule is a
    # marked section there, which ktx can update and remove without touching the rest of the file.
    config_home = codex_home(ctx.home)
    base = config_home if ctx.scope == "global" else ctx.install_root / ".agents"
    plan = _skills(ctx, base, rule=None)
    if ctx.mode == "mcp-cli":
        agents_md = (config_home if ctx.scope == "global" else ctx.install_root) / "AGENTS.md"
        plan.append(MarkedSection(agents_md, ctx.render("admin-rule.md"), "rule"))
    lines = ["[mcp_servers.ktx]", f'url = "{ctx.endpoint}"']
    if ctx.token_auth:
        lines.append('bearer_token_env_var = "KTX_MCP_TOKEN"')
    where = f"{config_home / 'config.toml'} ($CODEX_HOME)" if os.environ.get("CODEX_HOME") else "~/.codex/config.toml"
    plan.append(Snippet(f"Add to {where}", "\n".join(lines)))
    return plan


def _mdc(description: str, body: str) -> bytes:
    # Cursor rules: frontmatter with a description and no globs, so the agent pulls the rule in when relevant.
    stripped = body.split("---", 2)[2].lstrip() if body.startswith("---") else body
    return f"---\ndescription: {description}\nalwaysApply: false\n---\n{stripped}".encode()


def _cursor(ctx: InstallContext) -> Plan:
    rules = ctx.install_root / ".cursor" / "rules"
    plan: Plan = [
        FileEntry(
            rules / "ktx-analytics.mdc",
            _mdc("Answer data questions with the ktx MCP tools", ctx.render("analytics-skill.md")),
            "analytics-skill",
        )
    ]
    if ctx.mode == "mcp-cli":
        plan.append(FileEntry(rules / "ktx.mdc", _mdc("The ktx command line", ctx.render("admin-skill.md")), "skill"))
    plan.append(
        JsonKeyEntry(
            ctx.install_root / ".cursor" / "mcp.json",
            ("mcpServers", "ktx"),
            _http_value(ctx, typed=False, placeholder="${env:KTX_MCP_TOKEN}"),
        )
    )
    return plan


def _opencode(ctx: InstallContext) -> Plan:
    commands = ctx.install_root / ".opencode" / "commands"
    plan: Plan = [
        FileEntry(commands / "ktx-analytics.md", ctx.render("analytics-skill.md").encode(), "analytics-skill")
    ]
    if ctx.mode == "mcp-cli":
        plan.append(FileEntry(commands / "ktx.md", ctx.render("admin-skill.md").encode(), "skill"))
    # OpenCode's config schema: a remote server is {type, url, enabled, headers, oauth}; `oauth: false` stops it
    # from trying OAuth discovery against a server that takes a bearer token.
    remote: dict[str, Any] = {"type": "remote", "url": ctx.endpoint, "enabled": True}
    headers = ctx.headers("{env:KTX_MCP_TOKEN}")
    if headers:
        remote["headers"] = headers
        remote["oauth"] = False
    snippet = json.dumps({"$schema": "https://opencode.ai/config.json", "mcp": {"ktx": remote}}, indent=2)
    plan.append(Snippet("Add to opencode.json (or ~/.config/opencode/opencode.json)", snippet))
    return plan


def _universal(ctx: InstallContext) -> Plan:
    plan = _skills(ctx, ctx.install_root / ".agents", rule=None)
    auth = " with header `Authorization: Bearer $KTX_MCP_TOKEN`" if ctx.token_auth else ""
    plan.append(Snippet("Point any MCP client at", f"{ctx.endpoint} (streamable HTTP){auth}"))
    return plan


def claude_desktop_config(home: Path) -> Path:
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json"
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA") or home / "AppData" / "Roaming") / "Claude" / "claude_desktop_config.json"
    return home / ".config" / "Claude" / "claude_desktop_config.json"


def _zip(name: str, content: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(f"{name}/SKILL.md", date_time=(2026, 1, 1, 0, 0, 0))
        archive.writestr(info, content)
    return buffer.getvalue()


def _claude_desktop(ctx: InstallContext) -> Plan:
    bundles = ctx.project_dir / ".ktx" / "agents" / "claude"
    plan: Plan = [
        FileEntry(
            bundles / "ktx-analytics.zip",
            _zip("ktx-analytics", ctx.render("analytics-skill.md")),
            "claude-desktop-skill-bundle",
        )
    ]
    if ctx.mode == "mcp-cli":
        plan.append(
            FileEntry(bundles / "ktx.zip", _zip("ktx", ctx.render("admin-skill.md")), "claude-desktop-skill-bundle")
        )
    # stdio: Claude Desktop launches ktx itself, so no daemon is needed. Only non-secret KTX_* settings are
    # copied; API keys stay where ktx.yaml's env:/file: references point.
    env = {
        k: v
        for k, v in sorted(os.environ.items())
        if k.startswith("KTX_") and v and k not in ("KTX_MCP_TOKEN",) and "KEY" not in k and "SECRET" not in k
    }
    value: dict[str, Any] = {
        "command": sys.executable,
        "args": ["-m", "ktx", "--project-dir", str(ctx.project_dir), "mcp", "stdio"],
    }
    if env:
        value["env"] = env
    plan.append(JsonKeyEntry(claude_desktop_config(ctx.home), ("mcpServers", "ktx"), value))
    return plan


@dataclass(frozen=True)
class AgentTarget:
    name: str
    label: str
    scopes: tuple[Scope, ...]
    plan: Callable[[InstallContext], Plan]
    http: bool = True  # talks to the HTTP daemon (claude-desktop launches stdio itself)


TARGETS: dict[str, AgentTarget] = {
    t.name: t
    for t in (
        AgentTarget("claude-code", "Claude Code", ("project", "global", "local"), _claude_code),
        AgentTarget("codex", "Codex", ("project", "global"), _codex),
        AgentTarget("cursor", "Cursor", ("project",), _cursor),
        AgentTarget("claude-desktop", "Claude Desktop", ("global",), _claude_desktop, http=False),
        AgentTarget("opencode", "OpenCode", ("project",), _opencode),
        AgentTarget("universal", "Any MCP client (.agents/skills)", ("project",), _universal),
    )
}
