"""Budgeted hyper-parameter search on the validation holdout (`graphrec tune`), and the model choice of ``auto``.

The graph is exported once; every trial trains on ``train`` (minus the holdout) through the one training loop
(:func:`graphrec.train.fit`) and is ranked on ``valid`` only, test never looked at. Each model's values come from its
``search_space`` (beside its constructor's defaults, :mod:`graphrec.models.space`) plus the learning rate; the first
trial of every model is its defaults, so a search never ranks below them on the
holdout. Closed-form models walk their small grid (:func:`graphrec.closedfit.search`, fits reused). The best setting
is then refitted on train + valid through :func:`graphrec.workflow.train_run` (a trained model for the trial's best
epoch count, without validation) and tested once.

The budget is wall-clock for the whole command: the export, every trial, the refit, the test and the publishing of
the winner (:class:`PublishCost`: its embeddings and vector index, or its item–item rows, estimated from the graph's
size or from the last publish timed in the same home). A trial is started only while what is left can hold it and
the refit, test and publish of the best setting so far (or of this trial, should it win); a trained trial ends early
when the next epoch would run past its share, or when the pruner stops it; the refit's training stops where its test
and publish still fit.

The trials themselves (studies, a trained trial, a closed-form grid, the records) are :mod:`graphrec.trials`.

Why Optuna: its pruners judge a trial on the intermediate values it reports (the validation curve, epoch by epoch),
so a bad setting stops after a few epochs instead of at early stopping; its RDB storage keeps every trial in a SQLite
file in the tune folder, so a killed search is reopened and continued where it stopped; its TPE sampler spends the
budget on promising regions rather than a grid; and it is widely used and maintained. Each trial's sampler is seeded
from (seed, number of finished trials), so a search resumed after a kill proposes what an uninterrupted one would.

``auto`` (:func:`candidates`): the graph filters and the baselines (popularity, EASE^R where its dense inverse fits
the budget: :func:`closed_grid`, LinkProp, ItemKNN) first, in ``CLOSED_ORDER``, then the trained
models the graph can feed (social models only with social ties, KG models only with KG facts; the others are named
with the reason), one trial at their defaults each and the rest of the budget on the model leading on the holdout.
The winner (:func:`choose`) is the best on the holdout, so it never loses there to a baseline or the best graph
filter; a tie goes to the cheaper model. Where the holdout was drawn at random, "the holdout" of the closed-form
models is several:

One random holdout is a noisy judge between closed-form points a few thousandths apart: on FilmTrust (1,642 users)
the holdout put EASE^R first (0.8290) and SGFCF's best point second (0.8276); on four more random holdouts of the
same size SGFCF's two best points led on average (0.8291 and 0.8289 against 0.8236) and on test (0.8492 and 0.8482
against 0.8361; ``benchmarks/holdout_noise.py``, BENCHMARKS.md). So the
closed-form leaders (``TuneConfig.leaders``, the best points on the first holdout) are ranked again on
``holdouts - 1`` more (:func:`recheck`: train and valid pooled, each user's same share drawn again at random), and the
closed-form point served is the best on the mean of those re-checks (:func:`choose`). The first holdout chose the
leaders, so it is left out of the mean: a model with a larger grid has more chances to be lucky there. A trained
model is served only where it beats every closed-form point on the first holdout, the one every trial ranked on.
Re-checks are kept in ``rechecks.jsonl`` (a resumed search skips those done), use at most a quarter of the budget
left when they start, and stop where it could no longer hold the refit of the best so far. Where the holdout was not
drawn at random (a stored valid split, or one by time), random re-draws would judge another task: one holdout decides
unless ``holdouts`` is given. A stored valid split too small to decide is redrawn at random instead
(:func:`search_holdout`). Every candidate can be published and served from the graph
(:mod:`graphrec.publish`); a model that could not (``not_servable``) is left out and named with the reason.

Last (:func:`mix_search`), auto ranks :class:`graphrec.models.hybrid.FilterMix` of each part, its best finished
trained trial (the embeddings at its best epoch, kept as the trials run: :func:`keep_trained`) and iALS at its best
point, with each of its closed-form leaders (:func:`mix_bases`) at each weight of the mix's grid on the first holdout;
a mix best there is served like any winner, and the trials keep room for the mixes (:func:`mix_reserve`). On
DiffNet-Yelp BSPM and MHCN tested 0.0396 and 0.0441 Recall@20 alone and 0.0471 mixed; auto's mixes tested 0.0445
there (BSPM + XSimGCL) and 0.3030 on Last.fm (SGFCF + SEPT, against 0.2914 for SEPT alone; BENCHMARKS.md): a filter
and a trained model err on different items. iALS is such a part fitted in seconds: on Gowalla BSPM with it tested
0.1975 against 0.1928 alone (scratch, 8,000 users; the mix the holdout put first), where the holdout's best filter,
SGFCF, tested 0.1855, and 0.1892 with it.
"""

from __future__ import annotations

import inspect
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from graphrec.closedfit import valid_ranking
from graphrec.errors import ConfigError, GraphrecError
from graphrec.models import model_class
from graphrec.recdata import RecData, holdout
from graphrec.sidegraphs import SideGraphs
from graphrec.train import TrainConfig
from graphrec.trials import (PLOT_FILE, TRIALS_FILE, finished, open_study, retried_count, run_trial,
                             search_closed, setting_text, trial_rows, write_records)

