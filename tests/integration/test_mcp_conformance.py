"""The official MCP conformance suite (server mode) and the MCP Inspector CLI against a running `ktx mcp`
daemon, through scripts/mcp_conformance.py. Needs node and npm (the npm registry is reachable here and in CI)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "mcp_conformance.py"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npm") is None or shutil.which("node") is None, reason="needs node and npm")
def test_conformance_suite_and_inspector_pass_every_applicable_scenario() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--json"], capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(done.stdout)
    applicable = {n: s for n, s in result["scenarios"].items() if s["applicable"]}
    assert len(applicable) == 6 and all(s["failed"] == 0 and s["passed"] > 0 for s in applicable.values())
    assert all(result["inspector"].values())
