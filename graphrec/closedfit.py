"""Closed-form models (graph filters, baselines) in the training flow: one fit instead of epochs, and the choice of
their hyper-parameters on the validation holdout.

:func:`fit_closed_form` is what :func:`graphrec.train.fit` does for a model with ``closed_form = True``: fit once on
``data.train`` (progress per stage, timed), validate when there is a valid split, test once, and leave the same run
folder files (``metrics.jsonl`` with the one fit record, ``best.pt``, ``result.json``). :func:`search` fits a small
grid on train-minus-valid and ranks it on valid only (optionally a seeded sample of the validation users, so a point
costs seconds); the caller refits the chosen point on all non-test data (:meth:`RecData.without_valid`) and tests it
once, as :func:`graphrec.workflow.train_run` does for ``graphrec train --search``.
"""

from __future__ import annotations

import inspect
import itertools
import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch

from graphrec.errors import ConfigError
from graphrec.evaluate import evaluate
from graphrec.models import Recommender, build, model_class, save_model
from graphrec.progress import bar, silent
from graphrec.recdata import RecData, UserItems
from graphrec.train import TrainConfig, TrainResult, evaluate_model


def fit_closed_form(model: Recommender, data: RecData, config: TrainConfig = TrainConfig(),
                    run_dir: str | os.PathLike | None = None, callback: Callable[[dict], None] | None = None,
                    evaluate_fn=evaluate) -> TrainResult:
    """Fit ``model`` once on ``data.train``; report valid (when present) and test (once). ``callback(record)`` gets
    the fit's record ``{"epoch": 0, "seconds": fit seconds, "valid": ...}``."""
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    if config.device != "cpu":
        raise ConfigError(f"TrainConfig.device {config.device!r}: closed-form models fit on the cpu")
    run = Path(run_dir) if run_dir is not None else None
    if run is not None:
        run.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with torch.no_grad():
        model.fit(progress=bar if config.progress else silent)
    record = {"epoch": 0, "seconds": time.perf_counter() - start}
    seconds_eval, valid, test = 0.0, {}, {}
    if data.valid.nnz:
        t = time.perf_counter()
        valid = evaluate_model(model, data, "valid", config, evaluate_fn, beyond=False)
        record.update(valid=valid, eval_seconds=time.perf_counter() - t)
        seconds_eval = record["eval_seconds"]
    if run is not None:
        (run / "metrics.jsonl").write_text(json.dumps(record) + "\n")
    if callback is not None:
        callback(record)
    if data.test.nnz:
        test = evaluate_model(model, data, "test", config, evaluate_fn, beyond=config.test_beyond_accuracy)
    result = TrainResult(best_epoch=0, best_valid=valid, test=test, epochs_run=0, stopped_early=False,
                         seconds_train=record["seconds"], seconds_eval=seconds_eval, history=[record],
                         run_dir=str(run) if run is not None else None)
    if run is not None:
        save_model(model, run / "best.pt", extra={"closed_form": True})
        (run / "result.json").write_text(json.dumps({k: v for k, v in result.to_dict().items() if k != "history"},
                                                    indent=2))
    return result


@dataclass
class SearchResult:
    best: dict  # the chosen hyper-parameters (the grid's point merged over the fixed ones)
    best_valid: dict
    trials: list  # one {"hparams", "valid", "seconds_fit", "seconds_eval"} per grid point, in the order run


def grid_points(name: str, grid: Mapping[str, Sequence] | None = None) -> list[dict]:
    """The points of ``grid`` (default: the model's ``search_space``), those that change the fitted state
    (``fitted_by``) varying slowest, so consecutive points reuse one fit where they can. On the model's own space each
    axis starts at the constructor's default, so the defaults are the first point: a grid a time budget cuts short
    (``search``'s ``proceed``) has ranked them."""
    cls = model_class(name)
    if not getattr(cls, "closed_form", False):
        raise ConfigError(f"search: {cls.__name__} trains by epochs; its epochs are chosen by early stopping on "
                          "valid. The grid search is for closed-form models")
    space = dict(cls.search_space if grid is None else grid)
    if not space:
        return [{}]
    if grid is None:
        params = inspect.signature(cls.__init__).parameters
        space = {n: tuple(sorted(values, key=lambda v, n=n: n not in params or v != params[n].default))
                 for n, values in space.items()}
    names = sorted(space, key=lambda n: (n not in cls.fitted_by, n))
    return [dict(zip(names, values)) for values in itertools.product(*(tuple(space[n]) for n in names))]


