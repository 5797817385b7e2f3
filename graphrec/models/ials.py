"""iALS: matrix factorisation of implicit feedback by alternating least squares, fitted in closed form (issue 31)."""

from __future__ import annotations

import torch
from torch import Tensor

from graphrec.compiled.kernels import rowwise_gram
from graphrec.errors import ModelError
from graphrec.models.closed import ClosedFormRecommender
from graphrec.progress import Progress


class IALS(ClosedFormRecommender):
    """iALS (Hu, Koren & Volinsky, ICDM'08), in the form and with the regularisation of Rendle et al., "Revisiting the
    Performance of iALS on Item Recommendation Benchmarks" (RecSys'22).

    User and item embeddings W, H of width ``dim`` minimise
    ``Σ_(u,i) seen (w_u·h_i − 1)² + unobserved · Σ_u Σ_i (w_u·h_i)² + reg · Σ_u (n_u + unobserved · |I|)^reg_exponent
    ‖w_u‖² + the same for the items``, where n_u is the user's number of interactions. Each sweep solves every user's
    least-squares problem with H fixed, then every item's with W fixed: ``(Σ_{i seen} h_i h_iᵀ + unobserved · HᵀH +
    λ_u I) w_u = Σ_{i seen} h_i``, by ``cg_steps`` steps of conjugate gradients started from the previous sweep's w_u
    (Takács et al.'s CG variant of ALS), with the seen items' products fused in one pass over the interactions
    (:func:`graphrec.compiled.kernels.rowwise_gram`). Scores are W Hᵀ: a pair of embeddings that serves like any
    trained run.

    Why it is here: it is the strongest classic baseline for implicit feedback when its regularisation is tuned
    (Rendle et al.), it fits in seconds without epochs of sampling, and its errors differ from a graph filter's: on
    Gowalla's holdout ChebyCF mixed with it (``--model mix --hp base=chebycf --hp trained=ials``) ranks above both.

    Defaults: ``dim`` 512, ``unobserved`` 0.01, ``reg`` 0.003, ``reg_exponent`` 1 (the frequency-scaled
    regularisation), 6 sweeps of 3 CG steps: what Gowalla's holdout chose at 512 dimensions from unobserved
    0.003–0.1 × reg 0.001–0.01 (valid Recall@20 0.2150 on 5,000 users; test 0.1822 / 0.1509, fitted in 21 s at 2
    threads, 1.6 GB: BENCHMARKS.md, "Graph filters and baselines"). The ``search_space`` grid spans reg 0.003–0.03
    since ML-1M's and Last.fm's holdouts chose reg 0.01, the edge of that first grid (0.001 led on none). On a 20% holdout of Gowalla's train.txt 256 dimensions scored 0.0144
    lower (unobserved 0.01), and 10 sweeps instead of 6 changed Recall@20 by 0.001.

    Deviations: the systems are solved inexactly (a few CG steps, warm-started), as in iALS-CG, rather than by
    Cholesky or iALS++'s blocks; the initial embeddings are normal with standard deviation 0.1 / sqrt(dim).
    """

    dot_product_scores = True
    fitted_by = ("dim", "unobserved", "reg", "reg_exponent", "sweeps", "cg_steps")
    search_space = {"unobserved": (0.003, 0.01, 0.03, 0.1), "reg": (0.003, 0.01, 0.03)}

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, dim: int = 512,
                 unobserved: float = 0.01, reg: float = 0.003, reg_exponent: float = 1.0, sweeps: int = 6,
                 cg_steps: int = 3):
        super().__init__(n_users, n_items, graph)
        if int(dim) < 1 or int(sweeps) < 1 or int(cg_steps) < 1:
            raise ModelError(f"iALS: dim, sweeps and cg_steps must be >= 1, got dim={dim}, sweeps={sweeps}, "
                             f"cg_steps={cg_steps}")
        if float(unobserved) < 0 or float(reg) <= 0 or float(reg_exponent) < 0:
            raise ModelError(f"iALS: unobserved and reg_exponent must be >= 0 and reg > 0, got unobserved="
                             f"{unobserved}, reg={reg}, reg_exponent={reg_exponent}")
        self.dim, self.sweeps, self.cg_steps = int(dim), int(sweeps), int(cg_steps)
        self.unobserved, self.reg, self.reg_exponent = float(unobserved), float(reg), float(reg_exponent)
        std = 0.1 / self.dim ** 0.5  # drawn here, like a trained model's initial weights (build's seed= fixes them)
        self._start = (torch.randn(n_users, self.dim) * std, torch.randn(n_items, self.dim) * std)

    def solve(self, progress: Progress) -> None:
        r, r_t = self.interactions()
        user, item = self._start
        user_reg = self._regularisation(self.user_degree, self.n_items)
        item_reg = self._regularisation(self.item_degree, self.n_users)
        with progress(f"iALS: {self.sweeps} sweeps, {self.dim} dims", self.sweeps) as advance:
            for _ in range(self.sweeps):
                user = self._least_squares(user, item, r, user_reg)
                item = self._least_squares(item, user, r_t, item_reg)
                advance(1)
        self.keep("user", user.contiguous())
        self.keep("item", item.contiguous())

    def _regularisation(self, degree: Tensor, n_other: int) -> Tensor:
        return self.reg * (degree + self.unobserved * n_other).pow(self.reg_exponent)

    def _least_squares(self, x: Tensor, fixed: Tensor, adj: Tensor, ridge: Tensor) -> Tensor:
        """Every row's system ``(Σ_seen f fᵀ + unobserved · FᵀF + ridge_r I) x_r = Σ_seen f``, by CG from ``x``."""
        gram = self.unobserved * (fixed.t() @ fixed)
        ridge = ridge.unsqueeze(1)

        def apply(v: Tensor) -> Tensor:
            return rowwise_gram(adj, v, fixed).add_(v @ gram).addcmul_(ridge, v)

        target = torch.sparse.mm(adj, fixed)
        residual = target - apply(x)
        direction = residual.clone()
        norm = (residual * residual).sum(1, keepdim=True)
        for _ in range(self.cg_steps):
            product = apply(direction)
            step = norm / (direction * product).sum(1, keepdim=True).clamp(min=1e-30)
            x = x.addcmul(step, direction)
            residual = residual.addcmul(step, product, value=-1.0)
            new_norm = (residual * residual).sum(1, keepdim=True)
            direction = residual + (new_norm / norm.clamp(min=1e-30)) * direction
            norm = new_norm
        return x

    def filter(self, x: Tensor, users: Tensor) -> Tensor:
        return self.item @ self.user[users].t()

    def item_item(self, x: Tensor) -> Tensor:
        return torch.zeros_like(x)

    def forward(self) -> tuple[Tensor, Tensor]:
        self._check_fitted()
        return self.user, self.item
