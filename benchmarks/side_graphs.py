"""Many models on one dataset's split, one table: the social and knowledge-graph models against interaction-only
ones (Last.fm, ML-100K, DiffNet-Yelp), the contrastive models against LightGCN (ML-1M, Gowalla).

Each dataset goes through graphrec end to end: ingested into a fresh embedded server, exported with a seeded split
(lastfm and ml-100k: random 8:1:1 per user with seed 2020, the RecBole-GNN protocol; diffnet-yelp and ml-1m: their
own train/valid/test; gowalla: its train/test, with ``--valid-fraction`` of each user's train items held out), then
every (model, seed) trains in its own process (so peak memory is its own) with early stopping on a valid metric
(``--metric``, default NDCG@10) and is tested once. Results append to a JSONL file, so
runs can be added later (a (label, seed) already in it is skipped); with ``--run-root`` each run keeps checkpoints,
so rerunning an interrupted command resumes it. ``--report`` turns the file into a markdown table (mean ± std over
seeds) and a plot of the validation metric against training time.

    python benchmarks/side_graphs.py --dataset lastfm --models lightgcn mf unigcl --seeds 0 1 2 \
        --out benchmarks/results/lastfm.jsonl
    python benchmarks/side_graphs.py --report benchmarks/results/lastfm.jsonl --plot lastfm.svg
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DATA = REPO.parent / "shared" / "data"
# name: (loader, folder, split)
DATASETS = {
    "lastfm": ("lastfm", "lastfm-hetrec2011", "random"),
    "ml-100k": ("movielens", "ml-100k", "random"),
    "diffnet-yelp": ("diffnet", "diffnet-yelp", "stored"),
    "filmtrust": ("filmtrust", "filmtrust", "stored"),
    "ml-1m": ("lightgcn", "ml-1m-implicit-lightgcnpp", "stored"),
    "gowalla": ("lightgcn", "lightgcn-gowalla", "stored"),  # train/test only: valid is --valid-fraction of train
}
SPLIT_SEED = 2020


def exported(dataset: str, cache: Path, data_dir: Path | None = None) -> Path:
    """The dataset ingested into a fresh embedded server and exported (cached as a torch file). ``data_dir``
    overrides the dataset's folder under ../shared/data."""
    path = cache / f"{dataset}.pt"
    if path.exists():
        return path
    import loaders
    from graphrec.config import load_settings
    from graphrec.db.connect import connect
    from graphrec.db.server import EmbeddedServer, free_port
    from graphrec.export import export
    from graphrec.ingest import ingest
    from graphrec.progress import bar

    loader, folder, split = DATASETS[dataset]
    home = Path(tempfile.mkdtemp(prefix="graphrec-bench-side-"))
    settings = load_settings(home=str(home), environ={}, bolt_port=free_port(), http_port=free_port())
    t = time.perf_counter()
    try:
        with connect(settings) as graph:
            report = ingest(graph, loaders.load(loader, data_dir or DATA / folder), progress=bar)
            hetero, ids = export(graph, split=split, seed=SPLIT_SEED, progress=bar)
    finally:
        EmbeddedServer(home).stop()
    print(f"{dataset}: ingested {report.created} and exported ({hetero.split_origin}) in "
          f"{time.perf_counter() - t:.1f}s", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    torch.save({"hetero": hetero, "ids": ids.ids}, partial)
    partial.replace(path)  # whole or absent: a second benchmark waiting on the cache never reads half a file
    return path


def peak_rss_mb(run_dir: str | None) -> float:
    """This process's peak resident memory (MB); with a run folder, the largest over every process that trained that
    run, kept in ``RUN_DIR/peak_rss_mb.json`` (called after each epoch), so a resumed run's figure is not just that of
    its last segment."""
    mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if run_dir is None:
        return mb
    path = Path(run_dir) / "peak_rss_mb.json"
    if path.exists():
        mb = max(mb, float(json.loads(path.read_text())))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(mb))
    return mb


