"""The one training loop every model uses: BPR batches, Adam, validation-based early stopping, resumable runs.

A run folder (optional) receives ``checkpoint.pt`` (every ``checkpoint_every`` epochs; a rerun with the same folder
resumes from it), ``metrics.jsonl`` (one line per epoch), ``curves.png`` (loss and validation metrics per epoch) and
``best.pt`` (the best-validation model, loadable with :func:`graphrec.models.load_model`). The test split is
evaluated once, at the end, with the best weights; model selection only ever sees the valid split.
Reproducible: epoch ``e`` draws its shuffle, negatives and dropout masks from seeds derived from ``(seed, e)``, so an
interrupted-and-resumed run replays exactly what an uninterrupted one would.
Data-parallel (``TrainConfig.nproc`` > 1, or a ``group`` from torchrun): the same loop in every process, each batch
split between them; see :mod:`graphrec.distributed`.
"""

from __future__ import annotations

import copy
import ctypes
import functools
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import torch

from graphrec.errors import ConfigError
from graphrec.evaluate import evaluate
from graphrec.models import Recommender, save_model
from graphrec.recdata import RecData
from graphrec.sampling import SAMPLERS, BPRBatch, bpr_epoch, n_batches, sampling_weights

if TYPE_CHECKING:
    from graphrec.distributed import DataParallel

CHECKPOINT_FORMAT = "graphrec.checkpoint/1"
_HOOK_SEED_SALT = 0x5EED_0F_E90C  # any constant: makes the hook's generator differ from the dropout seed


@functools.cache
def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed blocks for reuse instead of returning them to the OS.

    A training step allocates and frees several (nodes x dim) buffers (18 MB each on Gowalla). glibc serves blocks
    that large with a fresh mmap each time, and the first write to every page of it then faults: ~20 ms of a ~90 ms
    LightGCN step at 2 threads (BENCHMARKS.md). Raising the mmap and trim thresholds makes the heap keep and reuse
    them; freed memory stays with the process (the Gowalla benchmark's peak RSS rose ~100–200 MB with this and numba
    together, still under 1.2 GB). Process-wide, so it is done when training starts, not at import. Returns whether it applied (not on non-glibc platforms)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
        return bool(libc.mallopt(m_mmap_threshold, 1 << 30) and libc.mallopt(m_trim_threshold, 1 << 30)
                    and libc.mallopt(m_top_pad, 64 << 20))
    except (OSError, AttributeError):
        return False


