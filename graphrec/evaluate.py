"""Full-ranking evaluation: every user is scored against all items, known positives are masked, top-K is taken in
user batches, and :class:`graphrec.metrics.RankingMetrics` accumulates the metrics.

What is masked (so a user's known items never count as recommendations):
* ``split="valid"``: the user's train items.
* ``split="test"``: train + valid items. When valid was carved out of the original train (``holdout``), this masks
  exactly the dataset's training file, which is the LightGCN/NGCF protocol; valid items are known positives at test
  time, not candidates.
Users with no items in the evaluated split are skipped (see ``n_users`` in the result).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence, Union

import torch
from torch import Tensor

from graphrec.errors import ConfigError
from graphrec.compiled.kernels import topk_indices
from graphrec.metrics import RankingMetrics
from graphrec.recdata import RecData, UserItems, contains

if TYPE_CHECKING:
    from graphrec.distributed import DataParallel

Scorer = Union[Callable[[Tensor], Tensor], tuple[Tensor, Tensor]]


def _csr_rows(ui: UserItems, users: Tensor) -> tuple[Tensor, Tensor]:
    """(row-in-batch, item) pairs of the given users' interactions."""
    start, end = ui.indptr[users], ui.indptr[users + 1]
    counts = end - start
    rows = torch.repeat_interleave(torch.arange(users.numel()), counts)
    # Position inside each user's slice: global arange minus the slice start of its row.
    offsets = torch.arange(int(counts.sum())) - torch.repeat_interleave(counts.cumsum(0) - counts, counts)
    return rows, ui.indices[start[rows] + offsets]


@torch.no_grad()
def evaluate(scorer: Scorer, data: RecData, split: str = "valid", ks: Sequence[int] = (20,),
             batch_users: int = 2048, beyond_accuracy: bool = False,
             group: DataParallel | None = None, per_user: dict | None = None) -> dict[str, float]:
    """Full-ranking metrics of ``scorer`` on ``split`` ('valid' or 'test').

    ``scorer`` is ``(user_emb, item_emb)`` (scores are dot products, the contract of every model here) or a callable
    ``users (B,) -> scores (B, n_items)``. Returns a dict of floats, e.g. ``{"recall@20": ..., "ndcg@20": ...,
    "n_users": ...}``; ``beyond_accuracy`` adds coverage / avgpop / gini / novelty, and ILD / KG coverage when
    ``data.item_entities`` holds the items' knowledge-graph neighbours. ``group`` (data-parallel training): this
    process ranks every ``world_size``-th user and the metrics' sums are added up over the processes, so each
    returns the metrics of all the users. ``per_user``: a dict filled with each user's accuracy metrics
    (:meth:`graphrec.metrics.RankingMetrics.user_values`: ``users`` and ``recall@20`` etc.), for a paired comparison
    of two runs (:mod:`graphrec.compare`).
    """
    if split not in ("valid", "test"):
        raise ConfigError(f"evaluate: split must be 'valid' or 'test', got {split!r}")
    if batch_users < 1:
        raise ConfigError(f"evaluate: batch_users must be >= 1, got {batch_users}")
    target = data.split(split)
    masks = [data.train] + ([data.valid] if split == "test" and data.valid.nnz else [])
    if isinstance(scorer, tuple):
        user_emb, item_emb = scorer
        # One reused output buffer: allocating a fresh (batch, n_items) block per batch costs page faults that
        # took ~40% as long as the matmul itself on Gowalla.
        buffer = torch.empty(min(batch_users, data.n_users), data.n_items, dtype=user_emb.dtype,
                             device=user_emb.device)

        def score_fn(users: Tensor) -> Tensor:
            out = buffer[:users.numel()]
            return torch.mm(user_emb[users], item_emb.t(), out=out)
    else:
        score_fn = scorer
    popularity = data.item_popularity() if beyond_accuracy else None
    if per_user is not None and group is not None:
        raise ConfigError("evaluate: per_user values are kept in one process (not with a data-parallel group)")
    metrics = RankingMetrics(ks, data.n_items, popularity=popularity, n_users=data.n_users,
                             item_entities=data.item_entities if beyond_accuracy else None,
                             keep_users=per_user is not None)
    kmax = max(ks)
    if kmax > data.n_items:
        raise ConfigError(f"evaluate: max K ({kmax}) exceeds n_items ({data.n_items})")
    target_keys = target.keys(data.n_items)
    n_true_all = target.counts()
    users_all = torch.nonzero(n_true_all > 0).reshape(-1)
    if group is not None:
        users_all = group.users(users_all)
    for start in range(0, users_all.numel(), batch_users):
        users = users_all[start:start + batch_users]
        scores = score_fn(users)
        for ui in masks:
            rows, items = _csr_rows(ui, users)
            scores[rows, items] = -torch.inf
        top = topk_indices(scores, kmax).cpu()  # embeddings may live on a GPU; the bookkeeping is on the CPU
        hits = contains(target_keys, users.unsqueeze(1) * data.n_items + top)
        metrics.update(top, hits, n_true_all[users], users)
    if group is not None:
        group.reduce_metrics(metrics)
    if per_user is not None:
        per_user.update(metrics.user_values())
    return metrics.compute()
