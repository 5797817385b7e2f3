"""The base of the closed-form models (graph filters and baselines): fitted once from the training interactions, no
loss, no epochs, scores computed per user batch from sparse and thin factors.

A closed-form model keeps the interaction matrix R (users x items, binary) as CSR in both orientations, non-persistent
(the graph is data, as for every graph model). ``fit(progress)`` computes what the model learns (singular vectors,
neighbour lists, a Gram inverse) and keeps it as persistent buffers through :meth:`ClosedFormRecommender.keep`, so
``save_model``/``load_model`` round-trip a fitted model without fitting again. Scores are computed on the transposed
signal: a batch of users is an (n_items, B) block X of their interaction rows, so every filter is ``operator @ X``
with CSR operators (``graphrec.compiled.kernels.spmm``), and no (n_items x n_items) matrix is ever formed.

``fitted_by`` names the hyper-parameters the fitted state depends on: a hyper-parameter search passes the last model
as ``fit(reuse=...)`` and the state is copied when those agree (a grid over GF-CF's weight reuses one SVD).
"""

from __future__ import annotations

import torch
from torch import Tensor

from graphrec.errors import ModelError
from graphrec.compiled.kernels import csr, spmm
from graphrec.models.base import Recommender
from graphrec.progress import Progress, silent


