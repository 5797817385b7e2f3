"""Many sampled negatives per positive (UltraGCN's constraint loss; MF, LightGCN and NGCF with ``num_negatives``):
uniform draws and their scores ``u[b] · item[neg[b, n]]``, computed by compiled loops over the indices instead of
gathering a (batch, negatives, dim) block, and BPR / L2 over them."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from graphrec.errors import ModelError
from graphrec.compiled.kernels import gathered_dots, gathered_dots_backward
from graphrec.models.losses import bpr_loss


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


def sampled_bpr(u: Tensor, p: Tensor, items: Tensor, neg: Tensor) -> Tensor:
    """BPR averaged over each positive's sampled negatives: mean over (b, n) of -log σ(u_b · p_b − u_b · items[neg[b, n]])
    (with one negative per row, :func:`graphrec.models.losses.bpr_loss`)."""
    return bpr_loss((u * p).sum(1, keepdim=True), negative_scores(u, items, neg))


def sampled_l2(u_ego: Tensor, p_ego: Tensor, item_ego: Tensor, neg: Tensor) -> Tensor:
    """:func:`graphrec.models.losses.l2_reg` of the batch's ego embeddings with each row's negatives counted by their
    mean squared norm, so that one negative per row gives exactly ``l2_reg(u, p, n)``."""
    neg_sq = item_ego.pow(2).sum(1)[neg].mean(1)
    return 0.5 * (u_ego.pow(2).sum() + p_ego.pow(2).sum() + neg_sq.sum()) / u_ego.size(0)


def num_negatives_arg(model: str, value) -> int:
    """A model's ``num_negatives`` hyper-parameter as an int, refused below 1."""
    if int(value) < 1:
        raise ModelError(f"{model}: num_negatives must be >= 1, got {value}")
    return int(value)


def many_negatives_loss(model, users: Tensor, pos: Tensor) -> Tensor:
    """The ``num_negatives`` > 1 loss of MF, LightGCN and NGCF: :func:`sampled_bpr` over ``model.num_negatives``
    uniform draws per positive, scored against the whole item table of ``model()`` (the propagated one for the graph
    models), plus ``model.reg`` times :func:`sampled_l2` of the batch's ego (layer-0) embeddings."""
    neg = uniform_negatives(users, model.n_items, model.num_negatives)
    user_out, item_out = model()
    return sampled_bpr(user_out[users], item_out[pos], item_out, neg) + \
        model.reg * sampled_l2(model.user(users), model.item(pos), model.item.weight, neg)
