"""LightGCN: :class:`LightGCN` (its docstring gives the paper, defaults and deviations)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from graphrec.models.base import Recommender
from graphrec.models.losses import bpr_loss, l2_reg
from graphrec.models.negatives import many_negatives_loss, num_negatives_arg
from graphrec.models.propagation import lightgcn_propagate, lightgcn_rows
from graphrec.models.space import Range


class LightGCN(Recommender):
    """LightGCN (He et al., SIGIR 2020): linear propagation over the normalised graph, no weights, no non-linearity.

    E = Σ_l α_l Â^l E0 over layers 0..L with α_l = 1/(L+1), Â the symmetrically normalised user–item adjacency; score =
    user · item. Loss: BPR + ``reg`` · L2 of the batch's ego (layer-0) embeddings; a training step propagates to the
    batch's nodes only (:func:`~graphrec.models.propagation.lightgcn_rows`: the same values and gradients as
    ``forward()``).

    Defaults: the paper's Gowalla setting, dim 64, 3 layers, L2 1e-4; N(0, 0.1) initialisation as in the authors'
    PyTorch code (gusye1234/LightGCN-PyTorch). The faster Gowalla schedule (64 negatives, batch 16384, reg 2e-4 chosen
    on a holdout) is ``--preset gowalla``. On two small shared datasets these defaults fall below MF on validation
    (Recall@20, patience 10: FilmTrust 0.8089 against 0.8101, ML-100K 0.2561 against 0.3075) where 1 layer beats it
    (0.8143, 0.3401). The defaults stay the paper's, which the published rows and presets use; the search space covers
    1 layer, and ``graphrec tune`` chose it on both (BENCHMARKS.md, "Budgeted search").

    Deviations: none at the defaults. ``num_negatives`` > 1 (not the paper's: it trains BPR with one negative) averages
    BPR over that many uniformly drawn items per positive, scored against the whole propagated item table (drawn inside
    ``loss``; the training loop's single negative is then unused), the negatives' ego embeddings in the L2 term by their
    mean squared norm. More negatives per step make each epoch teach more, for a faster schedule than the paper's 1000
    epochs (BENCHMARKS.md).
    """

    needs_graph = True

    search_space = {"num_layers": (1, 2, 3, 4), "reg": Range(1e-6, 1e-2, log=True)}  # graphrec tune

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, dim: int = 64,
                 num_layers: int = 3, reg: float = 1e-4, init_std: float = 0.1, num_negatives: int = 1):
        super().__init__(n_users, n_items, graph)
        self.dim, self.num_layers, self.reg, self.init_std = int(dim), int(num_layers), float(reg), float(init_std)
        self.num_negatives = num_negatives_arg("LightGCN", num_negatives)
        self.user = nn.Embedding(n_users, self.dim)
        self.item = nn.Embedding(n_items, self.dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.user.weight, std=self.init_std)
        nn.init.normal_(self.item.weight, std=self.init_std)

    def hparams(self) -> dict:
        return {"dim": self.dim, "num_layers": self.num_layers, "reg": self.reg, "init_std": self.init_std,
                "num_negatives": self.num_negatives}

    def forward(self) -> tuple[Tensor, Tensor]:
        x = torch.cat([self.user.weight, self.item.weight])
        out = lightgcn_propagate(self.adjacency(), x, self.num_layers)
        return out[:self.n_users], out[self.n_users:]

    def loss(self, batch) -> Tensor:
        users, pos, neg = batch
        if self.num_negatives > 1:
            return many_negatives_loss(self, users, pos)
        # Propagate only to the batch's nodes (see LightGCNRows): same values and gradients as forward(), cheaper.
        nodes, inverse = torch.unique(torch.cat([users, pos + self.n_users, neg + self.n_users]),
                                      return_inverse=True)
        x = torch.cat([self.user.weight, self.item.weight])
        out, ego = lightgcn_rows(self.adjacency(), x, nodes, self.num_layers, with_ego=True)
        u, p, n = out[inverse].split(users.numel())
        bpr = bpr_loss((u * p).sum(1), (u * n).sum(1))
        return bpr + self.reg * l2_reg(*ego[inverse].split(users.numel()))
