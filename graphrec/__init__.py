"""graphrec: graph recommenders that live in a graph database.

The round trip: files -> ingest -> graph DB -> export -> PyG HeteroData -> train -> write back -> Cypher serving.
"""

__version__ = "0.1.0"
