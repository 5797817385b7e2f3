"""Which candidate of a search (:mod:`graphrec.tune`) the holdouts choose: the best on the first holdout, and for
the closed-form leaders the best on the mean of their re-checks on holdouts drawn again.

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
(:func:`graphrec.tune.search_holdout`).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Callable

from graphrec.errors import GraphrecError
from graphrec.models import model_class
from graphrec.recdata import RecData, holdout
from graphrec.train import TrainConfig
from graphrec.trials import setting_text
from graphrec.tunecost import full_fit


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



def append_line(path: Path, record: dict, done: list[dict]) -> None:
    """``record`` appended to ``path`` as a JSON line as soon as it exists (a kill loses at most the one running),
    and to ``done``."""
    with open(path, "a") as fh:
        fh.write(json.dumps(record, default=str) + "\n")
    done.append(record)



def read_lines(path: Path) -> list[dict]:
    """The JSON lines of ``path`` (none if absent); a line a kill cut short is left out."""
    done = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            done.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return done
