"""SEPT: :class:`SEPT` (its docstring gives the paper, defaults and deviations)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrec.models.base import Recommender
from graphrec.models.losses import bpr_loss, info_nce_multi, l2_reg
from graphrec.models.propagation import sym_spmm
from graphrec.models.social import SparseOperator, friendships, interaction_matrix, social_matrix, sym_normalized
from graphrec.models.space import Range


class SEPT(Recommender):
    """SEPT (Yu et al., KDD 2021): socially-aware self-supervised tri-training.

    Three encoders share the user embeddings and each sees one view of the users:

    * preference: the user-item graph Â (the one that recommends);
    * friend: triangles of ties, sym-normalised (S S) ⊙ S + I;
    * sharing: ties whose users share an item, sym-normalised (Y Yᵀ) ⊙ S + I.

    Each encoder is LightGCN-style propagation with the propagated layers L2-normalised and summed with layer 0, as in
    the authors' code (Coder-Yu/QRec SEPT.py) and RecBole-GNN. A fourth, unlabeled-example view propagates over the
    joint user-item + social graph with a fraction ``drop_ratio`` of its edges dropped, redrawn every epoch. For the
    batch's users, each encoder gets pseudo-labels from the other two: the ``instance_cnt`` users of the unlabeled view
    they jointly find most similar (mean of their softmax-normalised cosine similarities), and is trained to pick those
    out with a multi-positive InfoNCE at temperature ``ssl_temp`` (:func:`graphrec.models.losses.info_nce_multi`). Loss:
    BPR + reg * L2(batch ego embeddings), plus ssl_weight * (sum of the three InfoNCE terms, summed over users) after
    ``warm_up_epochs`` epochs of the recommendation loss alone (counted by the training loop's ``on_epoch_start`` calls,
    and saved with the weights so that a resumed run keeps its place).

    Defaults: RecBole-GNN SEPT.yaml: dim 64, 2 layers, drop_ratio 0.3, instance_cnt 10, reg 1e-5, ssl_weight 1e-7,
    ssl_temp 0.1, warm-up 100 epochs; its BPR is a batch mean and its SSL a sum over the batch, like ours.

    Deviations: from the references, neither expected to move the numbers: the SSL runs over the batch's *distinct*
    users (as QRec; RecBole-GNN keeps duplicates), and the unlabeled view drops undirected ties whole, so the graph
    stays symmetric.
    """

    not_data_parallel = ("its tri-training term is a sum over the batch's distinct users, so the shards' weighted "
                         "gradients do not add up to the batch's")
    needs_graph = True
    needs_side = ("social",)

    search_space = {"ssl_weight": Range(1e-7, 1e-2, log=True), "warm_up_epochs": (0, 10, 50, 100),
                    "reg": Range(1e-6, 1e-3, log=True)}  # graphrec tune

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, side=None, dim: int = 64,
                 num_layers: int = 2, reg: float = 1e-5, ssl_weight: float = 1e-7, ssl_temp: float = 0.1,
                 drop_ratio: float = 0.3, instance_cnt: int = 10, warm_up_epochs: int = 100):
        super().__init__(n_users, n_items, graph)
        self.dim, self.num_layers, self.reg = int(dim), int(num_layers), float(reg)
        self.ssl_weight, self.ssl_temp, self.drop_ratio = float(ssl_weight), float(ssl_temp), float(drop_ratio)
        self.instance_cnt, self.warm_up_epochs = int(instance_cnt), int(warm_up_epochs)
        self.user = nn.Embedding(n_users, self.dim)
        self.item = nn.Embedding(n_items, self.dim)
        nn.init.xavier_uniform_(self.user.weight)
        nn.init.xavier_uniform_(self.item.weight)
        s = social_matrix(friendships(self, side), n_users)
        y = interaction_matrix(graph, n_users, n_items)
        eye = sp.identity(n_users, dtype=s.dtype, format="csr")
        self.friend_view = SparseOperator(sym_normalized((s @ s).multiply(s) + eye))
        self.sharing_view = SparseOperator(sym_normalized((y @ y.T).multiply(s) + eye))
        ties = sp.triu(s, k=1).tocoo()  # each undirected tie once, so a dropped tie goes in both directions
        self.ties = torch.stack([torch.from_numpy(ties.row).long(), torch.from_numpy(ties.col).long()])
        self.train_pairs = graph.long().cpu()
        self.register_buffer("epochs_started", torch.zeros((), dtype=torch.long))
        self.unlabeled = None  # this epoch's perturbed joint graph (a SparseOperator), drawn by on_epoch_start

    def hparams(self) -> dict:
        return {"dim": self.dim, "num_layers": self.num_layers, "reg": self.reg, "ssl_weight": self.ssl_weight,
                "ssl_temp": self.ssl_temp, "drop_ratio": self.drop_ratio, "instance_cnt": self.instance_cnt,
                "warm_up_epochs": self.warm_up_epochs}

    def encode(self, propagate, x: Tensor) -> Tensor:
        """x + sum over layers of the L2-normalised propagated embeddings."""
        out, h = x, x
        for _ in range(self.num_layers):
            h = propagate(h)
            out = out + F.normalize(h, dim=1)
        return out

    def forward(self) -> tuple[Tensor, Tensor]:
        adj = self.adjacency()
        out = self.encode(lambda h: sym_spmm(adj, h), torch.cat([self.user.weight, self.item.weight]))
        return out[:self.n_users], out[self.n_users:]

    @property
    def ssl_active(self) -> bool:
        return self.ssl_weight > 0 and int(self.epochs_started) > self.warm_up_epochs

    def on_epoch_start(self, generator: torch.Generator | None) -> None:
        """Count the epoch; past the warm-up, draw this epoch's unlabeled-example graph."""
        self.epochs_started += 1
        if self.ssl_active:
            self.unlabeled = SparseOperator(self.perturbed_joint_graph(generator)).to(self.user.weight.device)

    def perturbed_joint_graph(self, generator: torch.Generator | None) -> sp.csr_matrix:
        """Sym-normalised joint graph (users then items) keeping a random 1 - drop_ratio of the interactions and of
        the ties."""
        def keep(edges: Tensor) -> Tensor:
            n = edges.size(1)
            return edges[:, torch.randperm(n, generator=generator)[:int(n * (1.0 - self.drop_ratio))]]

        pairs, ties = keep(self.train_pairs), keep(self.ties)
        n = self.n_users + self.n_items
        rows = torch.cat([pairs[0], pairs[1] + self.n_users, ties[0], ties[1]]).numpy()
        cols = torch.cat([pairs[1] + self.n_users, pairs[0], ties[1], ties[0]]).numpy()
        joint = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, cols)), shape=(n, n))
        joint.data[:] = 1.0  # duplicated training pairs count once
        return sym_normalized(joint)

    def ssl_loss(self, users: Tensor, user_emb: Tensor) -> Tensor:
        """Tri-training: each view's encoder learns to discriminate the neighbours the other two agree on."""
        users = users.unique()
        x = self.user.weight
        unlabeled = self.encode(self.unlabeled, torch.cat([x, self.item.weight]))[users]
        views = [self.encode(self.friend_view, x)[users], self.encode(self.sharing_view, x)[users], user_emb[users]]
        with torch.no_grad():  # pseudo-labels are indices: no gradient flows through them
            aug = F.normalize(unlabeled, dim=1)
            probs = [torch.softmax(F.normalize(v, dim=1) @ aug.t(), dim=1) for v in views]
        k = min(self.instance_cnt, users.numel())
        total = x.new_zeros(())
        for i, view in enumerate(views):
            teachers = [p for j, p in enumerate(probs) if j != i]
            positives = torch.topk((teachers[0] + teachers[1]) / 2, k, dim=1).indices
            total = total + info_nce_multi(view, unlabeled, positives, self.ssl_temp)
        return total

    def loss(self, batch) -> Tensor:
        users, pos, neg = batch
        user_emb, item_emb = self()
        u = user_emb[users]
        parts = {"bpr": bpr_loss((u * item_emb[pos]).sum(1), (u * item_emb[neg]).sum(1)),
                 "reg": self.reg * l2_reg(self.user(users), self.item(pos), self.item(neg))}
        if self.ssl_active:
            if self.unlabeled is None:  # loss() outside the training loop: draw a graph from the global RNG
                self.unlabeled = SparseOperator(self.perturbed_joint_graph(None)).to(self.user.weight.device)
            parts["ssl"] = self.ssl_weight * self.ssl_loss(users, user_emb)
        return self.loss_parts(**parts)
