"""Wiki page parsing and writing: round trips keep unknown frontmatter; keys; links."""

from __future__ import annotations

import pytest

from ktx.wiki.page import WikiError, WikiPage, parse_page_text, render_page, suggest_key, validate_key, validate_user_id

PAGE = """---
summary: Revenue definition
tags: [finance, metric]
refs:
  - refunds
owner_team: analytics   # a key ktx does not know
usage:
  executions: 12
---

Revenue is [[gross-sales|gross]] minus [[refunds]].
"""


def test_round_trip_keeps_unknown_keys_comments_and_order():
    fm, body = parse_page_text(PAGE)
    assert fm["summary"] == "Revenue definition" and fm["owner_team"] == "analytics"
    assert body == "Revenue is [[gross-sales|gross]] minus [[refunds]]."
    text = render_page(fm, body)
    assert text.startswith("---\nsummary: Revenue definition\ntags: [finance, metric]\n")
    assert "owner_team: analytics   # a key ktx does not know" in text
    assert text.endswith("---\n\nRevenue is [[gross-sales|gross]] minus [[refunds]].\n")
    assert parse_page_text(text) == (fm, body)


def test_page_without_frontmatter_and_bad_frontmatter():
    assert parse_page_text("# Just text\n") == ({}, "# Just text")
    with pytest.raises(WikiError, match="Invalid frontmatter"):
        parse_page_text("---\n- a list\n---\nbody")


def test_links_and_search_text():
    fm, body = parse_page_text(PAGE)
    page = WikiPage("revenue", "global", "wiki/global/revenue.md", fm, body)
    assert page.links() == ["refunds", "gross-sales"]
    assert page.search_text() == "revenue\nRevenue definition\n" + body + "\nfinance metric"


@pytest.mark.parametrize(
    ("bad", "suggestion"),
    [
        ("orbit/company-overview", "orbit-company-overview"),
        ("../secret", "secret"),
        ("a  b", "a-b"),
        ("///", "page-key"),
    ],
)
def test_key_suggestions(bad, suggestion):
    assert suggest_key(bad) == suggestion
    with pytest.raises(WikiError) as exc:
        validate_key(bad)
    assert suggestion in exc.value.hint


def test_user_ids():
    assert validate_user_id("alice") == "alice"
    for bad in ("", "../x", "a\\b", "/abs", ".hidden", "a//b", "a/b"):
        with pytest.raises(WikiError):
            validate_user_id(bad)
