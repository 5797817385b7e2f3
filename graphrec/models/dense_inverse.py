"""The inverse of a symmetric positive definite float32 matrix in its own memory, for EASE^R's item x item Gram: one
m x m buffer instead of the three (Gram, factor, inverse) of ``torch.linalg.inv`` or a factor-then-solve, so the whole
Gowalla catalogue (40,981 items, 6.7 GB per copy) fits where three copies would not.

The steps are LAPACK's ``potri`` split in three: the Cholesky factor L (``spotrf``) and L⁻¹ (``strtri``) in place
through scipy's LAPACK, then P = L⁻ᵀL⁻¹ by LAPACK ``lauum``'s blocked algorithm written with torch products (scipy's
OpenBLAS ``slauum`` took 7x as long as its ``strtri`` at 12,000 items), and the triangle mirrored. scipy's steps use
its own BLAS threads (OpenBLAS: ``OPENBLAS_NUM_THREADS``, else every core); the products use torch's.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from graphrec.errors import ModelError


def spd_inverse_(a: Tensor, block: int = 2048) -> Tensor:
    """Overwrite the symmetric positive definite (m, m) float32 C-contiguous ``a`` with its inverse; returns ``a``."""
    from scipy.linalg import lapack

    if a.dtype != torch.float32 or not a.is_contiguous() or a.dim() != 2 or a.size(0) != a.size(1):
        raise ModelError(f"spd_inverse_: a must be a square contiguous float32 matrix, got {a.dtype} "
                         f"{tuple(a.shape)} (contiguous {a.is_contiguous()})")
    n = a.size(0)
    # a is symmetric, so its transpose is itself in Fortran order: LAPACK works on that view without a copy, and its
    # lower triangle is a's upper one (m below is that view, indexed as LAPACK sees it).
    fortran = a.numpy().T
    factor, info = lapack.spotrf(fortran, lower=1, clean=0, overwrite_a=1)
    if info > 0:
        raise ModelError(f"spd_inverse_: the matrix is not positive definite (leading minor {info} of {n}); "
                         "raise the regularisation")
    inverse, info = lapack.strtri(factor, lower=1, overwrite_c=1)
    if info != 0 or not (np.shares_memory(factor, fortran) and np.shares_memory(inverse, fortran)):
        raise ModelError(f"spd_inverse_: LAPACK did not factor the {n} x {n} matrix in place (info {info})")
    m = a.t()
    # M = L⁻¹ is in m's lower triangle: P = MᵀM, block row by block row from the top, each written over the rows it
    # no longer needs (the rows below it, still M, are what later blocks read).
    for i in range(0, n, block):
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
    for i in range(0, n, block):
        end = min(i + block, n)
        a[i:end, :i] = a[:i, i:end].t()
        a[i:end, i:end] = a[i:end, i:end].triu() + a[i:end, i:end].triu(1).t()
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
    import os

    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
