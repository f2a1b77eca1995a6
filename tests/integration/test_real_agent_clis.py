"""The real Claude Code and Codex CLIs bundled in their SDKs, with a clean HOME and no login.

It lists its built-in plugins, slash commands, skills and agents in the init message; ktx must accept that
(the run can execute none of them) and report the failure that follows as authentication.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.conftest import clean_env


@pytest.fixture
def bundled_cli() -> Path:
    sdk = pytest.importorskip("claude_agent_sdk")
    path = Path(sdk.__file__).parent / "_bundled" / "claude"
    if not path.is_file():
        pytest.skip("this claude-agent-sdk build ships no CLI")
    return path


@pytest.fixture
def clean_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    for key in list(os.environ):
        monkeypatch.delenv(key, raising=False)
    for key, value in clean_env(home).items():
        monkeypatch.setenv(key, value)
    return home


def test_probe_passes_isolation_and_reports_missing_login_as_authentication(
    bundled_cli, clean_home, tmp_path, monkeypatch
):
    from ktx.llm.backends import claude_code

    seen: list[dict] = []
    original = claude_code.ClaudeCodeBackend.check_isolation

    def recording(data, expected_tools, with_tools):
        seen.append(data)
        return original(data, expected_tools, with_tools)

    monkeypatch.setattr(claude_code.ClaudeCodeBackend, "check_isolation", staticmethod(recording))
    ok, message = claude_code.probe(tmp_path, "sonnet")
    assert not ok
    assert seen, "the real CLI never sent its init message"
    assert "isolation" not in message
    assert message.startswith("Claude Code authentication is not usable")


def test_missing_cli_gets_its_own_message_and_fix(tmp_path, monkeypatch):
    from ktx.llm.backends import claude_code

    missing = tmp_path / "no-claude"
    monkeypatch.setenv("KTX_CLAUDE_CODE_CLI", str(missing))
    ok, message = claude_code.probe(tmp_path, "sonnet")
    assert not ok
    assert "Claude Code CLI not found" in message and "pip install" in message
    assert "authentication" not in message and "Traceback" not in message


def test_codex_probe_without_login_answers_at_once_with_the_fix(clean_home, tmp_path, monkeypatch):
    pytest.importorskip("codex_cli_bin")
    from ktx.llm.backends import codex

    started = time.monotonic()
    result = codex.probe(tmp_path, "codex")
    assert time.monotonic() - started < 2  # no 45-second wait for a login that does not exist
    assert not result.ok
    assert result.message == (
        f"No Codex login was found: {clean_home / '.codex' / 'auth.json'} is missing "
        "and neither OPENAI_API_KEY nor CODEX_API_KEY is set."
    )
    assert result.fix and "codex login" in result.fix


def test_codex_probe_with_a_login_that_does_not_answer_is_bounded(clean_home, tmp_path, monkeypatch):
    """A login exists (auth.json) but the real Codex cannot reach its service here: the wait stays bounded."""
    pytest.importorskip("codex_cli_bin")
    from ktx.llm.backends import codex

    (clean_home / ".codex").mkdir()
    (clean_home / ".codex" / "auth.json").write_text('{"OPENAI_API_KEY": "sk-not-a-real-key"}')
    monkeypatch.setattr(codex, "PROBE_TIMEOUT_S", 3.0)
    started = time.monotonic()
    result = codex.probe(tmp_path, "codex")
    assert time.monotonic() - started < 30
    assert not result.ok and "Traceback" not in result.message
    assert result.fix


def test_codex_missing_cli_gets_its_own_message_and_fix(clean_home, tmp_path, monkeypatch):
    from ktx.llm.backends import codex

    monkeypatch.setenv("KTX_CODEX_CLI", str(tmp_path / "no-codex"))
    result = codex.probe(tmp_path, "codex")
    assert not result.ok
    assert result.message.startswith("Codex CLI not found") and "pip install" in result.message
    assert "Traceback" not in result.message and "authentication" not in result.message
