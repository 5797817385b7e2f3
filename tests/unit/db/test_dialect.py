from graphrec.db.dialect import detect


def test_detects_arcadedb_from_its_agent():
    d = detect("Neo4j/5.26.0 compatible (ArcadeDB 26.10.2)")
    assert d.name == "arcadedb" and d.variant == "arcadedb" and not d.vector_index_ddl
    assert d.raw_cosine(0.25) == 0.25


def test_detects_neo4j():
    d = detect("Neo4j/5.26.0")
    assert d.name == "neo4j" and d.variant is None and d.vector_index_ddl
    assert d.raw_cosine(1.0) == 1.0 and d.raw_cosine(0.5) == 0.0 and d.raw_cosine(0.0) == -1.0
