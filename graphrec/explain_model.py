"""Model-based explanations: why a trained model links a user to an item, read from the model itself.

For KGAT, the paths of its collaborative knowledge graph from the user to the item, ranked by the product of the
attention weights π(h,r,t) along them (the paper's §4.4.2 case study explains recommendations this way). The
attention is what each layer weighs a neighbour's message by, so these are the routes the model's propagation
leans on; the score itself is a dot product of whole representations and is not a sum over these paths.
The graph-pattern explanations (``explain.why`` in ``cypher/explain.cypher``) list paths without ranking them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from graphrec.errors import ModelError

NODE_TYPES = ("user", "item", "entity")


@dataclass(frozen=True)
class AttentionPath:
    score: float  # product of the attention weights along the path
    nodes: tuple[int, ...]  # global node indices (users 0..U-1, items U..U+I-1, entities after), user first
    relations: tuple[str, ...]  # one per hop: the relation's name (for an inverse hop, the fact's own relation)
    inverse: tuple[bool, ...]  # per hop: True when the hop walks a fact backwards (e.g. item <-[genre]- entity)

    def describe(self, name) -> str:
        """Cypher-like text, ``name(node) -> str`` naming each node: ``u1 -[interact]-> i2 -[genre]-> Rock``."""
        parts = [name(self.nodes[0])]
        for node, relation, inverse in zip(self.nodes[1:], self.relations, self.inverse):
            parts.append(f"<-[{relation}]- " if inverse else f"-[{relation}]-> ")
            parts[-1] += name(node)
        return " ".join(parts)


def node_type(model, node: int) -> tuple[str, int]:
    """(type, row of that type) of a global node index of ``model``'s graph."""
    if node < model.n_users:
        return "user", node
    if node < model.n_users + model.n_items:
        return "item", node - model.n_users
    return "entity", node - model.n_users - model.n_items


def _join(ends: Tensor, heads: Tensor) -> tuple[Tensor, Tensor]:
    """All index pairs (i, j) with ``ends[i] == heads[j]``."""
    order = torch.argsort(heads)
    lo = torch.searchsorted(heads[order], ends)
    hi = torch.searchsorted(heads[order], ends, right=True)
    i = torch.repeat_interleave(torch.arange(ends.numel()), hi - lo)
    start = torch.repeat_interleave(lo - torch.cumsum(hi - lo, 0) + (hi - lo), hi - lo)
    return i, order[start + torch.arange(i.numel())]


@torch.no_grad()
def attention_paths(model, user: int, item: int, k: int = 3, max_hops: int = 3,
                    kg_only: bool = True) -> list[AttentionPath]:
    """The ``k`` highest-attention paths of at most ``max_hops`` (1-3) hops from ``user`` (row) to ``item`` (row) in
    a trained KGAT's collaborative knowledge graph, best first, without repeated nodes. ``kg_only`` keeps the paths
    with at least one knowledge-graph fact (e.g. ``user -[interact]-> item' -[r]-> entity <-[r']- item``), dropping
    purely collaborative ones (``user -[interact]-> item' <-[interact]- user' -[interact]-> item``)."""
    if not hasattr(model, "attention") or not hasattr(model, "ckg_crow"):
        raise ModelError(f"attention_paths needs a KGAT model, got {type(model).__name__}")
    if not 0 <= user < model.n_users or not 0 <= item < model.n_items:
        raise ModelError(f"attention_paths: user {user} or item {item} out of range "
                         f"({model.n_users} users, {model.n_items} items)")
    if not 1 <= max_hops <= 3:
        raise ModelError(f"attention_paths: max_hops must be 1, 2 or 3, got {max_hops}")
    crow, tail, relation, att = model.ckg_crow, model.ckg_tail, model.ckg_relation, model.attention
    source, target = int(user), model.n_users + int(item)
    n_base = len(model.base_names)  # CKG relation r is base relation r % n_base, inverse when r >= n_base

    def out_edges(nodes: Tensor) -> tuple[Tensor, Tensor]:
        """(position in ``nodes``, triple index) of every triple whose head is one of ``nodes``."""
        counts = crow[nodes + 1] - crow[nodes]
        owner = torch.repeat_interleave(torch.arange(nodes.numel()), counts)
        offset = torch.arange(owner.numel()) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
        return owner, crow[nodes][owner] + offset

    into = model.ckg_transpose[model.ckg_transpose_crow[target]:model.ckg_transpose_crow[target + 1]]
    # A path is a row of triple indices; ``frontier`` holds the walks of hops - 1 triples from the user, and a path
    # of ``hops`` triples is one of them followed by one of the triples into the item.
    frontier = out_edges(torch.tensor([source]))[1].unsqueeze(1)
    paths = [frontier[tail[frontier[:, 0]] == target]]
    for hops in range(2, max_hops + 1):
        i, j = _join(tail[frontier[:, -1]], model.ckg_head[into])
        paths.append(torch.cat([frontier[i], into[j].unsqueeze(1)], 1))
        if hops < max_hops:
            owner, triple = out_edges(tail[frontier[:, -1]])
            frontier = torch.cat([frontier[owner], triple.unsqueeze(1)], 1)
    found = []
    for triples in paths:
        if triples.numel() == 0:
            continue
        nodes = torch.cat([torch.full((triples.size(0), 1), source), tail[triples]], 1)
        simple = (nodes.sort(1).values.diff(dim=1) != 0).all(1)
        if kg_only:
            simple &= (relation[triples] % n_base != 0).any(1)  # base relation 0 is interact
        triples, nodes = triples[simple], nodes[simple]
        scores = att[triples].prod(1)
        top = torch.topk(scores, min(k, scores.numel())).indices
        found += [(float(scores[p]), nodes[p], triples[p]) for p in top.tolist()]
    found.sort(key=lambda f: -f[0])
    return [AttentionPath(score, tuple(nodes.tolist()),
                          tuple(model.base_names[r % n_base] for r in relation[triples].tolist()),
                          tuple(r >= n_base for r in relation[triples].tolist()))
            for score, nodes, triples in found[:k]]

