"""Install ktx into coding agents (skills, rules, MCP client config) and remove it again.

Every write is atomic, and a user's files are merged, never replaced: JSON config gets one key set in its own text
(the rest of the file keeps its bytes), AGENTS.md one marked section; a config file that is not valid JSON is
reported and left alone. Everything written — and every file, key and folder that did not exist before — is recorded
in `.ktx/agents/install-manifest.json`, which `--remove` reads to give the machine back as it was.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ktx.agents.jsontext import JsonTextError, delete_key, get_key, set_key
from ktx.agents.targets import (
    TARGETS,
    FileEntry,
    InstallContext,
    JsonKeyEntry,
    MarkedSection,
    Mode,
    Scope,
    Snippet,
)
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
    # A client that launches `ktx mcp stdio` itself: the MCP handshake recorded for its first start, or why not.
    handshake_recorded: list[str] = field(default_factory=list)
    handshake_error: str | None = None

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
            "handshakeRecorded": self.handshake_recorded,
            "handshakeError": self.handshake_error,
        }


def endpoint(project_dir: Path) -> tuple[str, bool, bool]:
    """(MCP URL, token auth, daemon running): the running daemon's, else the one stale state recorded, else the
    default; token auth from the state or from KTX_MCP_TOKEN being set."""
    from ktx.mcp.daemon import daemon_status

    status = daemon_status(project_dir)
    token_env = bool(os.environ.get("KTX_MCP_TOKEN"))
    recorded_dir = (status.record or {}).get("projectDir")
    ours = bool(recorded_dir) and Path(str(recorded_dir)).resolve() == project_dir.resolve()
    if status.record and status.url and ours:  # a state file copied from another project names its daemon
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


def _read_text(path: Path) -> str | None:
    """The file's text, None when it does not exist; a config that is not a JSON object is refused."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise KtxError(f"Cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if not text.strip():
        return text
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise KtxError(
            f"{path} is not valid JSON ({exc}); ktx left it unchanged.",
            hint="Fix or move the file, then run `ktx setup --agents` again.",
        ) from None
    if not isinstance(data, dict):
        raise KtxError(f"{path} does not hold a JSON object; ktx left it unchanged.")
    return text


def _missing_dirs(path: Path) -> list[str]:
    """The folders above `path` that do not exist yet (deepest first): ktx created them, so --remove may too."""
    missing = []
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        missing.append(str(parent))
        parent = parent.parent
    return missing


def read_manifest(project_dir: Path) -> dict[str, Any]:
    path = project_dir / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"version": 1, "projectDir": str(project_dir), "installs": [], "entries": []}
    except ValueError as exc:
        raise KtxError(f"{path} is not valid JSON ({exc}).") from None
    return data if isinstance(data, dict) else {"version": 1, "installs": [], "entries": []}


def _merge_manifest(
    project_dir: Path, manifest: dict[str, Any], results: list[InstallResult], entries: list[dict[str, Any]]
) -> None:
    installs = {f"{i['target']}:{i['scope']}:{i['mode']}:{i['installRoot']}": i for i in manifest.get("installs", [])}
    for r in results:
        installs[f"{r.target}:{r.scope}:{r.mode}:{r.install_root}"] = {
            "target": r.target,
            "scope": r.scope,
            "mode": r.mode,
            "installRoot": str(r.install_root),
        }
    by_key = {_entry_key(e): e for e in manifest.get("entries", [])}
    for entry in entries:
        # What the first install created stays recorded: a re-install finds ktx's own key and folders present.
        previous = by_key.get(_entry_key(entry), {})
        by_key[_entry_key(entry)] = {**entry, **{k: v for k, v in previous.items() if k.startswith("created")}}
    data = {
        "version": 2,
        "projectDir": str(project_dir),
        "installedAt": datetime.now(UTC).isoformat(),
        "installs": list(installs.values()),
        "entries": list(by_key.values()),
    }
    manifest_path = project_dir / MANIFEST
    if not manifest_path.parent.exists():
        data["createdDirs"] = _missing_dirs(manifest_path)
    elif "createdDirs" in manifest:
        data["createdDirs"] = manifest["createdDirs"]
    atomic_write(manifest_path, json.dumps(data, indent=2) + "\n")


