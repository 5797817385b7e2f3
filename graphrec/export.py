"""Export: the graph in the database → a ``torch_geometric.data.HeteroData``, with stable business-id maps.

The export reads few, large results (one row per user with its collected items), which measured ~5× faster than one
row per edge. The id maps (business id → row index, per node type) are sorted so the same graph always exports the
same way; they are saved with every run so that write-back and serving map embeddings back exactly.

The HeteroData contract (what the models and ``graphrec.recdata`` read):

* node types ``user``, ``item``, ``entity`` with ``num_nodes``;
* ``('user','interacted','item')``: ``edge_index`` (2, E) int64, ``split`` int8 (0 train, 1 valid, 2 test),
  ``weight`` float32 (NaN where absent), ``ts`` int64 (-1 where absent);
* ``('user','follows','user')``: ``edge_index``;
* KG facts as ``(head type, 'kg', tail type)`` edge types with ``edge_index`` and ``relation`` (int64 index into
  ``data.relation_names``, the source relation names, sorted).

When the stored interactions carry no split, a split is made here: a seeded per-user one (random 8:1:1 by default,
or temporal by timestamp, as RecBole does), or one cut-off time for all users (``time``, leakage-free: what a mapped
graph with timestamps gets by default); ``data.split_origin`` says which.

The graph is read through its mapping (graphrec.mapping): graphrec's own schema, or the user's own labels and
types. Several interaction types joining the same user and item become one edge (weights summed).
"""

from __future__ import annotations

import warnings
from datetime import datetime, timezone

import numpy as np
import torch

from graphrec.db.connect import Graph
from graphrec.errors import ConfigError, GraphrecError
from graphrec.idmaps import IdMaps
from graphrec.mapping import GraphMapping
from graphrec.progress import Progress, silent

with warnings.catch_warnings():
    # torch_geometric (2.8) calls torch.jit.script at import time, which torch deprecates; from torch 2.15 that is a
    # FutureWarning, printed on every command that exports. Not ours to fix, and nothing a user can act on.
    warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated")
    from torch_geometric.data import HeteroData

SPLITS = ("auto", "stored", "random", "temporal", "time")
SPLIT_CODES = {"train": 0, "valid": 1, "test": 2}
NODE_TYPES = {"User": "user", "Item": "item", "Entity": "entity"}


def _sort_key(ident: str):
    """Numeric ids in numeric order, then the rest as strings: stable and natural for both kinds of key."""
    return (0, int(ident), "") if ident.isdigit() else (1, 0, ident)


def _split_per_user(users: np.ndarray, ts: np.ndarray, ratios: tuple[float, float, float], seed: int,
                    temporal: bool) -> np.ndarray:
    """Per-user split codes: each user's interactions ordered randomly (or by time), cut train/valid/test by ratios."""
    rng = np.random.default_rng(seed)
    order = np.lexsort((ts, users)) if temporal else np.lexsort((rng.random(len(users)), users))
    codes = np.zeros(len(users), dtype=np.int8)
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    ends = np.r_[starts[1:], len(users)]
    for s, e in zip(starts, ends):
        n = e - s
        n_test = int(round(n * ratios[2])) if n >= 3 else 0
        n_valid = int(round(n * ratios[1])) if n >= 3 else 0
        codes[order[e - n_test:e]] = 2
        codes[order[e - n_test - n_valid:e - n_test]] = 1
    return codes


def _timestamp(value, where: str) -> int:
    """Epoch seconds from an integer, a float or a Neo4j date / date-time; -1 for none."""
    if value is None:
        return -1
    if isinstance(value, bool):
        raise GraphrecError(f"{where}: timestamp {value!r} is not a number or a date-time")
    if isinstance(value, (int, float)):
        return int(value)
    to_native = getattr(value, "to_native", None)
    if to_native is not None:
        native = to_native()
        if not hasattr(native, "timestamp"):  # a date: midnight UTC
            native = datetime.combine(native, datetime.min.time(), tzinfo=timezone.utc)
        elif native.tzinfo is None:
            native = native.replace(tzinfo=timezone.utc)
        return int(native.timestamp())
    raise GraphrecError(f"{where}: timestamp {value!r} is not a number or a date-time")


