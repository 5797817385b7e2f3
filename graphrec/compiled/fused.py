"""Fused elementwise loops for NGCF's layer (:class:`graphrec.models.ngcf.NGCFLayer`), compiled by numba like
:mod:`graphrec.compiled.kernels`.

After its two dense products, an NGCF layer is elementwise work over (N, d) buffers: two LeakyReLUs and their sum
(or one LeakyReLU of a sum, eq. 7), message dropout, and in the backward the activations' gradients and the product
``side * h``'s. Torch does each as its own pass (~8 forward, ~12 backward per layer); here it is one pass forward and
two backward. Dropout's mask is a hash of a seed and the element's index (splitmix64's finaliser), so the backward
recomputes it instead of storing it, and a draw costs a few integer operations: on Gowalla's 70,839 x 64 layer,
``F.dropout`` took ~50 ms at 2 threads against ~8 ms for one multiply of the same buffer (measured beside a training
job). The mask keeps each element with probability 1 - p (to 2⁻²⁴), independently of the thread count.

CPU tensors only (:func:`elementwise_fast` says which); the model uses plain torch elsewhere (CUDA).
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np
import torch
from torch import Tensor

from graphrec.compiled import kernels

# Module global, not a closure variable (numba's on-disk cache keys on the closure; see graphrec.compiled.kernels).
_dropped = None  # dropped(seed, index, threshold): whether dropout drops element ``index``


@functools.cache
def _compiled():
    base = kernels._compiled()  # starts numba's thread pool and puts torch's thread count back
    from numba import njit, prange

    global _dropped
    jit = njit(parallel=True, fastmath=True, cache=True, nogil=True)

    @njit(fastmath=True, cache=True, nogil=True, inline="always")
    def dropped(seed, index, threshold):
        # splitmix64's finaliser of seed + (index + 1) * golden ratio: True for threshold / 2**24 of the indices
        z = seed + (index + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        return (z >> np.uint64(40)) < threshold

    _dropped = dropped

    @jit
    def ngcf_activation(a, b, out, code, slope, threshold, scale, seed):
        # out = dropout(LeakyReLU(a) + LeakyReLU(b)) (code) or dropout(LeakyReLU(a + b)), the mask from (seed, index).
        # slope and scale come in the arrays' dtype, so float32 stays float32.
        n, d = a.shape
        zero = scale - scale
        for i in prange(n):
            base = np.uint64(i) * np.uint64(d)
            for k in range(d):
                if code:
                    x, y = a[i, k], b[i, k]
                    v = (x if x > 0 else slope * x) + (y if y > 0 else slope * y)
                else:
                    x = a[i, k] + b[i, k]
                    v = x if x > 0 else slope * x
                if threshold > 0:
                    v = zero if _dropped(seed, base + np.uint64(k), threshold) else v * scale
                out[i, k] = v

    @jit
    def ngcf_activation_backward(g, a, b, ga, gb, code, slope, threshold, scale, seed):
        # The gradients of ngcf_activation's output with respect to a and b, given g (same mask)
        n, d = a.shape
        zero = scale - scale
        for i in prange(n):
            base = np.uint64(i) * np.uint64(d)
            for k in range(d):
                v = g[i, k]
                if threshold > 0:
                    v = zero if _dropped(seed, base + np.uint64(k), threshold) else v * scale
                if code:
                    ga[i, k] = v if a[i, k] > 0 else slope * v
                    gb[i, k] = v if b[i, k] > 0 else slope * v
                else:
                    w = v if a[i, k] + b[i, k] > 0 else slope * v
                    ga[i, k] = w
                    gb[i, k] = w

    @jit
    def ngcf_input_grads(u, t, side, h, gh, code):
        # With u = dL/d(input of W1) and t = dL/d(side * h): u <- dL/d side = u + t * h, gh = dL/dh = t * side
        # (+ u for eq. 7, whose W1 reads side + h)
        n, d = u.shape
        for i in prange(n):
            for k in range(d):
                x = u[i, k]
                gh[i, k] = t[i, k] * side[i, k] if code else x + t[i, k] * side[i, k]
                u[i, k] = x + t[i, k] * h[i, k]

    @jit
    def dropout_keep(n, d, threshold, seed, out):
        for i in prange(n):
            base = np.uint64(i) * np.uint64(d)
            for k in range(d):
                out[i, k] = not _dropped(seed, base + np.uint64(k), threshold)

    return SimpleNamespace(numba=base.numba, ngcf_activation=ngcf_activation,
                           ngcf_activation_backward=ngcf_activation_backward, ngcf_input_grads=ngcf_input_grads,
                           dropout_keep=dropout_keep)


def elementwise_fast(*tensors: Tensor) -> bool:
    """Whether the loops cover these tensors: CPU, float32/64 of one dtype, 2-D, contiguous."""
    return all(t.device.type == "cpu" and t.dtype == tensors[0].dtype and t.dtype in (torch.float32, torch.float64)
               and t.dim() == 2 and t.is_contiguous() for t in tensors)


def _loops():
    loops = _compiled()
    kernels._threads(loops.numba)
    return loops


def _dropout_args(p: float, seed: int, dtype: torch.dtype):
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    threshold = round(p * 2**24)  # an element is dropped when the top 24 bits of its hash are below this
    scale = 1.0 / (1.0 - p) if threshold else 1.0
    return np.uint64(threshold), _scalar(scale, dtype), np.uint64(seed % 2**64)


def _scalar(value: float, dtype: torch.dtype):
    return np.float32(value) if dtype == torch.float32 else np.float64(value)


def ngcf_activation(a: Tensor, b: Tensor, code: bool, slope: float, p: float, seed: int) -> Tensor:
    """``dropout(leaky_relu(a) + leaky_relu(b))`` (``code``) or ``dropout(leaky_relu(a + b))``, dropping each element
    with probability ``p`` (to 2⁻²⁴) by the mask :func:`dropout_keep` gives for ``seed``, scaling the rest by
    1/(1-p)."""
    loops = _loops()
    out = torch.empty_like(a)
    threshold, scale, seed = _dropout_args(p, seed, a.dtype)
    loops.ngcf_activation(a.numpy(), b.numpy(), out.numpy(), bool(code), _scalar(slope, a.dtype), threshold, scale,
                          seed)
    return out


def ngcf_activation_backward(g: Tensor, a: Tensor, b: Tensor, code: bool, slope: float, p: float,
                             seed: int) -> tuple[Tensor, Tensor]:
    """The gradients with respect to ``a`` and ``b`` of :func:`ngcf_activation` (same arguments), given ``g``."""
    loops = _loops()
    ga, gb = torch.empty_like(a), torch.empty_like(b)
    threshold, scale, seed = _dropout_args(p, seed, a.dtype)
    loops.ngcf_activation_backward(g.contiguous().numpy(), a.numpy(), b.numpy(), ga.numpy(), gb.numpy(), bool(code),
                                   _scalar(slope, a.dtype), threshold, scale, seed)
    return ga, gb


def ngcf_input_grads(u: Tensor, t: Tensor, side: Tensor, h: Tensor, code: bool) -> tuple[Tensor, Tensor]:
    """``(u + t * h, t * side)`` for ``code``, ``(u + t * h, u + t * side)`` otherwise; ``u`` is overwritten by the
    first. The input gradients of NGCF's layer given u = dL/d(W1's input) and t = dL/d(side * h)."""
    loops = _loops()
    gh = torch.empty_like(h)
    loops.ngcf_input_grads(u.numpy(), t.numpy(), side.numpy(), h.numpy(), gh.numpy(), bool(code))
    return u, gh


def dropout_keep(n: int, d: int, p: float, seed: int) -> Tensor:
    """The (n, d) boolean mask of the elements the loops above keep for ``seed`` and ``p``."""
    loops = _loops()
    out = torch.empty(n, d, dtype=torch.bool)
    threshold, _, seed = _dropout_args(p, seed, torch.float64)
    loops.dropout_keep(n, d, threshold, seed, out.numpy())
    return out