def _check_lr_decay(config: "TrainConfig") -> None:
    if config.lr_decay is None:
        if config.lr_decay_epochs:
            raise ConfigError("TrainConfig.lr_decay_epochs needs TrainConfig.lr_decay, the factor to multiply the lr "
                              "by (e.g. 0.1)")
        return
    if not 0 < config.lr_decay < 1:
        raise ConfigError(f"TrainConfig.lr_decay must be in (0, 1), got {config.lr_decay}")
    if any(int(e) < 1 for e in config.lr_decay_epochs):
        raise ConfigError(f"TrainConfig.lr_decay_epochs are epochs >= 1, got {tuple(config.lr_decay_epochs)}")
    if not config.lr_decay_epochs and config.eval_every == 0:
        raise ConfigError("TrainConfig.lr_decay reduces the lr on a validation plateau, and this run does not "
                          "validate (TrainConfig.eval_every 0): give the epochs to decay after as "
                          "TrainConfig.lr_decay_epochs, or validate")
    if config.lr_decay_epochs and config.eval_every > 0:
        raise ConfigError("TrainConfig.lr_decay_epochs replays lr decays in a run without validation: add "
                          "TrainConfig.eval_every 0 (a validated run decays on its own plateaus with "
                          "TrainConfig.lr_decay_patience)")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 1000
    batch_size: int = 2048
    lr: float = 1e-3
    seed: int = 0
    sampler: str = "interaction"  # BPR (user, positive) pairs: "interaction", "user" or "weighted" (graphrec.sampling)
    metric: str = "recall@20"  # early-stopping metric, on the valid split
    ks: Sequence[int] = (20,)
    eval_every: int = 1  # epochs between validations; 0: no validation (train all `epochs`, keep the last weights)
    patience: int | None = 10  # validations without improvement before stopping (None: never stop early)
    min_epochs: int = 0  # no early stop before this epoch (for models whose validation dips before it climbs)
    # Reduce-on-plateau: multiply the learning rate by lr_decay after every lr_decay_patience validations in a row
    # without improvement (BARS/FuxiCTR: 0.1 after each), not below min_lr. A run without validation (a refit) can
    # replay a schedule instead: lr_decay_epochs lists the epochs after which to multiply it.
    lr_decay: float | None = None
    lr_decay_patience: int = 1
    min_lr: float = 1e-6
    lr_decay_epochs: Sequence[int] = ()
    budget_seconds: float | None = None  # stop before an epoch that could end past this much training time
    checkpoint_every: int = 1  # epochs between checkpoints (only with a run folder)
    eval_batch_users: int = 2048
    threads: int | None = None  # torch.set_num_threads (process-wide) when given
    device: str = "cpu"  # where the model trains and is evaluated ("cuda", "cuda:1", ...); sampling stays on the CPU
    progress: bool = True  # a tqdm bar per epoch on stderr
    test_beyond_accuracy: bool = True  # coverage / popularity / gini / novelty in the final test report
    nproc: int = 1  # data-parallel processes on this machine (graphrec.distributed); the same global batch and seed
    test: bool = True  # evaluate test once at the end (off for the holdout half of holdout_then_refit)

    def __post_init__(self):
        """Every setting checked here, once, wherever the config is built (CLI, library, benchmarks)."""
        for name, low in (("epochs", 1), ("batch_size", 1), ("nproc", 1), ("lr_decay_patience", 1),
                          ("checkpoint_every", 1), ("eval_batch_users", 1), ("eval_every", 0), ("min_epochs", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"TrainConfig.{name} must be an integer, got {value!r}")
            if value < low:
                raise ConfigError(f"TrainConfig.{name} must be >= {low}"
                                  f"{' (0: no validation)' if name == 'eval_every' else ''}, got {value}")
        if not self.lr > 0:
            raise ConfigError(f"TrainConfig.lr must be > 0, got {self.lr}")
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"TrainConfig.patience must be >= 1 or None (never stop early), got {self.patience}")
        if self.budget_seconds is not None and not self.budget_seconds > 0:
            raise ConfigError(f"TrainConfig.budget_seconds must be > 0, got {self.budget_seconds}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"TrainConfig.sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        if not self.ks or any(int(k) < 1 for k in self.ks):
            raise ConfigError(f"TrainConfig.ks must be cut-offs >= 1, got {tuple(self.ks)}")
        name, at, k = self.metric.partition("@")
        if name not in METRIC_NAMES or not at or not k.isdigit() or int(k) not in [int(c) for c in self.ks]:
            raise ConfigError(f"TrainConfig.metric {self.metric!r} must be one of {'/'.join(METRIC_NAMES)}@K "
                              f"with K in ks={tuple(self.ks)}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"TrainConfig.threads must be >= 1, got {self.threads}")
        _check_lr_decay(self)


METRIC_NAMES = ("recall", "precision", "hit", "ndcg", "mrr", "map")  # what early stopping can watch


@dataclass
class TrainResult:
    best_epoch: int
    best_valid: dict
    test: dict
    epochs_run: int
    stopped_early: bool
    seconds_train: float  # summed epoch times (sampling + steps), over resumed segments too
    seconds_eval: float  # summed validation times
    history: list = field(default_factory=list)
    run_dir: str | None = None
    budget_spent: bool = False  # stopped because the next epoch could have ended past config.budget_seconds

    def to_dict(self) -> dict:
        return asdict(self)


def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch) % (2**63)


def fit(model: Recommender, data: RecData, config: TrainConfig = TrainConfig(), run_dir: str | os.PathLike | None = None,
        callback: Callable[[dict], None] | None = None, evaluate_fn=evaluate,
        group: DataParallel | None = None) -> TrainResult:
    """Train ``model`` on ``data.train`` with early stopping on ``data.valid``; report ``data.test`` once at the end.

    ``callback(record)`` is called after each epoch with the JSONL record. ``evaluate_fn`` is the evaluation function
    (swappable for tests). Returns a :class:`TrainResult`; the model is left holding the best weights, on the CPU
    (where write-back and serving use it) whatever ``config.device`` it trained on. A closed-form model (no loss, no
    epochs: ``model.closed_form``) is fitted once instead, by :func:`graphrec.closedfit.fit_closed_form`.
    ``config.nproc`` > 1 trains in that many processes (:func:`graphrec.distributed.spawn_fit`); ``group``: this
    process's place in a data-parallel run already started (by torchrun, or by spawn_fit), whose rank 0 alone writes
    ``run_dir`` and calls ``callback``.
    """
    if config.nproc > 1 or group is not None:
        from graphrec.distributed import check_model, spawn_fit

        check_model(model)
        if group is None:
            return spawn_fit(model, data, config, run_dir=run_dir, callback=callback, evaluate_fn=evaluate_fn)
    main = group is None or group.is_main
    if model.closed_form:
        from graphrec.closedfit import fit_closed_form

        return fit_closed_form(model, data, config, run_dir=run_dir, callback=callback, evaluate_fn=evaluate_fn)
    validate = config.eval_every > 0
    if validate and data.valid.nnz == 0:
        raise ConfigError("fit: the data has no valid split, and early stopping must not use test; carve one with "
                          "RecData.with_holdout(fraction, seed) (or train a fixed number of epochs with eval_every=0)")
    if config.sampler == "weighted":
        sampling_weights(data.train)  # refuse unusable weights before the first epoch
    device = training_device(config.device)
    if group is not None and device.type == "cuda" and device.index is None:
        device = torch.device("cuda", group.local_rank)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    model.to(device)
    run = Path(run_dir) if run_dir is not None else None
    if run is not None and main:
        run.mkdir(parents=True, exist_ok=True)
    optimizer = make_optimizer(model, config.lr)

    state = {"epoch": 0, "best_epoch": 0, "best_score": -math.inf, "best_valid": {}, "bad_evals": 0,
             "history": [], "seconds_train": 0.0, "seconds_eval": 0.0, "stopped_early": False}
    best_weights = copy.deepcopy(model.state_dict())
    ckpt_path = run / "checkpoint.pt" if run is not None else None
    ckpt = None
    if main:
        try:
            ckpt = _read_checkpoint(ckpt_path, model, config)
        except ConfigError as exc:
            if group is None:
                raise
            ckpt = exc
    if group is not None:  # rank 0 read it (the folder may be on its machine only): the others get its copy
        ckpt = group.broadcast(ckpt)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        best_weights = ckpt["best_weights"]
        state = json.loads(ckpt["state"])
        state["budget_spent"] = _over_budget(state, config)  # the budget may differ on resume, like the epochs

    if run is not None and main:  # rewrite the log from the (resumed) history, so it never holds replayed epochs
        with open(run / "metrics.jsonl", "w") as fh:
            for record in state["history"]:
                fh.write(json.dumps(record) + "\n")

    while state["epoch"] < config.epochs and not state["stopped_early"] and not state.get("budget_spent", False):
        epoch = state["epoch"] + 1
        gen = torch.Generator().manual_seed(_epoch_seed(config.seed, epoch))
        parts: dict[str, float] = {}
        loss, seconds = train_epoch(model, optimizer, data, config.batch_size, gen, progress=config.progress and main,
                                    desc=f"epoch {epoch}", sampler=config.sampler, parts=parts, group=group)
        state["seconds_train"] += seconds
        record = {"epoch": epoch, "loss": loss, "seconds": seconds, "lr": optimizer.param_groups[0]["lr"]}
        if parts:
            record["loss_parts"] = parts
        state["budget_spent"] = _over_budget(state, config, record)
        last = epoch == config.epochs or state["budget_spent"]

        if not validate:
            state["best_epoch"] = epoch
        elif epoch % config.eval_every == 0 or last:
            t1 = time.perf_counter()
            valid = evaluate_model(model, data, "valid", config, evaluate_fn, beyond=False, group=group)
            record["valid"] = valid
            record["eval_seconds"] = time.perf_counter() - t1
            state["seconds_eval"] += record["eval_seconds"]
            score = valid[config.metric]
            if score > state["best_score"]:
                state.update(best_score=score, best_epoch=epoch, best_valid=valid, bad_evals=0)
                best_weights = copy.deepcopy(model.state_dict())
            else:
                state["bad_evals"] += 1
                if config.patience is not None and state["bad_evals"] >= config.patience \
                        and epoch >= config.min_epochs:
                    state["stopped_early"] = True
                elif config.lr_decay is not None and state["bad_evals"] % config.lr_decay_patience == 0:
                    record["lr_decayed_to"] = _decay_lr(optimizer, config)
        if not validate and epoch in config.lr_decay_epochs:
            record["lr_decayed_to"] = _decay_lr(optimizer, config)
        state["epoch"] = epoch
        state["history"].append(record)
        if run is not None and main:
            with open(run / "metrics.jsonl", "a") as fh:
                fh.write(json.dumps(record) + "\n")
            if epoch % config.checkpoint_every == 0 or state["stopped_early"] or last:
                _save_checkpoint(ckpt_path, model, optimizer, best_weights, state, config)
        if callback is not None and main:
            callback(record)

    if validate:
        model.load_state_dict(best_weights)
    test = {}
    if data.test.nnz and config.test:
        test = evaluate_model(model, data, "test", config, evaluate_fn, beyond=config.test_beyond_accuracy,
                              group=group)
    model.to("cpu")
    result = TrainResult(best_epoch=state["best_epoch"], best_valid=state["best_valid"], test=test,
                         epochs_run=state["epoch"], stopped_early=state["stopped_early"],
                         seconds_train=state["seconds_train"], seconds_eval=state["seconds_eval"],
                         history=state["history"], run_dir=str(run) if run is not None else None,
                         budget_spent=state.get("budget_spent", False))
    if run is not None and main:
        save_model(model, run / "best.pt", extra={"best_epoch": result.best_epoch})
        with open(run / "result.json", "w") as fh:
            json.dump({k: v for k, v in result.to_dict().items() if k != "history"}, fh, indent=2)
        plot_history(state["history"], run / "curves.png", config.metric)
    return result


@dataclass
class Refit:
    """What :func:`holdout_then_refit` did: the holdout run that chose the schedule (never tested), the refitted model
    and its result (tested once), and the schedule it replayed."""

    holdout: TrainResult
    model: Recommender
    result: TrainResult
    epochs: int
    lr_decay_epochs: list

    def summary(self) -> dict:
        """JSON-able: the schedule and where it came from (a run's ``meta["refit"]``, the benchmarks' records)."""
        return {"epochs": self.epochs, "lr_decay_epochs": self.lr_decay_epochs,
                "holdout_epochs_run": self.holdout.epochs_run, "holdout_valid": self.holdout.best_valid,
                "holdout_seconds_train": self.holdout.seconds_train}


HOLDOUT_DIR = "holdout"  # the holdout run's folder inside a refitted run's folder


def refit_config(config: TrainConfig, epochs: int, lr_decay_epochs: Sequence[int] = ()) -> TrainConfig:
    """The run without validation that replays a holdout run's schedule: ``epochs`` epochs on all the training
    data, the lr cut after each of ``lr_decay_epochs``, tested once at the end."""
    return replace(config, epochs=epochs, eval_every=0, patience=None, min_epochs=0, budget_seconds=None, test=True,
                   lr_decay=config.lr_decay if lr_decay_epochs else None, lr_decay_epochs=tuple(lr_decay_epochs))


def holdout_then_refit(make_model: Callable[[RecData], Recommender], data: RecData, config: TrainConfig,
                       run_dir: str | os.PathLike | None = None, callback: Callable[[dict], None] | None = None,
                       group: DataParallel | None = None, evaluate_fn=evaluate) -> Refit:
    """The protocol behind the published numbers: choose on the holdout, retrain on everything, test once.

    1. Train ``make_model(data)`` on ``data.train`` with early stopping on ``data.valid`` (``config``'s validation
       and lr-on-plateau settings), in ``RUN_DIR/holdout``; test is not looked at.
    2. Build ``make_model(full)`` on ``full = data.without_valid()`` (train and valid together, the graph too), train
       it for the holdout run's best epoch count with the lr cuts that run made up to that epoch replayed
       (:func:`refit_config`), in ``RUN_DIR`` itself, and test it once.

    Both halves checkpoint, so a rerun with the same ``run_dir`` resumes where it stopped. ``callback(record)`` gets
    every epoch of both, the refit's with ``"refit": True``.
    """
    if config.eval_every == 0:
        raise ConfigError("holdout_then_refit chooses the epochs on the valid split: it needs eval_every >= 1")
    run = Path(run_dir) if run_dir is not None else None
    holdout = fit(make_model(data), data, replace(config, test=False),
                  run_dir=run / HOLDOUT_DIR if run is not None else None, callback=callback, group=group,
                  evaluate_fn=evaluate_fn)
    if holdout.best_epoch < 1:
        raise ConfigError("holdout_then_refit: the holdout run validated no epoch, so there is nothing to refit")
    drops = lr_decay_epochs(holdout.history, holdout.best_epoch)
    full = data.without_valid()
    model = make_model(full)
    tagged = None if callback is None else (lambda record: callback({**record, "refit": True}))
    result = fit(model, full, refit_config(config, holdout.best_epoch, drops), run_dir=run, callback=tagged,
                 group=group, evaluate_fn=evaluate_fn)
    result.best_valid = holdout.best_valid
    return Refit(holdout=holdout, model=model, result=result, epochs=holdout.best_epoch, lr_decay_epochs=drops)


def _read_checkpoint(path: Path | None, model: Recommender, config: TrainConfig) -> dict | None:
    """The run folder's checkpoint, checked against this run's config and model; None when there is none."""
    if path is None or not path.exists():
        return None
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"{path} is not a graphrec checkpoint")
    ckpt["config"].setdefault("sampler", "interaction")  # checkpoints from before the option existed
    if ckpt["config"] != _config_key(config):
        raise ConfigError(f"{path} was written with another training config; use a new run folder "
                          f"(checkpoint: {ckpt['config']}, now: {_config_key(config)})")
    # Checkpoints written before the model was recorded carry no "model_key" and cannot be checked.
    if "model_key" in ckpt and json.loads(ckpt["model_key"]) != _model_key(model):
        raise ConfigError(f"{path} was written by another model or other hyper-parameters; use a new run "
                          f"folder (checkpoint: {json.loads(ckpt['model_key'])}, now: {_model_key(model)})")
    return ckpt


