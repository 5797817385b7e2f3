"""`graphrec train --model auto --budget-minutes B` on a shared dataset, beside single models at their defaults.

Each dataset is ingested once into its own home (``--home``; ingested when the folder does not exist yet) the way
the README does it, then every command runs through the CLI as a user runs it: the whole command is timed (wall,
load, the CLI process's peak memory) and the run it saved is read back (model, settings, valid and test metrics,
trials). One JSON line per command goes to ``--out``; ``--report`` prints a markdown table per dataset.

    python benchmarks/budgeted_search.py --dataset gowalla --home HOME --auto 30 --threads 1
    python benchmarks/budgeted_search.py --dataset gowalla --home HOME --defaults 30 --models closed lightgcn mf
    python benchmarks/budgeted_search.py --report benchmarks/results/budgeted_search_30.jsonl

``--defaults B`` trains each model of ``--models`` at its defaults (``train --model M --budget-minutes B
--no-publish``, early stopping on the holdout); ``closed`` stands for every baseline and graph filter.
``--paired M`` then ranks the home's last auto run and its last run of M at its defaults (both recorded in ``--out``)
on the same test users, paired (``graphrec evaluate AUTO --against M_RUN``: each difference with its 95% bootstrap
interval over the users), one JSON line to ``results/paired_auto.jsonl``:

    python benchmarks/budgeted_search.py --dataset filmtrust --home HOME --defaults 30 --models ials --paired ials
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
GRAPHREC = [sys.executable, "-m", "graphrec.cli"]
DATASETS = {  # name -> (loader, folder, loader options), as the README ingests them
    "gowalla": ("lightgcn", "lightgcn-gowalla", []),
    "yelp2018": ("lightgcn", "lightgcn-yelp2018", []),
    "ml-1m": ("lightgcn", "ml-1m-implicit-lightgcnpp", []),
    "lastfm": ("lastfm", "lastfm-hetrec2011", ["-o", "kg=true", "-o", "social=true"]),
    "diffnet-yelp": ("diffnet", "diffnet-yelp", []),
    "filmtrust": ("filmtrust", "filmtrust", []),
    "ml-100k": ("movielens", "ml-100k", []),
}
OUT = REPO / "benchmarks" / "results" / "budgeted_search_30.jsonl"
PAIRED = REPO / "benchmarks" / "results" / "paired_auto.jsonl"


def graphrec(home: Path, args: list[str], log) -> float:
    """Run ``graphrec --home HOME ARGS``, its output to ``log``; wall seconds. Raises on a non-zero exit."""
    start = time.monotonic()
    done = subprocess.run(GRAPHREC + ["--home", str(home)] + args, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    if done.returncode:
        raise SystemExit(f"graphrec {' '.join(args)} exited with {done.returncode} (see {log.name})")
    return time.monotonic() - start


def runs(home: Path) -> set[str]:
    folder = home / "runs"
    return {p.name for p in folder.iterdir() if (p / "run.json").is_file()} if folder.is_dir() else set()


def record(dataset: str, label: str, home: Path, args: list[str], log) -> dict:
    before, load = runs(home), os.getloadavg()[0]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
    wall = graphrec(home, args, log)
    metas = {name: json.loads((home / "runs" / name / "run.json").read_text()) for name in runs(home) - before}
    # another command of this script may share the home: the run is the auto search's, or the model's own
    new = sorted(name for name, meta in metas.items() if bool(meta.get("tune")) == (label == "auto") and
                 (label == "auto" or f"default-{meta['model']}" == label))
    if len(new) != 1:
        raise SystemExit(f"expected one new {label} run in {home / 'runs'}, found {sorted(metas)}")
    meta = metas[new[0]]
    tune = meta.get("tune") or {}
    row = {"dataset": dataset, "label": label, "command": "graphrec " + " ".join(args), "commit": commit.strip(),
           "wall_s": round(wall, 1),
           "load_1min_start_end": [round(load, 2), round(os.getloadavg()[0], 2)],
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
           "run": new[0], "model": meta["model"], "params": meta["params"], "split": meta.get("split_origin"),
           "valid": meta["metrics"].get("valid"), "test": meta["metrics"].get("test"),
           "epochs_run": meta.get("epochs_run"), "best_epoch": meta.get("best_epoch"),
           "trials": tune.get("trials"), "skipped": sorted(tune.get("skipped", {})),
           "not_reached": tune.get("not_reached", [])}
    print(f"{dataset} {label}: {row['model']} valid {fmt(row['valid'])} test {fmt(row['test'])} in {wall:.0f}s",
          flush=True)
    return row


def paired(dataset: str, home: Path, model: str, records: Path) -> dict:
    """The home's last auto run against its last run of ``model`` at its defaults (each the last one ``records``
    holds whose run is still in the home), paired on the test users: ``graphrec evaluate --against``'s answer."""
    present = runs(home)
    rows = [json.loads(line) for line in records.read_text().splitlines() if line.strip()] if records.is_file() else []
    last = {}
    for label in ("auto", f"default-{model}"):
        found = [r for r in rows if r["dataset"] == dataset and r["label"] == label and r.get("run") in present]
        if not found:
            raise SystemExit(f"no {label} run of {dataset} in {home} recorded in {records}: run it first "
                             f"({'--auto' if label == 'auto' else f'--defaults MINUTES --models {model}'})")
        last[label] = found[-1]
    auto, default = last["auto"], last[f"default-{model}"]
    done = subprocess.run(GRAPHREC + ["--home", str(home), "evaluate", auto["run"], "--against", default["run"],
                                      "--json"], capture_output=True, text=True, cwd=REPO, check=True)
    result = json.loads(done.stdout)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
    return {"dataset": dataset, "commit": commit.strip(), "auto_run": auto["run"], "auto_commit": auto["commit"],
            "model": model, "default_run": default["run"], "users": result["users"], "draws": result["draws"],
            "paired": result["paired"]}


