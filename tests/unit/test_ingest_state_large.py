"""A large stage output (a 100,000-table profile is hundreds of MB of JSON) is saved whole while never being one
string: its pieces are streamed into the row's blob (`save_stage_stream`) and read back as the same value."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ktx.ingest.state import IngestState, json_pieces
from ktx.project.state import migrate, open_state


def test_a_streamed_output_is_kept_whole_and_read_back(tmp_path: Path) -> None:
    conn = open_state(tmp_path / "db.sqlite")
    migrate(conn)
    state = IngestState(conn)
    state.start_run("r1", "wh", "database-ingest")
    tables = {f"t{i:06d}": {"rowCount": i, "columns": {"id": {"top_values": [str(i)] * 8}}} for i in range(20_000)}
    pieces = list(json_pieces(tables))
    assert len(pieces) > 20_000 and max(map(len, pieces)) < 200  # never the whole as one string
    digest = state.save_stage_stream("r1", "profile", "hash-1", iter(pieces))
    assert digest == hashlib.sha256(json.dumps(tables).encode()).hexdigest()
    assert {p.name for p in tmp_path.iterdir()} <= {"db.sqlite", "db.sqlite-wal", "db.sqlite-shm"}  # no spool left
    assert state.stage(["r0", "r1"], "profile", "hash-1") == tables
    assert state.stage_output("r1", "profile") == tables
    assert not conn.in_transaction
    # a row is replaced by either kind of save
    state.save_stage("r1", "profile", "hash-3", "completed", output={"t": 1})
    assert state.stage_output("r1", "profile") == {"t": 1}
    state.save_stage_stream("r1", "profile", "hash-3", ['{"t":', " 2}"])
    assert state.stage_output("r1", "profile") == {"t": 2}
    state.save_stage_stream("r1", "empty", "hash-4", json_pieces([]))
    assert state.stage_output("r1", "empty") == []
    rows = conn.execute("SELECT stage, input_hash FROM local_scan_enrichment_stages ORDER BY stage").fetchall()
    assert [tuple(r) for r in rows] == [("empty", "hash-4"), ("profile", "hash-1"), ("profile", "hash-3")]


def test_the_pieces_make_the_same_text_as_json_dumps() -> None:
    values = [
        {"accepted": [{"id": "a", "from": {"table": "t", "columns": ["x"]}}], "review": [], "n": 1, "s": "é"},
        [],
        {},
        [[1, 2], {"k": None}],
        {"k": {1: 2}},
        "text",
        None,
        {1: "a"},
    ]
    for value in values:
        assert "".join(json_pieces(value)) == json.dumps(value)
