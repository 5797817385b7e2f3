"""The LightGCN encoder the self-supervised models share: user/item embeddings over Â, per-layer outputs, and a
configurable layer combination. SGL, SimGCL, XSimGCL, NCL, LightGCL and DirectAU subclass it and add only their
views and loss; propagation itself is :mod:`graphrec.models.propagation`'s.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from graphrec.models.base import Recommender
from graphrec.models.propagation import lightgcn_propagate, propagate_layers


class GraphEncoder(Recommender):
    needs_graph = True
    skip_ego = False  # SimGCL/XSimGCL average layers 1..L only (their papers drop E0 from the final embedding)
    layer_sum = False  # LightGCL sums the layers instead of averaging them

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None, dim: int, num_layers: int):
        super().__init__(n_users, n_items, graph)
        self.dim, self.num_layers = int(dim), int(num_layers)
        self.user = nn.Embedding(n_users, self.dim)
        self.item = nn.Embedding(n_items, self.dim)
        # Xavier-uniform, as in every reference implementation these models follow (SELFRec, SGL-Torch, NCL,
        # LightGCL); the noise magnitude eps of SimGCL/XSimGCL is calibrated against embeddings of this scale.
        nn.init.xavier_uniform_(self.user.weight)
        nn.init.xavier_uniform_(self.item.weight)

    def ego(self) -> Tensor:
        return torch.cat([self.user.weight, self.item.weight])

    def split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x[:self.n_users], x[self.n_users:]

    def layer_weights(self) -> Tensor:
        L = self.num_layers
        if self.layer_sum:
            return torch.ones(L + 1)
        if self.skip_ego and L > 0:
            return torch.tensor([0.0] + [1.0 / L] * L)
        return torch.full((L + 1,), 1.0 / (L + 1))

    def combine(self, layers: list[Tensor]) -> Tensor:
        """The final embedding from per-layer outputs, with this model's layer weights."""
        weights = self.layer_weights().tolist()
        return sum(w * h for w, h in zip(weights, layers) if w != 0.0)

    def layers(self, adj=None, noise=None) -> list[Tensor]:
        return propagate_layers(self.adjacency() if adj is None else adj, self.ego(), self.num_layers, noise)

    def forward(self) -> tuple[Tensor, Tensor]:
        weights = self.layer_weights().to(self.user.weight.dtype)
        return self.split(lightgcn_propagate(self.adjacency(), self.ego(), self.num_layers, alpha=weights))
