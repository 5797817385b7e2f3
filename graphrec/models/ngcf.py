"""NGCF (Wang et al., SIGIR 2019), eq. (7) of the paper:

    E_l = LeakyReLU((Â + I) E_{l-1} W1 + (Â E_{l-1} ⊙ E_{l-1}) W2),   final = [E_0 ‖ norm(E_1) ‖ ... ‖ norm(E_L)]

Defaults follow the authors' Gowalla run (xiangwang1223/neural_graph_collaborative_filtering README): embeddings and
3 layers of 64, message dropout 0.1 per layer, L2 1e-5; node dropout off (``--node_dropout_flag`` defaults to 0 in
xiangwang1223/neural_graph_collaborative_filtering@2178526 NGCF/utility/parser.py, so the ``--node_dropout [0.1]`` in
the README command has no effect; some re-implementations turn it on by default). LightGCN's paper compares with these NGCF
numbers. LeakyReLU slope 0.2 and row L2-normalisation of each layer's output as in the authors' code.

``variant="code"`` follows the authors' TensorFlow code instead of eq. (7) where the two differ
(xiangwang1223/neural_graph_collaborative_filtering ``NGCF/NGCF.py`` ``_create_ngcf_embed`` with the default
``--adj_type norm`` of ``utility/load_data.py``): the neighbourhood is averaged with a self-loop, Ã = D̃⁻¹(A + I) with
D̃ = D + I, instead of Â + I with the symmetric Â, and the two messages pass their own LeakyReLU,

    E_l = LeakyReLU(Ã E_{l-1} W1 + b1) + LeakyReLU((E_{l-1} ⊙ Ã E_{l-1}) W2 + b2),

with the biases Xavier-initialised like the weights. ``Ã x`` is computed as ``D̃^-½ Â' (D̃^½ x) + x / D̃`` with the
symmetric ``Â' = D̃^-½ A D̃^-½``, so the products keep the symmetric kernels (and their row-block training step).

``num_negatives`` > 1 (not the paper's, as for LightGCN and MF) averages BPR over that many uniformly drawn items per
positive, scored against the whole propagated item table, the negatives' ego embeddings in the L2 term by their mean
squared norm (:mod:`graphrec.models.negatives`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrec.errors import ModelError
from graphrec.models.base import Recommender
from graphrec.models.losses import bpr_loss, l2_reg
from graphrec.models.negatives import many_negatives_loss, num_negatives_arg
from graphrec.models.propagation import SymSpMMRows, sym_spmm


class NGCF(Recommender):
    needs_graph = True

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, dim: int = 64,
                 num_layers: int = 3, message_dropout: float = 0.1, node_dropout: float = 0.0, reg: float = 1e-5,
                 num_negatives: int = 1, variant: str = "paper"):
        super().__init__(n_users, n_items, graph)
        if variant not in ("paper", "code"):
            raise ModelError(f"NGCF: variant must be 'paper' (eq. 7) or 'code' (the authors' TF code), got {variant!r}")
        self.variant = variant
        self.dim, self.num_layers, self.reg = int(dim), int(num_layers), float(reg)
        self.num_negatives = num_negatives_arg("NGCF", num_negatives)
        self.message_dropout, self.node_dropout = float(message_dropout), float(node_dropout)
        self.user = nn.Embedding(n_users, self.dim)
        self.item = nn.Embedding(n_items, self.dim)
        self.w1 = nn.ModuleList(nn.Linear(self.dim, self.dim) for _ in range(self.num_layers))
        self.w2 = nn.ModuleList(nn.Linear(self.dim, self.dim) for _ in range(self.num_layers))
        if variant == "code":
            # Â' = D̃^-½ A D̃^-½ (degrees + 1) in place of Â; its scalings give Ã = D̃⁻¹(A + I) (see the docstring)
            counts = self.adj_crow.diff()  # each node's row length in Â is its degree
            deg = counts.float()
            rows = torch.repeat_interleave(torch.arange(deg.numel()), counts)
            self.adj_val = ((deg[rows] + 1) * (deg[self.adj_col] + 1)).rsqrt()
            self.register_buffer("deg_sqrt", (deg + 1).sqrt().unsqueeze(1), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in [self.user, self.item, *self.w1, *self.w2]:
            nn.init.xavier_uniform_(module.weight)  # as the authors' code
        for lin in [*self.w1, *self.w2]:
            if self.variant == "code":  # the TF code's b_gc / b_bi are Xavier-initialised (1, d) variables
                nn.init.xavier_uniform_(lin.bias.view(1, -1))
            else:
                nn.init.zeros_(lin.bias)

    def hparams(self) -> dict:
        return {"dim": self.dim, "num_layers": self.num_layers, "message_dropout": self.message_dropout,
                "node_dropout": self.node_dropout, "reg": self.reg, "num_negatives": self.num_negatives,
                "variant": self.variant}

    def _train_adjacency(self) -> Tensor:
        if not (self.training and self.node_dropout > 0):
            return self.adjacency()
        # Drop whole (user, item) edges, both directions at once, so Â stays symmetric for sym_spmm's backward.
        keep = torch.rand(self.n_edges, device=self.adj_val.device) >= self.node_dropout
        return self.adjacency(self.adj_val * keep[self.adj_edge_ids] / (1.0 - self.node_dropout))

    def _layer(self, layer: int, side: Tensor, h: Tensor) -> Tensor:
        """One layer, given ``side`` = Â h (variant "paper") or Ã h ("code"), rows of it with the same rows of h."""
        if self.variant == "code":
            h = F.leaky_relu(self.w1[layer](side), negative_slope=0.2) + \
                F.leaky_relu(self.w2[layer](side * h), negative_slope=0.2)
        else:
            h = F.leaky_relu(self.w1[layer](side + h) + self.w2[layer](side * h), negative_slope=0.2)
        return F.dropout(h, p=self.message_dropout, training=self.training)

    def _side(self, adj: Tensor, h: Tensor) -> Tensor:
        """Â h, or for variant "code" Ã h = D̃^-½ Â' (D̃^½ h) + h / D̃."""
        if self.variant == "code":
            return sym_spmm(adj, h * self.deg_sqrt) / self.deg_sqrt + h / self.deg_sqrt.pow(2)
        return sym_spmm(adj, h)

    def _side_rows(self, adj: Tensor, h: Tensor, nodes: Tensor) -> Tensor:
        """Rows ``nodes`` of :meth:`_side`."""
        if self.variant == "code":
            d = self.deg_sqrt[nodes]
            return SymSpMMRows.apply(adj, h * self.deg_sqrt, nodes) / d + h[nodes] / d.pow(2)
        return SymSpMMRows.apply(adj, h, nodes)

    def forward(self) -> tuple[Tensor, Tensor]:
        adj = self._train_adjacency()
        h = torch.cat([self.user.weight, self.item.weight])
        outs = [h]
        for layer in range(self.num_layers):
            h = self._layer(layer, self._side(adj, h), h)
            outs.append(F.normalize(h, dim=1))
        out = torch.cat(outs, dim=1)
        return out[:self.n_users], out[self.n_users:]

    def _rows(self, nodes: Tensor) -> Tensor:
        """Rows ``nodes`` (unique) of the training forward's concatenated output. Only the batch's rows are
        normalised and concatenated, and the last layer is computed for them only (a row block of Â, as in
        LightGCN's step): one whole-graph product fewer forward and backward. Without message dropout it equals
        ``forward()``'s rows; with it, the last layer's dropout mask is drawn for these rows only (same
        distribution, other draws)."""
        adj = self._train_adjacency()
        h = torch.cat([self.user.weight, self.item.weight])
        outs = [h[nodes]]
        for layer in range(self.num_layers - 1):
            h = self._layer(layer, self._side(adj, h), h)
            outs.append(F.normalize(h[nodes], dim=1))
        if self.num_layers > 0:
            last = self._layer(self.num_layers - 1, self._side_rows(adj, h, nodes), h[nodes])
            outs.append(F.normalize(last, dim=1))
        return torch.cat(outs, dim=1)

    def loss(self, batch) -> Tensor:
        users, pos, neg = batch
        if self.num_negatives > 1:
            return many_negatives_loss(self, users, pos)
        nodes, inverse = torch.unique(torch.cat([users, pos + self.n_users, neg + self.n_users]), return_inverse=True)
        u, p, n = self._rows(nodes)[inverse].split(users.numel())
        bpr = bpr_loss((u * p).sum(1), (u * n).sum(1))
        return bpr + self.reg * l2_reg(self.user(users), self.item(pos), self.item(neg))
