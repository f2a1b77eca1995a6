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
