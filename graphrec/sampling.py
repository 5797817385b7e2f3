"""Seeded BPR sampling: ``nnz`` (user, positive, negative) triples per epoch, negatives drawn uniformly from the items
the user has not interacted with in train (vectorised rejection).

Three ways to pick the (user, positive) pairs, which weight users and interactions differently:

* ``"interaction"``: every training interaction once, shuffled (RecBole, SELFRec). A user with 500 items gets 50x the
  updates of a user with 10.
* ``"user"``: users drawn uniformly (among those with training items), then one of the user's items uniformly: the
  sampler of the LightGCN and NGCF reference code (``UniformSample_original``, NGCF's ``Data.sample``). Every user gets
  the same number of updates in expectation, matching metrics that average over users.
* ``"weighted"``: ``nnz`` interactions drawn with replacement, each with probability proportional to its weight
  (``UserItems.weights``; an absent weight, NaN, counts 1): several interaction types (view / cart / buy) or ratings
  trained as one weighted graph, an interaction of weight 5 getting 5x the updates of one of weight 1 in expectation.
  Negatives are drawn as for the others.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple

import torch
from torch import Tensor

from graphrec.errors import ConfigError
from graphrec.recdata import UserItems, contains


class BPRBatch(NamedTuple):
    users: Tensor
    pos: Tensor
    neg: Tensor


def sample_negatives(users: Tensor, train_keys: Tensor, n_items: int, generator: torch.Generator,
                     max_rounds: int = 100) -> Tensor:
    """Uniform negatives for ``users``, resampling (only) those that hit a training positive, found by
    ``searchsorted`` over the sorted ``user * n_items + item`` keys."""
    neg = torch.randint(n_items, users.shape, generator=generator)
    bad = contains(train_keys, users * n_items + neg)
    rounds = 0
    while bool(bad.any()):
        rounds += 1
        if rounds > max_rounds:
            raise ConfigError(f"sample_negatives: no negative found after {max_rounds} rounds for "
                              f"{int(bad.sum())} users (do some users interact with almost every item?)")
        idx = torch.nonzero(bad).reshape(-1)
        neg[idx] = torch.randint(n_items, idx.shape, generator=generator)
        bad[idx] = contains(train_keys, users[idx] * n_items + neg[idx])
    return neg


SAMPLERS = ("interaction", "user", "weighted")


def sampling_weights(train: UserItems) -> Tensor:
    """``train``'s weights as the "weighted" sampler uses them (float64, NaN -> 1), or a ConfigError naming what is
    wrong: no weights at all, a negative or infinite one, or none above zero."""
    if train.weights is None:
        raise ConfigError("sampler 'weighted' draws interactions in proportion to their weight, and the training "
                          "interactions carry none: map a weight (a property or a constant per interaction type) or "
                          "use the 'interaction' sampler")
    weights = train.weights.double()
    weights = torch.where(torch.isnan(weights), 1.0, weights)  # (nan_to_num would also turn inf into a number)
    bad = ~torch.isfinite(weights) | (weights < 0)
    if bool(bad.any()):
        raise ConfigError(f"sampler 'weighted': {int(bad.sum()):,} training interactions have a negative or infinite "
                          f"weight (e.g. {float(weights[bad][0])}); weights must be >= 0 (NaN counts 1)")
    if train.nnz and not bool((weights > 0).any()):
        raise ConfigError("sampler 'weighted': every training interaction has weight 0, so none can be drawn")
    return weights


def weighted_draws(weights: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """``n`` indices into ``weights`` drawn with replacement, index k with probability ``weights[k] / sum``: inverse
    CDF by ``searchsorted`` over the cumulative sums (no category limit, unlike ``torch.multinomial``'s 2^24)."""
    if n == 0:
        return torch.empty(0, dtype=torch.long)
    cumulative = torch.cumsum(weights, 0)
    draws = torch.rand(n, generator=generator, dtype=torch.float64) * cumulative[-1]
    picks = torch.searchsorted(cumulative, draws, right=True)
    # rand * total can round up to total itself: that draw belongs to the last interaction with a weight
    last = int(torch.nonzero(weights > 0).reshape(-1)[-1])
    return picks.clamp_(max=last)


def bpr_epoch(train: UserItems, n_items: int, batch_size: int, generator: torch.Generator,
              sampler: str = "interaction") -> Iterator[BPRBatch]:
    """Yield ``ceil(nnz / batch_size)`` batches of (user, positive, fresh negative); ``sampler``: see the module
    doc."""
    if batch_size < 1:
        raise ConfigError(f"bpr_epoch: batch_size must be >= 1, got {batch_size}")
    users, items = train.pairs()
    keys = users * n_items + items  # sorted, since CSR is sorted by user then item
    if sampler == "interaction":
        perm = torch.randperm(train.nnz, generator=generator)
        users, items = users[perm], items[perm]
    elif sampler == "user":
        counts = train.counts()
        active = torch.nonzero(counts).reshape(-1)
        users = active[torch.randint(active.numel(), (train.nnz,), generator=generator)]
        offset = (torch.rand(train.nnz, generator=generator, dtype=torch.float64) * counts[users]).long()
        items = train.indices[train.indptr[users] + torch.minimum(offset, counts[users] - 1)]
    elif sampler == "weighted":
        picks = weighted_draws(sampling_weights(train), train.nnz, generator)
        users, items = users[picks], items[picks]
    else:
        raise ConfigError(f"bpr_epoch: sampler must be one of {SAMPLERS}, got {sampler!r}")
    neg = sample_negatives(users, keys, n_items, generator)
    for start in range(0, train.nnz, batch_size):
        sl = slice(start, start + batch_size)
        yield BPRBatch(users[sl], items[sl], neg[sl])


def n_batches(train: UserItems, batch_size: int) -> int:
    return -(-train.nnz // batch_size)