def fmt(metrics: dict | None, k: str = "recall@20") -> str:
    return "-" if not metrics or metrics.get(k) is None else f"{metrics[k]:.4f}"


def closed_models() -> list[str]:
    from graphrec.tune import BASELINES, FILTERS
    return list(BASELINES + FILTERS)


def report(path: Path) -> str:
    """Markdown: per dataset, auto against the best single model at its defaults and LightGCN at its defaults (test
    Recall@20 / NDCG@20); then every model at its defaults on every dataset (test Recall@20)."""
    lines = []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    last = {(r["dataset"], r["label"]): r for r in rows}  # a rerun replaces the earlier record
    both = lambda r: f"{fmt(r['test'])} / {fmt(r['test'], 'ndcg@20')}" if r else "-"  # noqa: E731
    lines += ["| dataset | auto: served (trials) | auto wall | auto test | best at defaults | its test | LightGCN at "
              "defaults (epochs) | its test |", "|---|---|---:|---:|---|---:|---:|---:|"]
    for dataset in datasets:
        auto = last.get((dataset, "auto"))
        singles = [r for (d, label), r in last.items() if d == dataset and label != "auto"]
        best = max(singles, key=lambda r: r["test"]["recall@20"], default=None)
        lightgcn = last.get((dataset, "default-lightgcn"))
        served = f"{auto['model']} ({auto['trials']})" if auto else "-"
        wall = f"{auto['wall_s']:.0f} s" if auto else "-"
        epochs = lightgcn["epochs_run"] if lightgcn else "-"
        lines.append(f"| {dataset} | {served} | {wall} | {both(auto)} | {best['model'] if best else '-'} | "
                     f"{both(best)} | {epochs} | {both(lightgcn)} |")
    models = list(dict.fromkeys(label[len("default-"):] for _, label in last if label.startswith("default-")))
    lines += ["", "| model at its defaults | " + " | ".join(datasets) + " |", "|---|" + "---:|" * len(datasets)]
    for model in models:
        cells = [fmt(last[(d, "default-" + model)]["test"]) if (d, "default-" + model) in last else "-"
                 for d in datasets]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(DATASETS))
    parser.add_argument("--home", type=Path, help="the dataset's graphrec home (ingested when it does not exist)")
    parser.add_argument("--auto", type=float, metavar="MINUTES", help="run train --model auto with this budget")
    parser.add_argument("--defaults", type=float, metavar="MINUTES", help="train --models at their defaults, each "
                        "with this budget")
    parser.add_argument("--models", nargs="+", default=["closed", "mf", "lightgcn"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--log", type=Path, help="the commands' output (default: HOME.log)")
    parser.add_argument("--paired", metavar="MODEL", help="then the home's last auto run against its last run of "
                        "MODEL at its defaults, paired on the test users (to results/paired_auto.jsonl)")
    parser.add_argument("--report", type=Path, metavar="JSONL")
    parser.add_argument("--keep-server", action="store_true", help="leave the home's server running (a server "
                        "that ran before this script started is always left running)")
    args = parser.parse_args()
    if args.report:
        return print(report(args.report))
    if not (args.dataset and args.home):
        parser.error("give --dataset and --home (or --report)")
    log_path = args.log or args.home.with_name(args.home.name + ".log")
    with open(log_path, "a") as log:
        running = args.home.exists() and json.loads(subprocess.run(
            GRAPHREC + ["--home", str(args.home), "db", "status", "--json"], capture_output=True, text=True,
            cwd=REPO, check=True).stdout)["running"]  # another command uses the home: its server stays up (asked
        # before the ingest, whose server this script started and stops)
        if not args.home.exists():
            loader, folder, options = DATASETS[args.dataset]
            print(f"{args.dataset}: ingesting into {args.home}", flush=True)
            graphrec(args.home, ["ingest", loader, str(DATA / folder)] + options, log)
        commands = []
        if args.auto:
            commands.append(("auto", ["train", "--model", "auto", "--budget-minutes", f"{args.auto:g}",
                                      "--threads", str(args.threads)]))
        if args.defaults:
            models = [m for name in args.models for m in (closed_models() if name == "closed" else [name])]
            commands += [(f"default-{m}", ["train", "--model", m, "--budget-minutes", f"{args.defaults:g}",
                                           "--threads", str(args.threads), "--no-publish"]) for m in models]
        for label, command in commands:
            row = record(args.dataset, label, args.home, command, log)
            with open(args.out, "a") as out:
                out.write(json.dumps(row) + "\n")
        if args.paired:
            row = paired(args.dataset, args.home, args.paired, args.out)
            with open(PAIRED, "a") as out:
                out.write(json.dumps(row) + "\n")
            print(f"{args.dataset}: auto against {args.paired}: " + "; ".join(
                f"{m} {r['diff']:+.4f} [{r['low']:+.4f}, {r['high']:+.4f}] {r['verdict']}"
                for m, r in row["paired"].items()), flush=True)
        if not (args.keep_server or running):
            graphrec(args.home, ["db", "stop"], log)


if __name__ == "__main__":
    main()
