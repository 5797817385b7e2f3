"""Spectral graph filters: :class:`GFCF`, :class:`BSPM`, :class:`ChebyCF`, :class:`SGFCF` (each docstring: paper,
defaults, deviations).

Each filters the normalised item graph P = R̃ᵀR̃, R̃ = D_U^-½ R D_I^-½ (degrees of the training interactions; SGFCF's
exponent is a hyper-parameter), plus a low-pass term from the top singular vectors V of R̃.

Checked against the authors' code (jeongwhanchoi/BSPM bspm/model.py, chanwoo0806/ChebyCF src/module.py, whose GFCF is
the GF-CF reference too); written here from those formulas. Every product is sparse R̃ or thin V on an (n_items, B)
block of users; no item x item matrix. The ideal low-pass term is an exact (user, item) embedding pair (``forward()``),
the rest is item–item.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from graphrec.errors import ModelError
from graphrec.compiled.kernels import spmm
from graphrec.models.closed import ClosedFormRecommender, csr_pair, gram_apply, gram_rows, top_right_singular
from graphrec.progress import Progress

SOLVERS = ("euler", "rk4")


class _SpectralFilter(ClosedFormRecommender):
    """R̃ and the ideal low-pass term ``weight · D^power V Vᵀ D^-power x`` shared by the three filters."""

    fitted_by = ("k",)

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None, k: int):
        super().__init__(n_users, n_items, graph)
        if int(k) < 0:
            raise ModelError(f"{type(self).__name__}: k (the ideal low-pass cut-off) must be >= 0, got {k}")
        self.k = int(k)
        self.r, self.r_t = self.interactions(-0.5, -0.5)

    def reuses(self, other: ClosedFormRecommender) -> bool:
        """Every spectral filter's fitted state is the top k singular vectors of the same R̃."""
        return isinstance(other, _SpectralFilter)

    def solve(self, progress: Progress) -> None:
        if self.k == 0:
            return
        with progress(f"{type(self).__name__}: top {self.k} singular vectors of R̃", 1) as advance:
            v, _ = top_right_singular(self.r, self.r_t, self.k)
            advance(1)
        self.keep("ideal", v)

    def ideal_term(self, x: Tensor, weight: float, power: float, item_side: Tensor | None = None) -> Tensor:
        """``weight · D^power W Vᵀ D^-power x`` with W = V (or ``item_side``, already scaled by D^power)."""
        coords = self.ideal.t() @ (self.degree_power("item", -power).unsqueeze(1) * x)
        if item_side is None:
            return weight * self.degree_power("item", power).unsqueeze(1) * (self.ideal @ coords)
        return weight * (item_side @ coords)

    def ideal_pair(self, weight: float, power: float, item_side: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The ideal term as embeddings: users ``weight · r_u D^-power V``, items ``D^power V`` (or ``item_side``)."""
        if self.k == 0 or weight == 0:
            return super().forward()
        r, _ = self.interactions()
        users = weight * spmm(r, (self.degree_power("item", -power).unsqueeze(1) * self.ideal).contiguous())
        items = self.degree_power("item", power).unsqueeze(1) * self.ideal if item_side is None else item_side
        return users, items


class GFCF(_SpectralFilter):
    """GF-CF: the linear filter R̃ᵀR̃ plus an ideal low-pass term (Shen et al., CIKM'21).

    A user's scores are ``x P + alpha · x D_I^-½ V Vᵀ D_I^½`` for the user's interaction row x, V the top ``k`` right
    singular vectors of R̃.

    Defaults: alpha 0.3, k 256, the authors' Gowalla setting (alpha 0.3 in chanwoo0806/ChebyCF config/gfcf_gowalla.yml;
    benchmarks/HISTORY.md). On the Gowalla holdout the search chooses alpha 0.3, k 512 (BENCHMARKS.md).

    Deviations: V comes from a randomized subspace iteration (:func:`graphrec.models.closed.top_right_singular`), not
    ARPACK/sparsesvd.
    """

    search_space = {"alpha": (0.1, 0.3, 0.5), "k": (256, 512)}

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, alpha: float = 0.3, k: int = 256):
        super().__init__(n_users, n_items, graph, k)
        self.alpha = float(alpha)

    def filter(self, x: Tensor, users: Tensor) -> Tensor:
        out = self.item_item(x)
        if self.k and self.alpha:
            out += self.ideal_term(x, self.alpha, 0.5)
        return out

    def item_item(self, x: Tensor) -> Tensor:
        return gram_apply(self.r, self.r_t, x)

    def item_rows(self, items: Tensor) -> Tensor:
        return gram_rows(self.r_t, items, self.n_users)

    def walk_powers(self) -> tuple[float, float]:
        return 1.0, 0.5  # R̃ᵀR̃ = D_I^-½ Rᵀ D_U^-1 R D_I^-½

    def forward(self) -> tuple[Tensor, Tensor]:
        return self.ideal_pair(self.alpha, 0.5)


class BSPM(_SpectralFilter):
    """BSPM: blurring then sharpening ODEs on the item graph, plus the ideal low-pass term (Choi et al., SIGIR'23).

    Blur ``dx/dt = x P − x`` from x over T_b in K_b Euler steps, add ``idl_beta`` times the ideal low-pass term, then
    sharpen ``dx/dt = −x P`` over T_s in K_s steps of ``solver`` (final sharpening); with ``t_point`` the result is the
    mean of every blurring and sharpening state instead of the last (the authors' ``--t_point_combination``).

    Defaults: the authors' Gowalla command (jeongwhanchoi/BSPM README): 448 singular vectors, idl_beta 0.2, T_s 2.5, K_s
    1, rk4, final sharpening; T_b 1, K_b 1 and no t-point combination are their parser's defaults. Their Yelp2018
    setting is ``--preset yelp2018``.

    Deviations: the singular vectors come from a randomized subspace iteration
    (:func:`graphrec.models.closed.top_right_singular`), not ARPACK/sparsesvd; the ideal term is the one Euler step of
    the authors' defaults (T_idl 1, K_idl 1), and only the final-sharpening variant is implemented.
    """

    search_space = {"T_s": (1.5, 2.5, 3.5), "idl_beta": (0.2, 0.3)}

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, k: int = 448, idl_beta: float = 0.2,
                 T_b: float = 1.0, K_b: int = 1, T_s: float = 2.5, K_s: int = 1, solver: str = "rk4",
                 t_point: bool = False):
        super().__init__(n_users, n_items, graph, k)
        if solver not in SOLVERS:
            raise ModelError(f"BSPM: solver must be one of {SOLVERS}, got {solver!r}")
        if int(K_b) < 1 or int(K_s) < 1:
            raise ModelError(f"BSPM: K_b and K_s (ODE steps) must be >= 1, got {K_b}, {K_s}")
        self.idl_beta, self.T_b, self.K_b, self.T_s, self.K_s = float(idl_beta), float(T_b), int(K_b), float(T_s), \
            int(K_s)
        self.solver, self.t_point = solver, bool(t_point)

    def _blur(self, x: Tensor) -> list[Tensor]:
        return ode_states(lambda y: gram_apply(self.r, self.r_t, y) - y, x, self.T_b, self.K_b, "euler")

    def _sharpen(self, x: Tensor) -> list[Tensor]:
        return ode_states(lambda y: -gram_apply(self.r, self.r_t, y), x, self.T_s, self.K_s, self.solver)

    def _combine(self, blurred: list[Tensor], sharpened: list[Tensor]) -> Tensor:
        """The final sharpened state, or with ``t_point`` the mean of every blurring and sharpening state."""
        if not self.t_point:
            return sharpened[-1]
        return torch.stack(blurred + sharpened).mean(0)

    def _sharpened_ideal(self) -> Tensor:
        """The sharpening applied to the ideal term's item side D^½ V (it is linear, so it applies to the factor)."""
        if getattr(self, "_ideal_items", None) is None:
            v = (self.degree_power("item", 0.5).unsqueeze(1) * self.ideal).contiguous()
            states = self._sharpen(v)
            self._ideal_items = states[-1] if not self.t_point else torch.stack(states).sum(0) / (self.K_b + self.K_s)
        return self._ideal_items

    def item_item(self, x: Tensor) -> Tensor:
        blurred = self._blur(x)
        return self._combine(blurred, self._sharpen(blurred[-1]))

    def filter(self, x: Tensor, users: Tensor) -> Tensor:
        out = self.item_item(x)
        if self.k and self.idl_beta:
            out += self.ideal_term(x, self.idl_beta, 0.5, self._sharpened_ideal())
        return out

    def forward(self) -> tuple[Tensor, Tensor]:
        if not self.k or not self.idl_beta:
            return super().forward()
        return self.ideal_pair(self.idl_beta, 0.5, self._sharpened_ideal())


def ode_states(f, y: Tensor, t_end: float, steps: int, solver: str) -> list[Tensor]:
    """The states after each of ``steps`` equal steps from 0 to ``t_end`` of dy/dt = f(y) (fixed-step Euler or
    classic RK4, as torchdiffeq's fixed-grid solvers on the authors' time grid)."""
    h = t_end / steps
    states = []
    for _ in range(steps):
        if solver == "euler":
            y = y + h * f(y)
        else:
            k1 = f(y)
            k2 = f(y + h / 2 * k1)
            k3 = f(y + h / 2 * k2)
            k4 = f(y + h * k3)
            y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        states.append(y)
    return states


class ChebyCF(_SpectralFilter):
    """ChebyCF: a Chebyshev-interpolated plateau filter, an ideal pass and degree normalisation (Kim et al., SIGIR'25).

    A plateau-shaped transfer function of L̃ = I − 2P, interpolated by a Chebyshev polynomial of order ``K`` with
    flatness ``phi`` (:func:`plateau_coefficients`), plus ``alpha · x V Vᵀ`` with the top ``k`` singular vectors, all
    inside a degree normalisation x D^-beta → · D^beta.

    Defaults: chanwoo0806/ChebyCF config/chebycf_gowalla.yml: K 8, phi 1.5, eta (``k``) 512, alpha 0.2, beta 0.4. On the
    Gowalla holdout the search chooses alpha 0.3 (``--preset gowalla``); K 6–12, phi 1–3, k 256 or 768 (alpha 0.2–0.4)
    gained nothing beyond the holdout's noise (K 6 tested as K 8: 0.1943 / 0.1616, BENCHMARKS.md).

    Deviations: the singular vectors come from a randomized subspace iteration
    (:func:`graphrec.models.closed.top_right_singular`), not an exact SVD.
    """

    search_space = {"alpha": (0.1, 0.2, 0.3), "beta": (0.3, 0.4, 0.5)}

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, K: int = 8, phi: float = 1.5,
                 k: int = 512, alpha: float = 0.2, beta: float = 0.4):
        super().__init__(n_users, n_items, graph, k)
        if int(K) < 1:
            raise ModelError(f"ChebyCF: K (the Chebyshev order) must be >= 1, got {K}")
        self.K, self.phi, self.alpha, self.beta = int(K), float(phi), float(alpha), float(beta)
        self.coefficients = plateau_coefficients(self.K, self.phi)

    def filter(self, x: Tensor, users: Tensor) -> Tensor:
        return self._filtered(x, self.k > 0 and self.alpha != 0)

    def item_item(self, x: Tensor) -> Tensor:
        return self._filtered(x, False)

    def _filtered(self, x: Tensor, ideal: bool) -> Tensor:
        signal = self.degree_power("item", -self.beta).unsqueeze(1) * x

        def laplacian(y):  # L̃ = 2L/λmax − I = I − 2P (λmax = 1 for the normalised graph)
            return y - 2 * gram_apply(self.r, self.r_t, y)

        previous, current = signal, laplacian(signal)
        out = self.coefficients[0] * previous + self.coefficients[1] * current
        for c in self.coefficients[2:]:
            previous, current = current, 2 * laplacian(current) - previous
            out += c * current
        if ideal:
            out += self.alpha * (self.ideal @ (self.ideal.t() @ signal))
        return self.degree_power("item", self.beta).unsqueeze(1) * out

    def forward(self) -> tuple[Tensor, Tensor]:
        return self.ideal_pair(self.alpha, self.beta)


class SGFCF(ClosedFormRecommender):
    """SGFCF: a sharpened top-k spectrum beside the full linear filter, on a generalised normalisation (Peng et al.,
    KDD'24, "How Powerful is Graph Filtering for Recommendation").

    R̃ = D_U^-eps R D_I^-eps with D = degree + ``alpha`` (the paper's G²N; eps 0.5 and alpha 0 are GF-CF's R̃). With
    U, s, V the top ``k`` singular triplets of R̃ and ŝ = s / s_max, a user's scores are
    ``low / sum(low) + gamma · lin / sum(lin)``: the low-rank part ``low = r̃_u V diag(ŝ^2beta / s) Vᵀ`` (the paper's
    U diag(ŝ^beta) · (V diag(ŝ^beta))ᵀ) and the linear filter ``lin = r̃_u R̃ᵀR̃``, each divided by its sum over the
    items (the paper's final sigmoid is monotone and left out).

    The scores are those times ``sum(lin) / gamma`` per user, which ranks every user's items alike (and standardises
    alike in a hybrid): ``c_u · x D_I^-eps V diag(ŝ^2beta / s) Vᵀ + x S`` with c_u = sum(lin) / (gamma · sum(low)) and
    the fixed item–item matrix S = D_I^-2eps Rᵀ D_U^-2eps R D_I^-eps, so the low-rank part is a pair of embeddings
    and S's top rows are what the graph serves (its history and target items are weighted unalike, so S is not the
    symmetric walk ``recommend.walk_for_user`` computes). With gamma 0 the scores are ``low / sum(low)``.

    Defaults: the authors' Gowalla setting without individualised filters (tanatosuu/sgfcf README, "dense", the
    80% split): k 650, beta 1.3, eps 0.34, gamma 1.6, alpha 0. The search grid spans what the holdouts of Gowalla
    (eps 0.3, beta 1.0, gamma 2.5) and Yelp2018 (eps 0.34, beta 0.65, gamma 1.0: ``--preset yelp2018``) chose from
    wider grids (BENCHMARKS.md, "Graph filters and baselines").

    Deviations: the singular triplets come from a randomized subspace iteration
    (:func:`graphrec.models.closed.top_right_singular`), not ``torch.svd_lowrank``; the individualised filter (IGF,
    a per-user and per-item beta from each node's homophily ratio) is not built; a user whose low-rank part sums to
    <= 0 gets the linear filter alone (the paper's division would flip or break its ranking).
    """

    fitted_by = ("k", "eps", "alpha")
    search_space = {"eps": (0.3, 0.34), "beta": (0.65, 0.8, 1.0), "gamma": (1.0, 2.5)}

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, k: int = 650, beta: float = 1.3,
                 eps: float = 0.34, gamma: float = 1.6, alpha: float = 0.0):
        super().__init__(n_users, n_items, graph)
        if int(k) < 1:
            raise ModelError(f"SGFCF: k (the number of singular vectors) must be >= 1, got {k}")
        if min(float(beta), float(eps), float(gamma), float(alpha)) < 0:
            raise ModelError(f"SGFCF: beta, eps, gamma and alpha must be >= 0, got beta={beta}, eps={eps}, "
                             f"gamma={gamma}, alpha={alpha}")
        self.k, self.beta, self.eps, self.gamma, self.alpha = int(k), float(beta), float(eps), float(gamma), \
            float(alpha)
        self.user_scale, self.item_scale = self._scale(self.user_degree), self._scale(self.item_degree)
        values = self.user_scale[self._users] * self.item_scale[self._items]
        self.r, self.r_t = csr_pair(self._users, self._items, values, self.n_users, self.n_items)
        # S = D_I^-eps R̃ᵀR̃ (r̃_u = D_u^-eps x D_I^-eps; D_u^-eps cancels); a user's linear scores sum to x (S 1).
        self.item_sums = self.item_scale * gram_apply(self.r, self.r_t, torch.ones(self.n_items, 1)).squeeze(1)

    def _scale(self, degree: Tensor) -> Tensor:
        """(degree + alpha)^-eps, 0 for a node without training interactions."""
        return torch.where(degree > 0, (degree + self.alpha).clamp(min=1e-12).pow(-self.eps), torch.zeros(()))

    def solve(self, progress: Progress) -> None:
        with progress(f"SGFCF: top {self.k} singular vectors of R̃ (eps {self.eps})", 1) as advance:
            v, s = top_right_singular(self.r, self.r_t, self.k)
            advance(1)
        self.keep("ideal", v)
        self.keep("singular", s)

    def _spectrum(self) -> Tensor:
        """diag(ŝ^2beta / s): the low-rank part's weight on each of the k directions."""
        s = self.singular.clamp(min=1e-12)
        return (s / s[0]).pow(2 * self.beta) / s

    def _low(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The low-rank part's coordinates r̃_u V diag(w) (B, k) for an (n_items, B) block, and c_u (B,)."""
        coords = (self.ideal.t() @ (self.item_scale.unsqueeze(1) * x)).t() * self._spectrum()
        low_sum = coords @ self.ideal.sum(0)
        if self.gamma == 0:
            scale = torch.where(low_sum > 0, 1 / low_sum.clamp(min=1e-30), torch.zeros(()))
        else:
            lin_sum = x.t() @ self.item_sums
            scale = torch.where(low_sum > 0, lin_sum / (self.gamma * low_sum.clamp(min=1e-30)), torch.zeros(()))
        return coords, scale

    def item_item(self, x: Tensor) -> Tensor:
        if self.gamma == 0:
            return torch.zeros_like(x)
        return gram_apply(self.r, self.r_t, self.item_scale.unsqueeze(1) * x)

    def item_rows(self, items: Tensor) -> Tensor:
        if self.gamma == 0:
            return torch.zeros(items.numel(), self.n_items)
        return self.item_scale[items].unsqueeze(1) * gram_rows(self.r_t, items, self.n_users)

    def filter(self, x: Tensor, users: Tensor) -> Tensor:
        coords, scale = self._low(x)
        return self.item_item(x) + self.ideal @ (coords * scale.unsqueeze(1)).t()

    def forward(self) -> tuple[Tensor, Tensor]:
        self._check_fitted()
        users = torch.empty(self.n_users, self.k)
        for start in range(0, self.n_users, self.score_batch):
            block = torch.arange(start, min(start + self.score_batch, self.n_users))
            coords, scale = self._low(self.signal(block))
            users[block] = coords * scale.unsqueeze(1)
        return users, self.ideal


def plateau_coefficients(order: int, flatness: float) -> Tensor:
    """Chebyshev coefficients c_0..c_K of ChebyCF's plateau transfer function, as the authors compute them: the
    target h(x) = ½ − ½·sign(x)|x|^flatness taken at cos((K − j)π / K) (rounded to 3 decimals, as theirs), combined
    with T_k at the K + 1 Chebyshev nodes cos((j + ½)π / (K + 1))."""
    j = torch.arange(order + 1, dtype=torch.float64)
    x = torch.cos((order - j) / order * math.pi).round(decimals=3)
    target = torch.where(x < 0, 0.5 + 0.5 * (-x).pow(flatness), 0.5 - 0.5 * x.clamp(min=0).pow(flatness))
    target = target.round(decimals=3)
    nodes = torch.cos((order + 0.5 - j) / (order + 1) * math.pi)
    basis = [torch.ones_like(nodes), nodes]
    for _ in range(2, order + 1):
        basis.append(2 * nodes * basis[-1] - basis[-2])
    coefficients = (torch.stack(basis[:order + 1]) * target).sum(1) * (2 / (order + 1))
    coefficients[0] /= 2
    return coefficients.float()
