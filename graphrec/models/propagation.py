"""Graph propagation on the user–item bipartite graph.

Nodes are users ``0..n_users-1`` followed by items ``n_users..n_users+n_items-1``. The normalised adjacency
Â = D^-1/2 A D^-1/2 is symmetric, so the backward of ``y = Â x`` is ``grad_x = Â grad_y``: one more product with the
same CSR matrix. :class:`SymSpMM` does both products with a CSR sparse matmul, which avoids autograd through sparse
ops (slow, and it would also build a gradient for the matrix values, which never train).
"""

from __future__ import annotations

import torch
from torch import Tensor

from graphrec.compiled import kernels
from graphrec.compiled.kernels import csr  # noqa: F401  (the models import csr from here)


def normalized_adjacency(users: Tensor, items: Tensor, n_users: int, n_items: int,
                         dtype: torch.dtype = torch.float32, return_edge_ids: bool = False):
    """Â = D^-1/2 A D^-1/2 of the bipartite graph of (user, item) edges, as an (N, N) sparse CSR tensor,
    N = n_users + n_items. Nodes without edges get zero rows (their degree is taken as 1 to avoid 0/0).
    With ``return_edge_ids`` also returns, per stored entry, the index of its (user, item) edge: both directions of
    an edge share it, so dropping edges by id keeps Â symmetric (NGCF's node dropout)."""
    n = n_users + n_items
    users, items = users.long(), items.long() + n_users
    rows = torch.cat([users, items])
    cols = torch.cat([items, users])
    edge_ids = torch.arange(users.numel()).repeat(2)
    deg = torch.bincount(rows, minlength=n).to(dtype).clamp_(min=1)
    dinv = deg.pow_(-0.5)
    order = torch.argsort(rows * n + cols)
    rows, cols = rows[order], cols[order]
    adj = csr_from_sorted(rows, cols, dinv[rows] * dinv[cols], n)
    return (adj, edge_ids[order]) if return_edge_ids else adj


def csr_from_sorted(rows: Tensor, cols: Tensor, values: Tensor, n: int) -> Tensor:
    """An (n, n) CSR tensor from entries already sorted by (row, col), without duplicates."""
    crow = torch.zeros(n + 1, dtype=torch.long)
    torch.cumsum(torch.bincount(rows, minlength=n), 0, out=crow[1:])
    if rows.numel() < 2**31 - 1:
        # int32 indices: torch's CPU spmm otherwise converts int64 indices on every call (measured ~1.4x slower).
        crow, cols = crow.int(), cols.int()
    return csr(crow, cols, values, n)


