"""SimGCL: :class:`SimGCL` (its docstring gives the paper, defaults and deviations)."""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor

from graphrec.models.augment import uniform_noise
from graphrec.models.encoder import GraphEncoder
from graphrec.models.losses import bpr_loss, info_nce, l2_reg
from graphrec.models.propagation import lightgcn_rows, propagate_layers_rows
from graphrec.models.space import Range


class SimGCL(GraphEncoder):
    """SimGCL (Yu et al., SIGIR 2022): LightGCN contrasted with itself under uniform noise, no graph augmentation.

    The two views are the LightGCN encoder with small uniform noise added to every layer's output, Δ = eps · sign(e) ⊙
    normalize(U(0,1)) (:func:`~graphrec.models.augment.uniform_noise`). Final embedding: the mean of layers 1..L (the
    paper drops E0). Loss: BPR(clean encoder) + cl_rate · (InfoNCE_user + InfoNCE_item) + reg · L2(batch ego
    embeddings); InfoNCE on the batch's unique users / unique positive items with in-batch negatives, as in the paper
    and Coder-Yu/SELFRec model/graph/SimGCL.py.

    Defaults: SELFRec conf/SimGCL.yaml and RecBole-GNN SimGCL.yaml (Yelp2018): 2 layers, eps 0.1, cl_rate (λ) 0.5,
    temperature (τ) 0.2, reg 1e-4.

    Deviations: SELFRec's regulariser is reg · (unsquared) L2 norms of the *propagated* batch embeddings; here it is
    LightGCN's squared L2 of the ego embeddings, like every graphrec model.
    """

    not_data_parallel = ("its InfoNCE takes the batch's other users and items as negatives, so a shard would "
                         "contrast against its own rows only (gathering the views across processes is not built)")
    skip_ego = True

    search_space = {"cl_rate": Range(0.01, 1.0, log=True), "eps": (0.05, 0.1, 0.2), "temperature": (0.1, 0.2)}  # graphrec tune

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, dim: int = 64, num_layers: int = 2,
                 reg: float = 1e-4, eps: float = 0.1, cl_rate: float = 0.5, temperature: float = 0.2):
        super().__init__(n_users, n_items, graph, dim, num_layers)
        self.reg, self.eps, self.cl_rate, self.temperature = float(reg), float(eps), float(cl_rate), float(temperature)

    def hparams(self) -> dict:
        return {"dim": self.dim, "num_layers": self.num_layers, "reg": self.reg, "eps": self.eps,
                "cl_rate": self.cl_rate, "temperature": self.temperature}

    def _rows(self, nodes: Tensor) -> Tensor:
        """Rows of the clean mean over layers 1..L, via LightGCN's batch-rows propagation (which averages 0..L):
        mean_{1..L} = ((L + 1) * mean_{0..L} - E0) / L."""
        x, L = self.ego(), self.num_layers
        return ((L + 1) * lightgcn_rows(self.adjacency(), x, nodes, L) - x[nodes]) / L

    def loss(self, batch) -> Tensor:
        users, pos, neg = batch
        nodes, inverse = torch.unique(torch.cat([users, pos + self.n_users, neg + self.n_users]),
                                      return_inverse=True)
        u, p, n = self._rows(nodes)[inverse].split(users.numel())
        rec = bpr_loss((u * p).sum(1), (u * n).sum(1))
        # The two noisy views, at the batch's nodes only (their last layer is then a row block, not the whole graph).
        noise = partial(uniform_noise, eps=self.eps)
        v1, v2 = (self.combine(propagate_layers_rows(self.adjacency(), self.ego(), self.num_layers, nodes, noise))
                  for _ in range(2))
        b = users.numel()
        uu, pp = torch.unique(inverse[:b]), torch.unique(inverse[b:2 * b])  # the batch's unique users / positives
        cl = info_nce(v1[uu], v2[uu], self.temperature) + info_nce(v1[pp], v2[pp], self.temperature)
        return self.loss_parts(bpr=rec, cl=self.cl_rate * cl,
                               reg=self.reg * l2_reg(self.user(users), self.item(pos), self.item(neg)))
