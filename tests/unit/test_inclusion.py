"""The value-sample arithmetic behind inclusion dependencies: what a sample of the smallest values can and cannot
say about one column's values lying within another's."""

from __future__ import annotations

from ktx.scan.profile import ColumnStats
from ktx.scan.relationships.candidates import sample_containment
from ktx.scan.relationships.inclusion import _spread_ok


def _col(values: list[str], distinct: int | None = None, low: str | None = None, high: str | None = None):
    count = distinct if distinct is not None else len(values)
    return ColumnStats("c", count, 0, count, min_value=low, max_value=high, value_sample=values)


def test_a_subset_is_found_up_to_the_targets_largest_sampled_value() -> None:
    key = _col([str(i) for i in range(1, 33)], distinct=500)  # the 32 smallest of 500 ids
    child = _col(["3", "17", "40", "41"])  # 40 and 41 lie beyond what the key's sample can answer for
    assert sample_containment(child, key) == (1.0, 2)


def test_a_whole_sample_answers_for_every_value() -> None:
    key = _col(["1", "2", "3"])
    assert sample_containment(_col(["2", "7"]), key) == (0.5, 2)


def test_length_then_value_order_keeps_numbers_in_numeric_order() -> None:
    key = _col([str(i) for i in range(1, 33)], distinct=100)
    assert sample_containment(_col(["9", "10", "100"]), key) == (1.0, 2)  # "100" is past "32", not before "9"


def test_small_integers_at_the_bottom_of_a_wide_key_do_not_spread_like_references() -> None:
    ids = _col([], distinct=900, low="1", high="900")
    assert not _spread_ok(_col([], distinct=5, low="1", high="5"), ids)  # a rating 1–5
    assert _spread_ok(_col([], distinct=300, low="2", high="880"), ids)
    assert _spread_ok(_col([], distinct=3, low="1", high="3"), _col([], distinct=3, low="1", high="3"))


def test_profile_json_has_every_field() -> None:
    """to_json is written out by hand (speed): it must carry every field, and read back to the same stats."""
    import dataclasses
    import json

    from ktx.scan.profile import TableStats

    col = ColumnStats("c", 10, 1, 9, 1, 3, "a", "zz", ("a",), ("a", "b"))
    assert col.to_json() == json.loads(json.dumps(dataclasses.asdict(col)))  # every field, as JSON holds it
    stats = TableStats("t", 10, 10, columns={"c": col})
    assert TableStats.from_json(stats.to_json()) == stats
