"""A graph filter mixed with a trained model from a saved run (issue 31): the mix's weight chosen on the holdout, the
refitted mix tested once.

A run trained with ``graphrec train --refit`` keeps two models (:func:`graphrec.train.holdout_then_refit`): the
holdout model, trained on train minus the validation holdout, in ``RUN/holdout/best.pt``, and the refit model, trained
on all of train, as the run's embeddings. They are the trained part of the two halves of the protocol:

1. :func:`choose_weight`: the filter fitted on train minus the holdout and the holdout model's scores
   (:func:`holdout_part`), each alone and their :class:`graphrec.models.hybrid.Hybrid` at each weight ranked on valid
   only, the best weight chosen;
2. :func:`refit_and_test`: the filter refitted on all of train and the refit model's scores (:func:`refit_part`),
   mixed at that weight, tested once.

A run whose data is not the caller's is refused: other split settings (seed, fraction), other sizes, a holdout model
whose recorded validation the caller's valid split does not reproduce (another holdout function, other data or order),
a refit trained on other interactions. The trained part costs its training (minutes to hours), on top of the filter's
fit.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import Tensor

from graphrec.closedfit import valid_of_users, valid_ranking
from graphrec.errors import ConfigError
from graphrec.evaluate import evaluate
from graphrec.models import build, load_model, model_name
from graphrec.models.closed import ClosedFormRecommender
from graphrec.models.hybrid import Hybrid, TrainedScores, standardise
from graphrec.recdata import RecData
from graphrec.runs import Run
from graphrec.train import HOLDOUT_DIR, TrainConfig
from graphrec.workflow import DATA_CONFIG

RECORDED_TOLERANCE = 1e-5  # the holdout model's valid Recall, recomputed here, against the run's own record


@dataclass
class TrainedPart:
    """One of a refitted run's trained models as its (user, item) embeddings: the holdout model (trained on train
    minus valid; ``valid``: its validation as recomputed here) or the refit model (trained on all of train)."""

    run_id: str
    model: str
    embeddings: tuple[Tensor, Tensor]
    valid: dict | None = None

    @property
    def label(self) -> str:
        return f"{self.model} {self.run_id}"


def holdout_part(run_dir: str | Path, data: RecData, fraction: float, seed: int,
                 metric: str = "recall@20") -> TrainedPart:
    """The holdout model of the ``--refit`` run in ``run_dir`` (usable as soon as its holdout half is done), checked
    against ``data``: train with the holdout carved by ``RecData.with_holdout(fraction, seed)``, in the run's user and
    item order. Refused: other split settings, other sizes, or a validation the run recorded that this valid split
    does not reproduce (another holdout, other data or another order)."""
    path = Path(run_dir)
    model_file, result_file = path / HOLDOUT_DIR / "best.pt", path / HOLDOUT_DIR / "result.json"
    if not model_file.is_file() or not result_file.is_file():
        raise ConfigError(f"{path}: no finished holdout model ({HOLDOUT_DIR}/best.pt and result.json; train the run "
                          "with `graphrec train --refit` and wait for its holdout half)")
    started = json.loads((path / DATA_CONFIG).read_text()) if (path / DATA_CONFIG).is_file() else {}
    settings = {key: started.get(key) for key in ("valid_fraction", "seed", "validation")}
    if settings != {"valid_fraction": fraction, "seed": seed, "validation": True}:
        raise ConfigError(f"run {path.name} carved its holdout with {settings}, this mix with valid_fraction "
                          f"{fraction}, seed {seed}: not the same split")
    model = load_model(model_file, graph=torch.stack(data.train.pairs())).eval()
    if (model.n_users, model.n_items) != (data.n_users, data.n_items) or not model.dot_product_scores:
        raise ConfigError(f"run {path.name}: its holdout model is for {model.n_users} users x {model.n_items} items"
                          f"{'' if model.dot_product_scores else ', scored by more than its embeddings'}; the data "
                          f"has {data.n_users} x {data.n_items}")
    with torch.no_grad():
        embeddings = tuple(t.detach() for t in model())
    recorded = json.loads(result_file.read_text()).get("best_valid", {})
    cutoffs = sorted({int(name.split("@")[1]) for name in recorded if "@" in name})
    valid = evaluate(embeddings, valid_ranking(data, None, 0), split="valid", ks=cutoffs or (int(metric.split("@")[1]),))
    differ = {name: (value, valid.get(name)) for name, value in recorded.items()
              if valid.get(name) is None or abs(valid[name] - value) > RECORDED_TOLERANCE}
    if metric not in recorded or differ:
        raise ConfigError(f"run {path.name}'s holdout model does not reproduce its recorded validation on this valid "
                          f"split ((recorded, now): {differ or 'no ' + metric}): it was validated on another holdout")
    return TrainedPart(path.name, model_name(model), embeddings, valid)


def refit_part(run_dir: str | Path, data: RecData) -> TrainedPart:
    """The refit model of the ``--refit`` run in ``run_dir`` (its embeddings), checked against ``data``'s train and
    valid together: the same users, items and interactions in the same order."""
    path = Path(run_dir)
    if not (path / "run.json").is_file():
        raise ConfigError(f"{path}: no run.json yet (the run's refit has not finished)")
    run = Run(path, json.loads((path / "run.json").read_text()))
    if "refit" not in run.meta:
        raise ConfigError(f"run {run.id} was not trained with --refit: it has no holdout model trained on the "
                          "training data minus the holdout")
    if run.meta.get("embeddings", "scores") != "scores":
        raise ConfigError(f"run {run.id} ({run.meta['model']}): its embeddings are not its scores")
    trained_on, _ = run.graphs()
    full = data.without_valid().train
    counts = run.meta.get("counts", {})
    if (counts.get("users"), counts.get("items")) != (data.n_users, data.n_items) or \
            not torch.equal(torch.unique(trained_on[0] * data.n_items + trained_on[1]), full.keys(data.n_items)):
        raise ConfigError(f"run {run.id} was trained on other interactions (or in another user/item order) than "
                          "this data's train and valid splits")
    emb = run.embeddings()
    return TrainedPart(run.id, run.meta["model"], (emb["user"], emb["item"]))


@dataclass
class WeightChoice:
    weight: float   # the trained part's share, chosen on valid
    valid: dict     # weight -> valid metrics (0: the filter alone, 1: the trained model alone)
    seconds_fit: float  # the filter's fit on train minus the holdout


def choose_weight(filter_name: str, filter_hp: dict, part: TrainedPart, data: RecData,
                  weights: Sequence[float] = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 1.0), config: TrainConfig = TrainConfig(),
                  valid_users: int | None = None, normalise: str = "zscore",
                  callback: Callable[[float, dict], None] | None = None) -> WeightChoice:
    """The trained part's weight in the :class:`Hybrid` of ``filter_name`` (fitted on ``data.train``) and ``part``
    (the holdout model), ranked on ``data.valid`` only (``valid_users``: a seeded sample, as
    :func:`graphrec.closedfit.search`). ``callback(weight, valid)`` per weight."""
    if data.valid.nnz == 0:
        raise ConfigError("choose_weight: the data has no valid split to choose the weight on")
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    ranked = valid_ranking(data, valid_users, config.seed)
    first, second, seconds = fitted_parts(filter_name, filter_hp, part, data, config.seed)
    valid = weighted_valid(first, second, ranked, weights, config, normalise)
    if callback is not None:
        for weight in weights:
            callback(weight, valid[weight])
    return WeightChoice(max(weights, key=lambda w: valid[w][config.metric]), valid, seconds)


def refit_and_test(filter_name: str, filter_hp: dict, part: TrainedPart, data: RecData, weight: float,
             config: TrainConfig = TrainConfig(), normalise: str = "zscore") -> tuple[dict, float]:
    """The filter refitted on all of train (``data`` with valid folded back), mixed with ``part`` (the refit model)
    at ``weight``, tested once: (test metrics, the filter's fit seconds)."""
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    full = data.without_valid()
    first, second, seconds = fitted_parts(filter_name, filter_hp, part, full, config.seed)
    mix = Hybrid(full.n_users, full.n_items, torch.stack(full.train.pairs()), first=first, second=second,
                 weight=weight, normalise=normalise).fit()
    with torch.no_grad():
        test = evaluate(mix.score, full, split="test", ks=config.ks, batch_users=config.eval_batch_users)
    return test, seconds


def fitted_parts(filter_name: str, filter_hp: dict, part: TrainedPart, data: RecData,
                 seed: int) -> tuple[ClosedFormRecommender, TrainedScores, float]:
    """The filter fitted on ``data.train``, ``part`` as a hybrid's part on the same graph, and the fit's seconds."""
    graph = torch.stack(data.train.pairs())
    start = time.perf_counter()
    with torch.no_grad():
        first = build(filter_name, data.n_users, data.n_items, graph=graph, seed=seed, **filter_hp).fit()
    seconds = time.perf_counter() - start
    return first, TrainedScores(data.n_users, data.n_items, graph, *part.embeddings, label=part.label), seconds


def weighted_valid(first, second, data: RecData, weights: Sequence[float], config: TrainConfig,
                   normalise: str = "zscore", chunk_users: int = 2048) -> dict[float, dict]:
    """Valid metrics of ``(1 − w)·z(first) + w·z(second)`` for every ``w`` in ``weights``, scoring each part once: the
    validation users in chunks, each part's standardised scores of a chunk kept while every weight ranks it, the
    per-user means combined over the chunks by their user counts (exact: Recall and NDCG are means over users)."""
    users = torch.nonzero(data.valid.counts() > 0).reshape(-1)
    sums = {w: {} for w in weights}
    for start in range(0, users.numel(), chunk_users):
        chunk = users[start:start + chunk_users]
        x = first.signal(chunk)
        unseen = x == 0
        parts = [standardise(part.filter(x, chunk), unseen, normalise).t().contiguous() for part in (first, second)]
        del x, unseen
        row = torch.full((data.n_users,), -1, dtype=torch.long)
        row[chunk] = torch.arange(chunk.numel())
        held = valid_of_users(data, row >= 0)
        for w in weights:
            metrics = evaluate(lambda u, w=w: (1 - w) * parts[0][row[u]] + w * parts[1][row[u]], held, split="valid",
                               ks=config.ks, batch_users=config.eval_batch_users)
            for name, value in metrics.items():
                if "@" in name or name == "n_users":
                    sums[w][name] = sums[w].get(name, 0.0) + value * (metrics["n_users"] if "@" in name else 1)
    return {w: {name: (value if name == "n_users" else value / s["n_users"]) for name, value in s.items()}
            for w, s in sums.items()}
