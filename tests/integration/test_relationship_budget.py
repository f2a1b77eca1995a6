"""A wide warehouse: many fact tables carry `customer_id` and one `customers` table owns it. The validation budget
must go on each column's best candidate first, and a budget that runs out says so."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ktx.scan.relationships.discover import DiscoverySettings
from tests.fixtures.relationships.evaluate import discover_fixture

FACTS = 30


def _wide_warehouse(path: Path) -> None:
    db = duckdb.connect(str(path))
    db.execute("CREATE TABLE customers AS SELECT range + 1 AS id, 'c' || range AS name FROM range(40)")
    for i in range(FACTS):
        # Each fact row has its own customer, so every fact_X.customer_id also looks like a unique key that the
        # other facts' customer_id could point at.
        db.execute(
            f"CREATE TABLE fact_{i:02d} AS SELECT range + 1 AS id, range + 1 + {i % 5} AS customer_id, "
            f"range * 1.5 AS amount FROM range(20)"
        )
    db.close()


def test_every_fact_gets_its_customers_link_checked_before_fact_to_fact_guesses(tmp_path):
    path = tmp_path / "wide.duckdb"
    _wide_warehouse(path)
    result = discover_fixture(path, "duckdb", DiscoverySettings(validation_budget=FACTS))
    to_customers = {e.from_table for e in result.accepted if e.to_table == "customers"}
    assert to_customers == {f"fact_{i:02d}" for i in range(FACTS)}
    assert not [e for e in result.accepted if e.to_table.startswith("fact_")]
    exhausted = [w for w in result.warnings if w.startswith("validation_budget_exhausted")]
    assert len(exhausted) == 1 and "validationBudget: all" in exhausted[0]
    assert f"{FACTS} validation queries" in exhausted[0]


def test_no_budget_warning_when_everything_was_checked(tmp_path):
    path = tmp_path / "wide.duckdb"
    _wide_warehouse(path)
    result = discover_fixture(path, "duckdb", DiscoverySettings(validation_budget="all"))
    assert not [w for w in result.warnings if w.startswith("validation_budget_exhausted")]
    assert len({e.from_table for e in result.accepted if e.to_table == "customers"}) == FACTS


def test_the_spent_result_gives_the_same_json(tmp_path):
    """An ingest turns its result into JSON in place (`consume=True`): the same text as a copy of it."""
    path = tmp_path / "wide.duckdb"
    _wide_warehouse(path)
    result = discover_fixture(path, "duckdb", DiscoverySettings(validation_budget=FACTS))
    copied = result.to_json("wh")
    assert copied["accepted"] and copied["review"] + copied["rejected"]
    assert result.to_json("wh", consume=True) == copied
    assert all(isinstance(e, dict) for e in result.accepted)
