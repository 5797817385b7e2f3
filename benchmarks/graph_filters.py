"""Graph filters and closed-form baselines on an anchored split: hyper-parameters chosen on the validation holdout
(the models' own small grids, :func:`graphrec.closedfit.search`), the chosen point refitted on all non-test data and
tested once (:func:`graphrec.closedfit.fit_closed_form`, the path `graphrec train --search` takes).

The refit runs in a fresh process, so its fit seconds and peak RSS (``ru_maxrss``: data, fit and the test scoring)
are its own; ``cpu_seconds_fit`` is the fit's CPU time over all its threads, which other jobs on a shared machine do
not inflate (on an idle machine the fit's wall time is about it divided by the threads). Each result appends one JSON
line (with the machine's load average) to ``--out``; ``--report`` prints the markdown table.

    python benchmarks/graph_filters.py --dataset gowalla --models gfcf bspm chebycf --valid-users 5000 \
        --out benchmarks/results/graph_filters.jsonl
    python benchmarks/graph_filters.py --report benchmarks/results/graph_filters.jsonl
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._data import load_lightgcn_dir  # noqa: E402
from graphrec.closedfit import SearchResult, fit_closed_form, grid_points, search  # noqa: E402
from graphrec.models import MODELS, build  # noqa: E402
from graphrec.recdata import RecData  # noqa: E402
from graphrec.train import TrainConfig  # noqa: E402

DATA = REPO.parent / "shared" / "data"
# name: (folder, cut-off, valid metric, how the data is read), each dataset's protocol as in the rest of
# BENCHMARKS.md. LightGCN splits ship train/test (valid carved from train, seeded per user, as
# benchmarks/gowalla_accuracy.py); ML-1M ships its own valid; Last.fm is side_graphs.py's export (random 8:1:1).
DATASETS = {
    "gowalla": ("lightgcn-gowalla", 20, "recall@20", "files"),
    "yelp2018": ("lightgcn-yelp2018", 20, "recall@20", "files"),
    "ml-1m": ("ml-1m-implicit-lightgcnpp", 10, "mrr@10", "files"),
    "lastfm": ("lastfm-hetrec2011", 10, "ndcg@10", "export"),
}
SEED = 2020


def load(dataset: str, cache: Path) -> tuple[RecData, bool]:
    """The dataset with a valid split, and whether that split was carved out of its train file."""
    folder, _, _, how = DATASETS[dataset]
    if how == "files":
        data = load_lightgcn_dir(DATA / folder)
    else:
        from benchmarks.side_graphs import exported

        data = RecData.from_hetero(torch.load(exported(dataset, cache), weights_only=False)["hetero"])
    return (data, False) if data.valid.nnz else (data.with_holdout(0.1, seed=SEED), True)


def config(dataset: str, threads: int) -> TrainConfig:
    _, k, metric, _ = DATASETS[dataset]
    return TrainConfig(ks=(k,), metric=metric, threads=threads, seed=SEED, progress=False,
                       test_beyond_accuracy=False)


def refit(dataset: str, name: str, hparams: dict, threads: int, cache: str, queue) -> None:
    """Child process: fit ``hparams`` on the whole training file (the carved holdout folded back; a dataset's own
    valid split stays out, as the trained models of its table never train on it), test once, report fit seconds and
    peak RSS."""
    data, carved = load(dataset, Path(cache))
    data = data.without_valid() if carved else data  # test masks train + valid either way
    model = build(name, data.n_users, data.n_items, graph=torch.stack(data.train.pairs()), seed=SEED, **hparams)
    fit, fitted_cpu = model.fit, []

    def timed_fit(*args, **kwargs):  # the fit's CPU time alone (fit_closed_form also validates and tests)
        cpu = time.process_time()
        fitted = fit(*args, **kwargs)
        fitted_cpu.append(time.process_time() - cpu)
        return fitted

    model.fit = timed_fit
    t = time.perf_counter()
    result = fit_closed_form(model, data, config(dataset, threads))
    queue.put({"test": result.test, "seconds_fit": result.seconds_train, "cpu_seconds_fit": fitted_cpu[0],
               "seconds_fit_and_test": time.perf_counter() - t,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def parse_settings(values: list[str], grid: bool) -> dict[str, dict]:
    """``MODEL:NAME=VALUE`` -> {model: {name: value}}: the value as JSON (commas and all) for a setting held fixed,
    or with ``grid`` a list of JSON values split at the commas, searched instead of the model's own grid."""
    settings: dict[str, dict] = {}
    for text in values:
        model, _, rest = text.partition(":")
        name, _, value = rest.partition("=")
        settings.setdefault(model, {})[name] = [json.loads(v) for v in value.split(",")] if grid else json.loads(value)
    return settings


