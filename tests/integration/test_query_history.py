"""Query history from a real PostgreSQL with pg_stat_statements (a throw-away cluster this test starts): a workload
by several roles and a service account, joins, trivial probes and secrets in comments, then `ktx ingest
--query-history` as a user runs it. Usage lands in the `_schema` entries, a join nobody named is confirmed from
history and validated, pattern pages are written, and no email or secret survives anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ktx.project.yamlio import safe_load
from tests.conftest import clean_env
from tests.fakes import pg_cluster

psycopg = pytest.importorskip("psycopg")
pytestmark = pytest.mark.skipif(not pg_cluster.available(), reason="needs the PostgreSQL 15 binaries and root")

EMAIL = "jane.doe@example.com"
SECRET = "hunter2"
WORKLOAD = [
    # (role, times, sql)
    ("analyst_a", 20, "SELECT c.region, sum(o.amount) FROM orders o JOIN customers c ON o.customer_id = c.id "
                      "WHERE o.status = 'paid' GROUP BY c.region"),
    ("analyst_b", 15, "SELECT c.region, sum(o.amount) FROM orders o JOIN customers c ON o.customer_id = c.id "
                      "WHERE o.status = 'paid' GROUP BY c.region"),
    ("analyst_c", 12, f"/* asked by {EMAIL} */ SELECT count(*) FROM customers WHERE region = 'north'"),
    ("analyst_a", 9, f"/* password='{SECRET}' */ SELECT o.status, count(*) FROM shipments s "
                     "JOIN orders o ON s.ref_no = o.id GROUP BY o.status"),
    ("analyst_b", 9, "SELECT o.status, count(*) FROM shipments s JOIN orders o ON s.ref_no = o.id GROUP BY o.status"),
    # Secrets written as plain text in comments, where no quoted-assignment rule or project pattern catches them.
    ("analyst_c", 6, "/* password=Tr0ub4dor-PLANTED */ SELECT carrier, count(*) FROM shipments GROUP BY carrier"),
    ("analyst_b", 6, "SELECT region, count(*) FROM customers GROUP BY region -- token: PLANTED-TOKEN-9"),
    ("etl_loader", 30, "SELECT * FROM orders WHERE created_at > now() - interval '1 day'"),
    # Typed literals: pg_stat_statements stores `date $1` and `timestamp $2`, text no parser accepts as it is.
    ("analyst_a", 10, "SELECT c.region, count(*) FROM orders o JOIN customers c ON o.customer_id = c.id "
                     "WHERE o.created_at >= date '2026-01-02' AND o.created_at < timestamp '2026-01-05 00:00' "
                     "GROUP BY c.region"),
    ("analyst_c", 10, "SELECT 1"),
]  # fmt: skip


@pytest.fixture(scope="module")
def cluster():
    server = pg_cluster.PgCluster()
    try:
        server.psql("CREATE DATABASE shop")
        server.psql("CREATE DATABASE bare")
        server.psql("CREATE DATABASE quiet")
        server.psql("CREATE EXTENSION pg_stat_statements", database="quiet")
        server.psql("CREATE TABLE t (id int PRIMARY KEY)", database="quiet")
        server.psql("ALTER DATABASE quiet SET pg_stat_statements.track = 'none'")
        server.psql("CREATE EXTENSION pg_stat_statements", database="shop")
        setup = [
            "CREATE TABLE customers (id int PRIMARY KEY, email text, region text)",
            "CREATE TABLE orders (id int PRIMARY KEY, customer_id int, status text, amount numeric(10,2), "
            "created_at timestamp)",
            "CREATE TABLE shipments (id int PRIMARY KEY, ref_no int, carrier text)",
            "CREATE TABLE audit_log (id int PRIMARY KEY, note text)",
            "INSERT INTO customers SELECT g, 'c' || g || '@shop.test', (ARRAY['north','south'])[1 + g % 2] "
            "FROM generate_series(1, 50) g",
            "INSERT INTO orders SELECT g, 1 + g % 50, (ARRAY['paid','refunded'])[1 + g % 2], g, "
            "timestamp '2026-01-01' + g * interval '1 hour' FROM generate_series(1, 300) g",
            "INSERT INTO shipments SELECT g, 1 + (g * 7) % 300, 'dhl' FROM generate_series(1, 200) g",
            "INSERT INTO audit_log SELECT g, 'n' FROM generate_series(1, 10) g",
        ]
        for sql in setup:
            server.psql(sql, database="shop")
        for role in ("analyst_a", "analyst_b", "analyst_c", "etl_loader", "nobody_special"):
            server.psql(f"CREATE ROLE {role} LOGIN")
            server.psql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}", database="shop")
        server.psql("SELECT pg_stat_statements_reset()", database="shop")
        for role, times, sql in WORKLOAD:
            with psycopg.connect(server.url(role, "shop"), autocommit=True) as conn:
                for _ in range(times):
                    conn.execute(sql).fetchall()
        yield server
    finally:
        server.stop()


def _project(tmp_path: Path, url: str, history: dict | None = None) -> tuple[Path, Path]:
    home = tmp_path / "home"
    home.mkdir(parents=True, exist_ok=True)
    root = tmp_path / "proj"
    subprocess.run([sys.executable, "-m", "ktx", "admin", "init", str(root)], env=clean_env(home), check=True)
    conn = {"driver": "postgres", "url": url, "schemas": ["public"]}
    if history is not None:
        conn["context"] = {"queryHistory": history}
    text = (root / "ktx.yaml").read_text().replace("connections: {}", "connections:\n  wh: " + json.dumps(conn))
    (root / "ktx.yaml").write_text(text)
    return root, home


def _ingest(root: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ktx", "--project-dir", str(root), "ingest", "wh", *args, "--json"],
        env=clean_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )


HISTORY = {
    "enabled": True,
    "minExecutions": 5,
    "filters": {"serviceAccounts": {"patterns": ["^etl_"]}},
    "redactionPatterns": [r"(?i)hunter\d"],
}


def test_usage_joins_patterns_and_redaction(cluster, tmp_path: Path) -> None:
    root, home = _project(tmp_path, cluster.url("postgres", "shop"), HISTORY)
    done = _ingest(root, home, "--query-history")
    assert done.returncode == 0, done.stderr + done.stdout
    report = json.loads(done.stdout)["results"][0]["report"]
    history = report["queryHistory"]
    assert history["status"] == "done" and history["kept"] >= 3
    assert history["dropped"].get("service_account") == 1 and history["dropped"].get("trivial_probe")

    tables = safe_load((root / "semantic-layer/wh/_schema/public.yaml").read_text())["tables"]
    orders = tables["orders"]["usage"]
    assert orders["source"] == "query-history" and orders["frequencyTier"] == "mid"
    assert "status" in orders["commonFilters"]
    assert "created_at" in orders["commonFilters"]  # from the `date $1` template
    assert history["parseFailures"] == 0 and history["parseFailureSample"] is None
    assert {"table": "customers", "on": ["customer_id = customers.id"]} in orders["commonJoins"]
    assert tables["customers"]["usage"]["commonGroupBys"] == ["region"]
    assert "usage" not in tables["audit_log"]  # never queried
    # Nobody named this link; history shows people join on it, and validation confirmed it.
    ship = [j for j in tables["shipments"]["joins"] if j["to"] == "orders"]
    assert ship and ship[0]["on"] == "shipments.ref_no = orders.id" and ship[0]["source"] == "inferred"
    assert history["joinsAcceptedFromHistory"] >= 1

    page = root / "wiki/global/historic-sql-customers-orders.md"
    text = page.read_text()
    assert "historic-sql" in text and "representative_sql" in text and "sum(o.amount)" in text
    assert (root / "wiki/global/historic-sql-orders-shipments.md").is_file()
    staged = root / "raw-sources/wh/historic-sql/snapshot"
    assert json.loads((staged / "tables/public.orders.json").read_text())["stats"]["executionsBucket"] == "10-100"

    # No email and no secret anywhere: files, git history, the local state and the trace.
    log = subprocess.run(["git", "log", "-p", "--all"], cwd=root, capture_output=True, text=True).stdout
    everything = log + "".join(
        p.read_text(errors="replace")
        for p in root.rglob("*")
        if p.is_file() and p.suffix in (".json", ".jsonl", ".md", ".yaml")
    )
    leaks = [str(p) for p in root.rglob("*") if p.is_file() and EMAIL.encode() in p.read_bytes()]
    assert not leaks, leaks
    assert EMAIL not in everything and SECRET not in everything
    assert "PLANTED" not in everything  # unquoted, in comments, with no project pattern for them
    assert "[REDACTED]" in (staged / "patterns-input.json").read_text()
    state = subprocess.run(["sqlite3", str(root / ".ktx/db.sqlite"), ".dump"], capture_output=True, text=True).stdout
    assert EMAIL not in state and SECRET not in state and "PLANTED" not in state

    # The usage survives a plain rescan, and the query tools see it.
    again = _ingest(root, home)
    assert again.returncode == 0, again.stderr
    tables = safe_load((root / "semantic-layer/wh/_schema/public.yaml").read_text())["tables"]
    assert tables["orders"]["usage"]["frequencyTier"] == "mid"


def test_extension_missing_and_no_grant_are_clear_failures_and_the_scan_still_lands(cluster, tmp_path: Path) -> None:
    root, home = _project(tmp_path / "a", cluster.url("postgres", "bare"))
    missing = _ingest(root, home, "--query-history")
    assert missing.returncode == 1
    result = json.loads(missing.stdout)["results"][0]
    assert "pg_stat_statements cannot be read" in result["message"]
    assert "CREATE EXTENSION pg_stat_statements" in result["report"]["queryHistory"]["hint"]
    assert result["report"]["commit"]  # the database scan itself was committed

    root, home = _project(tmp_path / "b", cluster.url("nobody_special", "shop"))
    denied = _ingest(root, home, "--query-history")
    assert denied.returncode == 1
    result = json.loads(denied.stdout)["results"][0]
    assert "GRANT pg_read_all_stats TO nobody_special" in result["report"]["queryHistory"]["hint"]


def test_query_history_flags_are_checked(cluster, tmp_path: Path) -> None:
    root, home = _project(tmp_path, cluster.url("postgres", "shop"))
    window = _ingest(root, home, "--query-history-window-days", "7")
    assert window.returncode == 2 and "only valid with --query-history" in window.stderr
    sqlite_root = tmp_path / "lite"
    subprocess.run([sys.executable, "-m", "ktx", "admin", "init", str(sqlite_root)], env=clean_env(home), check=True)
    text = (
        (sqlite_root / "ktx.yaml")
        .read_text()
        .replace("connections: {}", 'connections:\n  wh: {"driver": "sqlite", "path": "x.sqlite"}')
    )
    (sqlite_root / "ktx.yaml").write_text(text)
    refused = _ingest(sqlite_root, home, "--query-history")
    assert refused.returncode == 2 and "not available for sqlite" in refused.stderr


def test_track_none_is_a_warning(cluster, tmp_path: Path) -> None:
    root, home = _project(tmp_path, cluster.url("postgres", "quiet"))
    done = _ingest(root, home, "--query-history")
    assert done.returncode == 0, done.stderr
    warnings = json.loads(done.stdout)["results"][0]["report"]["warnings"]
    assert any(w["code"] == "query_history_track_none" for w in warnings)


def test_with_an_llm_narratives_are_added_and_prompts_are_redacted(cluster, tmp_path: Path) -> None:
    from tests.fakes.anthropic_api import AnthropicStandIn, tool_use

    api = AnthropicStandIn()

    def responder(request: dict) -> dict:
        schema = json.dumps((request["body"].get("tools") or [{}])[0].get("input_schema", {}))
        if "fkCandidates" in schema:
            return tool_use(("emit_result", {"pkCandidates": [], "fkCandidates": []}))
        if "PatternNarrative" in schema:
            return tool_use(("emit_result", {"title": "Paid revenue by region", "narrative": "Revenue per region."}))
        if "narrative" in schema:
            return tool_use(("emit_result", {"narrative": "Analysts filter orders by status every day."}))
        return tool_use(("emit_result", {"tableDescription": "A table.", "columns": []}))

    api.default = responder
    try:
        root, home = _project(tmp_path, cluster.url("postgres", "shop"), HISTORY)
        llm = {
            "provider": {"backend": "anthropic", "anthropic": {"api_key": "env:KTX_QH_KEY", "base_url": api.base_url}},
            "models": {"default": "claude-haiku-4-5"},
        }
        from ktx.project.project import Project

        def edit(doc) -> None:
            doc["llm"] = llm
            doc["scan"]["enrichment"]["mode"] = "llm"

        Project(root).update_config(edit, "use an LLM")
        done = subprocess.run(
            [sys.executable, "-m", "ktx", "--project-dir", str(root), "ingest", "wh", "--query-history", "--json"],
            env=clean_env(home, KTX_QH_KEY="sk-qh"),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr + done.stdout
        report = json.loads(done.stdout)["results"][0]["report"]
        assert report["enrichment"]["queryHistoryNarratives"] == "completed"
        tables = safe_load((root / "semantic-layer/wh/_schema/public.yaml").read_text())["tables"]
        assert tables["orders"]["usage"]["narrative"] == "Analysts filter orders by status every day."
        page = (root / "wiki/global/historic-sql-customers-orders.md").read_text()
        assert "summary: Paid revenue by region" in page and "Revenue per region." in page
        sent = json.dumps(api.bodies)
        assert EMAIL not in sent and SECRET not in sent
    finally:
        api.close()
