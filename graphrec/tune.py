"""Budgeted hyper-parameter search on the validation holdout (`graphrec tune`), and the model choice of ``auto``.

The graph is exported once; every trial trains on ``train`` (minus the holdout) through the one training loop
(:func:`graphrec.train.fit`) and is ranked on ``valid`` only, test never looked at. Each model's values come from its
``search_space`` (beside its constructor's defaults, :mod:`graphrec.models.space`) plus the learning rate; the first
trial of every model is its defaults, so a search never ranks below them on the
holdout. Closed-form models walk their small grid (:func:`graphrec.closedfit.search`, fits reused). The best setting
is then refitted on train + valid through :func:`graphrec.workflow.train_run` (a trained model for the trial's best
epoch count, without validation) and tested once.

The budget is wall-clock for the whole command: the export, every trial, the refit, the test and the publishing of
the winner; what each is expected to take, and so what a trial may use, is :mod:`graphrec.tunecost`.

The trials themselves (studies, a trained trial, a closed-form grid, the records) are :mod:`graphrec.trials`.

Why Optuna: its pruners judge a trial on the intermediate values it reports (the validation curve, epoch by epoch),
so a bad setting stops after a few epochs instead of at early stopping; its RDB storage keeps every trial in a SQLite
file in the tune folder, so a killed search is reopened and continued where it stopped; its TPE sampler spends the
budget on promising regions rather than a grid; and it is widely used and maintained. Each trial's sampler is seeded
from (seed, number of finished trials), so a search resumed after a kill proposes what an uninterrupted one would.

``auto`` (:func:`candidates`): the graph filters and the baselines (popularity, EASE^R where its dense inverse fits the
budget: :func:`closed_grid`, LinkProp, ItemKNN) first, in ``CLOSED_ORDER``, then the trained models the graph can feed
(social models only with social ties, KG models only with KG facts; the others are named with the reason), one trial at
their defaults each and the rest of the budget on the model leading on the holdout. The winner
(:func:`graphrec.choice.choose`) is the best on the holdout, so it never loses there to a baseline or the best graph
filter; a tie goes to the cheaper model. Where the holdout was drawn at random, "the holdout" of the closed-form models
is several (:mod:`graphrec.choice` says why, and how they are re-checked); a stored valid split too small to decide is
drawn again at random (:func:`search_holdout`). Every candidate can be published and served from the graph
(:mod:`graphrec.publish`); a model that could not (``not_servable``) is left out and named with the reason.

Last, auto mixes its best trained trial and iALS's best point with its closed-form leaders
(:mod:`graphrec.automix`); a mix best on the first holdout is served like any winner.
"""

from __future__ import annotations

import inspect
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from graphrec.automix import MIX_FILE, keep_trained, mix_reserve, mix_search, reserved_bases
from graphrec.choice import RECHECK_FILE, choose, leaders, recheck
from graphrec.closedfit import valid_ranking
from graphrec.errors import ConfigError, GraphrecError
from graphrec.models import model_class
from graphrec.recdata import RecData
from graphrec.sidegraphs import SideGraphs
from graphrec.train import TrainConfig
from graphrec.trials import (PLOT_FILE, TRIALS_FILE, finished, open_study, retried_count, run_trial,
                             search_closed, trial_rows, write_records)
from graphrec.tunecost import (Budget, PublishCost, budget_margin, entry_seconds, full_fit, refit_estimate,
                               test_estimate, test_scale)

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
    holdouts: int | None = None  # the closed-form leaders are ranked on this many holdouts in all
    # (:func:`graphrec.choice.recheck`); None: RANDOM_HOLDOUTS where the holdout was drawn at random, else 1
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


@dataclass
class SearchOutcome:
    rows: list[dict]
    winner: dict | None
    skipped: dict[str, str]  # model -> why auto did not try it (the graph lacks what it reads)
    not_reached: list[str]  # models the budget ran out before
    order: list[str]
    test_scale: float = 1.0  # test users per validation user ranked (test_estimate)
    rechecks: list = None  # the closed-form leaders ranked on more holdouts (recheck)
    publish: PublishCost = field(default_factory=PublishCost)  # what publishing a winner costs (knowing the users
    # each trial ranked, which its rows' estimate scales)


def winner_publish(cost: PublishCost, row: dict | None, rows: list[dict]) -> float:
    """Seconds publishing the winner ``row`` (a trial, or a mix through its base) is expected to take."""
    name = row["model"] if row else None
    return cost.seconds(name, rows, row["params"]["base"] if name == "mix" else None)


