"""A measure declared once that combines measures of other sources (`revenue - refunds.refunded_amount`) is
compiled with each input aggregated at its own grain: the numbers equal hand-written SQL, with and without
dimensions, and a chain through another cross-source measure works too."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ktx.project.project import Project, init_project
from ktx.semantic.service import run_query
from ktx.services import Services
from tests.fixtures.demo import DEMO, copy_demo_layer

EXTRA = """
  - {name: net_after_refunds, expr: revenue - refunds.refunded_amount, description: Paid revenue minus refunds.}
  - {name: refund_share, expr: refunds.refunded_amount / net_after_refunds}
"""


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    sys.path.insert(0, str(DEMO))
    import warehouse

    root = tmp_path / "proj"
    init_project(root)
    warehouse.build_duckdb(root / "shop.duckdb")
    layer = copy_demo_layer(root / "semantic-layer")
    overlay = layer / "orders.yaml"
    overlay.write_text(overlay.read_text().rstrip("\n") + EXTRA)
    Project(root).update_config(
        lambda d: d.__setitem__("connections", {"warehouse": {"driver": "duckdb", "path": "shop.duckdb"}}), "wh"
    )
    return root


def _query(root: Path, spec: dict) -> list[list]:
    with Services(Project(root)) as services:
        return run_query(services, "warehouse", spec, execute=True).to_json()["rows"]


def test_cross_source_measure_matches_hand_written_sql(shop: Path) -> None:
    with duckdb.connect(str(shop / "shop.duckdb"), read_only=True) as con:
        revenue = dict(
            con.execute(
                "SELECT c.segment, sum(o.amount - o.discount) FROM main.orders o LEFT JOIN main.customers c "
                "ON o.customer_id = c.id WHERE o.status = 'paid' GROUP BY 1"
            ).fetchall()
        )
        refunds = dict(
            con.execute(
                "SELECT c.segment, sum(r.amount) FROM main.refunds r LEFT JOIN main.orders o ON r.order_id = o.id "
                "LEFT JOIN main.customers c ON o.customer_id = c.id GROUP BY 1"
            ).fetchall()
        )
        total = con.execute(
            "SELECT (SELECT sum(amount - discount) FROM main.orders WHERE status = 'paid') - "
            "(SELECT sum(amount) FROM main.refunds)"
        ).fetchone()[0]
    expected = {s: (revenue.get(s) or Decimal(0)) - (refunds.get(s) or Decimal(0)) for s in set(revenue) | set(refunds)}
    rows = _query(shop, {"measures": ["orders.net_after_refunds"], "dimensions": ["customers.segment"]})
    got = {r[0]: Decimal(str(r[1])) for r in rows}
    assert got == {k: Decimal(str(v)) for k, v in expected.items()}
    [[overall]] = _query(shop, {"measures": ["orders.net_after_refunds"]})
    assert Decimal(str(overall)) == total
    [[share]] = _query(shop, {"measures": ["orders.refund_share"]})
    assert abs(float(share) - float(sum(refunds.values())) / float(total)) < 1e-9
