import json
from dataclasses import replace

import optuna
import pytest
import torch

from graphrec import trials, tune
from graphrec.recdata import RecData
from graphrec.sidegraphs import SideGraphs
from graphrec.train import TrainConfig
from graphrec.trials import open_study
from graphrec.tune import Budget, TuneConfig, candidates, choose, search
from tests.unit.conftest import random_pairs

CONFIG = TrainConfig(epochs=6, batch_size=64, seed=0, progress=False)


def data() -> RecData:
    pairs = random_pairs(40, 60, 700, seed=5)
    return RecData.from_pairs(40, 60, pairs[:, :550], None, pairs[:, 550:]).with_holdout(0.2, seed=0)


def settings(rows):
    return [(r["model"], r["number"], r["state"], r["params"], r["value"]) for r in rows]



def test_the_search_is_reproducible_under_a_seed(tmp_path):
    d, side = data(), SideGraphs(40, 60)
    runs = [search(tmp_path / str(i), d, side, "lightgcn", CONFIG, TuneConfig(max_trials=3), Budget(None))
            for i in range(2)]
    assert settings(runs[0].rows) == settings(runs[1].rows)
    assert len(runs[0].rows) == 3
    assert runs[0].rows[0]["params"] == trials.defaults("lightgcn")  # the first trial is the model's defaults
    other = search(tmp_path / "other", d, side, "lightgcn", replace(CONFIG, seed=1), TuneConfig(max_trials=3),
                   Budget(None))
    assert [r["params"] for r in other.rows[1:]] != [r["params"] for r in runs[0].rows[1:]]
    assert (tmp_path / "0" / trials.TRIALS_FILE).read_text().count("\n") == 3
    assert (tmp_path / "0" / trials.PLOT_FILE).read_text().lstrip().startswith("<?xml")



def test_a_killed_search_resumes_where_it_stopped(tmp_path):
    d, side = data(), SideGraphs(40, 60)
    whole = search(tmp_path / "whole", d, side, "lightgcn", CONFIG, TuneConfig(max_trials=4), Budget(None))
    search(tmp_path / "cut", d, side, "lightgcn", CONFIG, TuneConfig(max_trials=2), Budget(None))
    # the kill: a third trial started and never told
    killed = open_study(tmp_path / "cut", "lightgcn", CONFIG.seed)
    killed.sampler = trials.sampler(CONFIG.seed, "lightgcn", 2)
    started = killed.ask()
    trials.suggest(started, trials.space_of("lightgcn"))
    resumed = search(tmp_path / "cut", d, side, "lightgcn", CONFIG, TuneConfig(max_trials=4), Budget(None))
    done = [r for r in resumed.rows if r["state"] != "fail"]
    assert [r["state"] for r in resumed.rows].count("fail") == 1  # the one the kill cut short, run again
    assert [(r["params"], r["value"]) for r in done] == [(r["params"], r["value"]) for r in whole.rows]


def test_auto_skips_the_models_whose_graphs_are_absent_and_says_why():
    closed, trained, skipped = candidates(SideGraphs(40, 60))
    assert {"popularity", "itemknn", "gfcf", "bspm", "chebycf", "turbocf"} == set(closed)
    assert set(skipped) == {"diffnet", "mhcn", "sept", "kgat", "unigcl"}
    assert "social" in skipped["mhcn"] and "knowledge-graph" in skipped["kgat"]
    assert "lightgcn" in trained and not set(skipped) & set(trained)
    social = SideGraphs(40, 60, social=torch.tensor([[0, 1], [1, 0]]))
    _, trained, skipped = candidates(social)
    assert {"diffnet", "mhcn", "sept", "unigcl"} <= set(trained) and set(skipped) == {"kgat"}


def test_auto_leaves_out_a_model_that_cannot_be_served_and_says_why(monkeypatch):
    from graphrec.models import MODELS

    monkeypatch.setattr(MODELS["bspm"], "not_servable", "a test reason", raising=False)
    monkeypatch.setattr(MODELS["mf"], "not_servable", "another", raising=False)
    closed, trained, skipped = candidates(SideGraphs(40, 60))
    assert "bspm" not in closed and "mf" not in trained
    assert skipped["bspm"] == "it cannot be served: a test reason" and "another" in skipped["mf"]


def test_auto_never_picks_a_model_below_the_baselines_on_the_holdout(tmp_path):
    rows = [{"model": "popularity", "state": "complete", "value": 0.30},
            {"model": "itemknn", "state": "complete", "value": 0.42},
            {"model": "gfcf", "state": "complete", "value": 0.40},
            {"model": "lightgcn", "state": "complete", "value": 0.41},
            {"model": "xsimgcl", "state": "pruned", "value": 0.50}]
    order = ["popularity", "itemknn", "gfcf", "lightgcn", "xsimgcl"]
    assert choose(rows, order)["model"] == "itemknn"
    rows.append({"model": "lightgcn", "state": "complete", "value": 0.42})
    assert choose(rows, order)["model"] == "itemknn"  # a tie goes to the cheaper model
    # end to end on a small graph: whatever wins, nothing it beat on the holdout scored higher there
    out = search(tmp_path, data(), SideGraphs(40, 60), "auto", CONFIG, TuneConfig(max_trials=1), Budget(None),
                 models=["mf"])
    baselines = [r["value"] for r in out.rows if r["model"] in tune.BASELINES + tune.FILTERS and r["value"]]
    assert out.winner["value"] >= max(baselines)
    assert {r["model"] for r in out.rows} >= {"popularity", "itemknn", "turbocf", "mf"}
    assert all(json.loads(line) for line in (tmp_path / trials.TRIALS_FILE).read_text().splitlines())


def test_the_budget_holds_back_trials_it_cannot_fit(tmp_path):
    clock = iter(range(0, 10_000, 50))  # every look at the clock: 50 s later
    budget = Budget(60, clock=lambda: next(clock))
    out = search(tmp_path, data(), SideGraphs(40, 60), "lightgcn", CONFIG, TuneConfig(budget_seconds=60), budget)
    assert out.rows == [] and out.not_reached == ["lightgcn"] and out.winner is None


def test_tune_config_refuses_an_endless_search():
    with pytest.raises(Exception, match="budget_seconds or max_trials"):
        TuneConfig()
    assert optuna.__version__