def run(args) -> None:
    grids, fixed = parse_settings(args.grid, grid=True), parse_settings(args.hp, grid=False)
    data, _ = load(args.dataset, Path(args.cache))
    print(f"{args.dataset}: {data}", flush=True)
    for name in args.models:
        t = time.perf_counter()
        points = grid_points(name, grids.get(name))
        if len(points) == 1:  # nothing to choose: no holdout fit (EASE^R's is minutes on a large catalogue)
            found = SearchResult(best={**fixed.get(name, {}), **points[0]}, best_valid={}, trials=[{}])
        else:
            found = search(name, data, grids.get(name), fixed=fixed.get(name),
                           config=config(args.dataset, args.threads),
                           valid_users=args.valid_users,
                           callback=lambda trial: print(f"  {name} {trial['hparams']} valid "
                                                        + " ".join(f"{k} {v:.4f}" for k, v in trial["valid"].items()
                                                                   if "@" in k)
                                                        + f" fit {trial['seconds_fit']:.1f}s eval "
                                                        f"{trial['seconds_eval']:.1f}s", flush=True))
        seconds_search = time.perf_counter() - t
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        child = ctx.Process(target=refit, args=(args.dataset, name, found.best, args.threads, args.cache, queue))
        child.start()
        tested = queue.get()
        child.join()
        record = {"dataset": args.dataset, "model": name, "hparams": found.best, "valid": found.best_valid,
                  "grid": grids.get(name, "default"), "fixed": fixed.get(name, {}),
                  "valid_users": args.valid_users, "search_points": len(found.trials),
                  "trials": [{"hparams": t["hparams"], "valid": {k: v for k, v in t["valid"].items() if "@" in k}}
                             for t in found.trials if t],
                  "seconds_search": seconds_search, **tested, "threads": args.threads,
                  "load_average": os.getloadavg(), "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        print("RESULT " + json.dumps(record), flush=True)
        with open(args.out, "a") as fh:
            fh.write(json.dumps(record) + "\n")


def report(path: str) -> None:
    rows = [json.loads(line) for line in open(path)]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        k = DATASETS[dataset][1]
        print(f"\n{dataset}\n\n| model | chosen on valid | Recall@{k} | NDCG@{k} | fit s | fit CPU s | peak RSS "
              "| search |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for r in (r for r in rows if r["dataset"] == dataset):
            hp = ", ".join(f"{key} {value}" for key, value in r["hparams"].items())
            print(f"| {r['model']} | {hp} | {r['test'][f'recall@{k}']:.4f} | {r['test'][f'ndcg@{k}']:.4f} | "
                  f"{r['seconds_fit']:.1f} | {r.get('cpu_seconds_fit', float('nan')):.1f} | "
                  f"{r['peak_rss_mb'] / 1024:.2f} GB | {r['search_points']} pts, "
                  f"{r['seconds_search']:.0f} s |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=sorted(DATASETS), default="gowalla")
    ap.add_argument("--models", nargs="+", default=[n for n, cls in MODELS.items() if cls.closed_form])
    ap.add_argument("--valid-users", type=int, default=None,
                    help="rank the grid on a seeded sample of this many validation users (default: all)")
    ap.add_argument("--grid", action="append", default=[], metavar="MODEL:NAME=V1,V2",
                    help="search these values of one hyper-parameter instead of the model's grid (repeatable; a "
                         "model with any --grid searches only the names given, the rest at their defaults)")
    ap.add_argument("--hp", action="append", default=[], metavar="MODEL:NAME=VALUE",
                    help="hold one hyper-parameter at a JSON value while the grid is searched (repeatable), e.g. "
                         "'mix:trained_hp={\"dim\": 512}'")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "graphrec-bench-exports"))
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "graph_filters.jsonl"))
    ap.add_argument("--report", metavar="JSONL")
    args = ap.parse_args(argv)
    if args.report:
        report(args.report)
        return 0
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
