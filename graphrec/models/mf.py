"""Matrix factorisation trained with BPR: :class:`MF` (its docstring gives the paper, defaults and deviations)."""

from __future__ import annotations

from torch import Tensor, nn

from graphrec.models.base import Recommender
from graphrec.models.losses import bpr_loss, l2_reg
from graphrec.models.negatives import many_negatives_loss, num_negatives_arg
from graphrec.models.space import Range


class MF(Recommender):
    """MF-BPR (Rendle et al., UAI 2009): matrix factorisation trained with BPR, the non-graph baseline.

    Free user and item embeddings scored by dot product, trained with BPR, -mean log σ(s_ui − s_uj), plus ``reg`` times
    LightGCN's L2 of the batch's embeddings (:func:`~graphrec.models.losses.l2_reg`). ``num_negatives`` > 1 scores each
    positive against that many uniformly drawn items (drawn inside ``loss``; the training loop's single negative is then
    unused) and averages BPR over them: the "MF-BPR" of the BARS Gowalla leaderboard (0.1627 / 0.1378), whose log shows
    300 negatives per positive at batch 256. The L2 term counts the negatives by their mean squared norm, so with one
    negative both forms are the same loss.

    Defaults: dim 64, reg 1e-4, N(0, 0.1) initialisation and one negative, the same as :class:`LightGCN`'s; the BPR
    paper sets none of them for these datasets. BARS's settings (300 negatives, N(0, 1e-4), whose first-epoch loss
    matches the BARS log) with reg 2e-3 chosen on a Gowalla holdout are ``--preset gowalla`` (benchmarks/HISTORY.md).

    Deviations: trained by graphrec's one loop (Adam over epochs of sampled triples), not the paper's LearnBPR (SGD over
    bootstrapped triples); ``num_negatives`` > 1 is BARS's form, not the paper's.
    """

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
