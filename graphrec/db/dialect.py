"""What graphrec needs to know about the Neo4j server it talks to: its version, and the shape of its vector index.

Facts from the Neo4j 5 manual that the statements in ``cypher/`` rely on (each checked against the embedded 5.26):
``vector.similarity.cosine`` returns (1 + cos) / 2 in float32 and throws on a zero-norm or NaN vector; vector indexes
rank by cosine or euclidean only; ``vector.similarity.*`` needs 5.18 or later, which :func:`detect` demands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from graphrec.db.names import checked
from graphrec.errors import DatabaseError

MIN_VERSION = (5, 18)


@dataclass(frozen=True)
class VectorIndex:
    """One run's item vector index, as the serving queries use it.

    ``name`` is what ``db.index.vector.queryNodes`` takes; ``property`` the Item property it covers; a user embedding
    gets ``pad`` zeros appended to query it (1 for the MIPS-augmented cosine index, see graphrec.publish).
    """

    name: str
    property: str
    pad: int
    similarity: str = "cosine"


@dataclass(frozen=True)
class Dialect:
    agent: str                   # what the server says it is: "Neo4j/5.26.30"
    version: tuple[int, ...]

    def item_index(self, index_name: str, mips_property: str) -> VectorIndex:
        """The vector index that serves inner-product (MIPS) ranking over one run's item embeddings.

        Neo4j ranks only by cosine or euclidean, so it indexes the augmented items ``[x, sqrt(M² − |x|²)]`` with
        cosine and is queried with ``[q, 0]``; the serving queries re-rank the candidates by the exact inner product.
        """
        return VectorIndex(checked(index_name), checked(mips_property), 1, "cosine")


def parse_version(agent: str) -> tuple[int, ...] | None:
    match = re.match(r"\s*neo4j/(\d+)\.(\d+)(?:\.(\d+))?", agent, re.IGNORECASE)
    return tuple(int(g) for g in match.groups() if g is not None) if match else None


def detect(agent: str, uri: str = "the server") -> Dialect:
    """The dialect of a server from its Bolt agent string (``Neo4j/5.26.30``); a Neo4j older than 5.18, or a server
    that is not Neo4j, is refused with the reason."""
    version = parse_version(agent)
    if version is None:
        raise DatabaseError(f"{uri} says it is {agent!r}, not Neo4j; graphrec needs Neo4j {MIN_VERSION[0]}."
                            f"{MIN_VERSION[1]} or later")
    if version[:2] < MIN_VERSION:
        raise DatabaseError(f"{uri} runs Neo4j {'.'.join(map(str, version))}; graphrec needs {MIN_VERSION[0]}."
                            f"{MIN_VERSION[1]} or later (vector.similarity.* functions); upgrade the server, or unset "
                            "NEO4J_URI to use the embedded Neo4j")
    return Dialect(agent, version)
