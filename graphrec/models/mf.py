"""Matrix factorisation trained with BPR (MF-BPR, Rendle et al. 2009): the non-graph baseline.

``num_negatives`` > 1 scores each positive against that many uniformly drawn items (drawn inside ``loss``; the
training loop's single negative is then unused) and averages BPR over them, -mean log σ(s_ui − s_uj): the "MF-BPR"
of the BARS Gowalla leaderboard (ANCHORS.md: 0.1627 / 0.1378), which its log shows trained with 300 negatives per
positive at batch 256. The L2 term counts the negatives' mean squared norm, so with one negative both forms are
the same loss.
"""

from __future__ import annotations

from torch import Tensor, nn

from graphrec.models.base import Recommender
from graphrec.models.losses import bpr_loss, l2_reg
from graphrec.models.negatives import many_negatives_loss, num_negatives_arg
from graphrec.models.space import Range


class MF(Recommender):
    search_space = {"reg": Range(1e-6, 1e-2, log=True)}  # graphrec tune

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, dim: int = 64, reg: float = 1e-4,
                 init_std: float = 0.1, num_negatives: int = 1):
        super().__init__(n_users, n_items, graph)
        self.dim, self.reg, self.init_std = int(dim), float(reg), float(init_std)
        self.num_negatives = num_negatives_arg("MF", num_negatives)
        self.user = nn.Embedding(n_users, self.dim)
        self.item = nn.Embedding(n_items, self.dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.user.weight, std=self.init_std)
        nn.init.normal_(self.item.weight, std=self.init_std)

    def hparams(self) -> dict:
        return {"dim": self.dim, "reg": self.reg, "init_std": self.init_std, "num_negatives": self.num_negatives}

    def forward(self) -> tuple[Tensor, Tensor]:
        return self.user.weight, self.item.weight

    def loss(self, batch) -> Tensor:
        users, pos, neg = batch
        if self.num_negatives == 1:
            u, p, n = self.user(users), self.item(pos), self.item(neg)
            return bpr_loss((u * p).sum(1), (u * n).sum(1)) + self.reg * l2_reg(u, p, n)
        return many_negatives_loss(self, users, pos)

    def score(self, users: Tensor) -> Tensor:
        return self.user(users) @ self.item.weight.t()
