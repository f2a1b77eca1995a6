"""Installs the stand-in Claude Code CLI and Codex app-server as executables in a temp dir."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

FAKES = Path(__file__).resolve().parent


class FakeBinary:
    script: str
    dir_env: str
    name: str

    def __init__(self, root: Path) -> None:
        self.dir = root / f"fake-{self.name}"
        self.dir.mkdir()
        self.cli = root / self.name
        # The record directory is set inside the wrapper: ktx's launchers rightly drop unknown variables.
        self.cli.write_text(
            f'#!/bin/sh\n{self.dir_env}="{self.dir}" exec "{sys.executable}" "{FAKES / self.script}" "$@"\n'
        )
        self.cli.chmod(stat.S_IRWXU)

    def script_runs(self, *runs: dict) -> None:
        (self.dir / "scenario.json").write_text(json.dumps({"runs": list(runs)}))

    def runs(self) -> list[dict]:
        files = sorted(self.dir.glob("run-*.json"), key=lambda p: int(p.stem.split("-")[1]))
        return [json.loads(p.read_text()) for p in files]


class FakeClaude(FakeBinary):
    script = "claude_cli.py"
    dir_env = "FAKE_CLAUDE_DIR"
    name = "claude"
    env_var = "KTX_CLAUDE_CODE_CLI"


class FakeCodex(FakeBinary):
    script = "codex_app_server.py"
    dir_env = "FAKE_CODEX_DIR"
    name = "codex"
    env_var = "KTX_CODEX_CLI"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        # A logged-in Codex has $CODEX_HOME/auth.json; ktx's probe answers at once when there is none.
        self.home = root / "fake-codex-home"
        self.home.mkdir()
        (self.home / "auth.json").write_text(json.dumps({"auth_mode": "chatgpt", "tokens": {}}))

    @property
    def env(self) -> dict[str, str]:
        return {"KTX_CODEX_CLI": str(self.cli), "CODEX_HOME": str(self.home)}