def training_device(name: str) -> torch.device:
    """``TrainConfig.device`` as a device this process can use, or a ConfigError saying why not."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"TrainConfig.device {name!r} is not a device name (cpu, cuda, cuda:N): {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"TrainConfig.device {name!r}: this torch build or machine has no CUDA device")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"TrainConfig.device {name!r}: graphrec trains on cpu or cuda")
    return device


def make_optimizer(model: Recommender, lr: float) -> torch.optim.Optimizer:
    """Adam. The fused CPU kernel updates the ~4.5M Gowalla embedding weights ~10x faster than the default. A model
    with ``sparse_updates`` (LTGNN) gets SparseAdam: only the rows a step touched move, instead of a pass over every
    table per step, which would make an epoch grow with the graph times the number of steps."""
    if model.sparse_updates:
        return torch.optim.SparseAdam(list(model.parameters()), lr=lr)
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    except (RuntimeError, TypeError):  # older torch or an unsupported device/dtype
        return torch.optim.Adam(model.parameters(), lr=lr)


def train_epoch(model: Recommender, optimizer: torch.optim.Optimizer, data: RecData, batch_size: int,
                generator: torch.Generator, progress: bool = False, desc: str = "epoch",
                max_batches: int | None = None, sampler: str = "interaction",
                parts: dict | None = None, group: DataParallel | None = None) -> tuple[float, float]:
    """One BPR epoch (``ceil(n_train / batch_size)`` steps of triples drawn by ``sampler``, see graphrec.sampling).
    A model with an ``on_epoch_start(generator)`` method gets it called once before the first batch, with a
    generator derived from ``generator`` (for per-epoch work such as resampling views or clustering).
    Returns (mean loss per triple, seconds). ``max_batches`` stops early (benchmarks). ``parts``, when given, is
    filled with the mean per triple of each term the model's loss named through ``Recommender.loss_parts`` (a term
    absent from some steps, such as NCL's prototypes before warm-up ends, counts 0 there; the means sum to the loss).
    ``group``: data-parallel, this process trains on its shard of every batch and the returned loss, parts and
    seconds are the whole batch's (the slowest process's seconds), the same in every process."""
    model.train()
    keep_freed_memory()
    t0 = time.perf_counter()
    total, count = 0.0, 0
    part_sums: dict[str, float] = {}
    # Dropout draws from the global RNG: seed it from ``generator`` (and restore it after) so the epoch is a pure
    # function of the generator's state.
    dropout_seed = int(torch.randint(2**62, (1,), generator=generator))
    batches = bpr_epoch(data.train, data.n_items, batch_size, generator, sampler)
    if group is not None:  # every process draws the whole epoch (the same seeded triples) and keeps its shards
        batches = ((batch.users.numel(), group.shard(batch)) for batch in batches)
    else:
        batches = ((batch.users.numel(), batch) for batch in batches)
    device = next(model.parameters()).device
    if device.type != "cpu":  # triples are drawn on the CPU (seeded, device-independent) and copied per batch
        batches = ((n, BPRBatch(*(t.to(device, non_blocking=True) for t in batch))) for n, batch in batches)
    total_batches = n_batches(data.train, batch_size)
    if max_batches is not None:
        total_batches = min(total_batches, max_batches)
    bar = _progress(batches, total_batches, desc, progress)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(dropout_seed)
        on_epoch_start = getattr(model, "on_epoch_start", None)
        if on_epoch_start is not None:
            # Per-epoch model work (SGL's view resampling, NCL's clustering) gets its own generator derived from
            # the epoch's, so it neither shifts the batches' draws nor depends on what the model draws.
            on_epoch_start(torch.Generator().manual_seed(dropout_seed ^ _HOOK_SEED_SALT))
        if group is not None and not group.is_main:  # the work above is the same everywhere; draws in the loss
            torch.manual_seed(group.loss_seed(dropout_seed))  # are not (rank 0 keeps the one-process ones)
        for step, (n_global, batch) in enumerate(bar):
            if max_batches is not None and step >= max_batches:
                break
            optimizer.zero_grad(set_to_none=True)
            n = batch.users.numel()
            if n:  # a shard of a last batch smaller than the number of processes can be empty
                loss = model.loss(batch)
                loss.backward()
                total += float(loss.detach()) * n
                count += n
            if group is not None:
                group.add_gradients(model, n / n_global)
            optimizer.step()
            step_parts = getattr(model, "last_loss_parts", None)
            if step_parts:
                for name, value in step_parts.items():
                    part_sums[name] = part_sums.get(name, 0.0) + float(value) * n
                model.last_loss_parts = None
    if progress:
        bar.close()
    seconds = time.perf_counter() - t0
    if group is not None:
        names = group.names(part_sums)
        total, count, *sums = group.sum([total, count] + [part_sums.get(name, 0.0) for name in names])
        part_sums = dict(zip(names, sums)) if names else {}
        seconds = group.max(seconds)
    if parts is not None:
        parts.update((name, value / max(count, 1)) for name, value in part_sums.items())
    return total / max(count, 1), seconds


def loss_text(record: dict) -> str:
    """An epoch record's loss for a progress line: ``loss 1.82060 (bpr 0.69310 + ssl 1.12700 + reg 0.00050)``
    (a closed-form fit's record has none: ``closed-form fit``)."""
    if "loss" not in record:
        return "closed-form fit"
    text = f"loss {record['loss']:.5f}"
    if record.get("loss_parts"):
        text += " (" + " + ".join(f"{name} {value:.5f}" for name, value in record["loss_parts"].items()) + ")"
    return text


def epoch_text(record: dict, total: int | None = None) -> str:
    """One epoch record as a progress line: ``epoch   12/400  loss 0.01772  5.9s  valid recall@20 0.1960 ... (10.7s)
    lr -> 0.002`` (``refit`` in front for a refit's epochs; the validation and the lr cut only where the epoch had
    them)."""
    of = f"/{total}" if total else ""
    line = f"{'refit ' if record.get('refit') else ''}epoch {record['epoch']:4d}{of}  {loss_text(record)}  " \
           f"{record['seconds']:.1f}s"
    if record.get("valid"):
        line += "  valid " + "  ".join(f"{k} {v:.4f}" for k, v in record["valid"].items() if "@" in k)
        if "eval_seconds" in record:
            line += f" ({record['eval_seconds']:.1f}s)"
    if "lr_decayed_to" in record:
        line += f"  lr -> {record['lr_decayed_to']:g}"
    return line


def _decay_lr(optimizer: torch.optim.Optimizer, config: TrainConfig) -> float:
    """Multiply every parameter group's lr by ``config.lr_decay`` (not below ``config.min_lr``); return the new lr.
    The optimizer's state dict carries it, so a resumed run goes on at the decayed rate."""
    for group in optimizer.param_groups:
        group["lr"] = max(group["lr"] * config.lr_decay, config.min_lr)
    return optimizer.param_groups[0]["lr"]


def lr_decay_epochs(history: list, up_to: int) -> list[int]:
    """The epochs (at most ``up_to``) after which a run's lr was decayed: the schedule a refit for ``up_to`` epochs
    replays with ``TrainConfig(lr_decay_epochs=...)``."""
    return [r["epoch"] for r in history if "lr_decayed_to" in r and r["epoch"] <= up_to]


def _over_budget(state: dict, config: TrainConfig, record: dict | None = None) -> bool:
    """Whether another epoch could end past ``config.budget_seconds`` of training: it could take as long as the
    longest epoch so far (``record``: the epoch just run, not yet in the history), plus 10% since epoch times vary."""
    seconds = [r["seconds"] for r in state["history"]] + ([record["seconds"]] if record else [])
    if config.budget_seconds is None or not seconds:
        return False
    return state["seconds_train"] + 1.1 * max(seconds) > config.budget_seconds


def _config_key(config: TrainConfig) -> dict:
    """The settings a resumed run must share with the original (progress/threads/device may differ)."""
    key = asdict(config)
    for volatile in ("progress", "threads", "epochs", "min_epochs", "budget_seconds", "device", "nproc"):
        key.pop(volatile)
    key["ks"] = [int(k) for k in key["ks"]]
    key["lr_decay_epochs"] = [int(e) for e in key["lr_decay_epochs"]]
    for added, default in (("lr_decay", None), ("lr_decay_patience", 1), ("min_lr", 1e-6), ("lr_decay_epochs", []),
                           ("test", True)):
        if key[added] == default:  # checkpoints from before the options existed lack them
            key.pop(added)
    return key


def _model_key(model) -> dict:
    """The model a resumed run must share with the original: its registered class and hyper-parameters (JSON-normal
    form, so a checkpoint's copy compares equal)."""
    return json.loads(json.dumps({"class": type(model).__name__, **model.hparams()}))


@torch.no_grad()
def evaluate_model(model, data, split, config, evaluate_fn=evaluate, beyond: bool = False,
                   group: DataParallel | None = None) -> dict:
    """``evaluate_fn`` on the model's scores; data-parallel, each process ranks its share of the users."""
    model.eval()
    shared = {} if group is None else {"group": group}
    return evaluate_fn(model_scorer(model), data, split=split, ks=config.ks,
                       batch_users=config.eval_batch_users, beyond_accuracy=beyond, **shared)


def model_scorer(model: Recommender):
    """What the evaluator ranks by: the embedding pair, or ``model.score`` where scores are not its dot products."""
    return model() if model.dot_product_scores else model.score


def _save_checkpoint(path: Path, model, optimizer, best_weights, state, config) -> None:
    ckpt = {"format": CHECKPOINT_FORMAT, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "best_weights": best_weights, "state": json.dumps(state), "config": _config_key(config),
            "model_key": json.dumps(_model_key(model))}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)  # atomic: an interrupt never leaves a half-written checkpoint