def _entry_key(entry: dict[str, Any]) -> str:
    return ":".join([entry["kind"], entry["path"], *entry.get("jsonPath", [])])


SECTION_BEGIN = "<!-- ktx:begin (managed by `ktx setup --agents`; `ktx setup --remove` deletes it) -->"
SECTION_END = "<!-- ktx:end -->"


def _with_section(text: str, content: str) -> tuple[str, str]:
    """The text with ktx's section set, and the separator put before a new section (recorded for removal)."""
    block = f"{SECTION_BEGIN}\n{content.rstrip()}\n{SECTION_END}\n"
    begin, end = text.find(SECTION_BEGIN), text.find(SECTION_END)
    if begin != -1 and end > begin:
        return text[:begin] + block + text[end + len(SECTION_END) :].removeprefix("\n"), ""
    separator = "" if not text else ("\n" if text.endswith("\n") else "\n\n")
    return text + separator + block, separator


def _without_section(text: str, separator: str) -> str | None:
    begin, end = text.find(SECTION_BEGIN), text.find(SECTION_END)
    if begin == -1 or end < begin:
        return None
    after = text[end + len(SECTION_END) :].removeprefix("\n")
    before = text[:begin]
    if separator and before.endswith(separator):
        before = before[: -len(separator)]
    return before + after


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
    write files, set JSON keys in the config files' own text and record what was created in the manifest."""
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
    manifest = read_manifest(project_dir)
    texts: dict[Path, str | None] = {}
    for _, plan in plans:
        for item in plan:
            if isinstance(item, JsonKeyEntry | MarkedSection) and item.path not in texts:
                texts[item.path] = _read_text(item.path) if isinstance(item, JsonKeyEntry) else _read_plain(item.path)
    originals = dict(texts)
    results, entries = [], []
    for ctx, plan in plans:
        result = InstallResult(ctx.target, ctx.scope, ctx.mode, ctx.install_root)
        result.needs_daemon = TARGETS[ctx.target].http and not running
        for item in plan:
            if isinstance(item, FileEntry):
                created = _missing_dirs(item.path)
                existed = item.path.exists()
                atomic_write(item.path, item.content)
                result.files.append(item.path)
                entries.append(
                    {
                        "kind": "file",
                        "path": str(item.path),
                        "role": item.role,
                        "createdDirs": created,
                        "createdFile": not existed,
                    }
                )
            elif isinstance(item, JsonKeyEntry):
                try:
                    texts[item.path], created_path = set_key(texts[item.path] or "", item.json_path, item.value)
                except JsonTextError as exc:
                    raise KtxError(f"{item.path}: {exc}; ktx left the file unchanged.") from None
                result.config_keys.append((item.path, item.json_path))
                entries.append(
                    {
                        "kind": "json-key",
                        "path": str(item.path),
                        "jsonPath": list(item.json_path),
                        "createdPath": list(created_path),
                        "createdFile": not (originals[item.path] or "").strip(),
                        "createdDirs": _missing_dirs(item.path),
                    }
                )
            elif isinstance(item, MarkedSection):
                texts[item.path], separator = _with_section(texts[item.path] or "", item.content)
                result.files.append(item.path)
                entries.append(
                    {
                        "kind": "section",
                        "path": str(item.path),
                        "role": item.role,
                        "createdSeparator": separator,
                        "createdFile": originals[item.path] is None,
                        "createdDirs": _missing_dirs(item.path),
                    }
                )
            else:
                result.snippets.append(item)
        results.append(result)
    for path, text in texts.items():
        if text is not None and text != originals[path]:
            atomic_write(path, text)
    for result in results:
        if not TARGETS[result.target].http:
            entries += _record_handshake(project_dir, result)
    _merge_manifest(project_dir, manifest, results, entries)
    return results


