"""Project resolution: --project-dir → KTX_PROJECT_DIR → nearest ancestor with ktx.yaml → cwd."""

from __future__ import annotations

import json
import shutil


def _projects(run_ktx, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for root, conn in ((a, "from_a"), (b, "from_b")):
        assert run_ktx("admin", "init", str(root)).returncode == 0
        (root / "ktx.yaml").write_text(f"connections:\n  {conn}:\n    driver: duckdb\n    path: x.duckdb\n")
    return a, b


def _listed(result):
    assert result.returncode == 0, result.stderr
    return [row["id"] for row in json.loads(result.stdout)["data"]["items"]]


def test_flag_beats_env_beats_ancestor(run_ktx, tmp_path):
    a, b = _projects(run_ktx, tmp_path)
    deep = a / "wiki" / "global"
    assert _listed(run_ktx("connection", "list", "--json", cwd=deep)) == ["from_a"]
    env = {"KTX_PROJECT_DIR": str(b)}
    assert _listed(run_ktx("connection", "list", "--json", cwd=deep, env=env)) == ["from_b"]
    assert _listed(run_ktx("--project-dir", str(a), "connection", "list", "--json", env=env)) == ["from_a"]
    # global options work after the subcommand too
    assert _listed(run_ktx("connection", "list", "--json", "--project-dir", str(a), env=env)) == ["from_a"]


def test_relative_project_dir_resolves_against_cwd(run_ktx, tmp_path):
    _projects(run_ktx, tmp_path)
    assert _listed(run_ktx("connection", "list", "--json", "--project-dir", "b", cwd=tmp_path)) == ["from_b"]


def test_blank_values_are_usage_errors(run_ktx, tmp_path):
    blank_env = run_ktx("connection", "list", env={"KTX_PROJECT_DIR": "  "})
    assert blank_env.returncode == 2 and "KTX_PROJECT_DIR must not be empty" in blank_env.stderr
    blank_flag = run_ktx("connection", "list", "--project-dir", "")
    assert blank_flag.returncode == 2 and "--project-dir requires a value" in blank_flag.stderr


def test_missing_project_message_plain_and_json(run_ktx, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    plain = run_ktx("connection", "list", cwd=empty)
    assert plain.returncode == 1
    assert "No ktx project here yet." in plain.stderr and "ktx setup" in plain.stderr
    assert "--project-dir" in plain.stderr
    via_env = run_ktx("connection", "list", env={"KTX_PROJECT_DIR": str(empty)})
    assert "KTX_PROJECT_DIR points here" in via_env.stderr
    as_json = run_ktx("connection", "list", "--json", cwd=empty)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout) == {
        "error": "missing_project",
        "projectDir": str(empty.resolve()),
        "message": f"No ktx.yaml found in {empty.resolve()}",
    }


def test_project_line_on_stderr_except_in_json_and_debug_trace(run_ktx, project):
    plain = run_ktx("connection", "list", cwd=project)
    assert f"Project: {project}" in plain.stderr
    assert "Project:" not in run_ktx("connection", "list", "--json", cwd=project).stderr
    debug = run_ktx("--debug", "connection", "list", cwd=project)
    assert f"[debug] projectDir={project} (from ancestor)" in debug.stderr
    assert "[debug] dispatch=connection" in debug.stderr


def test_cwd_is_used_when_nothing_else_matches(run_ktx, tmp_path):
    if shutil.which("git") is None:  # pragma: no cover - git is a prerequisite
        return
    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    result = run_ktx("--debug", "connection", "list", cwd=nowhere)
    assert f"projectDir={nowhere} (from cwd)" in result.stderr
