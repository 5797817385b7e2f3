"""Training-step speed of the models whose InfoNCE contrasts against *all* users and items (SGL, NCL, LightGCL) on
the whole Gowalla split (or any LightGCN-format folder): two ways of computing the same loss, chosen by ``--compare``.

``--compare blocks`` (default): the blocked log-sum-exp against one batch × candidates score matrix.

``LogSumExpScores`` (graphrec/models/losses.py) runs through the candidates in blocks of 1,024 rows and recomputes
each block's scores in the backward instead of keeping the whole matrix (2,048 × 40,981 floats for Gowalla's items
at batch 2048). The reference variant here is ``logsumexp(a @ cᵀ)`` on one matrix (torch's own backward): the same
maths (equal values and gradients; tests/unit/models/test_augment.py). Both run on the same model and batches,
alternating, in one process; the script prints seconds per step for each and the implied seconds per epoch.

``--compare distinct``: each distinct node of the batch scored against the candidates once and weighted by its count
(``losses.distinct``, what the models do) against one score row per batch row, repeats included (the same value and
gradients; tests/unit/models/test_augment.py). The gain grows with the repeats: a batch of 4,096 ML-1M interactions
repeats its users and items far more often than a batch of 2,048 Gowalla ones.

    PYTHONPATH=. python benchmarks/bench_contrastive_step.py --model sgl --threads 1 --steps 5
    PYTHONPATH=. python benchmarks/bench_contrastive_step.py ../shared/data/ml-1m-implicit-lightgcnpp --model sgl \
        --compare distinct --batch-size 4096 --threads 1 --steps 5
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
DISTINCT = losses.distinct
EVERY_ROW = lambda nodes: (nodes, torch.ones_like(nodes))  # noqa: E731  one score row per batch row


def with_impl(name: str, impl, model, batch):
    """``model.loss(batch)`` with ``impl`` as ``losses.<name>`` (and its import in ``lightgcl``): ``LogSumExpScores``,
    the log-sum-exp over all candidates, or ``distinct``, the choice of the batch's rows to score."""
    default = getattr(losses, name)
    for module in (losses, lightgcl):
        setattr(module, name, impl)
    try:
        return model.loss(batch)
    finally:
        for module in (losses, lightgcl):
            setattr(module, name, default)


def main(argv=None) -> int:
    ap = step_parser(__doc__.splitlines()[0], steps=5, batch_size=2048)
    ap.add_argument("--model", choices=("sgl", "ncl", "lightgcl"), default="sgl")
    ap.add_argument("--compare", choices=("blocks", "distinct"), default="blocks")
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

    make_batch = bpr_batches(users, items, data.n_items, args.batch_size)
    if args.compare == "blocks":
        variants = {"blocked": lambda batch, step: with_impl("LogSumExpScores", BLOCKED, model, batch),
                    "one matrix": lambda batch, step: with_impl("LogSumExpScores", WHOLE, model, batch)}
        slow, fast = "one matrix", "blocked"
    else:
        batch = make_batch(torch.Generator().manual_seed(0))
        print(f"one batch of {args.batch_size}: {DISTINCT(batch[0])[0].numel()} distinct users, "
              f"{DISTINCT(batch[1])[0].numel()} distinct positive items", flush=True)
        variants = {"distinct nodes": lambda batch, step: with_impl("distinct", DISTINCT, model, batch),
                    "every batch row": lambda batch, step: with_impl("distinct", EVERY_ROW, model, batch)}
        slow, fast = "every batch row", "distinct nodes"
    medians = time_steps(variants, make_batch, optimizer, args.steps)
    print_steps(medians, users.numel(), args.batch_size, args.steps, slow=slow, fast=fast)
    return 0


if __name__ == "__main__":
    sys.exit(main())
