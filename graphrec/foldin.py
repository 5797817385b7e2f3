"""Fold-in: embeddings for users and items that joined the graph after a run was trained, from their neighbourhood
in the graph, without retraining.

* A new user (or one the run saw nothing of) with interactions gets the ridge least-squares user vector against the
  run's item vectors, as in implicit ALS: u = (XᵀX + λI)⁻¹ Σ_{i ∈ items(u)} x_i, the vector whose scores come closest
  to 1 on its items and 0 elsewhere; its ranking is what the model would give a user with that history. λ matters
  (it moves the answer between the plain least squares and the sum of the item vectors): unless given, it is chosen
  per run by folding the run's own users back in (:func:`choose_reg`; benchmarks/HISTORY.md, "Fold-in against a full
  retrain", has what the fixed λ = 0.01 used before lost).
* A new item with interactions gets the sum of its users' vectors, each divided by the square root of the user's
  training degree (LightGCN's propagation weights), scaled to the length that the run's own items reach along the
  direction this rule gives them, at that item's degree (a least-squares line on log-degree over the trained items).
  In a BPR model an item's length carries its popularity, and item scores are compared across items, so the scale
  decides how often it is recommended: the whole norm of a trained item over-scores the folded one, and the mean
  score of the run's training pairs (the rule before) ignores the degree (benchmarks/HISTORY.md, same section).

``graphrec publish RUN --fold-in`` (or :func:`fold_in`) writes these onto the graph with the run's own properties,
so the served run answers for the newcomers at once; the vector index picks the new item vectors up on write.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from graphrec.db.connect import Graph
from graphrec.errors import GraphrecError
from graphrec.progress import Progress, silent
from graphrec.runs import Run


@dataclass
class FoldInReport:
    run: str
    users: int = 0
    items: int = 0
    skipped: dict = field(default_factory=dict)  # newcomers with no neighbour in the run, per kind
    seconds: float = 0.0


REG_GRID = (0.1, 0.3, 1.0, 3.0, 10.0)


def _ridge(x: torch.Tensor, sums: torch.Tensor, reg: float) -> torch.Tensor:
    """(XᵀX + λI)⁻¹ sᵀ for each row s of ``sums``, λ = ``reg`` × the mean eigenvalue of XᵀX."""
    gram = x.T @ x
    lam = reg * float(torch.trace(gram)) / x.shape[1]
    return torch.linalg.solve(gram + lam * torch.eye(x.shape[1], dtype=x.dtype), sums.T).T


def choose_reg(user_emb: torch.Tensor, item_emb: torch.Tensor, train_pairs: torch.Tensor,
               grid: tuple[float, ...] = REG_GRID, max_users: int = 1000, k: int = 20, seed: int = 0) -> float:
    """The ridge λ (relative, see :func:`fold_in_vectors`) whose folded users rank most like the run's own: up to
    ``max_users`` of the run's users (a seeded sample) are folded in from their training items, and λ maximises the
    overlap of their top ``k`` unseen items with what their trained vectors rank. Fidelity to the model rather than
    hits on held-out items, which the run was trained on and would favour a λ that overfits."""
    x = item_emb.double()
    users, items = train_pairs[0].long(), train_pairs[1].long()
    counts = torch.bincount(users, minlength=user_emb.shape[0])
    active = torch.nonzero(counts).reshape(-1)
    if len(grid) == 1 or active.numel() == 0:  # nothing to choose, or nothing to choose by: the middle of the grid
        return grid[len(grid) // 2]
    gen = torch.Generator().manual_seed(seed)
    sample = active[torch.randperm(active.numel(), generator=gen)[:max_users]].sort().values
    picked = torch.zeros(user_emb.shape[0], dtype=torch.long).index_fill_(0, sample, 1).bool()
    take = picked[users]
    rows = torch.searchsorted(sample, users[take])  # each sampled pair's row in the sample
    seen = items[take]
    sums = torch.zeros(sample.numel(), x.shape[1], dtype=torch.float64).index_add_(0, rows, x[seen])
    k = min(k, x.shape[0])

    def top(scores: torch.Tensor) -> torch.Tensor:
        scores[rows, seen] = -torch.inf
        return torch.topk(scores, k, dim=1).indices

    reference = top(user_emb[sample].double() @ x.T)
    best, best_overlap = grid[0], -1
    for reg in grid:
        folded = top(_ridge(x, sums, reg) @ x.T)
        overlap = int((folded.unsqueeze(2) == reference.unsqueeze(1)).sum())
        if overlap > best_overlap:
            best, best_overlap = reg, overlap
    return best


def fold_in_vectors(user_emb: torch.Tensor, item_emb: torch.Tensor, train_pairs: torch.Tensor,
                    new_user_items: list[list[int]], new_item_users: list[list[int]],
                    reg: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Vectors for new users (rows of ``new_user_items``: run item indices) and new items (rows of
    ``new_item_users``: run user indices) from a run's embeddings (see the module doc). ``train_pairs`` (2, E): the
    run's training (user, item) pairs, for the users' degrees and the items' norms by degree. ``reg``: λ relative to
    the mean eigenvalue of XᵀX; None chooses it with :func:`choose_reg`."""
    x = item_emb.double()
    y = user_emb.double()
    d = x.shape[1]
    users_out = torch.zeros(len(new_user_items), d, dtype=torch.float64)
    if any(new_user_items):
        if reg is None:
            reg = choose_reg(user_emb, item_emb, train_pairs)
        sums = torch.stack([x[torch.tensor(items, dtype=torch.long)].sum(0) if items else
                            torch.zeros(d, dtype=torch.float64) for items in new_user_items])
        users_out = _ridge(x, sums, reg)
    items_out = torch.zeros(len(new_item_users), d, dtype=torch.float64)
    if any(new_item_users):
        u, i = train_pairs[0].long(), train_pairs[1].long()
        user_degree = torch.bincount(u, minlength=y.shape[0]).double().clamp(min=1)
        scaled = y / user_degree.sqrt().unsqueeze(1)
        length_at = _length_by_degree(x, scaled, u, i)
        for row, users in enumerate(new_item_users):
            if not users:
                continue
            direction = scaled[torch.tensor(users, dtype=torch.long)].sum(0)
            length = float(direction.norm())
            if length > 0:
                items_out[row] = direction * (length_at(len(users)) / length)
    return users_out.float(), items_out.float()


