"""Install ktx into coding agents (skills, rules, MCP client config) and remove it again.

Every write is atomic, and a user's files are merged, never replaced: JSON config gets one key set (other keys
kept); a config file that is not valid JSON is reported and left alone. Everything written is recorded in
`.ktx/agents/install-manifest.json`, which `--remove` reads.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ktx.agents.targets import TARGETS, FileEntry, InstallContext, JsonKeyEntry, Mode, Scope, Snippet
from ktx.errors import KtxError, UsageError
from ktx.project.files import atomic_write

MANIFEST = Path(".ktx") / "agents" / "install-manifest.json"
DEFAULT_ENDPOINT = "http://localhost:7878/mcp"


@dataclass
class InstallResult:
    target: str
    scope: Scope
    mode: Mode
    install_root: Path
    files: list[Path] = field(default_factory=list)
    config_keys: list[tuple[Path, tuple[str, ...]]] = field(default_factory=list)
    snippets: list[Snippet] = field(default_factory=list)
    needs_daemon: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "scope": self.scope,
            "mode": self.mode,
            "installRoot": str(self.install_root),
            "files": [str(p) for p in self.files],
            "configKeys": [{"path": str(p), "jsonPath": list(k)} for p, k in self.config_keys],
            "snippets": [{"title": s.title, "text": s.text} for s in self.snippets],
            "requiresMcpDaemon": self.needs_daemon,
        }


def endpoint(project_dir: Path) -> tuple[str, bool, bool]:
    """(MCP URL, token auth, daemon running): the running daemon's, else the one stale state recorded, else the
    default; token auth from the state or from KTX_MCP_TOKEN being set."""
    from ktx.mcp.daemon import daemon_status

    status = daemon_status(project_dir)
    token_env = bool(os.environ.get("KTX_MCP_TOKEN"))
    if status.record and status.url:
        return status.url, bool(status.record.get("tokenAuth")) or token_env, status.state == "running"
    return DEFAULT_ENDPOINT, token_env, False


def check_scope(target: str, scope: Scope) -> None:
    spec = TARGETS.get(target)
    if spec is None:
        raise UsageError(f"Unknown --target {target} (use {', '.join(TARGETS)})")
    if scope not in spec.scopes:
        if scope == "global":
            raise UsageError(f"Global {target} installation is not supported; omit --global.")
        if scope == "local":
            raise UsageError("--local applies only to --target claude-code.")
        raise UsageError(f"{target} is always installed globally; pass --global.")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise KtxError(f"Cannot read {path}: {exc.strerror}") from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise KtxError(
            f"{path} is not valid JSON ({exc}); ktx left it unchanged.",
            hint="Fix or move the file, then run `ktx setup --agents` again.",
        ) from None
    if not isinstance(data, dict):
        raise KtxError(f"{path} does not hold a JSON object; ktx left it unchanged.")
    return data


def _set_key(data: dict[str, Any], path: tuple[str, ...], value: Any, where: Path) -> None:
    node = data
    for key in path[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise KtxError(f"{where}: '{key}' is not an object; ktx left the file unchanged.")
        node = child
    node[path[-1]] = value


def _delete_key(data: dict[str, Any], path: tuple[str, ...]) -> bool:
    node: Any = data
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            return False
    if isinstance(node, dict) and path[-1] in node:
        del node[path[-1]]
        return True
    return False


def read_manifest(project_dir: Path) -> dict[str, Any]:
    path = project_dir / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"version": 1, "projectDir": str(project_dir), "installs": [], "entries": []}
    except ValueError as exc:
        raise KtxError(f"{path} is not valid JSON ({exc}).") from None
    return data if isinstance(data, dict) else {"version": 1, "installs": [], "entries": []}


def _merge_manifest(project_dir: Path, results: list[InstallResult], entries: list[dict[str, Any]]) -> None:
    manifest = read_manifest(project_dir)
    installs = {f"{i['target']}:{i['scope']}:{i['mode']}:{i['installRoot']}": i for i in manifest.get("installs", [])}
    for r in results:
        installs[f"{r.target}:{r.scope}:{r.mode}:{r.install_root}"] = {
            "target": r.target,
            "scope": r.scope,
            "mode": r.mode,
            "installRoot": str(r.install_root),
        }
    by_key = {_entry_key(e): e for e in manifest.get("entries", [])}
    by_key.update({_entry_key(e): e for e in entries})
    data = {
        "version": 1,
        "projectDir": str(project_dir),
        "installedAt": datetime.now(UTC).isoformat(),
        "installs": list(installs.values()),
        "entries": list(by_key.values()),
    }
    atomic_write(project_dir / MANIFEST, json.dumps(data, indent=2) + "\n")


def _entry_key(entry: dict[str, Any]) -> str:
    return ":".join([entry["kind"], entry["path"], *entry.get("jsonPath", [])])


def install_agents(
    project_dir: Path,
    targets: list[str],
    *,
    scope: Scope = "project",
    mode: Mode = "mcp",
    install_root: Path | None = None,
    home: Path | None = None,
) -> list[InstallResult]:
    """Plan every target first (so a bad config file stops the install before anything is written), then
    write files, merge JSON keys and record them in the manifest."""
    home = home or Path.home()
    url, token_auth, running = endpoint(project_dir)
    plans = []
    for target in targets:
        target_scope: Scope = "global" if target == "claude-desktop" else scope
        check_scope(target, target_scope)
        root = (install_root or project_dir).expanduser().resolve()
        if root.exists() and not root.is_dir():
            raise UsageError(f"--install-dir {root} is a file; pass a directory.")
        ctx = InstallContext(target, target_scope, mode, root, project_dir, home, url, token_auth)
        plans.append((ctx, TARGETS[target].plan(ctx)))
    json_files: dict[Path, dict[str, Any]] = {}
    for _, plan in plans:
        for item in plan:
            if isinstance(item, JsonKeyEntry) and item.path not in json_files:
                json_files[item.path] = _read_json(item.path)
    results, entries = [], []
    for ctx, plan in plans:
        result = InstallResult(ctx.target, ctx.scope, ctx.mode, ctx.install_root)
        result.needs_daemon = TARGETS[ctx.target].http and not running
        for item in plan:
            if isinstance(item, FileEntry):
                atomic_write(item.path, item.content)
                result.files.append(item.path)
                entries.append({"kind": "file", "path": str(item.path), "role": item.role})
            elif isinstance(item, JsonKeyEntry):
                _set_key(json_files[item.path], item.json_path, item.value, item.path)
                result.config_keys.append((item.path, item.json_path))
                entries.append({"kind": "json-key", "path": str(item.path), "jsonPath": list(item.json_path)})
            else:
                result.snippets.append(item)
        results.append(result)
    for path, data in json_files.items():
        atomic_write(path, json.dumps(data, indent=2) + "\n")
    _merge_manifest(project_dir, results, entries)
    return results


def remove_agents(project_dir: Path) -> dict[str, list[str]]:
    """Delete every file and JSON key the manifest lists, then the manifest. Config files that no longer
    parse are reported and left alone."""
    manifest = read_manifest(project_dir)
    removed: dict[str, list[str]] = {"files": [], "keys": [], "skipped": []}
    for entry in manifest.get("entries", []):
        path = Path(entry["path"])
        if entry["kind"] == "file":
            if path.is_file():
                path.unlink()
                removed["files"].append(str(path))
                _prune_empty(path.parent, stop=project_dir)
        elif entry["kind"] == "json-key":
            try:
                data = _read_json(path)
            except KtxError as exc:
                removed["skipped"].append(exc.message)
                continue
            if _delete_key(data, tuple(entry["jsonPath"])):
                atomic_write(path, json.dumps(data, indent=2) + "\n")
                removed["keys"].append(f"{path}:{'.'.join(entry['jsonPath'])}")
    (project_dir / MANIFEST).unlink(missing_ok=True)
    return removed


def _prune_empty(folder: Path, *, stop: Path) -> None:
    """Remove the skill folders ktx created once they are empty (never the install root itself)."""
    for parent in (folder, folder.parent):
        if parent in (stop, Path.home()) or not parent.is_dir() or any(parent.iterdir()):
            return
        parent.rmdir()


def installed_agents(project_dir: Path) -> list[dict[str, Any]]:
    try:
        return list(read_manifest(project_dir).get("installs", []))
    except KtxError:
        return []