def _record_handshake(project_dir: Path, result: InstallResult) -> list[dict[str, Any]]:
    """A client that launches the stdio server itself is answered from a recorded handshake from its first start
    on (otherwise the first start waits ~0.7 s for the MCP SDK to load). Best effort: the install stands without.
    Returns manifest entries for the recordings this made (`--remove` deletes them)."""
    from ktx.mcp.stdio_fast import prepare, recording_paths

    before = {path: (path.exists(), _missing_dirs(path)) for path in recording_paths(project_dir)}
    try:
        result.handshake_recorded = prepare(project_dir)
    except Exception as exc:  # any failure only makes the first start slower
        result.handshake_error = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return [
        {
            "kind": "file",
            "path": str(path),
            "role": "mcp-handshake-recording",
            "createdDirs": created,
            "createdFile": True,
        }
        for path, (existed, created) in before.items()
        if not existed and path.is_file()
    ]


def _read_plain(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise KtxError(f"Cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None


def remove_agents(project_dir: Path) -> dict[str, list[str]]:
    """Undo every install the manifest lists: ktx's files, keys and sections go, the files and folders ktx
    created go when nothing else is left in them, and every file that existed before comes back byte for byte
    (unless someone edited it since; then only ktx's part is cut out). Unparseable configs are left alone."""
    manifest = read_manifest(project_dir)
    removed: dict[str, list[str]] = {"files": [], "keys": [], "skipped": []}
    folders: list[str] = []
    for entry in manifest.get("entries", []):
        path = Path(entry["path"])
        folders += entry.get("createdDirs", [])
        if entry["kind"] == "file":
            if path.is_file():
                path.unlink()
                removed["files"].append(str(path))
        elif entry["kind"] == "json-key":
            outcome = _remove_key(path, entry)
            if outcome.startswith("skipped:"):
                removed["skipped"].append(outcome.removeprefix("skipped:"))
            elif outcome:
                removed["keys"].append(outcome)
        elif entry["kind"] == "section":
            text = _read_plain(path)
            rest = _without_section(text, entry.get("createdSeparator", "")) if text is not None else None
            if rest is None:
                continue
            if entry.get("createdFile") and not rest.strip():
                path.unlink()
                removed["files"].append(str(path))
            else:
                atomic_write(path, rest)
                removed["keys"].append(f"{path}: ktx section")
    (project_dir / MANIFEST).unlink(missing_ok=True)
    folders += manifest.get("createdDirs", [str(project_dir / MANIFEST.parent)])
    _remove_empty_folders(folders)
    return removed


def _remove_key(path: Path, entry: dict[str, Any]) -> str:
    try:
        text = _read_text(path)
    except KtxError as exc:
        return f"skipped:{exc.message}"
    if text is None:
        return ""
    leaf = tuple(entry["jsonPath"])
    created = tuple(entry.get("createdPath") or ())
    try:
        updated = delete_key(text, leaf)
        if updated is None:
            return ""
        # Objects ktx created on the way to its key go too, once nothing else is in them.
        for depth in range(len(leaf) - 1, len(created) - 1, -1) if created else ():
            if get_key(updated, leaf[:depth]) == {}:
                updated = delete_key(updated, leaf[:depth]) or updated
    except JsonTextError as exc:
        return f"skipped:{path}: {exc}; ktx left it unchanged."
    if entry.get("createdFile") and json.loads(updated) == {}:
        path.unlink()
    else:
        atomic_write(path, updated)
    return f"{path}:{'.'.join(leaf)}"


def _remove_empty_folders(folders: list[str]) -> None:
    """Folders ktx created, deepest first, each only when empty (a user's file in one keeps it)."""
    for folder in sorted(set(folders), key=lambda f: f.count(os.sep), reverse=True):
        path = Path(folder)
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def installed_agents(project_dir: Path) -> list[dict[str, Any]]:
    try:
        return list(read_manifest(project_dir).get("installs", []))
    except KtxError:
        return []
