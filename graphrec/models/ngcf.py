"""NGCF: the model :class:`NGCF` (its docstring gives the paper, defaults and deviations) and its CPU pieces.

Variant "code"'s ``Ã x`` is one pass of the CSR loop with a diagonal, ``(P + D̃⁻¹) x`` with P = D̃⁻¹A
(:class:`MeanAggregate`); its backward is the same with Pᵀ = A D̃⁻¹. On the CPU a layer's elementwise work (LeakyReLUs,
the product ``side * h``'s gradients, message dropout) runs fused in :class:`NGCFLayer`
(:mod:`graphrec.compiled.fused`): dropout's mask is a hash of a seed drawn from torch's generator and the element's
index (same distribution as ``F.dropout``, other draws; reproducible under ``torch.manual_seed``). Elsewhere (CUDA)
the layer is plain torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrec.compiled import fused, kernels
from graphrec.errors import ModelError
from graphrec.models.base import Recommender
from graphrec.models.losses import bpr_loss, l2_reg
from graphrec.models.negatives import many_negatives_loss, num_negatives_arg
from graphrec.models.propagation import SymSpMMRows, sym_spmm
from graphrec.models.space import Range

_SLOPE = 0.2  # LeakyReLU's negative slope in the authors' code


class NGCFLayer(torch.autograd.Function):
    """NGCF's layer after the neighbourhood product, ``side`` = Ã h (variant "code") or Â h (eq. 7), given rows of
    ``side`` with the same rows of ``h``: ``dropout(LeakyReLU(side W1ᵀ + b1) + LeakyReLU((side ⊙ h) W2ᵀ + b2))`` for
    "code", ``dropout(LeakyReLU((side + h) W1ᵀ + b1 + (side ⊙ h) W2ᵀ + b2))`` for eq. (7). The two dense products
    are torch's; the elementwise rest is one fused pass forward and two backward (CPU tensors only)."""

    @staticmethod
    def forward(ctx, side, h, w1, b1, w2, b2, code: bool, p: float, seed: int):
        inp = side if code else side + h
        bi = side * h
        a = torch.addmm(b1, inp, w1.t())
        b = torch.addmm(b2, bi, w2.t())
        ctx.save_for_backward(side, h, inp, bi, a, b, w1, w2)
        ctx.args = (code, _SLOPE, p, seed)
        return fused.ngcf_activation(a, b, code, _SLOPE, p, seed)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        side, h, inp, bi, a, b, w1, w2 = ctx.saved_tensors
        ga, gb = fused.ngcf_activation_backward(grad, a, b, *ctx.args)
        grad_side, grad_h = fused.ngcf_input_grads(ga @ w1, gb @ w2, side, h, ctx.args[0])
        return grad_side, grad_h, ga.t() @ inp, ga.sum(0), gb.t() @ bi, gb.sum(0), None, None, None


class MeanAggregate(torch.autograd.Function):
    """``Ã x = (P + diag(inv_deg)) x`` for the constant CSR ``P`` = D̃⁻¹A, given its transpose ``P_t`` (same pattern,
    column-scaled values): the backward is ``(P_t + diag(inv_deg)) grad``. With ``rows``, only those (unique) rows of
    the product (NGCF's last layer in a training step)."""

    @staticmethod
    def forward(ctx, p, p_t, inv_deg, x, rows=None):
        ctx.p, ctx.p_t, ctx.inv_deg, ctx.n = p, p_t, inv_deg, x.size(0)
        if rows is None:
            ctx.save_for_backward()
            return kernels.spmm(p, x, diag=inv_deg)
        ctx.save_for_backward(rows)
        return kernels.spmm_rows_add_(x[rows] * inv_deg[rows].unsqueeze(1), p, x, rows)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        grad = grad.contiguous()
        if not ctx.saved_tensors:
            return None, None, None, kernels.spmm(ctx.p_t, grad, diag=ctx.inv_deg), None
        (rows,) = ctx.saved_tensors
        slot = kernels.row_slots(rows, ctx.n)
        self_term = grad * ctx.inv_deg[rows].unsqueeze(1)
        return None, None, None, kernels.spmm_from_rows(ctx.p_t, grad, rows, slot, add=self_term, adj_t=ctx.p), None


