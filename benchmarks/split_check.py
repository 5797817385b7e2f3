"""Is a dataset's test file a random draw of each user's interactions? (#35: why the holdout and the test disagree)

A search chooses on a holdout carved at random from the training file (10% of each user's items). That predicts the
test only if the test was drawn the same way. This script fits the same closed-form models twice, on the dataset's own
train/test split and on a re-randomised one (the same interactions, train, valid and test pooled, then each user's
share of test drawn at random, seed ``--seed``: ``--fraction``, by default the original test's share of all
interactions), and ranks the same sampled users' test items in both. The original split's models fit train and valid
together. If the test file were a random draw, both splits would give the models about the same levels and order.

``--dataset`` is a LightGCN-format folder of ../shared/data, or a dataset ``benchmarks/side_graphs.py`` exports
(ingested once into a scratch server, cached under ``--cache``): diffnet-yelp, filmtrust, ml-1m, ...

    PYTHONPATH=. .venv/bin/python benchmarks/split_check.py --dataset lightgcn-gowalla \\
        --models chebycf:gowalla sgfcf bspm --hp sgfcf:eps=0.3 --hp sgfcf:beta=1.0 --hp sgfcf:gamma=2.5 \\
        --out benchmarks/results/split_check.jsonl

``MODEL:PRESET`` fits the preset's hyper-parameters (``graphrec models`` lists them), a bare name its defaults;
``--hp MODEL:NAME=VALUE`` sets one. One JSON record per (split, model) goes to ``--out`` with the commit and the load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import torch

from benchmarks._data import load_lightgcn_dir
from graphrec.cli import _parse_hparam
from graphrec.evaluate import evaluate
from graphrec.models import build
from graphrec.presets import preset
from graphrec.recdata import RecData, UserItems, holdout

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def load(dataset: str, cache: Path) -> RecData:
    """A LightGCN-format folder's files, or a side-graph dataset's export; valid (if any) folded into train."""
    if (DATA / dataset / "train.txt").exists():
        return load_lightgcn_dir(DATA / dataset).without_valid()
    from benchmarks.side_graphs import exported

    return RecData.from_hetero(torch.load(exported(dataset, cache), weights_only=False)["hetero"]).without_valid()


def resplit(data: RecData, fraction: float, seed: int) -> tuple[UserItems, UserItems]:
    """(train, test): every interaction pooled, ``fraction`` of each user's drawn at random as test."""
    keys = torch.unique(torch.cat([data.train.keys(data.n_items), data.test.keys(data.n_items)]))
    pooled = UserItems.from_keys(keys, data.n_users, data.n_items)
    return holdout(pooled, fraction, seed, n_items=data.n_items)


def model_settings(spec: str, extra: list[str]) -> tuple[str, str, dict]:
    """(model, label, hyper-parameters) from ``MODEL[:PRESET]`` and the ``--hp MODEL:NAME=VALUE`` settings."""
    name, _, preset_name = spec.partition(":")
    hparams = dict(preset(name, preset_name).hparams) if preset_name else {}
    for item in extra:
        model, _, setting = item.partition(":")
        if model == name:
            key, value = _parse_hparam(setting)  # as `graphrec train --hp` reads it
            hparams[key] = value
    return name, spec, hparams


def measure(data: RecData, train: UserItems, test: UserItems, users: torch.Tensor, name: str, hparams: dict) -> dict:
    """Fit ``name`` on ``train`` and rank ``test``'s items of ``users`` (every item ranked, train masked)."""
    pick = torch.zeros(data.n_users, dtype=torch.bool)
    pick[users] = True
    u, i = test.pairs()
    split = RecData.from_pairs(data.n_users, data.n_items, torch.stack(train.pairs()), None,
                               torch.stack([u[pick[u]], i[pick[u]]]))
    ranked = torch.nonzero(split.test.counts() > 0).flatten()
    start = time.perf_counter()
    model = build(name, data.n_users, data.n_items, graph=torch.stack(train.pairs()), **hparams).fit()
    fitted = time.perf_counter() - start
    with torch.no_grad():
        scores = model.score(ranked)
    slot = torch.full((data.n_users,), -1, dtype=torch.long)
    slot[ranked] = torch.arange(ranked.numel())
    metrics = evaluate(lambda batch: scores[slot[batch]], split, "test", ks=(20,))
    return {"recall@20": metrics["recall@20"], "ndcg@20": metrics["ndcg@20"], "users": int(ranked.numel()),
            "fit_seconds": round(fitted, 1), "seconds": round(time.perf_counter() - start, 1)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="lightgcn-gowalla",
                    help="a LightGCN-format folder of ../shared/data, or a dataset of benchmarks/side_graphs.py")
    ap.add_argument("--cache", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "graphrec-bench-exports"))
    ap.add_argument("--models", nargs="+", default=["chebycf:gowalla", "bspm"], metavar="MODEL[:PRESET]")
    ap.add_argument("--hp", action="append", default=[], metavar="MODEL:NAME=VALUE")
    ap.add_argument("--users", type=int, default=4000, help="seeded sample of users ranked in both splits")
    ap.add_argument("--fraction", type=float, help="each user's share drawn as test in the re-split (default: the "
                    "original test's share of all interactions)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "split_check.jsonl"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = load(args.dataset, Path(args.cache))
    fraction = args.fraction or data.test.nnz / (data.train.nnz + data.test.nnz)
    users = torch.randperm(data.n_users, generator=torch.Generator().manual_seed(args.seed))[:args.users]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    splits = {"original": (data.train, data.test), "re-randomised": resplit(data, fraction, args.seed)}
    for split_name, (train, test) in splits.items():
        for spec in args.models:
            name, label, hparams = model_settings(spec, args.hp)
            load_before = os.getloadavg()[0]
            row = {"dataset": args.dataset, "split": split_name, "fraction": round(fraction, 4), "model": label,
                   "hparams": hparams,
                   **measure(data, train, test, users, name, hparams), "threads": args.threads, "commit": commit,
                   "load_1min_start_end": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                   "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
            print(f"{split_name:>14} {label:<16} Recall@20 {row['recall@20']:.4f}  NDCG@20 {row['ndcg@20']:.4f}  "
                  f"({row['seconds']} s)", flush=True)
            with open(args.out, "a") as out:
                out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
