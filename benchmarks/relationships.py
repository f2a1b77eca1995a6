"""Relationship discovery quality and speed, with no LLM.

Quality: precision, recall and F1 of accepted links and primary keys on each fixture schema of
tests/fixtures/relationships (SQLite and DuckDB files with rows, mostly without declared constraints), and
overall; accepted links that failed SQL validation are counted (must be 0).
Speed: discovery over a generated 1,000-table schema with ~2,000 true links (profiling excluded and included).
Found schemas (no one here wrote them; keys stripped; skipped where ../shared/data is absent): the reference
implementation's twelve fixtures and the 25 Spider databases (found_schemas.py), and Chinook, Northwind, Sakila and
classicmodels on the local servers (real_schemas.py). Goal on every set: links F1 ≥ 0.95 and key F1 ≥ 0.95.

Usage: python benchmarks/relationships.py [-v] [--quality-only] [--fixtures-only]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.fixtures.relationships.evaluate import Score, run_fixture  # noqa: E402
from tests.fixtures.relationships.schemas import all_fixtures  # noqa: E402


def quality(verbose: bool) -> None:
    totals = Score("overall")
    print(f"{'fixture':28} {'links P':>8} {'R':>6} {'F1':>6} {'pk P':>6} {'R':>6} {'F1':>6} {'bad':>4} {'s':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for fixture in all_fixtures():
            result, _ = run_fixture(fixture, Path(tmp))
            for name in ("link_tp", "link_fp", "link_fn", "pk_tp", "pk_fp", "pk_fn", "failing_accepted"):
                setattr(totals, name, getattr(totals, name) + getattr(result, name))
            _row(result)
            if verbose:
                for label in ("false_links", "missed_links", "false_pks", "missed_pks"):
                    for item in getattr(result, label):
                        print(f"    {label}: {item}")
    _row(totals)


def _row(s: Score) -> None:
    lp, lr, lf = Score.f1(s.link_tp, s.link_fp, s.link_fn)
    pp, pr, pf = Score.f1(s.pk_tp, s.pk_fp, s.pk_fn)
    print(
        f"{s.fixture:28} {lp:8.2f} {lr:6.2f} {lf:6.2f} {pp:6.2f} {pr:6.2f} {pf:6.2f} {s.failing_accepted:4d} {s.seconds:6.2f}"
    )


WORDS_A = [
    "red",
    "blue",
    "green",
    "amber",
    "silver",
    "golden",
    "north",
    "south",
    "east",
    "west",
    "inner",
    "outer",
    "upper",
    "lower",
    "prime",
    "rapid",
    "quiet",
    "bold",
]
WORDS_B = ["widget", "gadget", "ledger", "voucher", "parcel", "tariff", "vessel", "harbor", "beacon", "tunnel", "bridge", "market", "vendor", "broker", "clerk", "agent", "route", "depot", "cargo", "permit", "license", "meter", "sensor", "device"]  # fmt: skip


def build_scale(path: Path, tables: int = 1000, links_per_table: int = 2, rows: int = 100) -> int:
    """A DuckDB schema of `tables` tables, each pointing at `links_per_table` earlier ones; returns the link count."""
    import random

    import duckdb

    rng = random.Random(5)
    names = [f"{a}_{b}" for b in WORDS_B for a in WORDS_A]
    base = list(names)
    names += [f"{n}_{k}" for k in ("log", "plan", "item", "note") for n in base]
    version = 2
    while len(names) < tables:  # wide catalogs (thousands of tables): numbered variants
        names += [f"{n}_v{version}" for n in base]
        version += 1
    names = names[:tables]
    conn = duckdb.connect(str(path))
    links = 0
    for i, name in enumerate(names):
        parents = rng.sample(names[:i], min(i, links_per_table))
        cols = ["id INTEGER"] + [f"{p}_id INTEGER" for p in parents] + [
            "label VARCHAR", "amount DECIMAL(10,2)", "created_at DATE", "status VARCHAR"]  # fmt: skip
        cols += [f"attr_{k} INTEGER" for k in range(20 - len(cols))]
        conn.execute(f"CREATE TABLE {name} ({', '.join(cols)})")
        fk_exprs = ", ".join(f"(1 + hash(i * 31 + {j}) % {rows})" for j, _ in enumerate(parents))
        extra = ", ".join(f"i % {k + 3}" for k in range(20 - 5 - len(parents)))
        select = ", ".join(x for x in ["i + 1", fk_exprs, "'x' || (i % 9)", "i * 1.5", "DATE '2024-01-01' + (i % 300)::INT",
                                       "'s' || (i % 3)", extra] if x)  # fmt: skip
        conn.execute(f"INSERT INTO {name} SELECT {select} FROM range({rows}) t(i)")
        links += len(parents)
    conn.close()
    return links


def scale() -> None:
    from tests.fixtures.relationships.evaluate import open_fixture_connector

    from ktx.scan.profile import profile_infos
    from ktx.scan.relationships.discover import DiscoverySettings, discover_relationships
    from ktx.scan.snapshot import build_snapshot, table_infos

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scale.duckdb"
        expected = build_scale(path)
        connector = open_fixture_connector(path, "duckdb")
        started = time.perf_counter()
        tables = table_infos(build_snapshot(connector.introspect(), {}))
        stats = profile_infos(connector, tables, sample_rows=10_000, concurrency=4)
        profiled = time.perf_counter() - started
        started = time.perf_counter()
        result = discover_relationships(tables, stats, connector, DiscoverySettings(validation_budget="all"))
        discovered = time.perf_counter() - started
        found = sum(1 for e in result.accepted if e.source != "formal")
        connector.close()
    print(
        f"scale: {len(tables)} tables, {expected} true links: introspect+profile {profiled:.1f} s, "
        f"discovery {discovered:.1f} s ({result.diagnostics['validation']['queryCount']} validation queries), "
        f"{found} links accepted"
    )


def found() -> None:
    import subprocess

    sys.path.insert(0, str(Path(__file__).parent))
    import found_schemas

    found_schemas.relfx("-v" in sys.argv)
    found_schemas.spider("-v" in sys.argv)
    subprocess.run([sys.executable, str(Path(__file__).with_name("real_schemas.py"))], check=False)


if __name__ == "__main__":
    quality("-v" in sys.argv)
    if "--quality-only" not in sys.argv:
        scale()
    if "--fixtures-only" not in sys.argv:
        found()