BASELINES = ("popularity", "itemknn", "linkprop", "ease", "ials")
# EASE^R inverts a dense m x m matrix per grid point, ~m³ work: m³ / EASE_RATE seconds a point is what auto expects
# (16,384 items took 171 s at 2 threads on a loaded machine, 2.6e10 a second: BENCHMARKS.md). Auto fits its whole
# grid where that takes at most a sixth of the budget (half an hour without one), its default point alone where that
# fits, and leaves it out otherwise.
EASE_RATE = 2e10
HOLDOUT_CHOICES = ("auto", "stored", "random")
SMALL_HOLDOUT = 0.5  # a stored valid split smaller than this share of the holdout a search would carve is redrawn
RANDOM_HOLDOUTS = 3  # holdouts in all where the first was drawn at random (TuneConfig.holdouts None)
RECHECK_SHARE = 0.25  # of the budget left when the re-checks start: the most they may use
FILTERS = ("gfcf", "bspm", "chebycf", "sgfcf", "turbocf")
# The order auto fits them in: the cheap grids and the models that led on the shared datasets first (SGFCF led the
# Gowalla and Yelp2018 holdouts, EASE^R ML-1M's and ML-100K's), ItemKNN last: it led on none, and on a large catalogue
# its grid costs the most (BENCHMARKS.md: under load on Gowalla, ItemKNN and LinkProp first left no time for BSPM or
# ChebyCF; with SGFCF after ChebyCF, 30 minutes at load 3 did not reach it).
# iALS after the filters: it is a part of the mixes too (mix_search), and its points are dear on a large catalogue.
CLOSED_ORDER = ("popularity", "turbocf", "sgfcf", "gfcf", "bspm", "ials", "chebycf", "ease", "linkprop", "itemknn")
# A closed-form grid stops where it would pass this fraction of the budget (1 / GRID_SHARE; its defaults come first:
# graphrec.closedfit.grid_points): on Gowalla ChebyCF's nine points took 8.3 of 30 minutes and left the trained
# trials 15 s.
GRID_SHARE = 6
# Trained models in the order auto tries them at their defaults: strong and cheap first (BENCHMARKS.md), those that
# read a social graph or a KG where the graph has one, the slow or seldom-better ones last.
TRAINED = ("lightgcn", "xsimgcl", "mhcn", "diffnet", "sept", "kgat", "unigcl", "simgcl", "mf", "directau",
           "ultragcn", "lightgcl", "sgl", "ncl", "ngcf")


