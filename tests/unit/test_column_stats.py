"""A scan keeps every column's stats until its files are written (600,000 columns in a 100,000-table catalog): the
stats share what repeats, and a checkpoint's JSON gives back equal stats that share the same way."""

from __future__ import annotations

import sys

from ktx.scan.profile import ColumnStats, TableStats


def test_equal_value_lists_are_one_tuple_and_short_bounds_are_shared() -> None:
    # Built at run time: equal literals would be one constant already.
    top, sample = tuple("ab"), tuple("ab")
    small = ColumnStats("status", 3, 0, 2, 2, 2, "".join(["2024-", "01-01"]), "9" * 80, top, sample)
    assert small.value_sample is small.top_values
    assert small.min_value is sys.intern("2024-01-01")
    assert small.max_value == "9" * 80  # long values are kept as they are
    wide = ColumnStats("id", 5, 0, 5, 1, 1, None, None, ("5", "4"), ("1", "2"))
    assert wide.value_sample == ("1", "2") and wide.top_values == ("5", "4")


def test_stats_read_back_from_a_checkpoint_equal_the_profiled_ones() -> None:
    table = TableStats(
        "t",
        3,
        3,
        {
            "id": ColumnStats("id", 3, 0, 3, 1, 1, "1", "3", ("1", "2", "3"), ("1", "2", "3")),
            "note": ColumnStats("note", 3, 1, 2, 1, 9, None, None, ("x", "y"), ("w", "x")),
            "empty": ColumnStats("empty", 3, 3, 0),
        },
    )
    again = TableStats.from_json(table.to_json())
    assert again == table
    assert again.columns["id"].value_sample is again.columns["id"].top_values
    assert again.columns["note"].value_sample == ("w", "x")
    assert again.columns["empty"].top_values == () and again.columns["empty"].min_value is None
