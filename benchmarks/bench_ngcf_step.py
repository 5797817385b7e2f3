"""NGCF training-step speed on the whole Gowalla split, two ways of computing the same step timed side by side.

``--compare rows`` (default): ``NGCF.loss`` computes the last layer for the batch's users and items only (a row block
of Â) and normalises and concatenates only their rows; the plain way runs ``forward()`` over every node and gathers
the batch from it. Same maths (equal without message dropout; tested in tests/unit/models/test_ngcf.py).

``--compare fused``: the batch-rows step with the layer's elementwise work fused (``NGCFLayer``, the CPU default)
against the same step with the layer in plain torch ops (``F.leaky_relu``, ``F.dropout``, autograd), as on CUDA.
Same values without dropout (tested); with it, other masks of the same distribution.

Both ways run here on the same model and batches, alternating, in one process; the script prints seconds per step
for each and the implied seconds per epoch (ceil(810,128 / batch) steps).

    PYTHONPATH=. python benchmarks/bench_ngcf_step.py --threads 2 --steps 10 --batch-size 2048
    PYTHONPATH=. python benchmarks/bench_ngcf_step.py --compare fused --variant code --threads 2 --steps 10
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._data import load_lightgcn_dir  # noqa: E402
from benchmarks._steps import bpr_batches, print_steps, step_parser, time_steps  # noqa: E402
from graphrec.compiled import fused  # noqa: E402
from graphrec.models import build  # noqa: E402
from graphrec.models.losses import bpr_loss, l2_reg  # noqa: E402
from graphrec.train import make_optimizer  # noqa: E402


def whole_forward_loss(model, batch):
    users, pos, neg = batch
    user_emb, item_emb = model()
    u = user_emb[users]
    return bpr_loss((u * item_emb[pos]).sum(1), (u * item_emb[neg]).sum(1)) + \
        model.reg * l2_reg(model.user(users), model.item(pos), model.item(neg))


def torch_layer_loss(model, batch):
    """The step with the layer in plain torch ops (the path the model takes where the fused loops do not apply)."""
    fast = fused.elementwise_fast
    fused.elementwise_fast = lambda *tensors: False
    try:
        return model.loss(batch)
    finally:
        fused.elementwise_fast = fast


def main(argv=None) -> int:
    ap = step_parser(__doc__.splitlines()[0], steps=10, batch_size=2048)
    ap.add_argument("--compare", choices=["rows", "fused"], default="rows")
    ap.add_argument("--variant", choices=["paper", "code"], default="paper",
                    help="NGCF's layer (see graphrec.models.ngcf)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    data = load_lightgcn_dir(args.data)
    users, items = data.train.pairs()
    model = build("ngcf", data.n_users, data.n_items, graph=torch.stack([users, items]), seed=0, variant=args.variant)
    model.train()
    print(f"data: {data}; variant {args.variant}", flush=True)
    optimizer = make_optimizer(model, 1e-4)

    if args.compare == "rows":
        variants = {"batch rows": lambda batch, step: model.loss(batch),
                    "whole forward": lambda batch, step: whole_forward_loss(model, batch)}
        slow, fast = "whole forward", "batch rows"
    else:
        variants = {"fused layer": lambda batch, step: model.loss(batch),
                    "torch layer": lambda batch, step: torch_layer_loss(model, batch)}
        slow, fast = "torch layer", "fused layer"
    medians = time_steps(variants, bpr_batches(users, items, data.n_items, args.batch_size), optimizer, args.steps)
    print_steps(medians, users.numel(), args.batch_size, args.steps, slow=slow, fast=fast)
    return 0


if __name__ == "__main__":
    sys.exit(main())
