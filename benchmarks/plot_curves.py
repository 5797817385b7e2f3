"""Validation curves of several training runs in one plot: a metric per epoch (or per training minute) from each
run folder's ``metrics.jsonl`` (the log :func:`graphrec.train.fit` writes).

    python benchmarks/plot_curves.py RUN_DIR[=LABEL] RUN_DIR[=LABEL] ... --metric recall@20 --out curves.svg
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def load_curve(run_dir: str | Path, metric: str, x: str, max_epoch: int | None = None) -> tuple[list, list]:
    """(x values, metric values) of the validated epochs (up to ``max_epoch``); x is the epoch or cumulative
    training minutes."""
    xs, ys, minutes = [], [], 0.0
    for line in Path(run_dir, "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if max_epoch is not None and record["epoch"] > max_epoch:
            break
        minutes += record["seconds"] / 60
        if "valid" in record:
            if metric not in record["valid"]:
                raise SystemExit(f"{run_dir}/metrics.jsonl: epoch {record['epoch']} has no valid {metric!r} "
                                 f"(has {sorted(record['valid'])})")
            xs.append(record["epoch"] if x == "epoch" else minutes)
            ys.append(record["valid"][metric])
    return xs, ys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", metavar="RUN_DIR[=LABEL]")
    ap.add_argument("--metric", default="recall@20")
    ap.add_argument("--x", choices=("epoch", "minutes"), default="epoch")
    ap.add_argument("--max-epoch", type=int, default=None, help="leave out later epochs")
    ap.add_argument("--title", default="")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks._plots import save

    fig = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for spec in args.runs:
        run_dir, _, label = spec.partition("=")
        xs, ys = load_curve(run_dir, args.metric, args.x, args.max_epoch)
        ax.plot(xs, ys, marker="o", markersize=3, label=label or Path(run_dir).name)
    ax.set(xlabel="epoch" if args.x == "epoch" else "training minutes", ylabel=f"valid {args.metric}",
           title=args.title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save(fig, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
