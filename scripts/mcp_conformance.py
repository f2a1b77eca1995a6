"""Run the official MCP conformance suite (server mode) and the MCP Inspector CLI against `ktx mcp`.

    .venv/bin/python scripts/mcp_conformance.py [--json] [--all]

Builds a demo project (the bundled shop warehouse, ingested with no LLM), starts `ktx mcp start` on a free
loopback port, installs the pinned npm packages into .cache/mcp-npm (the npm registry is the only network it
needs), runs every server scenario, then lists and calls tools through the Inspector CLI. Prints one line per
scenario; exits 1 when a scenario that applies to a tools-only server fails (or with --all, any scenario).

Versions: conformance 0.1.13 is the newest release that runs on Node 20 (0.1.14+ need Node 22's fs.globSync);
`@modelcontextprotocol/inspector-cli` on its own cannot start outside the inspector package (it imports
../package.json), so the Inspector CLI is run through `@modelcontextprotocol/inspector --cli`.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NPM_DIR = ROOT / ".cache" / "mcp-npm"
PACKAGES = ["@modelcontextprotocol/conformance@0.1.13", "@modelcontextprotocol/inspector@0.15.0"]

# Scenarios that exercise what every MCP server must do; the others need the suite's own reference tools
# (test_image_content, test_sampling, …), resources, prompts, completions or the deprecated logging feature,
# none of which a tools-only server offers.
APPLICABLE = {
    "server-initialize",
    "ping",
    "tools-list",
    "tools-call-error",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def npm_install() -> Path:
    NPM_DIR.mkdir(parents=True, exist_ok=True)
    if not (NPM_DIR / "package.json").exists():
        (NPM_DIR / "package.json").write_text('{"name": "ktx-mcp-conformance", "private": true}\n')
    missing = [p for p in PACKAGES if not (NPM_DIR / "node_modules" / p.rsplit("@", 1)[0]).is_dir()]
    if missing:
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", *PACKAGES],
            cwd=NPM_DIR,
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
    return NPM_DIR / "node_modules" / ".bin"


def build_project(base: Path) -> Path:
    sys.path.insert(0, str(ROOT))
    from tests.e2e.mcp_support import build_served_project

    return build_served_project(base)


def ktx(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ktx", "--project-dir", str(root), *args], capture_output=True, text=True, timeout=120
    )


def run_conformance(bin_dir: Path, url: str) -> dict[str, tuple[int, int]]:
    done = subprocess.run(
        [str(bin_dir / "conformance"), "server", "--url", url, "--suite", "all"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    results = {}
    for line in done.stdout.splitlines():
        match = re.match(r"^[✓✗]\s+(\S+): (\d+) passed, (\d+) failed", line.strip())
        if match:
            results[match.group(1)] = (int(match.group(2)), int(match.group(3)))
    if not results:
        raise SystemExit(f"conformance printed no summary:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return results


def run_inspector(bin_dir: Path, url: str) -> dict[str, bool]:
    inspector = str(bin_dir / "mcp-inspector")

    def call(*args: str) -> dict:
        done = subprocess.run(
            [inspector, "--cli", url, "--transport", "http", *args], capture_output=True, text=True, timeout=120
        )
        start = done.stdout.find("{")
        return json.loads(done.stdout[start:]) if start >= 0 else {"error": done.stderr.strip()}

    listed = call("--method", "tools/list")
    names = [t["name"] for t in listed.get("tools", [])]

    def sql(statement: str) -> dict:
        args = [
            "--tool-name",
            "sql_execution",
            "--tool-arg",
            "connectionId=warehouse",
            "--tool-arg",
            f"sql={statement}",
        ]
        return call("--method", "tools/call", *args)

    counted = sql("select count(*) as n from main.orders")
    refused = sql("drop table main.orders")
    return {
        "inspector tools/list (9 tools)": len(names) == 9 and names[0] == "connection_list",
        "inspector tools/call sql_execution": (counted.get("structuredContent") or {}).get("rows") == [[300]],
        "inspector write refused in-band": refused.get("isError") is True,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--all", action="store_true", help="fail on any failing scenario, not only applicable ones")
    args = parser.parse_args()
    bin_dir = npm_install()
    with tempfile.TemporaryDirectory() as tmp:
        root = build_project(Path(tmp))
        port = free_port()
        started = ktx(root, "mcp", "start", "--port", str(port))
        if started.returncode != 0:
            raise SystemExit(started.stderr)
        url = f"http://127.0.0.1:{port}/mcp"
        try:
            scenarios = run_conformance(bin_dir, url)
            inspector = run_inspector(bin_dir, url)
        finally:
            ktx(root, "mcp", "stop")
    failing = [name for name, (_, failed) in scenarios.items() if failed and (args.all or name in APPLICABLE)] + [
        name for name, ok in inspector.items() if not ok
    ]
    if args.json:
        print(
            json.dumps(
                {
                    "scenarios": {
                        n: {"passed": p, "failed": f, "applicable": n in APPLICABLE} for n, (p, f) in scenarios.items()
                    },
                    "inspector": inspector,
                    "failing": failing,
                },
                indent=2,
            )
        )
    else:
        for name, (passed, failed) in sorted(scenarios.items()):
            mark = "pass" if not failed else ("FAIL" if name in APPLICABLE else "n/a ")
            print(f"{mark}  {name}: {passed} passed, {failed} failed")
        for name, ok in inspector.items():
            print(f"{'pass' if ok else 'FAIL'}  {name}")
        applicable = [n for n in scenarios if n in APPLICABLE]
        print(
            f"\n{len(applicable) - len([n for n in failing if n in scenarios])}/{len(applicable)} applicable scenarios pass"
        )
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