def search(name: str, data: RecData, grid: Mapping[str, Sequence] | None = None, fixed: Mapping | None = None,
           config: TrainConfig = TrainConfig(), valid_users: int | None = None,
           callback: Callable[[dict], None] | None = None,
           proceed: Callable[[list[dict]], bool] | None = None) -> SearchResult:
    """Fit every grid point on ``data.train`` and rank them by ``config.metric`` on ``data.valid`` (test is never
    read). ``valid_users``: rank on a seeded sample of that many validation users (seed ``config.seed``).
    ``proceed(trials so far)``, asked before every point after the first, ends the grid early when it says no (a
    search within a time budget); the result is then the best of the points fitted."""
    if data.valid.nnz == 0:
        raise ConfigError("search: the data has no valid split, and hyper-parameters must not be chosen on test; "
                          "carve one with RecData.with_holdout(fraction, seed)")
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    ranked = valid_ranking(data, valid_users, config.seed)
    graph = torch.stack(data.train.pairs())
    trials, previous = [], None
    for point in grid_points(name, grid):
        if trials and proceed is not None and not proceed(trials):
            break
        hparams = {**(fixed or {}), **point}
        model = build(name, data.n_users, data.n_items, graph=graph, seed=config.seed, **hparams)
        if previous is not None and not model.derives_from(previous):
            previous = None  # not reusable: let its fitted state (EASE's m x m inverse) go before the next fit
        start = time.perf_counter()
        with torch.no_grad():
            model.fit(progress=silent, reuse=previous)
        seconds_fit = time.perf_counter() - start
        valid = evaluate_model(model, ranked, "valid", config, evaluate, beyond=False)
        trial = {"hparams": model.hparams(), "valid": valid, "seconds_fit": seconds_fit,
                 "seconds_eval": time.perf_counter() - start - seconds_fit,
                 # rows cost what the fit's, so a point that reused one reuses its timing too
                 "seconds_rows": trials[-1]["seconds_rows"] if previous is not None else rows_seconds(model)}
        trials.append(trial)
        if callback is not None:
            callback(trial)
        previous = model
    best = max(trials, key=lambda t: t["valid"][config.metric])
    return SearchResult(best=best["hparams"], best_valid=best["valid"], trials=trials)


def rows_seconds(model) -> float:
    """Seconds forming every item's row of fitted ``model``'s S would take (publishing a closed-form model stores
    each item's largest entries: :mod:`graphrec.itemgraph`), from one block of rows formed and topped as the publish
    forms them; 0 for a model scored by its embeddings alone. Fewer rows foretell too little: on Gowalla 128 of BSPM's
    foretold 149 s of the 254 s that every row took (``benchmarks/publish_rows.py``)."""
    from graphrec.itemgraph import BLOCK, SIMILAR_DEFAULT

    if model.dot_product_scores or model.not_servable or model.n_items < 2:  # no rows, or never published
        return 0.0
    items = torch.arange(min(BLOCK, model.n_items))
    start = time.perf_counter()
    with torch.no_grad():
        model.item_rows(items).topk(min(SIMILAR_DEFAULT, model.n_items - 1), dim=1)
    return (time.perf_counter() - start) * model.n_items / items.numel()


def sample_valid_users(data: RecData, n_users: int, seed: int) -> RecData:
    """``data`` whose valid split keeps ``n_users`` validation users drawn with ``seed`` (all when fewer)."""
    if n_users < 1:
        raise ConfigError(f"search: valid_users must be >= 1, got {n_users}")
    users = torch.nonzero(data.valid.counts() > 0).reshape(-1)
    if users.numel() <= n_users:
        return data
    chosen = torch.zeros(data.n_users, dtype=torch.bool)
    chosen[users[torch.randperm(users.numel(), generator=torch.Generator().manual_seed(seed))[:n_users]]] = True
    return valid_of_users(data, chosen)


def valid_of_users(data: RecData, users: torch.Tensor) -> RecData:
    """``data`` whose valid split keeps the users where the (n_users,) bool mask ``users`` is set."""
    keys = data.valid.keys(data.n_items)
    return replace(data, valid=UserItems.from_keys(keys[users[keys // data.n_items]], data.n_users, data.n_items))


def valid_ranking(data: RecData, valid_users: int | None, seed: int) -> RecData:
    """What ranks on valid: ``data`` with no test split (it is never read there), its valid split a seeded sample of
    ``valid_users`` users when given."""
    ranked = data if valid_users is None else sample_valid_users(data, valid_users, seed)
    return replace(ranked, test=_empty(data))


def _empty(data: RecData) -> UserItems:
    return UserItems.from_keys(torch.empty(0, dtype=torch.long), data.n_users, data.n_items)
