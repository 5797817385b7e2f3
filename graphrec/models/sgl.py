"""SGL: :class:`SGL` (its docstring gives the paper, defaults and deviations)."""

from __future__ import annotations

import torch
from torch import Tensor

from graphrec.errors import ModelError
from graphrec.models.augment import sgl_views
from graphrec.models.encoder import GraphEncoder
from graphrec.models.losses import bpr_loss, info_nce_nodes, l2_reg
from graphrec.models.propagation import lightgcn_rows
from graphrec.models.space import Range


def _to(view, device):
    return [v.to(device) for v in view] if isinstance(view, list) else view.to(device)


class SGL(GraphEncoder):
    """SGL (Wu et al., SIGIR 2021): LightGCN + InfoNCE between two stochastic graph views of every node.

    Views (resampled once per epoch through ``on_epoch_start``, as in the authors' code): "nd" node dropout, "ed" edge
    dropout (the paper's best on most data), "rw" random walk (an independent edge dropout per layer); each view is
    re-normalised with its own degrees. Both views and the main graph use LightGCN's layer mean over 0..L. Loss: BPR +
    ssl_reg · (InfoNCE_user + InfoNCE_item) + reg · L2(batch ego embeddings), on the batch's users and positive items;
    as in the paper and wujcan/SGL-Torch, a node's negatives are *all* nodes of its type in the second view, not only
    the batch's.

    Defaults: wujcan/SGL-Torch conf/SGL.ini: aug_type ED, ssl_ratio 0.1, ssl_temp 0.2, ssl_reg 0.1, 3 layers, reg 1e-4.

    Deviations: none known from the paper and SGL-Torch. (SELFRec's SGL instead merges users and items into one InfoNCE
    with in-batch negatives; graphrec follows the paper.)
    """

    search_space = {"ssl_reg": Range(0.01, 1.0, log=True), "ssl_temp": (0.1, 0.2, 0.5), "ssl_ratio": (0.1, 0.2, 0.3)}  # graphrec tune

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, dim: int = 64, num_layers: int = 3,
                 reg: float = 1e-4, aug_type: str = "ed", ssl_ratio: float = 0.1, ssl_temp: float = 0.2,
                 ssl_reg: float = 0.1):
        super().__init__(n_users, n_items, graph, dim, num_layers)
        self.reg, self.aug_type, self.ssl_ratio = float(reg), str(aug_type), float(ssl_ratio)
        self.ssl_temp, self.ssl_reg = float(ssl_temp), float(ssl_reg)
        if self.aug_type not in ("nd", "ed", "rw"):
            raise ModelError(f"SGL: aug_type must be one of 'nd', 'ed', 'rw', got {aug_type!r}")
        if not 0.0 <= self.ssl_ratio < 1.0:
            raise ModelError(f"SGL: ssl_ratio must be in [0, 1), got {ssl_ratio}")
        self.train_pairs = graph.long().cpu()  # the views are rebuilt from it every epoch
        self.views = None

    def hparams(self) -> dict:
        return {"dim": self.dim, "num_layers": self.num_layers, "reg": self.reg, "aug_type": self.aug_type,
                "ssl_ratio": self.ssl_ratio, "ssl_temp": self.ssl_temp, "ssl_reg": self.ssl_reg}

    def on_epoch_start(self, generator: torch.Generator | None) -> None:
        """Draw this epoch's two views (called by the training loop before the epoch's first batch)."""
        self.views = tuple(_to(sgl_views(self.aug_type, self.train_pairs, self.n_users, self.n_items,
                                         self.ssl_ratio, self.num_layers, generator), self.adj_crow.device)
                           for _ in range(2))

    def loss(self, batch) -> Tensor:
        users, pos, neg = batch
        if self.views is None:  # loss() called outside the training loop: draw views from the global RNG
            self.on_epoch_start(None)
        x = self.ego()
        nodes, inverse = torch.unique(torch.cat([users, pos + self.n_users, neg + self.n_users]),
                                      return_inverse=True)
        u, p, n = lightgcn_rows(self.adjacency(), x, nodes, self.num_layers)[inverse].split(users.numel())
        rec = bpr_loss((u * p).sum(1), (u * n).sum(1))
        view1, view2 = (self.combine(self.layers(adj=v)) for v in self.views)
        (u1, i1), (u2, i2) = self.split(view1), self.split(view2)
        ssl = info_nce_nodes(u1, u2, u2, users, self.ssl_temp) + info_nce_nodes(i1, i2, i2, pos, self.ssl_temp)
        return self.loss_parts(bpr=rec, ssl=self.ssl_reg * ssl,
                               reg=self.reg * l2_reg(self.user(users), self.item(pos), self.item(neg)))
