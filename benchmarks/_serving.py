"""The shared part of the serving benchmarks (``index_recall.py``, ``serving_latency.py``): their common command line,
the run they measure and its sampled users, and latency percentiles."""

from __future__ import annotations

import argparse
import random

import numpy as np

from graphrec.publish import serving
from graphrec.runs import Run, load_run


def add_run_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--home", help="graphrec home (default: $GRAPHREC_HOME or ~/.graphrec), as for the CLI")
    ap.add_argument("--run", help="a published run (default: the one served)")
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-k", type=int, default=20)


def run_and_users(graph, runs_dir, run_id: str | None, n_users: int, seed: int) -> tuple[Run, list[str]]:
    """The run to measure (``run_id``, else the served one) and ``n_users`` of its users, sampled with ``seed``."""
    run_id = run_id or (serving(graph) or {}).get("id")
    if not run_id:
        raise SystemExit("no run is served: train and publish one first (graphrec train)")
    run = load_run(runs_dir, run_id)
    return run, random.Random(seed).sample(sorted(run.ids().ids["user"]), n_users)


def percentiles(ms: list[float]) -> dict:
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {"p50_ms": round(float(p50), 2), "p95_ms": round(float(p95), 2), "p99_ms": round(float(p99), 2),
            "mean_ms": round(float(np.mean(ms)), 2), "queries": len(ms)}


def reference_top_k(model, ids, users: list[str], k: int) -> dict[str, list[str]]:
    """The in-memory model's top-k per user, the items it was fitted on for that user masked."""
    import torch

    rows = torch.tensor([ids.index["user"][u] for u in users])
    with torch.no_grad():
        scores = model.score(rows)
        scores[model.signal(rows).t() > 0] = -torch.inf
    top = scores.topk(k, dim=1).indices
    return {u: [ids.ids["item"][j] for j in top[n].tolist()] for n, u in enumerate(users)}
