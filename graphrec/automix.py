"""Auto's mixes (:mod:`graphrec.tune`): a closed-form base and a second part, each at its best point, blended at each
weight of the mix's grid and ranked on the holdout.

Auto ranks :class:`graphrec.models.hybrid.FilterMix` of each part with each of its closed-form leaders
(:func:`mix_bases`) at each weight of the mix's grid on the first holdout (:func:`mix_search`): iALS at its best point
once the closed-form grids are done, before any trained trial, and the best finished trained trial (the embeddings at
its best epoch, kept as the trials run: :func:`keep_trained`) last. A mix best there is served like any winner, and
the trials keep room for the mixes still to come (:func:`mix_reserve`). On DiffNet-Yelp BSPM and MHCN tested 0.0396
and 0.0441 Recall@20 alone and 0.0471 mixed; auto's mixes tested 0.0445 there (BSPM + XSimGCL) and 0.3030 on Last.fm
(SGFCF + SEPT, against 0.2914 for SEPT alone; BENCHMARKS.md): a filter and a trained model err on different items.
iALS is such a part fitted in seconds: on Gowalla BSPM with it tested 0.1975 against 0.1928 alone (scratch, 8,000
users; the mix the holdout put first), where the holdout's best filter, SGFCF, tested 0.1855, and 0.1892 with it.
Its mixes come before the trained trials because, mixed last, they competed with them for what was left: on Gowalla
a LightGCN trial scoring 0.08 on the holdout took the minutes BSPM's mix with iALS needed (0.1982 on test, against
ChebyCF's 0.1940 alone), and at load 3 that mix was left out.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from graphrec.choice import append_line, choose, leaders, read_lines
from graphrec.models import model_class
from graphrec.recdata import RecData
from graphrec.train import TrainConfig
from graphrec.tunecost import full_fit


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


# a part's refit on train + valid against its trial's training: the reserve and the mixes' own check must agree (at
# 1.25 against 1.3 FilmTrust's trials spent all but the reserve, 110 s, and its one mix needed 112 s: none was ranked)
REFIT = 1.3
MIX_BASES = 3  # closed-form models (each at its best point) auto mixes each part with



def mix_bases(rows: list[dict], order: list[str], rechecks: list[dict]) -> list[dict]:
    """The closed-form points :func:`mix_search` mixes its parts with: the closed-form choice
    (:func:`graphrec.choice.choose`), then the best point of each other closed-form model on the first holdout,
    ``MIX_BASES`` models in all. More than the choice: on Gowalla the holdout's best filter, SGFCF, mixed with iALS lost
    to BSPM mixed with it, on the holdout (0.2152 against 0.2187 on 8,000 users of a 20% random one) and on test.txt
    (0.1892 against 0.1977)."""
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



def mix_parts(folder: Path, rows: list[dict], config: TrainConfig, trained: bool = True) -> list[dict]:
    """The second parts :func:`mix_search` tries: the best finished trained trial (its embeddings at its best epoch,
    kept by :func:`keep_trained`; ``trained`` False: none) and iALS's best point (fitted again on the holdout's train
    when a mix needs it). Each: ``model``, ``label``, ``trained_hp``, ``trained_config``, ``embeddings`` (None until
    fitted), ``value`` and ``fit_seconds`` (on the holdout; None: it has its embeddings) and ``refit_seconds`` (what
    the mix's refit spends on it)."""
    import torch

    parts = []
    path = folder / TRAINED_FILE
    kept = torch.load(path, weights_only=True) if trained and path.is_file() else None
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
               config: TrainConfig, room: Callable[..., float],
               log: Callable[[str], None] = lambda text: None, trained: bool = True) -> list[dict]:
    """Rank :class:`graphrec.models.hybrid.FilterMix` of each part (:func:`mix_parts`: the best finished trained
    trial, iALS's best point) with each closed-form base (:func:`mix_bases`: the closed-form choice first) at each
    weight of the mix's grid on the holdout ``data`` (the trials' ranked holdout). A base is fitted again on the
    holdout's train (its trial's fit), iALS once for all bases; a base is started only while ``room("mix", base)`` holds
    its fit, iALS's if still to come, its rankings and its part's refit. Returns one row per (base, part,
    weight), as :func:`graphrec.trials.trial_rows` gives trials (``params``: the parts and the weight, ``hparams``:
    the mix's constructor arguments for the refit), each appended to ``mixes.jsonl`` as it ends; a resumed search
    reads them back and ranks only those left (a part or base that changed since is mixed anew). ``trained`` False:
    iALS's mixes alone (auto ranks them before its trained trials, and the trained part's last)."""
    import datetime

    import torch

    from graphrec.closedfit import grid_points
    from graphrec.models import build
    from graphrec.models.hybrid import FilterMix
    from graphrec.trainedmix import weighted_valid

    parts, before, done = mix_parts(folder, rows, config, trained), read_lines(folder / MIX_FILE), []
    graph = torch.stack(data.train.pairs())
    for base_row in mix_bases(rows, order, rechecks) if parts else []:
        base_hp, todo = dict(base_row["params"]), []
        for part in sorted(parts, key=lambda p: -p["value"]):  # the best on the holdout first
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
        full = full_fit(base_row, rows)

        def needed(todo: list) -> float:
            return full["fit_seconds"] + sum(mix_ranking_seconds(base_row, len(w)) for _, _, w in todo) + \
                sum(p["fit_seconds"] for p, _, _ in todo if p["embeddings"] is None) + \
                REFIT * max(p["refit_seconds"] for p, _, _ in todo)  # its part's refit beside the base's, should it win

        # where the room cannot hold every part, the weakest is left out first (on Gowalla a LightGCN trial of 0.08,
        # its refit counted beside BSPM's, left out BSPM's mix with iALS, 0.215)
        while todo and room("mix", base_row["model"]) < needed(todo):
            log(f"mix of {todo[-1][1]['trained']} and {todo[-1][1]['base']}: left out, for want of time")
            todo.pop()
        if not todo:
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



