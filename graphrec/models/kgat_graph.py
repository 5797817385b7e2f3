"""KGAT's collaborative knowledge graph (CKG) and the sparse and relational pieces its layers need.

The CKG (Wang et al., KDD 2019, §2.2) holds the training interactions as facts ``(user, interact, item)``, the KG facts
of :class:`graphrec.sidegraphs.SideGraphs`, and the inverse of every fact as a relation of its own, over the global
node space (users ``0..U-1``, items ``U..U+I-1``, entities after). Relation ids: ``0`` interact, ``1..R`` the KG
relations, ``R+1`` interact's inverse, ``R+2..2R+1`` the KG inverses. Triples are kept sorted by (head, tail,
relation): they are the entries of a CSR matrix whose row ``h`` lists ``h``'s out-neighbours, the set the attention
is normalised over.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from graphrec.models.losses import l2_reg
from graphrec.sidegraphs import SideGraphs

INTERACT = "interact"


@dataclass(frozen=True)
class CKG:
    head: Tensor  # (T,) sorted; with tail and relation the T triples
    relation: Tensor  # (T,) CKG relation ids (see the module docstring)
    tail: Tensor  # (T,)
    key: Tensor  # (T,) sorted (head * N + tail) * n_relations + relation: membership tests for negative sampling
    crow: Tensor  # (N + 1,) row pointers over heads
    transpose: Tensor  # (T,) the triples' order sorted by (tail, head): the entries of the transposed matrix
    transpose_crow: Tensor  # (N + 1,) row pointers over tails
    n_nodes: int
    base_names: tuple[str, ...]  # ("interact", *KG relation names); CKG relation r names base_names[base(r)]

    @property
    def n_relations(self) -> int:
        return 2 * len(self.base_names)

    def base(self, relation: Tensor | int):
        """The relation a CKG relation id is (the inverse of) as an index into ``base_names``."""
        return relation % len(self.base_names)

    def is_inverse(self, relation: Tensor | int):
        return relation >= len(self.base_names)


def _row_pointers(rows: Tensor, n: int) -> Tensor:
    crow = torch.zeros(n + 1, dtype=torch.long)
    torch.cumsum(torch.bincount(rows, minlength=n), 0, out=crow[1:])
    return crow


def collaborative_kg(train: Tensor, side: SideGraphs) -> CKG:
    """The CKG of the (2, E) training (user, item) pairs and ``side.kg``; duplicate triples are kept once."""
    n, n_base = side.n_nodes, side.n_relations + 1
    users, items = train[0].long(), train[1].long() + side.n_users
    head = torch.cat([users, side.kg[0]])
    tail = torch.cat([items, side.kg[2]])
    relation = torch.cat([torch.zeros_like(users), side.kg[1] + 1])
    head, tail, relation = torch.cat([head, tail]), torch.cat([tail, head]), torch.cat([relation, relation + n_base])
    key = torch.unique((head * n + tail) * (2 * n_base) + relation)  # sorted: by head, then tail, then relation
    relation, pair = key % (2 * n_base), key // (2 * n_base)
    head, tail = pair // n, pair % n
    transpose = torch.argsort(tail * n + head, stable=True)
    return CKG(head, relation, tail, key, _row_pointers(head, n), transpose, _row_pointers(tail, n), n,
               (INTERACT, *side.relation_names))


def row_softmax(scores: Tensor, rows: Tensor, n_rows: int) -> Tensor:
    """Softmax of ``scores`` within each group of equal ``rows`` (each head's neighbours), eq. (5) of the paper."""
    top = scores.new_full((n_rows,), -torch.inf).scatter_reduce_(0, rows, scores, "amax")
    e = (scores - top[rows]).exp()
    return e / scores.new_zeros(n_rows).index_add_(0, rows, e)[rows]


def project(x: Tensor, relation: Tensor, transfer: Tensor) -> Tensor:
    """Row i of ``x`` times ``transfer[relation[i]]`` (TransR's W_r), one matmul per relation present: gathering a
    (d, k) matrix per row would cost B*d*k memory, and a product with all relations' matrices R times the flops."""
    order = torch.argsort(relation, stable=True)
    counts = torch.bincount(relation, minlength=transfer.size(0))
    present = torch.nonzero(counts).flatten().tolist()
    weights = transfer.unbind(0)  # one autograd node for all relations, not a full-size zero gradient per slice
    chunks = x[order].split(counts[present].tolist())
    out = torch.cat([chunk @ weights[r] for chunk, r in zip(chunks, present)])
    return out[torch.argsort(order)]


def transr_loss(head: Tensor, relation: Tensor, pos_tail: Tensor, neg_tail: Tensor, reg: float) -> Tensor:
    """Eq. (1)-(2): g(h,r,t) = ||W_r e_h + e_r - W_r e_t||², loss mean -ln σ(g(h,r,t') - g(h,r,t)) + reg * L2.
    Arguments are already projected (``project``); the L2 is on the same four terms as the authors' code."""
    pos = (head + relation - pos_tail).pow(2).sum(1)
    neg = (head + relation - neg_tail).pow(2).sum(1)
    return F.softplus(pos - neg).mean() + reg * l2_reg(head, relation, pos_tail, neg_tail)
