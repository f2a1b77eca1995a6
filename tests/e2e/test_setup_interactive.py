"""The interactive wizard in a real pseudo-terminal: menus and prompts as a person answers them."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

from tests.conftest import clean_env
from tests.integration.warehouses import build_duckdb


class Terminal:
    """A child process on a pty; `expect` waits for text on its screen, `send` types."""

    def __init__(self, args: list[str], cwd, env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(args, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
        os.close(slave)
        self.screen = ""

    def expect(self, text: str, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while text not in self.screen:
            remaining = end - time.monotonic()
            assert remaining > 0, f"never saw {text!r}; screen so far:\n{self.screen[-2000:]}"
            ready, _, _ = select.select([self.master], [], [], min(remaining, 0.2))
            if ready:
                try:
                    self.screen += os.read(self.master, 65536).decode("utf-8", "replace")
                except OSError:  # the child closed the terminal
                    assert text in self.screen, f"exited before {text!r}:\n{self.screen[-2000:]}"

    def send(self, keys: str) -> None:
        time.sleep(0.3)  # let the prompt finish drawing before typing
        os.write(self.master, keys.encode())

    def close(self) -> int:
        try:
            return self.proc.wait(timeout=30)
        finally:
            os.close(self.master)


def test_wizard_adds_a_database_through_its_prompts(project, home, tmp_path):
    wh = build_duckdb(tmp_path)
    env = clean_env(home, TERM="xterm", COLUMNS="120", LINES="40")
    args = [sys.executable, "-m", "ktx", "setup", "--skip-llm", "--skip-embeddings", "--skip-sources", "--skip-agents"]
    term = Terminal(args, project, env)
    try:
        term.expect("Add a warehouse connection?")
        term.send("\r")  # duckdb, the first choice
        term.expect("Connection id")
        term.send("\x15shop\r")  # clear the suggested id, type another
        term.expect("Database file path")
        term.send(wh.config["path"] + "\r")
        term.expect("Limit to schemas")
        term.send("main\r")
        term.expect("Build context now?")
        term.send("\r")  # build it (the recommended first choice)
        term.expect("ktx project ready")
        assert "Connection test passed: shop (duckdb)" in term.screen
        assert "Tables: 7 added" in term.screen
    finally:
        code = term.close()
    assert code == 0, term.screen[-2000:]
    text = (project / "ktx.yaml").read_text()
    assert "shop:" in text and "driver: duckdb" in text
    assert (project / "semantic-layer" / "shop" / "_schema" / "main.yaml").is_file()


def test_agents_step_on_a_terminal_asks_agent_mode_and_directory(project, home, tmp_path):
    env = clean_env(home, TERM="xterm", COLUMNS="120", LINES="40")
    elsewhere = tmp_path / "elsewhere"
    term = Terminal([sys.executable, "-m", "ktx", "setup", "--agents"], project, env)
    try:
        term.expect("Which agent should use ktx?")
        term.send("\r")  # Claude Code, the first choice
        term.expect("What should agents be allowed to do?")
        term.send("\x1b[B\r")  # MCP tools plus the command line
        term.expect("Install into")
        term.send("\x1b[B\r")  # Custom directory… (the current directory is the project, so it is not offered)
        term.expect("Directory")
        term.send(f"{elsewhere}\r")
        term.expect("Required before using agents")
    finally:
        assert term.close() == 0, term.screen[-2000:]
    assert (elsewhere / ".claude/skills/ktx/SKILL.md").is_file()
    assert (elsewhere / ".mcp.json").is_file()
