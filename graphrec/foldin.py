"""Fold-in: embeddings for users and items that joined the graph after a run was trained, from their neighbourhood
in the graph, without retraining.

* A new user (or one the run saw nothing of) with interactions gets the least-squares user vector against the run's
  item vectors, as in implicit ALS: u = (XᵀX + λI)⁻¹ Σ_{i ∈ items(u)} x_i, the vector whose scores come closest to 1
  on its items and 0 elsewhere. Its ranking is what the model would give a user with that history.
* A new item with interactions gets the mean of its users' vectors, scaled so that its mean score over those users
  equals the mean score of the run's items over their training users (item scores are compared across items, so
  their scale matters, unlike a user's).

``graphrec publish RUN --fold-in`` (or :func:`fold_in`) writes these onto the graph with the run's own properties,
so the served run answers for the newcomers at once; the vector index picks the new item vectors up on write.
"""

from __future__ import annotations

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


def fold_in_vectors(user_emb: torch.Tensor, item_emb: torch.Tensor, train_pairs: torch.Tensor,
                    new_user_items: list[list[int]], new_item_users: list[list[int]],
                    reg: float = 1e-2) -> tuple[torch.Tensor, torch.Tensor]:
    """Vectors for new users (rows of ``new_user_items``: run item indices) and new items (rows of
    ``new_item_users``: run user indices) from a run's embeddings (see the module doc). ``train_pairs`` (2, E): the
    run's training (user, item) pairs, for the item score scale. ``reg``: λ relative to the mean eigenvalue of XᵀX."""
    x = item_emb.double()
    y = user_emb.double()
    d = x.shape[1]
    gram = x.T @ x
    lam = reg * float(torch.trace(gram)) / d
    users_out = torch.zeros(len(new_user_items), d, dtype=torch.float64)
    if new_user_items:
        sums = torch.stack([x[torch.tensor(items, dtype=torch.long)].sum(0) if items else
                            torch.zeros(d, dtype=torch.float64) for items in new_user_items])
        users_out = torch.linalg.solve(gram + lam * torch.eye(d, dtype=torch.float64), sums.T).T
    items_out = torch.zeros(len(new_item_users), d, dtype=torch.float64)
    if new_item_users:
        u, i = train_pairs[0].long(), train_pairs[1].long()
        target = float((y[u] * x[i]).sum(1).mean()) if u.numel() else 1.0
        for row, users in enumerate(new_item_users):
            if not users:
                continue
            neighbours = y[torch.tensor(users, dtype=torch.long)]
            mean = neighbours.mean(0)
            score = float((neighbours @ mean).mean())
            items_out[row] = mean * (target / score) if score > 0 else mean
    return users_out.float(), items_out.float()


def fold_in(graph: Graph, run: Run, *, batch_size: int = 5_000, progress: Progress = silent) -> FoldInReport:
    """Embed the users and items of the graph that published run ``run`` has no vector for, from their
    interactions (see the module doc), and write them with the run's properties. The run must be published here."""
    from graphrec.export import export
    from graphrec.publish import RunProperties, unseen_users

    start = time.perf_counter()
    rows = graph.read("publish.get_run", id=run.id)
    if not rows or rows[0]["run"].get("status") != "ready":
        raise GraphrecError(f"run {run.id} is not published in this graph: publish it first (`graphrec publish "
                            f"{run.id}`), then fold in")
    meta = rows[0]["run"]
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
    mapping = graph.mapping
    with progress("fold in users and items", len(users) + len(items)) as advance:
        for start_k in range(0, len(users), batch_size):
            chunk = users[start_k:start_k + batch_size]
            rows = [{"id": mapping.key("user", now_users[u]), "v": u_vec[k].tolist()}
                    for k, u in enumerate(chunk, start_k)]
            report.users += graph.write("publish.write_user_embeddings", {"property": props.user},
                                        rows=rows)[0]["written"]
            advance(len(chunk))
        for start_k in range(0, len(items), batch_size):
            chunk = items[start_k:start_k + batch_size]
            vectors = i_vec[start_k:start_k + len(chunk)]
            # publish's MIPS augmentation [x, sqrt(M² − |x|²)], against the run's own M
            extra = (max_norm ** 2 - (vectors.double() ** 2).sum(1)).clamp_min(0).sqrt()
            rows = [{"id": mapping.key("item", now_items[i]), "v": vectors[k].tolist(),
                     "a": vectors[k].tolist() + [float(extra[k])]} for k, i in enumerate(chunk)]
            report.items += graph.write("publish.write_item_embeddings", {"property": props.item,
                                                                          "mips": props.mips}, rows=rows)[0]["written"]
            advance(len(chunk))
    report.seconds = time.perf_counter() - start
    graph.write("publish.record_fold_in", id=run.id, users=report.users, items=report.items)
    return report