def _train(job: dict) -> dict:
    """One (model, seed) run, in a child process."""
    from graphrec.models import build
    from graphrec.recdata import RecData
    from graphrec.sidegraphs import SideGraphs
    from graphrec.train import TrainConfig, fit

    torch.set_num_threads(job["threads"])
    hetero = torch.load(job["export"], weights_only=False)["hetero"]
    data, side = RecData.from_hetero(hetero), SideGraphs.from_hetero(hetero)
    split = hetero.split_origin
    if data.valid.nnz == 0:  # train/test only (Gowalla): validate on a seeded holdout of each user's train items
        data = data.with_holdout(job["valid_fraction"], seed=SPLIT_SEED)
        split += f"; valid = {job['valid_fraction']:g} of each user's train items (seed {SPLIT_SEED})"
    model = build(job["model"], data.n_users, data.n_items, graph=torch.stack(data.train.pairs()), side=side,
                  seed=job["seed"], **job["hparams"])
    config = TrainConfig(epochs=job["epochs"], batch_size=job["batch_size"], lr=job["lr"], seed=job["seed"],
                         ks=(10, 20), metric=job["metric"], patience=job["patience"],
                         min_epochs=job["min_epochs"], progress=False, device=job["device"],
                         budget_seconds=job["budget_minutes"] * 60 if job["budget_minutes"] else None)
    t = time.perf_counter()
    result = fit(model, data, config, run_dir=job["run_dir"], callback=lambda record: peak_rss_mb(job["run_dir"]))
    # training + validation seconds, summed over resumed segments (a resumed run's wall clock would miss the first)
    wall = result.seconds_train + result.seconds_eval if job["run_dir"] else time.perf_counter() - t
    curve, clock = [], 0.0
    for record in result.history:
        clock += record["seconds"] + record.get("eval_seconds", 0.0)
        if "valid" in record:
            curve.append((round(clock, 2), record["valid"][job["metric"]]))
    return {**{k: job[k] for k in ("dataset", "model", "seed", "hparams", "lr", "batch_size", "patience",
                                "min_epochs", "metric", "budget_minutes")},
            "valid": result.best_valid, "test": result.test, "best_epoch": result.best_epoch, "epochs": result.epochs_run,
            "budget_spent": result.budget_spent, "wall_s": wall, "train_s": result.seconds_train,
            "peak_rss_mb": peak_rss_mb(job["run_dir"]), "curve": curve,
            "split": split}


def _parse_overrides(values: list[str]) -> dict[str, dict]:
    """``model:name=value`` → {model: {name: value}} (values parsed as JSON numbers/bools)."""
    out: dict[str, dict] = {}
    for text in values:
        model, _, assignment = text.partition(":")
        key, _, value = assignment.partition("=")
        if not key or not value:
            raise SystemExit(f"--hp {text!r}: expected MODEL:NAME=VALUE")
        out.setdefault(model, {})[key] = json.loads(value)
    return out


