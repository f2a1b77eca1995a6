"""A byte bound on results, enforced while fetching: wide rows stop at `max_result_bytes`, huge cells are cut with a
marker, and memory stays bounded where a row cap alone let one query take gigabytes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ktx.warehouse.fetch import cell_limit
from tests.integration.conftest import make_connector

WIDE = {
    "duckdb": "SELECT repeat('x', 100000) AS wide FROM range(50)",
    "postgres": "SELECT repeat('x', 100000) AS wide FROM generate_series(1, 50)",
    "mysql": "SELECT repeat('x', 100000) AS wide FROM (SELECT 1 FROM information_schema.columns LIMIT 50) AS t",
}


def test_wide_rows_stop_at_the_byte_budget_and_say_so(warehouse):
    if warehouse.engine not in WIDE:
        pytest.skip("no repeat() in this engine's allow-list")
    connector = make_connector(warehouse, max_result_bytes=2 << 20)  # 2 MB: about twenty 100 KB rows
    try:
        result = connector.query(WIDE[warehouse.engine], max_rows=1000)
    finally:
        connector.close()
    assert result.truncated and result.truncated_reason == "bytes"
    assert 15 <= result.row_count <= 25
    assert result.cells_cut == 0 and len(result.rows[0][0]) == 100000


def test_a_cell_over_the_per_cell_limit_is_cut_with_a_marker(warehouse):
    if warehouse.engine not in WIDE:
        pytest.skip("no repeat() in this engine's allow-list")
    connector = make_connector(warehouse, max_result_bytes=1 << 20)
    limit = cell_limit(1 << 20)
    try:
        sql = WIDE[warehouse.engine].replace("100000", str(limit * 2)).replace("50", "2")
        result = connector.query(sql, max_rows=1000)
    finally:
        connector.close()
    cell = result.rows[0][0]
    assert result.cells_cut == 2 and cell.startswith("x" * limit)
    assert cell.endswith(f"…[truncated by ktx: {limit} more bytes]")


MEASURE = """
import json, resource, sys
from pathlib import Path
from ktx.project.config import KtxConfig
from ktx.warehouse.connector import connector_class
config = KtxConfig.model_validate({"connections": {"pg": {"driver": "postgres", "url": sys.argv[1]}}})
connector = connector_class("postgres")("pg", config.connections["pg"], Path("."))
result = connector.query("SELECT repeat('x', 20000000) AS big FROM generate_series(1, 20)", max_rows=1000)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(json.dumps({"rows": result.row_count, "reason": result.truncated_reason, "peakMb": peak}))
"""


def test_four_hundred_megabytes_of_result_stay_within_the_budget_on_postgresql(warehouse):
    """20 rows of 20 MB each took an MCP daemon from 200 MB to a 5.4 GB peak."""
    if warehouse.engine != "postgres":
        pytest.skip("PostgreSQL streams through a server-side cursor")
    url = warehouse.config["url"]
    done = subprocess.run([sys.executable, "-c", MEASURE, url], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    assert measured["reason"] == "bytes" and measured["rows"] < 20
    assert measured["peakMb"] < 1024, measured  # was 5.4 GB