def weighted_adjacency(rows: Tensor, cols: Tensor, weights: Tensor, n: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """D^-1/2 W D^-1/2 of a weighted undirected graph on ``n`` nodes, as an (n, n) CSR tensor. ``rows``/``cols``
    list every edge once in each direction (so W is symmetric); repeated entries add up. D holds weighted degrees
    (isolated nodes get zero rows). Used for graphs beyond user–item: social, KG and unified graphs."""
    rows, cols = rows.long(), cols.long()
    keys, inverse = torch.unique(rows * n + cols, return_inverse=True)
    w = torch.zeros(keys.numel(), dtype=dtype).index_add_(0, inverse, weights.to(dtype))
    rows, cols = keys // n, keys % n
    deg = torch.zeros(n, dtype=dtype).index_add_(0, rows, w)
    dinv = torch.where(deg > 0, deg.clamp(min=1e-12).pow(-0.5), torch.zeros_like(deg))
    return csr_from_sorted(rows, cols, dinv[rows] * w * dinv[cols], n)


class SymSpMM(torch.autograd.Function):
    """``adj @ x`` for a *symmetric* sparse ``adj``; the gradient w.r.t. ``x`` is ``adj @ grad`` (none for adj)."""

    @staticmethod
    def forward(ctx, adj: Tensor, x: Tensor) -> Tensor:
        ctx.adj = adj  # not save_for_backward: sparse CSR tensors are constants here, never trained
        return kernels.spmm(adj, x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return None, kernels.spmm(ctx.adj, grad)


def sym_spmm(adj: Tensor, x: Tensor) -> Tensor:
    return SymSpMM.apply(adj, x)


class SpMM(torch.autograd.Function):
    """``adj @ x`` for a constant sparse ``adj`` of any shape (e.g. KGAT's attention, the social models' row-normalised
    matrices), with its transpose given: the backward is ``adj_t @ grad`` (no gradient for the matrix values)."""

    @staticmethod
    def forward(ctx, adj: Tensor, adj_t: Tensor, x: Tensor) -> Tensor:
        ctx.adj_t = adj_t  # a constant, like the CSR matrix of SymSpMM
        return adj @ x

    @staticmethod
    def backward(ctx, grad: Tensor):
        return None, None, ctx.adj_t @ grad.contiguous()


def spmm(adj: Tensor, adj_t: Tensor, x: Tensor) -> Tensor:
    return SpMM.apply(adj, adj_t, x)


def lightgcn_propagate(adj: Tensor, x: Tensor, num_layers: int, alpha: Tensor | None = None) -> Tensor:
    """sum_l alpha_l Â^l x over l = 0..num_layers (alpha defaults to 1/(L+1), LightGCN's layer mean)."""
    if alpha is None:
        alpha = torch.full((num_layers + 1,), 1.0 / (num_layers + 1), dtype=x.dtype, device=x.device)
    out = x * alpha[0]
    h = x
    for layer in range(num_layers):
        h = sym_spmm(adj, h)
        out = out + h * alpha[layer + 1]
    return out


class LightGCNRows(torch.autograd.Function):
    """LightGCN's layer mean ``sum_l alpha_l Â^l x`` evaluated only at ``rows`` (the nodes of a training batch).

    A batch's loss only reads the final embeddings of its users and items, so the last layer needs only those rows
    of Â (a few thousand rows, not the whole matrix), and the backward only starts from those rows. Full products:
    L-1 forward + L-1 backward instead of L + L (4 instead of 6 for 3 layers), the main cost of a training step.
    The backward is, with s the batch's gradient scattered to its rows (Â symmetric),
    ``grad_x = alpha (s + Â s + ... + Â^L s)``, evaluated Horner-style from the sparse s.
    """

    @staticmethod
    def forward(ctx, adj: Tensor, x: Tensor, rows: Tensor, num_layers: int, alpha: float) -> Tensor:
        out = x[rows]
        h = x
        # Two alternating buffers: each full product otherwise allocates (and page-faults) a fresh (N, d) result.
        buffers = [torch.empty_like(x), torch.empty_like(x)] if num_layers > 1 else []
        for layer in range(num_layers - 1):
            h = kernels.spmm(adj, h, out=buffers[layer % 2])
            out += h[rows]
        if num_layers >= 1:
            kernels.spmm_rows_add_(out, adj, h, rows)
        ctx.save_for_backward(rows)
        ctx.adj, ctx.num_layers, ctx.alpha, ctx.n = adj, num_layers, alpha, x.size(0)
        # Also return the rows' layer-0 ("ego") embeddings: their regulariser's gradient then lands in the same
        # dense gradient buffer, instead of each embedding lookup allocating a full-table gradient of its own.
        return out * alpha, x[rows]

    @staticmethod
    def backward(ctx, grad_out: Tensor, grad_ego: Tensor | None):
        (rows,) = ctx.saved_tensors
        g = grad_out.contiguous() * ctx.alpha
        last = g if grad_ego is None else g + grad_ego  # the layer-0 term also carries the ego rows' gradient
        if ctx.num_layers == 0:
            grad = torch.zeros(ctx.n, g.size(1), dtype=g.dtype, device=g.device).index_add_(0, rows, last)
            return None, grad, None, None, None
        slot = kernels.row_slots(rows, ctx.n)
        grad = kernels.spmm_from_rows(ctx.adj, g, rows, slot, add=g if ctx.num_layers > 1 else last)
        spare = torch.empty_like(grad)
        for layer in range(ctx.num_layers - 1):
            add = g if layer < ctx.num_layers - 2 else last
            grad, spare = kernels.spmm(ctx.adj, grad, out=spare, add=add, rows=rows, slot=slot), grad
        return None, grad, None, None, None


def lightgcn_rows(adj: Tensor, x: Tensor, rows: Tensor, num_layers: int, with_ego: bool = False):
    """Rows ``rows`` of LightGCN's output ``1/(L+1) sum_l Â^l x``; ``rows`` must be unique.
    With ``with_ego`` returns ``(out, x[rows])``, both differentiable."""
    out, ego = LightGCNRows.apply(adj, x, rows, num_layers, 1.0 / (num_layers + 1))
    return (out, ego) if with_ego else out


def propagate_layers(adj, x: Tensor, num_layers: int, noise=None) -> list[Tensor]:
    """The per-layer outputs ``[x, Â x, Â² x, ...]`` (``num_layers + 1`` tensors), for models that combine or contrast
    layers themselves. ``adj`` is one symmetric CSR matrix or a list of ``num_layers`` of them (one per layer, as in
    SGL's random-walk views). ``noise(h) -> Tensor``, when given, is added to each propagated layer (SimGCL)."""
    adjs = adj if isinstance(adj, (list, tuple)) else [adj] * num_layers
    if len(adjs) != num_layers:
        raise ValueError(f"propagate_layers: got {len(adjs)} adjacency matrices for num_layers={num_layers}")
    layers = [x]
    for layer_adj in adjs:
        h = sym_spmm(layer_adj, layers[-1])
        if noise is not None:
            h = h + noise(h)
        layers.append(h)
    return layers


class SymSpMMRows(torch.autograd.Function):
    """Rows ``rows`` (unique) of ``adj @ x`` for a *symmetric* ``adj``: a row block product forward; the backward
    ``grad_x = adj[rows]ᵀ grad = adj @ (grad scattered to rows)`` only reads the matrix where those rows' columns are."""

    @staticmethod
    def forward(ctx, adj: Tensor, x: Tensor, rows: Tensor) -> Tensor:
        ctx.save_for_backward(rows)
        ctx.adj, ctx.n = adj, x.size(0)
        return kernels.spmm_rows_add_(x.new_zeros(rows.numel(), x.size(1)), adj, x, rows)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (rows,) = ctx.saved_tensors
        return None, kernels.spmm_from_rows(ctx.adj, grad.contiguous(), rows, kernels.row_slots(rows, ctx.n)), None


def propagate_layers_rows(adj: Tensor, x: Tensor, num_layers: int, rows: Tensor, noise=None) -> list[Tensor]:
    """``[h[rows] for h in propagate_layers(adj, x, num_layers, noise)]`` (``rows`` unique), with the last layer
    computed for ``rows`` only: one full product fewer forward and backward (half of them for SimGCL/XSimGCL's
    2 layers). The last layer's noise is then drawn for those rows only: the same distribution (the noise is
    drawn row by row), other draws."""
    if num_layers < 1:
        return [x[rows]]
    layers = propagate_layers(adj, x, num_layers - 1, noise)
    last = SymSpMMRows.apply(adj, layers[-1], rows)
    if noise is not None:
        last = last + noise(last)
    return [h[rows] for h in layers] + [last]
