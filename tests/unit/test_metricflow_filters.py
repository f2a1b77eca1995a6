"""MetricFlow filter templates as the projection reads them: what it can say in the layer, and what it refuses."""

from __future__ import annotations

import pytest

from ktx.sources.metricflow import Model, _filter, _filters


def _models() -> tuple[Model, dict[str, list[Model]], dict[str, str]]:
    home = Model("bookings", "fct_bookings", agg_time="ds")
    home.primary, home.foreign = ("booking", "id"), [("listing", "listing_id")]
    home.dimensions = {"is_instant": {}, "ds": {"type": "time"}}
    listings = Model("listings", "dim_listings")
    listings.primary, listings.dimensions = ("listing", "listing_id"), {"country": {"expr": "country_code"}}
    return home, {"booking": [home], "listing": [listings]}, {"listings": "dim_listings", "bookings": "fct_bookings"}


@pytest.mark.parametrize(
    ("text", "segment", "sql"),
    [
        ("{{ Dimension('booking__is_instant') }}", "is_instant", None),
        ("{{ Entity('listing') }} IS NOT NULL", "listing_id IS NOT NULL", None),
        ("{{ TimeDimension('metric_time', 'day') }} <= '2020-01-02'", "date_trunc('day', ds) <= '2020-01-02'", None),
        ("{{ Dimension('listing__country') }} = 'us'", None, "dim_listings.country = 'us'"),
    ],
)
def test_filters_the_layer_can_say(text: str, segment: str | None, sql: str | None) -> None:
    home, by_entity, matched = _models()
    overlay: dict = {"measures": []}
    name, where, problem = _filter(text, home, overlay, "m_filter", by_entity, matched)
    assert problem is None
    if segment:
        assert name == "m_filter" and overlay["segments"] == [{"name": "m_filter", "expr": segment}]
    else:
        assert where == sql and "segments" not in overlay


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{{ Dimension('listing__user__state') }} = 'CA'", "multi-hop entity path"),
        ("{{ TimeDimension('booking__ds__month') }} > '2020'", "a dimension at a grain"),
        ("{{ Metric('bookings', ['listing']) }} > 2", "value of metric bookings"),
        ("{{ Dimension('nobody__x') }}", "names no entity's dimension"),
        ("{{ Something('x') }} = 1", "template that is not understood"),
    ],
)
def test_filters_it_refuses_with_the_reason(text: str, why: str) -> None:
    home, by_entity, matched = _models()
    _, _, problem = _filter(text, home, {"measures": []}, "m_filter", by_entity, matched)
    assert problem is not None and why in problem


def test_filter_spellings_all_apply() -> None:
    manifest = {"where_filters": [{"where_sql_template": "a = 1"}, {"where_sql_template": "b = 2"}]}
    assert _filters("x = 1", ["y = 2", ""], manifest, None) == ["x = 1", "y = 2", "a = 1", "b = 2"]