def _length_by_degree(x: torch.Tensor, scaled_users: torch.Tensor, users: torch.Tensor, items: torch.Tensor):
    """length(degree): how far the run's own trained items reach along the direction the fold-in rule would give them
    (their vector's projection on the sum of their users' scaled vectors), as a least-squares line on log-degree;
    the median where the run has too few trained items or the line would give a non-positive length."""
    degree = torch.bincount(items, minlength=x.shape[0])
    trained = torch.nonzero(degree > 0).reshape(-1)
    directions = torch.zeros_like(x).index_add_(0, items, scaled_users[users])[trained]
    lengths = (x[trained] * directions).sum(1) / directions.norm(dim=1).clamp(min=1e-12)
    fallback = float(lengths.median()) if trained.numel() else 1.0
    if trained.numel() < 2:
        return lambda n: fallback
    log_degree = degree[trained].double().log()
    design = torch.stack([torch.ones_like(log_degree), log_degree], 1)
    a, b = torch.linalg.lstsq(design, lengths.unsqueeze(1)).solution.reshape(-1).tolist()

    def length(n: int) -> float:
        value = a + b * math.log(n)
        return value if value > 0 else fallback
    return length


def fold_in(graph: Graph, run: Run, *, batch_size: int = 5_000, progress: Progress = silent) -> FoldInReport:
    """Embed the users and items of the graph that published run ``run`` has no vector for, from their
    interactions (see the module doc), and write them with the run's properties. The run must be published here."""
    from graphrec.export import export
    from graphrec.publish import RunProperties, augment, unseen_users, write_embeddings

    start = time.perf_counter()
    rows = graph.read("publish.get_run", id=run.id)
    if not rows or rows[0]["run"].get("status") != "ready":
        raise GraphrecError(f"run {run.id} is not published in this graph: publish it first (`graphrec publish "
                            f"{run.id}`), then fold in")
    meta = rows[0]["run"]
    if not meta.get("dim"):
        raise GraphrecError(f"run {run.id} has no embeddings to fold in: it is served from its stored item–item rows, "
                            "which serve a new user from its items already; new items get rows when it is published "
                            f"again (`graphrec publish {run.id}`)")
    emb, ids = run.embeddings(), run.ids()
    user_emb, item_emb = emb["user"].float(), emb["item"].float()
    train_pairs, _ = run.graphs()
    unseen = unseen_users(run, len(ids.ids["user"]))
    hetero, now = export(graph, split="random", progress=progress)  # the split is not used: every edge counts
    edges = hetero["user", "interacted", "item"].edge_index
    run_user, run_item = ids.index["user"], ids.index["item"]
    now_users, now_items = now.ids["user"], now.ids["item"]

    def needs_user(ident: str) -> bool:
        k = run_user.get(ident)
        return k is None or (unseen is not None and bool(unseen[k]))

    new_users = {u for u, ident in enumerate(now_users) if needs_user(ident)}
    new_items = {i for i, ident in enumerate(now_items) if ident not in run_item}
    user_items: dict[int, list[int]] = {u: [] for u in new_users}
    item_users: dict[int, list[int]] = {i: [] for i in new_items}
    for u, i in edges.T.tolist():
        if u in new_users and now_items[i] in run_item:
            user_items[u].append(run_item[now_items[i]])
        if i in new_items and not needs_user(now_users[u]):
            item_users[i].append(run_user[now_users[u]])
    users = sorted(u for u in new_users if user_items[u])
    items = sorted(i for i in new_items if item_users[i])
    report = FoldInReport(run.id, skipped={"user": len(new_users) - len(users), "item": len(new_items) - len(items)})
    u_vec, i_vec = fold_in_vectors(user_emb, item_emb, train_pairs, [user_items[u] for u in users],
                                   [item_users[i] for i in items])
    props = RunProperties(meta["user_property"], meta["item_property"], meta["mips_property"], meta["index_name"])
    max_norm = float(meta["max_norm"])
    if len(items):  # a folded item may not outgrow the run's largest norm: the MIPS augmentation needs |x| <= M
        norms = i_vec.norm(dim=1, keepdim=True)
        i_vec = torch.where(norms > max_norm, i_vec * (max_norm / norms), i_vec)
    report.users = write_embeddings(graph, "user", props, [now_users[u] for u in users], u_vec, batch_size, progress)
    report.items = write_embeddings(graph, "item", props, [now_items[i] for i in items], i_vec, batch_size, progress,
                                    augment(i_vec, max_norm)[0])
    report.seconds = time.perf_counter() - start
    graph.write("publish.record_fold_in", id=run.id, users=report.users, items=report.items)
    return report
