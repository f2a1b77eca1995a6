"""Human rendering of status results. Plain and pretty share the same lines; pretty adds colour."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ktx.cli.output import Glyphs

Line = tuple[str, str]  # (text, rich style)

_STYLE = {"ok": "green", "pass": "green", "warn": "yellow", "fail": "red", "skipped": "dim"}


def _ago(timestamp: float) -> str:
    import time

    seconds = max(0, int(time.time() - timestamp))
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'' if n == 1 else 's'} ago"
    return "just now"


def human_bytes(size: int | None) -> str:
    if size is None:
        return "none"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def tilde(path: str) -> str:
    home = str(Path.home())
    return "~" + path[len(home) :] if path == home or path.startswith(home + os.sep) else path


def _status_line(label: str, status: str, detail: str, g: Glyphs, width: int = 14) -> Line:
    return (f"{label:<{width}} {g.for_status(status)} {detail}", _STYLE.get(status, ""))


def _fix(fix: str | None, g: Glyphs, indent: str = "    ") -> list[Line]:
    return [(f"{indent}→ {fix}" if g.ok == "✓" else f"{indent}-> {fix}", "dim")] if fix else []


def project_status_lines(status: dict[str, Any], g: Glyphs, *, verbose: bool = False) -> list[Line]:
    lines: list[Line] = [
        (f"ktx status {g.dot} {status['projectName']} ({tilde(status['projectDir'])})", "bold"),
        ("", ""),
    ]
    llm = status["llm"]
    lines.append(
        _status_line("LLM", llm["status"], f"{llm['backend']} {g.dot} {llm.get('model') or '-'}  {llm['detail']}", g)
    )
    lines += _fix(llm.get("fix"), g)
    emb = status["embeddings"]
    emb_head = emb["backend"] + (f" {g.dot} {emb['model']}" if emb.get("model") else "")
    lines.append(_status_line("Embeddings", emb["status"], f"{emb_head}  {emb['detail']}", g))
    lines += _fix(emb.get("fix"), g)
    st = status["storage"]
    lines.append((f"{'Storage':<14} {st['state']} {g.dot} {st['search']}", ""))
    evals = status.get("evals")
    if evals:
        when = (evals.get("finishedAt") or "").replace("T", " ")[:16]
        lines.append(_status_line("Evals", evals["status"], f"{evals['passed']}/{evals['total']} passed ({when})", g))
    repo = st.get("repository")
    if repo:
        lines.append(_status_line("Repository", repo["status"], repo["detail"], g))
        lines += _fix(repo.get("fix"), g)
    cfg = status["config"]
    lines.append(_status_line("Config", cfg["status"], cfg["detail"], g))
    lines.append(("", ""))
    conns = status["connections"]
    lines.append((f"Connections ({len(conns)})", "bold"))
    if not conns:
        lines.append(("  none configured — run `ktx setup` to add one", "dim"))
    width = max((len(c["name"]) for c in conns), default=0)
    for conn in conns:
        lines.append(
            (
                f"  {conn['name']:<{width}}  {conn['driver']:<10} {g.for_status(conn['status'])} {conn['detail']}",
                _STYLE.get(conn["status"], ""),
            )
        )
        lines += _fix(conn.get("fix"), g, "      ")
    if status["queryHistory"]:
        lines.append(("", ""))
        lines.append(("Query history", "bold"))
        for qh in status["queryHistory"]:
            lines.append(
                (
                    f"  {qh['connection']}  {g.for_status(qh['status'])} {qh['detail']}",
                    _STYLE.get(qh["status"], ""),
                )
            )
            lines += _fix(qh.get("fix"), g, "      ")
    pipe = status["pipeline"]
    lines.append(("", ""))
    lines.append(("Pipeline", "bold"))
    lines.append((f"  {'Adapters':<14} {', '.join(pipe['adapters']) or 'none'}", ""))
    rel = "relationships on" if pipe["relationshipsEnabled"] else "relationships off"
    lines.append((f"  {'Enrichment':<14} {pipe['enrichmentMode']} {g.dot} {rel}", ""))
    lines.append(("", ""))
    lines.append(("Agents", "bold"))
    mcp = status.get("mcp") or {}
    mcp_status = {"running": "ok", "stale": "warn"}.get(mcp.get("state", ""), "skip")
    mcp_text = mcp.get("detail", "")
    if mcp.get("state") == "running":
        mcp_text = f"{mcp['url']} {g.dot} token auth {'on' if mcp.get('tokenAuth') else 'off'}"
    lines.append(_status_line("  MCP", mcp_status, mcp_text, g, width=16))
    if mcp.get("state") == "stale":
        lines += _fix("ktx mcp stop, then ktx mcp start", g)
    installs = status.get("agents") or []
    text = ", ".join(f"{i['target']}:{i['scope']} ({i['mode']})" for i in installs) or "none (ktx setup --agents)"
    lines.append((f"  {'Installed':<14} {text}", "" if installs else "dim"))
    conflicts = status.get("conflicts") or []
    if conflicts:
        lines.append(("", ""))
        lines.append((f"Open conflicts ({len(conflicts)})", "bold"))
        for c in conflicts[:10]:
            lines.append(
                (
                    f"  {g.warn} {c['target']} {c['key']}: reviewed `{c['reviewed']}` vs `{c['proposed']}` ({c['source']})",
                    "yellow",
                )
            )
        if len(conflicts) > 10:
            lines.append((f"  … and {len(conflicts) - 10} more (ktx status --json)", "dim"))
    local = status["localStats"]
    disk = local["projectDir"]
    raw = disk["rawSources"]
    lines.append(("", ""))
    lines.append(("Local data", "bold"))
    if local.get("unavailable"):
        lines.append((f"  {local['unavailable']}", "dim"))
    ingest = local.get("ingest")
    if ingest is not None:
        if ingest["perConnection"]:
            last = ", ".join(f"{r['connectionId']} {_ago(r['lastCompletedAt'])}" for r in ingest["perConnection"])
            text = f"{ingest['totalCompletedRuns']} completed {g.dot} last: {last}"
        else:
            text = "none yet (ktx ingest <connection>)"
        lines.append((f"  {'Ingest':<14} {text}", ""))
    lines.append(
        (
            f"  {'Disk':<14} db={human_bytes(disk['dbSqliteBytes'])} {g.dot} "
            f"cache={human_bytes(disk['ktxCacheBytes'])} "
            f"{g.dot} raw-sources={raw['fileCount']} files ({human_bytes(raw['bytes'])})",
            "",
        )
    )
    if status["warnings"]:
        lines.append(("", ""))
        lines.append(("Warnings", "bold"))
        for warning in status["warnings"]:
            lines.append((f"  {g.warn} {warning['message']}", "yellow"))
            lines += _fix(warning.get("fix"), g)
    if verbose:
        lines.append(("", ""))
        lines.append(("Details", "bold"))
        wu = status["workUnits"]
        lines.append(
            (
                f"  {'Work units':<16} stepBudget={wu['stepBudget']}, "
                f"maxConcurrency={wu['maxConcurrency']}, failureMode={wu['failureMode']}",
                "",
            )
        )
        if "promptCaching" in status:
            pc = status["promptCaching"]
            lines.append((f"  {'Prompt caching':<16} " + ", ".join(f"{k}={v}" for k, v in pc.items()), ""))
        lines.append((f"  {'Git author':<16} {st['gitAuthor']}", ""))
        for issue in status["config"]["issues"]:
            lines.append((f"  {g.warn} {issue['message']}", "yellow"))
    lines.append(("", ""))
    symbol = {"ready": g.ok, "partial": g.warn, "blocked": g.fail}[status["verdict"]]
    style = {"ready": "green", "partial": "yellow", "blocked": "red"}[status["verdict"]]
    lines.append((f"{symbol} {status['verdictReason']}", f"bold {style}"))
    label = "Try" if status["verdict"] == "ready" else "Next"
    lines.append((f"{label}: {', '.join(status['nextActions'])}  ({status['durationMs']} ms)", "dim"))
    return lines


def validation_lines(issues: Sequence[dict[str, Any]], ok: bool, g: Glyphs) -> list[Line]:
    errors = [i for i in issues if i["severity"] == "error"]
    warnings = [i for i in issues if i["severity"] == "warning"]
    if not ok and errors and all(not i["path"] for i in errors):
        # The file could not be parsed at all (syntax, encoding, size): not a schema problem.
        lines = [(f"{g.fail} Config ktx.yaml cannot be read", "bold red")]
    elif not ok:
        lines = [
            (
                f"{g.fail} Config ktx.yaml has {len(errors)} schema issue(s) {g.dot} {len(warnings)} ignored field(s)",
                "bold red",
            )
        ]
    elif warnings:
        fields = ", ".join(w["path"] for w in warnings)
        lines = [
            (
                f"{g.warn} Config ktx.yaml schema valid {g.dot} {len(warnings)} ignored field(s): {fields}",
                "yellow",
            )
        ]
    else:
        return [(f"{g.ok} Config ktx.yaml schema valid", "green")]
    for issue in issues:
        mark = g.fail if issue["severity"] == "error" else g.warn
        lines.append((f"  {mark} {issue['message']}", "red" if issue["severity"] == "error" else "yellow"))
        lines += _fix(issue.get("fix"), g)
    return lines


def environment_lines(checks: Sequence[dict[str, Any]], g: Glyphs, *, verbose: bool) -> list[Line]:
    lines: list[Line] = [("No project here yet.", "bold")]
    failing = [c for c in checks if c["status"] == "fail"]
    shown = checks if verbose else failing
    if shown:
        lines.append(("Environment", "bold"))
        for check in shown:
            lines.append(_status_line(f"  {check['label']}", check["status"], check["detail"], g, width=16))
            lines += _fix(check.get("fix"), g)
    lines.append(("Run `ktx setup` to create a project, or `ktx admin init <dir>` for an empty one.", ""))
    return lines


def print_lines(lines: Sequence[Line], *, pretty: bool, stderr: bool = False) -> None:
    if pretty:
        from rich.text import Text

        from ktx.cli.output import console

        out = console(stderr=stderr)
        for text, style in lines:
            out.print(Text(text, style=style or ""))
        return
    import sys

    stream = sys.stderr if stderr else sys.stdout
    stream.write("".join(text + "\n" for text, _ in lines))