def search(folder: Path, data: RecData, side: SideGraphs, model: str, config: TrainConfig, tune: TuneConfig,
           budget: Budget, export_seconds: float = 0.0, models: list[str] | None = None,
           log: Callable[[str], None] = lambda text: None, publish: PublishCost = PublishCost(),
           random_holdout: bool = True) -> SearchOutcome:
    """Search ``model`` (or ``auto``'s candidates) on ``data``'s holdout, every trial in ``folder``'s studies;
    returns the trials and the winner. ``export_seconds``: what the refit's export will take, kept free with the
    winner's test and its publishing (``publish``). ``random_holdout``: the valid split was drawn at random, so the
    closed-form leaders are re-checked on more random draws (:func:`graphrec.choice.recheck`) unless ``tune.holdouts``
    says otherwise."""
    if data.valid.nnz == 0:
        raise ConfigError("tune: the data has no valid split, and hyper-parameters must not be chosen on test")
    folder.mkdir(parents=True, exist_ok=True)
    ranked = valid_ranking(data, tune.valid_users, config.seed)
    scale = test_scale(data, ranked)
    publish = replace(publish, ranked_users=int((ranked.valid.counts() > 0).sum()))  # its rows' estimate scales these
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

    mixes: list[dict] = []  # auto's mixes ranked so far (graphrec.automix): iALS's once the grids are done

    def rows() -> list[dict]:
        return trial_rows(studies) + mixes

    def room(share: float | None, name: str, base: str | None = None) -> float:
        """Wall seconds the next trial (of model ``name``; a mix of closed-form ``base``) may take: what is left once
        the refit, test and publish of the best so far are kept free, and no more than leaves room for this trial's
        own should it win. A trained trial of auto also leaves room for the mix after the last one
        (:func:`graphrec.automix.mix_reserve`)."""
        left = budget.left() - margin
        ranked_rows = rows()
        best = full_fit(choose(ranked_rows, order, checks), ranked_rows)
        best_publish = winner_publish(publish, best, ranked_rows)
        keep = refit_estimate(best, export_seconds, scale) + best_publish
        if name == "mix":  # mix_search asks for its mixes' own refit beside their rankings; a mix publishes more
            return left - keep - max(0.0, publish.seconds("mix", ranked_rows, base) - best_publish)
        if model == "auto":  # a trial keeps room for the mixes of the parts there are (mix_reserve), and for the
            # publish of the dearest of them beyond the best's: on Gowalla a mix of BSPM publishes its rows (223 s)
            # where SGFCF's took 27 s, and the grids had used that time before the mixes came
            reserve = mix_reserve(ranked_rows, order, checks, trained=name in trained)
            if reserve:
                bases = reserved_bases(ranked_rows, order, checks, trained=name in trained)
                keep += reserve + max([0.0] + [publish.seconds("mix", ranked_rows, b["model"]) - best_publish
                                               for b in bases])
        own = export_seconds + publish.seconds(name, ranked_rows)
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

    def mix_room(name: str, base: str | None = None) -> float:
        return room(None, name, base)

    if model == "auto":  # iALS's mixes before the trained trials, which would otherwise spend the time they need
        mixes = mix_search(folder, ranked, rows(), order, checks, config, mix_room, log, trained=False)
        write_records(folder, rows(), config.metric)
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
    if model == "auto":  # the trained part's mixes (those of iALS ranked above are read back, not ranked again)
        later = mix_search(folder, ranked, rows(), order, checks, config, mix_room, log)
        mixes = list({r["number"]: r for r in mixes + later}.values())
    final, order = rows(), order + (["mix"] if mixes else [])
    write_records(folder, final, config.metric)
    return SearchOutcome(final, choose(final, order, checks), skipped, not_reached, order, scale, checks, publish)


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
    (:func:`graphrec.workflow.train_run`), all inside ``tune.budget_seconds``. ``study``: continue the search of that
    name (its folder under ``runs_dir``); None starts a new one. The run folder gets the trials' records.
    ``started(study, folder)`` is told where the search keeps its trials before the first one starts. ``since``: the
    ``clock()`` reading the budget counts from (the command's start, so connecting to the graph counts too).
    ``publish(run)``: publishes the refitted run, inside the budget (the search keeps its time free:
    :class:`graphrec.tunecost.PublishCost`, whose timing file it updates)."""
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
    cost = outcome.publish
    left = budget.left() - export_seconds - test_estimate(winner, outcome.test_scale) - \
        winner_publish(cost, winner, outcome.rows) - budget_margin(budget)
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
        expected, start = winner_publish(cost, winner, outcome.rows), clock()
        published = publish(run)
        publish_seconds = clock() - start
        timed = getattr(published, "seconds", {})
        cost.record(runs_dir, timed)
        parts = ", ".join(f"{v:.1f}s {k.replace('_', '–')}" for k, v in timed.items())
        log(f"published in {publish_seconds:.1f}s{f' ({parts})' if parts else ''}; {expected:.0f}s were kept "
            "free for it")
    return TuneResult(study, folder, outcome, run, result, clock() - budget.start, published, publish_seconds)
