"""Output-mode selection and the list envelope, as a user sees them."""

from __future__ import annotations

import json

import pytest

from ktx.cli.output import OutputMode, resolve_output_mode
from ktx.errors import UsageError


@pytest.mark.parametrize(
    ("json_flag", "output", "env", "tty", "expected"),
    [
        (True, "plain", {"KTX_OUTPUT": "pretty"}, True, OutputMode.JSON),
        (False, "plain", {"KTX_OUTPUT": "json"}, True, OutputMode.PLAIN),
        (False, None, {"KTX_OUTPUT": "json", "CI": "1"}, True, OutputMode.JSON),
        (False, None, {"CI": "true"}, True, OutputMode.PLAIN),
        (False, None, {"CI": "0"}, True, OutputMode.PRETTY),
        (False, None, {"CI": "false"}, True, OutputMode.PRETTY),
        (False, None, {}, True, OutputMode.PRETTY),
        (False, None, {}, False, OutputMode.PLAIN),
    ],
)
def test_mode_resolution_order(json_flag, output, env, tty, expected):
    assert resolve_output_mode(json_flag, output, env=env, stdout_isatty=tty) is expected


def test_invalid_values_name_their_source():
    with pytest.raises(UsageError, match="Invalid --output value: fancy"):
        resolve_output_mode(False, "fancy", env={}, stdout_isatty=False)
    with pytest.raises(UsageError, match="Invalid KTX_OUTPUT value: fancy"):
        resolve_output_mode(False, None, env={"KTX_OUTPUT": "fancy"}, stdout_isatty=False)


def _with_connections(project):
    (project / "ktx.yaml").write_text(
        "connections:\n  zeta:\n    driver: sqlite\n    path: z.db\n  alpha:\n    driver: duckdb\n    path: a.duckdb\n"
    )


def test_plain_is_tsv_sorted_by_id(run_ktx, project):
    _with_connections(project)
    result = run_ktx("connection", "list", "--output", "plain", cwd=project)
    assert result.stdout == "alpha\tduckdb\nzeta\tsqlite\n"


def test_json_list_envelope(run_ktx, project):
    _with_connections(project)
    for args, env in ((("--json",), {}), ((), {"KTX_OUTPUT": "json"})):
        data = json.loads(run_ktx("connection", "list", *args, cwd=project, env=env).stdout)
        assert data == {
            "kind": "list",
            "data": {"items": [{"id": "alpha", "driver": "duckdb"}, {"id": "zeta", "driver": "sqlite"}]},
            "meta": {"command": "connection list"},
        }


def test_ci_env_selects_plain_and_invalid_env_is_usage_error(run_ktx, project):
    _with_connections(project)
    assert run_ktx("connection", cwd=project, env={"CI": "1"}).stdout.startswith("alpha\tduckdb")
    bad = run_ktx("connection", cwd=project, env={"KTX_OUTPUT": "xml"})
    assert bad.returncode == 2 and "Invalid KTX_OUTPUT value: xml" in bad.stderr


def test_empty_list_prints_nothing_on_stdout_and_hint_on_stderr(run_ktx, project):
    result = run_ktx("connection", "list", "--output", "plain", cwd=project)
    assert result.stdout == ""
    assert "No connections configured. Run `ktx setup` to add one." in result.stderr


def test_pretty_mode_renders_a_table(run_ktx, project):
    _with_connections(project)
    out = run_ktx("connection", "list", "--output", "pretty", cwd=project).stdout
    assert "ID" in out and "DRIVER" in out and "alpha" in out and "2 connections" in out


def test_a_refusal_in_json_mode_is_a_json_envelope_on_stdout(run_ktx, project):
    refused = run_ktx("--project-dir", str(project), "ingest", "--text", "orders are net of refunds", "--json")
    assert refused.returncode == 1
    envelope = json.loads(refused.stdout)
    assert envelope["kind"] == "error" and envelope["error"]["exitCode"] == 1
    assert envelope["error"]["message"].startswith("Memory capture needs an LLM backend")
    assert "ktx setup" in envelope["error"]["hint"]
    plain = run_ktx("--project-dir", str(project), "ingest", "--text", "x")
    assert plain.stdout == "" and "Memory capture needs an LLM backend" in plain.stderr


def test_connection_test_of_an_unknown_id_lists_the_configured_ones(run_ktx, project):
    (project / "ktx.yaml").write_text("connections:\n  wh:\n    driver: duckdb\n    path: shop.duckdb\n")
    result = run_ktx("--project-dir", str(project), "connection", "test", "nope")
    assert result.returncode == 1
    assert 'Connection "nope" is not configured in ktx.yaml' in result.stderr
    assert "Configured connections: wh." in result.stderr
