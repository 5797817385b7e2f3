"""The shared part of the step benchmarks (``bench_ultragcn_step.py``, ``bench_ngcf_step.py``,
``bench_contrastive_step.py``): their command line, the loop that times two ways of computing one model's training
step, alternating on the same batches, and the report of the two."""

from __future__ import annotations

import argparse
import math
import statistics
import time
from typing import Callable

import torch

from benchmarks._data import DEFAULT_GOWALLA


def step_parser(description: str, steps: int, batch_size: int) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("data", nargs="?", default=str(DEFAULT_GOWALLA))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=steps, help="timed steps per variant (after one warm-up step each)")
    ap.add_argument("--batch-size", type=int, default=batch_size)
    return ap


def time_steps(variants: dict[str, Callable], make_batch: Callable, optimizer, steps: int) -> dict[str, float]:
    """Median seconds per training step of each variant. ``make_batch(generator)`` draws one batch (seeded 0, so
    every run sees the same batches); ``variants[name](batch, step)`` returns that step's loss. Each step's batch is
    run through every variant in turn; the first step of each only warms up (compiles, fills caches)."""
    times = {name: [] for name in variants}
    gen = torch.Generator().manual_seed(0)
    for step in range(steps + 1):
        batch = make_batch(gen)
        for name, loss_fn in variants.items():
            t = time.perf_counter()
            loss = loss_fn(batch, step)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step:
                times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def bpr_batches(users: torch.Tensor, items: torch.Tensor, n_items: int, batch_size: int) -> Callable:
    """A ``make_batch`` for ``time_steps``: ``batch_size`` training pairs drawn uniformly with one uniform negative item
    each, as (users, positives, negatives)."""
    def make_batch(gen: torch.Generator):
        pick = torch.randint(users.numel(), (batch_size,), generator=gen)
        return users[pick], items[pick], torch.randint(n_items, (batch_size,), generator=gen)
    return make_batch


def print_steps(medians: dict[str, float], n_pairs: int, batch_size: int, timed: int, slow: str, fast: str) -> None:
    """Each variant's median seconds per step and the implied seconds per epoch of ``n_pairs`` training pairs, then the
    speed-up of ``fast`` over ``slow``."""
    steps = math.ceil(n_pairs / batch_size)
    width = max(map(len, medians))
    for name, median in medians.items():
        print(f"{name:>{width}}: {median:.3f} s/step (median of {timed}), {median * steps:.0f} s/epoch ({steps} steps)",
              flush=True)
    print(f"speed-up: {medians[slow] / medians[fast]:.2f}x")
