"""Data-parallel training (``TrainConfig.nproc``, ``graphrec train --nproc``) against one process, on one machine.

A seeded generated graph (users and items drawn with power-law popularity), LightGCN trained a fixed number of epochs
without validation, then tested once, through :func:`graphrec.train.fit` as ``graphrec train`` calls it. For each
process count the script prints the wall time of the whole call (process start-up included), the mean epoch time
(the slowest process's, without the first epoch), the per-epoch losses (they must agree across process counts) and the
test Recall@20, then the load average. One process gets all the cores as torch threads; N processes get an equal share
each (the default of ``--nproc``); ``--threads 1`` gives the one process a single core, to compare like with like.

    PYTHONPATH=. python benchmarks/data_parallel.py --users 6000 --items 4000 --interactions 120000 --epochs 4
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graphrec.models import build  # noqa: E402
from graphrec.recdata import RecData  # noqa: E402
from graphrec.train import TrainConfig, fit  # noqa: E402


def power_law_graph(n_users: int, n_items: int, n: int, seed: int, exponent: float = 1.0) -> RecData:
    """``n`` draws of (user, item), each side with probability proportional to rank^-exponent, duplicates merged;
    10% of each user's pairs (at random) go to test."""
    gen = torch.Generator().manual_seed(seed)

    def draw(count: int) -> torch.Tensor:
        weights = torch.arange(1, count + 1, dtype=torch.float64).pow(-exponent)
        return torch.multinomial(weights, n, replacement=True, generator=gen)

    keys = torch.unique(draw(n_users) * n_items + draw(n_items))
    pairs = torch.stack([keys // n_items, keys % n_items])
    test = torch.rand(pairs.size(1), generator=gen) < 0.1
    return RecData.from_pairs(n_users, n_items, pairs[:, ~test], None, pairs[:, test])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=6000)
    parser.add_argument("--items", type=int, default=4000)
    parser.add_argument("--interactions", type=int, default=120_000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch threads of the one process (default: every core)")
    args = parser.parse_args()

    data = power_law_graph(args.users, args.items, args.interactions, args.seed)
    print(f"graph: {data.n_users:,} users x {data.n_items:,} items, {data.train.nnz:,} train / {data.test.nnz:,} test; "
          f"LightGCN dim 64, 3 layers, batch {args.batch_size}, {args.epochs} epochs, {os.cpu_count()} cores")
    graph = torch.stack(data.train.pairs())
    for nproc in args.nproc:
        model = build("lightgcn", data.n_users, data.n_items, graph=graph, seed=args.seed)
        threads = (args.threads or os.cpu_count() or 1) if nproc == 1 else None  # else spawn_fit's equal share
        config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, eval_every=0,
                             progress=False, nproc=nproc, threads=threads, test_beyond_accuracy=False)
        start = time.perf_counter()
        result = fit(model, data, config)
        wall = time.perf_counter() - start
        epochs = [r["seconds"] for r in result.history]
        steady = epochs[1:] or epochs
        print(f"nproc {nproc}: {wall:.1f} s wall, {sum(steady) / len(steady):.2f} s/epoch after the first "
              f"({', '.join(f'{s:.2f}' for s in epochs)}), losses {[round(r['loss'], 5) for r in result.history]}, "
              f"test recall@20 {result.test['recall@20']:.4f}")
    print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
