"""A run killed with SIGKILL leaves the previous files intact, and the next run resumes its finished stages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from benchmarks.relationships import build_scale

from ktx.ingest.apply import apply_files, recover_interrupted
from ktx.project.project import Project, init_project
from tests.conftest import clean_env


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()


def _wait_for_event(trace_dir: Path, event: str, proc: subprocess.Popen, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        for trace in trace_dir.glob("*/trace.jsonl"):
            if any(json.loads(line).get("event") == event for line in trace.read_text().splitlines() if line):
                return True
        time.sleep(0.02)
    return False


@pytest.mark.slow
def test_sigkill_mid_run_keeps_the_previous_files_and_the_next_run_resumes(project, home):
    build_scale(project / "scale.duckdb", tables=120, rows=200)
    text = (project / "ktx.yaml").read_text().replace("connections: {}", "")
    (project / "ktx.yaml").write_text(text + "\nconnections:\n  wh:\n    driver: duckdb\n    path: scale.duckdb\n")
    (project / ".gitignore").write_text("scale.duckdb\n")
    _git(project, "add", "-A")
    _git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "connection")
    head = _git(project, "rev-parse", "HEAD")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ktx", "ingest", "wh", "--json"],
        cwd=project,
        env=clean_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _wait_for_event(project / ".ktx" / "ingest-traces", "profile_finished", proc), "profile never finished"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    # Nothing of the killed run reached the project: same commit, no shard, a clean tree.
    assert _git(project, "rev-parse", "HEAD") == head
    assert not (project / "semantic-layer" / "wh").exists()
    assert _git(project, "status", "--porcelain") == ""
    rerun = subprocess.run(
        [sys.executable, "-m", "ktx", "ingest", "wh", "--json"], cwd=project, env=clean_env(home),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)["results"][0]["report"]
    assert "profile" in report["enrichmentState"]["resumed"]
    assert "relationships" in report["enrichmentState"]["completed"]
    assert report["relationships"]["accepted"] > 100
    plain = subprocess.run(
        [sys.executable, "-m", "ktx", "ingest", "--report", "--plain"], cwd=project, env=clean_env(home),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "Resumed from an interrupted run: profile" in plain.stdout


def test_an_apply_interrupted_before_its_commit_is_rolled_back(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    init_project(root)
    project = Project(root)
    project.files.write("semantic-layer/wh/_schema/main.yaml", "tables: {}\n", "before")
    (root / "semantic-layer/wh/_schema/main.yaml").write_text("tables: {a: {}}\n")  # a human's uncommitted edit
    real = os.replace
    calls = {"n": 0}

    def dying_rename(source, target):
        calls["n"] += 1
        if calls["n"] == 3:  # the journal, then one file, then the process "dies"
            raise SystemExit("killed")
        return real(source, target)

    monkeypatch.setattr(os, "replace", dying_rename)
    files = {
        "semantic-layer/wh/_schema/main.yaml": "tables: {b: {}}\n",
        "semantic-layer/wh/_schema/other.yaml": "tables: {c: {}}\n",
        "raw-sources/wh/x.json": "{}\n",
    }
    with pytest.raises(SystemExit):
        apply_files(root, project.git, "local-test1", files, "ingest: local-test1")
    monkeypatch.setattr(os, "replace", real)
    replaced = (root / "semantic-layer/wh/_schema/main.yaml").read_text()
    assert calls["n"] == 3 and replaced == "tables: {b: {}}\n"  # one file was replaced when the process died
    assert not [p for p in root.rglob("*.tmp") if ".git" not in p.parts]  # no half-written file is left behind
    assert recover_interrupted(root, project.git) == ["local-test1"]
    assert (root / "semantic-layer/wh/_schema/main.yaml").read_text() == "tables: {a: {}}\n"
    assert not (root / "semantic-layer/wh/_schema/other.yaml").exists()
    assert not (root / "raw-sources/wh/x.json").exists()
    assert recover_interrupted(root, project.git) == []
