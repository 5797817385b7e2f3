"""Train one model on the LightGCN Gowalla split with `graphrec train`'s options and protocol, from the files.

The same options, the same TrainConfig and the same functions as `graphrec train` (graphrec.cli.TRAIN_OPTIONS,
graphrec.train.fit / holdout_then_refit); what this script adds is reading the split straight from its text files
(``--source files``, the default) instead of a graph, and one JSON line per result for benchmarks/results. Early
stopping uses a validation split carved (seeded, per user) out of train.txt; test.txt is evaluated once, at the end.
With ``--refit`` (or a preset that refits) the holdout run chooses the epochs and lr cuts and a model retrained on all
of train.txt with them is tested; with ``--eval-every 0`` no validation happens at all (a published schedule, or a
``--budget-minutes`` of training).

    PYTHONPATH=. python benchmarks/gowalla_accuracy.py --model lightgcn --preset gowalla --threads 2 \\
        --run-dir runs/lightgcn-gowalla
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import click
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._data import DEFAULT_GOWALLA, load_lightgcn_dir  # noqa: E402
from graphrec.cli import train_options, training_from_options, with_preset  # noqa: E402
from graphrec.models import build  # noqa: E402
from graphrec.recdata import RecData  # noqa: E402
from graphrec.train import fit, holdout_then_refit, epoch_text  # noqa: E402


@click.command(help=__doc__.splitlines()[0])
@train_options
@click.option("--data", default=str(DEFAULT_GOWALLA), show_default=True, help="The split's folder.")
@click.option("--valid-fraction", default=0.1, show_default=True)
@click.option("--seed", default=2020, show_default=True)
@click.option("--run-dir", help="Checkpoints, metrics.jsonl and curves (a rerun with the same folder resumes).")
@click.option("--source", type=click.Choice(["files", "db"]), default="files", show_default=True,
              help="db: ingest the split into a fresh embedded server and export it back (cached in --cache), the "
                   "path `graphrec train` takes; files: read train.txt/test.txt directly (the same graph).")
@click.option("--cache", default=str(Path(tempfile.gettempdir()) / "graphrec-bench-exports"), show_default=True)
@click.option("--no-progress", is_flag=True)
@click.pass_context
def main(ctx: click.Context, **options) -> None:
    if options["preset"]:
        options = with_preset(ctx, options)
    hparams, config = training_from_options(options)
    config = replace(config, progress=not options["no_progress"])
    t0 = time.perf_counter()
    data = load(options["data"], options["source"], Path(options["cache"]))
    validating = config.eval_every > 0
    if validating:
        data = data.with_holdout(options["valid_fraction"], seed=config.seed)
    print(f"data: {data} ({time.perf_counter() - t0:.1f}s)", flush=True)

    def make_model(view: RecData):
        return build(options["model_name"], view.n_users, view.n_items, graph=torch.stack(view.train.pairs()),
                     seed=config.seed, **hparams)

    summary = {"model": options["model_name"], "preset": options["preset"], "batch_size": config.batch_size,
               "lr": config.lr, "sampler": config.sampler}
    if options["refit"]:
        done = holdout_then_refit(make_model, data, config, run_dir=options["run_dir"], callback=report)
        model, result = done.model, done.result
        summary["refit"] = done.summary()
    else:
        model = make_model(data)
        result = fit(model, data, config, run_dir=options["run_dir"], callback=report)
    summary.update(hparams=model.hparams(), best_epoch=result.best_epoch, epochs_run=result.epochs_run,
                   minutes_train=result.seconds_train / 60, minutes_eval=result.seconds_eval / 60,
                   best_valid=result.best_valid, test=result.test)
    if config.lr_decay_epochs:
        summary.update(lr_decay=config.lr_decay, lr_decay_epochs=list(config.lr_decay_epochs))
    kind = "REFIT" if options["refit"] else ("FINAL" if validating else "FIXED")
    print(f"{kind} " + json.dumps(summary), flush=True)


def report(record: dict) -> None:
    print(epoch_text(record), flush=True)


def load(folder: str, source: str, cache: Path) -> RecData:
    if source == "files":
        return load_lightgcn_dir(folder)
    from benchmarks.side_graphs import exported

    path = exported("gowalla", cache, data_dir=Path(folder))
    return RecData.from_hetero(torch.load(path, weights_only=False)["hetero"])


if __name__ == "__main__":
    main()
