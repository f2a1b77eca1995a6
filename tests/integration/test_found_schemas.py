"""Relationship discovery on stripped schemas no one here wrote, through the same introspect → profile → discover
path ingest runs, no LLM: links that only the values reveal, keys decided before links, polymorphic columns
reported rather than guessed, empty tables kept for review.

Data: ../shared/data/spider (Spider databases, every constraint removed, with the keys the originals declare) and
../shared/data/relfx (fixtures from the reference implementation's benchmark). Skips where absent. The pooled
scores over every database are `python benchmarks/found_schemas.py`.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import pytest

from ktx.scan.relationships.model import DiscoveryResult
from tests.fixtures.relationships.evaluate import discover_fixture

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def _spider(name: str, tmp_path: Path) -> tuple[DiscoveryResult, dict]:
    source = DATA / "spider" / f"{name}.sqlite.gz"
    if not source.is_file():
        pytest.skip(f"no Spider database at {source}")
    path = tmp_path / f"{name}.sqlite"
    path.write_bytes(gzip.decompress(source.read_bytes()))
    truth = json.loads((DATA / "spider" / "gt" / f"{name}.json").read_text())
    return discover_fixture(path, "sqlite"), truth


def _links(result: DiscoveryResult) -> set[tuple[str, str, str, str]]:
    return {
        (e.from_table.lower(), ",".join(e.from_columns).lower(), e.to_table.lower(), ",".join(e.to_columns).lower())
        for e in result.accepted
    }


def _declared(truth: dict) -> set[tuple[str, str, str, str]]:
    return {
        (fk["child"].lower(), ",".join(fk["cols"]).lower(), fk["parent"].lower(), ",".join(fk["pcols"]).lower())
        for fk in truth["fks"]
    }


@pytest.mark.parametrize(
    ("database", "expected"),
    [
        # Role names with no hint of the table: only the values say where they point.
        ("debate", {("debate_people", "affirmative", "people", "people_id")}),
        ("wedding", {("wedding", "male_id", "people", "people_id"), ("wedding", "female_id", "people", "people_id")}),
        ("twitter_1", {("follows", "f1", "user_profiles", "uid"), ("follows", "f2", "user_profiles", "uid")}),
        # Text keys named after their table (`g_name` in genre) and the same name elsewhere.
        ("music_1", {("song", "genre_is", "genre", "g_name"), ("files", "artist_name", "artist", "artist_name")}),
        # A calendar table keyed by its date, referenced by other tables' dates.
        ("cre_Doc_Tracking_DB", {("all_documents", "date_stored", "ref_calendar", "calendar_date")}),
        # A column named as the table it references (`Scientist` → Scientists.SSN), initials (`aid` → aircraft).
        ("scientist_1", {("assignedto", "scientist", "scientists", "ssn")}),
        ("flight_1", {("certificate", "aid", "aircraft", "aid"), ("certificate", "eid", "employee", "eid")}),
    ],
)
def test_links_names_alone_miss(database: str, expected: set, tmp_path: Path) -> None:
    result, truth = _spider(database, tmp_path)
    found = _links(result)
    assert expected <= found, expected - found
    assert expected <= _declared(truth)  # the test's expectations are the database's own declared keys
    wrong = found - _declared(truth)
    assert not wrong, f"links the database does not declare: {wrong}"


def test_link_tables_are_keyed_by_their_references(tmp_path: Path) -> None:
    result, truth = _spider("network_1", tmp_path)
    # Likes(student_id, liked_id): student_id happens to be unique on these rows, but each is a reference.
    assert result.primary_keys["Likes"].columns == tuple(truth["pks"]["Likes"])
    assert {("likes", "liked_id", "highschooler", "id"), ("friend", "friend_id", "highschooler", "id")} <= _links(
        result
    )


def test_values_alone_never_outvote_a_name(tmp_path: Path) -> None:
    """`tracks.album_id`'s values fit invoices.id too; the name says albums, and a table's own identifier
    (`media_types.id`) does not become a reference because its 1..5 fall inside employees' ids."""
    result, truth = _spider("store_1", tmp_path)
    assert _links(result) == _declared(truth)


