"""`ktx ingest` as a user runs it: real subprocesses, real warehouse files, the project's real git history."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

from ktx.project.yamlio import safe_load
from tests.fixtures.relationships.schemas import all_fixtures, build


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()


def add_connection(project: Path, name: str, entry: str) -> None:
    text = (project / "ktx.yaml").read_text().replace("connections: {}", "")
    (project / "ktx.yaml").write_text(text + f"\nconnections:\n  {name}:\n{entry}")
    git(project, "add", "ktx.yaml")
    git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "add connection")


def fixture_project(project: Path, fixture_id: str) -> Path:
    fixture = next(f for f in all_fixtures() if f.id == fixture_id)
    path = build(fixture, project / "data")
    add_connection(project, "wh", f"    driver: {fixture.engine}\n    path: data/{path.name}\n")
    (project / ".gitignore").write_text("data/\n")
    git(project, "add", ".gitignore")
    git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "ignore data")
    return path


def shard(project: Path, name: str = "public") -> dict:
    return safe_load((project / "semantic-layer" / "wh" / "_schema" / f"{name}.yaml").read_text())["tables"]


def test_ingest_without_an_llm_finds_keys_links_and_describes_tables(run_ktx, project):
    fixture_project(project, "shop_undeclared")
    result = run_ktx("ingest", "wh", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    [target] = body["results"]
    report = target["report"]
    assert target["status"] == "done"
    assert report["diffSummary"]["tablesAdded"] == 7
    assert report["relationships"]["accepted"] == 7
    assert report["primaryKeys"] == {"declared": 0, "inferred": 7}
    tables = shard(project)
    orders = tables["orders"]
    assert [c["name"] for c in orders["columns"] if c.get("pk")] == ["id"]
    joins = {(j["to"], j["on"], j["relationship"], j["source"]) for j in orders["joins"]}
    assert ("customers", "orders.customer_id = customers.id", "many_to_one", "inferred") in joins
    assert ("order_items", "orders.id = order_items.order_id", "one_to_many", "inferred") in joins
    status = next(c for c in orders["columns"] if c["name"] == "status")
    assert status["descriptions"]["profile"].startswith("Text, 3 values: ")
    assert (
        "Deterministic description" not in (project / "semantic-layer" / "wh" / "_schema" / "public.yaml").read_text()
    )
    # `on` is quoted for YAML 1.1 readers; the commit is authored by storage.git.author and is the only one.
    text = (project / "semantic-layer" / "wh" / "_schema" / "public.yaml").read_text()
    assert '"on": orders.customer_id = customers.id' in text
    assert git(project, "log", "-1", "--format=%an <%ae>|%s").startswith(
        "ktx <ktx@example.com>|ingest(live-database): wh "
    )
    assert report["commit"] == git(project, "rev-parse", "HEAD")
    assert git(project, "status", "--porcelain") == ""
    # The layer is searchable and queryable straight away.
    found = run_ktx("sl", "refund", "--json", cwd=project)
    assert "refunds" in found.stdout
    query = run_ktx(
        "sl",
        "query",
        "--execute",
        "-m",
        "count(order_items.id)",
        "-d",
        "categories.name",
        "--format",
        "json",
        cwd=project,
    )
    assert query.returncode == 0, query.stderr
    assert sum(int(r[1]) for r in json.loads(query.stdout)["rows"]) == 3000


def test_plain_output_summary_and_report_again(run_ktx, project):
    fixture_project(project, "plan_codes")
    result = run_ktx("ingest", "--plain", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "Tables: 5 added, 0 changed, 0 removed, 0 unchanged" in result.stdout
    assert "Relationships: 7 accepted" in result.stdout
    assert "Files: semantic-layer/wh/_schema/public.yaml" in result.stdout
    again = run_ktx("ingest", "--report", cwd=project)
    assert again.returncode == 0, again.stderr
    assert "Relationships: 7 accepted" in again.stdout
    run_id = json.loads(run_ktx("ingest", "--report", "latest", "--json", cwd=project).stdout)["runId"]
    by_id = run_ktx("ingest", "--report", run_id[:10], "--json", cwd=project)
    assert json.loads(by_id.stdout)["runId"] == run_id
    missing = run_ktx("ingest", "--report", "nope", cwd=project)
    assert missing.returncode == 1 and "No ingest report 'nope'" in missing.stderr
    trace = project / ".ktx" / "ingest-traces" / run_id / "trace.jsonl"
    events = [json.loads(line)["event"] for line in trace.read_text().splitlines()]
    assert events[0] == "ingest_started" and events[-1] == "ingest_finished"
    assert "introspect_finished" in events and "relationships_finished" in events


def test_unchanged_rerun_writes_nothing_and_a_changed_table_rewrites_only_its_entries(run_ktx, project):
    db = fixture_project(project, "shop_undeclared")
    assert run_ktx("ingest", "wh", cwd=project).returncode == 0
    head = git(project, "rev-parse", "HEAD")
    path = project / "semantic-layer" / "wh" / "_schema" / "public.yaml"
    stamp = path.stat().st_mtime_ns
    rerun = run_ktx("ingest", "wh", "--json", cwd=project)
    assert json.loads(rerun.stdout)["results"][0]["status"] == "unchanged"
    assert git(project, "rev-parse", "HEAD") == head and path.stat().st_mtime_ns == stamp
    before = shard(project)
    con = sqlite3.connect(db)
    con.execute("ALTER TABLE refunds ADD COLUMN note TEXT")
    con.commit()
    con.close()
    changed = run_ktx("ingest", "wh", "--json", cwd=project)
    report = json.loads(changed.stdout)["results"][0]["report"]
    assert report["diffSummary"] == {"tablesAdded": 0, "tablesModified": 1, "tablesDeleted": 0, "tablesUnchanged": 6}
    after = shard(project)
    assert [c["name"] for c in after["refunds"]["columns"]][-1] == "note"
    for name in before:
        if name != "refunds":
            assert after[name] == before[name], name
    assert git(project, "diff", "--stat", "HEAD~1", "--", "semantic-layer").count("public.yaml") == 1


def test_human_edits_survive_reingest(run_ktx, project):
    db = fixture_project(project, "shop_undeclared")
    assert run_ktx("ingest", "wh", cwd=project).returncode == 0
    path = project / "semantic-layer" / "wh" / "_schema" / "public.yaml"
    text = path.read_text()
    text = text.replace(
        "  orders:\n    table: orders\n    descriptions:\n",
        "  orders:\n    table: orders\n    descriptions:\n      user: Orders as finance counts them.\n",
    )
    text = text.replace(
        "      - {name: amount, type: NUMERIC, descriptions: {",
        "      - {name: amount, type: NUMERIC, descriptions: {user: Gross amount in EUR, ",
    )
    text = text.replace(
        "  products:\n    table: products\n",
        "  products:\n    table: products\n    tags: [catalog]\n",
    )
    manual = '      - {to: regions, "on": orders.status = regions.name, relationship: many_to_one, source: manual}\n'
    gone = '      - {to: regions, "on": orders.note = regions.name, relationship: many_to_one, source: manual}\n'
    text = text.replace(
        "    joins:\n      - {to: order_items", "    joins:\n" + manual + gone + "      - {to: order_items", 1
    )
    path.write_text(text)
    overlay = project / "semantic-layer" / "wh" / "orders.yaml"
    overlay.write_text("name: orders\nmeasures:\n  - {name: revenue, expr: sum(amount)}\n")
    git(project, "add", "-A")
    git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "human edits")
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE coupons (id INTEGER, order_id INTEGER, code TEXT)")
    con.executemany("INSERT INTO coupons VALUES (?, ?, ?)", [(i, i, f"C{i}") for i in range(1, 40)])
    con.commit()
    con.close()
    result = run_ktx("ingest", "wh", cwd=project)
    assert result.returncode == 0, result.stderr
    tables = shard(project)
    orders = tables["orders"]
    assert orders["descriptions"]["user"] == "Orders as finance counts them."
    assert orders["descriptions"]["profile"]
    amount = next(c for c in orders["columns"] if c["name"] == "amount")
    assert amount["descriptions"]["user"] == "Gross amount in EUR"
    assert tables["products"]["tags"] == ["catalog"]
    ons = [j["on"] for j in orders["joins"]]
    assert "orders.status = regions.name" in ons  # a manual join whose columns exist survives
    assert "orders.note = regions.name" not in ons  # one whose column does not is dropped
    assert overlay.read_text() == "name: orders\nmeasures:\n  - {name: revenue, expr: sum(amount)}\n"
    assert "coupons" in tables and any(j["to"] == "coupons" for j in orders["joins"])


def test_a_broken_shard_is_named_and_left_alone(run_ktx, project):
    fixture_project(project, "polymorphic_ids")
    assert run_ktx("ingest", "wh", cwd=project).returncode == 0
    path = project / "semantic-layer" / "wh" / "_schema" / "public.yaml"
    path.write_text("tables: {orders: [unclosed\n")
    head = git(project, "rev-parse", "HEAD")
    db = project / "data" / "polymorphic_ids.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE extra (id INTEGER)")
    con.commit()
    con.close()
    result = run_ktx("ingest", "wh", cwd=project)
    assert result.returncode == 1
    assert "semantic-layer/wh/_schema/public.yaml is not valid YAML" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert path.read_text() == "tables: {orders: [unclosed\n"
    assert git(project, "rev-parse", "HEAD") == head


def test_empty_database_and_unreadable_view_complete_with_warnings(run_ktx, project):
    db = project / "empty.sqlite"
    sqlite3.connect(db).close()
    add_connection(project, "wh", "    driver: sqlite\n    path: empty.sqlite\n")
    result = run_ktx("ingest", "wh", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    warnings = json.loads(result.stdout)["results"][0]["report"]["warnings"]
    assert any(w["code"] == "empty_scope" for w in warnings)
    # A view over a table that was dropped after it was created: the catalog lists it, reading it fails.
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (id INTEGER, name TEXT)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"n{i}") for i in range(30)])
    con.execute("CREATE TABLE gone (id INTEGER)")
    con.execute("CREATE VIEW broken AS SELECT id FROM gone")
    con.execute("DROP TABLE gone")
    con.commit()
    con.close()
    second = run_ktx("ingest", "wh", "--json", cwd=project)
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)["results"][0]["report"]
    assert any(w["code"] == "introspection_failed" and "broken" in w["message"] for w in report["warnings"])
    tables = shard(project)
    assert set(tables) == {"t"}
    assert tables["t"]["descriptions"]["profile"].startswith("Table of 30 rows")


def test_a_context_source_without_its_token_fails_with_the_fix_and_databases_still_ingest(run_ktx, project):
    fixture_project(project, "natural_keys")
    text = (project / "ktx.yaml").read_text()
    (project / "ktx.yaml").write_text(
        text + "  models:\n    driver: notion\n    auth_token_ref: env:KTX_UNSET_NOTION_TOKEN\n"
        "    root_page_ids: [0123456789abcdef0123456789abcdef]\n"
    )
    only = run_ktx("ingest", "models", cwd=project)
    assert only.returncode == 1
    assert "connections.models.auth_token_ref (env:KTX_UNSET_NOTION_TOKEN) is empty or unset" in only.stdout
    both = run_ktx("ingest", "--all", "--json", cwd=project)
    body = json.loads(both.stdout)
    assert [t["connectionId"] for t in body["plan"]["targets"]] == ["wh", "models"]  # databases first
    assert [r["status"] for r in body["results"]] == ["done", "failed"]
    assert both.returncode == 1


def test_a_failing_connection_fails_the_run_but_not_the_others(run_ktx, project):
    fixture_project(project, "self_reference")
    text = (project / "ktx.yaml").read_text()
    (project / "ktx.yaml").write_text(
        text + "  broken:\n    driver: postgres\n    url: postgresql://ktx:Hunter2-secret@127.0.0.1:1/test\n"
    )
    result = run_ktx("ingest", "--json", cwd=project)
    assert result.returncode == 1
    body = json.loads(result.stdout)
    statuses = {r["connectionId"]: r["status"] for r in body["results"]}
    assert statuses == {"broken": "failed", "wh": "done"}
    failure = next(r for r in body["results"] if r["connectionId"] == "broken")
    assert "broken (postgres)" in failure["message"] and "\n" not in failure["message"]
    fail_fast = run_ktx("ingest", "--fail-fast", "--json", cwd=project)
    statuses = [r["status"] for r in json.loads(fail_fast.stdout)["results"]]
    assert statuses == ["failed", "skipped"]
    everything = result.stdout + result.stderr + fail_fast.stdout + fail_fast.stderr
    for trace in (project / ".ktx" / "ingest-traces").rglob("*.jsonl"):
        everything += trace.read_text()
    everything += git(project, "log", "-p")
    assert "Hunter2-secret" not in everything


def test_usage_errors(run_ktx, project):
    fixture_project(project, "self_reference")
    both = run_ktx("ingest", "wh", "--all", cwd=project)
    assert both.returncode == 2 and "Pass a connection id or --all, not both." in both.stderr
    unknown = run_ktx("ingest", "nope", cwd=project)
    assert unknown.returncode == 1 and 'Connection "nope" is not configured' in unknown.stderr
    mixed = run_ktx("ingest", "--plain", "--json", cwd=project)
    assert mixed.returncode == 2


HOLD_LOCK = """
import sys, time
from pathlib import Path
from ktx.project.lock import project_lock
with project_lock(Path(sys.argv[1]), "a test holding the project"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold(project: Path, seconds: float) -> subprocess.Popen:
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(project), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_ingest_refuses_or_waits_and_a_killed_holder_leaves_no_stale_lock(run_ktx, project):
    fixture_project(project, "shop_undeclared")
    holder = _hold(project, 60)
    try:
        busy = run_ktx("ingest", "wh", cwd=project)
        assert busy.returncode == 1
        assert "Another ktx run is writing to this project: `a test holding the project` (pid" in busy.stderr
        assert "--wait" in busy.stderr
        assert not (project / "semantic-layer" / "wh").exists()
    finally:
        holder.kill()  # kill -9: the kernel drops the lock with the process
        holder.wait()
    after_kill = run_ktx("ingest", "wh", cwd=project)
    assert after_kill.returncode == 0, after_kill.stderr

    short = _hold(project, 2)
    waited = run_ktx("ingest", "wh", "--wait", cwd=project)
    short.wait()
    assert waited.returncode == 0, waited.stderr
    assert "Waiting for `a test holding the project`" in waited.stderr


def test_without_a_terminal_ingest_prints_progress_lines_on_stderr(run_ktx, project):
    fixture_project(project, "shop_undeclared")
    result = run_ktx("ingest", "wh", cwd=project)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert any(line.startswith("wh · Profiling tables") and "/7" in line for line in lines)
    assert any(line.startswith("wh · Committing") for line in lines)
    quiet = run_ktx("ingest", "wh", "--json", cwd=project)
    assert "Profiling" not in quiet.stderr


def test_the_report_lists_links_with_evidence_and_inferred_keys(run_ktx, project):
    fixture_project(project, "shop_undeclared")
    assert run_ktx("ingest", "wh", cwd=project).returncode == 0
    again = run_ktx("ingest", "--report", cwd=project)
    assert again.returncode == 0, again.stderr
    assert "  Accepted links:" in again.stdout
    assert "orders(customer_id) → customers(id) · score 1.00 · coverage 100%, target unique" in again.stdout
    assert "    orders(id) · inferred" in again.stdout
    data = json.loads(run_ktx("ingest", "--report", "--json", cwd=project).stdout)
    [link] = [x for x in data["relationshipDetails"]["accepted"] if x["from"] == "refunds(order_id)"]
    assert link["to"] == "orders(id)" and link["validated"] is True and link["coverage"] == 1.0
    assert link["status"] == "accepted" and link["validationCounts"]["violations"] == 0 and link["nameScore"]
    # Rejected candidates are listed too (none survive scoring on this small shop), each with why.
    assert isinstance(data["relationshipDetails"]["rejected"], list)
    assert all(r["reasons"] for r in data["relationshipDetails"]["rejected"])
    assert {"table": "regions", "columns": ["id"]}.items() <= next(
        k for k in data["inferredKeys"] if k["table"] == "regions"
    ).items()


def test_same_named_tables_in_three_schemas_give_a_layer_that_loads_and_answers(run_ktx, project):
    """app.users, crm.users, legacy."user" and a fact linked twice: aliases stay unique (see the unit test of
    build_joins for the exact clash) and a query on the connection answers."""
    import duckdb

    path = project / "data" / "multi.duckdb"
    path.parent.mkdir()
    with duckdb.connect(str(path)) as con:
        for schema in ("app", "crm", "legacy"):
            con.execute(f"CREATE SCHEMA {schema}")
        con.execute("CREATE TABLE app.users (id INTEGER, name VARCHAR)")
        con.execute("CREATE TABLE crm.users (id INTEGER, email VARCHAR)")
        con.execute('CREATE TABLE legacy."user" (id INTEGER, login VARCHAR)')
        con.execute("CREATE TABLE app.events (id INTEGER, user_id INTEGER, userid INTEGER, kind VARCHAR)")
        for table in ("app.users", "crm.users", 'legacy."user"'):
            con.execute(f"INSERT INTO {table} SELECT i, 'x' || i FROM range(1, 21) t(i)")
        con.execute("INSERT INTO app.events SELECT i, 1 + i % 20, 1 + (i * 7) % 20, 'k' FROM range(1, 201) t(i)")
    add_connection(project, "wh", "    driver: duckdb\n    path: data/multi.duckdb\n")
    assert run_ktx("ingest", "wh", cwd=project).returncode == 0
    aliases = []
    for shard in (project / "semantic-layer" / "wh" / "_schema").glob("*.yaml"):
        for entry in safe_load(shard.read_text())["tables"].values():
            aliases += [j["alias"] for j in entry.get("joins") or [] if j.get("alias")]
    assert len(aliases) == len(set(aliases)), aliases
    source = json.loads(run_ktx("sl", "--json", cwd=project).stdout)["data"]["items"]
    name = next(s["name"] for s in source if s["name"].endswith("events"))
    counted = run_ktx("sl", "query", "-m", f"count({name}.id)", "--execute", "--format", "json", cwd=project)
    assert counted.returncode == 0, counted.stderr
    assert json.loads(counted.stdout)["rows"] == [[200]]
    assert "Join left out" not in counted.stdout


def test_the_layer_is_checked_before_the_commit_and_a_join_left_out_is_named(run_ktx, project):
    fixture_project(project, "shop_undeclared")
    overlay = project / "semantic-layer" / "wh" / "orders.yaml"
    overlay.parent.mkdir(parents=True)
    overlay.write_text(
        "name: orders\njoins:\n  - {to: nowhere, on: customer_id = nowhere.id, relationship: many_to_one}\n"
    )
    result = run_ktx("ingest", "wh", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)["results"][0]["report"]
    [left_out] = [w for w in report["warnings"] if w["code"] == "join_left_out"]
    assert "'nowhere' is not defined" in left_out["message"]
    # the rest of the layer answers
    counted = run_ktx("sl", "query", "-m", "count(orders.id)", "-d", "customers.name", "--execute", cwd=project)
    assert counted.returncode == 0, counted.stderr
