"""Pure loss functions shared by the models (tensor in, scalar tensor out)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def bpr_loss(pos_scores: Tensor, neg_scores: Tensor) -> Tensor:
    """Bayesian personalised ranking: mean of -log sigmoid(pos - neg), written as softplus for stability."""
    return F.softplus(neg_scores - pos_scores).mean()


def l2_reg(*ego: Tensor) -> Tensor:
    """LightGCN's regulariser: 1/2 * sum of squared norms of the batch's layer-0 (ego) embeddings, divided by the
    batch size (the rows of the first tensor). Multiply by the decay (e.g. 1e-4) in the model."""
    total = sum(e.pow(2).sum() for e in ego)
    return 0.5 * total / ego[0].size(0)


def info_nce(view1: Tensor, view2: Tensor, temperature: float) -> Tensor:
    """InfoNCE between two views of the same nodes (row i of each is a positive pair; other rows are negatives).
    Views are L2-normalised first, as in SGL/SimGCL."""
    view1, view2 = F.normalize(view1, dim=1), F.normalize(view2, dim=1)
    logits = view1 @ view2.t() / temperature
    return F.cross_entropy(logits, torch.arange(view1.size(0), device=view1.device))


def info_nce_all(anchor: Tensor, positive: Tensor, candidates: Tensor, temperature: float,
                 reduction: str = "mean", weights: Tensor | None = None) -> Tensor:
    """InfoNCE whose negatives are *all* ``candidates`` (e.g. every user), not just the batch: row i of ``anchor``
    is pulled to row i of ``positive`` and pushed from each candidate (the positive is one of them, as in SGL's and
    NCL's papers). Cosine similarity: all three are L2-normalised. ``reduction``: "mean" or "sum" over rows;
    ``weights`` (optional): how many times each row counts (see :func:`info_nce_nodes`).

    The batch × candidates score matrix is never held whole: :class:`LogSumExpScores` works through the candidates in
    blocks (2.7x faster than one matrix on Gowalla's users at batch 2048, 1 thread; BENCHMARKS.md)."""
    anchor, positive, candidates = (F.normalize(t, dim=1) for t in (anchor, positive, candidates))
    anchor = anchor / temperature
    loss = LogSumExpScores.apply(anchor, candidates) - (anchor * positive).sum(1)
    if weights is None:
        return loss.sum() if reduction == "sum" else loss.mean()
    weights = weights.to(loss.dtype)
    total = (loss * weights).sum()
    return total if reduction == "sum" else total / weights.sum()


def info_nce_nodes(view1: Tensor, view2: Tensor, candidates: Tensor, nodes: Tensor, temperature: float,
                   reduction: str = "mean") -> Tensor:
    """``info_nce_all(view1[nodes], view2[nodes], candidates, ...)`` for a batch's node ids ``nodes``, which repeat
    (a popular item is the positive of many of the batch's pairs): each distinct node is scored against the candidates
    once and counted as often as it occurs. Same value and gradients, at the cost of the distinct nodes only (at batch
    4,096 on ML-1M ~60% of the users and ~40% of the items are distinct; benchmarks/HISTORY.md)."""
    once, counts = distinct(nodes)
    return info_nce_all(view1[once], view2[once], candidates, temperature, reduction, weights=counts)


def distinct(nodes: Tensor) -> tuple[Tensor, Tensor]:
    """A batch's distinct node ids and how often each occurs (the weights of the contrastive terms scored once per
    node)."""
    return torch.unique(nodes, return_counts=True)


class LogSumExpScores(torch.autograd.Function):
    """``logsumexp(a @ cᵀ, dim=1)`` in blocks of ``BLOCK`` rows of ``c``: a running log-sum-exp forward, and a
    backward that recomputes each block's scores (softmax = exp(scores - lse)) instead of keeping the whole
    batch × candidates matrix, so every pass over the scores stays in cache."""

    BLOCK = 1024

    @staticmethod
    def forward(ctx, a: Tensor, c: Tensor) -> Tensor:
        lse = a.new_full((a.size(0),), float("-inf"))
        for start in range(0, c.size(0), LogSumExpScores.BLOCK):
            lse = torch.logaddexp(lse, torch.logsumexp(a @ c[start:start + LogSumExpScores.BLOCK].t(), dim=1))
        ctx.save_for_backward(a, c, lse)
        return lse

    @staticmethod
    def backward(ctx, grad: Tensor):
        a, c, lse = ctx.saved_tensors
        grad_a = torch.zeros_like(a) if ctx.needs_input_grad[0] else None
        grad_c = torch.empty_like(c) if ctx.needs_input_grad[1] else None
        for start in range(0, c.size(0), LogSumExpScores.BLOCK):
            block = c[start:start + LogSumExpScores.BLOCK]
            weights = (a @ block.t()).sub_(lse[:, None]).exp_().mul_(grad[:, None])  # softmax rows × grad
            if grad_a is not None:
                grad_a.addmm_(weights, block)
            if grad_c is not None:
                torch.mm(weights.t(), a, out=grad_c[start:start + block.size(0)])
        return grad_a, grad_c


def alignment(user: Tensor, item: Tensor) -> Tensor:
    """DirectAU's alignment: mean over positive pairs of ||f(u) - f(i)||² on L2-normalised embeddings."""
    return (F.normalize(user, dim=-1) - F.normalize(item, dim=-1)).pow(2).sum(-1).mean()


def uniformity(x: Tensor, t: float = 2.0) -> Tensor:
    """DirectAU's (Wang & Isola's) uniformity: log of the mean over distinct pairs of exp(-t ||f(x) - f(y)||²),
    on L2-normalised rows."""
    return torch.pdist(F.normalize(x, dim=-1), p=2).pow(2).mul(-t).exp().mean().log()


def info_nce_multi(anchor: Tensor, candidates: Tensor, positives: Tensor, temperature: float) -> Tensor:
    """InfoNCE with several positives per anchor (SEPT's neighbour discrimination), summed over anchors:
    -log( sum_{p in positives[i]} exp(s_ip / t) / sum_j exp(s_ij / t) ), s the cosine similarity of row i of
    ``anchor`` and row j of ``candidates``; ``positives`` (B, K) indexes ``candidates``."""
    anchor, candidates = F.normalize(anchor, dim=1), F.normalize(candidates, dim=1)
    logits = anchor @ candidates.t() / temperature
    return (torch.logsumexp(logits, dim=1) - torch.logsumexp(logits.gather(1, positives), dim=1)).sum()
