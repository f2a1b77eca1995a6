"""Shared fixtures: run the real `ktx` CLI as a subprocess in isolated temp dirs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# Variables that would change what ktx does; each test starts from a clean slate.
_SCRUBBED = ("KTX_PROJECT_DIR", "KTX_OUTPUT", "KTX_DEBUG", "CI", "NO_COLOR", "ANTHROPIC_API_KEY", "OPENAI_API_KEY")


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED and not k.startswith("GIT_")}
    env["HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    env["XDG_CACHE_HOME"] = str(home / ".cache")  # ktx's user-level caches stay in the test's home
    env.update(extra)
    return env


RunKtx = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def run_ktx(home: Path, tmp_path: Path) -> RunKtx:
    """Run `python -m ktx <args>`; `cwd` defaults to tmp_path, `env` adds variables."""

    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, input: str | None = None):
        return subprocess.run(
            [sys.executable, "-m", "ktx", *args],
            cwd=cwd or tmp_path,
            env=clean_env(home, **(env or {})),
            capture_output=True,
            text=True,
            input=input,
            timeout=120,
        )

    return run


@pytest.fixture
def project(run_ktx: RunKtx, tmp_path: Path) -> Path:
    """A freshly initialised project directory."""
    root = tmp_path / "proj"
    result = run_ktx("admin", "init", str(root))
    assert result.returncode == 0, result.stderr
    return root


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
