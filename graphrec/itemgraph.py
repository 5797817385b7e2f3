"""A graph filter's item–item part stored in the graph: each item's top-s neighbours under R̃ᵀR̃ (R̃ = D_U^-½ R D_I^-½,
the training graph of the run) as ``(:Item)-[:GRAPHREC_SIMILAR {score, run}]->(:Item)`` relationships, written when
the run is published.

Serving then sums the stored scores over the items the user has now (``recommend.similar_walk_for_user``): a user's
newest interaction counts at once, while the lists themselves are refreshed by the next publish. Measured on Gowalla
(BENCHMARKS.md, "Graph filters served from the graph"): s = 100 answers in ~0.1 s with ~88% of the exact top-20,
where walking every path at query time (``recommend.walk_for_user``, exact and fully fresh) takes seconds.
"""

from __future__ import annotations

from typing import Iterator

import torch

from graphrec.db.connect import Graph
from graphrec.compiled.kernels import spmm
from graphrec.progress import Progress, silent

SIMILAR_DEFAULT = 100   # neighbours kept per item (BENCHMARKS.md: 88% of the exact top-20 at s=100, 82% at s=50)


def neighbours(model, s: int, block: int = 512, skip: int = 0) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Each item's ``s`` largest entries of R̃ᵀR̃ (itself excluded; the first ``skip`` left out), in blocks of
    ``block`` items: yields (first item, (B, s - skip) values, indices). The block's columns of R̃ times R̃ᵀ: never an
    item x item matrix."""
    n_items, r_t = model.n_items, model.r_t
    crow, col, val = r_t.crow_indices(), r_t.col_indices(), r_t.values()
    s = min(s, n_items - 1)
    for start in range(0, n_items, block):
        width = min(block, n_items - start)
        lo, hi = int(crow[start]), int(crow[start + width])
        columns = torch.zeros(model.n_users, width)
        owner = torch.repeat_interleave(torch.arange(width), torch.diff(crow[start:start + width + 1]))
        columns[col[lo:hi], owner] = val[lo:hi]
        gram = spmm(r_t, columns).t().contiguous()   # (B, n_items): the block's rows of the symmetric R̃ᵀR̃
        rows = torch.arange(width)
        gram[rows, start + rows] = -torch.inf
        values, indices = gram.topk(s, dim=1)
        yield start, values[:, skip:], indices[:, skip:]


def write_similar(graph: Graph, run_id: str, model, item_ids: list[str], s: int = SIMILAR_DEFAULT,
                  batch_relationships: int = 20_000, progress: Progress = silent) -> int:
    """Replace run ``run_id``'s GRAPHREC_SIMILAR relationships with each item's top ``s`` (positive scores only);
    returns how many were written."""
    drop_similar(graph, run_id)
    element = {r["id"]: r["eid"] for r in graph.read("publish.item_element_ids")}
    eid = [element.get(i) for i in item_ids]
    rows: list[dict] = []
    written = pending = 0
    with progress(f"write each item's {s} nearest items", len(item_ids)) as advance:
        for start, values, indices in neighbours(model, s):
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
    return written


def drop_similar(graph: Graph, run_id: str) -> None:
    """Delete run ``run_id``'s GRAPHREC_SIMILAR relationships (in batches, in an auto-commit transaction)."""
    graph.autocommit("publish.drop_similar", run=run_id)