class NGCF(Recommender):
    """NGCF (Wang et al., SIGIR 2019): message passing with feature transforms and a bi-interaction term.

    ``variant="paper"`` is eq. (7) of the paper:

        E_l = LeakyReLU((Â + I) E_{l-1} W1 + (Â E_{l-1} ⊙ E_{l-1}) W2),   final = [E_0 ‖ norm(E_1) ‖ ... ‖ norm(E_L)]

    with message dropout on each layer's output; score = user · item; loss BPR + ``reg`` · L2 of the batch's ego
    embeddings. ``variant="code"`` follows the authors' TensorFlow code instead where the two differ
    (xiangwang1223/neural_graph_collaborative_filtering ``NGCF/NGCF.py`` ``_create_ngcf_embed`` with the default
    ``--adj_type norm`` of ``utility/load_data.py``): the neighbourhood is averaged with a self-loop, Ã = D̃⁻¹(A + I)
    with D̃ = D + I, instead of Â + I with the symmetric Â, and the two messages pass their own LeakyReLU,

        E_l = LeakyReLU(Ã E_{l-1} W1 + b1) + LeakyReLU((E_{l-1} ⊙ Ã E_{l-1}) W2 + b2),

    with the biases Xavier-initialised like the weights.

    Defaults: the authors' Gowalla run (the repository's README), whose numbers LightGCN's paper compares with:
    embeddings and 3 layers of 64, message dropout 0.1 per layer, L2 1e-5; node dropout off (``--node_dropout_flag``
    defaults to 0 in NGCF/utility/parser.py @2178526, so the README command's ``--node_dropout [0.1]`` has no effect;
    some re-implementations turn it on by default). LeakyReLU slope 0.2, Xavier initialisation and row L2-normalisation
    of each layer's output as in the authors' code. The Gowalla setting chosen on a holdout (``variant="code"``, 64
    negatives, reg 3e-3) is ``--preset gowalla``.

    Deviations: the default variant is the paper's eq. (7), not the authors' code (``variant="code"``). A training step
    computes the last layer for the batch's rows only, so with message dropout that layer's mask is drawn for those rows
    (same distribution, other draws); on the CPU every dropout mask is a hash, not ``F.dropout``'s draws (module
    docstring). ``num_negatives`` > 1 (not the paper's, as for LightGCN and MF) averages BPR over that many uniformly
    drawn items per positive, scored against the whole propagated item table (:mod:`graphrec.models.negatives`).
    """

    needs_graph = True

    search_space = {"num_layers": (1, 2, 3), "message_dropout": (0.0, 0.1, 0.3), "reg": Range(1e-6, 1e-3, log=True)}  # graphrec tune

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, dim: int = 64,
                 num_layers: int = 3, message_dropout: float = 0.1, node_dropout: float = 0.0, reg: float = 1e-5,
                 num_negatives: int = 1, variant: str = "paper"):
        super().__init__(n_users, n_items, graph)
        if variant not in ("paper", "code"):
            raise ModelError(f"NGCF: variant must be 'paper' (eq. 7) or 'code' (the authors' TF code), got {variant!r}")
        self.variant = variant
        self.dim, self.num_layers, self.reg = int(dim), int(num_layers), float(reg)
        self.num_negatives = num_negatives_arg("NGCF", num_negatives)
        for name, value in (("message_dropout", message_dropout), ("node_dropout", node_dropout)):
            if not 0.0 <= float(value) < 1.0:
                raise ModelError(f"NGCF: {name} must be in [0, 1), got {value}")
        self.message_dropout, self.node_dropout = float(message_dropout), float(node_dropout)
        self.user = nn.Embedding(n_users, self.dim)
        self.item = nn.Embedding(n_items, self.dim)
        self.w1 = nn.ModuleList(nn.Linear(self.dim, self.dim) for _ in range(self.num_layers))
        self.w2 = nn.ModuleList(nn.Linear(self.dim, self.dim) for _ in range(self.num_layers))
        if variant == "code":
            # P = D̃⁻¹A and Pᵀ = A D̃⁻¹ on Â's pattern (D̃ = degree + 1), and D̃⁻¹ for the self-loop: Ã = P + D̃⁻¹
            counts = self.adj_crow.diff()  # each node's row length in Â is its degree
            inv_deg = 1.0 / (counts.float() + 1)
            rows = torch.repeat_interleave(torch.arange(counts.numel()), counts)
            self.register_buffer("agg_val", inv_deg[rows], persistent=False)
            self.register_buffer("agg_val_t", inv_deg[self.adj_col.long()], persistent=False)
            self.register_buffer("inv_deg", inv_deg, persistent=False)
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

    def _graph(self):
        """The propagation matrix: Â (eq. 7), or (P, Pᵀ) for variant "code" (see :class:`MeanAggregate`). In training
        with node dropout, whole (user, item) edges are dropped, both directions at once, and the rest rescaled."""
        scale = None
        if self.training and self.node_dropout > 0:
            keep = torch.rand(self.n_edges, device=self.adj_val.device) >= self.node_dropout
            scale = keep[self.adj_edge_ids] / (1.0 - self.node_dropout)
        if self.variant == "code":
            return tuple(self.adjacency(v if scale is None else v * scale) for v in (self.agg_val, self.agg_val_t))
        return self.adjacency(None if scale is None else self.adj_val * scale)

    def _layer(self, layer: int, side: Tensor, h: Tensor) -> Tensor:
        """One layer, given ``side`` = Â h (variant "paper") or Ã h ("code"), rows of it with the same rows of h."""
        w1, w2 = self.w1[layer], self.w2[layer]
        code = self.variant == "code"
        p = self.message_dropout if self.training else 0.0
        if fused.elementwise_fast(side, h, w1.weight, w2.weight):
            seed = int(torch.randint(0, 2**63 - 1, (1,))) if p > 0 else 0
            return NGCFLayer.apply(side, h, w1.weight, w1.bias, w2.weight, w2.bias, code, p, seed)
        if code:
            h = F.leaky_relu(w1(side), negative_slope=_SLOPE) + F.leaky_relu(w2(side * h), negative_slope=_SLOPE)
        else:
            h = F.leaky_relu(w1(side + h) + w2(side * h), negative_slope=_SLOPE)
        return F.dropout(h, p=p, training=p > 0)

    def _side(self, graph, h: Tensor) -> Tensor:
        """Â h, or for variant "code" Ã h."""
        if self.variant == "code":
            return MeanAggregate.apply(*graph, self.inv_deg, h)
        return sym_spmm(graph, h)

    def _side_rows(self, graph, h: Tensor, nodes: Tensor) -> Tensor:
        """Rows ``nodes`` of :meth:`_side`."""
        if self.variant == "code":
            return MeanAggregate.apply(*graph, self.inv_deg, h, nodes)
        return SymSpMMRows.apply(graph, h, nodes)

    def forward(self) -> tuple[Tensor, Tensor]:
        graph = self._graph()
        h = torch.cat([self.user.weight, self.item.weight])
        outs = [h]
        for layer in range(self.num_layers):
            h = self._layer(layer, self._side(graph, h), h)
            outs.append(F.normalize(h, dim=1))
        out = torch.cat(outs, dim=1)
        return out[:self.n_users], out[self.n_users:]

    def _rows(self, nodes: Tensor) -> Tensor:
        """Rows ``nodes`` (unique) of the training forward's concatenated output. Only the batch's rows are
        normalised and concatenated, and the last layer is computed for them only (a row block of Â, as in
        LightGCN's step): one whole-graph product fewer forward and backward. Without message dropout it equals
        ``forward()``'s rows; with it, the last layer's dropout mask is drawn for these rows only (same
        distribution, other draws)."""
        graph = self._graph()
        h = torch.cat([self.user.weight, self.item.weight])
        outs = [h[nodes]]
        for layer in range(self.num_layers - 1):
            h = self._layer(layer, self._side(graph, h), h)
            outs.append(F.normalize(h[nodes], dim=1))
        if self.num_layers > 0:
            last = self._layer(self.num_layers - 1, self._side_rows(graph, h, nodes), h[nodes])
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
