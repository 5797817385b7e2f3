"""A closed-form model's item–item part stored in the graph: each item's top-s entries of its row of S, where the
model's scores are x S for a user's interaction row x plus a low-pass part served as embeddings, as
``(:Item)-[:GRAPHREC_SIMILAR {score, run}]->(:Item)`` relationships, written when the run is published. The model gives
its rows (:meth:`graphrec.models.closed.ClosedFormRecommender.item_rows`): GF-CF's R̃ᵀR̃, ItemKNN's kept neighbour
lists (whole when s >= its k, so served exactly), Turbo-CF's polynomial, EASE^R's B, LinkProp's path weights, BSPM's
and ChebyCF's filters less their low-pass part.

Serving then sums the stored scores over the items the user has now (``recommend.similar_walk_for_user``): a user's
newest interaction counts at once, while the lists themselves are refreshed by the next publish. Measured on Gowalla
(BENCHMARKS.md, "Graph filters served from the graph"): GF-CF at s = 100 answers in ~0.1 s with ~88% of the exact
top-20, where walking every path at query time (``recommend.walk_for_user``, exact and fully fresh, for a model whose
S is that walk) takes seconds.
"""

from __future__ import annotations

import time
from typing import Iterator

import torch

from graphrec.db.connect import Graph
from graphrec.progress import Progress, silent

SIMILAR_DEFAULT = 100   # neighbours kept per item (BENCHMARKS.md: GF-CF on Gowalla, 88% of the exact top-20 at
                        # s=100, 82% at s=50)


BLOCK = 512  # items whose rows are formed at once


def neighbours(model, s: int, block: int = BLOCK, skip: int = 0) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Each item's ``s`` largest entries of its row of the model's S (itself excluded; the first ``skip`` left out),
    in blocks of ``block`` items: yields (first item, (B, s - skip) values, indices). Never an item x item matrix."""
    n_items = model.n_items
    s = min(s, n_items - 1)
    for start in range(0, n_items, block):
        items = torch.arange(start, min(start + block, n_items))
        rows = model.item_rows(items)
        rows[torch.arange(items.numel()), items] = -torch.inf  # a user's own item is never recommended to them
        values, indices = rows.topk(s, dim=1)
        yield start, values[:, skip:], indices[:, skip:]


def write_similar(graph: Graph, run_id: str, model, item_ids: list[str], s: int = SIMILAR_DEFAULT,
                  batch_relationships: int = 20_000, progress: Progress = silent,
                  timed: dict | None = None) -> tuple[int, int]:
    """Replace run ``run_id``'s GRAPHREC_SIMILAR relationships with each item's top ``s`` (positive scores only);
    returns how many were written and how many of the run's items the graph holds. ``timed["rows"]``: the seconds
    spent forming the rows (the model's work, not the graph's)."""
    drop_similar(graph, run_id)
    element = {r["id"]: r["eid"] for r in graph.read("publish.item_element_ids")}
    eid = [element.get(i) for i in item_ids]
    if not any(e is not None for e in eid):
        return 0, 0
    rows: list[dict] = []
    written = pending = 0
    with progress(f"write each item's {s} nearest items", len(item_ids)) as advance:
        blocks, forming = neighbours(model, s), 0.0
        while True:
            began = time.perf_counter()
            block = next(blocks, None)
            forming += time.perf_counter() - began
            if block is None:
                break
            start, values, indices = block
            for n in range(values.size(0)):
                keep = values[n] > 0
                targets = [eid[j] for j in indices[n, keep].tolist()]
                if eid[start + n] is not None and targets:
                    rows.append({"a": eid[start + n], "b": targets, "s": values[n, keep].tolist()})
                    written += len(targets)
                    pending += len(targets)
                if pending >= batch_relationships:
                    graph.write("publish.write_similar", rows=rows, run=run_id)
                    rows, pending = [], 0
            advance(values.size(0))
        if rows:
            graph.write("publish.write_similar", rows=rows, run=run_id)
    if timed is not None:
        timed["rows"] = timed.get("rows", 0.0) + forming
    return written, sum(e is not None for e in eid)


def drop_similar(graph: Graph, run_id: str) -> None:
    """Delete run ``run_id``'s GRAPHREC_SIMILAR relationships (in batches, in an auto-commit transaction)."""
    graph.autocommit("publish.drop_similar", run=run_id)
