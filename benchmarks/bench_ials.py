"""iALS's fit on Gowalla: the compiled per-row Gram products (graphrec.compiled.kernels.rowwise_gram) against their
torch fallback (a gathered (entries, d) block and an index_add), the same sweeps otherwise. Prints the fit seconds and
the test Recall@20 / NDCG@20 with ``--test`` (identical up to float rounding on both paths). The two paths are timed as
whole processes, run in turn: ``python benchmarks/bench_ials.py`` against ``python benchmarks/bench_ials.py --path
torch`` (BENCHMARKS.md, "Graph filters and baselines").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._data import load_lightgcn_dir  # noqa: E402
from graphrec.compiled import kernels  # noqa: E402
from graphrec.evaluate import evaluate  # noqa: E402
from graphrec.models import build  # noqa: E402
from graphrec.train import TrainConfig, evaluate_model  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "lightgcn-gowalla"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", choices=("kernel", "torch"), default="kernel")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--sweeps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--test", action="store_true", help="also rank the test split (adds ~10 s)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.path == "torch":
        kernels._fast = lambda *tensors: False
    data = load_lightgcn_dir(DATA)
    model = build("ials", data.n_users, data.n_items, graph=torch.stack(data.train.pairs()), seed=0, dim=args.dim,
                  sweeps=args.sweeps)
    start = time.perf_counter()
    with torch.no_grad():
        model.fit()
    line = f"iALS {args.path}: {args.dim} dims, {args.sweeps} sweeps, fit {time.perf_counter() - start:.1f} s"
    if args.test:
        test = evaluate_model(model, data, "test", TrainConfig(ks=(20,), test_beyond_accuracy=False), evaluate,
                              beyond=False)
        line += f", test Recall@20 {test['recall@20']:.4f} NDCG@20 {test['ndcg@20']:.4f}"
    print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
