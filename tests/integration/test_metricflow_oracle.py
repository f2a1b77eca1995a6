"""dbt Labs' own MetricFlow test project (`simple_manifest`), read exactly as written — one `semantic_model:` or
`metric:` per YAML document, a `$source_schema` template, a symlinked project configuration — and asked for its
metrics on MetricFlow's own fixture rows: answers must equal MetricFlow 0.213's (`expected.json`), and a metric ktx
cannot express yet is refused with its reason in the report, never answered differently.

Data: ../shared/data/mf-oracle (see its README). Skips where absent. `python benchmarks/metricflow_oracle.py` scores
all 33 queries the way the README's protocol asks.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from ktx.errors import KtxError
from ktx.ingest.run import run_ingest
from ktx.project.project import Project, init_project
from ktx.semantic.service import run_query
from ktx.services import Services

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "mf-oracle"
pytestmark = pytest.mark.skipif(not (DATA / "expected.json").is_file(), reason=f"no MetricFlow oracle at {DATA}")

# Answered today exactly as MetricFlow answers them.
EQUAL = {
    "bookings",
    "booking_value",
    "bookers",
    "instant_bookings",
    "max_booking_value",
    "median_booking_value",
    "referred_bookings",
    "revenue",
    "views",
    "identity_verifications",
    "lux_listings",
    "bookings_per_booker",
    "bookings_per_view",
    "booking_fees",
    "non_referred_bookings_pct",
    "views_times_booking_value",
    "instant_plus_non_referred_bookings_pct",
    "booking_payments",
    "booking_value_for_non_null_listing_id",
    "instant_booking_value_ratio",
    "double_counted_delayed_bookings",
    "lux_booking_value_rate_expr",
    "bookings_per_listing",
    "booking_value_per_view",
    "instant_booking_value",
    "bookings_growth_2_weeks",
    "bookings_mom",
    "bookings_growth_since_start_of_month",
    "trailing_7_days_bookings",
    "revenue_mtd",
    "every_two_days_bookers",
    "total_account_balance_first_day",
    "visit_buy_conversion_rate_7days",
}
# Refused with a reason (a filtered conversion funnel, filters on derived inputs or on another metric's value, a simple metric
# joined to the spine): not queryable by name, so never a different number.
REFUSED = {
    "approximate_discrete_booking_value_p99",  # an approximate discrete percentile: MetricFlow refuses it on DuckDB
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    return _ingested(tmp_path_factory.mktemp("mf") / "proj")


def _ingested(root: Path, extra: dict[str, str] | None = None) -> tuple[Path, dict[str, Any]]:
    """The oracle's warehouse and dbt Labs' project (plus `extra` files in simple_manifest/), ingested; the
    MetricFlow run's report."""
    sys.path.insert(0, str(DATA))
    try:
        from build_warehouse import build  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(DATA))
    init_project(root)
    build(str(root / "warehouse.duckdb"))
    shutil.copytree(DATA / "manifest", root / "mf", symlinks=True)
    for name, text in (extra or {}).items():
        (root / "mf" / "simple_manifest" / name).write_text(text)

    def edit(doc: Any) -> None:
        doc["connections"] = {
            "warehouse": {"driver": "duckdb", "path": "warehouse.duckdb"},
            "simple_manifest": {
                "driver": "metricflow",
                "source_dir": "mf",  # the repository's folder: simple_manifest/ and the shared/ its symlink reads
                "warehouse_connection_id": "warehouse",
            },
        }

    Project(root).update_config(edit, "connections")
    with Services(Project(root)) as services:
        outcome = run_ingest(services, all_=True)
    wh, mf = outcome.results
    assert wh.status == "done" and mf.status == "done", (wh.message, mf.message)
    return root, mf.report


def _rows(root: Path, query: dict[str, Any]) -> list[Any]:
    """ktx's answer to a semantic query on the oracle's warehouse."""
    with Services(Project(root)) as services:
        return run_query(services, "warehouse", query, execute=True).to_json()["rows"]


