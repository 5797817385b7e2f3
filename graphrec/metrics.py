"""Top-K ranking metrics, streamed over user batches (``update()`` per batch, ``compute()`` at the end).

Input per batch: the top-``max(ks)`` recommended items of each user (ranked, best first), a boolean ``hits`` matrix
(is the recommended item one of the user's held-out items) and each user's number of held-out items. Users with no
held-out items are skipped (they have no defined recall); ``n_users`` in the result counts the users averaged over.

Definitions (all averaged over users):
* Recall@K = hits in top K / |held-out items|                     (LightGCN/NGCF protocol: not min(|test|, K))
* Precision@K = hits in top K / K
* HitRate@K = 1 if any hit in top K
* NDCG@K = DCG@K / IDCG@K, DCG = sum rel_i / log2(i + 1), IDCG over min(|held-out|, K) ideal hits
* MRR@K = 1 / rank of the first hit in top K (0 if none)
* MAP@K = AP@K averaged, AP@K = sum_{i<=K} Precision@i * rel_i / min(|held-out|, K)
Beyond accuracy (over the same users' top-K lists, needs per-item training popularity):
* Coverage@K = distinct recommended items / n_items
* AvgPop@K = mean training popularity (interaction count) of recommended items
* Gini@K = Gini coefficient of the exposure counts of all n_items (0 = equal exposure, 1 = one item gets all)
* Novelty@K = mean over recommended items of -log2(p_i), p_i = max(pop_i, 1) / n_users (the share of users
  who interacted with item i in train; items never seen count as one user so the log stays finite)
Beyond accuracy over the knowledge graph (needs each item's KG neighbours, ``item_entities``):
* ILD@K (intra-list diversity) = mean over pairs of a list's items of 1 - Jaccard(KG neighbours of i, of j); pairs
  where neither item has a KG neighbour are left out, and users whose list has no such pair are not averaged
* KGCoverage@K = distinct KG neighbours reached by all recommended items / KG neighbours of any item (how much of the
  genre/tag/artist-fact space the recommendations touch)
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

from graphrec.errors import ConfigError

ACCURACY = ("recall", "precision", "hit", "ndcg", "mrr", "map")
BEYOND = ("coverage", "avgpop", "gini", "novelty")
KG_BEYOND = ("ild", "kg_coverage")


class RankingMetrics:
    """Streaming accumulator of the metrics above at several K in one pass."""

    def __init__(self, ks: Sequence[int], n_items: int, popularity: Tensor | None = None,
                 n_users: int | None = None, item_entities: tuple[Tensor, Tensor] | None = None,
                 keep_users: bool = False):
        """``keep_users``: also keep each user's accuracy metrics (:meth:`user_values`; ``update`` is then given
        the users), for a paired comparison of two runs on the same users (:mod:`graphrec.compare`)."""
        ks = sorted({int(k) for k in ks})
        if not ks or ks[0] < 1:
            raise ConfigError(f"RankingMetrics: ks must be positive integers, got {ks}")
        self.ks = ks
        self.n_items = n_items
        self.keep_users = keep_users
        self.popularity = None if popularity is None else popularity.double()
        self.n_pop_users = n_users
        if popularity is not None and n_users is None:
            raise ConfigError("RankingMetrics: popularity needs n_users (for novelty's p_i = pop_i / n_users)")
        self.kg = None
        if item_entities is not None and item_entities[1].numel():
            indptr, neighbours = item_entities
            if indptr.numel() != n_items + 1:
                raise ConfigError(f"RankingMetrics: item_entities indptr has {indptr.numel()} entries for "
                                  f"{n_items} items (expected n_items + 1)")
            # Neighbour ids renumbered 0..C-1 over the neighbours items actually have: the multi-hot width.
            columns, local = torch.unique(neighbours, return_inverse=True)
            self.kg = (indptr.long(), local.long(), columns.numel())
        self.reset()

    def reset(self) -> None:
        self.n_users = 0
        self.sums = {(m, k): 0.0 for m in ACCURACY for k in self.ks}
        self.values: dict[str, list[Tensor]] = {"users": [], **{f"{m}@{k}": [] for m in ACCURACY for k in self.ks}}
        self.exposure = torch.zeros(len(self.ks), self.n_items, dtype=torch.long) \
            if self.popularity is not None else None
        if self.kg is not None:
            self.ild_sum = [0.0] * len(self.ks)
            self.ild_users = [0] * len(self.ks)
            self.kg_reached = torch.zeros(len(self.ks), self.kg[2], dtype=torch.bool)

    def update(self, top_items: Tensor, hits: Tensor, n_true: Tensor, users: Tensor | None = None) -> None:
        """``top_items`` (B, >=max K) item ids best first; ``hits`` (B, >=max K) bool; ``n_true`` (B,) counts;
        ``users`` (B,) their ids (needed with ``keep_users``)."""
        kmax = self.ks[-1]
        if hits.size(1) < kmax:
            raise ConfigError(f"RankingMetrics.update: need the top {kmax} items, got {hits.size(1)}")
        if self.keep_users and users is None:
            raise ConfigError("RankingMetrics.update: keep_users needs the batch's users")
        keep = n_true > 0
        if not bool(keep.all()):
            top_items, hits, n_true = top_items[keep], hits[keep], n_true[keep]
            users = None if users is None else users[keep]
        if n_true.numel() == 0:
            return
        self.n_users += n_true.numel()
        hits = hits[:, :kmax].double()
        n_true = n_true.double()
        discount = 1.0 / torch.log2(torch.arange(2, kmax + 2, dtype=torch.float64))
        cum_hits = hits.cumsum(1)  # hits within the top i, for every i
        dcg = (hits * discount).cumsum(1)
        idcg_table = discount.cumsum(0)
        ranks = torch.arange(1, kmax + 1, dtype=torch.float64)
        prec_at_i = cum_hits / ranks
        ap_num = (prec_at_i * hits).cumsum(1)
        # Reciprocal rank of the first hit within the top i: first-hit rank is where cum_hits first becomes 1.
        first = torch.where(hits.any(1), hits.argmax(1).double() + 1, torch.full_like(n_true, math.inf))
        if self.keep_users:
            self.values["users"].append(users.reshape(-1).cpu())
        for k in self.ks:
            h = cum_hits[:, k - 1]
            denom = torch.clamp(n_true, max=k)
            idcg = idcg_table[denom.long() - 1]
            per_user = {"recall": h / n_true, "precision": h / k, "hit": (h > 0).double(),
                        "ndcg": dcg[:, k - 1] / idcg, "mrr": torch.where(first <= k, 1.0 / first, 0.0),
                        "map": ap_num[:, k - 1] / denom}
            for m, values in per_user.items():
                self.sums[m, k] += float(values.sum())
                if self.keep_users:
                    self.values[f"{m}@{k}"].append(values)
            if self.exposure is not None:
                self.exposure[self.ks.index(k)] += torch.bincount(top_items[:, :k].reshape(-1),
                                                                  minlength=self.n_items)
        if self.kg is not None:
            self._update_kg(top_items[:, :kmax])

    def _update_kg(self, top_items: Tensor) -> None:
        """ILD and KG coverage of these lists from the items' neighbour lists alone: the (slot, neighbour) pairs of
        each list, sorted by (user, neighbour), give every pair of slots sharing a neighbour, so the (users, K, K)
        intersections cost what the lists' neighbours number, not users x K x all neighbours (a dense multi-hot of
        every KG neighbour grew with the catalogue times the users: quadratic in the graph's size)."""
        indptr, local, width = self.kg
        n_lists, kmax = top_items.shape
        items = top_items.reshape(-1)
        counts = indptr[items + 1] - indptr[items]
        slot_of = torch.repeat_interleave(torch.arange(items.numel()), counts)  # list * kmax + slot
        offsets = torch.arange(int(counts.sum())) - torch.repeat_interleave(counts.cumsum(0) - counts, counts)
        neighbour = local[indptr[items][slot_of] + offsets]
        # one (list, slot, neighbour) once, sorted by list, then neighbour, then slot
        lists, slots = slot_of // kmax, slot_of % kmax
        keys = torch.unique((lists * width + neighbour) * kmax + slots)
        slots, group = keys % kmax, keys // kmax     # group: list * width + neighbour
        lists, neighbour = group // width, group % width
        size = torch.zeros(n_lists * kmax, dtype=torch.float64)
        size.index_add_(0, lists * kmax + slots, torch.ones(keys.numel(), dtype=torch.float64))
        size = size.view(n_lists, kmax)
        inter = torch.zeros(n_lists * kmax * kmax, dtype=torch.float64)
        for gap in range(1, kmax):  # slots a < b of one list sharing one neighbour, gap places apart in the order
            same = group[gap:] == group[:-gap]
            if not bool(same.any()):
                break
            a, b, owner = slots[:-gap][same], slots[gap:][same], lists[gap:][same]
            inter.index_add_(0, (owner * kmax + a) * kmax + b, torch.ones(a.numel(), dtype=torch.float64))
        inter = inter.view(n_lists, kmax, kmax)
        inter = inter + inter.transpose(1, 2)
        for row, k in enumerate(self.ks):
            self.kg_reached[row, neighbour[slots < k]] = True
            x, s = inter[:, :k, :k], size[:, :k]
            union = s.unsqueeze(2) + s.unsqueeze(1) - x
            pair = torch.triu(torch.ones(k, k, dtype=torch.bool), diagonal=1) & (union > 0)
            dist = torch.where(pair, 1.0 - x / union.clamp(min=1.0), 0.0)
            n_pairs = pair.sum((1, 2))
            has = n_pairs > 0
            self.ild_sum[row] += float((dist.sum((1, 2))[has] / n_pairs[has]).double().sum())
            self.ild_users[row] += int(has.sum())

    def user_values(self) -> dict[str, Tensor]:
        """Each user's accuracy metrics (``keep_users``): ``users`` (N,) their ids in the order ranked, and
        ``recall@20`` etc. (N,) float64, whose means are :meth:`compute`'s."""
        if not self.keep_users:
            raise ConfigError("RankingMetrics.user_values: build it with keep_users=True")
        return {key: torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64 if key != "users" else
                                                                torch.long)
                for key, parts in self.values.items()}

    def compute(self) -> dict[str, float]:
        """A plain dict ``{"recall@20": ..., ...}`` of floats, plus ``n_users`` (as a float, for JSON uniformity)."""
        n = max(self.n_users, 1)
        out = {f"{m}@{k}": self.sums[m, k] / n for m in ACCURACY for k in self.ks}
        if self.exposure is not None:
            pop = self.popularity
            novelty_per_item = -torch.log2(pop.clamp(min=1.0) / self.n_pop_users)
            for row, k in enumerate(self.ks):
                expo = self.exposure[row].double()
                total = float(expo.sum())
                out[f"coverage@{k}"] = float((expo > 0).sum()) / self.n_items
                out[f"avgpop@{k}"] = float((expo * pop).sum()) / total if total else 0.0
                out[f"gini@{k}"] = gini(expo)
                out[f"novelty@{k}"] = float((expo * novelty_per_item).sum()) / total if total else 0.0
        if self.kg is not None:
            for row, k in enumerate(self.ks):
                out[f"ild@{k}"] = self.ild_sum[row] / max(self.ild_users[row], 1)
                out[f"kg_coverage@{k}"] = float(self.kg_reached[row].sum()) / self.kg[2]
        out["n_users"] = float(self.n_users)
        return out


def gini(counts: Tensor) -> float:
    """Gini coefficient of non-negative counts: sum_i (2i - n - 1) x_(i) / (n sum x), x sorted ascending, i from 1."""
    x = torch.sort(counts.double().reshape(-1)).values
    n, total = x.numel(), float(x.sum())
    if n == 0 or total == 0.0:
        return 0.0
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return float(((2 * i - n - 1) * x).sum()) / (n * total)