def _read_interactions(graph: Graph, mapping: GraphMapping, uidx: dict, iidx: dict, n_users: int,
                       progress: Progress):
    """The mapped interactions as arrays (user, item, split code, weight, ts), filters applied, weights resolved."""
    spec = {i.type: i for i in mapping.interactions}
    users, items, splits, weights, stamps = [], [], [], [], []
    dropped = 0
    with progress("export interactions", n_users) as advance:
        for row in graph.stream("export.interactions", fields=mapping.fields()):
            u = uidx[row["user"]]
            for item, rtype, sp, weight, ts, fval in row["edges"]:
                inter = spec[rtype]
                if inter.where is not None and not inter.where.keeps(fval):
                    dropped += 1
                    continue
                if inter.weight_property is None:
                    weight = inter.weight
                elif weight is not None and (isinstance(weight, bool) or not isinstance(weight, (int, float))):
                    raise GraphrecError(f"{rtype}.{inter.weight_property} of user {row['user']} and item {item} is "
                                        f"{weight!r}, not a number")
                users.append(u)
                items.append(iidx[item])
                splits.append(SPLIT_CODES.get(sp, -1))
                weights.append(np.nan if weight is None else weight)
                stamps.append(_timestamp(ts, f"{rtype} of user {row['user']} and item {item}"))
            advance(1)
    return (np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64), np.asarray(splits, dtype=np.int8),
            np.asarray(weights, dtype=np.float32), np.asarray(stamps, dtype=np.int64), dropped)


def _merge_pairs(users, items, splits, weights, stamps):
    """One edge per (user, item) when several interaction types join them (a view and a purchase): the weights
    summed (absent ones count 1), the earliest timestamp, the first stored split. Arrays are sorted by (user, item)."""
    first = np.r_[True, (users[1:] != users[:-1]) | (items[1:] != items[:-1])]
    group = np.cumsum(first) - 1
    w = np.where(np.isnan(weights), 1.0, weights).astype(np.float64)
    summed = np.zeros(int(first.sum()))
    np.add.at(summed, group, w)
    earliest = np.full(len(summed), np.iinfo(np.int64).max)
    np.minimum.at(earliest, group, np.where(stamps < 0, np.iinfo(np.int64).max, stamps))
    earliest[earliest == np.iinfo(np.int64).max] = -1
    keep = np.flatnonzero(first)
    merged_w = np.where(np.bincount(group, minlength=len(summed)) > 1, summed, weights[keep]).astype(np.float32)
    return users[keep], items[keep], splits[keep], merged_w, earliest


def _split_by_time(ts: np.ndarray, ratios: tuple[float, float, float]) -> np.ndarray:
    """A leakage-free temporal split: one cut-off time for everyone, so nothing trained on happened after anything
    tested. Interactions ordered by time; the oldest ``ratios[0]`` train, then valid, the newest test."""
    order = np.argsort(ts, kind="stable")
    n = len(ts)
    n_train = int(round(n * ratios[0]))
    n_valid = int(round(n * ratios[1]))
    codes = np.full(n, 2, dtype=np.int8)
    codes[order[:n_train]] = 0
    codes[order[n_train:n_train + n_valid]] = 1
    return codes


def _mapped_facts(graph: Graph, mapping: GraphMapping, item_index: dict) -> tuple[list, list]:
    """A mapped KG: facts (head type, head id, relation, tail type, tail id), hop by hop out from the items; and
    the entity ids (element ids) met."""
    facts, seen = [], set()
    entities: set[str] = set()
    frontier = None
    for hop in range(mapping.kg_hops):
        rows = graph.stream("export.item_facts") if frontier is None else \
            graph.stream("export.entity_facts", frontier=sorted(frontier))
        new: set[str] = set()
        for row in rows:
            head_type = "item" if row["head_is_item"] else "entity"
            if head_type == "item" and row["head"] not in item_index:
                continue
            for relation, tail_is_item, tail in row["facts"]:
                tail_type = "item" if tail_is_item else "entity"
                if tail_type == "item" and tail not in item_index:
                    continue
                fact = (head_type, row["head"], relation, tail_type, tail)
                if fact in seen:
                    continue
                seen.add(fact)
                facts.append(fact)
                for kind, ident in ((head_type, row["head"]), (tail_type, tail)):
                    if kind == "entity" and ident not in entities:
                        new.add(ident)
        entities |= new
        frontier = new
        if not frontier:
            break
    return facts, sorted(entities, key=_sort_key)


