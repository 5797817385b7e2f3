"""Train one model on the LightGCN Gowalla split end to end and report full-ranking test metrics.

Early stopping uses a validation split carved (seeded, per user) out of train.txt; test.txt is only evaluated once,
at the end, with the best-validation weights. Test evaluation masks train + valid, i.e. the whole train.txt, as in
the LightGCN protocol.

    PYTHONPATH=. python benchmarks/gowalla_accuracy.py --model lightgcn --batch-size 8192 --lr 5e-3 \
        --run-dir /tmp/graphrec-runs/lightgcn
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._data import DEFAULT_GOWALLA, load_lightgcn_dir  # noqa: E402
from graphrec.models import MODELS, build  # noqa: E402
from graphrec.recdata import RecData  # noqa: E402
from graphrec.sampling import SAMPLERS  # noqa: E402
from graphrec.train import TrainConfig, fit, loss_text, lr_decay_epochs  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, choices=sorted(MODELS))
    ap.add_argument("--data", default=str(DEFAULT_GOWALLA))
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--sampler", choices=SAMPLERS, default="interaction",
                    help="BPR pairs: every interaction once per epoch, or users uniformly then one of their items "
                         "(the LightGCN/NGCF reference code's sampler)")
    ap.add_argument("--patience", type=int, default=10, help="validations without improvement before stopping")
    ap.add_argument("--min-epochs", type=int, default=0, help="no early stop before this epoch")
    ap.add_argument("--eval-every", type=int, default=5)
    ap.add_argument("--lr-decay", type=float, default=None,
                    help="reduce on plateau: multiply the lr by this after every --lr-decay-patience validations "
                         "without improvement (a --refit replays the holdout run's decays up to its best epoch)")
    ap.add_argument("--lr-decay-patience", type=int, default=1)
    ap.add_argument("--lr-decay-epochs", default="",
                    help="with --fixed-epochs: comma-separated epochs after which to multiply the lr by --lr-decay")
    ap.add_argument("--valid-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="torch device to train on, e.g. cuda")
    ap.add_argument("--run-dir", default=None, help="checkpoints, metrics.jsonl, curves.png (resumes if present)")
    ap.add_argument("--hp", action="append", default=[], metavar="NAME=VALUE",
                    help="model hyper-parameter, e.g. --hp num_layers=3 --hp reg=1e-4")
    ap.add_argument("--refit", action="store_true",
                    help="after early stopping, retrain from scratch on train+valid (the whole train.txt) for the "
                         "best epoch count and report test for that model too (the holdout costs ~valid-fraction "
                         "of the training data otherwise)")
    ap.add_argument("--budget-minutes", type=float, default=None,
                    help="no validation at all: train on the whole train.txt until this much training time is "
                         "spent (no epoch is started that could end past it, judged by the longest epoch so far "
                         "+ 10%%), then test once")
    ap.add_argument("--fixed-epochs", action="store_true",
                    help="no validation at all: train on the whole train.txt for --epochs (a published schedule, "
                         "e.g. the LightGCN paper's 1000), checkpointed in RUN_DIR/refit-EPOCHS, then test once")
    ap.add_argument("--source", choices=("files", "db"), default="files",
                    help="db: ingest the split into a fresh embedded server and export it back (cached in --cache), "
                         "the path `graphrec train` takes; files: read train.txt/test.txt directly (same graph)")
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "graphrec-bench-exports"))
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    hparams = {k: json.loads(v) for k, v in (h.split("=", 1) for h in args.hp)}
    if args.budget_minutes is not None:
        print("BUDGET " + json.dumps(refit(args, hparams, args.epochs, budget_s=args.budget_minutes * 60)), flush=True)
        return 0
    if args.fixed_epochs:
        drops = [int(e) for e in args.lr_decay_epochs.split(",") if e.strip()]
        print("FIXED " + json.dumps(refit(args, hparams, args.epochs, lr_decay_epochs=drops)), flush=True)
        return 0
    t0 = time.perf_counter()
    data = load(args).with_holdout(args.valid_fraction, seed=args.seed)
    print(f"data: {data} ({time.perf_counter() - t0:.1f}s)", flush=True)
    model = build(args.model, data.n_users, data.n_items, graph=torch.stack(data.train.pairs()), seed=args.seed,
                  **hparams)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                         sampler=args.sampler, patience=args.patience, min_epochs=args.min_epochs,
                         eval_every=args.eval_every, lr_decay=args.lr_decay,
                         lr_decay_patience=args.lr_decay_patience,
                         progress=not args.no_progress, threads=args.threads, device=args.device, ks=(20,),
                         metric="recall@20")

    def report(record):
        valid = record.get("valid")
        line = f"epoch {record['epoch']:4d} {loss_text(record)} {record['seconds']:.1f}s"
        if valid:
            line += f"  valid recall@20 {valid['recall@20']:.4f} ndcg@20 {valid['ndcg@20']:.4f}" \
                    f" ({record['eval_seconds']:.1f}s)"
        if "lr_decayed_to" in record:
            line += f"  lr -> {record['lr_decayed_to']:g}"
        print(line, flush=True)

    result = fit(model, data, config, run_dir=args.run_dir, callback=report)
    drops = lr_decay_epochs(result.history, result.best_epoch)
    summary = {"model": args.model, "hparams": model.hparams(), "batch_size": args.batch_size, "lr": args.lr,
               "sampler": args.sampler, **({"lr_decay": args.lr_decay, "lr_decay_epochs": drops} if drops else {}),
               "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
               "minutes_train": result.seconds_train / 60, "minutes_eval": result.seconds_eval / 60,
               "best_valid": result.best_valid, "test": result.test}
    print("FINAL " + json.dumps(summary), flush=True)
    if args.refit:
        print("REFIT " + json.dumps(refit(args, hparams, result.best_epoch, lr_decay_epochs=drops)), flush=True)
    return 0


def load(args) -> RecData:
    if args.source == "files":
        return load_lightgcn_dir(args.data)
    from benchmarks.side_graphs import exported

    path = exported("gowalla", Path(args.cache), data_dir=Path(args.data))
    return RecData.from_hetero(torch.load(path, weights_only=False)["hetero"])


def refit(args, hparams: dict, epochs: int, budget_s: float | None = None, lr_decay_epochs: list = ()) -> dict:
    """Retrain on the whole train.txt for ``epochs`` (chosen on the holdout; test never consulted) and test once.

    The one training loop with validation off, checkpointed in ``RUN_DIR/refit-EPOCHS`` (``RUN_DIR/budget-MINUTES``)
    so a long refit resumes; ``lr_decay_epochs`` replays the holdout run's reduce-on-plateau decays. With
    ``budget_s``, stop earlier: before an epoch that could end past the budget (``TrainConfig.budget_seconds``: the
    longest epoch so far plus 10%, since epoch times vary by a few seconds).
    """
    full = load(args)
    model = build(args.model, full.n_users, full.n_items, graph=torch.stack(full.train.pairs()), seed=args.seed,
                  **hparams)
    summary = {"model": args.model, "hparams": model.hparams(), "batch_size": args.batch_size, "lr": args.lr,
               "sampler": args.sampler}
    if lr_decay_epochs:
        summary.update(lr_decay=args.lr_decay, lr_decay_epochs=list(lr_decay_epochs))
    config = TrainConfig(epochs=epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                         sampler=args.sampler, eval_every=0, patience=None, budget_seconds=budget_s,
                         lr_decay=args.lr_decay if lr_decay_epochs else None, lr_decay_epochs=tuple(lr_decay_epochs),
                         progress=not args.no_progress, threads=args.threads, device=args.device, ks=(20,),
                         metric="recall@20")
    clock = time.perf_counter()

    def report(record):
        print(f"refit epoch {record['epoch']:4d} {loss_text(record)} {record['seconds']:.1f}s "
              f"({(time.perf_counter() - clock) / 60:.1f} min this session)", flush=True)

    folder = f"refit-{epochs}" if budget_s is None else f"budget-{budget_s / 60:g}"
    result = fit(model, full, config, run_dir=Path(args.run_dir) / folder if args.run_dir else None,
                 callback=report)
    return {**summary, "epochs": result.epochs_run, "minutes_train": result.seconds_train / 60,
            "test": result.test}


if __name__ == "__main__":
    raise SystemExit(main())
