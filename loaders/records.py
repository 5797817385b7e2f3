"""The records every loader yields, whatever the source format.

Ids are the source's business keys, kept as strings (a file's ``42`` and a user's ``"42"`` are the same node).
Labels are the graph model's: ``User``, ``Item``, ``Entity`` (see README, "Graph model").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

SPLITS = ("train", "valid", "test")
# Spellings of the three splits found in the wild, read as graphrec's own (case-insensitive).
SPLIT_SPELLINGS = {"train": "train", "training": "train", "trn": "train",
                   "valid": "valid", "val": "valid", "validation": "valid", "dev": "valid", "eval": "valid",
                   "test": "test", "testing": "test", "tst": "test"}
NODE_LABELS = ("User", "Item", "Entity")


@dataclass(frozen=True, slots=True)
class Interaction:
    """A user interacted with an item: ``(:User)-[:INTERACTED {weight, ts, split}]->(:Item)``."""

    user: str
    item: str
    weight: float | None = None
    ts: int | None = None
    split: str | None = None  # one of SPLITS, or None when the source ships no split


@dataclass(frozen=True, slots=True)
class Triple:
    """A knowledge-graph fact ``(head)-[relation]->(tail)``; ``relation`` is the source's own name."""

    head: str
    relation: str
    tail: str
    head_label: str = "Entity"  # "Item" when the head is a catalogue item
    tail_label: str = "Entity"


@dataclass(frozen=True, slots=True)
class SocialEdge:
    """``(:User {id: src})-[:FOLLOWS]->(:User {id: dst})``. Friendships are two edges, one each way."""

    src: str
    dst: str
    weight: float | None = None


@dataclass(frozen=True, slots=True)
class Node:
    """Attributes of one node, e.g. an item's title or a user's age. ``extra_labels`` add types such as ``Genre``."""

    label: str
    id: str
    props: dict = field(default_factory=dict, hash=False, compare=False)
    extra_labels: tuple[str, ...] = ()


@dataclass
class Dataset:
    """Everything one loader read from one source, fully parsed and validated before any write."""

    name: str
    interactions: list[Interaction] = field(default_factory=list)
    triples: list[Triple] = field(default_factory=list)
    social: list[SocialEdge] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    sources: list[Path] = field(default_factory=list)
    format: str = ""   # the loader's registered name (loaders.load sets it); with name, where the data came from

    @property
    def key(self) -> str:
        """Where this data came from, as graphrec records it in the graph (``movielens:ml-100k``)."""
        return f"{self.format}:{self.name}" if self.format else self.name

    def summary(self) -> dict:
        """Counts for humans and tests: interactions per split, triples, relations, social edges."""
        per_split: dict[str, int] = {}
        for it in self.interactions:
            key = it.split or "none"
            per_split[key] = per_split.get(key, 0) + 1
        return {
            "users": len({it.user for it in self.interactions} | {e.src for e in self.social} | {e.dst for e in self.social}),
            "items": len({it.item for it in self.interactions}),
            "interactions": per_split,
            "triples": len(self.triples),
            "relations": len({t.relation for t in self.triples}),
            "social": len(self.social),
        }

    def kg_id_collisions(self) -> dict | None:
        """The signature of a KG whose file numbers items and entities in one id space (KGAT/KGCN style) read as two
        spaces: ids read as Items that no interaction names (they would become items nobody interacted with) together
        with ids read as Entities that are items' ids (they would become entities beside those items). Counts of
        distinct ids, or None when the KG shows no such thing."""
        items = {it.item for it in self.interactions}
        phantom, shared = set(), set()
        for t in self.triples:
            for node, label in ((t.head, t.head_label), (t.tail, t.tail_label)):
                if label == "Item" and node not in items:
                    phantom.add(node)
                elif label == "Entity" and node in items:
                    shared.add(node)
        if not (phantom and shared):
            return None
        return {"phantom_items": len(phantom), "entity_item_ids": len(shared)}


KG_ID_FIX = ("if the KG file numbers items and entities in one id space (KGAT/KGCN style), ingest it with "
             "-o kg_ids=shared (an id that names an item of the interactions is that item, any other an entity); "
             "if the two are numbered apart, say which each head and tail is with head_label/tail_label columns")
