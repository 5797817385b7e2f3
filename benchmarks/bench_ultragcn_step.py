"""UltraGCN training-step speed on the whole Gowalla split: compiled negative scoring vs the plain torch gather.

UltraGCN scores ``negative_num`` (1500) uniformly drawn items per positive; at the authors' Gowalla batch of 512 that is
768,000 (user, item) dot products per step. The plain torch way gathers a (512, 1500, 64) block of item rows and its
backward scatters it back through the embedding backward (a sort); graphrec's ``negative_scores`` does both as
compiled loops over the indices. Both run here on the same model, batches and negatives, alternating, in one process;
the script prints the model's set-up time (its item–item neighbour graph), seconds per step for each, and the
implied seconds per epoch (ceil(810,128 / batch) steps).

    PYTHONPATH=. python benchmarks/bench_ultragcn_step.py --threads 2 --steps 20
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._data import load_lightgcn_dir  # noqa: E402
from benchmarks._steps import step_parser, time_steps  # noqa: E402
from graphrec.models import build  # noqa: E402
from graphrec.models import negatives, ultragcn  # noqa: E402
from graphrec.train import make_optimizer  # noqa: E402


def main(argv=None) -> int:
    args = step_parser(__doc__.splitlines()[0], steps=20, batch_size=512).parse_args(argv)
    torch.set_num_threads(args.threads)

    data = load_lightgcn_dir(args.data)
    users, items = data.train.pairs()
    t0 = time.perf_counter()
    model = build("ultragcn", data.n_users, data.n_items, graph=torch.stack([users, items]), seed=0)
    print(f"data: {data}; model set-up (item-item neighbours) {time.perf_counter() - t0:.1f}s", flush=True)
    optimizer = make_optimizer(model, 1e-4)

    def with_scores(scores):
        def loss_fn(batch, step):
            ultragcn.negative_scores = scores
            torch.manual_seed(step)  # the same negatives for both
            return model.loss((users[batch], items[batch], None))
        return loss_fn

    variants = {"compiled": with_scores(negatives.negative_scores),
                "torch gather": with_scores(negatives.negative_scores_gathered)}
    medians = time_steps(variants, lambda gen: torch.randint(users.numel(), (args.batch_size,), generator=gen),
                         optimizer, args.steps)
    ultragcn.negative_scores = negatives.negative_scores
    steps = math.ceil(users.numel() / args.batch_size)
    for name, median in medians.items():
        print(f"{name:>13}: {median:.3f} s/step (median of {args.steps}), {median * steps / 60:.1f} min/epoch "
              f"({steps} steps)", flush=True)
    print(f"speed-up: {medians['torch gather'] / medians['compiled']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