def export(graph: Graph, *, split: str = "auto", ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
           seed: int = 2020, progress: Progress = silent) -> tuple[HeteroData, IdMaps]:
    """Read the whole graph, through its mapping (``graph.mapping``), into a HeteroData. ``split``: ``auto`` (the
    stored split if any; else, on a mapped graph whose interactions all have a timestamp, ``time``; else random),
    ``stored``, ``random`` or ``temporal`` (both per user, seeded, with ``ratios``), or ``time`` (one cut-off time
    for every user: leakage-free)."""
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    mapping = graph.mapping
    ids = {"user": sorted((r["id"] for r in graph.read("export.node_ids", {"label": mapping.user_label,
                                                                           "key": mapping.user_id})), key=_sort_key),
           "item": sorted((r["id"] for r in graph.read("export.node_ids", {"label": mapping.item_label,
                                                                           "key": mapping.item_id})), key=_sort_key)}
    if not ids["user"] or not ids["item"]:
        raise GraphrecError("the graph has no users or no items to export: ingest a dataset first "
                            "(`graphrec ingest FORMAT PATH`)" if mapping.is_default else
                            f"the graph has no :{mapping.user_label} or no :{mapping.item_label} nodes to export")
    facts: list = []
    if mapping.kg is None:
        ids["entity"] = sorted((r["id"] for r in graph.read("export.node_ids", {"label": "Entity", "key": "id"})),
                               key=_sort_key)
    else:
        item_index = set(ids["item"])
        facts, ids["entity"] = _mapped_facts(graph, mapping, item_index) if mapping.kg else ([], [])
    maps = IdMaps(ids)
    uidx, iidx = maps.index["user"], maps.index["item"]

    users_a, items_a, split_a, weight_a, ts_a, dropped = _read_interactions(graph, mapping, uidx, iidx,
                                                                            len(ids["user"]), progress)
    order = np.lexsort((items_a, users_a))  # a canonical edge order, whatever order the server returned
    users_a, items_a, split_a, weight_a, ts_a = users_a[order], items_a[order], split_a[order], weight_a[order], ts_a[order]
    if len(mapping.interactions) > 1:
        users_a, items_a, split_a, weight_a, ts_a = _merge_pairs(users_a, items_a, split_a, weight_a, ts_a)

    has_stored = bool((split_a >= 0).any())
    timed = len(ts_a) > 0 and bool((ts_a >= 0).all())
    if split == "auto":
        split = "stored" if has_stored else "time" if (timed and not mapping.is_default) else "random"
    if split == "stored" and not has_stored:
        raise GraphrecError("split='stored' but the interactions carry no split; use random, temporal or time")
    if split in ("temporal", "time") and not timed:
        raise GraphrecError(f"split={split!r} needs a timestamp on every interaction; "
                            f"{int((ts_a < 0).sum()):,} of {len(ts_a):,} have none"
                            + ("" if any(i.timestamp for i in mapping.interactions) else
                               " (map one: timestamp= in the mapping's interactions)"))
    if split == "time":
        split_a = _split_by_time(ts_a, ratios)
        origin = f"time {ratios[0]:g}:{ratios[1]:g}:{ratios[2]:g} (one cut-off for all users)"
    elif split in ("random", "temporal"):
        split_a = _split_per_user(users_a, ts_a, ratios, seed, temporal=split == "temporal")
        origin = f"{split} {ratios[0]:g}:{ratios[1]:g}:{ratios[2]:g} per user, seed {seed}"
    else:
        if (split_a < 0).any():
            raise GraphrecError(f"{int((split_a < 0).sum())} interactions have no split while others do; "
                                "re-ingest them with a split or export with split='random'")
        origin = "stored"

    data = HeteroData()
    for node_type, node_ids in ids.items():
        data[node_type].num_nodes = len(node_ids)
    rel = data["user", "interacted", "item"]
    rel.edge_index = torch.from_numpy(np.stack([users_a, items_a]))
    rel.split = torch.from_numpy(split_a)
    rel.weight = torch.from_numpy(weight_a)
    rel.ts = torch.from_numpy(ts_a)
    data.split_origin = origin
    data.filtered = dropped

    ties = set()
    for row in graph.stream("export.follows"):
        a = uidx[row["src"]]
        for d in row["dsts"]:
            ties.add((a, uidx[d]))
            if not mapping.social_directed:
                ties.add((uidx[d], a))
    ties_sorted = sorted(ties)
    data["user", "follows", "user"].edge_index = torch.tensor(
        [[t[0] for t in ties_sorted], [t[1] for t in ties_sorted]], dtype=torch.long).reshape(2, -1)

    grouped: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
    if mapping.kg is None:
        for row in graph.stream("export.triples"):
            head_type = NODE_TYPES[row["head_label"]]
            h = maps.index[head_type][row["head"]]
            for relation, tail_label, tail in row["facts"]:
                tail_type = NODE_TYPES[tail_label]
                grouped.setdefault((head_type, tail_type), []).append((h, maps.index[tail_type][tail], relation))
    else:
        for head_type, head, relation, tail_type, tail in facts:
            grouped.setdefault((head_type, tail_type), []).append(
                (maps.index[head_type][head], maps.index[tail_type][tail], relation))
    relation_names = sorted({f[2] for group in grouped.values() for f in group})
    rel_index = {name: k for k, name in enumerate(relation_names)}
    data.relation_names = relation_names
    for (head_type, tail_type), group in sorted(grouped.items()):
        group.sort()
        store = data[head_type, "kg", tail_type]
        store.edge_index = torch.tensor([[g[0] for g in group], [g[1] for g in group]], dtype=torch.long)
        store.relation = torch.tensor([rel_index[g[2]] for g in group], dtype=torch.long)
    with warnings.catch_warnings():  # a graph without a KG (or social ties) has node types no edge refers to: the
        warnings.filterwarnings("ignore", message=r"The node types .* are isolated")  # contract, not a fault
        data.validate(raise_on_error=True)
    return data, maps
