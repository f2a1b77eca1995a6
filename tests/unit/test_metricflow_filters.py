"""MetricFlow filter templates as the projection reads them: what it can say in the layer, and what it refuses."""

from __future__ import annotations

import pytest

from ktx.sources.metricflow import MetricFlowProject, Model, _filter, _filters


def _models() -> tuple[Model, dict[str, list[Model]], dict[str, str]]:
    home = Model("bookings", "fct_bookings", agg_time="ds")
    home.primary, home.foreign = ("booking", "id"), [("listing", "listing_id")]
    home.dimensions = {"is_instant": {}, "ds": {"type": "time"}}
    listings = Model("listings", "dim_listings")
    listings.primary, listings.dimensions = ("listing", "listing_id"), {"country": {"expr": "country_code"}}
    listings.foreign = [("user", "owner_id")]
    users = Model("users", "dim_users")
    users.primary, users.dimensions = ("user", "id"), {"state": {}, "region": {"expr": "upper(area)"}}
    by_entity = {"booking": [home], "listing": [listings], "user": [users]}
    return home, by_entity, {"listings": "dim_listings", "bookings": "fct_bookings", "users": "dim_users"}


def _project(*, not_unique: set[tuple[str, str]] | None = None) -> MetricFlowProject:
    tables = {"listings": "main.dim_listings", "users": "main.dim_users", "bookings": "main.fct_bookings"}
    return MetricFlowProject(relations=tables, not_unique=not_unique or set())


def test_an_entity_path_is_the_path_metricflow_joins() -> None:
    """`Dimension('user__state', entity_path=['listing'])` is the state of the booking's listing's owner: written
    out as the path (a correlated sub-query), never left to whichever path the layer's joins would take (the
    booking's own guest, say). The entity path was read past before, as if it were not there."""
    home, by_entity, matched = _models()
    text = "{{ Dimension('user__state', entity_path=['listing']) }} = 'CA'"
    _, where, problem = _filter(text, home, {"measures": []}, "m", by_entity, matched, mf=_project())
    assert problem is None
    assert where == (
        "(SELECT ktx_hop_2.state FROM main.dim_listings AS ktx_hop_1 JOIN main.dim_users AS ktx_hop_2 "
        "ON ktx_hop_1.owner_id = ktx_hop_2.id WHERE ktx_hop_1.listing_id = fct_bookings.listing_id) = 'CA'"
    )
    # The double-underscore spelling (MetricFlow's group-by names) reads the same path; an expression's columns
    # are read from the last table.
    text = "{{ Dimension('listing__user__region') }} = 'EU'"
    _, where, _ = _filter(text, home, {"measures": []}, "m", by_entity, matched, mf=_project())
    assert where is not None and where.startswith("(SELECT UPPER(ktx_hop_2.area) FROM")
    # A key the data shows is not unique would make the sub-query return several rows: refused.
    _, _, problem = _filter(
        text, home, {"measures": []}, "m", by_entity, matched, mf=_project(not_unique={("users", "id")})
    )
    assert problem is not None and "users.id, which is not unique in the data" in problem


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
        ("{{ Dimension('user__state', entity_path=['guest']) }} = 'CA'", "bookings has no entity guest"),
        (
            "{{ Dimension('user__planet', entity_path=['listing']) }} = 'CA'",
            "no semantic model keyed by user has dimension planet",
        ),
        ("{{ TimeDimension('metric_time', 'day', date_part_name='year') }} = 1", "arguments that are not understood"),
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
