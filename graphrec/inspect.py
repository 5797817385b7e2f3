"""``graphrec inspect``: read the schema and counts of the connected graph and propose a graph mapping for it.

The proposal is a starting point to read and edit, not a guess graphrec acts on: the user puts it in the config
file's ``[mapping]`` section (or passes the mapping options), and every stage checks it against the graph then.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from graphrec.db.connect import Graph
from graphrec.db.names import ELEMENT_ID, IDENTIFIER
from graphrec.mapping import DEFAULT, GraphMapping, Interaction

TIME_NAMES = ("timestamp", "ts", "time", "at", "date", "datetime", "created", "createdat", "updatedat", "when")
WEIGHT_NAMES = ("rating", "weight", "score", "stars", "count", "quantity", "qty", "plays", "playcount", "clicks")
NUMERIC = {"Long", "Double", "Integer", "Float"}
TEMPORAL = {"DateTime", "LocalDateTime", "Date", "ZonedDateTime"}


@dataclass
class Schema:
    """What the graph holds: nodes per label, relationships per (start label, type, end label), property keys and
    their types per label and per relationship type."""

    labels: dict[str, int]
    patterns: list[dict]
    node_properties: dict[str, dict[str, list[str]]]
    relationship_properties: dict[str, dict[str, list[str]]]

    def as_dict(self) -> dict:
        return {"labels": self.labels, "patterns": self.patterns, "node_properties": self.node_properties,
                "relationship_properties": self.relationship_properties}


def read_schema(graph: Graph) -> Schema:
    labels = {r["label"]: r["nodes"] for r in graph.read("mapping.node_counts")}
    patterns = []
    for r in graph.read("mapping.patterns"):
        patterns.append({"start": ":".join(sorted(r["start"])), "type": r["type"], "end": ":".join(sorted(r["end"])),
                         "count": r["count"], "starts": r["starts"], "ends": r["ends"]})
    node_props: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for r in graph.read("mapping.node_properties"):
        for label in r["labels"] or []:
            node_props[label].setdefault(r["property"], [])
            node_props[label][r["property"]] = sorted(set(node_props[label][r["property"]]) | set(r["types"] or []))
    rel_props: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for r in graph.read("mapping.relationship_properties"):
        rtype = re.sub(r"^:`?|`$", "", r["type"])  # Neo4j names the type as :`TYPE`
        rel_props[rtype][r["property"]] = sorted(set(r["types"] or []))
    return Schema(labels, patterns, dict(node_props), dict(rel_props))


def _id_property(graph: Graph, schema: Schema, label: str) -> str:
    """The property that names every node of ``label`` uniquely with integers or strings, by preference for names
    like movieId / id / *_id; elementId when none does."""
    props = schema.node_properties.get(label, {})
    low = label.lower()

    def rank(name: str) -> tuple:
        lname = name.lower()
        suffixes = ("id", "_id", "no", "number", "key", "code", "uuid")
        if lname.startswith(low.lower()) and lname[len(low):] in suffixes:
            return 0, name
        if lname == "id":
            return 1, name
        if lname.endswith(suffixes) or lname in ("sku", "uuid", "key", "code"):
            return 2, name
        return (3 if lname in ("name", "title") else 9), name

    for name in sorted(props, key=rank):
        if rank(name)[0] == 9 or not IDENTIFIER.match(name):
            break
        row = graph.read("mapping.key_profile", {"label": label, "key": name})[0]
        if not row["missing"] and row["distinct"] == row["nodes"] and len(set(row["kinds"])) == 1 \
                and set(row["kinds"]) <= {"integer", "string"}:
            return name
    return ELEMENT_ID


def _pick(props: dict[str, list[str]], names: tuple[str, ...], kinds: set[str]) -> str | None:
    for name in names:
        for prop, types in props.items():
            if prop.lower() == name and set(types) & kinds and IDENTIFIER.match(prop):
                return prop
    return None


def propose(graph: Graph, schema: Schema) -> GraphMapping | None:
    """A mapping for the graph: users and items are the two labels joined by the most relationships (start → end),
    every type between them an interaction, types between users social, types off items the KG. None for an empty
    graph; graphrec's own schema when that is what the graph holds."""
    pairs: dict[tuple[str, str], int] = defaultdict(int)
    for p in schema.patterns:
        if p["start"] != p["end"] and p["start"] and p["end"]:
            pairs[p["start"], p["end"]] += p["count"]
    if not pairs:
        return None
    user, item = max(pairs, key=lambda k: (pairs[k], k))
    if ":" in user or ":" in item:  # nodes with several labels: take the first, the user can edit it
        user, item = user.split(":")[0], item.split(":")[0]
    if (user, item) == (DEFAULT.user_label, DEFAULT.item_label):
        return DEFAULT
    inter_types = sorted({p["type"] for p in schema.patterns if (p["start"], p["end"]) == (user, item)})
    interactions = []
    for t in inter_types:
        props = schema.relationship_properties.get(t, {})
        interactions.append(Interaction(t, weight=_pick(props, WEIGHT_NAMES, NUMERIC),
                                        timestamp=_pick(props, TIME_NAMES, NUMERIC | TEMPORAL),
                                        split=_pick(props, ("split",), {"String"})))
    social = sorted({p["type"] for p in schema.patterns if p["start"] == p["end"] == user} - set(inter_types))
    kg = sorted({p["type"] for p in schema.patterns
                 if item in (p["start"], p["end"]) and user not in (p["start"], p["end"])} - set(social))
    directed = not any("FRIEND" in t.upper() for t in social)
    return GraphMapping(user_label=user, user_id=_id_property(graph, schema, user), item_label=item,
                        item_id=_id_property(graph, schema, item), interactions=tuple(interactions),
                        kg=tuple(kg), kg_hops=1, social=tuple(social), social_directed=directed)
