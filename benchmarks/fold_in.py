"""Fold-in against a full retrain on a time split (issue #30): how close do users and items embedded from their
neighbourhood (graphrec.foldin.fold_in_vectors, what ``graphrec publish RUN --fold-in`` writes) get to a model
retrained with them, and how much faster.

Protocol (offline, the library only: RecData, models.build, train.fit, evaluate, fold_in_vectors):

* MovieLens 100K ratings >= 4 (implicit positives), ordered by time (ties by file order). T0 = the 70% point,
  T1 = the 80% point. Test: the interactions after T1 whose user and item were seen before T1 (nobody can rank an item
  or serve a user without a single interaction; both methods would miss them alike).
* Model A is trained on the interactions before T0; users and items that first appear between T0 and T1 are folded
  in from their T0–T1 interactions, as ``fold_in`` does in the graph: a new user from the items A knows, a new item
  from the users A knows. Existing users keep A's vectors (their T0–T1 items are masked at test time but not folded
  in: that is what a served run does until it is retrained); ``--refold-known`` also refolds every known user from
  all their pre-T1 items, to show what that would add.
* Model B is retrained on everything before T1.
* Both are validated on a seeded per-user holdout of their own training interactions (early stopping), never on test,
  and evaluated by full ranking on the test interactions, masking each user's pre-T1 items: over every test user, over
  the new users (first seen between T0 and T1), and over the test interactions with new items.
* Baseline without fold-in: new users get the pre-T1 popularity ranking, new items no vector (score 0).

* ``--refold-check REG`` adds a check on A alone, on its validation holdout: its own users refolded from their
  training items, and 10% samples of its items refolded from their users, against the trained vectors.

    python benchmarks/fold_in.py --threads 2 --refold-known --refold-check 0.01
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from graphrec.evaluate import evaluate  # noqa: E402
from graphrec.foldin import fold_in_vectors  # noqa: E402
from graphrec.models import build  # noqa: E402
from graphrec.recdata import RecData, UserItems  # noqa: E402
from graphrec.train import TrainConfig, fit, model_scorer  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ml-100k"
KS = (20,)


def read_ratings(folder: Path, min_rating: int):
    """(users, items, ts) int64 arrays of the ratings >= min_rating, ordered by time (stable), ids re-indexed 0..n-1."""
    raw = np.loadtxt(folder / "u.data", dtype=np.int64)
    raw = raw[raw[:, 2] >= min_rating]
    raw = raw[np.argsort(raw[:, 3], kind="stable")]
    _, users = np.unique(raw[:, 0], return_inverse=True)
    _, items = np.unique(raw[:, 1], return_inverse=True)
    return users, items, raw[:, 3]


def train_model(name: str, pairs: torch.Tensor, n_users: int, n_items: int, args):
    """Train ``name`` on ``pairs`` with early stopping on a seeded per-user holdout of them; returns (model, its
    RecData, info)."""
    data = RecData.from_pairs(n_users, n_items, pairs).with_holdout(args.valid_fraction, seed=args.seed)
    model = build(name, n_users, n_items, graph=torch.stack(data.train.pairs()), seed=args.seed)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed, ks=KS,
                         eval_every=args.eval_every, patience=args.patience, threads=args.threads, progress=False,
                         test_beyond_accuracy=False)
    start = time.perf_counter()
    result = fit(model, data, config)
    seconds = time.perf_counter() - start
    return model, data, {"seconds": seconds, "seconds_train": result.seconds_train, "best_epoch": result.best_epoch,
                         "epochs_run": result.epochs_run, "valid": result.best_valid}


@torch.no_grad()
def embeddings(model) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    user_emb, item_emb = model_scorer(model)
    return user_emb.detach().float().clone(), item_emb.detach().float().clone()


def restrict(split: UserItems, keep_users: torch.Tensor | None, keep_items: torch.Tensor | None,
             n_items: int) -> UserItems:
    users, items = split.pairs()
    mask = torch.ones(split.nnz, dtype=torch.bool)
    if keep_users is not None:
        mask &= keep_users[users]
    if keep_items is not None:
        mask &= keep_items[items]
    return UserItems.from_keys((users * n_items + items)[mask], split.indptr.numel() - 1, n_items)


def report(scorer, data: RecData, new_users: torch.Tensor, new_items: torch.Tensor) -> dict:
    """Recall/NDCG@20 over every test user, over the new users, and over the test interactions with new items."""
    groups = {"all": data,
              "new_users": replace(data, test=restrict(data.test, new_users, None, data.n_items)),
              "new_items": replace(data, test=restrict(data.test, None, new_items, data.n_items))}
    out = {}
    for name, group in groups.items():
        metrics = evaluate(scorer, group, "test", ks=KS)
        out[name] = {"recall@20": metrics["recall@20"], "ndcg@20": metrics["ndcg@20"],
                     "users": int(metrics["n_users"])}
    return out


def refold_check(user_emb: torch.Tensor, item_emb: torch.Tensor, data: RecData, reg: float | None) -> dict:
    """Fold-in against the trained vectors of the same model, on its validation holdout (no test): every trained user
    refolded from its training items (λ fixed at ``reg`` and chosen by fold_in_vectors), and three seeded 10% samples
    of the trained items refolded from their training users (their own pairs left out of the run's), against the
    trained item vectors and against no vector at all."""
    pairs = torch.stack(data.train.pairs())
    known = torch.nonzero(data.train.counts()).reshape(-1)
    history = [data.train.indices[data.train.indptr[u]:data.train.indptr[u + 1]].tolist() for u in known.tolist()]
    out = {"users": {"trained": evaluate((user_emb, item_emb), data, "valid", ks=KS)}}
    for label, value in ((f"fold-in, λ {reg:g}", reg), ("fold-in, λ chosen", None)):
        folded, _ = fold_in_vectors(user_emb, item_emb, pairs, history, [], reg=value)
        users = user_emb.clone()
        users[known] = folded
        out["users"][label] = evaluate((users, item_emb), data, "valid", ks=KS)
    item_users: dict[int, list[int]] = {}
    for u, i in pairs.t().tolist():
        item_users.setdefault(i, []).append(u)
    trained_items = torch.tensor(sorted(item_users))
    for sample in range(3):
        gen = torch.Generator().manual_seed(sample)
        picked = trained_items[torch.randperm(trained_items.numel(), generator=gen)[:trained_items.numel() // 10]]
        mask = torch.zeros(data.n_items, dtype=torch.bool).index_fill_(0, picked, True)
        group = replace(data, valid=restrict(data.valid, None, mask, data.n_items))
        _, folded = fold_in_vectors(user_emb, item_emb, pairs[:, ~mask[pairs[1]]], [],
                                    [item_users[i] for i in picked.tolist()])
        rows = out.setdefault(f"items sample {sample}", {})
        for label, vectors in (("trained", item_emb[picked]), ("no vector", torch.zeros_like(folded)),
                               ("fold-in", folded)):
            items = item_emb.clone()
            items[picked] = vectors
            rows[label] = {"sampled items": evaluate((user_emb, items), group, "valid", ks=KS),
                           "all items": evaluate((user_emb, items), data, "valid", ks=KS)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the ml-100k folder (u.data)")
    ap.add_argument("--min-rating", type=int, default=4)
    ap.add_argument("--t0", type=float, default=0.7, help="A is trained before this share of the interactions")
    ap.add_argument("--t1", type=float, default=0.8, help="B is trained before this share; test is after it")
    ap.add_argument("--model", default="lightgcn")
    ap.add_argument("--epochs", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--eval-every", type=int, default=5)
    ap.add_argument("--patience", type=int, default=6)
    ap.add_argument("--valid-fraction", type=float, default=0.1)
    ap.add_argument("--reg", type=float, default=None,
                    help="fold_in_vectors' ridge λ (relative; default: chosen by fold_in_vectors)")
    ap.add_argument("--refold-check", type=float, metavar="REG",
                    help="also refold A's own users (λ REG and chosen) and 10%% samples of its items, on A's "
                         "validation holdout")
    ap.add_argument("--refold-known", action="store_true",
                    help="also refold every user A knows from all their pre-T1 items (a fourth row)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, help="append the record (JSON line) here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    users, items, ts = read_ratings(args.data, args.min_rating)
    n, n_users, n_items = len(users), int(users.max()) + 1, int(items.max()) + 1
    c0, c1 = int(round(n * args.t0)), int(round(n * args.t1))
    u, i = torch.from_numpy(users), torch.from_numpy(items)
    before_t0 = torch.stack([u[:c0], i[:c0]])
    before_t1 = torch.stack([u[:c1], i[:c1]])
    seen_t0_u = torch.zeros(n_users, dtype=torch.bool).index_fill_(0, u[:c0], True)
    seen_t0_i = torch.zeros(n_items, dtype=torch.bool).index_fill_(0, i[:c0], True)
    seen_t1_u = torch.zeros(n_users, dtype=torch.bool).index_fill_(0, u[:c1], True)
    seen_t1_i = torch.zeros(n_items, dtype=torch.bool).index_fill_(0, i[:c1], True)
    new_users, new_items = seen_t1_u & ~seen_t0_u, seen_t1_i & ~seen_t0_i
    test_mask = seen_t1_u[u[c1:]] & seen_t1_i[i[c1:]]
    test = torch.stack([u[c1:][test_mask], i[c1:][test_mask]])
    # Evaluation data: train = every pre-T1 interaction (masked), test after T1.
    data = RecData.from_pairs(n_users, n_items, before_t1, None, test)
    print(f"{n:,} interactions (rating >= {args.min_rating}), {n_users} users, {n_items} items; before T0 {c0:,}, "
          f"T0-T1 {c1 - c0:,}, test {test.size(1):,} of {n - c1:,} (user and item seen before T1); new between T0 "
          f"and T1: {int(new_users.sum())} users, {int(new_items.sum())} items", file=sys.stderr)

    model_a, data_a, info_a = train_model(args.model, before_t0, n_users, n_items, args)
    print(f"A: {info_a['seconds']:.1f} s, best epoch {info_a['best_epoch']}", file=sys.stderr)
    user_a, item_a = embeddings(model_a)
    check = None
    if args.refold_check is not None:
        check = refold_check(user_a, item_a, data_a, args.refold_check)
        print("A's own users and items refolded, on A's validation holdout (Recall@20 / NDCG@20):")
        for group, rows in check.items():
            for label, res in rows.items():
                cells = res if "sampled items" in res else {"": res}
                print(f"  {group:16s} {label:22s} " + "  ".join(
                    f"{name} {m['recall@20']:.4f} / {m['ndcg@20']:.4f}" for name, m in cells.items()))

    # Fold-in, as graphrec.foldin.fold_in does in the graph: new users from known items, new items from known users.
    start = time.perf_counter()
    window = torch.stack([u[c0:c1], i[c0:c1]])
    new_u_ids = torch.nonzero(new_users).reshape(-1).tolist()
    new_i_ids = torch.nonzero(new_items).reshape(-1).tolist()
    user_items: dict[int, list[int]] = {k: [] for k in new_u_ids}
    item_users: dict[int, list[int]] = {k: [] for k in new_i_ids}
    for uu, ii in window.t().tolist():
        if new_users[uu] and seen_t0_i[ii]:
            user_items[uu].append(ii)
        if new_items[ii] and seen_t0_u[uu]:
            item_users[ii].append(uu)
    fu, fi = fold_in_vectors(user_a, item_a, before_t0, [user_items[k] for k in new_u_ids],
                             [item_users[k] for k in new_i_ids], reg=args.reg)
    user_f, item_f = user_a.clone(), item_a.clone()
    if new_u_ids:
        user_f[torch.tensor(new_u_ids)] = fu
    if new_i_ids:
        item_f[torch.tensor(new_i_ids)] = fi
    seconds_fold = time.perf_counter() - start
    print(f"fold-in: {seconds_fold:.3f} s", file=sys.stderr)

    # No fold-in: new users get the pre-T1 popularity ranking, new items no vector.
    item_none = item_a.clone()
    item_none[new_items] = 0
    popularity = data.item_popularity().float()

    def no_fold_in(batch: torch.Tensor) -> torch.Tensor:
        scores = user_a[batch] @ item_none.t()
        fresh = new_users[batch]
        scores[fresh] = popularity
        return scores

    rows = {"A, no fold-in (new users: popularity)": (report(no_fold_in, data, new_users, new_items), None),
            "A + fold-in": (report((user_f, item_f), data, new_users, new_items), seconds_fold)}
    if args.refold_known:
        start = time.perf_counter()
        known = torch.nonzero(seen_t0_u).reshape(-1).tolist()
        history: dict[int, list[int]] = {k: [] for k in known}
        for uu, ii in before_t1.t().tolist():
            if seen_t0_u[uu] and seen_t0_i[ii]:
                history[uu].append(ii)
        refolded, _ = fold_in_vectors(user_a, item_a, before_t0, [history[k] for k in known], [], reg=args.reg)
        user_r = user_f.clone()
        user_r[torch.tensor(known)] = refolded
        rows["A + fold-in, known users refolded"] = (report((user_r, item_f), data, new_users, new_items),
                                                     seconds_fold + time.perf_counter() - start)

    model_b, _, info_b = train_model(args.model, before_t1, n_users, n_items, args)
    print(f"B: {info_b['seconds']:.1f} s, best epoch {info_b['best_epoch']}", file=sys.stderr)
    rows["B, retrained before T1"] = (report(embeddings(model_b), data, new_users, new_items), info_b["seconds"])

    print(f"{'':40s} {'all R@20':>9s} {'NDCG':>7s} {'new users R@20':>15s} {'NDCG':>7s} "
          f"{'new items R@20':>15s} {'NDCG':>7s} {'seconds':>8s}")
    for label, (res, seconds) in rows.items():
        cells = " ".join(f"{res[g]['recall@20']:9.4f} {res[g]['ndcg@20']:7.4f}" if g == "all" else
                         f"{res[g]['recall@20']:15.4f} {res[g]['ndcg@20']:7.4f}" for g in ("all", "new_users",
                                                                                          "new_items"))
        print(f"{label:40s} {cells} {'' if seconds is None else f'{seconds:8.2f}'}")
    groups = rows["B, retrained before T1"][0]
    print(f"test users: all {groups['all']['users']}, new {groups['new_users']['users']}, with a new-item test "
          f"interaction {groups['new_items']['users']}")
    if args.out:
        record = {"date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "model": args.model, "seed": args.seed,
                  "lr": args.lr, "reg": args.reg, "t0": args.t0, "t1": args.t1, "A": info_a, "B": info_b,
                  "fold_in_seconds": seconds_fold, "load": os.getloadavg(),
                  "rows": {label: res for label, (res, _) in rows.items()}, "refold_check": check}
        with open(args.out, "a") as fh:
            fh.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
