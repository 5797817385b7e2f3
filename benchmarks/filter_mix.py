"""A graph filter mixed with a trained run (graphrec.models.hybrid.FilterMix, what ``--model auto`` serves when the
mix wins on the holdout), at each weight, on a dataset with its own valid and test splits: every weight's valid
(the filter fitted on train, the run's model as trained on train with early stopping on valid) and test (the filter
fitted on train + valid, the same trained model), for FilterMix's one global scale per part and, beside it, the
per-user z-scores of graphrec.models.hybrid.Hybrid. The test column is a look at what each choice would give, not a
choice: the weight is chosen on valid.

The run comes from ``graphrec train`` in a home holding the same dataset; its users and items are matched to the
benchmark export by id. One JSON line per (mix, weight) goes to ``--out``.

    graphrec --home HOME train --model mhcn --budget-minutes 25 --threads 2 --no-publish
    python benchmarks/filter_mix.py --dataset diffnet-yelp --run HOME/runs/mhcn-... --filter bspm --hp T_s=3.5 \\
        --out benchmarks/results/filter_mix.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.side_graphs import DATASETS, exported  # noqa: E402
from graphrec.cli import _parse_hparam  # noqa: E402
from graphrec.evaluate import evaluate  # noqa: E402
from graphrec.models import build  # noqa: E402
from graphrec.models.hybrid import FilterMix, Hybrid, TrainedScores  # noqa: E402
from graphrec.recdata import RecData, UserItems  # noqa: E402
from graphrec.runs import Run  # noqa: E402

WEIGHTS = (0.0, 0.2, 0.35, 0.5, 0.65, 0.7, 0.8, 1.0)


def run_embeddings(run_dir: Path, ids: dict) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The run's (user, item) embeddings in the order of the export's ``ids``, and its model's name."""
    run = Run(run_dir, json.loads((run_dir / "run.json").read_text()))
    if run.meta.get("embeddings", "scores") != "scores":
        raise SystemExit(f"run {run.id}: its embeddings are not its scores (a trained run is needed)")
    own, emb = run.ids().ids, run.embeddings()
    order = {}
    for kind in ("user", "item"):
        where = {key: i for i, key in enumerate(own[kind])}
        missing = [key for key in ids[kind] if key not in where]
        if missing or len(own[kind]) != len(ids[kind]):
            raise SystemExit(f"run {run.id} holds other {kind}s than the export ({len(missing)} missing)")
        order[kind] = torch.tensor([where[key] for key in ids[kind]])
    return emb["user"][order["user"]].float(), emb["item"][order["item"]].float(), run.meta["model"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=[d for d, spec in DATASETS.items() if spec[2] == "stored"], required=True)
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--filter", default="bspm")
    ap.add_argument("--hp", action="append", default=[], metavar="NAME=VALUE", help="a filter hyper-parameter")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "graphrec-bench-exports")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "filter_mix.jsonl")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    blob = torch.load(exported(args.dataset, args.cache), weights_only=False)
    data = RecData.from_hetero(blob["hetero"])
    user, item, trained = run_embeddings(args.run, blob["ids"])
    filter_hp = dict(_parse_hparam(text) for text in args.hp)
    for split in ("valid", "test"):
        train = data.train if split == "valid" else data.without_valid().train
        ranked = RecData.from_pairs(data.n_users, data.n_items, torch.stack(train.pairs()), None,
                                    torch.stack(getattr(data, split).pairs()))
        graph = torch.stack(train.pairs())
        start = time.perf_counter()
        base = build(args.filter, data.n_users, data.n_items, graph=graph, **filter_hp).fit()
        fit_seconds = time.perf_counter() - start
        for weight in WEIGHTS:
            mixes = {"global": FilterMix(data.n_users, data.n_items, graph, base=args.filter, base_hp=filter_hp,
                                         trained=trained, weight=weight).use_parts(base, (user, item)).fit(),
                     "zscore": Hybrid(data.n_users, data.n_items, graph, first=base, weight=weight,
                                      second=TrainedScores(data.n_users, data.n_items, graph, user, item)).fit()}
            for how, model in mixes.items():
                metrics = evaluate(model.score, ranked, "test", ks=(20,))
                record = {"dataset": args.dataset, "run": args.run.name, "trained": trained, "filter": args.filter,
                          "filter_hp": filter_hp, "scale": how, "weight": weight, "split": split,
                          "recall@20": metrics["recall@20"], "ndcg@20": metrics["ndcg@20"],
                          "filter_fit_seconds": round(fit_seconds, 1), "load": os.getloadavg()[0]}
                print(json.dumps(record), flush=True)
                with open(args.out, "a") as fh:
                    fh.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
