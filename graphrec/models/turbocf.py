"""Turbo-CF: :class:`TurboCF` (its docstring gives the paper, defaults and deviations)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from graphrec.errors import ModelError
from graphrec.models.closed import ClosedFormRecommender, gram_apply, gram_rows
from graphrec.progress import Progress

FILTERS = {1: (0.0, 1.0), 2: (0.0, 2.0, -1.0), 3: (0.0, 1.0 - 0.29, 0.1, -0.01)}  # coefficients of P^0, P^1, ...


class TurboCF(ClosedFormRecommender):
    """Turbo-CF: polynomial graph filters on the item graph, no decomposition (Park et al., SIGIR'24).

    R̄ = D_U^-a R D_I^-(1-a) (``alpha`` = a), P̄ = R̄ᵀR̄, P = P̄ with every entry raised to ``power`` (s), and a user's
    scores are r_u·f(P) for the polynomial ``filter`` 1: P, 2: 2P − P², 3: P + 0.01(−P³ + 10P² − 29P) (the authors'
    main.py, jindeok/Turbo-CF; written here from those formulas). With s = 1, P is applied as two sparse products with
    R̄ and never formed. With s ≠ 1 the entry-wise power needs P's entries, so P is built as a sparse matrix (its
    non-zeros are the co-occurring item pairs, ~50 M on Gowalla, not the 1.7 G of a dense one) and r_u P is a sum of P's
    rows over the user's items; filters 2 and 3 then multiply a dense block by sparse P, which is slow on large
    catalogues.

    Defaults: alpha 0.5, power 1, filter 1; where they come from is not recorded, and they are not the authors' optima
    (jindeok/Turbo-CF README: Gowalla a 0.6, s 0.7, filter 1; Yelp 0.6, 1, 2; Amazon-book 0.5, 1.4, 1). The holdout
    search covers alpha {0.5, 0.6, 0.7} × filter {1, 2}.

    Deviations: none known in the formulas; P is kept sparse or never formed, where the authors' code forms it dense.
    """

    fitted_by = ("alpha", "power")
    search_space = {"alpha": (0.5, 0.6, 0.7), "filter": (1, 2)}

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, alpha: float = 0.5,
                 power: float = 1.0, filter: int = 1):
        super().__init__(n_users, n_items, graph)
        if int(filter) not in FILTERS:
            raise ModelError(f"TurboCF: filter must be one of {sorted(FILTERS)} (1 linear, 2 second order, "
                             f"3 polynomial ideal low-pass), got {filter}")
        if float(power) <= 0:
            raise ModelError(f"TurboCF: power (s) must be > 0, got {power}")
        self.alpha, self.power, self.filter_order = float(alpha), float(power), int(filter)
        self.r, self.r_t = self.interactions(-self.alpha, self.alpha - 1.0)

    def hparams(self) -> dict:
        return {"alpha": self.alpha, "power": self.power, "filter": self.filter_order}

    def solve(self, progress: Progress) -> None:
        if self.power != 1.0:
            with progress("Turbo-CF: the item graph's entries (sparse)", 1) as advance:
                self._sparse_graph()
                advance(1)

    def _sparse_graph(self):
        """P̄ with its entries raised to ``power``, as a scipy CSR matrix (built once, not saved: it is data)."""
        if getattr(self, "_graph", None) is None:
            import scipy.sparse as sp

            r = sp.csr_matrix((self.r.values().numpy(), self.r.col_indices().numpy(), self.r.crow_indices().numpy()),
                              shape=(self.n_users, self.n_items))
            graph = (r.T @ r).tocsr()
            np.power(graph.data, self.power, out=graph.data)
            self._graph = graph
        return self._graph

    def _apply(self, x: Tensor) -> Tensor:
        if self.power == 1.0:
            return gram_apply(self.r, self.r_t, x)
        return torch.from_numpy(np.ascontiguousarray((self._sparse_graph() @ x.numpy()).astype(np.float32)))

    def filter(self, x: Tensor, users: Tensor) -> Tensor:
        if self.power == 1.0:
            term = self._apply(x)
        else:  # r_u P from the user's items' rows of sparse P (x is 0/1 and sparse)
            import scipy.sparse as sp

            history = sp.csr_matrix(x.t().numpy())
            term = torch.from_numpy((history @ self._sparse_graph()).toarray().astype(np.float32).T.copy())
        return self._polynomial(term)

    def item_rows(self, items: Tensor) -> Tensor:
        """Rows of f(P) from P's rows (P is symmetric, so they are also its columns, and P² rows are P's applied)."""
        self._check_fitted()
        if self.power == 1.0:
            rows = gram_rows(self.r_t, items, self.n_users)
        else:
            rows = torch.from_numpy(self._sparse_graph()[items.numpy()].toarray().astype(np.float32))
        return self._polynomial(rows.t().contiguous()).t()

    def walk_powers(self) -> tuple[float, float] | None:
        """P = R̄ᵀR̄ with R̄ = D_U^-a R D_I^-(1-a): the walk d_v^-2a, d^-(1-a), when the filter is P itself."""
        return (2 * self.alpha, 1.0 - self.alpha) if self.filter_order == 1 and self.power == 1.0 else None

    def _polynomial(self, term: Tensor) -> Tensor:
        """The filter's polynomial in P, given ``term`` = P x."""
        coefficients = FILTERS[self.filter_order]
        out = coefficients[1] * term
        for c in coefficients[2:]:
            term = self._apply(term)
            out += c * term
        return out
