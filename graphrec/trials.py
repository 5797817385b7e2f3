"""One search's trials (:mod:`graphrec.tune`): each model's Optuna study in a SQLite file, a trained trial through
the one training loop, a closed-form model's grid, and the records (``trials.jsonl``, ``trials.svg``).

A model's study proposes from its ``search_space`` (:mod:`graphrec.models.space`) and, for a trained model, the
learning rate (``LR_SPACE``); its first trial is the model's defaults. A trained trial reports its best validation so far
after every epoch and is pruned by the study's median pruner, ends between epochs when the next one would run past its
time share, and inside one (at the next step) once past it. Each trial's sampler is seeded from (seed, model, finished
trials), so a search resumed after a kill proposes what an uninterrupted one would.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch

from graphrec.errors import GraphrecError
from graphrec.models import build, model_class
from graphrec.models.space import Range
from graphrec.recdata import RecData
from graphrec.sidegraphs import SideGraphs
from graphrec.train import TrainConfig, fit

STUDY_FILE = "study.db"
TRIALS_FILE = "trials.jsonl"
PLOT_FILE = "trials.svg"
LR_SPACE = {"lr": Range(1e-4, 1e-2, log=True)}  # the training loop's part of every trained model's space


def space_of(name: str) -> dict:
    cls = model_class(name)
    return dict(cls.search_space) if cls.closed_form else {**LR_SPACE, **getattr(cls, "search_space", {})}


def open_study(folder: Path, name: str, seed: int, startup_trials: int = 2, warmup_epochs: int = 5):
    """Model ``name``'s study in ``folder``'s SQLite file, created or reopened. A trial a killed search left running
    is marked failed and its setting queued again. The median pruner judges a trial once ``startup_trials`` finished,
    from epoch ``warmup_epochs`` on."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the trials table says what Optuna's INFO lines would
    study = optuna.create_study(storage=f"sqlite:///{folder / STUDY_FILE}", study_name=name, direction="maximize",
                                load_if_exists=True, sampler=sampler(seed, name, 0),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=startup_trials,
                                                                   n_warmup_steps=warmup_epochs))
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"retried": trial.number})
    if not study.trials and not model_class(name).closed_form:
        study.enqueue_trial(defaults(name))
    return study


def defaults(name: str) -> dict:
    import inspect

    params = inspect.signature(model_class(name).__init__).parameters
    values = {key: params[key].default for key in space_of(name) if key in params}
    return {"lr": TrainConfig.lr, **values} if "lr" in space_of(name) else values


def sampler(seed: int, name: str, finished: int):
    """TPE seeded from (seed, model, finished trials): the same proposals whether or not the search was resumed."""
    import zlib

    import optuna

    return optuna.samplers.TPESampler(seed=(seed * 1_000_003 + zlib.crc32(name.encode()) + finished) % 2**32,
                                      n_startup_trials=4)


def suggest(trial, space: dict) -> dict:
    values = {}
    for key, spec in space.items():
        if isinstance(spec, Range):
            values[key] = trial.suggest_float(key, spec.low, spec.high, log=spec.log)
        else:
            values[key] = trial.suggest_categorical(key, tuple(spec))
    return values


class _OutOfTime(Exception):
    """Raised from the epoch callback when the next epoch would end past the trial's deadline."""


def _stop_steps_after(model, deadline: float) -> None:
    """Make ``model``'s training steps raise :class:`_OutOfTime` past ``deadline``: an epoch can outlast a trial's
    share on its own (a slow model's first one, before its time is known), and the loop checks between epochs only."""
    loss = model.loss

    def timed_loss(batch):
        if time.monotonic() > deadline:
            raise _OutOfTime()
        return loss(batch)

    model.loss = timed_loss


def finished(study) -> int:
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


