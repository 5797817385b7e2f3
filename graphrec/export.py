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

When the stored interactions carry no split, a seeded per-user split is made here (random 8:1:1 by default, or
temporal by timestamp), as RecBole does; ``data.split_origin`` says which.
"""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import HeteroData

from graphrec.db.connect import Graph
from graphrec.errors import ConfigError, GraphrecError
from graphrec.idmaps import IdMaps
from graphrec.progress import Progress, silent

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


def export(graph: Graph, *, split: str = "auto", ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
           seed: int = 2020, progress: Progress = silent) -> tuple[HeteroData, IdMaps]:
    """Read the whole graph into a HeteroData. ``split``: ``auto`` (stored split if any, else random), ``stored``,
    ``random`` or ``temporal`` (both per user, seeded, with ``ratios``)."""
    if split not in ("auto", "stored", "random", "temporal"):
        raise ConfigError(f"split must be auto, stored, random or temporal, got {split!r}")
    ids = {}
    for label, node_type in NODE_TYPES.items():
        ids[node_type] = sorted((row["id"] for row in graph.read("export.node_ids", {"label": label})), key=_sort_key)
    maps = IdMaps(ids)
    uidx, iidx = maps.index["user"], maps.index["item"]
    if not ids["user"] or not ids["item"]:
        raise GraphrecError("the graph has no users or no items to export: ingest a dataset first "
                            "(`graphrec ingest FORMAT PATH`)")

    users, items, splits, weights, stamps = [], [], [], [], []
    with progress("export interactions", len(ids["user"])) as advance:
        for row in graph.stream("export.interactions"):
            u = uidx[row["user"]]
            for item, sp, weight, ts in row["edges"]:
                users.append(u)
                items.append(iidx[item])
                splits.append(SPLIT_CODES.get(sp, -1))
                weights.append(np.nan if weight is None else weight)
                stamps.append(-1 if ts is None else ts)
            advance(1)
    users_a, items_a = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
    split_a, ts_a = np.asarray(splits, dtype=np.int8), np.asarray(stamps, dtype=np.int64)
    order = np.lexsort((items_a, users_a))  # a canonical edge order, whatever order the server returned
    users_a, items_a, split_a, ts_a = users_a[order], items_a[order], split_a[order], ts_a[order]
    weight_a = np.asarray(weights, dtype=np.float32)[order]

    has_stored = bool((split_a >= 0).any())
    if split == "stored" and not has_stored:
        raise GraphrecError("split='stored' but the interactions carry no split; use random or temporal")
    if split in ("random", "temporal") or (split == "auto" and not has_stored):
        mode = "temporal" if split == "temporal" else "random"
        split_a = _split_per_user(users_a, ts_a, ratios, seed, temporal=mode == "temporal")
        origin = f"{mode} {ratios[0]:g}:{ratios[1]:g}:{ratios[2]:g} per user, seed {seed}"
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

    src, dst = [], []
    for row in graph.stream("export.follows"):
        for d in row["dsts"]:
            src.append(uidx[row["src"]])
            dst.append(uidx[d])
    data["user", "follows", "user"].edge_index = torch.tensor([src, dst], dtype=torch.long).reshape(2, -1)

    facts: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
    for row in graph.stream("export.triples"):
        head_type = NODE_TYPES[row["head_label"]]
        h = maps.index[head_type][row["head"]]
        for relation, tail_label, tail in row["facts"]:
            tail_type = NODE_TYPES[tail_label]
            facts.setdefault((head_type, tail_type), []).append((h, maps.index[tail_type][tail], relation))
    relation_names = sorted({f[2] for group in facts.values() for f in group})
    rel_index = {name: k for k, name in enumerate(relation_names)}
    data.relation_names = relation_names
    for (head_type, tail_type), group in sorted(facts.items()):
        group.sort()
        store = data[head_type, "kg", tail_type]
        store.edge_index = torch.tensor([[g[0] for g in group], [g[1] for g in group]], dtype=torch.long)
        store.relation = torch.tensor([rel_index[g[2]] for g in group], dtype=torch.long)
    data.validate(raise_on_error=True)
    return data, maps
