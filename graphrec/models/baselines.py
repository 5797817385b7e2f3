"""Honest baselines every graph model must beat, fitted in closed form.

:class:`Popularity`, :class:`ItemKNN`, :class:`EASE` and :class:`LinkProp`: each class's docstring gives its paper,
defaults and deviations.
"""

from __future__ import annotations

import torch
from torch import Tensor

from graphrec.errors import ModelError
from graphrec.compiled.kernels import csr, spmm
from graphrec.models import dense_inverse
from graphrec.models.closed import ClosedFormRecommender, csr_pair, dense_columns
from graphrec.progress import Progress


class Popularity(ClosedFormRecommender):
    """Most popular items first: training interactions per item, the same for every user.

    The standard non-personalised baseline (no paper): a user's score for an item is the item's number of training
    interactions.

    Defaults: none (no hyper-parameters).

    Deviations: none known.
    """

    dot_product_scores = True

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None):
        super().__init__(n_users, n_items, graph)

    def filter(self, x: Tensor, users: Tensor) -> Tensor:
        return self.item_degree.unsqueeze(1).expand(-1, x.size(1)).clone()

    def forward(self) -> tuple[Tensor, Tensor]:
        return torch.ones(self.n_users, 1), self.item_degree.unsqueeze(1).clone()


class ItemKNN(ClosedFormRecommender):
    """ItemKNN: item-based k-nearest neighbours with cosine similarity (Sarwar et al., WWW'01).

    Cosine item–item similarity c_ij / (√(d_i d_j) + shrink) on the binary interactions, each item's ``k`` most similar
    items kept; a user's score for j sums the similarities of j to the user's items (implicit's ItemItemRecommender
    form).

    Defaults: k 200, shrink 0; where they come from is not recorded. The holdout search covers k {50, 200, 800}; on the
    Gowalla and Yelp2018 holdouts it chose 400 from {100, 400}, on ML-1M and Last.fm 800 (BENCHMARKS.md). Plain cosine
    on a small grid is well below BARS's tuned ItemCF: read it as a lower bound.

    Deviations: the score is an unnormalised sum of similarities (implicit's form), not the paper's weighted average
    over the neighbours; the ``shrink`` term is not the paper's.
    """

    fitted_by = ("k", "shrink")
    search_space = {"k": (800, 200, 50)}  # the largest first: a smaller k takes the first columns of its lists
    block = 512  # items whose similarity column block is computed at once: (n_items, 512) floats

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, k: int = 200, shrink: float = 0.0):
        super().__init__(n_users, n_items, graph)
        if int(k) < 1:
            raise ModelError(f"ItemKNN: k (neighbours per item) must be >= 1, got {k}")
        if float(shrink) < 0:
            raise ModelError(f"ItemKNN: shrink must be >= 0, got {shrink}")
        self.k, self.shrink = int(k), float(shrink)

    def solve(self, progress: Progress) -> None:
        k = min(self.k, self.n_items - 1) if self.n_items > 1 else 1
        r, r_t = self.interactions()
        norm = self.item_degree.sqrt()
        item_ptr = r_t.crow_indices()
        values, neighbours = [], []
        with progress(f"ItemKNN: {k} neighbours per item", self.n_items) as advance:
            for start in range(0, self.n_items, self.block):
                items = torch.arange(start, min(start + self.block, self.n_items))
                cooccur = spmm(r_t, dense_columns(item_ptr, r_t.col_indices(), items, self.n_users))
                sim = cooccur / (norm.unsqueeze(1) * norm[items].unsqueeze(0) + self.shrink).clamp(min=1e-12)
                sim[items, torch.arange(items.numel())] = 0.0  # an item is not its own neighbour
                top = torch.topk(sim, k, dim=0)
                values.append(top.values.t())
                neighbours.append(top.indices.t())
                advance(items.numel())
        self.keep("neighbour_sim", torch.cat(values).contiguous())
        self.keep("neighbours", torch.cat(neighbours).contiguous())

    def derives_from(self, other: ClosedFormRecommender) -> bool:
        """A fit with at least as many neighbours (and the same shrink) holds this one's: topk lists are sorted (among
        equally similar items the one kept may differ from a fit of its own, as topk's choice may)."""
        return type(other) is ItemKNN and other.shrink == self.shrink and other.k >= self.k

    def derive(self, other: ClosedFormRecommender) -> None:
        k = min(self.k, self.n_items - 1) if self.n_items > 1 else 1
        self.keep("neighbour_sim", other.neighbour_sim[:, :k].contiguous())
        self.keep("neighbours", other.neighbours[:, :k].contiguous())

    def filter(self, x: Tensor, users: Tensor) -> Tensor:
        """Sᵀ x from the neighbour lists: each nonzero x[i, c] adds x[i, c] times item i's similarities to column c,
        so the work is the nonzeros times k (a sparse Sᵀ times the dense x costs the catalogue's k·n_items times the
        batch: 15 minutes for three k on Gowalla's holdout)."""
        items, cols = x.nonzero(as_tuple=True)
        out = torch.zeros(x.shape, dtype=x.dtype)
        flat_out = out.view(-1)
        for start in range(0, items.numel(), self.block * 16):
            i, c = items[start:start + self.block * 16], cols[start:start + self.block * 16]
            weights = self.neighbour_sim[i] * x[i, c].unsqueeze(1)
            flat_out.index_add_(0, (self.neighbours[i] * x.size(1) + c.unsqueeze(1)).reshape(-1), weights.reshape(-1))
        return out

    def item_rows(self, items: Tensor) -> Tensor:
        """Each item's kept neighbours with their similarities: S is exactly these lists."""
        self._check_fitted()
        rows = torch.zeros(items.numel(), self.n_items)
        return rows.scatter_(1, self.neighbours[items], self.neighbour_sim[items])


