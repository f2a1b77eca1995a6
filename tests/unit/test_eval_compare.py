"""Row comparison of `ktx eval`: relative tolerance for numbers, order only when asked, NULLs, dates."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from ktx.evals.compare import by_name, compare_rows


def test_numbers_within_the_relative_tolerance_are_equal_and_others_are_named():
    assert compare_rows([["a", 100.4]], [["a", 100]], ordered=False, tolerance=0.005).equal
    outcome = compare_rows([["a", 101]], [["a", 100]], ordered=False, tolerance=0.005)
    assert not outcome.equal and outcome.diffs == ["row 1: expected ['a', 100], got ['a', 101]"]
    assert compare_rows([[Decimal("12.50")]], [["12.5"]], ordered=True, tolerance=0).equal


def test_order_matters_only_when_asked_and_nulls_dates_and_counts_are_compared():
    got, want = [["b", 2], ["a", 1], [None, 3]], [["a", 1], [None, 3], ["b", 2]]
    assert compare_rows(got, want, ordered=False, tolerance=0).equal
    assert not compare_rows(got, want, ordered=True, tolerance=0).equal
    assert compare_rows([[date(2025, 1, 1)]], [["2025-01-01"]], ordered=True, tolerance=0).equal
    assert compare_rows([[datetime(2025, 1, 1)]], [["2025-01-01"]], ordered=True, tolerance=0).equal
    short = compare_rows([["a", 1]], [["a", 1], ["b", 2]], ordered=False, tolerance=0)
    assert short.diffs == ["row 2: expected ['b', 2], got (none)"]
    assert compare_rows([["a"]], [["a", 1]], ordered=False, tolerance=0).diffs == ["column count: expected 2, got 1"]


def test_columns_by_name():
    assert by_name(["n", "segment"], [[1, "x"]], ["SEGMENT", "n"]) == [["x", 1]]
