"""A large stage output (a 100,000-table profile is hundreds of MB of JSON) is saved whole, and releasing SQLite's
copy of it afterwards (the statement is run once more with a small value, rolled back) changes nothing stored."""

from __future__ import annotations

import json
from pathlib import Path

from ktx.ingest.state import LARGE_OUTPUT, IngestState
from ktx.project.state import migrate, open_state


def test_a_large_output_is_kept_whole_and_the_small_rebinding_leaves_no_trace(tmp_path: Path) -> None:
    conn = open_state(tmp_path / "db.sqlite")
    migrate(conn)
    state = IngestState(conn)
    state.start_run("r1", "wh", "database-ingest")
    tables = {f"t{i:06d}": {"rowCount": i, "columns": {"id": {"top_values": [str(i)] * 8}}} for i in range(20_000)}
    text = json.dumps(tables)
    assert len(text) >= LARGE_OUTPUT
    state.save_stage("r1", "profile", "hash-1", "completed", text=text)
    state.save_stage("r1", "descriptions", "hash-2", "completed", output={"large": "x" * LARGE_OUTPUT})
    assert state.stage_output("r1", "profile") == tables
    assert state.stage_output("r1", "descriptions") == {"large": "x" * LARGE_OUTPUT}
    rows = [
        tuple(r)
        for r in conn.execute(
            "SELECT stage, input_hash, status, updated_at > 0 FROM local_scan_enrichment_stages ORDER BY stage"
        ).fetchall()
    ]
    assert rows == [("descriptions", "hash-2", "completed", 1), ("profile", "hash-1", "completed", 1)]
    assert not conn.in_transaction
    # the state is still writable in the usual way
    state.save_stage("r1", "profile", "hash-3", "completed", output={"t": 1})
    assert state.stage_output("r1", "profile") == {"t": 1}
