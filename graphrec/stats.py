"""What the graph holds: node counts per label, relationship counts per type, interactions per split, the KG."""

from __future__ import annotations

from graphrec.db import names
from graphrec.db.connect import Graph


def graph_stats(graph: Graph) -> dict:
    """Counts for `graphrec stats`; every number comes from a Cypher count, nothing is cached."""
    labels = sorted(row["label"] for row in graph.read("stats.labels"))
    nodes = {}
    for label in labels:
        try:
            safe = names.checked(label)
        except Exception:  # a label some other tool created that is not a plain identifier: not ours to count
            continue
        nodes[label] = graph.read("stats.node_count", {"label": safe})[0]["n"]
    nodes = {label: n for label, n in nodes.items() if n}
    types = sorted(row["type"] for row in graph.read("stats.relationship_types"))
    relationships = {}
    for rel_type in types:
        try:
            safe = names.checked(rel_type)
        except Exception:
            continue
        count = graph.read("stats.relationship_count", {"type": safe})[0]["n"]
        if count:
            relationships[rel_type] = count
    per_split = {(row["split"] or "no split"): row["n"] for row in graph.read("stats.interactions_per_split")}
    relations = {row["relation"]: row["n"] for row in graph.read("stats.kg_summary")}
    return {
        "nodes": nodes,
        "relationships": relationships,
        "users": nodes.get("User", 0),
        "items": nodes.get("Item", 0),
        "users_with_interactions": graph.read("stats.active_users")[0]["n"],
        "items_with_interactions": graph.read("stats.active_items")[0]["n"],
        "entities": nodes.get("Entity", 0),
        "interactions": {"total": sum(per_split.values()), **dict(sorted(per_split.items()))},
        "kg": {"triples": sum(relations.values()), "relations": len(relations)},
        "social": relationships.get("FOLLOWS", 0),
        "sources": [{k: s[k] for k in ("key", "path", "status", "finished_at", "merged")}
                    for s in graph.read("sources.all")],
    }
