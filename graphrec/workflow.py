"""The train stage end to end: export the graph → RecData → model → the one training loop → a saved run.

This is what `graphrec train` and `graphrec evaluate` call; it holds no loop or metric of its own.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

import torch

from graphrec.db.connect import Graph
from graphrec.errors import ConfigError, GraphrecError
from graphrec.evaluate import evaluate
from graphrec.export import export
from graphrec.models import build, model_class
from graphrec.progress import Progress, silent
from graphrec.recdata import RecData
from graphrec.runs import RUN_ID, Run, load_run, new_run_id, save_graphs, save_run
from graphrec.sidegraphs import SideGraphs
from graphrec.train import HOLDOUT_DIR, TrainConfig, TrainResult, fit, holdout_then_refit

if TYPE_CHECKING:
    from graphrec.distributed import DataParallel


DATA_CONFIG = "data_config.json"  # in a run folder from the start, so a resumed run can be checked against it
INVOCATION = "invocation.json"    # the caller's own settings (the CLI's options), so a resume can reuse them


def saved_invocation(runs_dir, run_id: str) -> dict | None:
    """What the caller recorded when run ``run_id`` started (``train_run(invocation=...)``), or None."""
    path = runs_dir / run_id / INVOCATION
    return json.loads(path.read_text()) if RUN_ID.match(run_id) and path.is_file() else None


@dataclass(frozen=True)
class DataConfig:
    """How the graph becomes train/valid/test. ``valid_fraction`` carves validation out of train when the graph
    ships no valid split (Gowalla): early stopping must never look at test. ``validation=False`` is for a run that
    does not validate (``TrainConfig.eval_every=0``: a fixed number of epochs, as the papers train): no holdout is
    carved and a valid split the graph has is folded into train; test stays the same."""

    split: str = "auto"                      # auto | stored | random | temporal (see graphrec.export)
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    valid_fraction: float = 0.1
    seed: int = 2020
    validation: bool = True


def load_data(graph: Graph, config: DataConfig, progress: Progress = silent):
    """Export the graph and build the training view; returns (RecData, IdMaps, HeteroData)."""
    hetero, ids = export(graph, split=config.split, ratios=config.ratios, seed=config.seed, progress=progress)
    data = RecData.from_hetero(hetero)
    if data.train.nnz == 0:
        raise GraphrecError("the graph has no training interactions: every stored edge is valid or test")
    if not config.validation:
        data = data.without_valid()
    elif data.valid.nnz == 0:
        data = data.with_holdout(config.valid_fraction, seed=config.seed)
    return data, ids, hetero


def valid_origin(hetero, config: DataConfig) -> str:
    """Where the validation split came from: the export's own (``split_origin``), a random holdout carved from train
    (:func:`load_data`), or none (a run that does not validate)."""
    if not config.validation:
        return "none"
    store = hetero["user", "interacted", "item"]
    split = getattr(store, "split", None)
    if split is not None and bool((split == 1).any()):
        return "the split's own"
    return f"random {config.valid_fraction:g} of each user's train, seed {config.seed}"


@dataclass(frozen=True)
class SearchConfig:
    """A closed-form model's hyper-parameter search on the holdout (:func:`graphrec.closedfit.search`): ``grid``
    NAME -> values (None: the model's ``search_space``), ranked by ``TrainConfig.metric`` on valid, on a seeded
    sample of ``valid_users`` validation users when given. The chosen point is refitted on train + valid."""

    grid: dict | None = None
    valid_users: int | None = None


def train_run(graph: Graph, runs_dir, model_name: str, hparams: dict, train_config: TrainConfig,
              data_config: DataConfig = DataConfig(), run_id: str | None = None,
              progress: Progress = silent, callback=None, invocation: dict | None = None,
              search: SearchConfig | None = None, search_callback=None,
              group: DataParallel | None = None, refit: bool = False) -> tuple[Run | None, TrainResult]:
    """Export, train ``model_name`` with early stopping on valid (or, with ``train_config.eval_every=0`` and
    ``data_config.validation=False``, for a fixed number of epochs on train and valid together), report test once,
    and save the run folder. A closed-form model is fitted once (:mod:`graphrec.closedfit`); with ``search``, its
    hyper-parameters are first chosen on the holdout (``search_callback(trial)`` per grid point, ``search.jsonl`` in
    the run folder), then the chosen point is fitted on train + valid and tested once.

    Passing the ``run_id`` of an interrupted run resumes it from its last checkpoint. ``invocation`` (JSON-able) is
    kept in a new run's folder for :func:`saved_invocation`.

    ``refit``: :func:`graphrec.train.holdout_then_refit`: the epochs and lr cuts are chosen by a holdout run (kept in
    the run folder's ``holdout/``), then a model trained on train and valid together with that schedule replayed is
    tested once and saved as the run (``meta["refit"]`` records the schedule and the holdout's validation).

    Data-parallel: ``train_config.nproc`` > 1 starts the processes here, after the export; or ``group`` is this
    process's place in a run torchrun started, where every process exports the graph and trains, and rank 0 alone
    chooses the run id, writes the run folder and returns the run (the others return None with the result).
    """
    if train_config.nproc > 1 or group is not None:
        from graphrec.distributed import check_model

        check_model(model_class(model_name))  # before the export, not after it
    if search is not None and (run_id or not data_config.validation):
        raise ConfigError("train_run: a search chooses hyper-parameters on the valid split, so it needs "
                          "DataConfig.validation=True, and a search is not resumed (it takes seconds to minutes)")
    if refit and (model_class(model_name).closed_form or not data_config.validation or train_config.eval_every == 0):
        raise ConfigError(f"train_run: refit chooses a trained model's epochs on the valid split; {model_name} " +
                          ("is fitted in closed form (its hyper-parameters are chosen on valid with a search)"
                           if model_class(model_name).closed_form else
                           "has no valid split to choose them on here (it needs validation and eval_every >= 1)"))
    if not data_config.validation and train_config.eval_every != 0 and not model_class(model_name).closed_form:
        raise ConfigError("train_run: DataConfig.validation=False keeps no valid split, so the run cannot validate: "
                          "set TrainConfig.eval_every=0 (a fixed number of epochs) or keep validation")
    main = group is None or group.is_main
    resuming = bool(run_id)
    if main:
        try:
            if resuming:
                _resumable(runs_dir, run_id, data_config)
            else:
                run_id = new_run_id(model_name)
        except GraphrecError as exc:
            if group is None:
                raise
            run_id = exc
    if group is not None:  # rank 0's run id (or its error) in every process
        run_id = group.broadcast(run_id)
    run_dir = runs_dir / run_id
    start = time.perf_counter()
    data, ids, hetero = load_data(graph, data_config, progress)
    seconds_export = time.perf_counter() - start
    if main and not resuming:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / DATA_CONFIG).write_text(json.dumps(asdict(data_config)))
        if invocation is not None:
            (run_dir / INVOCATION).write_text(json.dumps(invocation, default=list))
    side = SideGraphs.from_hetero(hetero)
    chosen = None
    if search is not None:
        from graphrec.closedfit import search as grid_search

        chosen = grid_search(model_name, data, search.grid, fixed=hparams, config=train_config,
                             valid_users=search.valid_users, callback=search_callback)
        with open(run_dir / "search.jsonl", "w") as fh:
            fh.writelines(json.dumps(trial) + "\n" for trial in chosen.trials)
        hparams, data = chosen.best, data.without_valid()

    def make_model(view: RecData):
        return build(model_name, view.n_users, view.n_items, graph=torch.stack(view.train.pairs()),
                     seed=train_config.seed, side=side, **hparams)

    refitted = None
    if refit:
        refitted = holdout_then_refit(make_model, data, train_config, run_dir=run_dir, callback=callback, group=group)
        model, result, data = refitted.model, refitted.result, data.without_valid()
    else:
        model = make_model(data)
        result = fit(model, data, train_config, run_dir=run_dir, callback=callback, group=group)
    train_pairs = torch.stack(data.train.pairs())
    if not main:
        return None, result
    if chosen is not None:
        result.best_valid = chosen.best_valid
    model.eval()
    with torch.no_grad():
        user_emb, item_emb = model()
    meta = {
        "id": run_id,
        "model": model_name,
        "params": model.hparams(),
        "train_config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(train_config).items()},
        # a refitted model trained on train and valid together: re-evaluating it keeps no holdout either
        "data_config": asdict(replace(data_config, validation=False) if refit else data_config),
        "metrics": {"valid": result.best_valid, "test": result.test},
        "counts": {"users": data.n_users, "items": data.n_items, "train": data.train.nnz,
                   "valid": data.valid.nnz, "test": data.test.nnz, "social": side.social.size(1),
                   "kg": side.kg.size(1)},
        "split_origin": hetero.split_origin,
        "valid_origin": valid_origin(hetero, data_config),
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        "seconds": {"export": seconds_export, "train": result.seconds_train, "eval": result.seconds_eval},
        "database": graph.uri,
        # what embeddings.pt holds: the model's scores, or only the low-rank part of a closed-form model's (the
        # item–item part is served from the graph), or nothing servable
        "embeddings": "scores" if model.dot_product_scores else ("low-pass part" if user_emb.size(1) else "none"),
    }
    if refitted is not None:
        meta["refit"] = refitted.summary()
    if chosen is not None:
        meta["search"] = {"grid": search.grid, "valid_users": search.valid_users, "points": len(chosen.trials)}
    run = save_run(runs_dir, meta, ids, {"user": user_emb, "item": item_emb})
    save_graphs(run.path, train_pairs, side)
    return run, result


def _resumable(runs_dir, run_id: str, data_config: DataConfig):
    """The folder of run ``run_id`` to resume. Refused: an id that is not one (a mistyped id would otherwise start a
    new run under it), a folder with no checkpoint, and data settings other than those the run started with (its
    checkpoint would go on training on other splits)."""
    run_dir = runs_dir / run_id
    if not RUN_ID.match(run_id) or not any((folder / "checkpoint.pt").is_file()
                                           for folder in (run_dir, run_dir / HOLDOUT_DIR)):
        raise GraphrecError(f"cannot resume {run_id!r}: no checkpoint at {run_dir / 'checkpoint.pt'} (an "
                            f"interrupted run is a folder under {runs_dir} holding one)")
    saved = run_dir / DATA_CONFIG
    if saved.exists():
        before = json.loads(saved.read_text())
        now = json.loads(json.dumps(asdict(data_config)))  # tuples as JSON lists, as saved
        if before != now:
            changed = ", ".join(f"{k} {before.get(k)!r} -> {now.get(k)!r}" for k in now if before.get(k) != now.get(k))
            raise ConfigError(f"cannot resume {run_id} with other data settings ({changed}); give the ones it "
                              "started with, or train a new run")
    return run_dir


def _run_data(graph: Graph, run: Run, progress: Progress):
    """The run's data, exported again with the run's own split settings; refused when users or items changed."""
    cfg = run.meta.get("data_config", {})
    data_config = DataConfig(split=cfg.get("split", "auto"), ratios=tuple(cfg.get("ratios", (0.8, 0.1, 0.1))),
                             valid_fraction=cfg.get("valid_fraction", 0.1), seed=cfg.get("seed", 2020),
                             validation=cfg.get("validation", True))
    data, ids, _ = load_data(graph, data_config, progress)
    if ids.ids["user"] != run.ids().ids["user"] or ids.ids["item"] != run.ids().ids["item"]:
        raise GraphrecError(f"the graph's users or items changed since run {run.id} was trained; "
                            "its embeddings no longer line up: train a new run")
    return data, ids, data_config


def evaluate_run(graph: Graph, runs_dir, run_id: str, split: str = "test", ks=(20,),
                 progress: Progress = silent, per_user: dict | None = None) -> dict:
    """Re-evaluate a saved run's embeddings on the graph as it is now, with the run's own split settings
    (``per_user``: filled with each user's metrics, :func:`graphrec.evaluate.evaluate`, and with ``target``, the
    split's interactions as keys, so that :func:`compare_runs` can tell whether two runs held out the same ones)."""
    run = load_run(runs_dir, run_id)
    data, ids, data_config = _run_data(graph, run, progress)
    if data.split(split).nnz == 0:
        why = " (it trained without validation, --eval-every 0, on train and valid together)" \
            if split == "valid" and not data_config.validation else ""
        raise GraphrecError(f"run {run.id}: the graph has no {split} interactions to evaluate{why}")
    if per_user is not None:
        per_user["target"] = data.split(split).keys(data.n_items)
    if run.meta.get("embeddings", "scores") != "scores":  # a closed-form model ranks by more than its embeddings
        scorer = run.model().score
    else:
        emb = run.embeddings()
        scorer = (emb["user"], emb["item"])
    return evaluate(scorer, data, split=split, ks=ks, beyond_accuracy=split == "test", per_user=per_user)


def compare_runs(graph: Graph, runs_dir, run_a: str, run_b: str, split: str = "test", k: int = 20,
                 draws: int = 2_000, progress: Progress = silent) -> dict:
    """Runs ``run_a`` and ``run_b`` on the same ``split`` users, paired (:func:`graphrec.compare.paired`): each
    one's metrics (:func:`evaluate_run`), and for Recall@k and NDCG@k their difference with its 95% interval.
    Refused where the two runs' splits hold different interactions (another seed or split setting)."""
    from graphrec.compare import METRICS, paired, verdict

    values_a, values_b = {}, {}
    metrics_a = evaluate_run(graph, runs_dir, run_a, split, (k,), progress, per_user=values_a)
    metrics_b = evaluate_run(graph, runs_dir, run_b, split, (k,), progress, per_user=values_b)
    if not torch.equal(values_a.pop("target"), values_b.pop("target")):
        raise GraphrecError(f"runs {run_a} and {run_b} were split differently (their {split} interactions differ): "
                            "a paired comparison needs the same users and items held out")
    rows = paired(values_a, values_b, tuple(f"{m}@{k}" for m in METRICS), draws=draws)
    return {"a": load_run(runs_dir, run_a).id, "b": load_run(runs_dir, run_b).id, "split": split,
            "users": int(values_a["users"].numel()), "draws": draws, "metrics_a": metrics_a, "metrics_b": metrics_b,
            "paired": {m: {**row, "verdict": verdict(row)} for m, row in rows.items()}}



def evaluate_served(graph: Graph, runs_dir, run_id: str, k: int = 20, max_users: int | None = None,
                    progress: Progress = silent) -> dict:
    """The published run ``run_id`` evaluated through the served Cypher path (``recommend.for_user``, exact, one
    query per test user, its train and valid items excluded by id), beside the same metrics computed in memory from
    the run's embeddings for the same users: ``{"served": {...}, "offline": {...}, "users": n}``.

    The users are the test users the run published an embedding for (a user it saw nothing of gets the cold-start
    answer when served, which the offline ranking has no counterpart of); ``max_users`` takes the first ones. A
    closed-form run served from its item–item rows (:mod:`graphrec.itemgraph`) is compared with the whole model's
    scores, the served sum taken over the interactions it was fitted on (the split must be stored in the graph, so
    that its labels say which those are), for every test user with some."""
    from graphrec import recommend as rec
    from graphrec.metrics import RankingMetrics
    from graphrec.publish import unseen_users

    run = load_run(runs_dir, run_id)
    data, ids, _ = _run_data(graph, run, progress)
    unseen = unseen_users(run, data.n_users)
    test = data.test
    masks = [data.train] + ([data.valid] if data.valid.nnz else [])
    item_item = run.meta.get("embeddings", "scores") != "scores"
    if item_item:
        if run.meta.get("split_origin") != "stored":
            raise GraphrecError(f"run {run.id}: its split was drawn at export ({run.meta.get('split_origin')}), so the "
                                "graph cannot tell the served sum which interactions the model was fitted on; "
                                "evaluate it in memory (graphrec evaluate without --served)")
        model = run.model()
        history = ["train"] if data.valid.nnz else ["train", "valid"]  # what the model was fitted on

        def scores_of(u: int) -> torch.Tensor:
            return model.score(torch.tensor([u]))[0]
        candidates = [u for u in (test.counts() > 0).nonzero().flatten().tolist()
                      if int(data.train.counts()[u]) > 0]
    else:
        emb = run.embeddings()
        users_t, items_t = emb["user"].float(), emb["item"].float()
        history = None

        def scores_of(u: int) -> torch.Tensor:
            return users_t[u] @ items_t.T
        candidates = [u for u in (test.counts() > 0).nonzero().flatten().tolist()
                      if (unseen is None or not bool(unseen[u])) and bool((users_t[u] != 0).any())]
    if max_users is not None:
        candidates = candidates[:max_users]
    if not candidates:
        raise GraphrecError(f"run {run.id}: no test user with a published embedding to evaluate")

    def items_of(ui, u: int) -> list[int]:
        return ui.indices[ui.indptr[u]:ui.indptr[u + 1]].tolist()

    served, offline = RankingMetrics([k], data.n_items), RankingMetrics([k], data.n_items)
    item_ids = ids.ids["item"]
    with progress("evaluate the served path", len(candidates)) as advance, torch.no_grad():
        for u in candidates:
            masked = sorted({i for ui in masks for i in items_of(ui, u)})
            truth = set(items_of(test, u))
            rows = rec.recommend(graph, ids.ids["user"][u], k, path="exact", run=run.id, seen_splits=[],
                                 exclude=[item_ids[i] for i in masked], cold_start=False, walk_splits=history)
            got = [ids.index["item"][r["item"]] for r in rows]
            scores = scores_of(u)
            scores[masked] = -torch.inf
            mine = torch.topk(scores, k).indices.tolist()
            for metrics, ranked in ((served, got), (offline, mine)):
                ranked = (ranked + [-1] * k)[:k]
                metrics.update(torch.tensor([ranked]).clamp_min(0), torch.tensor([[i in truth for i in ranked]]),
                               torch.tensor([len(truth)]))
            advance(1)
    return {"served": served.compute(), "offline": offline.compute(), "users": len(candidates)}