class ClosedFormRecommender(Recommender):
    closed_form = True
    dot_product_scores = False
    fitted_by: tuple[str, ...] = ()
    # Small grids searched on the holdout (graphrec.closedfit.search); every point must be a valid constructor call.
    search_space: dict[str, tuple] = {}
    score_batch = 1024  # users per scored block: the (n_items, B) float32 blocks stay ~170 MB on Gowalla

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None):
        super().__init__(n_users, n_items)
        if graph is None:
            raise ModelError(f"{type(self).__name__} needs graph= the training (user, item) pairs as a (2, E) "
                             "LongTensor (e.g. torch.stack(recdata.train.pairs()))")
        keys = torch.unique(graph[0].long() * self.n_items + graph[1].long())
        self._users, self._items = keys // self.n_items, keys % self.n_items
        self.user_degree = torch.bincount(self._users, minlength=self.n_users).float()
        self.item_degree = torch.bincount(self._items, minlength=self.n_items).float()
        self._fitted: list[str] = []  # the buffers fit() computed (saved with the model)
        self._done = False

    # ---- the interaction matrix and its normalisations --------------------------------------------------------------
    def degree_power(self, kind: str, power: float) -> Tensor:
        """``d ** power`` per user or item, 0 where the degree is 0 (an item no training user has: no signal)."""
        degree = self.user_degree if kind == "user" else self.item_degree
        return torch.where(degree > 0, degree.clamp(min=1).pow(power), torch.zeros(()))

    def interactions(self, user_power: float = 0.0, item_power: float = 0.0) -> tuple[Tensor, Tensor]:
        """``D_U^user_power R D_I^item_power`` as CSR, and its transpose as CSR (both float32)."""
        values = self.degree_power("user", user_power)[self._users] * self.degree_power("item", item_power)[self._items]
        return csr_pair(self._users, self._items, values, self.n_users, self.n_items)

    def signal(self, users: Tensor) -> Tensor:
        """The users' interaction rows, transposed: an (n_items, B) float32 block of 0/1."""
        return dense_columns(self._indptr(), self._items, users, self.n_items)

    def _indptr(self) -> Tensor:
        if not hasattr(self, "_row_ptr"):
            self._row_ptr = torch.zeros(self.n_users + 1, dtype=torch.long)
            torch.cumsum(self.user_degree.long(), 0, out=self._row_ptr[1:])
        return self._row_ptr

    # ---- fitting and the fitted state ---------------------------------------------------------------------------------
    def fit(self, progress: Progress = silent, reuse: "ClosedFormRecommender | None" = None) -> "ClosedFormRecommender":
        """Fit from the training interactions; with ``reuse`` (a fitted model that :meth:`reuses` names, on the
        same graph, with the same ``fitted_by`` hyper-parameters), take its fitted state instead of computing it."""
        if reuse is not None and reuse.is_fitted and self.derives_from(reuse) and \
                torch.equal(reuse._users, self._users) and torch.equal(reuse._items, self._items):
            self.derive(reuse)
        else:
            self.solve(progress)
        self._done = True
        return self

    def reuses(self, other: "ClosedFormRecommender") -> bool:
        """Whether ``other``'s fitted state is this model's when their ``fitted_by`` and graph agree."""
        return type(other) is type(self)

    def derives_from(self, other: "ClosedFormRecommender") -> bool:
        """Whether this model's fitted state can be taken from ``other``'s (on the same graph): by default when
        :meth:`reuses` names it and their ``fitted_by`` agree; a subclass may take a part of a larger fit."""
        return self.reuses(other) and all(getattr(other, name) == getattr(self, name) for name in self.fitted_by)

    def derive(self, other: "ClosedFormRecommender") -> None:
        """Take the fitted state from ``other`` (:meth:`derives_from` said it can)."""
        for name in other._fitted:
            self.keep(name, getattr(other, name))

    def solve(self, progress: Progress) -> None:
        """Compute the fitted state (subclasses): ``self.keep(name, tensor)`` for each piece."""

    def keep(self, name: str, value: Tensor) -> None:
        self.register_buffer(name, value)
        if name not in self._fitted:
            self._fitted.append(name)

    @property
    def is_fitted(self) -> bool:
        return self._done

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """A saved model's fitted state, whatever its shapes (the buffers exist only once fitted)."""
        for name, value in state_dict.items():
            self.keep(name, value.clone())
        self._done = True
        return torch.nn.modules.module._IncompatibleKeys([], [])

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise ModelError(f"{type(self).__name__} is not fitted: call fit() (graphrec.closedfit.fit_closed_form)")

    # ---- scores ----------------------------------------------------------------------------------------------------
    def score(self, users: Tensor) -> Tensor:
        """(B, n_items) scores of ``users``, computed in blocks of ``score_batch`` users."""
        self._check_fitted()
        users = users.long().cpu()
        out = torch.empty(users.numel(), self.n_items)
        for start in range(0, users.numel(), self.score_batch):
            block = users[start:start + self.score_batch]
            out[start:start + block.numel()] = self.filter(self.signal(block), block).t()
        return out

    def filter(self, x: Tensor, users: Tensor) -> Tensor:
        """Scores of the users whose interaction rows are the columns of ``x`` (n_items, B) -> (n_items, B)."""
        raise NotImplementedError

    def forward(self) -> tuple[Tensor, Tensor]:
        """The low-rank part of the scores as (user, item) embeddings (the ideal low-pass term of a spectral filter);
        an empty pair (width 0) for a model with none."""
        return torch.zeros(self.n_users, 0), torch.zeros(self.n_items, 0)

    # ---- serving from the graph: scores = x S + forward()'s low-pass part (graphrec.itemgraph) ----------------------
    def item_item(self, x: Tensor) -> Tensor:
        """The item–item part of the scores, ``Sᵀ x`` for an (n_items, B) block: :meth:`filter` less the low-pass part
        that :meth:`forward` gives as embeddings (a model without one: the whole filter)."""
        return self.filter(x, torch.empty(0, dtype=torch.long))

    def item_rows(self, items: Tensor) -> Tensor:
        """Rows ``items`` of S as a dense (B, n_items) block: row i holds what item i in a user's history adds to
        each item's score. Defaults to :meth:`item_item` of the items' indicator columns; a model that keeps S's rows
        (neighbour lists, a weight matrix) or forms them more cheaply overrides it."""
        self._check_fitted()
        columns = torch.zeros(self.n_items, items.numel())
        columns[items, torch.arange(items.numel())] = 1.0
        return self.item_item(columns).t()

    def walk_powers(self) -> tuple[float, float] | None:
        """``(a, b)`` when S is the walk user → item → user → item weighted d_v^-a on the middle user and d^-b on both
        items (``recommend.walk_for_user`` computes it exactly at query time), else None."""
        return None

    def hparams(self) -> dict:
        return {name: getattr(self, name) for name in _hparam_names(self)}