def reserved_bases(rows: list[dict], order: list[str], rechecks: list[dict], trained: bool = True) -> list[dict]:
    """The bases whose mixes a trial keeps room for (:func:`mix_reserve`, and their publish): the closed-form choice
    alone when asked for a trained trial (a trained part is to come), every base of :func:`mix_bases` otherwise."""
    bases = mix_bases(rows, order, rechecks)
    return bases[:1] if trained else bases


def mix_reserve(rows: list[dict], order: list[str], rechecks: list[dict], trained: bool = True) -> float:
    """Wall seconds :func:`mix_search` is expected to take, should it find a mix the winner too: each base's fit
    (:func:`mix_bases`) and its ranking at every weight with each part not yet mixed with it (``rows`` holds the
    mixes ranked so far), iALS's fit (on the holdout, then in the refit) where a base still waits for it, and the
    trained part's training again to its best epoch (a mix's refit costs that on top of a closed-form one's).
    ``trained``: asked for a trained trial, so a trained part is to come, and only the closed-form choice's mixes are
    kept free (with every base, on DiffNet-Yelp at a quarter of a core, the reserve left the trained models no trial
    at all). 0 before a base and a part exist."""
    from graphrec.closedfit import grid_points

    bases, ials = reserved_bases(rows, order, rechecks, trained), best_ials(rows)
    mixed = {(r["params"]["base"], r["params"]["trained"]) for r in rows if r["model"] == "mix"}
    weights, seconds, with_ials = len(grid_points("mix")), 0.0, False
    for base in bases:
        todo_ials = ials is not None and base["model"] != "ials" and \
            (base["model"], f"ials #{ials['number']}") not in mixed
        with_ials = with_ials or todo_ials
        parts = int(trained) + todo_ials
        if parts:
            seconds += 1.3 * full_fit(base, rows)["fit_seconds"] + parts * mix_ranking_seconds(base, weights)
    if not seconds:
        return 0.0
    if with_ials:
        seconds += 2.3 * full_fit(ials, rows)["fit_seconds"]
    done = [r for r in rows if r.get("epochs") and r["state"] == "complete" and r["value"] is not None]
    part = max(done, key=lambda r: r["value"], default=None)
    if trained and part is not None:
        seconds += REFIT * part["seconds"] / part["epochs"] * max(1, part["best_epoch"])
    return seconds



def mix_ranking_seconds(base: dict, weights: int) -> float:
    """Seconds to rank a part's mixes with ``base`` at ``weights`` weights on the holdout: each part scored once (the
    base's own ranking, its trial's time beyond its fit, and half again for the other part), then a ranking of the
    scores per weight (a fifth of the base's each)."""
    ranking = max(0.0, base["seconds"] - base.get("fit_seconds", 0.0))
    return 1.5 * ranking + 0.2 * weights * ranking
