"""LTGNN: :class:`LTGNN` (its docstring gives the paper, defaults and deviations), and the pieces a step uses."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from graphrec.compiled import kernels
from graphrec.errors import ModelError
from graphrec.models.base import Recommender
from graphrec.models.losses import bpr_loss, l2_reg
from graphrec.models.propagation import csr, sym_spmm
from graphrec.models.space import Range

INIT_ITERATIONS = 7  # the authors' code starts the stored fixed point from 7 PPR iterations of the initial table


def sample_neighbours(adj: Tensor, nodes: Tensor, num_neighbors: int,
                      generator: torch.Generator | None = None) -> Tensor:
    """Up to ``num_neighbors`` sampled entries of each of rows ``nodes`` of the CSR matrix ``adj``, as a
    (len(nodes), adj.size(1)) CSR matrix S whose product ``S @ X`` is an unbiased estimate of ``(adj @ X)[nodes]``.
    A node of degree <= ``num_neighbors`` keeps its whole row (the exact product); a larger one gets
    ``num_neighbors`` neighbours drawn uniformly with replacement, each weighted by its entry * degree /
    num_neighbors. Cost O(len(nodes) * num_neighbors), whatever the degrees."""
    crow, col, val = adj.crow_indices(), adj.col_indices(), adj.values()
    start = crow[nodes].long()
    deg = crow[nodes + 1].long() - start
    take_all = deg <= num_neighbors
    counts = torch.where(take_all, deg, torch.full_like(deg, num_neighbors))
    owner = torch.repeat_interleave(torch.arange(nodes.numel(), device=nodes.device), counts)
    first = torch.cumsum(counts, 0) - counts
    offset = torch.arange(owner.numel(), device=nodes.device) - first[owner]
    drawn = (torch.rand(owner.numel(), generator=generator, device=nodes.device) * deg[owner]).long()
    drawn = torch.minimum(drawn, (deg[owner] - 1).clamp(min=0))  # rand() < 1, but float rounding may reach deg
    entry = start[owner] + torch.where(take_all[owner], offset, drawn)
    scale = torch.where(take_all, torch.ones_like(deg, dtype=val.dtype), deg.to(val.dtype) / num_neighbors)
    sub_crow = torch.zeros(nodes.numel() + 1, dtype=crow.dtype, device=nodes.device)
    torch.cumsum(counts, 0, out=sub_crow[1:])
    return csr(sub_crow, col[entry], val[entry] * scale[owner], nodes.numel(), adj.size(1))


class ImplicitStep(torch.autograd.Function):
    """One PPR step at a batch's rows, E = (1-α) Â E_prev + α E⁰, with the implicit (fixed-point) gradient.

    Forward: ``(1-α) agg + α ego``, where ``agg`` is the (variance-reduced) estimate of ``(Â E_prev)[rows]``, a
    constant. Backward: the fixed point E* = (1-α) Â E* + α E⁰ has ∂L/∂E⁰ = G with G = (1-α) Â G + α ∂L/∂E*; one step
    of that iteration from the stored G (``grad_agg``, the estimate of ``(Â G_prev)[rows]``) gives the rows'
    gradient, which is also written back to the gradient memory ``grad_memory[rows]``."""

    @staticmethod
    def forward(ctx, ego: Tensor, agg: Tensor, grad_agg: Tensor, alpha: float, grad_memory: Tensor, rows: Tensor):
        ctx.alpha, ctx.grad_memory, ctx.rows, ctx.grad_agg = alpha, grad_memory, rows, grad_agg
        return (1 - alpha) * agg + alpha * ego

    @staticmethod
    def backward(ctx, grad: Tensor):
        g = (1 - ctx.alpha) * ctx.grad_agg + ctx.alpha * grad
        ctx.grad_memory[ctx.rows] = g.detach()
        return g, None, None, None, None, None


class LTGNN(Recommender):
    """LTGNN (Zhang et al., WWW 2024, "Linear-Time Graph Neural Networks for Scalable Recommendations").

    Implicit PPR propagation E* = (1-α) Â E* + α E⁰ (Â the normalised user–item adjacency), solved across training
    rather than inside each step: every step runs ONE layer at the batch's users and items, E_k = (1-α) Â E_{k-1} +
    α E⁰, from the embeddings E_{k-1} the previous steps stored (``fixed_point``), and writes the result back. Its
    gradient is the implicit one, G_k = (1-α) Â G_{k-1} + α ∂L/∂E_k, again one step from a stored G
    (``grad_memory``). Â E_{k-1} is estimated from ``num_neighbors`` sampled neighbours with variance reduction: Â M
    + Â_sampled (E_{k-1} - M), M a snapshot of the stored embeddings and Â M their full product, refreshed once an
    epoch (``on_epoch_start``). A step touches only the batch's rows and their sampled neighbours, and updates only the
    batch's rows (``sparse_updates``: sparse gradients, SparseAdam), so an epoch costs O(interactions · neighbours ·
    dim) plus one full product: linear in the graph, where LightGCN's full propagation per step is not. Output
    embeddings (E - c E⁰) / (1 - c), c = ``ego_cut``; score = user · item; loss BPR + ``reg`` · L2 of the batch's ego
    embeddings. Ranking (``forward``) propagates ``eval_layers`` full PPR layers from E⁰ (0: the stored fixed point).

    Defaults: the authors' command for Yelp2018 and Alibaba-iFashion (QwQ2000/TheWebConf24-LTGNN-PyTorch, README):
    dim 64, one layer, α 0.45, 15 neighbours, L2 2e-4, evaluation with 3 PPR layers (its K_val), c 0.2 (its
    appnp_adjust_coeff), the memory refreshed every epoch, N(0, 0.1) initialisation, the stored embeddings started
    from 7 PPR iterations. Their lr 1.5e-3 is the training loop's (``--lr 0.0015``).

    Deviations: a node with more neighbours than ``num_neighbors`` draws them with replacement (PyG's NeighborLoader,
    which the authors use, draws without); both are unbiased, with replacement costs O(neighbours) whatever the
    degree. The gradient memory stores G as the iteration defines it (the authors' code stores it times 1 - c).
    Its rows move by sparse (lazy) Adam, only where a step touched them (the authors use dense Adam, which also moves
    every untouched row by its momentum at every step, a full-table pass per step).
    """

    needs_graph = True
    sparse_updates = True
    not_data_parallel = ("each step writes its rows' stored embeddings and gradients, which the next step reads: "
                         "processes would each hold their own memory (sharing it per step is not built)")

    search_space = {"alpha": Range(0.05, 0.6), "num_neighbors": (5, 10, 15, 30),
                    "reg": Range(1e-6, 1e-2, log=True)}  # graphrec tune

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, dim: int = 64, alpha: float = 0.45,
                 num_neighbors: int = 15, reg: float = 2e-4, eval_layers: int = 3, ego_cut: float = 0.2,
                 init_std: float = 0.1):
        super().__init__(n_users, n_items, graph)
        self.dim, self.alpha, self.num_neighbors, self.reg = int(dim), float(alpha), int(num_neighbors), float(reg)
        self.eval_layers, self.ego_cut, self.init_std = int(eval_layers), float(ego_cut), float(init_std)
        self._check()
        self.user = nn.Embedding(n_users, self.dim, sparse=True)
        self.item = nn.Embedding(n_items, self.dim, sparse=True)
        n = n_users + n_items
        # Persistent: a checkpoint carries them, so a resumed run goes on from the same memory.
        for name in ("fixed_point", "grad_memory", "snapshot", "snapshot_agg"):
            self.register_buffer(name, torch.zeros(n, self.dim))
        self.reset_parameters()

    def _check(self) -> None:
        if not 0 < self.alpha < 1:
            raise ModelError(f"LTGNN: alpha must be in (0, 1), got {self.alpha}")
        if self.num_neighbors < 1 or self.eval_layers < 0:
            raise ModelError(f"LTGNN: num_neighbors must be >= 1 and eval_layers >= 0, got {self.num_neighbors}, "
                             f"{self.eval_layers}")
        if not 0 <= self.ego_cut < 1:
            raise ModelError(f"LTGNN: ego_cut must be in [0, 1), got {self.ego_cut}")

    def reset_parameters(self) -> None:
        nn.init.normal_(self.user.weight, std=self.init_std)
        nn.init.normal_(self.item.weight, std=self.init_std)
        with torch.no_grad():
            self.fixed_point.copy_(self.ppr(INIT_ITERATIONS))
            self.grad_memory.zero_()
        self.refresh_memory()

    def hparams(self) -> dict:
        return {"dim": self.dim, "alpha": self.alpha, "num_neighbors": self.num_neighbors, "reg": self.reg,
                "eval_layers": self.eval_layers, "ego_cut": self.ego_cut, "init_std": self.init_std}

    def ego(self) -> Tensor:
        return torch.cat([self.user.weight, self.item.weight])

    def ppr(self, iterations: int) -> Tensor:
        """``iterations`` full PPR layers from E⁰ (not adjusted by ``ego_cut``)."""
        x = self.ego()
        z = x
        for _ in range(iterations):
            z = (1 - self.alpha) * sym_spmm(self.adjacency(), z) + self.alpha * x
        return z

    @torch.no_grad()
    def refresh_memory(self) -> None:
        """The variance-reduction memory: M = the stored embeddings now, and Â M (one full product)."""
        self.snapshot.copy_(self.fixed_point)
        kernels.spmm(self.adjacency(), self.snapshot, out=self.snapshot_agg)

    def on_epoch_start(self, generator: torch.Generator) -> None:
        self.refresh_memory()

    def output(self, z: Tensor, ego: Tensor) -> Tensor:
        return (z - self.ego_cut * ego) / (1 - self.ego_cut)

    def forward(self) -> tuple[Tensor, Tensor]:
        z = self.ppr(self.eval_layers) if self.eval_layers else self.fixed_point
        out = self.output(z, self.ego())
        return out[:self.n_users], out[self.n_users:]

    def step(self, nodes: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """One implicit layer at ``nodes`` (unique, sorted: users before items): (E_k rows, E⁰ rows), both
        differentiable (E⁰ through sparse embedding lookups); E_k is stored as the new fixed-point estimate."""
        n_user_rows = int((nodes < self.n_users).sum())
        ego = torch.cat([self.user(nodes[:n_user_rows]), self.item(nodes[n_user_rows:] - self.n_users)])
        sampled = sample_neighbours(self.adjacency(), nodes, self.num_neighbors, generator)
        with torch.no_grad():  # Â M + Â_sampled (E_prev - M), and Â_sampled G_prev; the products read only the sample
            agg = kernels.spmm(sampled, self.fixed_point).sub_(kernels.spmm(sampled, self.snapshot))
            agg += self.snapshot_agg[nodes]
            grad_agg = kernels.spmm(sampled, self.grad_memory)
        z = ImplicitStep.apply(ego, agg, grad_agg, self.alpha, self.grad_memory, nodes)
        self.fixed_point[nodes] = z.detach()
        return z, ego

    def loss(self, batch) -> Tensor:
        users, pos, neg = batch
        nodes, inverse = torch.unique(torch.cat([users, pos + self.n_users, neg + self.n_users]),
                                      return_inverse=True)
        z, ego = self.step(nodes)
        u, p, n = self.output(z, ego)[inverse].split(users.numel())
        return bpr_loss((u * p).sum(1), (u * n).sum(1)) + self.reg * l2_reg(*ego[inverse].split(users.numel()))
