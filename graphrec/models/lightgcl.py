"""LightGCL: :class:`LightGCL` (its docstring gives the paper, defaults and deviations) and its truncated SVD."""

from __future__ import annotations

import torch
from torch import Tensor

from graphrec.compiled.kernels import coo
from graphrec.models.encoder import GraphEncoder
from graphrec.models.losses import LogSumExpScores, bpr_loss, distinct
from graphrec.models.space import Range


def truncated_svd(adj_ui: Tensor, q: int, oversample: int = 10, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """Rank-q (U, S, V) of a sparse (n_users, n_items) matrix by randomised SVD (torch.svd_lowrank, as the paper's
    ApproxSVD and the reference code), with ``oversample`` extra columns and 4 power iterations so it matches the
    exact truncated SVD closely (the reference asks for exactly q columns, 2 iterations: a rougher approximation).
    Seeded locally, so the view is the same on every construction without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        u, s, v = torch.svd_lowrank(adj_ui, q=min(q + oversample, *adj_ui.shape), niter=4)
    return u[:, :q], s[:q], v[:, :q]


class LightGCL(GraphEncoder):
    """LightGCL (Cai et al., ICLR 2023): LightGCN contrasted with a global view over a rank-q SVD of Â.

    The SVD view propagates over a rank-q reconstruction of the normalised interaction matrix, Â_ui ≈ U_q S_q V_qᵀ
    (computed once, at construction, by :func:`truncated_svd`). Per layer l: main view Z_l = Â_ui E_{l-1} (optionally
    with edge dropout), SVD view G_l = U_q S_q V_qᵀ E_{l-1} of the previous *main* layer, never materialising the dense
    reconstruction; G_0 = E_0. Final embeddings (also used for scoring) are the layer *sums* E = Σ_l E_l, G = Σ_l G_l.
    Loss (HKUDS/LightGCL model.py): BPR(E) + cl_rate (λ1) · L_s + reg (λ2) · ||Θ||², with, for users and likewise items
    (the batch's positives and negatives), L_s = mean_batch[ log Σ_{all users v} exp(g_u · e_v / τ) − clamp(g_u · e_u /
    τ, −5, 5) ] (dot products, every node of the type as a negative).

    Defaults: HKUDS/LightGCL parser.py: q 5, 2 layers, λ1 0.2, τ 0.2, dropout 0.0, λ2 1e-7 (its README runs Gowalla with
    λ2 0).

    Deviations: from the reference code, (1) the SVD is of the *normalised* Â_ui, as the paper writes; the reference
    main.py decomposes the raw 0/1 matrix; (2) edge dropout drops both directions of an edge together (graphrec's
    propagation needs a symmetric Â), the reference the two directions independently; (3) the randomised SVD takes 10
    extra columns and 4 power iterations, closer to the exact one (the reference: exactly q columns, 2 iterations). From
    the paper: its LeakyReLU and residual connections are absent from the authors' released code; graphrec follows the
    code (a linear LightGCN encoder), as RecBole-GNN also does.
    """

    layer_sum = True

    search_space = {"cl_rate": Range(1e-3, 1.0, log=True), "temperature": (0.1, 0.2, 0.5),
                    "reg": Range(1e-8, 1e-4, log=True)}  # graphrec tune

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, dim: int = 64, num_layers: int = 2,
                 svd_q: int = 5, cl_rate: float = 0.2, temperature: float = 0.2, dropout: float = 0.0,
                 reg: float = 1e-7):
        super().__init__(n_users, n_items, graph, dim, num_layers)
        self.svd_q, self.cl_rate, self.temperature = int(svd_q), float(cl_rate), float(temperature)
        self.dropout, self.reg = float(dropout), float(reg)
        adj = self.adjacency().to_sparse_coo().coalesce()
        rows, cols = adj.indices()
        user_rows = rows < n_users  # the user→item block of Â is Â_ui
        adj_ui = coo(torch.stack([rows[user_rows], cols[user_rows] - n_users]), adj.values()[user_rows],
                     (n_users, n_items)).coalesce()
        u, s, v = truncated_svd(adj_ui, min(self.svd_q, n_users, n_items))
        self.register_buffer("svd_us", u * s, persistent=False)  # U S  (n_users, q)
        self.register_buffer("svd_vs", v * s, persistent=False)  # V S  (n_items, q)
        self.register_buffer("svd_u", u, persistent=False)
        self.register_buffer("svd_v", v, persistent=False)

    def hparams(self) -> dict:
        return {"dim": self.dim, "num_layers": self.num_layers, "svd_q": self.svd_q, "cl_rate": self.cl_rate,
                "temperature": self.temperature, "dropout": self.dropout, "reg": self.reg}

    def svd_propagate(self, x: Tensor) -> Tensor:
        """(Â_svd-bipartite) x for stacked (users; items) rows: users get U S Vᵀ x_items, items V S Uᵀ x_users."""
        xu, xi = self.split(x)
        return torch.cat([self.svd_us @ (self.svd_v.t() @ xi), self.svd_vs @ (self.svd_u.t() @ xu)])

    def dropped_adjacency(self) -> Tensor:
        """Â with edge dropout (both directions of an edge share a mask), kept values scaled by 1/(1 - p)."""
        keep = torch.rand(self.n_edges, device=self.adj_val.device) >= self.dropout
        return self.adjacency(self.adj_val * keep[self.adj_edge_ids] / (1 - self.dropout))

    def loss(self, batch) -> Tensor:
        users, pos, neg = batch
        adj = self.dropped_adjacency() if self.training and self.dropout > 0 else self.adjacency()
        main = self.layers(adj=adj)
        svd = [main[0]] + [self.svd_propagate(h) for h in main[:-1]]
        (eu, ei), (gu, gi) = self.split(self.combine(main)), self.split(self.combine(svd))
        u, p, n = eu[users], ei[pos], ei[neg]
        rec = bpr_loss((u * p).sum(1), (u * n).sum(1))
        items = torch.cat([pos, neg])  # the reference contrasts the batch's positive and negative items
        cl = self._contrast(gu, eu, users) + self._contrast(gi, ei, items)
        return self.loss_parts(bpr=rec, cl=self.cl_rate * cl,
                               reg=self.reg * sum(w.pow(2).sum() for w in self.parameters()))

    def _contrast(self, g: Tensor, e: Tensor, nodes: Tensor) -> Tensor:
        """Mean over the batch's ``nodes`` of logsumexp(g_n eᵀ / t) - clamp(g_n · e_n / t): the log-sum-exp (in blocks)
        once per distinct node, weighted by how often it occurs in the batch."""
        once, counts = distinct(nodes)
        negative = (LogSumExpScores.apply(g[once] / self.temperature, e) * counts).sum() / nodes.numel()
        positive = ((g[nodes] * e[nodes]).sum(1) / self.temperature).clamp(-5.0, 5.0).mean()
        return negative - positive
