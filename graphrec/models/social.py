"""What the social recommenders (DiffNet, MHCN, SEPT) share: fixed sparse matrices as autograd-friendly operators,
and the graph matrices they are built from.

Social models mix square user-user matrices, rectangular user-item ones and row-normalised (non-symmetric) ones, so
unlike :func:`graphrec.models.propagation.sym_spmm` the backward of ``y = M x`` needs ``Mᵀ``: a
:class:`SparseOperator` keeps both as CSR and never builds a gradient for the matrix values (they never train).
The matrices are built with scipy once, at construction; they are data, not weights, so they are non-persistent
buffers (rebuilt from the graph on load, never saved), as Â is in :class:`graphrec.models.base.Recommender`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from graphrec.errors import ModelError
from graphrec.models.propagation import csr, spmm


def _csr_parts(matrix: sp.spmatrix) -> tuple[Tensor, Tensor, Tensor]:
    m = sp.csr_matrix(matrix, dtype=np.float32)
    m.sum_duplicates()
    m.sort_indices()
    # int32 indices: torch's CPU spmm otherwise converts int64 indices on every call (see normalized_adjacency).
    index = np.int32 if m.nnz < 2**31 - 1 else np.int64
    return (torch.from_numpy(m.indptr.astype(index)), torch.from_numpy(m.indices.astype(index)),
            torch.from_numpy(m.data.copy()))


class SparseOperator(nn.Module):
    """``x -> M x`` for a fixed sparse ``M`` of any shape (symmetric or not); gradients flow to ``x`` only."""

    def __init__(self, matrix: sp.spmatrix):
        super().__init__()
        self.shape = (int(matrix.shape[0]), int(matrix.shape[1]))
        self.nnz = int(sp.csr_matrix(matrix).nnz)
        for name, part in (("m", matrix), ("mt", sp.csr_matrix(matrix).T)):
            crow, col, val = _csr_parts(part)
            self.register_buffer(f"{name}_crow", crow, persistent=False)
            self.register_buffer(f"{name}_col", col, persistent=False)
            self.register_buffer(f"{name}_val", val, persistent=False)

    def matrix(self) -> Tensor:
        return csr(self.m_crow, self.m_col, self.m_val, self.shape[0], self.shape[1])

    def transposed(self) -> Tensor:
        return csr(self.mt_crow, self.mt_col, self.mt_val, self.shape[1], self.shape[0])

    def forward(self, x: Tensor) -> Tensor:
        return spmm(self.matrix(), self.transposed(), x)

    def to_dense(self) -> Tensor:
        return self.matrix().to_dense()

    def extra_repr(self) -> str:
        return f"shape={self.shape}, nnz={self.nnz}"


def friendships(model: nn.Module, side) -> Tensor:
    """The model's social graph: ``side.social_undirected()`` (ties read as undirected, as in RecBole-GNN)."""
    if side is None or not side.has_social:
        raise ModelError(f"{type(model).__name__} needs side= a SideGraphs with social edges (FOLLOWS), got {side!r}")
    return side.social_undirected()


def interaction_matrix(graph: Tensor, n_users: int, n_items: int) -> sp.csr_matrix:
    """Y (n_users, n_items): 1 where the user interacted with the item in train (duplicates collapse to 1)."""
    users, items = graph[0].long().cpu().numpy(), graph[1].long().cpu().numpy()
    y = sp.csr_matrix((np.ones(users.size, dtype=np.float32), (users, items)), shape=(n_users, n_items))
    y.data[:] = 1.0
    return y


def social_matrix(social: Tensor, n_users: int) -> sp.csr_matrix:
    """S (n_users, n_users): S[u, v] = 1 for each edge u -> v of ``social`` (2, S), self-loops dropped.
    Pass ``SideGraphs.social_undirected()`` for the symmetric friendship matrix the social models use."""
    src, dst = social[0].long().cpu().numpy(), social[1].long().cpu().numpy()
    keep = src != dst
    s = sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.float32), (src[keep], dst[keep])), shape=(n_users, n_users))
    s.data[:] = 1.0
    return s


def row_normalized(matrix: sp.spmatrix) -> sp.csr_matrix:
    """D⁻¹ M: each row averages its neighbours; empty rows stay zero."""
    deg = np.asarray(matrix.sum(axis=1)).ravel()
    inv = np.divide(1.0, deg, out=np.zeros_like(deg), where=deg > 0)
    return sp.csr_matrix(sp.diags(inv) @ matrix)


def sym_normalized(matrix: sp.spmatrix) -> sp.csr_matrix:
    """D^-1/2 M D^-1/2 of a square symmetric M (degrees = row sums); empty rows stay zero."""
    deg = np.asarray(matrix.sum(axis=1)).ravel()
    inv = np.power(deg, -0.5, out=np.zeros_like(deg), where=deg > 0)
    d = sp.diags(inv)
    return sp.csr_matrix(d @ matrix @ d)


def bipartite_sym_normalized(y: sp.spmatrix) -> sp.csr_matrix:
    """D_u^-1/2 Y D_i^-1/2 (n_users, n_items): the user-item block of LightGCN's Â."""
    du = np.asarray(y.sum(axis=1)).ravel()
    di = np.asarray(y.sum(axis=0)).ravel()
    inv_u = np.power(du, -0.5, out=np.zeros_like(du), where=du > 0)
    inv_i = np.power(di, -0.5, out=np.zeros_like(di), where=di > 0)
    return sp.csr_matrix(sp.diags(inv_u) @ y @ sp.diags(inv_i))
