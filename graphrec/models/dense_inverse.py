"""The inverse of a symmetric positive definite float32 matrix in its own memory, for EASE^R's item x item Gram: one
m x m buffer instead of the three (Gram, factor, inverse) of ``torch.linalg.inv`` or a factor-then-solve, so the whole
Gowalla catalogue (40,981 items, 6.7 GB per copy) fits where three copies would not.

LAPACK's ``potri`` in three steps, all torch (its BLAS/LAPACK and its threads): the Cholesky factor L by
``torch.linalg.cholesky`` written into the matrix itself (given the matrix's column-major view, torch factors it without
a copy), then L⁻¹ and P = L⁻ᵀL⁻¹ by blocked algorithms that overwrite the blocks they no longer need (LAPACK ``trtri``
and ``lauum``, written with torch products on views), and the triangle mirrored. Through scipy's LAPACK the same steps
crashed inside OpenBLAS at Gowalla's size, and ``torch.cholesky_inverse`` holds extra copies.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor

from graphrec.errors import ModelError


def spd_inverse_(a: Tensor, block: int = 2048) -> Tensor:
    """Overwrite the symmetric positive definite (m, m) float32 C-contiguous ``a`` with its inverse; returns ``a``."""
    if a.dtype != torch.float32 or not a.is_contiguous() or a.dim() != 2 or a.size(0) != a.size(1):
        raise ModelError(f"spd_inverse_: a must be a square contiguous float32 matrix, got {a.dtype} "
                         f"{tuple(a.shape)} (contiguous {a.is_contiguous()})")
    n = a.size(0)
    # a is symmetric, so its transpose m is itself in column-major order, which LAPACK factors in place; below, every
    # step works on m's lower triangle (a's upper one).
    m = a.t()
    try:
        torch.linalg.cholesky(m, out=m)
    except torch.linalg.LinAlgError as exc:
        raise ModelError(f"spd_inverse_: the {n} x {n} matrix is not positive definite ({exc}); raise the "
                         "regularisation") from None
    starts = list(range(0, n, block))
    # L⁻¹ in place, block column by block column from the left, each from the top: for i > j,
    # M_ij = −L_ii⁻¹ (Σ_{j<=k<i} L_ik M_kj), where column j above row i is already M and columns right of j still L.
    diagonal_inverses = [torch.linalg.solve_triangular(m[i:i + block, i:i + block].tril(),
                                                       torch.eye(min(block, n - i)), upper=False) for i in starts]
    for j_index, j in enumerate(starts):
        j_end = min(j + block, n)
        m[j:j_end, j:j_end] = diagonal_inverses[j_index]
        for i_index in range(j_index + 1, len(starts)):
            i, i_end = starts[i_index], min(starts[i_index] + block, n)
            m[i:i_end, j:j_end] = -(diagonal_inverses[i_index] @ (m[i:i_end, j:i] @ m[j:i, j:j_end]))
    del diagonal_inverses
    # P = MᵀM, block row by block row from the top, each written over the rows it no longer needs (the rows below it,
    # still M, are what later blocks read): LAPACK lauum's blocked algorithm.
    for i in starts:
        end = min(i + block, n)
        diag = m[i:end, i:end].tril()
        left = diag.t() @ m[i:end, :i]
        square = diag.t() @ diag
        if end < n:
            below = m[end:, i:end]
            left += below.t() @ m[end:, :i]
            square += below.t() @ below
        m[i:end, :i] = left
        m[i:end, i:end] = square
    # P's lower triangle in m is a's upper one: mirror it into a's lower triangle.
    for i in starts:
        end = min(i + block, n)
        a[i:end, :i] = a[:i, i:end].t()
    return a


def available_bytes() -> int:
    """Memory the system can give a new allocation now (Linux ``MemAvailable``: free plus reclaimable cache), else
    the free physical pages."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
