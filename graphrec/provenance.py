"""Where a graph's data came from, so that two datasets never mix without the user asking.

Each ingest records a ``(:GraphrecSource {key})`` (``<format>:<name>``, e.g. ``movielens:ml-100k``) and marks the
User, Item and Entity nodes it brought with ``graphrec_source``. Before its first write, an ingest checks the graph
(:func:`check`): another dataset already there, or ids that are already nodes of another source, stop it with one
clear message, unless ``merge=True`` (``graphrec ingest --merge``). Otherwise the numbers of a model trained on the
graph would describe a mix: Gowalla's ``Item "1"`` would carry MovieLens's "Toy Story (1995)".
"""

from __future__ import annotations

from datetime import datetime, timezone

from graphrec.db.connect import Graph
from graphrec.errors import ConfigError
from loaders.records import Dataset

LABELS = ("User", "Item", "Entity")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def dataset_ids(dataset: Dataset) -> dict[str, set[str]]:
    """The node ids per label that ``dataset`` brings."""
    ids: dict[str, set[str]] = {label: set() for label in LABELS}
    for it in dataset.interactions:
        ids["User"].add(it.user)
        ids["Item"].add(it.item)
    for e in dataset.social:
        ids["User"].update((e.src, e.dst))
    for t in dataset.triples:
        ids[t.head_label].add(t.head)
        ids[t.tail_label].add(t.tail)
    for node in dataset.nodes:
        ids[node.label].add(node.id)
    return ids


def sources(graph: Graph) -> list[dict]:
    """The datasets recorded in the graph, oldest first."""
    return graph.read("sources.all")


def check(graph: Graph, dataset: Dataset, ids: dict[str, set[str]], merge: bool = False) -> None:
    """Refuse (ConfigError, nothing written) an ingest of ``dataset`` into a graph holding another dataset, or whose
    ids are already nodes from elsewhere; ``merge=True`` allows both on purpose."""
    if merge:
        return
    recorded = sources(graph)
    others = [s["key"] for s in recorded if s["key"] != dataset.key]
    ours = any(s["key"] == dataset.key for s in recorded)
    clashes = []
    for label, wanted in ids.items():
        if wanted:
            # Nodes without a source are another tool's (or an older ingest's), unless this dataset's own ingest was
            # begun before and interrupted: then they are its own, not yet marked.
            rows = graph.read("sources.foreign_nodes", {"label": label}, ids=sorted(wanted), key=dataset.key,
                              unsourced_ok=ours)
            clashes += [(label, row) for row in rows if row["n"]]
    if not others and not clashes:
        return
    fix = ("ingest it into a graph of its own (`graphrec --home DIR ingest ...`, a separate embedded Neo4j), or empty "
           "this one first (`graphrec db reset --yes`), or pass --merge to add it to this graph on purpose")
    if clashes:
        total = sum(row["n"] for _, row in clashes)
        where = "; ".join(f"{row['n']:,} {label} nodes from {row['source'] or 'no recorded dataset'} "
                          f"(e.g. {', '.join(repr(x) for x in row['examples'])})" for label, row in clashes)
        raise ConfigError(f"{dataset.key}: {total:,} of its ids are already nodes of another dataset in this graph: "
                          f"{where}; ingesting would merge them into one node each. Nothing was written; {fix}")
    raise ConfigError(f"{dataset.key}: this graph already holds {', '.join(others)}; ingesting a second dataset "
                      f"would mix them (a model trained on the graph would learn both). Nothing was written; {fix}")


def record(dataset: Dataset, merge: bool = False) -> dict:
    """The properties of the dataset's ``(:GraphrecSource)`` as its ingest begins (``finish`` adds the rest)."""
    path = str(dataset.sources[0].parent.resolve()) if dataset.sources else ""
    return {"key": dataset.key, "format": dataset.format, "name": dataset.name, "path": path, "merged": merge,
            "status": "ingesting", "started_at": _now()}


def begin(graph: Graph, dataset: Dataset, merge: bool = False) -> None:
    graph.apply_schema()
    graph.write("sources.begin", source=record(dataset, merge), merged=merge)


def finish(graph: Graph, dataset: Dataset, ids: dict[str, set[str]], batch: int = 20_000) -> None:
    """Mark the dataset's nodes that have no source yet, and the ingest as done."""
    for label, wanted in ids.items():
        ordered = sorted(wanted)
        for start in range(0, len(ordered), batch):
            graph.write("sources.mark_nodes", {"label": label}, ids=ordered[start:start + batch], key=dataset.key)
    graph.write("sources.finish", key=dataset.key, now=_now())
