"""Training-step speed of the models whose InfoNCE contrasts against *all* users and items (SGL, NCL, LightGCL) on
the whole Gowalla split: the blocked log-sum-exp against one batch × candidates score matrix.

``LogSumExpScores`` (graphrec/models/losses.py) runs through the candidates in blocks of 1,024 rows and recomputes
each block's scores in the backward instead of keeping the whole matrix (2,048 × 40,981 floats for Gowalla's items
at batch 2048). The reference variant here is ``logsumexp(a @ cᵀ)`` on one matrix (torch's own backward): the same
maths (equal values and gradients; tests/unit/models/test_augment.py). Both run on the same model and batches,
alternating, in one process; the script prints seconds per step for each and the implied seconds per epoch.

    PYTHONPATH=. python benchmarks/bench_contrastive_step.py --model sgl --threads 1 --steps 5
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._data import load_lightgcn_dir  # noqa: E402
from benchmarks._steps import bpr_batches, print_steps, step_parser, time_steps  # noqa: E402
from graphrec.models import build, lightgcl, losses  # noqa: E402
from graphrec.train import make_optimizer  # noqa: E402

BLOCKED = losses.LogSumExpScores
WHOLE = types.SimpleNamespace(apply=lambda a, c: torch.logsumexp(a @ c.t(), dim=1))


def with_scores(impl, model, batch):
    """``model.loss(batch)`` with ``impl`` as the log-sum-exp over all candidates (in the modules that use it)."""
    losses.LogSumExpScores = lightgcl.LogSumExpScores = impl
    try:
        return model.loss(batch)
    finally:
        losses.LogSumExpScores = lightgcl.LogSumExpScores = BLOCKED


def main(argv=None) -> int:
    ap = step_parser(__doc__.splitlines()[0], steps=5, batch_size=2048)
    ap.add_argument("--model", choices=("sgl", "ncl", "lightgcl"), default="sgl")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    data = load_lightgcn_dir(args.data)
    users, items = data.train.pairs()
    model = build(args.model, data.n_users, data.n_items, graph=torch.stack([users, items]), seed=0)
    model.train()
    if hasattr(model, "on_epoch_start"):  # SGL's views, NCL's prototypes: drawn once per epoch by the loop
        model.on_epoch_start(torch.Generator().manual_seed(0))
    print(f"data: {data}; model: {args.model} {model.hparams()}", flush=True)
    optimizer = make_optimizer(model, 1e-3)

    variants = {"blocked": lambda batch, step: with_scores(BLOCKED, model, batch),
                "one matrix": lambda batch, step: with_scores(WHOLE, model, batch)}
    medians = time_steps(variants, bpr_batches(users, items, data.n_items, args.batch_size), optimizer, args.steps)
    print_steps(medians, users.numel(), args.batch_size, args.steps, slow="one matrix", fast="blocked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
