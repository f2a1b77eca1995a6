"""dbt projected onto a scanned warehouse with no LLM: descriptions (doc blocks resolved), grain from tests,
accepted values, a join only dbt knows (then queried), tags and freshness; bad input reported line by line; an
unchanged project is no commit; a deleted model takes its dbt keys with it; people's overlays stay untouched."""

from __future__ import annotations

import sqlite3
import subprocess
import textwrap
from pathlib import Path

from ktx.ingest.run import run_ingest
from ktx.project.project import Project, init_project
from ktx.project.yamlio import safe_load
from ktx.semantic.service import run_query
from ktx.services import Services

SCHEMA_YML = """
version: 2
models:
  - name: stg_orders
    description: "One row per order, cleaned from the shop's raw feed."
    config: {tags: [finance, daily]}
    columns:
      - name: id
        tests: [unique, not_null]
      - name: account_ref
        description: The account that placed the order.
        tests:
          - relationships: {to: "ref('dim_accounts')", field: account_id}
      - name: status
        tests:
          - accepted_values: {values: [paid, refunded]}
  - name: dim_accounts
    description: "{{ doc('accounts') }}"
    columns:
      - name: account_id
        data_tests: [unique, not_null]
      - name: tier
        description: "{{ var('tier_label') }} tier"
  - name: ghost_model
    description: Built by dbt but never materialized here.
  - name: bad_link
    columns:
      - name: x
        tests:
          - relationships: {to: "ref('nowhere')", field: id}
"""
SOURCES_YML = """
version: 2
sources:
  - name: raw
    tables:
      - name: payments
        description: Payments as the processor reports them.
        loaded_at_field: paid_at
        freshness: {warn_after: {count: 12, period: hour}}
"""


