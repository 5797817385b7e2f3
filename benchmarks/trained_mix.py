"""A graph filter mixed with a saved trained run on an anchored split (graphrec.trainedmix): the trained part's weight
chosen on the validation holdout (the filter fitted on train minus the holdout, the run's holdout model), then the
filter refitted on all of train, mixed with the run's refit model at that weight and tested once.

The run must come from ``graphrec train --refit`` on the same data with the same holdout (10% per user, seed 2020, as
benchmarks/graph_filters.py carves it); a run on other data or another holdout is refused. The holdout half runs as
soon as the run's holdout model is saved; ``--wait`` minutes are then spent waiting for its refit. One JSON line per
result (every weight's validation, the test, the filter's fit seconds, the load) goes to ``--out``.

    python benchmarks/trained_mix.py --dataset gowalla --run RUNS/lightgcn-... --filter chebycf --preset gowalla \
        --threads 1 --out benchmarks/results/trained_mix.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.graph_filters import DATASETS, SEED, config, load  # noqa: E402
from graphrec.errors import ConfigError  # noqa: E402
from graphrec.presets import preset  # noqa: E402
from graphrec.trainedmix import choose_weight, holdout_part, refit_and_test, refit_part  # noqa: E402

FRACTION = 0.1  # graph_filters.load's holdout


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=[d for d, spec in DATASETS.items() if spec[3] == "files"],
                    default="gowalla")
    ap.add_argument("--run", required=True, help="the folder of a `graphrec train --refit` run")
    ap.add_argument("--filter", default="chebycf")
    ap.add_argument("--preset", default=None, help="the filter's hyper-parameters from this preset (graphrec.presets)")
    ap.add_argument("--hp", action="append", default=[], metavar="NAME=VALUE", help="a filter hyper-parameter (JSON)")
    ap.add_argument("--weights", default="0,0.2,0.3,0.4,0.5,0.6,1", help="the trained part's shares to rank on valid")
    ap.add_argument("--valid-users", type=int, default=None, help="rank on a seeded sample of validation users")
    ap.add_argument("--wait", type=float, default=60.0, help="minutes to wait for the run's refit")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "graphrec-bench-exports"))
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "trained_mix.jsonl"))
    args = ap.parse_args(argv)
    hp = dict(preset(args.filter, args.preset).hparams) if args.preset else {}
    hp.update((k, json.loads(v)) for k, v in (item.split("=", 1) for item in args.hp))
    weights = [float(w) for w in args.weights.split(",")]
    cfg = config(args.dataset, args.threads)
    data, carved = load(args.dataset, Path(args.cache))
    if not carved:
        raise ConfigError(f"{args.dataset} ships its own valid split; a --refit run carves one from train")
    part = holdout_part(args.run, data, FRACTION, SEED, metric=cfg.metric)
    print(f"{args.dataset}: {data}; holdout model of {part.label}: valid {cfg.metric} {part.valid[cfg.metric]:.4f}, "
          "the run's record reproduced", flush=True)
    t = time.perf_counter()
    chosen = choose_weight(args.filter, hp, part, data, weights, cfg, args.valid_users,
                           callback=lambda w, v: print(f"  weight {w} valid " + " ".join(
                               f"{k} {x:.4f}" for k, x in v.items() if "@" in k), flush=True))
    seconds_choice = time.perf_counter() - t
    print(f"chosen weight {chosen.weight} ({seconds_choice:.0f} s, the filter's holdout fit "
          f"{chosen.seconds_fit:.1f} s)", flush=True)
    deadline = time.time() + 60 * args.wait
    while not (Path(args.run) / "run.json").is_file() and time.time() < deadline:  # the refit is still training
        time.sleep(30)
    refit = refit_part(args.run, data)
    test, seconds_fit = refit_and_test(args.filter, hp, refit, data, chosen.weight, cfg)
    record = {"dataset": args.dataset, "filter": args.filter, "filter_hparams": hp, "trained": refit.label,
              "holdout_model_valid": part.valid, "weight": chosen.weight,
              "valid": {str(w): v for w, v in chosen.valid.items()}, "valid_users": args.valid_users,
              "seconds_weight_choice": seconds_choice, "test": test, "seconds_fit_filter": seconds_fit,
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "threads": args.threads,
              "load_average": os.getloadavg(), "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print("RESULT " + json.dumps(record), flush=True)
    with open(args.out, "a") as fh:
        fh.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
