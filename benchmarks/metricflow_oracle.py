"""MetricFlow's own test project against MetricFlow's own answers, no LLM.

Data: `../shared/data/mf-oracle/` (dbt Labs' `simple_manifest` exactly as written, its fixture tables, and
MetricFlow 0.213's rows for 33 metric queries in `expected.json`; see its README, whose protocol this follows):
build the DuckDB warehouse, `ktx admin init`, connect the warehouse and the manifest (`driver: metricflow`,
`repoUrl: file://…`), `ktx ingest --all`, then per query try the metric and each group-by under the names the README
lists, run the first form that compiles, and compare rows as multisets (numbers to 4 places, midnight timestamps as
dates). Prints how many of the project's metrics are queryable by name (each other one with its reason from the
ingest report), how many of the queries answer as MetricFlow does, and each miss with its reason. Skips where the
data is absent.

Usage: python benchmarks/metricflow_oracle.py [-v] [--data DIR]

`--data DIR`: a copy of mf-oracle whose `expected.json` MetricFlow made for other queries (its `make_expected.py`
with another QUERIES list, in a venv with metricflow 0.213). Answers of more than 10,000 rows (a metric joined to a
40-year daily spine) are compared by running ktx's compiled SQL on the same warehouse.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "mf-oracle"


def _ktx(ktx: str, project: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ktx, "--project-dir", str(project), *args], capture_output=True, text=True, input=stdin, timeout=300
    )


def _setup(work: Path, ktx: str) -> Path:
    sys.path.insert(0, str(DATA))
    from build_warehouse import build  # type: ignore[import-not-found]

    project = work / "p"
    subprocess.run([ktx, "admin", "init", str(project)], check=True, capture_output=True)
    build(str(project / "warehouse.duckdb"))
    repo = work / "manifest-repo"
    shutil.copytree(DATA / "manifest", repo, symlinks=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    for argv in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "manifest"]):
        subprocess.run(argv, cwd=repo, check=True, env=env, capture_output=True)
    config = project / "ktx.yaml"
    text = config.read_text().replace(
        "connections: {}",
        "connections:\n  warehouse:\n    driver: duckdb\n    path: warehouse.duckdb\n"
        f"  simple_manifest:\n    driver: metricflow\n    repoUrl: file://{repo}\n",
    )
    config.write_text(text)
    done = _ktx(ktx, project, "ingest", "--all", "--json")
    if done.returncode != 0:
        print(f"ingest failed: {(done.stdout + done.stderr)[-1500:]}")
    else:
        _project_share(json.loads(done.stdout))
    return project


def _project_share(outcome: dict[str, Any]) -> None:
    """Every metric of the project (as MetricFlow's loader makes them: the written ones and `create_metric`
    measures): how many are queryable by name, and each other one with its reason."""
    report = next(r["report"] for r in outcome["results"] if r.get("driver") == "metricflow")
    total, unmapped = int(report["metrics"]), report["unmapped"]
    share = 100 * (total - len(unmapped)) / total
    print(f"project metrics queryable by name: {total - len(unmapped)}/{total} ({share:.1f} %)")
    for item in unmapped:
        print(f"  not projected  {item['metric']} ({item['type']}): {item['reason']}")


def _compile(ktx: str, project: Path, query: dict[str, Any], execute: bool) -> subprocess.CompletedProcess[str]:
    args = ["sl", "query", "--connection-id", "warehouse", "--query-file", "-"]
    args += ["--execute", "--format", "json"] if execute else ["--format", "sql"]
    return _ktx(ktx, project, *args, stdin=json.dumps(query))


def _group_forms(group: dict[str, Any]) -> list[Any]:
    names = []
    if group.get("table") and group.get("dimension"):
        names.append(f"{group['table']}.{group['dimension']}")
    column = group.get("column") or ""
    if group.get("table") and column.isidentifier():
        names.append(f"{group['table']}.{column}")
    if group.get("model") and group.get("dimension"):
        names.append(f"{group['model']}.{group['dimension']}")
    names.append("metric_time" if group.get("metric_time") else group["name"])
    if group.get("granularity"):
        return [{"field": n, "granularity": group["granularity"]} for n in names]
    return names


def _normal(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return round(float(value), 4)
    text = str(value)
    if len(text) >= 19 and text[10] in " T" and text[13] == ":":
        text = f"{text[:10]} {text[11:19]}"  # one spelling of a timestamp (JSON's `T`, MetricFlow's space)
        if text[11:19] == "00:00:00":
            return text[:10]
        return text
    if text in ("true", "false"):
        return text == "true"
    try:
        return round(float(text), 4)
    except ValueError:
        return text


def _ask(ktx: str, project: Path, case: dict[str, Any]) -> tuple[str, str]:
    """(outcome, detail): outcome is `equal`, `different`, `not_queryable` or `failed`."""
    home = case.get("home") or {}
    measure = None
    for name in (case["metric"], f"{home.get('table')}.{case['metric']}", f"{home.get('model')}.{case['metric']}"):
        if _compile(ktx, project, {"measures": [name]}, False).returncode == 0:
            measure = name
            break
    if measure is None:
        return "not_queryable", _compile(ktx, project, {"measures": [case["metric"]]}, False).stderr.strip()[-300:]
    dimensions = []
    for group in case["group_by"]:
        chosen = None
        for form in _group_forms(group):
            attempt = {"measures": [measure], "dimensions": [*dimensions, form]}
            if _compile(ktx, project, attempt, False).returncode == 0:
                chosen = form
                break
        if chosen is None:
            return "failed", f"group-by {group['name']} has no form that compiles"
        dimensions.append(chosen)
    query = {"measures": [measure], "dimensions": dimensions, "include_empty": False}
    query["limit"] = max(1000, len(case["rows"]) + 10)  # every row MetricFlow answered, and a few more
    if query["limit"] > 10_000:
        # More rows than `sl query --execute` fetches (10,000 at most): ktx's SQL, run here on the same warehouse.
        return _compare(case, *_run_sql(ktx, project, query))
    done = _compile(ktx, project, query, True)
    if done.returncode != 0:
        return "failed", (done.stderr or done.stdout).strip()[-300:]
    result = json.loads(done.stdout)
    return _compare(case, [c.get("kind") for c in result.get("columns", [])], result.get("rows", []))


def _run_sql(ktx: str, project: Path, query: dict[str, Any]) -> tuple[list[str], list[Any]]:
    import duckdb

    done = _compile(ktx, project, query, False)
    if done.returncode != 0:
        raise RuntimeError((done.stderr or done.stdout).strip()[-300:])
    plan = _ktx(ktx, project, "sl", "query", "--connection-id", "warehouse", "--query-file", "-", "--format", "json",
                stdin=json.dumps(query))  # fmt: skip
    kinds = [c.get("kind") for c in json.loads(plan.stdout).get("columns", [])]
    with duckdb.connect(str(project / "warehouse.duckdb"), read_only=True) as con:
        return kinds, [list(r) for r in con.execute(done.stdout).fetchall()]


def _compare(case: dict[str, Any], kinds: list[Any], rows: list[Any]) -> tuple[str, str]:
    order = [i for i, k in enumerate(kinds) if k != "measure"] + [i for i, k in enumerate(kinds) if k == "measure"]
    got = sorted((tuple(_normal(r[i]) for i in order) for r in rows), key=repr)
    want = sorted((tuple(_normal(v) for v in r) for r in case["rows"]), key=repr)
    if got == want:
        return "equal", ""
    return "different", f"{len(got)} rows vs MetricFlow's {len(want)}; first differing: " + repr(
        next((g, w) for g, w in zip([*got, None] * 1, [*want, None], strict=False) if g != w)
    )[:300]


def main() -> int:
    global DATA
    verbose = "-v" in sys.argv[1:]
    if "--data" in sys.argv[1:]:  # another expected.json made by make_expected.py (other queries, same data)
        DATA = Path(sys.argv[sys.argv.index("--data") + 1]).resolve()
    if not (DATA / "expected.json").is_file():
        print(f"metricflow oracle: skipped (no {DATA})")
        return 0
    ktx = str(Path(sys.executable).with_name("ktx"))
    cases = json.loads((DATA / "expected.json").read_text())["queries"]
    with tempfile.TemporaryDirectory(prefix="ktx-mf-") as tmp:
        project = _setup(Path(tmp), ktx)
        outcomes = [(case, *_ask(ktx, project, case)) for case in cases]
    queryable = sum(1 for _, outcome, _ in outcomes if outcome != "not_queryable")
    equal = sum(1 for _, outcome, _ in outcomes if outcome == "equal")
    for case, outcome, detail in outcomes:
        if outcome != "equal" and (verbose or outcome == "not_queryable"):
            print(f"  {outcome:13} {case['metric']} ({case['metric_type']}): {detail}")
    print(
        f"metricflow oracle ({len(cases)} queries, no LLM): queryable by name {queryable}/{len(cases)}, "
        f"equal to MetricFlow {equal}/{len(cases)} (goal ≥ 95 %)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
