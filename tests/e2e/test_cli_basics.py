"""The command map, global options and error handling, through the real `ktx` process."""

from __future__ import annotations

import json

import pytest
import typer.main

from ktx import __version__


def test_version_flags(run_ktx):
    for flag in ("--version", "-v"):
        result = run_ktx(flag)
        assert result.returncode == 0
        assert result.stdout.strip() == f"ktx {__version__}"


def test_bare_ktx_prints_help_and_succeeds(run_ktx):
    result = run_ktx()
    assert result.returncode == 0
    for group in ["setup", "status", "connection", "ingest", "wiki", "sl", "sql", "mcp", "admin", "completion"]:
        assert group in result.stdout


def test_unknown_command_is_a_usage_error(run_ktx):
    result = run_ktx("frobnicate")
    assert result.returncode == 2
    assert "No such command" in result.stderr


@pytest.mark.parametrize(("argv", "meant"), [(("ingets",), "'ingest'"), (("admin", "ini"), "'init'")])
def test_a_mistyped_command_suggests_the_right_one_once(run_ktx, argv, meant):
    result = run_ktx(*argv)
    assert result.returncode == 2
    assert result.stderr.count("Did you mean") == 1 and meant in result.stderr


def test_unexpected_errors_are_one_line_and_debug_shows_traceback(monkeypatch, capsys):
    import typer

    from ktx.cli import app as app_module

    def broken_app(*_only):
        app = typer.Typer()

        @app.command()
        def boom() -> None:
            raise RuntimeError("disk on fire")

        return app

    monkeypatch.setattr(app_module, "build_app", broken_app)
    assert app_module.run([]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "Error: unexpected RuntimeError: disk on fire",
        "Re-run with --debug for the full traceback.",
    ]
    assert app_module.run([], debug=True) == 1
    assert "Traceback" in capsys.readouterr().err


def test_non_utf8_config_is_a_config_error(run_ktx, project):
    (project / "ktx.yaml").write_bytes(b"connections: {}\n# \xff\xfe\n")
    result = run_ktx("status", "--validate", cwd=project)
    assert result.returncode == 1
    assert "ktx.yaml is not UTF-8 text" in result.stdout


def test_completion_scripts_and_dynamic_completion(run_ktx):
    result = run_ktx("completion", "bash")
    assert result.returncode == 0 and "_KTX_COMPLETE" in result.stdout
    assert run_ktx("completion", "tcsh").returncode == 2
    words = run_ktx(env={"_KTX_COMPLETE": "complete_bash", "COMP_WORDS": "ktx adm", "COMP_CWORD": "1"})
    assert "admin" in words.stdout


def test_admin_schema_prints_and_writes_without_a_project(run_ktx, tmp_path):
    result = run_ktx("admin", "schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "ktx.yaml"
    out = tmp_path / "schema.json"
    written = run_ktx("admin", "schema", "--output", str(out))
    assert written.returncode == 0 and written.stdout.strip() == f"Wrote {out}"
    assert json.loads(out.read_text()) == schema


def test_only_the_invoked_command_is_built_but_every_word_dispatches(run_ktx, tmp_path):
    from ktx.cli.app import COMMAND_WORDS, build_app, command_word

    assert command_word(["--project-dir", "sl", "status", "--json"]) == "status"
    assert command_word(["--debug", "sl", "query", "-m", "x"]) == "sl"
    assert command_word(["--project-dir=sql", "wiki"]) == "wiki"
    assert command_word(["--help"]) is None and command_word(["frobnicate"]) is None and command_word([]) is None
    registered = typer.main.get_command(build_app()).commands  # type: ignore[attr-defined]
    assert sorted(registered) == sorted(COMMAND_WORDS)
    assert list(typer.main.get_command(build_app("sl")).commands) == ["sl"]  # type: ignore[attr-defined]
    for word in COMMAND_WORDS:
        result = run_ktx("--project-dir", str(tmp_path), word, "--help")
        assert result.returncode == 0, (word, result.stderr)
        assert f"ktx {word}" in result.stdout


def test_setup_help_at_80_columns_shows_every_flag_name_whole(run_ktx) -> None:
    result = run_ktx("setup", "--help", env={"COLUMNS": "80"})
    assert result.returncode == 0
    assert "…" not in result.stdout
    for flag in ("--source-warehouse-connection-id", "--gateway-api-key-file", "--database-connection-id", "--target"):
        assert flag in result.stdout
