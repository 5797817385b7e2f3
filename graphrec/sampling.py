"""Seeded BPR sampling: ``nnz`` (user, positive, negative) triples per epoch, negatives drawn uniformly from the items
the user has not interacted with in train (vectorised rejection).

Two ways to pick the (user, positive) pairs, which weight users differently:

* ``"interaction"``: every training interaction once, shuffled (RecBole, SELFRec). A user with 500 items gets 50x the
  updates of a user with 10.
* ``"user"``: users drawn uniformly (among those with training items), then one of the user's items uniformly: the
  sampler of the LightGCN and NGCF reference code (``UniformSample_original``, NGCF's ``Data.sample``). Every user gets
  the same number of updates in expectation, matching metrics that average over users.
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


SAMPLERS = ("interaction", "user")


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
    else:
        raise ConfigError(f"bpr_epoch: sampler must be one of {SAMPLERS}, got {sampler!r}")
    neg = sample_negatives(users, keys, n_items, generator)
    for start in range(0, train.nnz, batch_size):
        sl = slice(start, start + batch_size)
        yield BPRBatch(users[sl], items[sl], neg[sl])


def n_batches(train: UserItems, batch_size: int) -> int:
    return -(-train.nnz // batch_size)
