"""UltraGCN: :class:`UltraGCN` (its docstring gives the paper, defaults and deviations).

Also here: its β weights and item–item neighbours. The negatives' scores are computed by compiled loops over the
indices (:func:`~graphrec.models.negatives.negative_scores`), so no batch × negative_num × dim block is gathered.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrec.compiled.kernels import coo as sparse_coo, csr
from graphrec.models.base import Recommender
from graphrec.models.negatives import negative_scores, uniform_negatives
from graphrec.models.space import Range


def beta_weights(users: Tensor, items: Tensor, n_users: int, n_items: int) -> tuple[Tensor, Tensor]:
    """(beta_user, beta_item) with β_{u,i} = beta_user[u] * beta_item[i] = (1/d_u) sqrt((d_u+1)/(d_i+1))."""
    du = torch.bincount(users, minlength=n_users).double()
    di = torch.bincount(items, minlength=n_items).double()
    beta_user = torch.where(du > 0, (du + 1).sqrt() / du.clamp(min=1), torch.zeros_like(du))
    return beta_user.float(), (1 / (di + 1).sqrt()).float()


def item_neighbours(users: Tensor, items: Tensor, n_users: int, n_items: int, k: int,
                    chunk: int = 512) -> tuple[Tensor, Tensor]:
    """Top-``k`` item–item neighbours (indices, ω weights), each (n_items, k), by the paper's ω on G = AᵀA.
    G is never materialised: it is computed ``chunk`` columns at a time (Gowalla's 41k² would be 6.7 GB).
    For binary A, G_ii = d_i and g_i = Σ_k G_ik = Σ_{u ∈ N(i)} d_u."""
    ones = torch.ones(users.numel())
    coo = sparse_coo(torch.stack([items, users]), ones, (n_items, n_users)).coalesce()
    crow = torch.zeros(n_items + 1, dtype=torch.long)
    torch.cumsum(torch.bincount(coo.indices()[0], minlength=n_items), 0, out=crow[1:])
    a_t = csr(crow, coo.indices()[1], coo.values(), n_items, n_users)
    d_user = torch.bincount(users, minlength=n_users).double()
    d_item = torch.bincount(items, minlength=n_items).double()
    g_sum = torch.zeros(n_items, dtype=torch.float64).index_add_(0, items, d_user[users])
    k = min(k, max(n_items - 1, 1))
    idx, weights = torch.zeros(n_items, k, dtype=torch.long), torch.zeros(n_items, k)
    for start in range(0, n_items, chunk):
        stop = min(start + chunk, n_items)
        in_chunk = (items >= start) & (items < stop)
        a_cols = torch.zeros(n_users, stop - start)
        a_cols[users[in_chunk], items[in_chunk] - start] = 1.0
        g = (a_t @ a_cols).t().double()  # G[start:stop, :]
        rows = torch.arange(start, stop)
        omega = g / (g_sum[rows] - d_item[rows]).clamp(min=1e-12).unsqueeze(1) * \
            (g_sum[rows].unsqueeze(1) / g_sum.clamp(min=1e-12)).sqrt()
        omega[torch.arange(stop - start), rows] = 0.0  # j != i
        w, j = omega.topk(k, dim=1)
        idx[start:stop], weights[start:stop] = j, w.float()
    return idx, weights


class UltraGCN(Recommender):
    """UltraGCN (Mao et al., CIKM 2021): infinite-layer graph convolution approximated by constraint losses on MF.

    No message passing: constraint losses act on plain embeddings, and scores are dot products, as for MF.

    * User–item constraint: weighted binary cross-entropy with β_{u,i} = (1/d_u) sqrt((d_u + 1) / (d_i + 1)) (the
      paper's closed form, d = training degrees): positives weighted w1 + w2 β_{u,i}, ``negative_num`` uniformly drawn
      negatives per positive weighted w3 + w4 β_{u,j}, their mean scaled by ``negative_weight``.
    * Item–item constraint: for each positive item i, its ``ii_neighbors`` top neighbours j in the co-occurrence graph G
      = AᵀA by ω_{i,j} = G_ij / (g_i − G_ii) · sqrt(g_i / g_j), g_i = Σ_k G_ik (j ≠ i), loss −ω_{i,j} log σ(e_u · e_j).

    Loss: L_C + lambda_ii L_I + gamma ||Θ||² / 2, summed over the batch as in the reference (with the N(0, 1e-4)
    initialisation a batch mean gives per-interaction gradients near Adam's eps, 1e-8, where Adam is not scale-free).
    Negatives are drawn inside ``loss`` from torch's global RNG, which the training loop seeds per epoch; the loop's one
    BPR negative is not used. Training first sits on a plateau (every score negative, the ranking close to popularity)
    before it climbs, as in the authors' own logs (~20 epochs on ML-1M at lr 1e-3, ~190 in their Amazon-Electronics
    log): early stopping needs ``min_epochs`` (or a large patience) past it, or it stops on the plateau (BENCHMARKS.md).

    Defaults: the authors' Gowalla setting: w1 1e-6, w2 1, w3 1e-6, w4 1, negative_weight 300, gamma 1e-4, lambda_ii
    5e-4 (as hard-coded in a TensorFlow port of xue-pai/UltraGCN), negative_num 1500, ii_neighbors 10, init N(0, 1e-4)
    (the same plus these in MTandHJ's freerec UltraGCN for Gowalla_m1); the authors' Gowalla config also sets batch 512
    and lr 1e-4.

    Deviations: the reference code scores item–item neighbours with the β form above on G (keeping the diagonal, so an
    item is often its own neighbour); graphrec follows the paper's ω, excluding j = i.
    """

    not_data_parallel = ("its constraint and item-item terms are sums over the batch, not means, so the shards' "
                         "weighted gradients do not add up to the batch's")
    needs_graph = True

    search_space = {"negative_weight": (10.0, 100.0, 300.0), "gamma": Range(1e-5, 1e-3, log=True),
                    "lambda_ii": Range(1e-5, 1e-2, log=True)}  # graphrec tune

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, dim: int = 64, w1: float = 1e-6,
                 w2: float = 1.0, w3: float = 1e-6, w4: float = 1.0, negative_num: int = 1500,
                 negative_weight: float = 300.0, gamma: float = 1e-4, lambda_ii: float = 5e-4, ii_neighbors: int = 10,
                 init_std: float = 1e-4):
        super().__init__(n_users, n_items, graph)
        self.dim, self.w1, self.w2, self.w3, self.w4 = int(dim), float(w1), float(w2), float(w3), float(w4)
        self.negative_num, self.negative_weight = int(negative_num), float(negative_weight)
        self.gamma, self.lambda_ii, self.ii_neighbors, self.init_std = float(gamma), float(lambda_ii), \
            int(ii_neighbors), float(init_std)
        self.user = nn.Embedding(n_users, self.dim)
        self.item = nn.Embedding(n_items, self.dim)
        nn.init.normal_(self.user.weight, std=self.init_std)
        nn.init.normal_(self.item.weight, std=self.init_std)
        users, items = graph[0].long().cpu(), graph[1].long().cpu()
        beta_user, beta_item = beta_weights(users, items, n_users, n_items)
        ii_idx, ii_weight = item_neighbours(users, items, n_users, n_items, self.ii_neighbors)
        for name, value in (("beta_user", beta_user), ("beta_item", beta_item), ("ii_idx", ii_idx),
                            ("ii_weight", ii_weight)):
            self.register_buffer(name, value.to(self.adj_crow.device), persistent=False)

    def hparams(self) -> dict:
        return {"dim": self.dim, "w1": self.w1, "w2": self.w2, "w3": self.w3, "w4": self.w4,
                "negative_num": self.negative_num, "negative_weight": self.negative_weight, "gamma": self.gamma,
                "lambda_ii": self.lambda_ii, "ii_neighbors": self.ii_neighbors, "init_std": self.init_std}

    def forward(self) -> tuple[Tensor, Tensor]:
        return self.user.weight, self.item.weight

    def loss(self, batch) -> Tensor:
        users, pos, _ = batch
        neg = uniform_negatives(users, self.n_items, self.negative_num)
        u = self.user(users)
        pos_scores = (u * self.item(pos)).sum(-1)
        neg_scores = negative_scores(u, self.item.weight, neg)
        bu = self.beta_user[users]
        pos_w = self.w1 + self.w2 * bu * self.beta_item[pos]
        neg_w = self.w3 + self.w4 * bu.unsqueeze(1) * self.beta_item[neg]
        constraint = F.binary_cross_entropy_with_logits(pos_scores, torch.ones_like(pos_scores), pos_w,
                                                        reduction="sum") + \
            self.negative_weight * F.binary_cross_entropy_with_logits(
                neg_scores, torch.zeros_like(neg_scores), neg_w, reduction="none").mean(1).sum()
        neighbours = self.item(self.ii_idx[pos])  # (B, k, d)
        item_item = -(self.ii_weight[pos] * F.logsigmoid(torch.einsum("bd,bkd->bk", u, neighbours))).sum()
        norm = sum(p.pow(2).sum() for p in self.parameters()) / 2
        return self.loss_parts(constraint=constraint, item_item=self.lambda_ii * item_item, norm=self.gamma * norm)
