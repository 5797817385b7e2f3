"""UniGCL: one model over interactions, the item knowledge graph and the social graph at once.

:class:`UniGCL`'s docstring gives what it computes, its defaults and deviations; here, the design and why:

* **One graph, one propagation.** Users, items and KG entities are nodes of a single weighted graph: user–item
  interactions (weight 1), friendships (weight ``social_weight``, undirected) and KG facts (weight ``kg_weight``,
  undirected, relation names collapsed). Embeddings are propagated LightGCN-style over its symmetric normalisation
  D^-1/2 W D^-1/2: no feature transforms, no non-linearities. LightGCN showed those hurt collaborative filtering;
  they hurt more here, where the extra sources are sparse (Last.fm: 15.5k KG facts over 60 relations, most with
  fewer than 100 facts: per-relation matrices as in KGAT have too little data to learn from).
* **Sources meet in the normalisation, not in a fusion layer.** A friend's taste reaches a user in one hop, an item's
  KG neighbour reaches the item in one hop, and a user reaches the KG in two (user → item → entity) — the multi-hop
  paths that social and KG models each build with their own machinery come from the same product. The weighted
  degrees keep a user's friends from drowning their own items (a user with 50 items and 10 friends at weight 0.5
  takes 9% of their message from friends), and the two weights are the only knobs; both are tuned on validation.
* **Contrastive regularisation from XSimGCL.** Uniform noise is added to each layer's output and the noisy final
  embedding is contrasted with a noisy intermediate layer (InfoNCE over the batch's users and items), in the same
  single pass as the ranking loss. On sparse data this was the strongest single addition to LightGCN in the
  contrastive literature (SimGCL/XSimGCL), and it costs one propagation per step, so all three graphs stay cheap.
* **Graceful without a source.** With no social edges or no KG the model is XSimGCL on the graphs that exist; the
  comparison table in BENCHMARKS.md runs it with each source switched off (weights 0) to show what each adds.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor, nn

from graphrec.errors import ModelError
from graphrec.models.augment import uniform_noise
from graphrec.models.base import Recommender
from graphrec.models.losses import bpr_loss, info_nce, l2_reg
from graphrec.models.propagation import csr, propagate_layers, weighted_adjacency
from graphrec.sidegraphs import SideGraphs
from graphrec.models.space import Range


def unified_adjacency(pairs: Tensor, side: SideGraphs | None, n_users: int, n_items: int, social_weight: float,
                      kg_weight: float) -> tuple[Tensor, int]:
    """The normalised adjacency of the unified graph (users, items, entities) and its node count."""
    n_entities = side.n_entities if side is not None else 0
    n = n_users + n_items + n_entities
    users, items = pairs[0].long(), pairs[1].long() + n_users
    src, dst, weight = [users, items], [items, users], [torch.ones(2 * users.numel())]
    if side is not None and social_weight > 0 and side.has_social:
        social = side.social_undirected()  # both directions already
        src.append(social[0])
        dst.append(social[1])
        weight.append(torch.full((social.size(1),), float(social_weight)))
    if side is not None and kg_weight > 0 and side.has_kg:
        head, tail = side.kg[0], side.kg[2]
        keep = head != tail
        # Undirected and relation-free: a pair linked by several relations (or both ways) is one edge.
        lo, hi = torch.minimum(head, tail)[keep], torch.maximum(head, tail)[keep]
        keys = torch.unique(lo * n + hi)
        lo, hi = keys // n, keys % n
        src += [lo, hi]
        dst += [hi, lo]
        weight.append(torch.full((2 * lo.numel(),), float(kg_weight)))
    return weighted_adjacency(torch.cat(src), torch.cat(dst), torch.cat(weight), n), n


class UniGCL(Recommender):
    """UniGCL (graphrec's own model, no paper): one graph of interactions, KG facts and friendships, XSimGCL's contrast.

    Users, items and KG entities are nodes of one weighted graph (interactions weight 1, undirected friendships
    ``social_weight``, undirected relation-free KG facts ``kg_weight``), propagated LightGCN-style over its symmetric
    normalisation, with XSimGCL's uniform noise on every layer (the module docstring says why). Final embeddings: mean
    of layers 1..L (as XSimGCL); score = user · item. Loss: BPR(noisy final) + cl_rate · InfoNCE(layer ``cl_layer``,
    final) + reg · L2(batch ego embeddings); ``side_view`` > 0 instead recommends from the interaction graph and adds
    that weight times an InfoNCE between it and the unified graph.

    Defaults: dim 64, 2 layers, reg 1e-4, eps 0.2, cl_rate 0.01, temperature 0.2, cl_layer 1 are XSimGCL's defaults;
    cl_rate was 0.2 (the XSimGCL paper's) until it fell far below MF on two shared datasets, early stopping (patience
    10) keeping epoch 1: valid / test Recall@20 0.4524 / 0.4675 on FilmTrust (MF 0.8101 / 0.8135) and 0.2013 / 0.2166
    on ML-100K (MF 0.3075 / 0.3139). At 0.01, XSimGCL's value chosen on valid there, it beats MF on valid on both
    (0.8112, 0.3276; test 0.8238, 0.3483); the Last.fm preset keeps 0.2, and the search space reaches down to 1e-3.
    social_weight and kg_weight 0.5 were not chosen on a holdout: the Last.fm ablation (benchmarks/HISTORY.md) scores
    0.1 above them on validation, and BENCHMARKS.md's Last.fm row runs 0.1 for both. ``side_view`` 0 (off).

    Deviations: no paper to deviate from; with both weights 0 it is :class:`~graphrec.models.xsimgcl.XSimGCL` on the
    interaction graph.
    """

    not_data_parallel = ("its InfoNCE takes the batch's other users and items as negatives, so a shard would "
                         "contrast against its own rows only (gathering the views across processes is not built)")

    search_space = {"cl_rate": Range(1e-3, 1.0, log=True), "social_weight": (0.0, 0.5, 1.0),
                    "kg_weight": (0.0, 0.5, 1.0), "eps": (0.1, 0.2)}  # graphrec tune

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, side: SideGraphs | None = None,
                 dim: int = 64, num_layers: int = 2, reg: float = 1e-4, social_weight: float = 0.5,
                 kg_weight: float = 0.5, eps: float = 0.2, cl_rate: float = 0.01, temperature: float = 0.2,
                 cl_layer: int = 1, side_view: float = 0.0):
        super().__init__(n_users, n_items)
        if graph is None:
            raise ModelError("UniGCL needs graph= the training (user, item) pairs as a (2, E) LongTensor")
        if not 1 <= int(cl_layer) <= int(num_layers):
            raise ModelError(f"UniGCL: cl_layer must be in 1..num_layers={num_layers}, got {cl_layer}")
        if social_weight < 0 or kg_weight < 0:
            raise ModelError(f"UniGCL: social_weight and kg_weight must be >= 0, got {social_weight}, {kg_weight}")
        self.dim, self.num_layers, self.reg = int(dim), int(num_layers), float(reg)
        self.social_weight, self.kg_weight = float(social_weight), float(kg_weight)
        self.eps, self.cl_rate, self.temperature, self.cl_layer = float(eps), float(cl_rate), float(temperature), \
            int(cl_layer)
        if side_view < 0:
            raise ModelError(f"UniGCL: side_view must be >= 0, got {side_view}")
        self.side_view = float(side_view)
        adj, self.n_nodes = unified_adjacency(graph, side, n_users, n_items, self.social_weight, self.kg_weight)
        if self.side_view:
            # Side graphs as a view: recommend from the interaction graph, contrast it with the unified graph.
            self._register("side", adj)
            adj, _ = unified_adjacency(graph, side, n_users, n_items, 0.0, 0.0)
        self._register("adj", adj)
        self.user = nn.Embedding(n_users, self.dim)
        self.item = nn.Embedding(n_items, self.dim)
        # Entities are propagation-only nodes; a table of 0 rows keeps save/load uniform when there is no KG.
        self.entity = nn.Embedding(self.n_nodes - n_users - n_items, self.dim)
        for table in (self.user, self.item, self.entity):
            if table.num_embeddings:
                nn.init.xavier_uniform_(table.weight)

    def _register(self, name: str, adj: Tensor) -> None:
        self.register_buffer(f"{name}_crow", adj.crow_indices(), persistent=False)
        self.register_buffer(f"{name}_col", adj.col_indices(), persistent=False)
        self.register_buffer(f"{name}_val", adj.values(), persistent=False)

    def hparams(self) -> dict:
        return {"dim": self.dim, "num_layers": self.num_layers, "reg": self.reg, "social_weight": self.social_weight,
                "kg_weight": self.kg_weight, "eps": self.eps, "cl_rate": self.cl_rate,
                "temperature": self.temperature, "cl_layer": self.cl_layer, "side_view": self.side_view}

    def adjacency(self, values: Tensor | None = None) -> Tensor:
        return csr(self.adj_crow, self.adj_col, self.adj_val if values is None else values, self.n_nodes)

    def _layers(self, noisy: bool, side: bool = False) -> list[Tensor]:
        ego = torch.cat([self.user.weight, self.item.weight, self.entity.weight])
        noise = partial(uniform_noise, eps=self.eps) if noisy else None
        adj = csr(self.side_crow, self.side_col, self.side_val, self.n_nodes) if side else self.adjacency()
        return propagate_layers(adj, ego, self.num_layers, noise)

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x[:self.n_users], x[self.n_users:self.n_users + self.n_items]

    def forward(self) -> tuple[Tensor, Tensor]:
        layers = self._layers(noisy=False)
        return self._split(sum(layers[1:]) / self.num_layers)

    def loss(self, batch) -> Tensor:
        users, pos, neg = batch
        layers = self._layers(noisy=True)
        (fu, fi), (cu, ci) = self._split(sum(layers[1:]) / self.num_layers), self._split(layers[self.cl_layer])
        rec = bpr_loss((fu[users] * fi[pos]).sum(1), (fu[users] * fi[neg]).sum(1))
        uu, pp = torch.unique(users), torch.unique(pos)
        cl = info_nce(fu[uu], cu[uu], self.temperature) + info_nce(fi[pp], ci[pp], self.temperature)
        parts = {"bpr": rec, "cl": self.cl_rate * cl,
                 "reg": self.reg * l2_reg(self.user(users), self.item(pos), self.item(neg))}
        if self.side_view:
            su, si = self._split(sum(self._layers(noisy=True, side=True)[1:]) / self.num_layers)
            parts["side"] = self.side_view * (info_nce(fu[uu], su[uu], self.temperature) +
                                              info_nce(fi[pp], si[pp], self.temperature))
        return self.loss_parts(**parts)
