"""The shared part of the step benchmarks (``bench_ultragcn_step.py``, ``bench_ngcf_step.py``): their command line and
the loop that times two ways of computing one model's training step, alternating on the same batches."""

from __future__ import annotations

import argparse
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