def test_relfx_polymorphic_column_is_reported_not_joined() -> None:
    path = DATA / "relfx" / "polymorphic_partial_overlap_no_declared_constraints" / "data.sqlite"
    if not path.is_file():
        pytest.skip(f"no relfx fixture at {path}")
    result = discover_fixture(path.resolve(), "sqlite")
    assert not [e for e in result.accepted if e.from_columns == ("entity_id",)]
    review = {e.to_table: e for e in result.review if e.from_columns == ("entity_id",)}
    assert set(review) == {"users", "organizations"}
    assert all(e.match == "polymorphic_partial" and "covers 50% of the values" in e.reasons for e in review.values())
    [warning] = [w for w in result.warnings if w.startswith("polymorphic_link:")]
    assert "activity_events.entity_id" in warning and "users.user_id 50%" in warning


def test_empty_tables_get_name_keys_and_links_for_review(tmp_path: Path) -> None:
    """Northwind's customer_customer_demo and customer_demographics ship empty: nothing to profile or validate,
    so names propose keys and links, and the links wait for a person instead of vanishing."""
    path = tmp_path / "shop.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("create table customers (customer_id integer, name text)")
        db.executemany("insert into customers values (?, ?)", [(i, f"c{i}") for i in range(1, 30)])
        db.execute("create table customer_demographics (customer_type_id text, customer_desc text)")
        db.execute("create table customer_customer_demo (customer_id integer, customer_type_id text)")
    result = discover_fixture(path, "sqlite")
    assert result.primary_keys["customer_demographics"].columns == ("customer_type_id",)
    assert result.primary_keys["customer_customer_demo"].columns == ("customer_id", "customer_type_id")
    assert result.primary_keys["customer_customer_demo"].source == "name"
    review = {(e.from_table, e.from_columns[0], e.to_table) for e in result.review if "empty_table" in e.reasons}
    assert review == {
        ("customer_customer_demo", "customer_id", "customers"),
        ("customer_customer_demo", "customer_type_id", "customer_demographics"),
    }
    assert not result.accepted


def test_a_view_is_a_target_only_when_no_table_qualifies(tmp_path: Path) -> None:
    path = tmp_path / "shop.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("create table customers (customer_id integer, name text)")
        db.executemany("insert into customers values (?, ?)", [(i, f"c{i}") for i in range(1, 40)])
        db.execute("create table orders (order_id integer, customer_id integer, total real)")
        db.executemany("insert into orders values (?, ?, ?)", [(i, 1 + i % 39, i * 1.5) for i in range(1, 200)])
        db.execute("create view customer as select customer_id, name from customers")  # same name, singular
    result = discover_fixture(path, "sqlite")
    targets = {e.to_table for e in result.accepted + result.review if e.from_table == "orders"}
    assert targets == {"customers"}
    # A table's own identifier never points at a view over the table (Sakila: actor → actor_info).
    assert not [e for e in result.accepted + result.review if e.from_table == "customers"]


def test_composite_keys_follow_what_child_tables_carry(tmp_path: Path) -> None:
    """college_2: (course_id, sec_id) happens to be unique in section, but takes and teaches carry semester and year
    with it, so the key is all four; teaches, keyed alike, extends section (named by `sec_id`) rather than being
    another parent for takes; classroom is keyed by the pair section joins on; the shortcut takes.course_id →
    course, implied through section, waits for review."""
    result, truth = _spider("college_2", tmp_path)
    assert set(result.primary_keys["section"].columns) == set(truth["pks"]["section"])
    assert set(result.primary_keys["classroom"].columns) == set(truth["pks"]["classroom"])
    found = {(e.from_table, frozenset(e.from_columns), e.to_table) for e in result.accepted}
    four = frozenset({"course_id", "sec_id", "semester", "year"})
    assert {("takes", four, "section"), ("teaches", four, "section")} <= found
    assert ("takes", four, "teaches") not in found
    assert ("section", frozenset({"building", "room_number"}), "classroom") in found
    [shortcut] = [e for e in result.review if e.from_table == "takes" and e.from_columns == ("course_id",)]
    assert "implied_by_composite:section" in shortcut.reasons
