"""How noisy is one random holdout as a judge between closed-form points, and do re-checks help? (#35)

``graphrec tune --model auto`` ranks every closed-form grid point on one random holdout, then re-checks the six best
on more random holdouts (:func:`graphrec.choice.recheck`) and serves the best on the re-checks' mean. This script fits
every point of every ``--models`` grid on the first holdout (10% of each user's train, seed ``--seed``, as auto
carves it), on ``--holdouts - 1`` re-drawn ones (:func:`graphrec.choice.holdout_fold`) and on all of train for the test,
and prints which point each rule would serve and how it tests: the first holdout alone, the re-checks' mean over the
first holdout's six leaders, and (for reference only, never a rule) the best on test.

    PYTHONPATH=. .venv/bin/python benchmarks/holdout_noise.py --dataset filmtrust --holdouts 5 \\
        --out benchmarks/results/holdout_noise.jsonl

``--dataset``: as ``benchmarks/split_check.py`` takes it (a LightGCN-format folder of ../shared/data, or a dataset
``benchmarks/side_graphs.py`` exports; a shipped valid split is folded into train). One JSON record per grid point
goes to ``--out``, with the commit and the load.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import torch

from benchmarks.split_check import load
from graphrec.choice import holdout_fold
from graphrec.closedfit import search as grid_search
from graphrec.models import model_class
from graphrec.train import TrainConfig
from graphrec.tune import CLOSED_ORDER

REPO = Path(__file__).resolve().parents[1]


def fit_rank(name: str, data, split: str, hparams: dict, seed: int, users: int) -> float:
    """Recall@20 of ``name`` at ``hparams`` fitted on ``data.train``, ranked on ``split``."""
    config = TrainConfig(seed=seed, progress=False)
    grid = {k: (v,) for k, v in hparams.items()}
    if split == "valid":
        return grid_search(name, data, grid=grid, config=config, valid_users=users).trials[0]["valid"]["recall@20"]
    # test: the same fit ranked on test (valid emptied, test in its place: closedfit ranks "valid")
    ranked = replace(data, valid=data.test)
    return grid_search(name, ranked, grid=grid, config=config, valid_users=None).trials[0]["valid"]["recall@20"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="filmtrust")
    ap.add_argument("--cache", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "graphrec-bench-exports"))
    ap.add_argument("--models", nargs="+", default=[m for m in CLOSED_ORDER if m != "itemknn"])
    ap.add_argument("--holdouts", type=int, default=5)
    ap.add_argument("--leaders", type=int, default=6)
    ap.add_argument("--valid-users", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "holdout_noise.jsonl"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = load(args.dataset, Path(args.cache))
    first = data.with_holdout(0.1, args.seed)
    holdouts = [first] + [holdout_fold(first, fold, args.seed) for fold in range(1, args.holdouts)]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    rows = []
    for name in args.models:
        space = model_class(name).search_space or {}
        points = [{}] if not space else [dict(zip(space, values)) for values in
                                          itertools.product(*space.values())]
        for hparams in points:
            load_before = os.getloadavg()[0]
            valid = [fit_rank(name, h, "valid", hparams, args.seed, args.valid_users) for h in holdouts]
            row = {"dataset": args.dataset, "model": name, "hparams": hparams, "valid": valid,
                   "test": fit_rank(name, data, "test", hparams, args.seed, args.valid_users), "commit": commit,
                   "load_1min_start_end": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                   "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
            rows.append(row)
            print(f"{name:<11} {json.dumps(hparams):<52} " + " ".join(f"{v:.4f}" for v in valid) +
                  f"  test {row['test']:.4f}", flush=True)
            with open(args.out, "a") as out:
                out.write(json.dumps(row) + "\n")
    lead = sorted(rows, key=lambda r: -r["valid"][0])[:args.leaders]
    rules = {"the first holdout alone": max(rows, key=lambda r: r["valid"][0]),
             f"re-checks' mean ({args.holdouts - 1} holdouts) over the {args.leaders} leaders":
                 max(lead, key=lambda r: sum(r["valid"][1:]) / (len(r["valid"]) - 1)),
             "the best on test (reference, not a rule)": max(rows, key=lambda r: r["test"])}
    for rule, row in rules.items():
        print(f"{rule}: {row['model']} {json.dumps(row['hparams'])}  test Recall@20 {row['test']:.4f}")


if __name__ == "__main__":
    main()
