"""dbt's own checks of a MetricFlow project (dbt-semantic-interfaces, the real package): what it cannot parse is left
out with its message, a metric its validation rejects is refused with dbt's message, the rest is read.

Found material: ../shared/data/mf-oracle (MetricFlow's simple_manifest) and ../shared/data/jaffle-sl (dbt Labs'
jaffle-sl-template); those tests skip where it is absent."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ktx.sources.metricflow import read_project

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
SIMPLE = SHARED / "mf-oracle" / "manifest" / "simple_manifest"
JAFFLE = SHARED / "jaffle-sl"


def _codes(warnings: list[str], code: str) -> list[str]:
    return [w for w in warnings if w.startswith(code + ":")]


@pytest.mark.skipif(not SIMPLE.is_dir(), reason=f"no simple_manifest at {SIMPLE}")
def test_metricflows_own_test_project_passes_dbts_parser() -> None:
    mf = read_project(SIMPLE)
    # 110 metrics written, and the three `create_metric: true` measures MetricFlow's loader makes metrics of.
    assert len(mf.models) == 12 and len(mf.metrics) == 113
    proxies = sorted(m["name"] for m in mf.metrics if m["_style"] == "proxy")
    assert proxies == ["archived_users", "new_users", "total_account_balance_first_day_of_month"]
    assert not _codes(mf.warnings, "metricflow_invalid")
    # Its project configuration is a symlink to ../shared (outside the folder read): without it the custom
    # `alien_day` grain is unknown, and dbt refuses exactly the three metrics that use it.
    assert sorted(mf.refused) == [
        "bookings_alien_day_over_alien_day",
        "bookings_offset_alien_day",
        "bookings_offset_one_alien_day",
    ]
    assert mf.refused["bookings_offset_alien_day"] == "Invalid time granularity 'alien_day' in window: '1 alien_day'"
    assert _codes(mf.warnings, "metricflow_unreadable")
    # DSI's transformations give cumulative metrics a metric input beside the measure the file names; its warning
    # about having both is about that artifact, so it is not passed on.
    assert not [w for w in mf.warnings if "should not have both" in w]


@pytest.mark.skipif(not JAFFLE.is_dir(), reason=f"no jaffle-sl at {JAFFLE}")
def test_a_dbt_project_spelling_is_converted_as_dbt_core_does() -> None:
    mf = read_project(JAFFLE)
    # `model: ref(...)` and `numerator: food_revenue` (dbt's schema spelling) parse; nothing refused.
    assert not _codes(mf.warnings, "metricflow_invalid") and not mf.refused
    assert not _codes(mf.warnings, "metricflow_validation_error")
    # 17 metrics written, and `average_revenue`, a measure with `create_metric: true`.
    assert len(mf.metrics) == 18 and "orders" in mf.models
    assert [m["name"] for m in mf.metrics if m["_style"] == "proxy"] == ["average_revenue"]


GOOD = """semantic_model:
  name: orders
  node_relation: {schema_name: main, alias: orders}
  defaults: {agg_time_dimension: ordered_at}
  entities: [{name: order, type: primary, expr: id}]
  dimensions: [{name: ordered_at, type: time, type_params: {time_granularity: day}}]
  measures: [{name: revenue, agg: sum, expr: amount}]
---
metric:
  name: revenue
  type: simple
  type_params: {measure: revenue}
---
metric:
  name: bad_ratio
  type: ratio
  type_params: {numerator: {name: revenue}, denominator: {name: no_such_metric}}
"""
BAD = """semantic_model:
  name: refunds
  node_relation: {schema_name: main, alias: refunds}
  entities: [{name: refund, type: primary, expr: id}]
  measures: [{name: refunded, agg: summ, expr: amount}]
"""


def test_a_bad_object_is_left_out_with_dbts_message_and_the_rest_read(tmp_path: Path) -> None:
    (tmp_path / "orders.yaml").write_text(GOOD)
    (tmp_path / "refunds.yaml").write_text(BAD)
    mf = read_project(tmp_path)
    [invalid] = _codes(mf.warnings, "metricflow_invalid")
    assert invalid.startswith("metricflow_invalid:refunds.yaml: semantic model refunds: does not conform to ")
    assert "measures.0.agg" in invalid and "'summ'" in invalid
    assert sorted(mf.models) == ["orders"]
    # The ratio names a metric that does not exist: dbt's validation rejects it, so ktx refuses it.
    assert "no_such_metric" in mf.refused["bad_ratio"] and "revenue" not in mf.refused


def test_a_symlink_checked_out_as_text_is_followed_inside_the_project(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "orders.yaml").write_text(GOOD)
    (tmp_path / "orders.yaml").write_text("shared/orders.yaml")  # git with core.symlinks=false writes this
    (tmp_path / "elsewhere.yaml").write_text("../../outside/project_configuration.yaml\n")
    mf = read_project(tmp_path)
    assert "orders" in mf.models and {m["_file"] for m in mf.metrics} >= {"orders.yaml"}
    [unreadable] = _codes(mf.warnings, "metricflow_unreadable")
    assert unreadable.startswith("metricflow_unreadable:elsewhere.yaml: holds only the path")


def test_without_dsi_the_project_is_read_and_the_check_named_as_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "dbt_semantic_interfaces", None)  # import fails as if not installed
    (tmp_path / "orders.yaml").write_text(GOOD)
    mf = read_project(tmp_path)
    assert "orders" in mf.models and not mf.refused
    [skipped] = _codes(mf.warnings, "metricflow_validation_unavailable")
    assert "ktx-context[metricflow]" in skipped