class EASE(ClosedFormRecommender):
    """EASE^R: a closed-form linear item–item model with a zero diagonal (Steck, WWW'19).

    B = I − P·diagMat(1/diag(P)), P = (XᵀX + λI)⁻¹, and a user's scores are x B. The dense (m x m) inverse is the
    method: it is computed in one float32 buffer (:func:`graphrec.models.dense_inverse.spd_inverse_`), 4m² bytes, 6.7 GB
    for Gowalla's 40,981 items, checked against the memory available before it is allocated, and ~m³ work.

    Defaults: reg (λ) 300, where it comes from is not recorded (the paper tunes λ per dataset); the holdout search
    covers {100, 300, 1000} and chose 1000 on ML-1M, 100 on Last.fm (BENCHMARKS.md). ``max_items`` None: every item.

    Deviations: none at the defaults. With ``max_items`` below the catalogue, only the m most popular items are modelled
    and the rest score lowest.
    """

    fitted_by = ("reg", "max_items")
    search_space = {"reg": (100.0, 300.0, 1000.0)}

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, reg: float = 300.0,
                 max_items: int | None = None):
        super().__init__(n_users, n_items, graph)
        if float(reg) <= 0:
            raise ModelError(f"EASE: reg (λ) must be > 0, got {reg}")
        if max_items is not None and int(max_items) < 1:
            raise ModelError(f"EASE: max_items must be >= 1 (or None: every item), got {max_items}")
        self.reg, self.max_items = float(reg), None if max_items is None else int(max_items)

    def solve(self, progress: Progress) -> None:
        m = self.n_items if self.max_items is None else min(self.max_items, self.n_items)
        check_memory(m)
        kept = torch.sort(torch.argsort(self.item_degree, descending=True, stable=True)[:m]).values
        slot = torch.full((self.n_items,), -1, dtype=torch.long)
        slot[kept] = torch.arange(m)
        on = slot[self._items] >= 0
        with progress(f"EASE: Gram and inverse over {m} items", 2) as advance:
            r, r_t = csr_pair(self._users[on], slot[self._items[on]], torch.ones(int(on.sum())), self.n_users, m)
            gram = torch.empty(m, m)
            for start in range(0, m, 2048):  # XᵀX in column blocks: (m, 2048) at a time
                cols = torch.arange(start, min(start + 2048, m))
                gram[:, cols] = spmm(r_t, dense_columns(r_t.crow_indices(), r_t.col_indices(), cols, self.n_users))
            gram.diagonal().add_(self.reg)
            advance(1)
            weights = dense_inverse.spd_inverse_(gram)  # P, in the Gram's memory
            weights /= -weights.diagonal().clone().unsqueeze(0)
            weights.diagonal().zero_()
            advance(1)
        self.keep("kept_items", kept)
        self.keep("weights", weights)

    def filter(self, x: Tensor, users: Tensor) -> Tensor:
        slot = torch.full((self.n_items,), -1, dtype=torch.long)
        slot[self.kept_items] = torch.arange(self.kept_items.numel())
        start, end = self._indptr()[users], self._indptr()[users + 1]
        counts = end - start
        rows = torch.repeat_interleave(torch.arange(users.numel()), counts)
        items = self._items[torch.repeat_interleave(start - (counts.cumsum(0) - counts), counts)
                            + torch.arange(int(counts.sum()))]
        on = slot[items] >= 0
        crow = torch.zeros(users.numel() + 1, dtype=torch.long)
        torch.cumsum(torch.bincount(rows[on], minlength=users.numel()), 0, out=crow[1:])
        history = csr(crow, slot[items[on]], torch.ones(int(on.sum())), users.numel(), self.kept_items.numel())
        out = torch.full((self.n_items, users.numel()), torch.finfo(torch.float32).min)
        out[self.kept_items] = spmm(history, self.weights).t()  # each user's rows of B, summed
        return out

    def item_rows(self, items: Tensor) -> Tensor:
        """Rows of B (zero for an item outside the ``max_items`` modelled: it adds nothing to any score)."""
        self._check_fitted()
        slot = torch.full((self.n_items,), -1, dtype=torch.long)
        slot[self.kept_items] = torch.arange(self.kept_items.numel())
        rows = torch.zeros(items.numel(), self.n_items)
        on = slot[items] >= 0
        rows[on.nonzero().flatten().unsqueeze(1), self.kept_items.unsqueeze(0)] = self.weights[slot[items[on]]]
        return rows