def _progress(iterable, total: int, desc: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm  # imported lazily: only runs that show a bar need it
    return tqdm(iterable, total=total, desc=desc, leave=False, file=sys.stderr, dynamic_ncols=True)


def plot_history(history: list, path: str | os.PathLike, metric: str = "recall@20"):
    """PNG of training loss and the validation metrics per epoch (matplotlib's Agg canvas, no pyplot state); returns
    the matplotlib Figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    FigureCanvasAgg(fig)
    ax_loss, ax_val = fig.subplots(1, 2)
    epochs = [r["epoch"] for r in history]
    ax_loss.plot(epochs, [r["loss"] for r in history], label="loss")
    part_names = list(dict.fromkeys(name for r in history for name in r.get("loss_parts", {})))
    for name in part_names:  # each weighted term of a multi-term loss, dashed under the total
        ax_loss.plot(epochs, [r.get("loss_parts", {}).get(name, float("nan")) for r in history], "--", label=name)
    if part_names:
        ax_loss.legend()
    ax_loss.set(xlabel="epoch", ylabel="loss per triple", title="training loss")
    evals = [r for r in history if "valid" in r]
    if evals:
        names = [k for k in evals[0]["valid"] if k.split("@")[0] in ("recall", "ndcg")]
        for name in names:
            ax_val.plot([r["epoch"] for r in evals], [r["valid"][name] for r in evals], label=name)
        ax_val.legend()
        ax_val.set(xlabel="epoch", title=f"validation (early stopping on {metric})")
    else:  # a run without validation (eval_every=0)
        ax_val.set_axis_off()
        ax_val.text(0.5, 0.5, f"no validation:\n{len(history)} epochs, the last one kept", ha="center",
                    va="center", transform=ax_val.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return fig
