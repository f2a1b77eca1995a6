"""Setup step: connect coding agents to ktx (skills, rules and MCP client config), or remove what was installed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ktx.agents.install import install_agents, remove_agents
from ktx.agents.targets import TARGETS
from ktx.errors import UsageError
from ktx.project.project import Project
from ktx.setup.options import SetupOptions
from ktx.setup.ui import SetupUI

MODES = ("mcp", "mcp-cli")


def validate_agent_flags(options: SetupOptions) -> None:
    for target in options.target or []:
        if target not in TARGETS:
            raise UsageError(f"Unknown --target {target} (use {', '.join(TARGETS)})")
    if options.agent_mode and options.agent_mode not in MODES:
        raise UsageError(f"Unsupported --mode {options.agent_mode} (use mcp or mcp-cli)")
    if options.local and options.global_:
        raise UsageError("Choose only one of --local and --global.")
    if options.local and any(t != "claude-code" for t in options.target or []):
        raise UsageError("--local applies only to --target claude-code.")
    if options.install_dir and (options.global_ or options.local):
        raise UsageError("--install-dir cannot be combined with --global or --local.")
    if options.install_dir and "claude-desktop" in (options.target or []):
        raise UsageError("--install-dir does not apply to claude-desktop (it is always installed globally).")
    if options.remove_agents and (options.target or options.agent_mode or options.install_dir):
        raise UsageError("--remove takes no other agent flags: it removes everything the install manifest lists.")


def _ask(project: Project, options: SetupOptions, ui: SetupUI) -> tuple[list[str], str, str, Path | None] | None:
    targets = list(options.target or [])
    if not targets:
        choice = ui.select(
            "Which agent should use ktx?",
            [(name, spec.label) for name, spec in TARGETS.items()] + [("skip", "Skip")],
            "Run in a TTY, or pass --target <target>.",
        )
        if choice == "skip":
            return None
        targets = [choice]
    mode = options.agent_mode
    if mode is None:
        if not ui.interactive:
            mode = "mcp"
        else:
            mode = ui.select(
                "What should agents be allowed to do?",
                [
                    ("mcp", "Use the ktx MCP tools (analytics skill)"),
                    ("mcp-cli", "MCP tools plus the ktx command line (admin skill and rule)"),
                    ("skip", "Skip"),
                ],
                "",
            )
            if mode == "skip":
                return None
    scope = "local" if options.local else "global" if options.global_ else "project"
    install_dir = Path(options.install_dir).expanduser() if options.install_dir else None
    if ui.interactive and scope == "project" and install_dir is None and targets != ["claude-desktop"]:
        choices = [("project", f"ktx project directory ({project.root})")]
        cwd = Path.cwd().resolve()
        if cwd != project.root:
            choices.append(("cwd", f"Current directory ({cwd})"))
        choices.append(("custom", "Custom directory…"))
        if all("global" in TARGETS[t].scopes for t in targets):
            choices.append(("global", "Global (your home directory)"))
        where = ui.select("Install into", choices, "")
        if where == "cwd":
            install_dir = cwd
        elif where == "custom":
            install_dir = Path(ui.text("Directory", "")).expanduser()
        elif where == "global":
            scope = "global"
    return targets, mode, scope, install_dir


def run_agents_step(project: Project, options: SetupOptions, ui: SetupUI) -> tuple[str, list[dict[str, Any]]]:
    """`ready`, `skipped` or `removed`, and the installs as JSON."""
    ui.step("Agent integration")
    if options.remove_agents:
        removed = remove_agents(project.root)
        ui.line(f"Removed {len(removed['files'])} file(s) and {len(removed['keys'])} config key(s).")
        for problem in removed["skipped"]:
            ui.warn(problem)
        return "removed", []
    if options.skip_agents:
        ui.line("Agent integration skipped.")
        return "skipped", []
    if not options.target and not ui.interactive:
        if options.agents:
            from ktx.setup.ui import MissingInput

            raise MissingInput("Run in a TTY, or pass --target <target>.")
        ui.line("Agent integration skipped; run `ktx setup --agents --target <agent>` to connect one.")
        return "skipped", []
    answers = _ask(project, options, ui)
    if answers is None:
        ui.line("Agent integration skipped.")
        return "skipped", []
    targets, mode, scope, install_dir = answers
    results = install_agents(project.root, targets, scope=scope, mode=mode, install_root=install_dir)  # type: ignore[arg-type]
    todo: list[str] = []
    for result in results:
        ui.line(f"{TARGETS[result.target].label} ({result.scope}, {result.mode}):")
        for path in result.files:
            ui.line(f"  wrote {path}")
        for path, key in result.config_keys:
            ui.line(f"  set {'.'.join(key)} in {path}")
        for snippet in result.snippets:
            ui.line(f"  {snippet.title}:")
            for line in snippet.text.splitlines():
                ui.line(f"    {line}")
            todo.append(
                "Point your MCP client at the URL above."
                if result.target == "universal"
                else f"Paste the {TARGETS[result.target].label} snippet above into its config."
            )
        if result.needs_daemon:
            ui.line("  Requires MCP to be started.")
        if result.handshake_recorded:
            ui.line("  recorded the MCP handshake: its first start answers without waiting for the MCP SDK")
        if result.handshake_error:
            ui.warn(f"could not record the MCP handshake ({result.handshake_error}); the first start will be slower")
    if any(r.needs_daemon for r in results):
        todo.append(f"Start MCP: ktx mcp start --project-dir '{project.root}' (stop it with `ktx mcp stop`).")
    if any(r.target == "claude-code" for r in results):
        root = next(r.install_root for r in results if r.target == "claude-code")
        todo.append(f"Open Claude Code: cd '{root}' && claude")
    if any(r.target == "cursor" for r in results):
        todo.append("Open the install directory in Cursor.")
    if any(r.target == "claude-desktop" for r in results):
        todo.append(
            "Restart Claude Desktop, then upload the skill zips from .ktx/agents/claude/ "
            "(Customize > Skills > + > Create skill > Upload a skill)."
        )
    if todo:
        ui.line("Required before using agents:")
        for number, item in enumerate(todo, start=1):
            ui.line(f"  {number}. {item}")
    return "ready", [r.to_json() for r in results]