def check_memory(m: int) -> None:
    """Refuse, before allocating, an m x m float32 matrix (plus a 10% margin for its blocks and the data) that the
    memory available now cannot hold, and say which ``max_items`` would fit."""
    needed, available = 4.4 * m * m, dense_inverse.available_bytes()
    if needed > available:
        fits = int((available / 4.4) ** 0.5)
        raise ModelError(f"EASE: the dense item x item matrix over {m:,} items needs {needed / 2**30:.1f} GiB "
                         f"(4·m² bytes, inverted in place, plus 10%) and {available / 2**30:.1f} GiB of memory is "
                         f"available; pass max_items={fits} to model the {fits:,} most popular items, or free memory")


class LinkProp(ClosedFormRecommender):
    """LinkProp: degree-normalised counts of the paths user → item → user → item (Fu et al., WWW'22 companion).

    Few-hop path counting with degree normalisation: each hop is divided by a power of the degree it passes,
    D_I^-item_out Rᵀ D_U^-user_power R D_I^-item_in applied to the user's items.

    Defaults: item_in, user_power and item_out 0.5; where they come from is not recorded. The holdout search over
    user_power {0.5, 1} kept 0.5 on Gowalla, Yelp2018, ML-1M and Last.fm (BENCHMARKS.md).

    Deviations: LinkProp's leading D_U^-a scales a user's whole row, so it does not change the ranking and is left out.
    """

    search_space = {"item_in": (0.0, 0.5), "user_power": (0.5, 1.0), "item_out": (0.25, 0.5)}

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, item_in: float = 0.5,
                 user_power: float = 0.5, item_out: float = 0.5):
        super().__init__(n_users, n_items, graph)
        self.item_in, self.user_power, self.item_out = float(item_in), float(user_power), float(item_out)
        self.r, _ = self.interactions()  # item → user: plain counts
        _, self.r_t = self.interactions(-self.user_power, 0.0)  # user → item: divided by the user's degree

    def filter(self, x: Tensor, users: Tensor) -> Tensor:
        first = self.degree_power("item", -self.item_in).unsqueeze(1) * x
        paths = spmm(self.r_t, spmm(self.r, first))
        return self.degree_power("item", -self.item_out).unsqueeze(1) * paths

    def walk_powers(self) -> tuple[float, float] | None:
        return (self.user_power, self.item_in) if self.item_in == self.item_out else None
