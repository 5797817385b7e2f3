"""NCL: :class:`NCL` (its docstring gives the paper, defaults and deviations) and the k-means it clusters with."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from graphrec.errors import ModelError
from graphrec.models.encoder import GraphEncoder
from graphrec.models.losses import bpr_loss, info_nce_nodes, l2_reg
from graphrec.models.propagation import propagate_layers
from graphrec.models.space import Range


def kmeans(x: Tensor, k: int, iters: int = 20, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Lloyd's k-means (squared Euclidean), initialised with ``k`` distinct rows drawn by ``generator``.
    Returns (centroids (k, d), assignment (n,)). An emptied cluster keeps its previous centroid."""
    k = min(int(k), x.size(0))
    centroids = x[torch.randperm(x.size(0), generator=generator)[:k].to(x.device)].clone()
    for _ in range(iters):
        assign = torch.cdist(x, centroids).argmin(1)
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).unsqueeze(1).to(x.dtype)
        centroids = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
    return centroids, torch.cdist(x, centroids).argmin(1)


class NCL(GraphEncoder):
    """NCL (Lin et al., WWW 2022): LightGCN + structural and semantic (prototype) neighbourhood contrasts.

    * Structural neighbours: a node's layer-2k output (k = ``hyper_layers``; even layers of a bipartite graph reach
      nodes of the same type) is pulled towards its own layer-0 embedding, against the layer-0 embeddings of *all* nodes
      of its type: L_S = L_S^user + alpha · L_S^item.
    * Semantic (prototype) neighbours: k-means on the layer-0 embeddings (re-run each epoch by ``on_epoch_start``),
      centroids L2-normalised; a node's layer-0 embedding is pulled towards its cluster's centroid, against all
      centroids: L_P = L_P^user + L_P^item, active after ``warm_up_epochs`` epochs.

    Loss: BPR + reg · L2(batch ego) + ssl_reg · L_S + proto_reg · L_P on the batch's users and positive items, with L_S
    and L_P *summed* over the batch as in the paper and RUCAIBox/NCL ncl.py (hence the tiny weights).

    Defaults: RUCAIBox/NCL and RecBole-GNN: 3 layers, reg 1e-4, ssl_temp 0.1, ssl_reg 1e-7, proto_reg 8e-8, alpha 1,
    hyper_layers 1, 1000 clusters, 20 warm-up epochs. ``kmeans_iters`` (20 Lloyd steps) belongs to graphrec's k-means;
    where the number comes from is not recorded.

    Deviations: a seeded torch k-means (:func:`kmeans`) stands in for faiss; the number of clusters is capped at the
    number of nodes of a type.
    """

    not_data_parallel = ("its structural and prototype InfoNCE terms are summed over the batch (reduction='sum') "
                         "beside BPR's mean, so the shards' weighted gradients do not add up to the batch's")

    search_space = {"ssl_reg": Range(1e-8, 1e-5, log=True), "proto_reg": Range(1e-9, 1e-6, log=True),
                    "num_layers": (2, 3)}  # graphrec tune

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, dim: int = 64, num_layers: int = 3,
                 reg: float = 1e-4, ssl_temp: float = 0.1, ssl_reg: float = 1e-7, proto_reg: float = 8e-8,
                 alpha: float = 1.0, hyper_layers: int = 1, num_clusters: int = 1000, warm_up_epochs: int = 20,
                 kmeans_iters: int = 20):
        super().__init__(n_users, n_items, graph, dim, num_layers)
        if int(hyper_layers) < 1:
            raise ModelError(f"NCL: hyper_layers must be >= 1 (the contrasted layer is 2 * hyper_layers), got "
                             f"{hyper_layers}")
        self.reg, self.ssl_temp, self.ssl_reg, self.proto_reg = float(reg), float(ssl_temp), float(ssl_reg), \
            float(proto_reg)
        self.alpha, self.hyper_layers, self.num_clusters = float(alpha), int(hyper_layers), int(num_clusters)
        self.warm_up_epochs, self.kmeans_iters = int(warm_up_epochs), int(kmeans_iters)
        # Epochs started so far: a buffer, so a resumed run knows whether warm-up is over.
        self.register_buffer("epochs_started", torch.zeros((), dtype=torch.long))
        self.prototypes = None  # (user_centroids, user_cluster, item_centroids, item_cluster)

    def hparams(self) -> dict:
        return {"dim": self.dim, "num_layers": self.num_layers, "reg": self.reg, "ssl_temp": self.ssl_temp,
                "ssl_reg": self.ssl_reg, "proto_reg": self.proto_reg, "alpha": self.alpha,
                "hyper_layers": self.hyper_layers, "num_clusters": self.num_clusters,
                "warm_up_epochs": self.warm_up_epochs, "kmeans_iters": self.kmeans_iters}

    @torch.no_grad()
    def on_epoch_start(self, generator: torch.Generator | None) -> None:
        """The E-step: cluster the layer-0 user and item embeddings (called by the training loop every epoch)."""
        self.epochs_started += 1
        result = []
        for weight in (self.user.weight, self.item.weight):
            centroids, assign = kmeans(weight.detach(), self.num_clusters, self.kmeans_iters, generator)
            result += [F.normalize(centroids, dim=1), assign]
        self.prototypes = tuple(result)

    def loss(self, batch) -> Tensor:
        users, pos, neg = batch
        depth = max(self.num_layers, 2 * self.hyper_layers)
        layers = propagate_layers(self.adjacency(), self.ego(), depth)
        user_emb, item_emb = self.split(self.combine(layers[:self.num_layers + 1]))
        u, p, n = user_emb[users], item_emb[pos], item_emb[neg]
        parts = {"bpr": bpr_loss((u * p).sum(1), (u * n).sum(1)),
                 "reg": self.reg * l2_reg(self.user(users), self.item(pos), self.item(neg))}
        (u0, i0), (uk, ik) = self.split(layers[0]), self.split(layers[2 * self.hyper_layers])
        structural = info_nce_nodes(uk, u0, u0, users, self.ssl_temp, reduction="sum") + \
            self.alpha * info_nce_nodes(ik, i0, i0, pos, self.ssl_temp, reduction="sum")
        parts["structural"] = self.ssl_reg * structural
        if self.prototypes is not None and int(self.epochs_started) > self.warm_up_epochs:
            user_c, user_k, item_c, item_k = self.prototypes
            proto = info_nce_nodes(u0, user_c[user_k], user_c, users, self.ssl_temp, reduction="sum") + \
                info_nce_nodes(i0, item_c[item_k], item_c, pos, self.ssl_temp, reduction="sum")
            parts["proto"] = self.proto_reg * proto
        return self.loss_parts(**parts)