def run_trial(study, name: str, data: RecData, side: SideGraphs, config: TrainConfig, seed: int,
              seconds: float | None, log: Callable[[str], None] = lambda text: None,
              keep: Callable | None = None):
    """One trained trial of model ``name`` (on ``data`` with its test split emptied), reported epoch by epoch to
    the study and pruned there; ends by ``seconds`` of wall clock. Returns the finished trial. ``keep(trial,
    (user, item))``: told a finished (complete) trial's embeddings at its best epoch (auto mixes the best one with a
    graph filter: :func:`graphrec.automix.mix_search`)."""
    import optuna

    study.sampler = sampler(seed, name, finished(study))
    trial = study.ask()
    values = suggest(trial, space_of(name))
    hparams = {k: v for k, v in values.items() if k != "lr"}
    train_config = replace(config, lr=values.get("lr", config.lr), progress=False, budget_seconds=seconds)
    start = time.monotonic()
    deadline = start + seconds if seconds is not None else float("inf")
    curve, best = [], {"epoch": 0, "valid": {}, "value": float("-inf"), "epoch_seconds": 0.0}

    def watch(record: dict) -> None:
        value = record["valid"][config.metric]
        curve.append(value)
        if value > best["value"]:
            best.update(epoch=record["epoch"], valid=record["valid"], value=value)
            if keep is not None and model.dot_product_scores:
                best["embeddings"] = embeddings_of(model)
        now = time.monotonic()
        best["epoch_seconds"] = max(best["epoch_seconds"], record["seconds"] + record.get("eval_seconds", 0.0))
        trial.report(best["value"], record["epoch"])
        if trial.should_prune():
            raise optuna.TrialPruned()
        if now + 1.1 * best["epoch_seconds"] > deadline:
            raise _OutOfTime()

    state, note = optuna.trial.TrialState.COMPLETE, ""
    try:
        model = build(name, data.n_users, data.n_items, graph=torch.stack(data.train.pairs()), seed=config.seed,
                      side=side, **hparams)
        if seconds is not None:
            _stop_steps_after(model, deadline)
        fit(model, data, train_config, callback=watch)
    except optuna.TrialPruned:
        state, note = optuna.trial.TrialState.PRUNED, "pruned"
    except _OutOfTime:
        note = "time"
    except GraphrecError as exc:  # a setting the model refuses: recorded, the search goes on
        state, note = optuna.trial.TrialState.FAIL, str(exc)
    if not curve and state == optuna.trial.TrialState.COMPLETE:
        state, note = optuna.trial.TrialState.FAIL, "no epoch ended within its time share" if note == "time" else \
            "no epoch validated"
    attrs = {"best_epoch": best["epoch"], "epochs": len(curve), "seconds": time.monotonic() - start,
             "epoch_seconds": best["epoch_seconds"], "valid": best["valid"], "curve": curve, "stopped": note}
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    frozen = study.tell(trial, best["value"] if state == optuna.trial.TrialState.COMPLETE else None, state=state)
    log(trial_line(name, frozen))
    if keep is not None and state == optuna.trial.TrialState.COMPLETE and "embeddings" in best:
        keep(name, frozen, best["embeddings"])
    return frozen


def embeddings_of(model) -> tuple[torch.Tensor, torch.Tensor]:
    """A trained model's (user, item) embeddings now, copied to the CPU (its scores are their dot products)."""
    was = model.training
    model.eval()
    with torch.no_grad():
        user, item = model()
    model.train(was)
    return user.detach().cpu().clone(), item.detach().cpu().clone()


