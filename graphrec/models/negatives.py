"""Many sampled negatives per positive (UltraGCN's constraint loss, MF-BPR with ``num_negatives``): uniform draws
and their scores ``u[b] · item[neg[b, n]]``, computed by compiled loops over the indices instead of gathering a
(batch, negatives, dim) block."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from graphrec.kernels import gathered_dots, gathered_dots_backward


def uniform_negatives(users: Tensor, n_items: int, num: int) -> Tensor:
    """(len(users), num) item ids drawn uniformly from all items, from torch's global RNG (which the training loop
    seeds per epoch). A user's own items are not excluded: with ~27 of 41k items per Gowalla user a draw hits one
    0.07% of the time, and UltraGCN's and BARS's samplers do the same."""
    return torch.randint(n_items, (users.numel(), num), device=users.device)


class _GatheredDots(torch.autograd.Function):
    """``u[b] · table[idx[b, n]]`` with its backward as compiled loops: the same values and gradients as
    ``einsum(u, table[idx])``, without the (B, N, d) gather and the embedding backward's sort (a Gowalla step at
    batch 512 x 1500 negatives: 0.350 s -> 0.043 s at 2 threads, see BENCHMARKS.md)."""

    @staticmethod
    def forward(ctx, u: Tensor, table: Tensor, idx: Tensor) -> Tensor:
        ctx.save_for_backward(u, table, idx)
        return gathered_dots(u, table, idx)

    @staticmethod
    def backward(ctx, grad: Tensor):
        u, table, idx = ctx.saved_tensors
        grad_u, grad_table = gathered_dots_backward(u, table, idx, grad.contiguous())
        return grad_u, grad_table, None


def negative_scores(u: Tensor, table: Tensor, neg: Tensor) -> Tensor:
    """``scores[b, n] = u[b] · table[neg[b, n]]``, through the compiled loops."""
    return _GatheredDots.apply(u, table, neg)


def negative_scores_gathered(u: Tensor, table: Tensor, neg: Tensor) -> Tensor:
    """The same scores the plain torch way (gather a (B, N, d) block, then a batched product): the reference the
    tests and ``benchmarks/bench_ultragcn_step.py`` compare with."""
    return torch.einsum("bd,bnd->bn", u, F.embedding(neg, table))