def run(args) -> None:
    export_path = exported(args.dataset, Path(args.cache))
    hps = _parse_overrides(args.hp)
    lrs = {m: float(v) for m, v in (x.split("=", 1) for x in args.lr_for)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ctx = multiprocessing.get_context("spawn")
    done = set()
    if out.exists():
        done = {(r["label"], r["seed"]) for r in map(json.loads, out.read_text().splitlines())
                if r.get("dataset") == args.dataset and not _more_time(r, args.budget_minutes)}
    for model in args.models:
        label = args.label or model
        for seed in args.seeds:
            if (label, seed) in done:
                print(f"{label} seed {seed}: already in {out}, skipped", flush=True)
                continue
            run_dir = str(Path(args.run_root) / f"{args.dataset}-{label}-seed{seed}") if args.run_root else None
            job = {"dataset": args.dataset, "export": str(export_path), "model": model, "seed": seed,
                   "hparams": hps.get(model, {}), "lr": lrs.get(model, args.lr), "batch_size": args.batch_size,
                   "epochs": args.epochs, "patience": args.patience,
                   "min_epochs": args.min_epochs, "budget_minutes": args.budget_minutes,
                   "valid_fraction": args.valid_fraction, "threads": args.threads,
                   "metric": args.metric, "device": args.device,
                   "run_dir": run_dir}
            with ctx.Pool(1) as pool:
                result = pool.apply(_train, (job,))
            result["label"] = label
            _record(out, result)
            t = result["test"]
            print(f"{result['label']:>16} seed {seed}: R@10 {t['recall@10']:.4f} N@10 {t['ndcg@10']:.4f} "
                  f"R@20 {t['recall@20']:.4f} best epoch {result['best_epoch']}/{result['epochs']} "
                  f"{result['wall_s']:.0f}s peak {result['peak_rss_mb']:.0f} MB", flush=True)


def _more_time(record: dict, budget_minutes: float | None) -> bool:
    """Whether a recorded run stopped on its time budget and is now given a larger one (it then resumes from its
    checkpoint with ``--run-root`` and its record is replaced)."""
    return bool(record.get("budget_spent")) and budget_minutes is not None and \
        budget_minutes > (record.get("budget_minutes") or 0)


def _record(out: Path, result: dict) -> None:
    """Append ``result`` to the JSONL file, replacing an earlier record of the same (dataset, label, seed)."""
    def key(record: dict) -> tuple:
        return record.get("dataset"), record["label"], record["seed"]

    lines = out.read_text().splitlines() if out.exists() else []
    kept = [line for line in lines if key(json.loads(line)) != key(result)]
    out.write_text("".join(line + "\n" for line in kept + [json.dumps(result)]))


COLUMNS = ("recall@10", "ndcg@10", "precision@10", "hit@10", "mrr@10", "recall@20", "ndcg@20", "ild@10",
           "kg_coverage@10", "coverage@10")


def report(path: str, plot: str | None) -> None:
    rows: dict[str, list[dict]] = {}
    for line in Path(path).read_text().splitlines():
        r = json.loads(line)
        rows.setdefault(r["label"], []).append(r)
    cols = [c for c in COLUMNS if any(c in r["test"] for rs in rows.values() for r in rs)]
    print("| model | seeds | " + " | ".join(cols) + " | epochs (best) | train s | peak MB |")
    print("|---|---:|" + "---:|" * len(cols) + "---:|---:|---:|")
    for label, rs in rows.items():
        cells = []
        for c in cols:
            values = [r["test"][c] for r in rs if c in r["test"]]
            spread = f" ± {statistics.stdev(values):.4f}" if len(values) > 1 else ""
            cells.append(f"{statistics.mean(values):.4f}{spread}")
        epochs = f"{statistics.mean(r['epochs'] for r in rs):.0f} ({statistics.mean(r['best_epoch'] for r in rs):.0f})"
        print(f"| {label} | {len(rs)} | " + " | ".join(cells) +
              f" | {epochs} | {statistics.mean(r['wall_s'] for r in rs):.0f} | "
              f"{max(r['peak_rss_mb'] for r in rs):.0f} |")
    if plot:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(10, 5))
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        # distinct beyond the default cycle's 10 rows: tab20's ten dark shades first, then its ten light ones
        colours = matplotlib.colormaps["tab20"].colors
        for i, (label, rs) in enumerate(rows.items()):
            curve = min(rs, key=lambda r: r["seed"])["curve"]
            # a marker on every validation, so a one-epoch run still shows as a point
            ax.plot([c[0] for c in curve], [c[1] for c in curve], label=label, color=colours[2 * i % 20 + i // 10 % 2],
                    marker="o", markersize=3)
        metric = next(iter(rows.values()))[0].get("metric", "ndcg@10")
        ax.set(xlabel="training + validation time (s)", ylabel=f"valid {metric}",
               title=f"{Path(path).stem}: validation {metric} against wall-clock time (first seed)")
        ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))  # outside: never over a curve
        fig.tight_layout()
        from benchmarks._plots import save
        save(fig, plot)
        print(f"\nwrote {plot}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=sorted(DATASETS), default="lastfm")
    ap.add_argument("--models", nargs="+", default=["lightgcn"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--hp", action="append", default=[], metavar="MODEL:NAME=VALUE")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--lr-for", action="append", default=[], metavar="MODEL=LR")
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--patience", type=int, default=20, help="validations without improvement of --metric")
    ap.add_argument("--min-epochs", type=int, default=0, help="no early stop before this epoch")
    ap.add_argument("--budget-minutes", type=float, help="training time per run: stop before an epoch that could "
                                                         "end past it (early stopping still applies); a recorded run "
                                                         "that used up a smaller budget resumes (with --run-root)")
    ap.add_argument("--valid-fraction", type=float, default=0.1,
                    help="for a split without a valid part (gowalla: train/test), the share of each user's train "
                         "items held out (seeded) for early stopping; test then masks train and valid")
    ap.add_argument("--metric", default="ndcg@10", help="early-stopping metric on valid (RecBole-GNN's ml-1m: mrr@10)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="torch device to train on, e.g. cuda")
    ap.add_argument("--label", help="name of these runs in the table (default: the model name)")
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "graphrec-bench-exports"))
    ap.add_argument("--out", default="benchmarks/results/side_graphs.jsonl",
                    help="results are appended; a (label, seed) already there for this dataset is skipped")
    ap.add_argument("--run-root", help="keep each run's checkpoints in RUN_ROOT/DATASET-LABEL-seedN, so an "
                                       "interrupted benchmark resumes where it stopped when rerun")
    ap.add_argument("--report", metavar="JSONL", help="print the table of a results file instead of training")
    ap.add_argument("--plot", help="with --report: write a plot of the validation metric against time "
                                   "(SVG, or the format the suffix names)")
    args = ap.parse_args(argv)
    # A terminated benchmark takes its training child with it (the pool's exit terminates it); the run folder's
    # checkpoint (with --run-root) lets the same command resume.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if args.report:
        report(args.report, args.plot)
    else:
        run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