def search_closed(study, name: str, data: RecData, config: TrainConfig,
                  log: Callable[[str], None] = lambda text: None, grid: dict | None = None,
                  proceed: Callable[[list[dict]], bool] | None = None) -> None:
    """Model ``name``'s grid (``grid``, or its whole search space: :func:`graphrec.closedfit.search`), each point
    added to its study as a trial as soon as it is ranked; ``proceed`` may end the grid early (a time budget)."""
    import optuna

    from graphrec.closedfit import grid_points, search

    space = space_of(name)

    def record(point: dict) -> None:
        params = {k: point["hparams"][k] for k in space}
        frozen = study.add_trial(optuna.trial.create_trial(
            params=params, value=point["valid"][config.metric],
            distributions={k: optuna.distributions.CategoricalDistribution(tuple(space[k])) for k in space},
            user_attrs={"best_epoch": 0, "epochs": 0, "seconds": point["seconds_fit"] + point["seconds_eval"],
                        "fit_seconds": point["seconds_fit"], "rows_seconds": point.get("seconds_rows", 0.0),
                        "valid": point["valid"], "curve": [], "stopped": ""}))
        log(trial_line(name, study.trials[-1] if frozen is None else frozen))

    try:
        result = search(name, data, grid, config=replace(config, progress=False), callback=record, proceed=proceed)
    except GraphrecError as exc:  # a graph the model cannot fit (e.g. fewer users than its rank): recorded, skipped
        study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs={
            "best_epoch": 0, "epochs": 0, "seconds": 0.0, "valid": {}, "curve": [], "stopped": str(exc)}))
        log(trial_line(name, study.trials[-1]))
        return
    left = len(grid_points(name, grid)) - len(result.trials)
    if left:
        log(f"{name}: {left} of its grid's {left + len(result.trials)} points left out, for want of time")


def trial_line(name: str, trial) -> str:
    attrs = trial.user_attrs
    value = "-" if trial.value is None else f"{trial.value:.4f}"
    if attrs.get("curve") and trial.value is None:
        value = f"{max(attrs['curve']):.4f}"
    params = setting_text(trial.params)
    epochs = f"{attrs.get('epochs', 0)} epochs (best {attrs.get('best_epoch', 0)}), " if attrs.get("epochs") else ""
    stopped = {"pruned": ", pruned", "time": ", stopped at its time share", "": ""}.get(attrs.get("stopped", ""),
                                                                                        f", failed: {attrs.get('stopped')}")
    return f"trial {name} #{trial.number}: valid {value}  {epochs}{attrs.get('seconds', 0):.1f}s{stopped}  ({params})"


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def setting_text(params: dict) -> str:
    """``k=v, ...`` with floats to 3 significant digits: a trial's setting as the logs and tables print it."""
    return ", ".join(f"{k}={_short(v)}" for k, v in params.items())


def trial_rows(studies: dict) -> list[dict]:
    """Every trial of every study, in the order they started: one JSON-able row each (``trials.jsonl``)."""
    rows = []
    for name, study in studies.items():
        for t in study.get_trials(deepcopy=False):
            if t.state.name == "WAITING":  # queued (the defaults, a setting a kill cut short), not run yet
                continue
            value = t.value if t.value is not None else (max(t.user_attrs["curve"]) if t.user_attrs.get("curve")
                                                         else None)
            rows.append({"model": name, "number": t.number, "state": t.state.name.lower(), "value": value,
                         "params": t.params, "started": t.datetime_start.isoformat() if t.datetime_start else "",
                         **{k: v for k, v in t.user_attrs.items() if k != "retried"}})
    return sorted(rows, key=lambda r: r["started"])


def write_records(folder: Path, rows: list[dict], metric: str) -> None:
    """``trials.jsonl`` and ``trials.svg`` (the validation metric per trial, in the order run)."""
    with open(folder / TRIALS_FILE, "w") as fh:
        fh.writelines(json.dumps(row, default=str) + "\n" for row in rows)
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4))
    FigureCanvasSVG(fig)
    ax = fig.subplots()
    for name in dict.fromkeys(r["model"] for r in rows):
        for state, marker in (("complete", "o"), ("pruned", "x")):
            points = [(i, r["value"]) for i, r in enumerate(rows) if r["model"] == name and r["state"] == state
                      and r["value"] is not None]
            if points:
                ax.plot(*zip(*points), marker, label=name if state == "complete" else f"{name} (pruned)")
    ax.set(xlabel="trial (in the order run)", ylabel=f"valid {metric}", title=f"Validation {metric} per trial")
    if rows:
        ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    fig.savefig(folder / PLOT_FILE, format="svg")


def retried_count(study) -> int:
    """Trials a kill cut short (failed, then queued again): not counted against ``max_trials``."""
    return sum(1 for t in study.get_trials(deepcopy=False) if t.state.name == "FAIL" and
               any(u.user_attrs.get("retried") == t.number for u in study.get_trials(deepcopy=False)))