def _hparam_names(model) -> list[str]:
    from graphrec.models import hparam_names  # the registry reads the constructor, one source of the names

    return hparam_names(type(model))


def dense_columns(indptr: Tensor, indices: Tensor, rows: Tensor, n: int, values: Tensor | None = None) -> Tensor:
    """Rows ``rows`` of a CSR matrix (``indptr``, ``indices``, ``values``; None: a 0/1 pattern) as the columns of an
    (n, len(rows)) block."""
    start, end = indptr[rows], indptr[rows + 1]
    counts = end - start
    col = torch.repeat_interleave(torch.arange(rows.numel()), counts)
    offsets = torch.arange(int(counts.sum())) - torch.repeat_interleave(counts.cumsum(0) - counts, counts)
    entries = start[col] + offsets
    x = torch.zeros(n, rows.numel())
    x[indices[entries], col] = 1.0 if values is None else values[entries]
    return x


def csr_pair(rows: Tensor, cols: Tensor, values: Tensor, n_rows: int, n_cols: int) -> tuple[Tensor, Tensor]:
    """(n_rows x n_cols) CSR of the entries (no duplicates) and its transpose, both float32."""
    def build(r, c, v, n, m):
        order = torch.argsort(r * m + c)
        crow = torch.zeros(n + 1, dtype=torch.long)
        torch.cumsum(torch.bincount(r, minlength=n), 0, out=crow[1:])
        return csr(crow, c[order], v[order].float().contiguous(), n, m)

    return build(rows, cols, values, n_rows, n_cols), build(cols, rows, values, n_cols, n_rows)


def gram_rows(r_t: Tensor, items: Tensor, n_users: int) -> Tensor:
    """Rows ``items`` of the (symmetric) Gram RᵀR as a dense (B, n_items) block, from R's columns (Rᵀ as CSR
    ``r_t``): R's block of columns times Rᵀ, never the n_items² Gram."""
    columns = dense_columns(r_t.crow_indices(), r_t.col_indices(), items, n_users, r_t.values())
    return spmm(r_t, columns).t().contiguous()


def gram_apply(r: Tensor, r_t: Tensor, x: Tensor) -> Tensor:
    """``(RᵀR) @ x`` for an (n_items, B) block, as two sparse products (never the n_items² Gram)."""
    return spmm(r_t, spmm(r, x.contiguous()))


def top_right_singular(r: Tensor, r_t: Tensor, k: int, oversample: int = 64, iterations: int = 4,
                       seed: int = 0) -> tuple[Tensor, Tensor]:
    """The top ``k`` right singular vectors (n_items, k) and singular values of a sparse R, by randomized subspace
    iteration on RᵀR (Halko, Martinsson & Tropp 2011, Alg. 4.4 with a Rayleigh–Ritz finish): ``iterations`` passes of
    two sparse products on an (n_items, k + oversample) block, a QR after each; threads are torch's (set them first)."""
    n_items = r.size(1)
    width = min(k + oversample, n_items)
    if k > min(r.shape):
        raise ModelError(f"top_right_singular: k={k} exceeds the matrix's rank bound {min(r.shape)} "
                         f"({r.size(0)} users x {n_items} items); choose k <= {min(r.shape)}")
    gen = torch.Generator().manual_seed(seed)
    q = torch.linalg.qr(torch.randn(n_items, width, generator=gen)).Q
    for _ in range(iterations):
        q = torch.linalg.qr(gram_apply(r, r_t, q)).Q
    # Rayleigh–Ritz: R Q = U S Wᵀ, so the right singular vectors within span(Q) are Q W.
    _, s, wt = torch.linalg.svd(spmm(r, q.contiguous()), full_matrices=False)
    return (q @ wt[:k].t()).contiguous(), s[:k]
