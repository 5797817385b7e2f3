import pytest

from graphrec.db.dialect import detect, parse_version
from graphrec.errors import ConfigError, DatabaseError


def test_detects_neo4j_and_its_version():
    d = detect("Neo4j/5.26.30")
    assert d.version == (5, 26, 30) and d.agent == "Neo4j/5.26.30"
    assert detect("Neo4j/2025.10.1").version == (2025, 10, 1)
    assert parse_version("Neo4j/5.18") == (5, 18)


def test_a_neo4j_older_than_5_18_is_refused_with_the_reason():
    with pytest.raises(DatabaseError, match=r"runs Neo4j 5\.17\.0; graphrec needs 5\.18 or later"):
        detect("Neo4j/5.17.0", "bolt://db:7687")
    with pytest.raises(DatabaseError, match="4.4.12"):
        detect("Neo4j/4.4.12")


def test_a_server_that_is_not_neo4j_is_refused():
    with pytest.raises(DatabaseError, match="not Neo4j"):
        detect("Memgraph/2.10")


def test_the_item_index_is_the_augmented_cosine_index():
    idx = detect("Neo4j/5.26.30").item_index("graphrec_mips_r", "mips_r")
    assert (idx.name, idx.property, idx.pad, idx.similarity) == ("graphrec_mips_r", "mips_r", 1, "cosine")
    with pytest.raises(ConfigError):
        detect("Neo4j/5.26.30").item_index("x`) DROP", "mips_r")
