"""Which write path an ingest takes, without a server: bulk only where the embedded server's HTTP API is known."""

from types import SimpleNamespace

import pytest

from graphrec.db.dialect import NEO4J, AdminEndpoint, detect
from graphrec.errors import ConfigError
from graphrec.ingest import CYPHER_BATCH, _EdgeWriter

EMBEDDED = SimpleNamespace(admin=AdminEndpoint("http://127.0.0.1:1", ("root", "pw"), "neo4j"),
                           dialect=detect("Neo4j/5.26.0 compatible (ArcadeDB 26.10.2)"), uri="bolt://127.0.0.1:7687")
NEO4J_GRAPH = SimpleNamespace(admin=None, dialect=NEO4J, uri="neo4j://db.example:7687")


def test_auto_is_bulk_on_the_embedded_server_and_cypher_on_neo4j():
    assert _EdgeWriter(EMBEDDED, "auto", None).bulk
    writer = _EdgeWriter(NEO4J_GRAPH, "auto", None)
    assert not writer.bulk and writer.size == CYPHER_BATCH


def test_cypher_can_be_forced_on_the_embedded_server():
    writer = _EdgeWriter(EMBEDDED, "cypher", 500)
    assert not writer.bulk and writer.size == 500


def test_bulk_on_neo4j_is_a_clear_error():
    with pytest.raises(ConfigError, match="bulk write path needs the embedded server.*--write-path cypher"):
        _EdgeWriter(NEO4J_GRAPH, "bulk", None)


def test_an_unknown_write_path_is_refused():
    with pytest.raises(ConfigError, match="expected one of auto, cypher, bulk"):
        _EdgeWriter(EMBEDDED, "fast", None)
