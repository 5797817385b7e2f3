"""How long forming a filter's item–item rows takes, against what a search foretells from its trials (#35).

Publishing a closed-form winner writes each item's ``--similar`` largest entries of its row of S
(:mod:`graphrec.itemgraph`); a search keeps that time free before the winner is known
(:class:`graphrec.tunecost.PublishCost`), foretelling the rows from the model's own trials, each of which forms a few
rows and times them (:func:`graphrec.closedfit.rows_seconds`); before, from their ranking (a row of S and a ranked user
are one application of the filter each: ``n_items / users ranked`` times the ranking). This script fits each model at
its defaults on a LightGCN-format dataset (its train file, 10% of each user's interactions held out as a search holds
them, seed 2020), times the ranking of the same 5,000 validation users a search ranks, the few rows a trial times, then
forming the rows of the first ``--items`` items (topped to ``--similar``, as the publish does) and scales it to the
catalogue. No graph is written: the writes are timed by the publish itself (``publish-timing.json`` in a home's runs
folder).

    PYTHONPATH=. .venv/bin/python benchmarks/publish_rows.py --models sgfcf gfcf bspm chebycf

One JSON line per model goes to ``--out`` with the commit and the load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import torch

from benchmarks._data import DEFAULT_GOWALLA, load_lightgcn_dir
from graphrec.closedfit import rows_seconds, valid_ranking
from graphrec.evaluate import evaluate
from graphrec.itemgraph import BLOCK, SIMILAR_DEFAULT, neighbours
from graphrec.models import build

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_GOWALLA, help="a LightGCN-format folder")
    ap.add_argument("--models", nargs="+", default=["sgfcf", "gfcf", "bspm", "chebycf"])
    ap.add_argument("--valid-users", type=int, default=5_000)
    ap.add_argument("--items", type=int, default=4_096, help="rows formed and timed, then scaled to every item")
    ap.add_argument("--similar", type=int, default=SIMILAR_DEFAULT)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "publish_rows.jsonl")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    data = load_lightgcn_dir(args.data).without_valid().with_holdout(0.1, seed=2020)
    ranked = valid_ranking(data, args.valid_users, 2020)
    users = int((ranked.valid.counts() > 0).sum())
    graph = torch.stack(data.train.pairs())
    for name in args.models:
        load = os.getloadavg()[0]
        model = build(name, data.n_users, data.n_items, graph=graph, seed=2020)
        start = time.perf_counter()
        with torch.no_grad():
            model.fit()
            fit = time.perf_counter() - start
            start = time.perf_counter()
            evaluate(model.score, ranked, split="valid")
            ranking = time.perf_counter() - start
            start, formed = time.perf_counter(), 0
            for _, values, _ in neighbours(model, args.similar):
                formed += values.size(0)
                if formed >= args.items:
                    break
            rows = (time.perf_counter() - start) * data.n_items / formed
            timed = rows_seconds(model)  # what a search's grid point foretells, from one block of rows
        foretold = ranking * data.n_items / users
        record = {"dataset": args.data.name, "model": name, "commit": commit, "threads": args.threads,
                  "load_1min_start_end": [round(load, 2), round(os.getloadavg()[0], 2)], "n_items": data.n_items,
                  "users_ranked": users, "fit_s": round(fit, 1), "ranking_s": round(ranking, 1),
                  "rows_s": round(rows, 1), "rows_timed": BLOCK, "timed_s": round(timed, 1),
                  "from_ranking_s": round(foretold, 1)}
        print(f"{name}: fit {fit:.1f}s, ranking {users:,} users {ranking:.1f}s; every item's row {rows:.1f}s, "
              f"foretold {timed:.1f}s from {BLOCK} rows, {foretold:.1f}s from the ranking", flush=True)
        with open(args.out, "a") as fh:
            fh.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
