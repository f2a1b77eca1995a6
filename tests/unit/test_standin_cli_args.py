"""The stand-in CLIs read their arguments the way commander (Claude Code) and clap (Codex) do."""

from __future__ import annotations

import pytest

from tests.fakes.cli_args import codex_overrides, parse_claude_args, parse_codex_args


@pytest.mark.parametrize(
    "argv",
    [
        ["--model", "claude-haiku-4-5", "--json-schema", '{"type": "object"}', "--verbose"],
        ["--model=claude-haiku-4-5", '--json-schema={"type": "object"}', "--verbose"],
        ["--verbose", "--json-schema", '{"type": "object"}', "--model=claude-haiku-4-5"],
    ],
)
def test_claude_options_in_either_spelling_and_any_order(argv):
    args = parse_claude_args(argv)
    assert args.value("--model") == "claude-haiku-4-5"
    assert args.value("--json-schema") == '{"type": "object"}'
    assert "--verbose" in args.flags and args.positionals == []


def test_claude_repeated_and_list_options():
    args = parse_claude_args(
        [
            "--allowedTools",
            "a,b",
            "--allowed-tools=c d",
            "--tools=",
            "--model",
            "x",
            "--model",
            "y",
            "--setting-sources=",
        ]
    )
    assert args.items("--allowedTools") == ["a", "b", "c", "d"]
    assert args.items("--tools") == [] and "--tools" in args.options
    assert args.value("--model") == "y"  # the last one wins
    assert args.items("--setting-sources") == []


def test_claude_boolean_flag_with_a_value_and_a_missing_value_are_errors():
    with pytest.raises(SystemExit, match="does not take a value"):
        parse_claude_args(["--verbose=yes"])
    with pytest.raises(SystemExit, match="argument missing"):
        parse_claude_args(["--model"])


def test_codex_config_overrides_are_toml_with_a_string_fallback():
    args = parse_codex_args(
        [
            "-c",
            'history.persistence="none"',
            '--config=mcp_servers.ktx.enabled_tools=["a"]',
            "--config",
            "x.required=true",
            "-c",
            "model=gpt-5.5",
            "app-server",
            "--listen",
            "stdio://",
        ]
    )
    assert codex_overrides(args) == {
        "history.persistence": "none",
        "mcp_servers.ktx.enabled_tools": ["a"],
        "x.required": True,
        "model": "gpt-5.5",  # not TOML: Codex takes the raw text
    }
    assert args.positionals == ["app-server"] and args.value("--listen") == "stdio://"
