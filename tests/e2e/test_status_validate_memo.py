"""`ktx status --validate` answers a ktx.yaml it already checked from what it kept (no pydantic import, no
validator build), with exactly the output of a full check; any edit, a broken or foreign memo, or other code makes
it check again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import ktx
from ktx.project import config_check
from tests.conftest import clean_env

CONFIGS = {
    "valid": b"connections: {}\n",
    "unknown key": b"connections: {}\nllmm: {}\n",
    "bad value": b"connections:\n  wh:\n    driver: postgres\n    port: not-a-port\n",
    "not YAML": b"connections: [\n",
    "not UTF-8": b"connections: {}\n# caf\xe9\n",
    "CRLF bad value": b"connections:\r\n  wh:\r\n    driver: postgres\r\n    port: not-a-port\r\n",
}


def _validate(home: Path, project: Path, *flags: str, imports: bool = False) -> subprocess.CompletedProcess[str]:
    python = [sys.executable, *(["-X", "importtime"] if imports else []), "-m", "ktx"]
    return subprocess.run(
        [*python, "status", "--validate", *flags],
        cwd=project,
        env=clean_env(home),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _answer(result: subprocess.CompletedProcess[str]) -> tuple[int, str, list[str]]:
    errors = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
    return result.returncode, result.stdout, errors


def _imported(result: subprocess.CompletedProcess[str]) -> set[str]:
    return {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_the_kept_answer_is_the_full_checks_answer(home: Path, project: Path, name: str) -> None:
    (project / "ktx.yaml").write_bytes(CONFIGS[name])
    for flags in ((), ("--json",)):
        memo = project / ".ktx" / "cache" / "config-check.json"
        memo.unlink(missing_ok=True)
        checked = _validate(home, project, *flags, imports=True)
        again = _validate(home, project, *flags, imports=True)
        assert "pydantic" in _imported(checked) and memo.is_file()
        assert "pydantic" not in _imported(again)
        assert _answer(again) == _answer(checked)
    assert checked.returncode == (0 if name in ("valid", "unknown key") else 1)


def test_line_endings_do_not_change_the_answer(home: Path, project: Path) -> None:
    (project / "ktx.yaml").write_bytes(CONFIGS["bad value"])
    lf = json.loads(_validate(home, project, "--json").stdout)
    (project / "ktx.yaml").write_bytes(CONFIGS["CRLF bad value"])
    crlf = json.loads(_validate(home, project, "--json").stdout)
    assert crlf == lf and crlf["issues"][0]["path"] == "connections.wh.port"


def test_an_edit_is_checked_again(home: Path, project: Path) -> None:
    config = project / "ktx.yaml"
    config.write_bytes(CONFIGS["valid"])
    assert _validate(home, project).returncode == 0
    config.write_bytes(CONFIGS["bad value"])
    broken = _validate(home, project, "--json")
    assert broken.returncode == 1 and json.loads(broken.stdout)["issues"][0]["path"] == "connections.wh.port"
    config.write_bytes(CONFIGS["unknown key"])
    warned = json.loads(_validate(home, project, "--json").stdout)
    assert warned["ok"] is True and warned["warnings"][0]["path"] == "llmm"


def test_a_broken_or_foreign_memo_is_ignored(home: Path, project: Path) -> None:
    (project / "ktx.yaml").write_bytes(CONFIGS["bad value"])
    memo = project / ".ktx" / "cache" / "config-check.json"
    memo.parent.mkdir(parents=True, exist_ok=True)
    for junk in ("{not json", "[]", json.dumps({"key": "another file's", "ok": True, "issues": []})):
        memo.write_text(junk)
        result = _validate(home, project)
        assert result.returncode == 1 and "connections.wh.port" in result.stdout + result.stderr
        assert json.loads(memo.read_text())["ok"] is False  # replaced by this file's answer


def test_a_project_it_cannot_write_to_is_still_checked(home: Path, project: Path) -> None:
    (project / "ktx.yaml").write_bytes(CONFIGS["bad value"])
    cache = project / ".ktx" / "cache"
    if cache.exists():
        import shutil

        shutil.rmtree(cache)
    cache.write_text("a file where the cache folder would be")
    for _ in range(2):
        result = _validate(home, project)
        assert result.returncode == 1 and "connections.wh.port" in result.stdout + result.stderr


def test_other_code_checks_again(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "ktx.yaml").write_bytes(CONFIGS["valid"])
    assert config_check.check_config(project).ok
    memo = project / ".ktx" / "cache" / "config-check.json"
    kept = json.loads(memo.read_text())
    memo.write_text(json.dumps({**kept, "ok": False}))  # what a check by this code would now answer
    assert not config_check.check_config(project).ok
    monkeypatch.setattr(ktx, "__version__", ktx.__version__ + ".next")
    monkeypatch.setattr(config_check, "_CODE", None)
    assert config_check.check_config(project).ok  # another ktx version does not trust this memo