@dataclass(frozen=True)
class TuneConfig:
    """``budget_seconds``: wall clock for the whole search, refit and test. ``trial_seconds``: the most one trained
    trial may take (default: a share of the budget). ``max_trials``: at most this many trials per model (tests and
    small searches; the budget is the usual bound). The pruner stops a trial whose best validation so far is below
    the median of earlier trials at the same epoch, after ``warmup_epochs`` and once ``startup_trials`` finished.
    ``valid_users``: every trial, closed-form or trained, ranks the same seeded sample of at most this many validation
    users (None: all of them); on Gowalla's 29,858 a LinkProp point took 2 minutes to rank, so a grid ate the budget."""

    budget_seconds: float | None = None
    trial_seconds: float | None = None
    max_trials: int | None = None
    valid_users: int | None = 5_000
    startup_trials: int = 2
    warmup_epochs: int = 5
    min_trial_seconds: float = 10.0
    holdouts: int | None = None  # the closed-form leaders are ranked on this many holdouts in all (:func:`recheck`);
    # None: RANDOM_HOLDOUTS where the holdout was drawn at random, else 1
    leaders: int = 6  # how many closed-form points, the best on the first holdout, are ranked again
    holdout: str = "auto"  # the holdout searched on where the graph stores a valid split (:func:`search_holdout`):
    # auto (the stored one unless too small to decide), stored, or random

    def __post_init__(self):
        for name in ("budget_seconds", "trial_seconds"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"TuneConfig.{name} must be > 0, got {value}")
        if self.budget_seconds is None and self.max_trials is None:
            raise ConfigError("TuneConfig: give budget_seconds or max_trials, or the search never ends")
        if self.max_trials is not None and self.max_trials < 1:
            raise ConfigError(f"TuneConfig.max_trials must be >= 1, got {self.max_trials}")
        for name in ("holdouts", "leaders"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"TuneConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.holdout not in HOLDOUT_CHOICES:
            raise ConfigError(f"TuneConfig.holdout must be one of {', '.join(HOLDOUT_CHOICES)}, got {self.holdout!r}")
        if self.valid_users is not None and self.valid_users < 1:
            raise ConfigError(f"TuneConfig.valid_users must be >= 1 (None: every validation user), got "
                              f"{self.valid_users}")


class Budget:
    """Wall-clock seconds left of ``seconds`` (None: no limit) since ``start`` (a ``clock()`` reading; default: now)."""

    def __init__(self, seconds: float | None, clock: Callable[[], float] = time.monotonic,
                 start: float | None = None):
        self.seconds, self.clock, self.start = seconds, clock, clock() if start is None else start

    def left(self) -> float:
        return float("inf") if self.seconds is None else self.seconds - (self.clock() - self.start)


def entry_seconds(rows: list[dict], least: float) -> float:
    """Room a closed-form model's first grid point needs: as much as the dearest closed-form point so far (at least
    ``least``). On Gowalla ChebyCF's first point took 68 s where 10 s were asked for, and the mixes after it were
    left out."""
    return max([least] + [r["seconds"] for r in rows if r["state"] == "complete" and not r.get("epochs")])


def budget_margin(budget: Budget) -> float:
    """Seconds of the budget kept free for what no estimate covers (writing records, closing the graph)."""
    return 0.0 if budget.seconds is None else max(5.0, 0.03 * budget.seconds)


def closed_grid(name: str, n_items: int, budget_seconds: float | None) -> tuple[dict | None, str | None]:
    """(grid, why it is left out) of closed-form ``name`` for auto on a catalogue of ``n_items`` within
    ``budget_seconds``: grid None is the model's whole search space, a dict a smaller grid."""
    if name != "ease":
        return None, None
    cls = model_class(name)
    point = n_items ** 3 / EASE_RATE
    share = (budget_seconds if budget_seconds is not None else 3 * 3600) / 6
    if point * len(cls.search_space["reg"]) <= share:
        return None, None
    if point <= share:
        return {"reg": (inspect.signature(cls).parameters["reg"].default,)}, None
    return None, (f"its dense {n_items:,} x {n_items:,} inverse would take ~{point / 60:.0f} min, more than a sixth "
                  "of the budget")


def candidates(side: SideGraphs, models: list[str] | None = None,
               budget_seconds: float | None = None) -> tuple[list[str], list[str], dict[str, str]]:
    """(closed-form, trained, skipped with the reason) for auto: ``models`` restricts the trained ones;
    ``budget_seconds`` leaves out a closed-form model whose one fit would take too much of it (:func:`closed_grid`)."""
    skipped: dict[str, str] = {}
    trained = []
    closed = []
    for name in CLOSED_ORDER:  # every one is served from the graph today; one that is not is never chosen
        slow = closed_grid(name, side.n_items, budget_seconds)[1]
        if model_class(name).not_servable:
            skipped[name] = f"it cannot be served: {model_class(name).not_servable}"
        elif slow:
            skipped[name] = slow
        else:
            closed.append(name)
    for name in (models if models is not None else TRAINED):
        cls = model_class(name)
        if cls.closed_form:
            continue
        if cls.not_servable:
            skipped[name] = f"it cannot be served: {cls.not_servable}"
        elif "social" in cls.needs_side and not side.has_social:
            skipped[name] = "the graph has no social ties (FOLLOWS)"
        elif "kg" in cls.needs_side and not side.has_kg:
            skipped[name] = "the graph has no knowledge-graph facts"
        elif name == "unigcl" and not (side.has_social or side.has_kg):
            skipped[name] = "the graph has neither social ties nor KG facts (it would be XSimGCL)"
        else:
            trained.append(name)
    return closed, trained, skipped


def choose(rows: list[dict], order: list[str], rechecks: list[dict] = ()) -> dict | None:
    """The finished (not pruned, not failed) trial best on the holdout; a tie goes to the model earlier in ``order``
    (cheaper first: baselines, filters, then trained models), so a trained model is served only where it beats
    every baseline and filter on the holdout. With ``rechecks`` (:func:`recheck`) of two or more closed-form points,
    the first holdout's best among them, a closed-form winner is the re-checked point best on the mean of the
    re-checks all of them have (the row returned carries ``holdouts_mean`` and ``holdouts``, the re-check holdouts
    that mean is over)."""
    done = [r for r in rows if r["state"] == "complete" and r["value"] is not None]
    if not done:
        return None

    def rank(row: dict, value: float) -> tuple:
        return value, -order.index(row["model"]) if row["model"] in order else -len(order)

    best = max(done, key=lambda r: rank(r, r["value"]))
    means, count = holdout_means(done, rechecks)
    if len(means) < 2 or point_key(best) not in means or not model_class(best["model"]).closed_form:
        return best  # a trained winner, or the first holdout's best not re-checked (the budget stopped before it)
    pick = max((r for r in done if point_key(r) in means), key=lambda r: rank(r, means[point_key(r)]))
    return {**pick, "holdouts_mean": means[point_key(pick)], "holdouts": count}


def point_key(row: dict) -> tuple[str, str]:
    """(model, its settings as sorted JSON): a grid point, the same in a trial row and in its re-checks."""
    return row["model"], json.dumps(row["params"], sort_keys=True)


def holdout_means(rows: list[dict], rechecks: list[dict]) -> tuple[dict, int]:
    """({(model, params): mean re-check}, how many holdouts it is over) for the closed-form ``rows`` re-checked: the
    mean of each one's re-checks on the holdouts every re-checked point was ranked on (a search the budget stopped
    half way through a holdout compares its points on the ones they share). The first holdout, which chose them, is
    left out."""
    if not rechecks:
        return {}, 0
    values: dict[tuple, dict[int, float]] = {}
    for r in rechecks:
        values.setdefault(point_key(r), {})[r["holdout"]] = r["value"]
    closed = {point_key(r) for r in rows if model_class(r["model"]).closed_form}
    values = {k: v for k, v in values.items() if k in closed}
    shared = set.intersection(*(set(v) for v in values.values())) if values else set()
    if not shared:
        return {}, 0
    return {k: sum(v[h] for h in shared) / len(shared) for k, v in values.items()}, len(shared)


RECHECK_FILE = "rechecks.jsonl"


def leaders(rows: list[dict], n: int) -> list[dict]:
    """The ``n`` finished closed-form trials best on the first holdout (ties in the order run); mixes are not."""
    closed = [r for r in rows if r["state"] == "complete" and r["value"] is not None
              and model_class(r["model"]).closed_form and r["model"] != "mix"]
    return sorted(closed, key=lambda r: -r["value"])[:n]


def holdout_fold(data: RecData, fold: int, seed: int) -> RecData:
    """Re-check holdout ``fold`` (1, 2, ...): ``data``'s train and valid pooled, the same share of each user's
    interactions drawn again as valid at random with seed ``seed + fold``; test untouched (never ranked)."""
    pooled = data.without_valid()
    fraction = data.valid.nnz / max(1, data.train.nnz + data.valid.nnz)
    train, valid = holdout(pooled.train, fraction, seed + fold, n_items=data.n_items)
    return replace(pooled, train=train, valid=valid)


def read_rechecks(folder: Path) -> list[dict]:
    """The re-checks kept in ``folder``; a line a kill cut short is left out (that re-check runs again)."""
    return read_lines(folder / RECHECK_FILE)


def recheck(folder: Path, data: RecData, rows: list[dict], config: TrainConfig, holdouts: int, n_leaders: int,
            room: Callable[[str], float], log: Callable[[str], None] = lambda text: None,
            done: list[dict] | None = None, valid_users: int | None = None) -> list[dict]:
    """Rank the closed-form leaders (:func:`leaders`, ``n_leaders`` of them) again on holdouts 1 .. ``holdouts`` - 1
    (:func:`holdout_fold`), a holdout at a time, each point refitted on that holdout's train and ranked on a seeded
    sample of ``valid_users`` of its validation users; a point is started only while ``room(model)`` seconds can hold
    its fit and ranking (its first-holdout trial's, the fit in full). Every re-check is appended to ``done`` (read
    from ``rechecks.jsonl`` when None) and to the file as it ends, so a budget reading ``done`` meanwhile keeps the
    current winner's refit free; those a resumed search finds there are not run again; a point that fails on a
    re-drawn holdout is logged and left out. Returns ``done``."""
    from graphrec.closedfit import search as grid_search

    if done is None:
        done = []
    done[:] = read_rechecks(folder)
    lead = leaders(rows, n_leaders)
    if holdouts < 2 or len(lead) < 2:
        return done
    have = {(*point_key(r), r["holdout"]) for r in done}
    for fold in range(1, holdouts):
        fold_data = None
        for row in lead:
            if (*point_key(row), fold) in have:
                continue
            full = full_fit(row, rows)
            needed = full["fit_seconds"] + max(0.0, row["seconds"] - row.get("fit_seconds", 0.0))
            if room(row["model"]) < needed:
                log(f"re-checks stopped at holdout {fold + 1} of {holdouts}, for want of time")
                return done
            if fold_data is None:
                fold_data = holdout_fold(data, fold, config.seed)
            params = setting_text(row["params"])
            try:
                trial = grid_search(row["model"], fold_data, grid={k: (v,) for k, v in row["params"].items()},
                                    config=replace(config, progress=False), valid_users=valid_users).trials[0]
            except GraphrecError as exc:
                log(f"re-check {row['model']} on holdout {fold + 1} of {holdouts} failed, left out: {exc}  ({params})")
                continue
            record = {"model": row["model"], "params": row["params"], "holdout": fold,
                      "value": trial["valid"][config.metric], "valid": trial["valid"],
                      "seconds": trial["seconds_fit"] + trial["seconds_eval"]}
            append_line(folder / RECHECK_FILE, record, done)
            log(f"re-check {row['model']} on holdout {fold + 1} of {holdouts}: valid {record['value']:.4f} "
                f"(first holdout {row['value']:.4f})  {record['seconds']:.1f}s  ({params})")
    return done


MIX_FILE = "mixes.jsonl"  # the mix of the best trained trial and the closed-form choice, one line per weight
TRAINED_FILE = "trained-best.pt"  # the best finished trained trial's embeddings at its best epoch


def keep_trained(folder: Path) -> Callable:
    """``run_trial``'s ``keep``: the embeddings of the finished trained trial best on the holdout so far, in
    ``TRAINED_FILE`` (written whole or not at all, so a killed search resumes with the last one kept)."""
    import torch

    def keep(name: str, trial, embeddings) -> None:
        path = folder / TRAINED_FILE
        if path.is_file() and torch.load(path, weights_only=True)["value"] >= trial.value:
            return
        partial = path.with_suffix(".partial")
        torch.save({"model": name, "number": trial.number, "value": trial.value,
                    "user": embeddings[0], "item": embeddings[1]}, partial)
        partial.replace(path)

    return keep


MIX_BASES = 3  # closed-form models (each at its best point) auto mixes each part with


def mix_bases(rows: list[dict], order: list[str], rechecks: list[dict]) -> list[dict]:
    """The closed-form points :func:`mix_search` mixes its parts with: the closed-form choice (:func:`choose`), then
    the best point of each other closed-form model on the first holdout, ``MIX_BASES`` models in all. More than the
    choice: on Gowalla the holdout's best filter, SGFCF, mixed with iALS lost to BSPM mixed with it, on the holdout
    (0.2152 against 0.2187 on 8,000 users of a 20% random one) and on test.txt (0.1892 against 0.1977)."""
    closed = [r for r in rows if model_class(r["model"]).closed_form and r["model"] != "mix"]
    first = choose(closed, order, rechecks)
    if first is None:
        return []
    bases = [first]
    for row in leaders(closed, len(closed)):
        if len(bases) == MIX_BASES:
            break
        if all(row["model"] != b["model"] for b in bases):
            bases.append(row)
    return bases


def best_ials(rows: list[dict]) -> dict | None:
    """iALS's point best on the first holdout: the part fitted in closed form that auto mixes with its bases."""
    done = [r for r in rows if r["model"] == "ials" and r["state"] == "complete" and r["value"] is not None]
    return max(done, key=lambda r: r["value"], default=None)


def mix_parts(folder: Path, rows: list[dict], config: TrainConfig) -> list[dict]:
    """The second parts :func:`mix_search` tries: the best finished trained trial (its embeddings at its best epoch,
    kept by :func:`keep_trained`) and iALS's best point (fitted again on the holdout's train when a mix needs it).
    Each: ``model``, ``label``, ``trained_hp``, ``trained_config``, ``embeddings`` (None until fitted), ``value`` and
    ``fit_seconds`` (on the holdout; None: it has its embeddings) and ``refit_seconds`` (what the mix's refit spends on
    it)."""
    import torch

    parts = []
    path = folder / TRAINED_FILE
    kept = torch.load(path, weights_only=True) if path.is_file() else None
    trial = kept and next((r for r in rows if r["model"] == kept["model"] and r["number"] == kept["number"]
                           and r["state"] == "complete"), None)
    if trial:
        parts.append({"model": trial["model"], "label": f"{trial['model']} #{trial['number']}",
                      "trained_hp": {k: v for k, v in trial["params"].items() if k != "lr"},
                      "trained_config": {"epochs": max(1, trial["best_epoch"]),
                                         "lr": trial["params"].get("lr", config.lr), "batch_size": config.batch_size,
                                         "seed": config.seed, "sampler": config.sampler},
                      "embeddings": (kept["user"], kept["item"]), "value": trial["value"], "fit_seconds": None,
                      # the refit trains the part to its best epoch again (on train + valid)
                      "refit_seconds": trial["seconds"] / max(1, trial["epochs"]) * max(1, trial["best_epoch"])})
    ials = best_ials(rows)
    if ials is not None:
        fit = full_fit(ials, rows)["fit_seconds"]
        parts.append({"model": "ials", "label": f"ials #{ials['number']}", "trained_hp": dict(ials["params"]),
                      "trained_config": None, "embeddings": None, "value": ials["value"], "fit_seconds": fit,
                      "refit_seconds": fit})
    return parts


def mix_search(folder: Path, data: RecData, rows: list[dict], order: list[str], rechecks: list[dict],
               config: TrainConfig, room: Callable[[str], float],
               log: Callable[[str], None] = lambda text: None) -> list[dict]:
    """Rank :class:`graphrec.models.hybrid.FilterMix` of each part (:func:`mix_parts`: the best finished trained
    trial, iALS's best point) with each closed-form base (:func:`mix_bases`: the closed-form choice first) at each
    weight of the mix's grid on the holdout ``data`` (the trials' ranked holdout). A base is fitted again on the
    holdout's train (its trial's fit), iALS once for all bases; a base is started only while ``room("mix")`` holds
    its fit, iALS's if still to come, its rankings and its part's refit. Returns one row per (base, part,
    weight), as :func:`graphrec.trials.trial_rows` gives trials (``params``: the parts and the weight, ``hparams``:
    the mix's constructor arguments for the refit), each appended to ``mixes.jsonl`` as it ends; a resumed search
    reads them back and ranks only those left (a part or base that changed since is mixed anew)."""
    import datetime

    import torch

    from graphrec.closedfit import grid_points
    from graphrec.models import build
    from graphrec.models.hybrid import FilterMix
    from graphrec.trainedmix import weighted_valid

    parts, before, done = mix_parts(folder, rows, config), read_lines(folder / MIX_FILE), []
    graph = torch.stack(data.train.pairs())
    for base_row in mix_bases(rows, order, rechecks) if parts else []:
        base_hp, todo = dict(base_row["params"]), []
        for part in parts:
            if part["model"] == base_row["model"]:
                continue
            label = {"base": base_row["model"], "trained": part["label"]}
            ranked = [d for d in before if {k: d["params"][k] for k in label} == label
                      and d["hparams"]["base_hp"] == base_hp and d["hparams"]["trained_hp"] == part["trained_hp"]]
            done.extend(ranked)
            weights = [p["weight"] for p in grid_points("mix")
                       if not any(d["hparams"]["weight"] == p["weight"] for d in ranked)]
            if weights:
                todo.append((part, label, weights))
        if not todo:
            continue
        full = full_fit(base_row, rows)
        needed = full["fit_seconds"] + sum(mix_ranking_seconds(base_row, len(w)) for _, _, w in todo) + \
            sum(p["fit_seconds"] for p, _, _ in todo if p["embeddings"] is None) + \
            1.3 * max(p["refit_seconds"] for p, _, _ in todo)  # its part's refit beside the base's, should it win
        if room("mix") < needed:
            for _, label, _ in todo:
                log(f"mix of {label['trained']} and {label['base']}: left out, for want of time")
            continue
        with torch.no_grad():
            base = build(base_row["model"], data.n_users, data.n_items, graph=graph, seed=config.seed,
                         **base_hp).fit()
        for part, label, weights in todo:
            if part["embeddings"] is None:  # iALS, fitted once for every base
                with torch.no_grad():
                    part["embeddings"] = tuple(t.detach() for t in build(
                        part["model"], data.n_users, data.n_items, graph=graph, seed=config.seed,
                        **part["trained_hp"]).fit()())
            start = time.perf_counter()
            mix = FilterMix(data.n_users, data.n_items, graph, base=base_row["model"], base_hp=base_hp,
                            trained=part["model"], trained_hp=part["trained_hp"],
                            trained_config=part["trained_config"], weight=weights[0])
            with torch.no_grad():  # every weight ranked from one scoring of each part
                valid_at = weighted_valid(*mix.use_parts(base, part["embeddings"]).fit().scaled_parts(), data,
                                          weights, config, normalise="none")
            # a row's fit is what the mix's refit fits (its base in full and its part), and its seconds that and
            # the ranking of every weight (one scoring of each part): the budget estimates its refit and test by them
            fit = full["fit_seconds"] + part["refit_seconds"]
            seconds = fit + time.perf_counter() - start
            for weight in weights:
                valid = valid_at[weight]
                row = {"model": "mix", "number": len(read_lines(folder / MIX_FILE)), "state": "complete",
                       "value": valid[config.metric], "params": {**label, "weight": weight},
                       "hparams": {**mix.hparams(), "weight": weight}, "started": datetime.datetime.now().isoformat(),
                       "best_epoch": 0, "epochs": 0, "seconds": seconds, "fit_seconds": fit, "valid": valid,
                       "curve": [], "stopped": ""}
                append_line(folder / MIX_FILE, row, done)
                log(f"mix of {label['trained']} and {label['base']} at weight {weight:g}: valid {row['value']:.4f} "
                    f"(the parts alone {part['value']:.4f} and {base_row['value']:.4f})")
    return done


def append_line(path: Path, record: dict, done: list[dict]) -> None:
    """``record`` appended to ``path`` as a JSON line as soon as it exists (a kill loses at most the one running),
    and to ``done``."""
    with open(path, "a") as fh:
        fh.write(json.dumps(record, default=str) + "\n")
    done.append(record)


def mix_reserve(rows: list[dict], order: list[str], rechecks: list[dict], trained: bool = True) -> float:
    """Wall seconds :func:`mix_search` is expected to take, should it find a mix the winner too: each base's fit
    (:func:`mix_bases`) and its ranking at every weight with each part, iALS's fit (on the holdout, then in the
    refit), and the trained part's training again to its best epoch (a mix's refit costs that on top of a closed-form
    one's). ``trained``: asked for a trained trial, so a trained part is to come, and only the closed-form choice's
    mixes are kept free (with every base, on DiffNet-Yelp at a quarter of a core, the reserve left the trained
    models no trial at all). 0 before a base and a part exist."""
    from graphrec.closedfit import grid_points

    bases, ials = mix_bases(rows, order, rechecks), best_ials(rows)
    bases = bases[:1] if trained else bases
    weights, seconds = len(grid_points("mix")), 0.0
    for base in bases:
        parts = int(trained) + (ials is not None and base["model"] != "ials")
        if parts:
            seconds += 1.3 * full_fit(base, rows)["fit_seconds"] + parts * mix_ranking_seconds(base, weights)
    if not seconds:
        return 0.0
    if ials is not None:
        seconds += 2.3 * full_fit(ials, rows)["fit_seconds"]
    done = [r for r in rows if r.get("epochs") and r["state"] == "complete" and r["value"] is not None]
    part = max(done, key=lambda r: r["value"], default=None)
    if trained and part is not None:
        seconds += 1.25 * part["seconds"] / part["epochs"] * max(1, part["best_epoch"])
    return seconds


def mix_ranking_seconds(base: dict, weights: int) -> float:
    """Seconds to rank a part's mixes with ``base`` at ``weights`` weights on the holdout: each part scored once (the
    base's own ranking, its trial's time beyond its fit, and half again for the other part), then a ranking of the
    scores per weight (a fifth of the base's each)."""
    ranking = max(0.0, base["seconds"] - base.get("fit_seconds", 0.0))
    return 1.5 * ranking + 0.2 * weights * ranking


def read_lines(path: Path) -> list[dict]:
    """The JSON lines of ``path`` (none if absent); a line a kill cut short is left out."""
    done = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            done.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return done


PUBLISH_FILE = "publish-timing.json"  # in the runs folder: the last publish timed in this home, per kind


@dataclass
class PublishCost:
    """Wall seconds publishing a winner will take on a graph of ``n_users`` x ``n_items``: a trained model writes
    one embedding per user and item and builds a vector index; a closed-form one writes ``similar`` item–item rows per
    item. Without a publish timed in this home (``measured``: kind -> (size, seconds), :meth:`load`), slow rates (a
    loaded 2-core machine writing over Bolt) and a fixed part; with one, its rate and a quarter on top. No sizes (no
    publish): nothing is kept free."""

    n_users: int = 0
    n_items: int = 0
    similar: int = 100
    measured: dict | None = None
    FIXED = 10.0  # the run node, switching the served run, creating the vector index and waiting for it
    RATE = {"embeddings": 2_000.0, "item_item": 5_000.0}  # nodes or relationships written per second

    MIX = 3.0  # a mix's publish against a filter's, until one is timed: on Gowalla BSPM + iALS took ~8 minutes
    # (embeddings of both parts, the base's item rows), SGFCF 3

    @staticmethod
    def kind(name: str | None) -> str:
        if name == "mix":
            return "mix"
        return "item_item" if name is not None and model_class(name).closed_form else "embeddings"

    def size(self, kind: str) -> int:
        return self.n_users + self.n_items if kind == "embeddings" else self.n_items * self.similar

    def seconds(self, name: str | None) -> float:
        """For a winner of model ``name`` (None: a trained one)."""
        if not self.n_users + self.n_items:
            return 0.0
        kind = self.kind(name)
        if self.measured and kind in self.measured:
            size, seconds = self.measured[kind]
            return 1.25 * seconds * max(1.0, self.size(kind) / max(1, size))
        if kind == "mix":
            return self.MIX * self.seconds("itemknn")
        return self.FIXED + self.size(kind) / self.RATE[kind]

    @classmethod
    def load(cls, runs_dir, **sizes) -> "PublishCost":
        path = Path(runs_dir) / PUBLISH_FILE
        measured = json.loads(path.read_text()) if path.is_file() else None
        return cls(**sizes, measured=measured)

    def record(self, runs_dir, name: str, seconds: float) -> None:
        """Keep the wall ``seconds`` a publish of a ``name`` run took, for the next search in this home."""
        path = Path(runs_dir) / PUBLISH_FILE
        measured = json.loads(path.read_text()) if path.is_file() else {}
        measured[self.kind(name)] = [self.size(self.kind(name)), seconds]
        path.write_text(json.dumps(measured))


def test_estimate(row: dict | None, scale: float = 1.0) -> float:
    """Wall seconds the refitted model's test is expected to take: two validations' (a trained trial's epoch, which
    includes its validation, twice; a closed-form trial's validation, its seconds less its fit, which the refit
    counts once), times ``scale``, the test users per validation user the trials ranked (a sample of 5,000 of
    Gowalla's 29,858: a test six times a validation). Counting the fit six times too kept 270 s too many free for
    an SGFCF winner on Gowalla (a 92.9 s trial, 44.7 s of it the fit), and the grid stopped after its first point."""
    if row is None:
        return 0.0
    if not row.get("epochs"):
        return scale * max(0.0, row.get("seconds", 0.0) - row.get("fit_seconds", 0.0))
    return 2 * scale * row["seconds"] / row["epochs"]


def test_scale(data: RecData, ranked: RecData) -> float:
    """Test users per validation user ranked (at least 1): what a trial's validation time is multiplied by."""
    ranked_users = int((ranked.valid.counts() > 0).sum())
    return max(1.0, int((data.test.counts() > 0).sum()) / max(1, ranked_users))


def refit_estimate(row: dict | None, export_seconds: float, scale: float = 1.0) -> float:
    """Wall seconds a refit of ``row``'s setting on train + valid and its test are expected to take: the export
    again, the trial's training up to its best epoch a quarter longer (valid is added to train), and the test."""
    if row is None:
        return export_seconds
    if not row.get("epochs"):  # closed form: fitted again (a third longer), then tested
        return export_seconds + 1.3 * row.get("fit_seconds", row.get("seconds", 0.0)) + test_estimate(row, scale)
    per_epoch = row["seconds"] / row["epochs"]
    return export_seconds + 1.25 * per_epoch * row["best_epoch"] + test_estimate(row, scale)


def full_fit(row: dict | None, rows: list[dict]) -> dict | None:
    """``row`` with its model's dearest fit: a closed-form grid point that reused an earlier point's fit (SGFCF's
    gamma, a hybrid's weight) records a fit of ~0 s, but its refit fits in full."""
    if row is None or row.get("epochs"):
        return row
    return {**row, "fit_seconds": max(r.get("fit_seconds", 0.0) for r in rows if r["model"] == row["model"])}


@dataclass
class SearchOutcome:
    rows: list[dict]
    winner: dict | None
    skipped: dict[str, str]  # model -> why auto did not try it (the graph lacks what it reads)
    not_reached: list[str]  # models the budget ran out before
    order: list[str]
    test_scale: float = 1.0  # test users per validation user ranked (test_estimate)
    rechecks: list = None  # the closed-form leaders ranked on more holdouts (recheck)


def search(folder: Path, data: RecData, side: SideGraphs, model: str, config: TrainConfig, tune: TuneConfig,
           budget: Budget, export_seconds: float = 0.0, models: list[str] | None = None,
           log: Callable[[str], None] = lambda text: None, publish: PublishCost = PublishCost(),
           random_holdout: bool = True) -> SearchOutcome:
    """Search ``model`` (or ``auto``'s candidates) on ``data``'s holdout, every trial in ``folder``'s studies;
    returns the trials and the winner. ``export_seconds``: what the refit's export will take, kept free with the
    winner's test and its publishing (``publish``). ``random_holdout``: the valid split was drawn at random, so the
    closed-form leaders are re-checked on more random draws (:func:`recheck`) unless ``tune.holdouts`` says
    otherwise."""
    if data.valid.nnz == 0:
        raise ConfigError("tune: the data has no valid split, and hyper-parameters must not be chosen on test")
    folder.mkdir(parents=True, exist_ok=True)
    ranked = valid_ranking(data, tune.valid_users, config.seed)
    scale = test_scale(data, ranked)
    if ranked.valid.nnz < data.valid.nnz:
        users = int((data.valid.counts() > 0).sum())
        log(f"every trial ranks the same {tune.valid_users:,} of the {users:,} validation users (seed {config.seed})")
    if model == "auto":
        closed, trained, skipped = candidates(side, models, budget.seconds)
    else:
        cls = model_class(model)
        closed, trained, skipped = ([model], [], {}) if cls.closed_form else ([], [model], {})
    order, studies, not_reached = closed + trained, {}, []
    checks: list[dict] = []  # the closed-form leaders ranked again (recheck), once the closed-form grids are done
    margin = budget_margin(budget)

    def rows() -> list[dict]:
        return trial_rows(studies)

    def room(share: float | None, name: str) -> float:
        """Wall seconds the next trial (of model ``name``) may take: what is left once the refit, test and publish
        of the best so far are kept free, and no more than leaves room for this trial's own should it win. A
        trained trial of auto also leaves room for the mix after the last one (:func:`mix_reserve`)."""
        left = budget.left() - margin
        ranked_rows = rows()
        best = full_fit(choose(ranked_rows, order, checks), ranked_rows)
        keep = refit_estimate(best, export_seconds, scale) + publish.seconds(best["model"] if best else None)
        if name == "mix":  # mix_search asks for its mixes' own refit beside their rankings; a mix publishes more
            return left - keep - max(0.0, publish.seconds("mix") - publish.seconds(best["model"] if best else None))
        if model == "auto":  # a trial keeps room for the mixes of the parts there are (mix_reserve)
            keep += mix_reserve(ranked_rows, order, checks, trained=name in trained)
        own = export_seconds + publish.seconds(name)
        return min(share if share is not None else float("inf"), left - keep, (left - own) / 2.25)

    grid_share = None if budget.seconds is None else budget.seconds / GRID_SHARE
    for name in closed:
        studies[name] = open_study(folder, name, config.seed, tune.startup_trials, tune.warmup_epochs)
        if finished(studies[name]):
            continue  # searched before the search was interrupted
        if room(None, name) < entry_seconds(rows(), tune.min_trial_seconds):
            not_reached.append(name)
            continue
        grid = closed_grid(name, data.n_items, budget.seconds)[0]

        def proceed(done: list[dict], name: str = name, started: float = budget.left()) -> bool:
            dearest = max(t["seconds_fit"] + t["seconds_eval"] for t in done)  # the next point costs at most that
            within_share = budget.seconds is None or started - budget.left() + dearest <= grid_share
            return room(None, name) >= dearest and within_share

        search_closed(studies[name], name, ranked, config, log, grid=grid, proceed=proceed)
        write_records(folder, rows(), config.metric)
    holdouts = tune.holdouts if tune.holdouts is not None else RANDOM_HOLDOUTS if random_holdout else 1
    if holdouts > 1:
        until = budget.left() * (1 - RECHECK_SHARE)  # they end where the budget left falls below this

        def recheck_room(name: str) -> float:
            return room(None, name) if budget.seconds is None else min(room(None, name), budget.left() - until)

        recheck(folder, data, rows(), config, holdouts, tune.leaders, recheck_room, log, done=checks,
                valid_users=tune.valid_users)
    elif tune.holdouts is None and len(leaders(rows(), 2)) > 1:
        log("one holdout decides: the valid split was not drawn at random, so random re-draws would judge another "
            "task (--holdouts N to re-check the closed-form leaders anyway)")

    for name in trained:
        studies[name] = open_study(folder, name, config.seed, tune.startup_trials, tune.warmup_epochs)
    keep = keep_trained(folder) if model == "auto" else None
    share = tune.trial_seconds
    if share is None and budget.seconds is not None and trained:
        share = (budget.left() - margin) / (min(len(trained) + 2, 6) if model == "auto" else 4)

    def needed(name: str) -> float:
        per_epoch = max((r.get("epoch_seconds", 0.0) for r in rows() if r["model"] == name), default=0.0)
        return max(tune.min_trial_seconds, 5 * per_epoch)

    def count(name: str) -> int:
        return len(studies[name].get_trials(deepcopy=False)) - retried_count(studies[name])

    for name in trained:  # each at its defaults first (the queued first trial)
        if finished(studies[name]):
            continue
        seconds = room(share, name)
        if seconds < needed(name):
            not_reached.append(name)
            continue
        run_trial(studies[name], name, ranked, side, config, config.seed,
                  None if seconds == float("inf") else seconds, log, keep)
        write_records(folder, rows(), config.metric)

    while True:  # the rest on the model leading on the holdout
        open_models = [n for n in trained if n not in not_reached and (tune.max_trials is None
                                                                       or count(n) < tune.max_trials)]
        best = {n: max((r["value"] for r in rows() if r["model"] == n and r["state"] == "complete"
                        and r["value"] is not None), default=None) for n in open_models}
        ranked_models = sorted((n for n in open_models if best[n] is not None), key=lambda n: -best[n])
        if not ranked_models:
            break
        lead = ranked_models[0]
        seconds = room(share, lead)
        if seconds < needed(lead):
            break
        run_trial(studies[lead], lead, ranked, side, config, config.seed,
                  None if seconds == float("inf") else seconds, log, keep)
        write_records(folder, rows(), config.metric)
    mixes = mix_search(folder, ranked, rows(), order, checks, config, lambda name: room(None, name), log) \
        if model == "auto" else []
    final, order = rows() + mixes, order + (["mix"] if mixes else [])
    write_records(folder, final, config.metric)
    return SearchOutcome(final, choose(final, order, checks), skipped, not_reached, order, scale, checks)


SETTINGS_FILE = "tune.json"  # what the search was started with: a resume must search the same thing


@dataclass
class TuneResult:
    study: str
    folder: Path
    outcome: SearchOutcome
    run: object  # the refitted, tested run (graphrec.runs.Run)
    result: object  # its graphrec.train.TrainResult
    seconds: float  # the whole command's, publishing included
    published: object = None  # what ``publish(run)`` returned (None: not published)
    publish_seconds: float = 0.0


def search_holdout(data: RecData, origin: str, data_config, choice: str = "auto",
                   log: Callable[[str], None] = lambda text: None) -> tuple[RecData, str]:
    """The data a search ranks on and where its valid split came from. Where the graph stores a valid split
    (``origin`` "the split's own"), ``choice`` "stored" keeps it, "random" pools it into train and carves
    ``data_config.valid_fraction`` of each user's interactions at random again, and "auto" does so only where the
    stored split holds fewer than ``SMALL_HOLDOUT`` times the interactions that carving would hold: too few to tell
    the candidates apart. DiffNet-Yelp stores 3,497 valid interactions (2,402 users) beside 18,579 test ones; on them
    LinkProp + iALS led MHCN at its defaults (0.0407 against 0.0386 Recall@20), and on test trailed it (0.0392
    against 0.0441). A random holdout is not the task a split by time sets, so a run says which it searched on."""
    if origin != "the split's own" or choice == "stored":
        return data, origin
    pooled = data.without_valid()
    carved = data_config.valid_fraction * pooled.train.nnz
    if choice == "auto" and data.valid.nnz >= SMALL_HOLDOUT * carved:
        return data, origin
    origin = f"random {data_config.valid_fraction:g} of each user's train and stored valid, seed {data_config.seed}"
    why = "--holdout random" if choice == "random" else (
        f"the stored valid split holds {data.valid.nnz:,} interactions, fewer than {SMALL_HOLDOUT:g} x the "
        f"{carved:,.0f} a random holdout holds: too few to tell the candidates apart (--holdout stored keeps it)")
    log(f"searching on a {origin}: {why}")
    return pooled.with_holdout(data_config.valid_fraction, seed=data_config.seed), origin


def tune_run(graph, runs_dir, model: str, config: TrainConfig, data_config, tune: TuneConfig,
             study: str | None = None, models: list[str] | None = None, progress=None,
             log: Callable[[str], None] = lambda text: None, callback=None,
             started: Callable[[str, Path], None] | None = None, since: float | None = None,
             publish: Callable | None = None, clock: Callable[[], float] = time.monotonic) -> TuneResult:
    """Export once, search on the holdout (:func:`search`), refit the winner on train + valid and test it once
    (:func:`graphrec.workflow.train_run`), all inside ``tune.budget_seconds``. ``study``: continue the search of
    that name (its folder under ``runs_dir``); None starts a new one. The run folder gets the trials' records.
    ``started(study, folder)`` is told where the search keeps its trials before the first one starts. ``since``: the
    ``clock()`` reading the budget counts from (the command's start, so connecting to the graph counts too).
    ``publish(run)``: publishes the refitted run, inside the budget (the search keeps its time free: :class:`PublishCost`,
    whose timing file it updates)."""
    from graphrec.progress import silent
    from graphrec.runs import RUN_ID, new_run_id
    from graphrec.workflow import load_data, train_run, valid_origin

    budget = Budget(tune.budget_seconds, clock=clock, start=since)
    if model != "auto":
        model_class(model)
    settings = {"model": model, "models": models, "metric": config.metric, "seed": config.seed,
                "valid_users": tune.valid_users, "holdouts": tune.holdouts, "leaders": tune.leaders,
                "holdout": tune.holdout,
                "data_config": json.loads(json.dumps(data_config.__dict__, default=list))}
    if study is None:
        study = new_run_id(f"tune-{model}")
    elif not RUN_ID.match(study) or not (Path(runs_dir) / study / SETTINGS_FILE).is_file():
        raise GraphrecError(f"no search {study!r} to resume in {runs_dir} (its folder holds {SETTINGS_FILE})")
    folder = Path(runs_dir) / study
    saved = folder / SETTINGS_FILE
    if saved.is_file():  # a search saved before re-checks (or the holdout choice) lacks those keys: today's are its
        before = {"holdouts": tune.holdouts, "leaders": tune.leaders, "holdout": tune.holdout,
                  **json.loads(saved.read_text())}
        if before != settings:
            changed = ", ".join(f"{k} {before.get(k)!r} -> {v!r}" for k, v in settings.items() if before.get(k) != v)
            raise ConfigError(f"cannot resume search {study} with other settings ({changed}); give the ones it "
                              "started with, or start a new search")
    folder.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(settings))
    if started is not None:
        started(study, folder)
    start = clock()
    data, _, hetero = load_data(graph, data_config, progress or silent)
    export_seconds = clock() - start
    side = SideGraphs.from_hetero(hetero)
    cost = PublishCost.load(runs_dir, n_users=data.n_users, n_items=data.n_items) if publish else PublishCost()
    data, origin = search_holdout(data, valid_origin(hetero, data_config), data_config, tune.holdout, log)
    random_holdout = origin.startswith("random") or (origin == "the split's own" and
                                                     str(getattr(hetero, "split_origin", "")).startswith("random"))
    outcome = search(folder, data, side, model, config, tune, budget, export_seconds, models, log, cost,
                     random_holdout=random_holdout)
    winner = outcome.winner
    if winner is None:
        raise GraphrecError(f"search {study}: no trial finished within the budget (see {folder / TRIALS_FILE}); "
                            "give more --budget-minutes, or continue it with --resume")
    name = winner["model"]
    hparams = dict(winner.get("hparams") or {k: v for k, v in winner["params"].items() if k != "lr"})
    # the refit's training ends where its export, test and publish still fit (and the margin the search kept)
    left = budget.left() - export_seconds - test_estimate(winner, outcome.test_scale) - cost.seconds(name) - \
        budget_margin(budget)
    if name == "mix" and hparams["trained_config"] is None:  # a part fitted in closed form (iALS)
        log(f"refitting the mix on train + valid: {hparams['trained']}, then {hparams['base']}, weight "
            f"{hparams['weight']:g}")
    elif name == "mix":  # its trained part trains again on train + valid, within what its base's fit leaves
        part = hparams["trained_config"]
        base_fit = max((r.get("fit_seconds", 0.0) for r in outcome.rows if r["model"] == hparams["base"]),
                       default=0.0)
        if left != float("inf"):
            hparams["trained_config"] = {**part, "budget_seconds": max(1.0, left - 1.3 * base_fit)}
        log(f"refitting the mix on train + valid: {hparams['trained']} for {part['epochs']} epochs, then "
            f"{hparams['base']}, weight {hparams['weight']:g}")
    if model_class(name).closed_form:
        refit = replace(config, progress=False)
    else:
        refit = replace(config, lr=winner["params"].get("lr", config.lr), epochs=max(1, winner["best_epoch"]),
                        eval_every=0, patience=None, min_epochs=0,
                        budget_seconds=max(1.0, left) if left != float("inf") else None)
    run, result = train_run(graph, runs_dir, name, hparams, refit, replace(data_config, validation=False),
                            progress=progress or silent, callback=callback,
                            invocation={"tune": study, "model": name, "hparams": hparams})
    for file in (TRIALS_FILE, PLOT_FILE, RECHECK_FILE, MIX_FILE):
        if (folder / file).is_file():
            (run.path / file).write_bytes((folder / file).read_bytes())
    run.meta["metrics"]["valid"] = winner["valid"]
    run.meta["valid_origin"] = origin  # the search's holdout, not the refit's (none)
    run.meta["tune"] = {"study": study, "trials": len(outcome.rows), "chosen": {"model": name,
                        "params": winner["params"], "trial": winner["number"], "best_epoch": winner["best_epoch"],
                        "rechecked_holdouts": winner.get("holdouts", 0), "rechecks_mean": winner.get("holdouts_mean")},
                        "skipped": outcome.skipped, "not_reached": outcome.not_reached,
                        "budget_seconds": tune.budget_seconds}
    (run.path / "run.json").write_text(json.dumps(run.meta, indent=2, default=str))
    published, publish_seconds = None, 0.0
    if publish is not None:
        expected, start = cost.seconds(name), clock()
        published = publish(run)
        publish_seconds = clock() - start
        cost.record(runs_dir, name, publish_seconds)
        log(f"published in {publish_seconds:.1f}s ({expected:.0f}s were kept free for it)")
    return TuneResult(study, folder, outcome, run, result, clock() - budget.start, published, publish_seconds)
