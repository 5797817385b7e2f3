"""MHCN: :class:`MHCN` (its docstring gives the paper, defaults and deviations).

Also here: its motif adjacencies and its hierarchical mutual-information loss.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrec.models.base import Recommender
from graphrec.models.losses import bpr_loss, l2_reg
from graphrec.models.social import (SparseOperator, bipartite_sym_normalized, friendships, interaction_matrix,
                                    row_normalized, social_matrix)
from graphrec.models.space import Range


def motif_adjacencies(social: Tensor, pairs: Tensor, n_users: int, n_items: int,
                      min_shared: int = 1) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
    """MHCN's motif-induced adjacencies (social, joint, purchase), unnormalised: entry (u, v) counts the motif
    instances that contain both users u and v.

    * social, M1-M7: triangles of three users whose every pair is tied. The seven motifs are the seven ways of
      directing such a triangle's ties (each one-way or mutual), so their sum is one count of triangles over the
      undirected ties T: (T T) ⊙ T, equal to the sum of the paper's seven per-motif matrix formulas.
    * joint, M8 (mutual tie) + M9 (one-way tie): tied users u, v and an item both interacted with: (Y Yᵀ) ⊙ T.
    * purchase, M10: users u != v, not tied, and an item both interacted with: (Y Yᵀ) ⊙ (1 - T), no diagonal;
      pairs sharing fewer than ``min_shared`` items are dropped (1 keeps every M10 instance).

    ``social`` is a (2, S) edge list u -> v, directed or not; ``pairs`` the (2, E) training interactions."""
    s = social_matrix(social, n_users)
    tied = sp.csr_matrix(((s + s.T) > 0).astype(np.float32))
    y = interaction_matrix(pairs, n_users, n_items)
    shared = sp.csr_matrix(y @ y.T)
    social_adj = sp.csr_matrix((tied @ tied).multiply(tied))
    joint = sp.csr_matrix(shared.multiply(tied))
    purchase = sp.csr_matrix(shared - joint - sp.diags(shared.diagonal()))
    if min_shared > 1:
        purchase = sp.csr_matrix(purchase.multiply(purchase >= min_shared))
    for m in (social_adj, joint, purchase):
        m.eliminate_zeros()
    return social_adj, joint, purchase


def hierarchical_mi_loss(p: Tensor, z: Tensor, row_perm: Tensor, col_perm: Tensor) -> Tensor:
    """MHCN's hierarchical mutual-information loss for one channel, summed over users:
    -log σ(p_u.z_u - p_u.z̃_u) (user vs. its sub-hypergraph) - log σ(z_u.h - z̃_u.h) (sub-hypergraph vs. hypergraph),
    h = mean_u z_u, z̃ = z with rows permuted by ``row_perm`` then columns by ``col_perm`` (the corruption)."""
    corrupted = z[row_perm][:, col_perm]
    graph = z.mean(dim=0)
    local = (p * z).sum(1) - (p * corrupted).sum(1)
    global_ = z @ graph - corrupted @ graph
    return F.softplus(-local).sum() + F.softplus(-global_).sum()  # -log σ(x) = softplus(-x)


class _SelfGate(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.linear = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(self.linear(x))


class MHCN(Recommender):
    """MHCN (Yu et al., WWW 2021): self-supervised multi-channel hypergraph convolution for social recommendation.

    Three user-user channels, each a hypergraph whose hyperedges are instances of a family of motifs (triangles mixing
    ties and interactions), convolved with its row-normalised motif-induced adjacency H_c = D_c⁻¹ A_c (see
    :func:`motif_adjacencies`); a fourth "simple" channel is the user-item graph. Per layer l (L layers):

        P_c^0 = gate_c(P),  P_c^{l+1} = H_c P_c^l                      c in social, joint, purchase
        P_r^0 = gate_r(P),  P_r^{l+1} = R Q^l,   Q^{l+1} = Rᵀ (att(P_s^l, P_j^l, P_p^l) + P_r^l / 2)
        user = att(sum_l P_s^l, sum_l P_j^l, sum_l P_p^l) + (sum_l P_r^l) / 2,   item = sum_l Q^l

    with gate(x) = x ⊙ σ(x W + b) (self-gating), att a softmax over channels of aᵀ W_att p_c per user, R = D_u^-1/2 Y
    D_i^-1/2, and every propagated layer (l >= 1) L2-normalised before the sums, as in the authors' code (Coder-Yu/QRec)
    and RecBole-GNN. Loss: BPR + ssl_reg * L_s + reg * L2(batch ego embeddings), where for each channel p =
    ssl_gate_c(user), z_u = (H_c p)_u the user's sub-hypergraph, h = mean_u z_u the hypergraph, and z̃ a row- and
    column-shuffled Z (:func:`hierarchical_mi_loss`).

    Defaults: dim 64, 2 layers, ssl_reg 1e-5, reg 1e-5 (RecBole-GNN MHCN.yaml; its BPR is a batch mean like ours, and
    L_s a sum over users); ``purchase_min_shared=1`` keeps every M10 instance, as the paper.

    Deviations: none known from the paper. Both references (QRec, RecBole-GNN) depart from it in ways that change
    numbers, and graphrec follows the paper:

    * the purchase channel A_p counts pairs u != v that share an item and are not tied (motif M10). The references
      compute YYᵀ - A_M8 - A_M9, which keeps the diagonal (a self-loop weighted by the user's item count), and then keep
      only entries > 1 (pairs sharing >= 2 items). ``purchase_min_shared=2`` applies that threshold (not the self-loop):
      on large catalogues it makes A_p far sparser (Yelp: 2.7M -> 148k entries) and training much faster;
    * the local MI term ranks p_u . z_u above p_u . z̃_u; the references rank p_u . z_u > p̃_u . z_u > p_u . z̃_u with
      an extra row-shuffled P.

    QRec's extra L2 on the gating/attention weights is left out, as in RecBole-GNN.
    """

    needs_graph = True
    needs_side = ("social",)

    search_space = {"num_layers": (1, 2, 3), "ssl_reg": Range(1e-6, 1e-2, log=True), "reg": Range(1e-6, 1e-3, log=True)}  # graphrec tune

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, side=None, dim: int = 64,
                 num_layers: int = 2, ssl_reg: float = 1e-5, reg: float = 1e-5, purchase_min_shared: int = 1):
        super().__init__(n_users, n_items, graph)
        self.dim, self.num_layers, self.ssl_reg, self.reg = int(dim), int(num_layers), float(ssl_reg), float(reg)
        self.purchase_min_shared = int(purchase_min_shared)
        self.user = nn.Embedding(n_users, self.dim)
        self.item = nn.Embedding(n_items, self.dim)
        self.gates = nn.ModuleList(_SelfGate(self.dim) for _ in range(4))  # social, joint, purchase, simple
        self.ssl_gates = nn.ModuleList(_SelfGate(self.dim) for _ in range(3))
        self.att_vector = nn.Parameter(torch.empty(1, self.dim))
        self.att_matrix = nn.Parameter(torch.empty(self.dim, self.dim))
        adjacencies = motif_adjacencies(friendships(self, side), graph, n_users, n_items, self.purchase_min_shared)
        self.hypergraphs = nn.ModuleList(SparseOperator(row_normalized(a)) for a in adjacencies)
        r = bipartite_sym_normalized(interaction_matrix(graph, n_users, n_items))
        self.items_to_users, self.users_to_items = SparseOperator(r), SparseOperator(r.T)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for weight in [self.user.weight, self.item.weight, self.att_vector, self.att_matrix,
                       *(g.linear.weight for g in [*self.gates, *self.ssl_gates])]:
            nn.init.xavier_uniform_(weight)
        for gate in [*self.gates, *self.ssl_gates]:
            nn.init.zeros_(gate.linear.bias)

    def hparams(self) -> dict:
        return {"dim": self.dim, "num_layers": self.num_layers, "ssl_reg": self.ssl_reg, "reg": self.reg,
                "purchase_min_shared": self.purchase_min_shared}

    def attention(self, *channels: Tensor) -> Tensor:
        """Per user, a softmax over channels of aᵀ W_att p_c, and the weighted sum of the channels."""
        scores = torch.stack([(c @ self.att_matrix * self.att_vector).sum(1) for c in channels], dim=1)
        weights = torch.softmax(scores, dim=1)
        return sum(weights[:, k:k + 1] * c for k, c in enumerate(channels))

    def forward(self) -> tuple[Tensor, Tensor]:
        p, q = self.user.weight, self.item.weight
        channels = [gate(p) for gate in self.gates[:3]]
        simple = self.gates[3](p)
        channel_sums, simple_sum, item_sum = list(channels), simple, q
        for _ in range(self.num_layers):
            mixed = self.attention(*channels) + simple / 2
            channels = [h(c) for h, c in zip(self.hypergraphs, channels)]
            channel_sums = [total + F.normalize(c, dim=1) for total, c in zip(channel_sums, channels)]
            simple, q = self.items_to_users(q), self.users_to_items(mixed)
            simple_sum = simple_sum + F.normalize(simple, dim=1)
            item_sum = item_sum + F.normalize(q, dim=1)
        return self.attention(*channel_sums) + simple_sum / 2, item_sum

    def ssl_loss(self, user_emb: Tensor) -> Tensor:
        """L_s over the three channels; the corruptions draw from the global RNG (seeded per epoch by the loop)."""
        total = user_emb.new_zeros(())
        for gate, hypergraph in zip(self.ssl_gates, self.hypergraphs):
            p = gate(user_emb)
            row_perm = torch.randperm(p.size(0), device=p.device)
            col_perm = torch.randperm(p.size(1), device=p.device)
            total = total + hierarchical_mi_loss(p, hypergraph(p), row_perm, col_perm)
        return total

    def loss(self, batch) -> Tensor:
        users, pos, neg = batch
        user_emb, item_emb = self()
        u = user_emb[users]
        bpr = bpr_loss((u * item_emb[pos]).sum(1), (u * item_emb[neg]).sum(1))
        return self.loss_parts(bpr=bpr, ssl=self.ssl_reg * self.ssl_loss(user_emb),
                               reg=self.reg * l2_reg(self.user(users), self.item(pos), self.item(neg)))
