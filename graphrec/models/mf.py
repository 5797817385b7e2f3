"""Matrix factorisation trained with BPR (MF-BPR, Rendle et al. 2009): the non-graph baseline."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from graphrec.models.base import Recommender
from graphrec.models.losses import bpr_loss, l2_reg


class MF(Recommender):
    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, dim: int = 64, reg: float = 1e-4,
                 init_std: float = 0.1):
        super().__init__(n_users, n_items, graph)
        self.dim, self.reg, self.init_std = int(dim), float(reg), float(init_std)
        self.user = nn.Embedding(n_users, self.dim)
        self.item = nn.Embedding(n_items, self.dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.user.weight, std=self.init_std)
        nn.init.normal_(self.item.weight, std=self.init_std)

    def hparams(self) -> dict:
        return {"dim": self.dim, "reg": self.reg, "init_std": self.init_std}

    def forward(self) -> tuple[Tensor, Tensor]:
        return self.user.weight, self.item.weight

    def loss(self, batch) -> Tensor:
        users, pos, neg = batch
        u, p, n = self.user(users), self.item(pos), self.item(neg)
        return bpr_loss((u * p).sum(1), (u * n).sum(1)) + self.reg * l2_reg(u, p, n)

    def score(self, users: Tensor) -> Tensor:
        return self.user(users) @ self.item.weight.t()
