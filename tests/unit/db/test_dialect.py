import json

import pytest

from graphrec.db import dialect
from graphrec.db.dialect import AdminEndpoint, detect, edge_line, edge_properties


def test_detects_arcadedb_from_its_agent():
    d = detect("Neo4j/5.26.0 compatible (ArcadeDB 26.10.2)")
    assert d.name == "arcadedb" and d.variant == "arcadedb" and not d.vector_index_ddl
    assert d.raw_cosine(0.25) == 0.25


def test_detects_neo4j():
    d = detect("Neo4j/5.26.0")
    assert d.name == "neo4j" and d.variant is None and d.vector_index_ddl
    assert d.raw_cosine(1.0) == 1.0 and d.raw_cosine(0.5) == 0.0 and d.raw_cosine(0.0) == -1.0


# ---- the bulk edge path ------------------------------------------------------------------------------------------
def test_an_edge_line_is_one_json_object_with_hostile_values_kept_as_values():
    hostile = '"}\n{"@type":"vertex","@class":"User"} \\ \u00e9'
    line = edge_line("HAS_TAG", "#3:7", "#9:0", edge_properties({"relation": hostile, "weight": 2.5, "ts": None}))
    assert "\n" not in line
    assert json.loads(line) == {"@type": "edge", "@class": "HAS_TAG", "@from": "#3:7", "@to": "#9:0",
                                "relation": hostile, "weight": 2.5}  # ts is None: not written, as on the Cypher path


def test_non_finite_weights_are_refused_not_written():
    with pytest.raises(ValueError):
        edge_properties({"weight": float("nan")})


def test_bulk_edges_sends_chunks_and_reports_each(monkeypatch):
    sent, commands, seen = [], [], []
    monkeypatch.setattr(dialect, "admin_command", lambda endpoint, command: commands.append(command) or [])
    monkeypatch.setattr(dialect, "post_batch", lambda endpoint, rel_type, lines: sent.append(list(lines)) or len(lines))
    endpoint = AdminEndpoint("http://127.0.0.1:1", ("root", "pw"), "neo4j")
    lines = [edge_line("FOLLOWS", f"#1:{k}", "#1:0") for k in range(7)]
    assert dialect.bulk_edges(endpoint, "FOLLOWS", iter(lines), chunk=3, on_chunk=seen.append) == 7
    assert [len(c) for c in sent] == [3, 3, 1] and sum(sent, []) == lines and seen == [3, 3, 1]
    assert commands == ["CREATE EDGE TYPE `FOLLOWS` IF NOT EXISTS"]


def test_bulk_edges_refuses_an_unchecked_type():
    from graphrec.errors import ConfigError

    with pytest.raises(ConfigError, match="not a safe"):
        dialect.bulk_edges(AdminEndpoint("http://127.0.0.1:1", ("root", "pw"), "neo4j"), "X` DROP", [])
