"""Secret references: env/file/literal, resolved only when used, never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ktx.project.refs import SecretReferenceError, is_reference, require_reference, resolve_reference


def test_env_reference_reads_trimmed_value():
    assert resolve_reference("env:TOKEN", field="f", env={"TOKEN": "  abc \n"}) == "abc"


@pytest.mark.parametrize("env", [{}, {"TOKEN": ""}, {"TOKEN": "   "}])
def test_unset_or_empty_env_counts_as_missing(env):
    assert resolve_reference("env:TOKEN", field="f", env=env) is None


def test_file_reference_expands_home_and_trims(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "key.txt").write_text("s3cret\n")
    assert resolve_reference("file:~/key.txt", field="f") == "s3cret"


def test_relative_file_reference_resolves_against_the_project(tmp_path):
    (tmp_path / ".ktx").mkdir()
    (tmp_path / ".ktx" / "k").write_text("v")
    assert resolve_reference("file:.ktx/k", field="f", base_dir=tmp_path) == "v"


def test_missing_file_is_an_error_naming_the_path_not_a_value(tmp_path):
    with pytest.raises(SecretReferenceError) as exc:
        resolve_reference(f"file:{tmp_path}/nope", field="llm.provider.anthropic.api_key")
    assert "llm.provider.anthropic.api_key" in exc.value.message
    assert str(tmp_path / "nope") in exc.value.message


def test_literal_passes_through_and_require_names_the_source():
    assert resolve_reference(" lit ", field="f") == "lit"
    assert not is_reference("lit") and is_reference("env:X") and is_reference("file:/x")
    with pytest.raises(SecretReferenceError, match=r"f is missing \(env: NOPE\)"):
        require_reference("env:NOPE", field="f", env={})


def test_require_reference_message_never_contains_the_secret(tmp_path: Path):
    secret = "sk-live-DO-NOT-PRINT"
    (tmp_path / "k").write_text(secret)
    assert require_reference(f"file:{tmp_path}/k", field="f") == secret
    with pytest.raises(SecretReferenceError) as exc:
        require_reference("env:EMPTY", field="f", env={"EMPTY": ""})
    assert secret not in str(exc.value)
