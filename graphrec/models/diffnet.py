"""DiffNet: :class:`DiffNet` (its docstring gives the paper, defaults and deviations)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from graphrec.models.base import Recommender
from graphrec.models.losses import bpr_loss, l2_reg
from graphrec.models.social import SparseOperator, friendships, interaction_matrix, row_normalized, social_matrix
from graphrec.models.space import Range


class DiffNet(Recommender):
    """DiffNet (Wu et al., SIGIR 2019): a user's taste diffuses through the social graph, one layer per hop.

    Without user/item features (the paper's fusion layer then reduces to the free embeddings p_u, q_i):

        h_u^0 = p_u
        h_u^{k+1} = s(W^k [mean_{v in S_u} h_v^k ; h_u^k])      (mean pooling over friends, then a dense layer)
        u_u = h_u^K + mean_{i in R_u} q_i,   v_i = q_i,   score(u, i) = u_u . v_i

    trained with BPR + L2 on the batch's ego embeddings. The social graph is read as undirected
    (``SideGraphs.social_undirected()``), as RecBole-GNN does. ``transform=False`` is the variant RecBole-GNN implements
    (recbole_gnn/model/social_recommender/diffnet.py), whose published numbers graphrec compares with: no W^k and no
    ``s`` (h^{k+1} = mean of friends' h^k, as in the authors' released TensorFlow code) and, against over-smoothing, the
    *sum* of layers 0..K instead of h^K (the authors' code sums layers 1..K). Both change the numbers, so the default
    follows the paper and the flag reproduces RecBole-GNN.

    Defaults: dim 64, K = 2 (paper and RecBole-GNN), L2 1e-5 (RecBole-GNN DiffNet.yaml), ``transform=True`` (the paper);
    Xavier initialisation. The dense diffusion layers learn slowly at RecBole-GNN's learning rate (5e-4); on Last.fm
    5e-3 works far better.

    Deviations: the paper leaves the non-linearity ``s`` unnamed; graphrec uses the sigmoid that the authors' code uses
    for its other non-linear layers (the fusion layers). No user or item features, so no fusion layer.
    """

    needs_graph = True
    needs_side = ("social",)

    search_space = {"num_layers": (1, 2, 3), "reg": Range(1e-6, 1e-3, log=True)}  # graphrec tune

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, side=None, dim: int = 64,
                 num_layers: int = 2, reg: float = 1e-5, transform: bool = True):
        super().__init__(n_users, n_items, graph)
        self.dim, self.num_layers, self.reg, self.transform = int(dim), int(num_layers), float(reg), bool(transform)
        self.user = nn.Embedding(n_users, self.dim)
        self.item = nn.Embedding(n_items, self.dim)
        # W^k acts on [pooled friends ; self], hence 2*dim inputs.
        self.diffusion = nn.ModuleList(nn.Linear(2 * self.dim, self.dim)
                                       for _ in range(self.num_layers if self.transform else 0))
        # Mean pooling over friends and over consumed items: row-normalised adjacency products.
        self.friends_mean = SparseOperator(row_normalized(social_matrix(friendships(self, side), n_users)))
        self.consumed_mean = SparseOperator(row_normalized(interaction_matrix(graph, n_users, n_items)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in [self.user, self.item, *self.diffusion]:
            nn.init.xavier_uniform_(module.weight)
        for layer in self.diffusion:
            nn.init.zeros_(layer.bias)

    def hparams(self) -> dict:
        return {"dim": self.dim, "num_layers": self.num_layers, "reg": self.reg, "transform": self.transform}

    def diffuse(self, h: Tensor, layer: int) -> Tensor:
        """One influence diffusion layer: h^{k+1} from h^k (all users)."""
        pooled = self.friends_mean(h)
        if not self.transform:
            return pooled
        return torch.sigmoid(self.diffusion[layer](torch.cat([pooled, h], dim=1)))

    def forward(self) -> tuple[Tensor, Tensor]:
        layers = [self.user.weight]
        for layer in range(self.num_layers):
            layers.append(self.diffuse(layers[-1], layer))
        # The paper's prediction layer reads the last diffusion layer; RecBole-GNN's sums them all.
        social = layers[-1] if self.transform else sum(layers)
        return social + self.consumed_mean(self.item.weight), self.item.weight

    def loss(self, batch) -> Tensor:
        users, pos, neg = batch
        user_emb, item_emb = self()
        u = user_emb[users]
        bpr = bpr_loss((u * item_emb[pos]).sum(1), (u * item_emb[neg]).sum(1))
        return bpr + self.reg * l2_reg(self.user(users), self.item(pos), self.item(neg))
