"""The few places where the embedded server (ArcadeDB) and Neo4j 5 differ, in one module.

graphrec writes Cypher for Neo4j 5. Where ArcadeDB needs another form, the .cypher file holds an ``@arcadedb`` variant
next to the Neo4j statement, and the differences that are not statements (how a vector index is created, the scale of
``vector.similarity.cosine``) are answered here. Measured facts behind each flag are in the README ("Dialects").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    name: str                    # "neo4j" or "arcadedb"
    agent: str                   # what the server says it is
    vector_index_ddl: bool       # CREATE VECTOR INDEX exists (Neo4j 5.11+); ArcadeDB builds it with SQL over HTTP
    cosine_rescaled: bool        # Neo4j returns (1 + cos) / 2 from vector.similarity.cosine; ArcadeDB returns cos

    @property
    def variant(self) -> str | None:
        """The tag of the statement variants this server needs (see graphrec.db.cypher), None for plain Neo4j 5."""
        return None if self.name == "neo4j" else self.name

    def raw_cosine(self, value: float) -> float:
        """``vector.similarity.cosine``'s result as a plain cosine in [-1, 1], whichever server computed it."""
        return 2.0 * value - 1.0 if self.cosine_rescaled else value


NEO4J = Dialect("neo4j", "Neo4j/5", vector_index_ddl=True, cosine_rescaled=True)


def detect(agent: str) -> Dialect:
    """The dialect of a server from its Bolt agent string (``Neo4j/5.26.0 compatible (ArcadeDB 26.10.2)`` ...)."""
    if "arcadedb" in agent.lower():
        return Dialect("arcadedb", agent, vector_index_ddl=False, cosine_rescaled=False)
    return Dialect("neo4j", agent, vector_index_ddl=True, cosine_rescaled=True)
