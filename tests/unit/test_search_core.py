"""Search core: query normalisation, candidate pools, RRF arithmetic, ordering, lane failures."""

from __future__ import annotations

import pytest

from ktx.search.core import Candidate, Lane, candidate_pool, fuse, normalize_query, run_lanes


def test_normalisation_keeps_duplicates_and_drops_punctuation():
    q = normalize_query("Revenue, REVENUE by-region_x!")
    assert q.terms == ("revenue", "revenue", "by", "region_x")
    assert q.unique_terms == ("revenue", "by", "region_x") and q.normalized == "revenue revenue by region_x"


@pytest.mark.parametrize(("limit", "pool"), [(1, 25), (8, 25), (9, 27), (10, 30), (0, 25)])
def test_candidate_pool(limit, pool):
    assert candidate_pool(limit) == pool


def test_rrf_scores_are_weight_over_k_plus_rank():
    lanes = [
        Lane("lexical", candidates=[Candidate("a", 1), Candidate("b", 2)]),
        Lane("token", candidates=[Candidate("b", 1)]),
    ]
    results, reports = fuse(lanes, 10)
    scores = {r.id: r.score for r in results}
    assert scores["a"] == pytest.approx(1.5 / 61)
    assert scores["b"] == pytest.approx(1.5 / 62 + 0.75 / 61)
    assert [r.id for r in results] == ["b", "a"]
    assert results[0].match_reasons == ["lexical", "token"] and results[0].ranks == {"lexical": 2, "token": 1}
    assert [(r.lane, r.weight, r.returned) for r in reports] == [("lexical", 1.5, 2), ("token", 0.75, 1)]


def test_ties_break_by_number_of_lanes_then_id():
    lanes = [
        Lane("x", weight=1.0, candidates=[Candidate("z", 1), Candidate("m", 2)]),
        Lane("y", weight=1.0, candidates=[Candidate("m", 1), Candidate("z", 2)]),
        Lane("w", weight=0.0, candidates=[Candidate("m", 1)]),
    ]
    results, _ = fuse(lanes, 10)
    assert [r.id for r in results] == ["m", "z"]  # equal scores; m matched more lanes
    equal, _ = fuse(
        [Lane("x", weight=1.0, candidates=[Candidate("b", 1)]), Lane("y", weight=1.0, candidates=[Candidate("a", 1)])],
        10,
    )
    assert [r.id for r in equal] == ["a", "b"]


def test_bad_ranks_become_positions_and_duplicates_keep_the_best():
    lane = Lane("lexical", candidates=[Candidate("a", 0), Candidate("b", -3), Candidate("a", 7)])
    results, _ = fuse([lane], 10)
    assert {r.id: r.ranks["lexical"] for r in results} == {"a": 1, "b": 2}


def test_configured_and_lane_weights():
    lane = Lane("lexical", candidates=[Candidate("a", 1)])
    results, _ = fuse([lane], 10, {"lexical": 6.0})
    assert results[0].score == pytest.approx(6.0 / 61)
    own, _ = fuse([Lane("lexical", weight=2.0, candidates=[Candidate("a", 1)])], 10, {"lexical": 6.0})
    assert own[0].score == pytest.approx(2.0 / 61)


def test_failed_and_skipped_lanes_do_not_break_fusion():
    def broken(q, n):
        raise RuntimeError("index corrupt")

    lanes = run_lanes(
        {
            "lexical": lambda q, n: Lane("lexical", candidates=[Candidate("a", 1)]),
            "semantic": broken,
            "dictionary": lambda q, n: Lane("dictionary", "skipped", [Candidate("zzz", 1)], "no_profile_artifact"),
        },
        normalize_query("x"),
        25,
    )
    results, reports = fuse(lanes, 5)
    assert [r.id for r in results] == ["a"]
    status = {r.lane: (r.status, r.reason) for r in reports}
    assert status["semantic"] == ("failed", "index corrupt")
    assert status["dictionary"] == ("skipped", "no_profile_artifact")


def test_limit_slices():
    lane = Lane("lexical", candidates=[Candidate(str(i), i) for i in range(1, 40)])
    assert len(fuse([lane], 3)[0]) == 3 and len(fuse([lane], 0)[0]) == 1


def test_quick_lanes_run_in_the_calling_thread_and_slow_ones_still_overlap():
    import threading

    caller = threading.get_ident()
    ran_in: dict[str, int] = {}
    both_slow_lanes = threading.Barrier(2, timeout=10)  # passed only if the two slow lanes run at the same time

    def lane(name: str, slow: bool = False, fail: bool = False):
        def generate(q, n):
            ran_in[name] = threading.get_ident()
            if slow:
                both_slow_lanes.wait()
            if fail:
                raise RuntimeError(f"{name} broke")
            return Lane(name, candidates=[Candidate(name, 1)])

        return generate

    generators = {
        "token": lane("token"),
        "semantic": lane("semantic", slow=True),
        "lexical": lane("lexical", fail=True),
        "dictionary": lane("dictionary", slow=True),
    }
    lanes = run_lanes(generators, normalize_query("x"), 25, inline={"token", "lexical"})
    assert [lane.name for lane in lanes] == ["token", "semantic", "lexical", "dictionary"]
    assert [lane.status for lane in lanes] == ["available", "available", "failed", "available"]
    assert lanes[2].reason == "lexical broke"
    assert ran_in["token"] == ran_in["lexical"] == caller
    assert ran_in["semantic"] != caller and ran_in["dictionary"] != caller
