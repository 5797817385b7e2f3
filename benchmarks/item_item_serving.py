"""A closed-form run served from the graph by its stored item–item rows (issue 35): latency and the share of the
in-memory model's exact top-k, for each s (entries kept per item's row), through the served path itself.

    graphrec --home H ingest lightgcn ../shared/data/ml-1m-implicit-lightgcnpp
    graphrec --home H train --model itemknn --threads 1 --no-publish      # and turbocf, ...
    GRAPHREC_HOME=H python benchmarks/item_item_serving.py --run RUN --similar 100,200 --users 300

For each s, the run is published with ``graphrec.publish.publish(similar=s)`` (timed: the rows computed and written),
then --users users drawn with --seed (as the other serving benchmarks draw them) are asked
:func:`graphrec.recommend.recommend` one query at a time (after --warmup untimed ones), the index path as served,
with the interactions the model was fitted on as history and masked (``seen_splits``/``walk_splits``: ['train'], or
['train', 'valid'] for a run fitted on both, as a closed-form run without --search is). The reference is the in-memory model's exact top-k (``model.score`` with the same items
masked); the share is the reference items returned over k times the users. Prints a table and appends one JSON line
per s to --out. The run's relationships stay in the graph as the last s wrote them (``graphrec runs drop`` removes
them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphrec import recommend as rec  # noqa: E402
from graphrec.config import load_settings  # noqa: E402
from graphrec.db.connect import connect  # noqa: E402
from graphrec.publish import publish  # noqa: E402
from benchmarks._serving import add_run_arguments, percentiles, reference_top_k, run_and_users  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(ap)
    ap.set_defaults(users=300)
    ap.add_argument("--similar", default="100", help="entries kept per item's row (s), comma-separated")
    ap.add_argument("--warmup", type=int, default=5, help="untimed queries first")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the rows and the reference)")
    ap.add_argument("--out", default="benchmarks/results/item_item_serving.jsonl")
    args = ap.parse_args(argv)
    settings, k, out = load_settings(home=args.home), args.k, Path(args.out)
    torch.set_num_threads(args.threads)
    out.parent.mkdir(parents=True, exist_ok=True)
    with connect(settings) as graph:
        run, users = run_and_users(graph, settings.runs_dir, args.run, args.users, args.seed)
        model, ids = run.model(), run.ids()
        reference = reference_top_k(model, ids, users, k)
        history = ["train"] if run.meta["counts"].get("valid") else ["train", "valid"]
        print(f"run {run.id} ({run.meta.get('model')}, {run.meta.get('params')}); load {os.getloadavg()}")
        print(f"| model | s | relationships | publish s | p50 ms | p95 ms | share of exact top-{k} |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for s in (int(x) for x in args.similar.split(",")):
            start = time.perf_counter()
            report = publish(graph, run, similar=s, serve=False)
            seconds = time.perf_counter() - start

            def ask(user):
                return [r["item"] for r in rec.recommend(graph, user, k, run=run.id, seen_splits=history,
                                                         walk_splits=history, cold_start=False)]
            for user in users[:args.warmup]:
                ask(user)
            latencies, hits = [], 0
            for user in users:
                t = time.perf_counter()
                got = ask(user)
                latencies.append((time.perf_counter() - t) * 1000)
                hits += len(set(got) & set(reference[user]))
            record = {"run": run.id, "model": run.meta.get("model"), "params": run.meta.get("params"), "s": s,
                      "relationships": report.similar, "item_item": report.item_item,
                      "publish_s": round(seconds, 1), **percentiles(latencies),
                      "share": round(hits / (k * len(users)), 4), "users": len(users), "k": k, "seed": args.seed, "history": history,
                      "load": os.getloadavg()}
            with open(out, "a") as f:
                f.write(json.dumps(record) + "\n")
            print(f"| {record['model']} | {s} | {report.similar:,} | {record['publish_s']} | {record['p50_ms']} | "
                  f"{record['p95_ms']} | {record['share']:.4f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
