"""The few places where the embedded server (ArcadeDB) and Neo4j 5 differ, in one module.

graphrec writes Cypher for Neo4j 5. Where ArcadeDB needs another form, the .cypher file holds an ``@arcadedb`` variant
next to the Neo4j statement, and the differences that are not statements (how a vector index is created, the scale of
``vector.similarity.cosine``) are answered here. Measured facts behind each flag are in the README ("Dialects").
"""

from __future__ import annotations

import base64
import itertools
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from graphrec.db.names import checked
from graphrec.errors import DatabaseError


@dataclass(frozen=True)
class AdminEndpoint:
    """The embedded server's HTTP API (``/api/v1/command/<database>``, ``/api/v1/batch/<database>``), for what its
    Cypher cannot do (vector indexes) or does too slowly (bulk edge writes)."""

    url: str
    auth: tuple[str, str]
    database: str

    def __repr__(self) -> str:  # never show the password
        return f"AdminEndpoint({self.url!r}, user={self.auth[0]!r}, database={self.database!r})"


@dataclass(frozen=True)
class VectorIndex:
    """One run's item vector index, as the serving queries use it.

    ``name`` is what ``db.index.vector.queryNodes`` takes; ``property`` the Item property it covers; a user embedding
    gets ``pad`` zeros appended to query it (1 for the MIPS-augmented cosine index, see graphrec.publish).
    """

    name: str
    property: str
    pad: int
    similarity: str


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

    def item_index(self, embedding_property: str, mips_property: str) -> VectorIndex:
        """The vector index that serves inner-product (MIPS) ranking over one run's item embeddings.

        Neo4j 5 ranks only by cosine or euclidean, so it indexes the augmented items ``[x, sqrt(M² − |x|²)]`` with
        cosine and is queried with ``[q, 0]``. ArcadeDB's LSM_VECTOR index ranks by DOT_PRODUCT itself; measured on
        40,981 random 64-d items, its cosine index over the augmented vectors found only 50–67% of the top-20 even
        fetching 1,000 candidates, while the dot-product index over the raw vectors found 99.5% fetching 200.
        Either way the serving queries re-rank the candidates by the exact inner product.
        """
        if self.vector_index_ddl:
            return VectorIndex(checked(f"graphrec_{mips_property}"), checked(mips_property), 1, "cosine")
        return VectorIndex(f"Item[{checked(embedding_property)}]", checked(embedding_property), 0, "DOT_PRODUCT")

    def vector_index_sql(self, index: VectorIndex, dimensions: int) -> list[str]:
        """ArcadeDB SQL that creates ``index`` (run over its HTTP API; the property must be declared first)."""
        prop = checked(index.property)
        meta = json.dumps({"dimensions": int(dimensions), "similarity": index.similarity})
        return [f"CREATE PROPERTY Item.{prop} IF NOT EXISTS ARRAY_OF_FLOATS",
                f"CREATE INDEX IF NOT EXISTS ON Item ({prop}) LSM_VECTOR METADATA {meta}"]

    def drop_vector_index_sql(self, index: VectorIndex) -> list[str]:
        return [f"DROP INDEX `Item[{checked(index.property)}]` IF EXISTS"]