def _warehouse(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE stg_orders (id INTEGER, account_ref INTEGER, status TEXT, amount NUMERIC)")
        db.execute("CREATE TABLE dim_accounts (account_id INTEGER, tier TEXT)")
        db.execute("CREATE TABLE payments (id INTEGER, paid_at TEXT)")
        db.execute("CREATE TABLE bad_link (x INTEGER)")
        db.executemany(
            "INSERT INTO dim_accounts VALUES (?, ?)", [(100 + i, "gold" if i % 2 else "free") for i in range(10)]
        )
        db.executemany(
            "INSERT INTO stg_orders VALUES (?, ?, ?, ?)",
            [(i, 100 + i % 10, "paid" if i % 3 else "refunded", i) for i in range(1, 61)],
        )


def _dbt_project(folder: Path) -> None:
    (folder / "models" / "marts").mkdir(parents=True)
    (folder / "dbt_project.yml").write_text("name: shop\nversion: '1.0'\nprofile: shop\n")
    (folder / "models" / "marts" / "schema.yml").write_text(SCHEMA_YML)
    (folder / "models" / "sources.yml").write_text(SOURCES_YML)
    (folder / "models" / "marts" / "docs.md").write_text(
        "{% docs accounts %}Accounts that buy from the shop.{% enddocs %}\n"
    )
    (folder / "models" / "broken.yml").write_text("models:\n  - name: x\n    columns: [\n")


def _setup(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    init_project(root)
    _warehouse(root / "wh.sqlite")
    _dbt_project(root / "dbt")

    def edit(doc) -> None:
        doc["connections"] = {
            "wh": {"driver": "sqlite", "path": "wh.sqlite"},
            "shop_dbt": {"driver": "dbt", "source_dir": "dbt", "warehouse_connection_id": "wh"},
        }

    Project(root).update_config(edit, "connections")
    # A person's overlay, which no ingest may touch.
    (root / "semantic-layer" / "wh").mkdir(parents=True)
    (root / "semantic-layer" / "wh" / "stg_orders.yaml").write_text(
        "# mine\nname: stg_orders\nmeasures:\n  - {name: order_count, expr: count(*)}\n"
    )
    Project(root).git.commit(["semantic-layer"], "my overlay")
    return root


def _tables(root: Path) -> dict:
    return safe_load((root / "semantic-layer/wh/_schema/public.yaml").read_text())["tables"]


def test_dbt_projection_end_to_end(tmp_path: Path) -> None:
    root = _setup(tmp_path)
    with Services(Project(root)) as services:
        outcome = run_ingest(services, all_=True)
    wh, dbt = outcome.results  # databases first, then sources
    assert wh.status == "done" and dbt.status == "done", (wh.message, dbt.message)
    report = dbt.report
    assert report["matched"] == 4 and report["targetConnectionId"] == "wh"
    codes = {w["code"] for w in report["warnings"]}
    assert codes >= {"dbt_model_unmatched", "dbt_ref_unresolved", "dbt_yaml_invalid", "dbt_jinja_unresolved"}
    assert any("ghost_model" in w["message"] for w in report["warnings"])
    assert any("broken.yml" in w["message"] for w in report["warnings"])

    tables = _tables(root)
    orders, accounts, payments = tables["stg_orders"], tables["dim_accounts"], tables["payments"]
    assert orders["descriptions"]["dbt"] == "One row per order, cleaned from the shop's raw feed."
    assert accounts["descriptions"]["dbt"] == "Accounts that buy from the shop."
    assert orders["tags"] == {"dbt": ["finance", "daily"]}
    assert payments["freshness"]["dbt"]["loaded_at_field"] == "paid_at"
    cols = {c["name"]: c for c in orders["columns"]}
    assert cols["status"]["enum_values"] == {"dbt": ["paid", "refunded"]}
    assert "Accepted values: paid, refunded." in cols["status"]["descriptions"]["dbt"]
    assert cols["id"]["constraints"] == {"dbt": {"unique": True, "not_null": True}}
    tier = next(c for c in accounts["columns"] if c["name"] == "tier")
    assert tier["descriptions"]["dbt"] == "tier"  # the unresolved var() left out, and reported
    join = next(j for j in orders["joins"] if j["to"] == "dim_accounts")
    assert join == {
        "to": "dim_accounts",
        "on": "stg_orders.account_ref = dim_accounts.account_id",
        "relationship": "many_to_one",
        "source": "manual",
    }
    assert (root / "semantic-layer/wh/stg_orders.yaml").read_text().startswith("# mine")
    with Services(Project(root)) as services:  # tags, freshness and accepted values are searchable
        assert (
            services.search.search_sl("warn after 12 hour", connection_id="wh", limit=1).items[0]["name"] == "payments"
        )
        assert services.search.search_sl("daily finance", connection_id="wh", limit=1).items[0]["name"] == "stg_orders"
    assert (root / "raw-sources/shop_dbt/dbt/snapshot/models/marts/schema.yml").is_file()

    # The join only dbt knew answers a query across both tables, on the engine.
    with Services(Project(root)) as services:
        rows = run_query(
            services, "wh", {"measures": ["stg_orders.order_count"], "dimensions": ["dim_accounts.tier"]}, execute=True
        ).to_json()["rows"]
    assert sorted(int(r[1]) for r in rows) == [30, 30]

    # Unchanged: no commit. A database rescan keeps the dbt keys.
    head = Project(root).git.head()
    with Services(Project(root)) as services:
        again = run_ingest(services, "shop_dbt").results[0]
        rescan = run_ingest(services, "wh").results[0]
    assert again.status == "unchanged" and Project(root).git.head() == head
    assert rescan.status in ("done", "unchanged")
    assert _tables(root)["stg_orders"]["descriptions"]["dbt"].startswith("One row per order")

    # A model deleted from dbt takes its descriptions, tests and join with it.
    schema = root / "dbt/models/marts/schema.yml"
    text = schema.read_text()
    start = text.index("  - name: stg_orders")
    schema.write_text(text[:start] + text[text.index("  - name: dim_accounts") :])
    with Services(Project(root)) as services:
        removed = run_ingest(services, "shop_dbt").results[0]
    assert removed.status == "done"
    orders = _tables(root)["stg_orders"]
    assert "dbt" not in (orders.get("descriptions") or {}) and "tags" not in orders
    assert not [j for j in orders.get("joins") or [] if j["to"] == "dim_accounts"]
    log = subprocess.run(["git", "log", "--format=%s"], cwd=root, capture_output=True, text=True).stdout
    assert log.count("ingest(dbt): shop_dbt") == 2


def test_a_repository_that_cannot_be_cloned_is_one_clear_failure(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    init_project(root)
    _warehouse(root / "wh.sqlite")

    def edit(doc) -> None:
        doc["connections"] = {
            "wh": {"driver": "sqlite", "path": "wh.sqlite"},
            "d": {"driver": "dbt", "repo_url": f"file://{tmp_path}/no-such-repo", "warehouse_connection_id": "wh"},
        }

    Project(root).update_config(edit, "connections")
    with Services(Project(root)) as services:
        [result] = run_ingest(services, "d").results
    assert result.status == "failed" and result.message.startswith("Cannot clone file://")
    # A real repository works through file:// too.
    repo = tmp_path / "repo"
    _dbt_project(repo)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "dbt"], check=True
    )
    text = (root / "ktx.yaml").read_text().replace("no-such-repo", "repo")
    (root / "ktx.yaml").write_text(textwrap.dedent(text))
    with Services(Project(root)) as services:
        run_ingest(services, "wh")
        cloned = run_ingest(services, "d").results[0]
    assert cloned.status == "done", cloned.message
    assert _tables(root)["stg_orders"]["descriptions"]["dbt"].startswith("One row per order")


def test_semantic_models_inside_a_dbt_project_become_queryable_metrics(tmp_path: Path) -> None:
    root = _setup(tmp_path)
    (root / "dbt/models/marts/semantic.yml").write_text(
        "semantic_models:\n"
        "  - name: orders_sm\n    model: ref('stg_orders')\n"
        "    entities: [{name: order, type: primary, expr: id}]\n"
        "    measures: [{name: order_amount, agg: sum, expr: amount}]\n"
        "metrics:\n  - {name: gross_sales, type: simple, type_params: {measure: order_amount}}\n"
    )
    with Services(Project(root)) as services:
        _, dbt = run_ingest(services, all_=True).results
    assert dbt.status == "done", dbt.message
    assert (root / "semantic-layer/wh/metricflow/stg_orders.yaml").is_file()
    with Services(Project(root)) as services:
        [[total]] = run_query(services, "wh", {"measures": ["gross_sales"]}, execute=True).to_json()["rows"]
    with sqlite3.connect(root / "wh.sqlite") as db:
        assert float(total) == db.execute("SELECT sum(amount) FROM stg_orders").fetchone()[0]


def test_a_clone_token_never_reaches_the_message(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "proj"
    init_project(root)
    _warehouse(root / "wh.sqlite")
    monkeypatch.setenv("KTX_GIT_TOKEN", "ghp_super_secret_token")

    def edit(doc) -> None:
        doc["connections"] = {
            "wh": {"driver": "sqlite", "path": "wh.sqlite"},
            "d": {
                "driver": "dbt",
                "repo_url": "https://127.0.0.1:1/acme/dbt.git",
                "auth_token_ref": "env:KTX_GIT_TOKEN",
            },
        }

    Project(root).update_config(edit, "connections")
    with Services(Project(root)) as services:
        [result] = run_ingest(services, "d").results
    assert result.status == "failed" and result.message.startswith("Cannot clone https://127.0.0.1:1/acme/dbt.git")
    assert "ghp_super_secret_token" not in result.message + str(result.report)


def _all_committed_text(root: Path) -> str:
    return subprocess.run(["git", "-C", str(root), "log", "-p", "--all"], capture_output=True, text=True).stdout


def test_files_outside_the_dbt_project_are_never_read_nor_committed(tmp_path: Path) -> None:
    """Symlinks and path settings that leave the project's folder (a cloned repository can carry both)."""
    root = _setup(tmp_path)
    secret = tmp_path / "host-secret.yml"
    secret.write_text("models:\n  - name: stolen\n    description: HOST-SECRET-7731\n")
    outside_dir = tmp_path / "elsewhere"
    outside_dir.mkdir()
    (outside_dir / "leak.yml").write_text("models:\n  - name: leak\n    description: HOST-SECRET-7731\n")
    models = root / "dbt" / "models"
    (models / "passwd.yml").symlink_to(secret)  # a file link leaving the project
    (models / "linked").symlink_to(outside_dir, target_is_directory=True)  # a folder link leaving it
    (models / "dangling.yml").symlink_to(tmp_path / "gone.yml")  # a broken link
    (models / "loop").symlink_to(models, target_is_directory=True)  # a link loop inside the project
    (models / "inside.yml").symlink_to(models / "sources.yml")  # a link that stays inside: allowed
    (root / "dbt" / "dbt_project.yml").write_text(
        f"name: shop\nversion: '1.0'\nprofile: shop\nmodel-paths: [models, '../../../../ESCAPED', '{outside_dir}']\n"
    )
    with Services(Project(root)) as services:
        _, dbt = run_ingest(services, all_=True).results
    assert dbt.status == "done", dbt.message
    codes = {w["code"]: w["message"] for w in dbt.report["warnings"]}
    assert "dbt_path_outside" in codes and "dbt_unreadable" in codes
    messages = " ".join(w["message"] for w in dbt.report["warnings"])
    for named in ("models/passwd.yml", "models/linked", "models/dangling.yml", "../../../../ESCAPED", str(outside_dir)):
        assert named in messages, named
    assert "HOST-SECRET-7731" not in _all_committed_text(root)
    assert not (tmp_path / "ESCAPED").exists() and not list(tmp_path.parent.glob("ESCAPED"))
    snapshot = root / "raw-sources" / "shop_dbt" / "dbt" / "snapshot"
    assert (snapshot / "models" / "inside.yml").is_file()
    assert all(".." not in p.parts for p in snapshot.rglob("*"))


def test_only_repository_urls_reach_git_clone(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    init_project(root)
    _warehouse(root / "wh.sqlite")
    for url in ("ext::sh -c touch% /tmp/pwned", "--upload-pack=touch /tmp/pwned", "/etc", "http://plain.example/x"):

        def edit(doc, url=url) -> None:
            doc["connections"] = {
                "wh": {"driver": "sqlite", "path": "wh.sqlite"},
                "d": {"driver": "dbt", "repo_url": url, "warehouse_connection_id": "wh"},
            }

        Project(root).update_config(edit, "connections")
        with Services(Project(root)) as services:
            [result] = run_ingest(services, "d").results
        assert result.status == "failed" and "is not a repository URL ktx clones" in result.message, url
    assert not Path("/tmp/pwned").exists()


def test_a_relationships_test_onto_a_non_unique_column_is_not_joined_many_to_one(tmp_path: Path) -> None:
    """dbt's relationships test only checks that values exist in the target: onto a column with repeats, a
    many-to-one join multiplied rows (12 instead of 3) with no warning."""
    root = _setup(tmp_path)
    with sqlite3.connect(root / "wh.sqlite") as db:
        db.execute("CREATE TABLE account_events (account_id INTEGER, kind TEXT)")
        db.executemany(
            "INSERT INTO account_events VALUES (?, ?)", [(100 + i % 10, k) for i in range(10) for k in "abcd"]
        )
    schema = root / "dbt" / "models" / "marts" / "schema.yml"
    schema.write_text(
        schema.read_text().replace(
            "          - relationships: {to: \"ref('dim_accounts')\", field: account_id}",
            "          - relationships: {to: \"ref('dim_accounts')\", field: account_id}\n"
            "          - relationships: {to: \"ref('account_events')\", field: account_id}",
        )
        + "  - name: account_events\n    columns:\n      - name: account_id\n"
    )
    with Services(Project(root)) as services:
        _, dbt = run_ingest(services, all_=True).results
    assert dbt.status == "done", dbt.message
    [warning] = [w for w in dbt.report["warnings"] if w["code"] == "dbt_relationship_not_unique"]
    assert "account_events.account_id is not unique in the data (10 distinct values in 40" in warning["message"]
    joins = _tables(root)["stg_orders"].get("joins") or []
    assert not [j for j in joins if j["to"] == "account_events"]
    assert [j for j in joins if j["to"] == "dim_accounts"]  # the unique one is still joined


def test_a_repeated_yaml_key_is_read_as_dbt_reads_it(tmp_path: Path) -> None:
    """dbt reads YAML with PyYAML, which keeps a repeated key's last value; large public projects ship such files.
    The file is read, not dropped whole: the last value wins and a warning names the file, the key and the line."""
    root = _setup(tmp_path)
    with sqlite3.connect(root / "wh.sqlite") as db:
        db.execute("CREATE TABLE refunds (id INTEGER, reason TEXT)")
    (root / "dbt" / "models" / "refunds.yml").write_text(
        "version: 2\nmodels:\n  - name: refunds\n    description: A draft.\n"
        "    columns:\n      - name: reason\n        description: Why.\n"
        "    description: One row per refund.\n"
    )
    with Services(Project(root)) as services:
        outcome = run_ingest(services, all_=True)
    wh, dbt = outcome.results
    assert wh.status == "done" and dbt.status == "done", (wh.message, dbt.message)
    refunds = _tables(root)["refunds"]
    assert refunds["descriptions"]["dbt"] == "One row per refund."
    assert next(c for c in refunds["columns"] if c["name"] == "reason")["descriptions"]["dbt"] == "Why."
    [warning] = [w for w in dbt.report["warnings"] if w["code"] == "dbt_yaml_duplicate_key"]
    assert "refunds.yml" in warning["message"] and "`description` repeats on line 8" in warning["message"]


def test_folder_tags_from_dbt_project_yml(tmp_path: Path) -> None:
    """`+tags` set on a folder in dbt_project.yml tag every model under it, with the model's own tags."""
    root = _setup(tmp_path)
    (root / "dbt" / "dbt_project.yml").write_text(
        "name: shop\nversion: '1.0'\nprofile: shop\nmodels:\n  shop:\n    +tags: nightly\n"
        "    marts:\n      +tags: [certified]\n"
    )
    with Services(Project(root)) as services:
        outcome = run_ingest(services, all_=True)
    assert all(r.status == "done" for r in outcome.results)
    tables = _tables(root)
    assert tables["stg_orders"]["tags"] == {"dbt": ["nightly", "certified", "finance", "daily"]}
    assert tables["dim_accounts"]["tags"] == {"dbt": ["nightly", "certified"]}


def test_folder_meta_and_docs_from_dbt_project_yml(tmp_path: Path) -> None:
    """`+meta` merges down the folders under the model's own `meta` (the model wins), `+docs` is kept; re-ingest
    after they are removed drops them; search finds a table by its owner."""
    root = _setup(tmp_path)
    project_yml = root / "dbt" / "dbt_project.yml"
    project_yml.write_text(
        "name: shop\nversion: '1.0'\nprofile: shop\nmodels:\n  shop:\n    +meta: {owner: data-platform, tier: 2}\n"
        "    marts:\n      +meta: {owner: finance-analytics}\n      +docs: {show: false}\n"
    )
    schema = root / "dbt" / "models" / "marts" / "schema.yml"
    schema.write_text(
        schema.read_text().replace(
            "  - name: dim_accounts\n", "  - name: dim_accounts\n    config:\n      meta: {tier: 1}\n", 1
        )
    )
    with Services(Project(root)) as services:
        outcome = run_ingest(services, all_=True)
    assert all(r.status == "done" for r in outcome.results)
    tables = _tables(root)
    assert tables["stg_orders"]["meta"] == {"dbt": {"owner": "finance-analytics", "tier": 2, "docs": {"show": False}}}
    assert tables["dim_accounts"]["meta"]["dbt"]["tier"] == 1
    with Services(Project(root)) as services:
        hits = services.search.search_sl("finance analytics owner", connection_id="wh").items
    assert {"stg_orders", "dim_accounts"} <= {h["name"] for h in hits[:3]}
    project_yml.write_text("name: shop\nversion: '1.0'\nprofile: shop\n")
    schema.write_text(schema.read_text().replace("    config:\n      meta: {tier: 1}\n", ""))
    with Services(Project(root)) as services:
        run_ingest(services, "shop_dbt")
    assert "meta" not in _tables(root)["stg_orders"]


def test_refs_to_seeds_and_snapshots_resolve(tmp_path: Path) -> None:
    """A relationships test may point at a seed (a CSV, often with no YAML at all) or a snapshot (a `{% snapshot %}`
    block): dbt resolves `ref()` to both, and so must the projection."""
    root = _setup(tmp_path)
    with sqlite3.connect(root / "wh.sqlite") as db:
        db.execute("CREATE TABLE country_codes (code TEXT, name TEXT)")
        db.executemany("INSERT INTO country_codes VALUES (?, ?)", [("no", "Norway"), ("se", "Sweden")])
        db.execute("CREATE TABLE accounts_snapshot (account_id INTEGER, tier TEXT, dbt_valid_from TEXT)")
        db.executemany(
            "INSERT INTO accounts_snapshot VALUES (?, 'gold', '2026-01-01')", [(100 + i,) for i in range(10)]
        )
        db.execute("CREATE TABLE visits (id INTEGER, country TEXT, account_id INTEGER)")
        db.executemany(
            "INSERT INTO visits VALUES (?, ?, ?)", [(i, "no" if i % 2 else "se", 100 + i % 10) for i in range(40)]
        )
    dbt = root / "dbt"
    (dbt / "seeds").mkdir()
    (dbt / "seeds" / "country_codes.csv").write_text("code,name\nno,Norway\nse,Sweden\n")
    (dbt / "snapshots").mkdir()
    (dbt / "snapshots" / "accounts.sql").write_text(
        "{% snapshot accounts_snapshot %}\n{{ config(unique_key='account_id', strategy='check') }}\n"
        "select * from {{ ref('dim_accounts') }}\n{% endsnapshot %}\n"
    )
    (dbt / "models" / "visits.yml").write_text(
        "version: 2\nmodels:\n  - name: visits\n    columns:\n"
        "      - name: country\n        tests:\n          - relationships: {to: \"ref('country_codes')\", field: code}\n"
        "      - name: account_id\n        tests:\n"
        "          - relationships: {to: \"ref('accounts_snapshot')\", field: account_id}\n"
    )
    with Services(Project(root)) as services:
        outcome = run_ingest(services, all_=True)
    wh, dbt_result = outcome.results
    assert wh.status == "done" and dbt_result.status == "done", (wh.message, dbt_result.message)
    joins = {j["to"]: j for j in _tables(root)["visits"].get("joins") or []}
    assert joins["country_codes"]["on"] == "visits.country = country_codes.code"
    assert joins["country_codes"]["source"] == "manual"
    assert joins["accounts_snapshot"]["on"] == "visits.account_id = accounts_snapshot.account_id"
    unresolved = [w["message"] for w in dbt_result.report["warnings"] if w["code"] == "dbt_ref_unresolved"]
    assert not [m for m in unresolved if "country_codes" in m or "accounts_snapshot" in m]


def test_target_manifest_json_names_what_dbt_built(tmp_path: Path) -> None:
    """With `target/manifest.json` (dbt parse / compile output), the names a model was built under come from it —
    here an alias set by a macro the YAML never shows — and models without YAML are known too."""
    import json

    root = _setup(tmp_path)
    with sqlite3.connect(root / "wh.sqlite") as db:
        db.execute("CREATE TABLE fct_refunds_v2 (id INTEGER, amount INTEGER)")
        db.execute("CREATE TABLE daily_totals (day TEXT, total INTEGER)")
    (root / "dbt" / "models" / "refunds.yml").write_text(
        "version: 2\nmodels:\n  - name: fct_refunds\n    description: One row per refund.\n"
    )
    manifest = {
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
        "nodes": {
            "model.shop.fct_refunds": {
                "resource_type": "model", "name": "fct_refunds", "alias": "fct_refunds_v2", "schema": "main",
            },
            "model.shop.daily_totals": {
                "resource_type": "model", "name": "daily_totals", "alias": "daily_totals", "schema": "main",
                "description": "Totals per day.", "tags": ["finance"],
            },
            "test.shop.unique_x": {"resource_type": "test", "name": "unique_x"},
        },
    }  # fmt: skip
    (root / "dbt" / "target").mkdir()
    (root / "dbt" / "target" / "manifest.json").write_text(json.dumps(manifest))
    with Services(Project(root)) as services:
        outcome = run_ingest(services, all_=True)
    wh, dbt = outcome.results
    assert wh.status == "done" and dbt.status == "done", (wh.message, dbt.message)
    tables = _tables(root)
    assert tables["fct_refunds_v2"]["descriptions"]["dbt"] == "One row per refund."
    assert tables["daily_totals"]["descriptions"]["dbt"] == "Totals per day."
    assert tables["daily_totals"]["tags"] == {"dbt": ["finance"]}
    assert not [
        w for w in dbt.report["warnings"] if "fct_refunds" in w["message"] and w["code"] == "dbt_model_unmatched"
    ]
