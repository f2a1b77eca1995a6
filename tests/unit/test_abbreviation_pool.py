"""Abbreviations (`cust_id` → customers) are tried against tables sharing the first letters: a few thousand at most,
so a catalog of 100,000 look-alike tables (t000001 …) does not try every table for every column."""

from __future__ import annotations

from ktx.scan.relationships import candidates
from ktx.scan.relationships.candidates import abbreviation_pool, alias_match, build_indexes
from ktx.scan.relationships.model import ColumnInfo, TableInfo


def _table(name: str) -> TableInfo:
    return TableInfo(f"main.{name}", name, "main", columns=[ColumnInfo("id", "INTEGER", "number")])


def test_a_small_catalog_tries_every_table_of_the_letter() -> None:
    indexes = build_indexes([_table("customers"), _table("campaigns"), _table("orders")], {})
    pool = abbreviation_pool(indexes, ("cust",))
    assert sorted(pool) == ["main.campaigns", "main.customers"]
    assert alias_match(("cust",), indexes.names["main.customers"]) is not None


def test_a_crowded_letter_narrows_to_the_shared_prefix_then_gives_up(monkeypatch) -> None:
    monkeypatch.setattr(candidates, "ABBREVIATION_POOL", 3)
    tables = [_table(n) for n in ("customers", "cupboards", "cups", "cargo", "cars", "orders")]
    tables += [_table(f"t{i:06d}") for i in range(10)]
    indexes = build_indexes(tables, {})
    # `c…` holds 5 tables (> 3): the two-letter pool `cu` holds 3
    assert sorted(abbreviation_pool(indexes, ("cust",))) == ["main.cupboards", "main.cups", "main.customers"]
    assert abbreviation_pool(indexes, ("ord",)) == ["main.orders"]
    # ten tables named t0000…: no prefix narrows them to 3, so no abbreviation is tried among them
    assert abbreviation_pool(indexes, ("t000004",)) == []


def test_a_numbered_name_is_found_whole_when_no_abbreviation_is_tried(monkeypatch) -> None:
    """`t000004_id` splits into t / 000004 while the table `t000004` is one token: the whole name is looked up, so
    the link does not depend on the abbreviation pool (which a crowded letter leaves empty)."""
    from ktx.scan.profile import ColumnStats, TableStats
    from ktx.scan.relationships.candidates import generate_candidates

    monkeypatch.setattr(candidates, "ABBREVIATION_POOL", 3)
    values = ["1", "2", "3"]
    tables, stats = [], {}
    for i in range(10):
        name, parent = f"t{i:06d}", f"t{max(i - 1, 0):06d}_id"
        cols = [ColumnInfo("id", "INTEGER", "number"), ColumnInfo(parent, "INTEGER", "number")]
        tables.append(TableInfo(f"main.{name}", name, "main", columns=cols))
        stats[f"main.{name}"] = TableStats(f"main.{name}", 3, 3, {
            "id": ColumnStats("id", 3, 0, 3, 1, 1, "1", "3", values, values),
            parent: ColumnStats(parent, 3, 0, 3, 1, 1, "1", "3", values, values),
        })  # fmt: skip
    indexes = build_indexes(tables, stats)
    assert abbreviation_pool(indexes, ("t",)) == []
    edges = generate_candidates(tables, stats, indexes, exclude=set())
    assert "main.t000005:(t000004_id)->main.t000004:(id)" in {e.id for e in edges}