def _sql(root: Path, sql: str) -> list[Any]:
    """A hand-written answer on the same DuckDB file."""
    import duckdb

    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def _forms(group: dict[str, Any]) -> list[Any]:
    names = [f"{group['table']}.{group['dimension']}"]
    if str(group.get("column") or "").isidentifier():
        names.append(f"{group['table']}.{group['column']}")
    if group.get("granularity"):
        return [{"field": n, "granularity": group["granularity"]} for n in names]
    return names


def _normal(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return round(float(value), 4)
    text = str(value)
    return text[:10] if len(text) >= 19 and text[11:19] == "00:00:00" else text


def _answer(services: Services, case: dict[str, Any]) -> list[tuple[Any, ...]]:
    dimensions: list[Any] = []
    for group in case["group_by"]:
        for form in _forms(group):
            try:
                run_query(
                    services,
                    "warehouse",
                    {"measures": [case["metric"]], "dimensions": [*dimensions, form]},
                    execute=False,
                )
            except KtxError:
                continue
            dimensions.append(form)
            break
        else:
            raise AssertionError(f"{case['metric']}: group-by {group['name']} cannot be asked")
    query = {"measures": [case["metric"]], "dimensions": dimensions, "include_empty": False}
    result = run_query(services, "warehouse", query, execute=True).to_json()
    kinds = [c.get("kind") for c in result["columns"]]
    order = [i for i, k in enumerate(kinds) if k != "measure"] + [i for i, k in enumerate(kinds) if k == "measure"]
    return sorted((tuple(_normal(row[i]) for i in order) for row in result["rows"]), key=repr)


def test_metrics_answer_as_metricflow_does(project: tuple[Path, dict[str, Any]]) -> None:
    root, _ = project
    cases = {c["metric"]: c for c in json.loads((DATA / "expected.json").read_text())["queries"]}
    with Services(Project(root)) as services:
        for name in sorted(EQUAL):
            case = cases[name]
            want = sorted((tuple(_normal(v) for v in row) for row in case["rows"]), key=repr)
            run_query(services, "warehouse", {"measures": [name]}, execute=False)  # queryable by its name alone
            assert _answer(services, case) == want, name


def test_what_cannot_be_expressed_is_refused_and_reported(project: tuple[Path, dict[str, Any]]) -> None:
    root, report = project
    text = json.dumps(report["warnings"]) + json.dumps(report["unmapped"])
    with Services(Project(root)) as services:
        for name in sorted(REFUSED):
            with pytest.raises(KtxError):
                run_query(services, "warehouse", {"measures": [name]}, execute=False)
            assert name in text, f"{name} is refused without a word in the report"


def test_a_metric_joined_to_the_time_spine_answers_every_day(project: tuple[Path, dict[str, Any]]) -> None:
    """MetricFlow's join_to_timespine: every day of the spine in the asked range, also those without bookings (0
    with fill_nulls_with), as MetricFlow answers it (MetricFlow 0.213's own rows agreed in a run of
    `benchmarks/metricflow_oracle.py --data` over these metrics; the 33 queries above do not exercise it)."""
    root, _ = project
    day = {"field": "fct_bookings.ds", "granularity": "day"}
    window = ["fct_bookings.ds >= '2019-12-01'", "fct_bookings.ds < '2020-01-10'"]
    rows = _rows(root, {"measures": ["bookings_fill_nulls_with_0"], "dimensions": [day], "filters": window})
    want = _sql(
        root,
        "SELECT s.ds, coalesce(count(b.ds), 0) FROM mf_time_spine s LEFT JOIN fct_bookings b "
        "ON date_trunc('day', b.ds) = s.ds WHERE s.ds >= '2019-12-01' AND s.ds < '2020-01-10' GROUP BY s.ds "
        "ORDER BY s.ds",
    )
    assert len(rows) == len(want) == 40
    assert [(str(r[0])[:10], int(r[1])) for r in rows] == [(str(d)[:10], int(n)) for d, n in want]
    assert any(n == 0 for _, n in want) and any(n > 0 for _, n in want)


def test_an_offset_of_a_derived_input_offsets_each_of_its_inputs(project: tuple[Path, dict[str, Any]]) -> None:
    """booking_fees_since_start_of_month = booking_fees − booking_fees at the start of its month, booking_fees being
    booking_value × 0.05: each day's fees minus the fees of its month's first day (MetricFlow 0.213 agreed on 183
    days and 6 months through `benchmarks/metricflow_oracle.py --data`)."""
    root, _ = project
    day = {"field": "fct_bookings.ds", "granularity": "day"}
    rows = _rows(root, {"measures": ["booking_fees_since_start_of_month"], "dimensions": [day]})
    want = _sql(
        root,
        "WITH v AS (SELECT date_trunc('day', ds) AS d, sum(booking_value) AS value FROM fct_bookings GROUP BY 1), "
        # every day with fees, and every spine day whose month's first day has fees (NULL where one side lacks)
        "days AS (SELECT d FROM v UNION SELECT sp.ds FROM mf_time_spine sp JOIN v s "
        "ON s.d = date_trunc('month', sp.ds)) "
        "SELECT days.d, v.value * 0.05 - s.value * 0.05 FROM days LEFT JOIN v ON v.d = days.d "
        "LEFT JOIN v s ON s.d = date_trunc('month', days.d) ORDER BY 1",
    )
    assert len(rows) == len(want) > 0
    assert [(str(r[0])[:10], None if r[1] is None else round(float(r[1]), 6)) for r in rows] == [
        (str(d)[:10], None if x is None else round(float(x), 6)) for d, x in want
    ]


def test_an_offset_of_an_offset_adds_up(project: tuple[Path, dict[str, Any]]) -> None:
    """bookings_offset_twice = 2 × bookings_offset_once 2 days earlier, which is 2 × bookings 5 days earlier: four
    times the bookings of 7 days before (MetricFlow 0.213 agreed through `--data`). A grain's start after a window
    does not add up: refused with the reason."""
    from ktx.sources.metricflow import _combined_offset

    root, _ = project
    day = {"field": "fct_bookings.ds", "granularity": "day"}
    rows = _rows(root, {"measures": ["bookings_offset_twice"], "dimensions": [day]})
    want = _sql(
        root, "SELECT date_trunc('day', ds) + INTERVAL 7 DAY, 4 * count(*) FROM fct_bookings GROUP BY 1 ORDER BY 1"
    )
    assert [(str(r[0])[:10], int(r[1])) for r in rows] == [(str(d)[:10], int(n)) for d, n in want]
    assert _combined_offset({"offset_window": "5 days"}, {"kind": "offset", "window": "2 days"}) == {
        "offset_window": "7 days"
    }
    assert _combined_offset({"offset_window": "1 month"}, {"kind": "offset", "window": "2 days"}) is None
    assert _combined_offset({"offset_window": "5 days"}, {"kind": "offset", "grain_to_date": "month"}) is None


def test_a_filter_on_a_derived_input_filters_each_of_its_inputs(project: tuple[Path, dict[str, Any]]) -> None:
    """instant_lux_booking_value_rate is lux_booking_value_rate_expr under `booking__is_instant`: every input of that
    expression takes the filter beside its own (MetricFlow 0.213 answered 0.29701… too, through `--data`)."""
    root, _ = project
    [[got]] = _rows(root, {"measures": ["instant_lux_booking_value_rate"]})
    [[want]] = _sql(
        root,
        "SELECT avg(CASE WHEN l.is_lux AND b.is_instant THEN b.booking_value END) "
        "* sum(CASE WHEN l.is_lux AND b.is_instant THEN 1 END) "
        "/ nullif(sum(CASE WHEN b.is_instant THEN b.booking_value END), 0) "
        "FROM fct_bookings b LEFT JOIN dim_listings_latest l ON b.listing_id = l.listing_id",
    )
    assert abs(float(got) - float(want)) < 1e-9 and abs(float(want) - 0.2970111944297604) < 1e-9


def test_fill_nulls_with_is_kept(project: tuple[Path, dict[str, Any]]) -> None:
    root, _ = project
    with Services(Project(root)) as services:
        sql = run_query(
            services, "warehouse", {"measures": ["bookings_fill_nulls_with_0_without_time_spine"]}, execute=False
        ).to_json()["sql"]
    assert "COALESCE(SUM(1), 0)" in sql


def test_an_approximate_percentile_is_duckdbs_estimate_as_metricflow_asks(project: tuple[Path, dict[str, Any]]) -> None:
    """`use_approximate_percentile` (approximate_continuous_booking_value_p99): MetricFlow renders DuckDB's
    approx_quantile; so does ktx. The approximate discrete one (MetricFlow refuses it on DuckDB) is reported."""
    root, report = project
    [[got]] = _rows(root, {"measures": ["approximate_continuous_booking_value_p99"]})
    [[hand]] = _sql(root, "SELECT approx_quantile(booking_value, 0.99) FROM fct_bookings")
    assert float(got) == float(hand)
    assert "approximate_continuous_booking_value_p99" not in {u["metric"] for u in report["unmapped"]}
    assert any("approximate_discrete_booking_value_p99" in w["message"] for w in report["warnings"])


def test_a_filter_on_a_metrics_value_keeps_the_entities_whose_value_passes(
    project: tuple[Path, dict[str, Any]],
) -> None:
    """`{{ Metric('bookings', ['listing']) }} > 2` (active_listings): the listings whose own bookings exceed 2, as
    MetricFlow joins the per-listing value; compared with a correlated formulation written by hand."""
    root, report = project
    unmapped = {u["metric"] for u in report["unmapped"]}
    assert not {"active_listings", "popular_listing_bookings_per_booker"} & unmapped
    # MetricFlow's reading: a country none of whose listings passes has no row
    country = {"dimensions": ["dim_listings_latest.country"], "include_empty": False}
    by_country = _rows(root, {"measures": ["active_listings"], **country})
    # no listing has more than 10 views: MetricFlow answers the total as one row, NULL
    [[ratio]] = _rows(root, {"measures": ["popular_listing_bookings_per_booker"], "include_empty": False})
    expected = _sql(
        root,
        "SELECT l.country, count(*) FROM dim_listings_latest l "
        "WHERE (SELECT count(*) FROM fct_bookings b WHERE b.listing_id = l.listing_id) > 2 GROUP BY l.country",
    )
    assert {(r[0], int(r[1])) for r in by_country} == {(r[0], int(r[1])) for r in expected}
    assert len(by_country) == len(expected) == 3
    assert ratio is None


def test_a_conversion_filter_selects_the_base_events(project: tuple[Path, dict[str, Any]]) -> None:
    """visit_buy_conversion_rate_with_filter (`visit__referrer_id = 'fb_ad_1'`): only those visits convert and only
    they are counted — 4 buys after 3 such visits, 4/3, as MetricFlow 0.213 answers. By state, a state whose users
    made visits but no conversion has a NULL rate, as MetricFlow says (not 0)."""
    root, _ = project
    [[rate]] = _rows(root, {"measures": ["visit_buy_conversion_rate_with_filter"]})
    state = {"dimensions": ["dim_users_latest.home_state_latest"], "include_empty": False}
    by_state = _rows(root, {"measures": ["visit_buy_conversion_rate_7days"], **state})
    [[expected]] = _sql(
        root,
        "SELECT (SELECT count(*) FROM fct_buys b WHERE EXISTS (SELECT 1 FROM fct_visits v WHERE v.user_id = b.user_id "
        "AND v.ds <= b.ds AND v.ds >= b.ds - INTERVAL 7 DAY AND v.referrer_id = 'fb_ad_1')) "
        "/ (SELECT count(*) FROM fct_visits WHERE referrer_id = 'fb_ad_1')",
    )
    assert float(rate) == float(expected) == 4 / 3
    assert dict((r[0], r[1]) for r in by_state)["MD"] is None


def test_twin_measures_are_all_kept(project: tuple[Path, dict[str, Any]]) -> None:
    """booking_payments is booking_value placed in time by `paid_at`, and derived_bookings_0/1 are the same formula
    under two names: every one is queryable, none skipped, nothing else in the overlay lost."""
    root, report = project
    assert not [w for w in report["warnings"] if w["code"] in ("metricflow_measure_skipped", "metricflow_invalid")]
    overlay = (root / "semantic-layer/warehouse/metricflow/fct_bookings.yaml").read_text()
    assert "name: booking_value\n" in overlay and "name: bookers\n" in overlay
    assert "  - name: booking_payments\n    expr: sum(booking_value)\n    time_dimension: paid_at\n" in overlay
    with Services(Project(root)) as services:
        for name in ("booking_payments", "derived_bookings_0", "derived_bookings_1"):
            rows = run_query(services, "warehouse", {"measures": [name]}, execute=True).to_json()["rows"]
            assert rows and rows[0][0] is not None, name


def test_filtered_inputs_are_measures_of_their_own(project: tuple[Path, dict[str, Any]]) -> None:
    """A ratio or derived metric whose inputs carry filters reads filtered measures; the same input under the same
    filter in two metrics is one measure, named after what it counts."""
    root, _ = project
    overlay = (root / "semantic-layer/warehouse/metricflow/fct_bookings.yaml").read_text()
    assert overlay.count("- name: average_booking_value_where_listing_is_lux_latest\n") == 1
    assert "expr: average_booking_value_where_listing_is_lux_latest * bookings_where_listing_is_lux_latest" in overlay
    with Services(Project(root)) as services:
        ratio = run_query(services, "warehouse", {"measures": ["instant_booking_value_ratio"]}, execute=True).to_json()[
            "rows"
        ]
    assert 0 < ratio[0][0] < 1  # unfiltered, the numerator would equal the denominator


def test_sub_daily_metrics_read_the_hourly_spine(project: tuple[Path, dict[str, Any]]) -> None:
    """`archived_at` is an hourly time dimension: its windows and offsets read the project's hourly spine
    (mf_time_spine_hour), not the daily one — a trailing 3 hours per hour, and an hour earlier summed per day — as
    MetricFlow 0.213 answers them (14 rows and 12, equal through `benchmarks/metricflow_oracle.py --data`). Its
    `create_metric: true` measure is a metric too."""
    root, report = project
    assert "archived_users" not in json.dumps(report["unmapped"])
    hour = {"field": "dim_users.archived_at", "granularity": "hour"}
    day = {"field": "dim_users.archived_at", "granularity": "day"}
    trailing = _rows(root, {"measures": ["subdaily_cumulative_window_metric"], "dimensions": [hour]})
    want = _sql(
        root,
        "SELECT h.ts, count(*) FROM mf_time_spine_hour h JOIN dim_users u ON date_trunc('hour', u.archived_at) <= h.ts "
        "AND date_trunc('hour', u.archived_at) > h.ts - INTERVAL 3 HOUR GROUP BY h.ts ORDER BY h.ts",
    )
    assert len(trailing) == len(want) == 14
    assert [(str(r[0]).replace("T", " ")[:19], int(r[1])) for r in trailing] == [(str(t), int(n)) for t, n in want]
    [[day_value]] = [r[1:] for r in _rows(root, {"measures": ["subdaily_offset_window_metric"], "dimensions": [day]})]
    assert day_value == 12  # every archive but none crosses midnight an hour later; a day-level shift would find none
    by_hour = _rows(root, {"measures": ["archived_users"], "dimensions": [hour]})
    assert sum(int(r[1]) for r in by_hour) == 12


def test_an_offset_by_a_coarser_grain_shifts_each_day(project: tuple[Path, dict[str, Any]]) -> None:
    """bookings 5 days earlier, by week: each spine day takes the bookings 5 days before it and the week sums its
    days (MetricFlow's reading: 23 weeks, equal through `--data`); ktx compared the week's start moved 5 days with
    the bookings' week and found no row. A month earlier by month moves the months themselves."""
    root, _ = project
    week = {"field": "fct_bookings.ds", "granularity": "week"}
    rows = _rows(root, {"measures": ["bookings_5_day_lag"], "dimensions": [week]})
    want = _sql(
        root,
        "SELECT date_trunc('week', s.ds), count(*) FROM mf_time_spine s JOIN fct_bookings b "
        "ON date_trunc('day', b.ds) = s.ds - INTERVAL 5 DAY GROUP BY 1 ORDER BY 1",
    )
    assert len(rows) == len(want) == 23
    assert [(str(r[0])[:10], int(r[1])) for r in rows] == [(str(d)[:10], int(n)) for d, n in want]
    month = {"field": "fct_bookings.ds", "granularity": "month"}
    monthly = _rows(root, {"measures": ["bookings_1_month_ago"], "dimensions": [month]})
    want = _sql(
        root,
        "SELECT date_trunc('month', ds) + INTERVAL 1 MONTH, count(*) FROM fct_bookings GROUP BY 1 ORDER BY 1",
    )
    assert [(str(r[0])[:10], int(r[1])) for r in monthly] == [(str(d)[:10], int(n)) for d, n in want]


ENTITY_PATH_METRICS = """metric:
  name: bookings_of_ca_owned_listings
  type: simple
  type_params: {measure: bookings}
  filter: "{{ Dimension('user__home_state_latest', entity_path=['listing']) }} = 'CA'"
---
metric:
  name: bookings_of_listings_with_owner_state
  type: simple
  type_params: {measure: bookings}
  filter: "{{ Dimension('user__home_state_latest', entity_path=['listing']) }} IS NOT NULL"
"""


def test_a_filter_through_an_entity_path_reads_that_path(tmp_path: Path) -> None:
    """`Dimension('user__home_state_latest', entity_path=['listing'])`: the state of the booking's listing's owner
    (MetricFlow 0.213 answers 95, and 80 / 68 by is_instant, through `--data` on these two metrics added to the
    project). The entity path was read past before, so the filter named the wrong user or none."""
    root, _ = _ingested(tmp_path / "proj", {"entity_path_metrics.yaml": ENTITY_PATH_METRICS})
    [[total]] = _rows(root, {"measures": ["bookings_of_ca_owned_listings"]})
    path = (
        "FROM fct_bookings b LEFT JOIN dim_listings_latest l ON b.listing_id = l.listing_id "
        "LEFT JOIN dim_users_latest u ON l.user_id = u.user_id"
    )
    [[want]] = _sql(root, f"SELECT count(*) {path} WHERE u.home_state_latest = 'CA'")
    assert int(total) == int(want) == 95
    rows = _rows(
        root, {"measures": ["bookings_of_listings_with_owner_state"], "dimensions": ["fct_bookings.is_instant"]}
    )
    want_rows = _sql(root, f"SELECT b.is_instant, count(*) {path} WHERE u.home_state_latest IS NOT NULL GROUP BY 1")
    assert sorted((bool(r[0]), int(r[1])) for r in rows) == sorted((bool(a), int(n)) for a, n in want_rows)
    assert sorted(int(n) for _, n in want_rows) == [68, 80]


def test_a_custom_granularity_of_the_spine_groups_as_metricflow_does(project: tuple[Path, dict[str, Any]]) -> None:
    """mf_time_spine's `alien_day` (a decade per "day"): bookings by metric_time__alien_day are MetricFlow 0.213's
    [2020-01-02: 31, 2020-01-03: 256] (equal through `--data`), each booking's day looked up in the spine."""
    root, _ = project
    grain = {"field": "fct_bookings.ds", "granularity": "alien_day"}
    rows = _rows(root, {"measures": ["bookings"], "dimensions": [grain]})
    want = _sql(
        root,
        "SELECT s.alien_day, count(*) FROM fct_bookings b LEFT JOIN mf_time_spine s ON s.ds = date_trunc('day', b.ds) "
        "GROUP BY 1 ORDER BY 1",
    )
    assert [(str(r[0])[:10], int(r[1])) for r in rows] == [(str(d)[:10], int(n)) for d, n in want]
    assert [int(n) for _, n in want] == [31, 256]


def test_an_offset_by_a_custom_granularity_is_metricflows(project: tuple[Path, dict[str, Any]]) -> None:
    """`offset_window: 1 alien_day`: by alien_day, each period reads the one before (MetricFlow 0.213: 2020-01-03:
    31, 2020-01-04: 256); by day, each day's bookings move to the day at the same position in the next alien day
    (120 days, equal through `--data`, as are 2 × that, the growth over it, and both by month and year)."""
    root, report = project
    assert not [u for u in report["unmapped"] if "alien_day" in u["metric"]]
    grain = {"field": "fct_bookings.ds", "granularity": "alien_day"}
    rows = _rows(root, {"measures": ["bookings_offset_one_alien_day"], "dimensions": [grain]})
    assert [(str(r[0])[:10], int(r[1])) for r in rows] == [("2020-01-03", 31), ("2020-01-04", 256)]
    day = {"field": "fct_bookings.ds", "granularity": "day"}
    by_day = _rows(root, {"measures": ["bookings_offset_one_alien_day"], "dimensions": [day]})
    want = _sql(
        root,
        "WITH d AS (SELECT ds, alien_day, row_number() OVER (PARTITION BY alien_day ORDER BY ds) AS rn "
        "FROM mf_time_spine), nxt AS (SELECT alien_day, lead(alien_day) OVER (ORDER BY alien_day) AS next_day "
        "FROM (SELECT DISTINCT alien_day FROM mf_time_spine)), "
        "moved AS (SELECT a.ds AS base, b.ds AS target FROM d a JOIN nxt ON nxt.alien_day = a.alien_day "
        "JOIN d b ON b.alien_day = nxt.next_day AND b.rn = a.rn) "
        "SELECT m.target, count(*) FROM fct_bookings f JOIN moved m ON m.base = date_trunc('day', f.ds) "
        "GROUP BY 1 ORDER BY 1",
    )
    assert len(by_day) == len(want) == 120
    assert [(str(r[0])[:10], int(r[1])) for r in by_day] == [(str(t)[:10], int(n)) for t, n in want]


def test_a_conversion_rate_over_filled_counts_is_zero_where_nothing_converted(
    project: tuple[Path, dict[str, Any]],
) -> None:
    """visit_buy_conversion_rate_7days_fill_nulls_with_0 fills both counts with 0: a state whose users visited and
    never bought has rate 0.0 (the unfilled rate says NULL); in total 0.5 — MetricFlow 0.213's answers (by state 7
    rows and the total equal through `--data`). Named, the visits' own time column cannot group the buys: refused
    (metric_time is the way, tested below)."""
    root, report = project
    assert "visit_buy_conversion_rate_7days_fill_nulls_with_0" not in json.dumps(report["unmapped"])
    name = "visit_buy_conversion_rate_7days_fill_nulls_with_0"
    [[total]] = _rows(root, {"measures": [name]})
    assert float(total) == 0.5
    state = {"dimensions": ["dim_users_latest.home_state_latest"], "include_empty": False}
    filled = dict((r[0], r[1]) for r in _rows(root, {"measures": [name], **state}))
    unfilled = dict((r[0], r[1]) for r in _rows(root, {"measures": ["visit_buy_conversion_rate_7days"], **state}))
    assert filled["MD"] == 0.0 and unfilled["MD"] is None
    assert {k: v for k, v in filled.items() if k != "MD"} == {k: v for k, v in unfilled.items() if k != "MD"}
    with Services(Project(root)) as services, pytest.raises(KtxError, match="cannot reach"):
        day = {"field": "fct_visits.ds", "granularity": "day"}
        run_query(services, "warehouse", {"measures": [name], "dimensions": [day]}, execute=False)


def test_metric_time_answers_a_ratio_across_models_by_month(project: tuple[Path, dict[str, Any]]) -> None:
    """bookings_per_view by metric_time__month: bookings by their ds, views by theirs, joined on the month —
    MetricFlow 0.213's 6 rows (equal through `--data`, as are by day, by week, with a country and 4 more). A
    named time column of one model cannot group the other's measure: refused."""
    root, _ = project
    month = {"field": "metric_time", "granularity": "month"}
    rows = _rows(root, {"measures": ["bookings_per_view"], "dimensions": [month]})
    want = _sql(
        root,
        "WITH b AS (SELECT date_trunc('month', ds) AS m, count(*) AS n FROM fct_bookings GROUP BY 1), "
        "v AS (SELECT date_trunc('month', ds) AS m, count(*) AS n FROM fct_views GROUP BY 1) "
        "SELECT coalesce(b.m, v.m), b.n / nullif(v.n, 0) FROM b FULL JOIN v ON b.m = v.m ORDER BY 1",
    )
    assert len(rows) == len(want) == 6
    got = [(str(r[0])[:10], None if r[1] is None else round(float(r[1]), 6)) for r in rows]
    assert got == [(str(m)[:10], None if x is None else round(float(x), 6)) for m, x in want]
    with Services(Project(root)) as services, pytest.raises(KtxError, match="cannot reach"):
        named = {"field": "fct_bookings.ds", "granularity": "month"}
        run_query(services, "warehouse", {"measures": ["bookings_per_view"], "dimensions": [named]}, execute=False)


def test_a_conversion_rate_by_metric_time_counts_at_the_base_events_day(project: tuple[Path, dict[str, Any]]) -> None:
    """visit_buy_conversion_rate_7days by metric_time__day: each buy counts on the day of the latest visit of the
    same user within the 7 days before it, over that day's visits — MetricFlow 0.213's 8 rows (equal through
    `--data`, as are the filled rate by day, 14,976 spine days, and by month)."""
    root, _ = project
    day = {"field": "metric_time", "granularity": "day"}
    rows = _rows(root, {"measures": ["visit_buy_conversion_rate_7days"], "dimensions": [day], "include_empty": False})
    want = _sql(
        root,
        "WITH c AS (SELECT (SELECT max(v.ds) FROM fct_visits v WHERE v.user_id = b.user_id AND v.ds <= b.ds "
        "AND v.ds >= b.ds - INTERVAL 7 DAY) AS seen FROM fct_buys b), "
        "n AS (SELECT date_trunc('day', seen) AS d, count(*) AS n FROM c WHERE seen IS NOT NULL GROUP BY 1), "
        "v AS (SELECT date_trunc('day', ds) AS d, count(*) AS n FROM fct_visits GROUP BY 1) "
        "SELECT v.d, n.n / v.n FROM v LEFT JOIN n ON n.d = v.d ORDER BY 1",
    )
    got = [(str(r[0])[:10], None if r[1] is None else round(float(r[1]), 6)) for r in rows]
    assert got == [(str(d)[:10], None if x is None else round(float(x), 6)) for d, x in want]
    assert got[:3] == [("2020-01-01", 0.5), ("2020-01-02", 0.5), ("2020-01-03", 0.666667)]
