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
    mapping = graph.mapping
    splits = {t: fields[0] for t, fields in mapping.fields().items()}
    per_split: dict[str, int] = {}
    for row in graph.read("stats.interactions_per_split", split=splits):
        key = row["split"] if isinstance(row["split"], str) else "no split"
        per_split[key] = per_split.get(key, 0) + row["n"]
    relations = {row["relation"]: row["n"] for row in graph.read("stats.kg_summary")}
    health = graph.read("stats.split_health", split=splits)[0] if "test" in per_split and "train" in per_split else None
    collisions = graph.read("stats.kg_id_collisions")[0] if relations and mapping.kg is None else None
    if collisions and not (collisions["phantom_items"] and collisions["entity_item_ids"]):
        collisions = None
    return {
        "nodes": nodes,
        "relationships": relationships,
        "users": nodes.get(mapping.user_label, 0),
        "items": nodes.get(mapping.item_label, 0),
        "users_with_interactions": graph.read("stats.active_users")[0]["n"],
        "items_with_interactions": graph.read("stats.active_items")[0]["n"],
        "entities": nodes.get("Entity", 0) if mapping.kg is None else graph.read("stats.entity_count")[0]["n"],
        "interactions": {"total": sum(per_split.values()), **dict(sorted(per_split.items()))},
        "kg": {"triples": sum(relations.values()), "relations": len(relations)},
        "social": graph.read("stats.social_count")[0]["n"],
        "social_types": list(mapping.social),
        "split_health": health,
        "kg_id_collisions": collisions,  # see cypher/stats.cypher kg_id_collisions; None: no sign of it
        "sources": [{k: s[k] for k in ("key", "path", "status", "finished_at", "merged")}
                    for s in graph.read("sources.all")],
    }