def admin_command(endpoint: AdminEndpoint | None, command: str, timeout: float = 600.0) -> list[dict]:
    """Run one ArcadeDB SQL command over the embedded server's HTTP API; rows come back as dicts."""
    if endpoint is None:
        raise DatabaseError("this server needs its HTTP API for vector indexes, and graphrec only knows it for the "
                            "embedded server; create the index by hand (see README, Serving)")
    body = json.dumps({"language": "sql", "command": command}).encode()
    request = urllib.request.Request(f"{endpoint.url}/api/v1/command/{endpoint.database}", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": _basic_auth(endpoint)})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read()).get("result", [])
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode(errors="replace")
        raise DatabaseError(f"{command.split(' (')[0]} failed on {endpoint.url}: HTTP {exc.code}: {detail}") from exc
    except OSError as exc:
        raise DatabaseError(f"cannot reach the server's HTTP API at {endpoint.url}: {exc}") from exc


def _basic_auth(endpoint: AdminEndpoint) -> str:
    return "Basic " + base64.b64encode(f"{endpoint.auth[0]}:{endpoint.auth[1]}".encode()).decode()


# ---- bulk edges: the embedded server's fast write path -----------------------------------------------------------
# ArcadeDB's Cypher creates ~65,000 edges/s on the 2-core machine however the statement is shaped (BENCHMARKS.md,
# "Ingest speed"); its HTTP batch endpoint (`POST /api/v1/batch/<db>`, ArcadeDB's GraphBatch) takes edges between
# existing vertices, named by RID, as JSON lines and creates them several times faster. graphrec uses it for the edges
# of an ingest on the embedded server only; Neo4j gets the Cypher `UNWIND $rows` statements of cypher/ingest.cypher.
# Values travel as JSON (json.dumps), never as query text; the edge type is a checked identifier.

BULK_CHUNK = 250_000  # edges per request: fewer, larger requests measured faster (50,000: 141k/s; 200,000: 179k/s)


def edge_properties(props: dict) -> str:
    """The JSON members (``,"k":v``...) of an edge's non-null properties, for :func:`edge_line`."""
    return "".join(f",{json.dumps(k)}:{json.dumps(v, allow_nan=False)}" for k, v in props.items() if v is not None)


def edge_line(rel_type: str, src_rid: str, dst_rid: str, properties: str = "") -> str:
    """One JSON line of the batch endpoint: an edge of ``rel_type`` from RID ``src_rid`` to ``dst_rid``.

    RIDs come from the server (``elementId(n)``, ``#bucket:position``); ``properties`` from :func:`edge_properties`.
    """
    return f'{{"@type":"edge","@class":"{rel_type}","@from":"{src_rid}","@to":"{dst_rid}"{properties}}}'


def bulk_edges(endpoint: AdminEndpoint, rel_type: str, lines: Iterable[str], *, chunk: int = BULK_CHUNK,
               on_chunk: Callable[[int], None] | None = None) -> int:
    """Create edges of ``rel_type`` from ``lines`` (:func:`edge_line`), ``chunk`` per request; returns the count.

    Each request commits as it goes, with the write-ahead log on: a failure or a kill leaves whole committed batches,
    never half an edge, and graphrec's ingest (which reads what exists first) finishes the job when run again.
    """
    rel_type = checked(rel_type)
    admin_command(endpoint, f"CREATE EDGE TYPE `{rel_type}` IF NOT EXISTS")
    created, lines = 0, iter(lines)
    while batch := list(itertools.islice(lines, chunk)):
        created += post_batch(endpoint, rel_type, batch)
        if on_chunk:
            on_chunk(len(batch))
    return created


def post_batch(endpoint: AdminEndpoint, rel_type: str, lines: Sequence[str], timeout: float = 3600.0) -> int:
    """One request to the batch endpoint; raises DatabaseError (saying what was committed) unless every edge was."""
    body = ("\n".join(lines) + "\n").encode()
    request = urllib.request.Request(f"{endpoint.url}/api/v1/batch/{endpoint.database}?wal=true", data=body,
                                     method="POST", headers={"Content-Type": "application/x-ndjson",
                                                             "Authorization": _basic_auth(endpoint)})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            answer = json.loads(exc.read())
        except ValueError:
            answer = {"error": f"HTTP {exc.code}"}
        reason = "; ".join(str(answer[k]) for k in ("error", "detail") if answer.get(k)) or str(answer)
        committed = (f"{answer['edgesCreated']:,} of them were committed" if "edgesCreated" in answer
                     else "the batches committed before it stay")
        raise DatabaseError(f"bulk write of {len(lines):,} {rel_type} edges failed on {endpoint.url}: {reason}; "
                            f"{committed}. Run the same ingest again: it creates only what is missing") from exc
    except OSError as exc:
        raise DatabaseError(f"lost the server's HTTP API at {endpoint.url} during a bulk write of {rel_type} edges: "
                            f"{exc}. Run the same ingest again: it creates only what is missing") from exc
    if answer.get("edgesCreated") != len(lines):
        raise DatabaseError(f"bulk write of {len(lines):,} {rel_type} edges on {endpoint.url} created "
                            f"{answer.get('edgesCreated')}: {answer}")
    return len(lines)


NEO4J = Dialect("neo4j", "Neo4j/5", vector_index_ddl=True, cosine_rescaled=True)


def detect(agent: str) -> Dialect:
    """The dialect of a server from its Bolt agent string (``Neo4j/5.26.0 compatible (ArcadeDB 26.10.2)`` ...)."""
    if "arcadedb" in agent.lower():
        return Dialect("arcadedb", agent, vector_index_ddl=False, cosine_rescaled=False)
    return Dialect("neo4j", agent, vector_index_ddl=True, cosine_rescaled=True)
