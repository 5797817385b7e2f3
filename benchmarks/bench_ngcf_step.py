"""NGCF training-step speed on the whole Gowalla split: the batch-rows step against the whole-graph forward.

``NGCF.loss`` computes the last layer for the batch's users and items only (a row block of Â) and normalises and
concatenates only their rows; the plain way runs ``forward()`` over every node and gathers the batch from it. Same
maths (equal without message dropout; tested in tests/unit/models/test_ngcf.py). Both run here on the same model and
batches, alternating, in one process; the script prints seconds per step for each and the implied seconds per epoch
(ceil(810,128 / batch) steps).

    PYTHONPATH=. python benchmarks/bench_ngcf_step.py --threads 2 --steps 10 --batch-size 2048
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._data import DEFAULT_GOWALLA, load_lightgcn_dir  # noqa: E402
from graphrec.models import build  # noqa: E402
from graphrec.models.losses import bpr_loss, l2_reg  # noqa: E402
from graphrec.train import make_optimizer  # noqa: E402


def whole_forward_loss(model, batch):
    users, pos, neg = batch
    user_emb, item_emb = model()
    u = user_emb[users]
    return bpr_loss((u * item_emb[pos]).sum(1), (u * item_emb[neg]).sum(1)) + \
        model.reg * l2_reg(model.user(users), model.item(pos), model.item(neg))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", default=str(DEFAULT_GOWALLA))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10, help="timed steps per variant (after one warm-up step each)")
    ap.add_argument("--batch-size", type=int, default=2048)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    data = load_lightgcn_dir(args.data)
    users, items = data.train.pairs()
    model = build("ngcf", data.n_users, data.n_items, graph=torch.stack([users, items]), seed=0)
    model.train()
    print(f"data: {data}", flush=True)
    optimizer = make_optimizer(model, 1e-4)
    variants = {"batch rows": lambda batch: model.loss(batch), "whole forward": lambda batch: whole_forward_loss(model, batch)}
    times = {name: [] for name in variants}
    gen = torch.Generator().manual_seed(0)
    for step in range(args.steps + 1):
        pick = torch.randint(users.numel(), (args.batch_size,), generator=gen)
        batch = (users[pick], items[pick], torch.randint(data.n_items, (args.batch_size,), generator=gen))
        for name, loss_fn in variants.items():
            t = time.perf_counter()
            loss = loss_fn(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step:  # the first step of each compiles / warms caches
                times[name].append(time.perf_counter() - t)
    steps = math.ceil(users.numel() / args.batch_size)
    for name, ts in times.items():
        median = statistics.median(ts)
        print(f"{name:>13}: {median:.3f} s/step (median of {len(ts)}), {median * steps:.0f} s/epoch ({steps} steps)",
              flush=True)
    print(f"speed-up: {statistics.median(times['whole forward']) / statistics.median(times['batch rows']):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
