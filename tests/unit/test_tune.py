import json
from dataclasses import replace

import optuna
import pytest
import torch

from graphrec import automix, choice, closedfit, trials, tune, tunecost
from graphrec.choice import choose
from graphrec.errors import ConfigError
from graphrec.recdata import RecData
from graphrec.sidegraphs import SideGraphs
from graphrec.train import TrainConfig
from graphrec.trials import open_study
from graphrec.tune import TuneConfig, candidates, closed_grid, search
from graphrec.tunecost import Budget
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
    assert closed == list(tune.CLOSED_ORDER) and set(closed) == set(tune.BASELINES + tune.FILTERS)
    assert closed[-1] == "itemknn" and closed.index("chebycf") < closed.index("linkprop")
    assert set(skipped) == {"diffnet", "mhcn", "sept", "kgat", "unigcl"}
    assert "social" in skipped["mhcn"] and "knowledge-graph" in skipped["kgat"]
    assert "lightgcn" in trained and not set(skipped) & set(trained)
    social = SideGraphs(40, 60, social=torch.tensor([[0, 1], [1, 0]]))
    _, trained, skipped = candidates(social)
    assert {"diffnet", "mhcn", "sept", "unigcl"} <= set(trained) and set(skipped) == {"kgat"}


def test_auto_leaves_out_ease_where_its_dense_inverse_would_take_too_much_of_the_budget():
    closed, _, _ = candidates(SideGraphs(3_000, 3_700), budget_seconds=30 * 60)  # ML-1M's catalogue: seconds
    assert "ease" in closed
    closed, _, skipped = candidates(SideGraphs(30_000, 41_000), budget_seconds=30 * 60)  # Gowalla's: an hour
    assert "ease" not in closed and "41,000 x 41,000 inverse" in skipped["ease"]
    assert "ease" not in candidates(SideGraphs(30_000, 41_000))[0]  # no budget: half an hour at most
    assert closed_grid("ease", 17_600, 30 * 60) == ({"reg": (300.0,)}, None)  # Last.fm's: one point fits, not three
    assert closed_grid("gfcf", 41_000, 60) == (None, None)


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


def test_the_whole_command_publish_included_ends_within_its_budget(tmp_path, monkeypatch):
    """A fake clock: the export takes 20 s, every trial 25 s, the refit trains for all the time it is given, its test
    1 s, and the publish as long as the last one timed in this home (60 s). The search keeps the refit, test and
    publish free, so the command, publish included, ends inside its 300 s (tolerance 0: the margin is kept too)."""
    from types import SimpleNamespace

    from torch_geometric.data import HeteroData

    from graphrec import workflow
    from graphrec.workflow import DataConfig

    now = [0.0]
    clock = lambda: now[0]  # noqa: E731

    def load_data(graph, config, progress):
        now[0] += 20
        hetero = HeteroData()
        hetero["user", "interacted", "item"].split = torch.tensor([0, 1, 2])  # the export's own valid split
        return data(), None, hetero

    def timed(real, seconds):
        def run(*args, **kwargs):
            out = real(*args, **kwargs)
            now[0] += seconds
            return out
        return run

    def train_run(graph, runs_dir, name, hparams, refit, data_config, **kwargs):
        now[0] += 20 + (refit.budget_seconds or 0.0) + 1  # its export, all its training time, its test
        path = tmp_path / "run"
        path.mkdir()
        return SimpleNamespace(path=path, meta={"metrics": {}}), SimpleNamespace(test={})

    def publish(run):
        now[0] += 60
        return SimpleNamespace(seconds={"embeddings": 55.0})  # the report: the seconds of each part

    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / tunecost.PUBLISH_FILE).write_text(json.dumps({"embeddings": [100, 60.0]}))  # 40 users + 60 items
    monkeypatch.setattr(workflow, "load_data", load_data)
    monkeypatch.setattr(workflow, "train_run", train_run)
    monkeypatch.setattr(tune.SideGraphs, "from_hetero", staticmethod(lambda hetero: SideGraphs(40, 60)))
    monkeypatch.setattr(tune, "run_trial", timed(tune.run_trial, 25))
    out = tune.tune_run(None, runs, "lightgcn", CONFIG, DataConfig(), TuneConfig(budget_seconds=300), since=0.0,
                        publish=publish, clock=clock)
    assert out.published.seconds and out.publish_seconds == 60
    assert len(out.outcome.rows) >= 3 and out.seconds <= 300
    assert json.loads((runs / tunecost.PUBLISH_FILE).read_text())["embeddings"] == [100, 55.0]  # kept for the next


def test_publish_cost_scales_a_timed_publish_and_estimates_from_the_graph_size_and_the_trials():
    assert tunecost.PublishCost().seconds("mf") == 0  # nothing published: nothing kept free
    cost = tunecost.PublishCost(n_users=1_000, n_items=2_000, ranked_users=500)
    embeddings, item_item = 3_000 / 700, 200_000 / 15_000  # a vector per user and item; 100 rows per item
    assert cost.seconds("mf") == cost.seconds(None) == pytest.approx(10 + embeddings)
    assert cost.seconds("itemknn") == pytest.approx(10 + embeddings + item_item)  # no trial: rows not yet dear
    # forming the rows: n_items / ranked users times the slowest ranking of the model's points (seconds less fit)
    rows = [{"model": "bspm", "state": "complete", "seconds": 9.0, "fit_seconds": 6.0},
            {"model": "bspm", "state": "complete", "seconds": 4.0, "fit_seconds": 0.0},  # a point reusing a fit
            {"model": "sgfcf", "state": "complete", "seconds": 2.0, "fit_seconds": 1.0},
            {"model": "lightgcn", "state": "complete", "seconds": 90.0, "epochs": 3}]
    assert cost.rows_seconds("bspm", rows) == pytest.approx(4.0 * 2_000 / 500)
    assert cost.seconds("bspm", rows) == pytest.approx(10 + embeddings + item_item + 16.0)
    # a mix: both parts' embeddings, and its base's rows formed and written
    assert cost.seconds("mix", rows, "sgfcf") == pytest.approx(10 + embeddings + item_item + 4.0)
    assert cost.seconds("mix", rows, "bspm") == cost.seconds("bspm", rows)
    assert cost.seconds("lightgcn", rows) == cost.seconds("ials", rows) == cost.seconds("mf")  # embeddings alone
    assert cost.seconds("mix", rows, "ials") == cost.seconds("mf")  # iALS + a trained part: two parts' embeddings
    # the rows the points timed themselves (graphrec.closedfit.rows_seconds), where they did
    timed_rows = [{**rows[0], "rows_seconds": 30.0}, {**rows[1], "rows_seconds": 25.0}]
    assert cost.rows_seconds("bspm", timed_rows) == 30.0
    # a publish timed in this home replaces the writes' rates (a quarter on top, scaled by the graph's size)
    timed = replace(cost, measured={"embeddings": [1_500, 4.0], "item_item": [100_000, 20.0]})
    assert timed.seconds("mf") == pytest.approx(10 + 1.25 * 4.0 * 2)
    assert timed.seconds("bspm", rows) == pytest.approx(10 + 1.25 * 4.0 * 2 + 1.25 * 20.0 * 2 + 16.0)


def test_a_closed_form_point_times_a_few_of_its_item_rows_to_foretell_its_publish(tmp_path):
    from graphrec.closedfit import search as grid_search
    from graphrec.models import build

    d = data()
    graph = torch.stack(d.train.pairs())
    points = grid_search("turbocf", d, grid={"alpha": (0.5,)}, config=CONFIG).trials
    assert points[0]["seconds_rows"] > 0
    for name in ("ials", "popularity"):  # scored by their embeddings alone: no rows to publish
        assert closedfit.rows_seconds(build(name, 40, 60, graph=graph, seed=0).fit()) == 0.0
    study = open_study(tmp_path, "turbocf", 0)
    trials.search_closed(study, "turbocf", d, CONFIG, grid={"alpha": (0.5,)})
    assert trials.trial_rows({"turbocf": study})[0]["rows_seconds"] > 0  # kept with the trial for the budget


def test_a_publish_records_the_seconds_of_each_part_for_the_next_search(tmp_path):
    cost = tunecost.PublishCost(n_users=1_000, n_items=2_000)
    cost.record(tmp_path, {"embeddings": 3.0, "rows": 50.0, "item_item": 12.0})
    assert json.loads((tmp_path / tunecost.PUBLISH_FILE).read_text()) == {"embeddings": [3_000, 3.0],
                                                                          "item_item": [200_000, 12.0]}
    cost.record(tmp_path, {"embeddings": 2.0})  # a trained winner: its item–item timing is kept
    loaded = tunecost.PublishCost.load(tmp_path, n_users=1_000, n_items=2_000)
    assert loaded.measured == {"embeddings": [3_000, 2.0], "item_item": [200_000, 12.0]}


def test_every_trial_ranks_the_same_seeded_sample_of_validation_users(tmp_path, monkeypatch):
    d, side = data(), SideGraphs(40, 60)
    ranked_by = []
    real_closed, real_trial = trials.search_closed, trials.run_trial

    def closed(study, name, ranked, *args, **kwargs):
        ranked_by.append(ranked.valid.keys(60))
        return real_closed(study, name, ranked, *args, **kwargs)

    def trained(study, name, ranked, *args, **kwargs):
        ranked_by.append(ranked.valid.keys(60))
        return real_trial(study, name, ranked, *args, **kwargs)

    monkeypatch.setattr(tune, "search_closed", closed)
    monkeypatch.setattr(tune, "run_trial", trained)
    lines = []
    outcome = search(tmp_path / "s", d, side, "auto", CONFIG, TuneConfig(max_trials=1, valid_users=10), Budget(None),
                     models=["mf"], log=lines.append)
    users = {int(k) // 60 for k in ranked_by[0]}
    assert len(users) == 10 and all(torch.equal(keys, ranked_by[0]) for keys in ranked_by)
    assert set(ranked_by[0].tolist()) <= set(d.valid.keys(60).tolist())
    assert any("the same 10 of the" in line for line in lines) and outcome.winner is not None
    everyone = search(tmp_path / "all", d, side, "mf", CONFIG, TuneConfig(max_trials=1, valid_users=None), Budget(None))
    assert everyone.rows[0]["value"] != outcome.rows[-1]["value"]  # the same mf trial, ranked on every user


def test_the_refits_test_is_expected_to_rank_every_test_user_not_the_validation_sample():
    d = data()
    ranked = tune.valid_ranking(d, 2, 0)  # 2 of the validation users ranked, 4 users in test
    scale = tunecost.test_scale(d, ranked)
    assert int((d.test.counts() > 0).sum()) == 4 and scale == 2.0
    assert tunecost.test_scale(d, tune.valid_ranking(d, 10, 0)) == 1.0  # never below one
    closed = {"model": "gfcf", "seconds": 3.0, "fit_seconds": 1.0, "epochs": 0}
    trained = {"model": "mf", "seconds": 10.0, "epochs": 5, "best_epoch": 4}
    # a closed-form test ranks every test user once; its fit is the refit's, counted once
    assert tunecost.test_estimate(closed, scale) == 2.0 * scale
    assert tunecost.test_estimate(trained, scale) == 4.0 * scale
    assert tunecost.refit_estimate(closed, 2.0, scale) == 2.0 + 1.3 + 2.0 * scale
    reused = {"model": "gfcf", "seconds": 2.0, "fit_seconds": 0.0, "epochs": 0}  # a point that reused the fit above
    assert tunecost.full_fit(reused, [closed, reused, trained])["fit_seconds"] == 1.0
    assert tunecost.full_fit(trained, [closed, trained]) is trained and tunecost.full_fit(None, []) is None


def test_a_closed_form_grid_stops_between_points_when_the_budget_runs_out(tmp_path, monkeypatch):
    """Gowalla, 30 minutes: ChebyCF's grid started with room for one point and took 15 minutes; now every point after
    the first is asked for (the dearest so far must still fit) and the rest are named left out."""
    now = [0.0]
    real = trials.search_closed

    def slow(study, name, ranked, config, log, grid=None, proceed=None):
        def costly(done):
            now[0] += 30.0  # each point took 30 s of the budget
            return proceed(done)
        return real(study, name, ranked, config, log, grid=grid, proceed=costly)

    monkeypatch.setattr(tune, "search_closed", slow)
    monkeypatch.setattr(tune, "GRID_SHARE", 1)  # the whole budget: here the room left stops the grid
    lines = []
    outcome = search(tmp_path, data(), SideGraphs(40, 60), "turbocf", CONFIG, TuneConfig(budget_seconds=100),
                     Budget(100, clock=lambda: now[0], start=0.0), log=lines.append)
    assert [r["model"] for r in outcome.rows] == ["turbocf"] * 4 and outcome.winner is not None
    assert "turbocf: 2 of its grid's 6 points left out, for want of time" in lines


def test_a_closed_form_grid_stops_at_its_share_of_the_budget_having_ranked_its_defaults(tmp_path, monkeypatch):
    """Gowalla, 30 minutes: ChebyCF's nine points took 8.3 minutes and left the trained trials 15 s; a grid now ends
    where it would pass 1 / GRID_SHARE of the budget, its defaults first."""
    from graphrec.trials import defaults

    now = [0.0]
    real = trials.search_closed

    def slow(study, name, ranked, config, log, grid=None, proceed=None):
        def costly(done):
            now[0] += 30.0
            return proceed(done)
        return real(study, name, ranked, config, log, grid=grid, proceed=costly)

    monkeypatch.setattr(tune, "search_closed", slow)
    lines = []
    budget = 600.0  # a share of 100 s: three points of 30 s, and the fourth would pass it
    outcome = search(tmp_path, data(), SideGraphs(40, 60), "turbocf", CONFIG, TuneConfig(budget_seconds=budget),
                     Budget(budget, clock=lambda: now[0], start=0.0), log=lines.append)
    assert budget / tune.GRID_SHARE == 100.0 and len(outcome.rows) == 4
    assert outcome.rows[0]["params"] == defaults("turbocf")
    assert "turbocf: 2 of its grid's 6 points left out, for want of time" in lines


def test_the_closed_form_choice_is_the_best_mean_over_the_rechecked_holdouts():
    rows = [{"model": "popularity", "state": "complete", "value": 0.30, "params": {}},
            {"model": "ease", "state": "complete", "value": 0.83, "params": {"reg": 100.0}},
            {"model": "sgfcf", "state": "complete", "value": 0.82, "params": {"eps": 0.34}},
            {"model": "gfcf", "state": "complete", "value": 0.81, "params": {"alpha": 0.3}},
            {"model": "lightgcn", "state": "complete", "value": 0.825, "params": {"lr": 0.001}}]
    order = ["popularity", "ease", "sgfcf", "gfcf", "lightgcn"]
    checks = [{"model": "ease", "params": {"reg": 100.0}, "holdout": h, "value": 0.80} for h in (1, 2)] + \
             [{"model": "sgfcf", "params": {"eps": 0.34}, "holdout": h, "value": 0.83} for h in (1, 2)] + \
             [{"model": "gfcf", "params": {"alpha": 0.3}, "holdout": 1, "value": 0.90}]
    assert choose(rows, order)["model"] == "ease"  # the first holdout alone
    # gfcf was re-checked on holdout 2 of 3 only: the points are compared on the re-checks all of them have (holdout
    # 2); the first holdout, which chose them, is not in the mean
    winner = choose(rows, order, checks)
    assert winner["model"] == "gfcf" and winner["holdouts"] == 1 and winner["holdouts_mean"] == pytest.approx(0.90)
    checks[-1]["value"] = 0.80
    assert choose(rows, order, checks)["model"] == "sgfcf"
    checks.append({"model": "gfcf", "params": {"alpha": 0.3}, "holdout": 2, "value": 0.80})
    winner = choose(rows, order, checks)
    assert winner["holdouts"] == 2 and winner["holdouts_mean"] == pytest.approx(0.83)
    # the first holdout's best not re-checked (the budget stopped before it): it stays the choice
    rows.append({"model": "turbocf", "state": "complete", "value": 0.835, "params": {"alpha": 0.5}})
    assert choose(rows, order + ["turbocf"], checks)["model"] == "turbocf"
    rows.pop()
    # a trained model is served where it beats every closed-form point on the holdout every trial ranked on
    rows.append({"model": "lightgcn", "state": "complete", "value": 0.84, "params": {"lr": 0.002}})
    assert choose(rows, order, checks)["model"] == "lightgcn"


def test_a_recheck_holdout_redraws_the_same_share_of_the_same_interactions():
    d = data()
    fold = choice.holdout_fold(d, 1, seed=0)
    keys = lambda split: set(split.keys(d.n_items).tolist())  # noqa: E731
    assert keys(fold.train) | keys(fold.valid) == keys(d.train) | keys(d.valid)
    assert not keys(fold.train) & keys(fold.valid) and keys(fold.test) == keys(d.test)
    assert abs(fold.valid.nnz - d.valid.nnz) <= d.n_users and keys(fold.valid) != keys(d.valid)
    assert keys(choice.holdout_fold(d, 1, seed=0).valid) == keys(fold.valid)
    assert keys(choice.holdout_fold(d, 2, seed=0).valid) != keys(fold.valid)


def test_a_stored_valid_split_too_small_to_decide_is_redrawn_at_random_and_said():
    from graphrec.workflow import DataConfig

    pairs = random_pairs(40, 60, 900, seed=3)  # 754 distinct pairs
    small = RecData.from_pairs(40, 60, pairs[:, :600], pairs[:, 600:610], pairs[:, 610:])  # 10 valid beside 600 train
    large = RecData.from_pairs(40, 60, pairs[:, :530], pairs[:, 530:610], pairs[:, 610:])
    config, keys = DataConfig(valid_fraction=0.1, seed=4), (lambda split: set(split.keys(60).tolist()))
    lines = []
    data, origin = tune.search_holdout(small, "the split's own", config, log=lines.append)
    assert origin.startswith("random 0.1 of each user's train and stored valid, seed 4")
    assert "holds 10 interactions" in lines[0] and "--holdout stored" in lines[0]
    assert keys(data.train) | keys(data.valid) == keys(small.train) | keys(small.valid)  # nothing lost, none twice
    assert not keys(data.train) & keys(data.valid) and keys(data.test) == keys(small.test)
    assert data.valid.nnz > 5 * small.valid.nnz
    assert tune.search_holdout(small, "the split's own", config, "stored") == (small, "the split's own")
    assert tune.search_holdout(large, "the split's own", config) == (large, "the split's own")  # 80 of 610: kept
    redrawn, origin = tune.search_holdout(large, "the split's own", config, "random")
    assert origin.startswith("random") and keys(redrawn.valid) != keys(large.valid)
    carved = "random 0.1 of each user's train, seed 4"  # a holdout already drawn at random is the search's
    assert tune.search_holdout(small, carved, config, "random") == (small, carved)
    with pytest.raises(ConfigError, match="holdout must be one of"):
        TuneConfig(max_trials=1, holdout="valid")


def test_the_closed_form_leaders_are_rechecked_recorded_and_not_run_again_on_resume(tmp_path):
    d, side, config = data(), SideGraphs(40, 60), TuneConfig(max_trials=1, holdouts=3, leaders=4)
    lines = []
    out = search(tmp_path, d, side, "auto", CONFIG, config, Budget(None), models=[], log=lines.append)
    checks = [json.loads(line) for line in (tmp_path / choice.RECHECK_FILE).read_text().splitlines()]
    leaders = choice.leaders(out.rows, 4)
    assert len(checks) == 2 * 4 and {c["holdout"] for c in checks} == {1, 2}
    assert {(c["model"], json.dumps(c["params"], sort_keys=True)) for c in checks} == \
           {(r["model"], json.dumps(r["params"], sort_keys=True)) for r in leaders}
    # the closed-form choice is the best on the re-checks' mean (a mix of it may still win on the first holdout)
    closed_choice = choose([r for r in out.rows if r["model"] != "mix"], out.order, checks)
    assert out.rechecks == checks and closed_choice["holdouts"] == 2
    means, _ = choice.holdout_means(out.rows, checks)
    assert closed_choice["holdouts_mean"] == max(means.values())
    assert sum("re-check" in line for line in lines) == 8
    again = search(tmp_path, d, side, "auto", CONFIG, config, Budget(None), models=[], log=lines.append)
    assert (tmp_path / choice.RECHECK_FILE).read_text().count("\n") == 8
    assert sum("re-check" in line for line in lines) == 8
    assert again.winner["params"] == out.winner["params"] and again.winner["model"] == out.winner["model"]
    one = search(tmp_path / "one", d, side, "auto", CONFIG, replace(config, holdouts=1), Budget(None), models=[])
    assert one.rechecks == [] and "holdouts_mean" not in one.winner
    # a holdout not drawn at random (stored, or by time): one holdout decides unless holdouts is given
    lines.clear()
    stored = search(tmp_path / "stored", d, side, "auto", CONFIG, replace(config, holdouts=None), Budget(None),
                    models=[], log=lines.append, random_holdout=False)
    assert stored.rechecks == [] and any(line.startswith("one holdout decides") for line in lines)
    assert len(search(tmp_path / "random", d, side, "auto", CONFIG, TuneConfig(max_trials=1), Budget(None),
                      models=[]).rechecks) == (tune.RANDOM_HOLDOUTS - 1) * 6


def test_rechecks_stop_where_the_budget_could_not_hold_the_next_one(tmp_path):
    d, side = data(), SideGraphs(40, 60)
    out = search(tmp_path / "grids", d, side, "auto", CONFIG, TuneConfig(max_trials=1, holdouts=1), Budget(None),
                 models=[])
    rooms, lines = iter([1e9, 1e9, 0.0]), []  # room for two re-checks, then none
    checks = choice.recheck(tmp_path, d, out.rows, CONFIG, 3, 3, lambda name: next(rooms), lines.append)
    assert len(checks) == 2 and {c["holdout"] for c in checks} == {1}
    assert lines[-1] == "re-checks stopped at holdout 2 of 3, for want of time"
    # the third leader, below both on the first holdout, was not re-checked: the mean compares the two that were
    means, count = choice.holdout_means(out.rows, checks)
    assert len(means) == 2 and count == 1
    (tmp_path / choice.RECHECK_FILE).write_text((tmp_path / choice.RECHECK_FILE).read_text() + '{"model": "gf')
    assert choice.read_rechecks(tmp_path) == checks  # a line a kill cut short is left out


def test_auto_mixes_its_best_trained_trial_and_ials_with_its_closed_form_leaders(tmp_path):
    from graphrec.closedfit import grid_points, valid_ranking
    from graphrec.evaluate import evaluate
    from graphrec.models import build

    d, side, config = data(), SideGraphs(40, 60), TuneConfig(max_trials=2, holdouts=1)
    lines = []
    out = search(tmp_path, d, side, "auto", CONFIG, config, Budget(None), models=["mf"], log=lines.append)
    ranked = valid_ranking(d, config.valid_users, CONFIG.seed)
    trials = [r for r in out.rows if r["model"] != "mix"]
    parts = [r for r in trials if r["model"] == "mf" and r["state"] == "complete"]
    best = max(parts, key=lambda r: r["value"])
    kept = torch.load(tmp_path / automix.TRAINED_FILE, weights_only=True)
    assert (kept["model"], kept["number"], kept["value"]) == ("mf", best["number"], best["value"])
    # the kept embeddings are that trial's model at its best epoch: they rank the holdout as it did
    assert evaluate((kept["user"], kept["item"]), ranked, "valid")["recall@20"] == pytest.approx(best["value"])
    ials = automix.best_ials(trials)
    bases = automix.mix_bases(trials, out.order[:-1], [])
    closed = [r for r in trials if r["model"] != "mf" and r["state"] == "complete" and r["value"] is not None]
    assert bases[0] == choose(closed, out.order) and len({b["model"] for b in bases}) == len(bases) == automix.MIX_BASES
    # the bases after the choice are the other closed-form models best on the holdout, each at its best point
    others = sorted((r for r in closed if r["model"] != bases[0]["model"]), key=lambda r: -r["value"])
    assert bases[1] == others[0] and bases[1:] == [max((r for r in closed if r["model"] == b["model"]),
                                                       key=lambda r: r["value"]) for b in bases[1:]]
    weights = [p["weight"] for p in grid_points("mix")]
    mixes = [r for r in out.rows if r["model"] == "mix"]
    # iALS's mixes with each base (but itself) come before the trained trials, the trained part's with each base last
    expected = [(b["model"], part, w) for part in (f"ials #{ials['number']}", f"mf #{best['number']}")
                for b in bases if not part.startswith(b["model"] + " ") for w in weights]
    assert [(m["params"]["base"], m["params"]["trained"], m["params"]["weight"]) for m in mixes] == expected
    for m in mixes:  # its refit fits the base in full and the part; its test ranks like its weights did
        assert m["fit_seconds"] > 0 and tunecost.test_estimate(m) == m["seconds"] - m["fit_seconds"] > 0
        base = next(b for b in bases if b["model"] == m["params"]["base"])
        assert m["hparams"]["base_hp"] == base["params"] and m["hparams"]["weight"] == m["params"]["weight"]
        if m["hparams"]["trained"] == "mf":
            assert m["hparams"]["trained_config"]["epochs"] == max(1, best["best_epoch"])
        else:  # iALS at its best point, fitted in closed form: no epochs
            assert m["hparams"]["trained_hp"] == ials["params"] and m["hparams"]["trained_config"] is None
    # a mix row ranks the holdout as the mix of those parts does, fitted anew (up to a near-tie: the row summed the
    # parts each over its scale, the mix sums them each times its share, and the two round apart)
    graph = torch.stack(ranked.train.pairs())
    for m in (next(m for m in mixes if m["hparams"]["trained"] == "mf"),
              next(m for m in mixes if m["hparams"]["trained"] == "ials")):
        again = build("mix", 40, 60, graph=graph, **m["hparams"])
        if m["hparams"]["trained"] == "mf":
            again.use_parts(embeddings=(kept["user"], kept["item"]))
        again.fit()
        assert evaluate(again.score, ranked, "valid")["recall@20"] == pytest.approx(m["value"], abs=0.01)
    done = [r for r in out.rows if r["state"] == "complete" and r["value"] is not None]
    assert out.winner["value"] == max(r["value"] for r in done) and "mix" in out.order
    assert sum(line.startswith("mix of ") for line in lines) == len(expected)
    # iALS's mixes were ranked before the first trained trial, the trained part's after the last
    steps = [line.split()[2] if line.startswith("mix of ") else "trial" for line in lines
             if line.startswith(("mix of ", "trial mf "))]
    assert [s for i, s in enumerate(steps) if i == 0 or steps[i - 1] != s] == ["ials", "trial", "mf"]
    # resumed with nothing new: the mixes are read back, not ranked again
    resumed = search(tmp_path, d, side, "auto", CONFIG, config, Budget(None), models=["mf"], log=lines.append)
    assert sum(line.startswith("mix of ") for line in lines) == len(expected)
    assert [r["value"] for r in resumed.rows if r["model"] == "mix"] == [m["value"] for m in mixes]
    # tune on one model mixes nothing
    one = search(tmp_path / "one", d, side, "mf", CONFIG, TuneConfig(max_trials=1), Budget(None))
    assert not any(r["model"] == "mix" for r in one.rows) and not (tmp_path / "one" / automix.TRAINED_FILE).exists()


def test_a_resumed_search_mixes_the_parts_it_leads_with_now(tmp_path):
    d, side, config = data(), SideGraphs(40, 60), TuneConfig(max_trials=1, holdouts=1)
    out = search(tmp_path, d, side, "auto", CONFIG, config, Budget(None), models=["mf"])
    from graphrec.closedfit import valid_ranking

    ranked = valid_ranking(d, config.valid_users, CONFIG.seed)
    rows = [r for r in out.rows if r["model"] != "mix"]
    first = {r["params"]["base"] for r in out.rows if r["model"] == "mix"}
    # another closed-form point leads now (as a resumed grid might find): its mixes are ranked, the old ones kept
    other = next(r for r in rows if r["model"] == "popularity")
    moved = [{**r, "value": 1.0} if r is other else r for r in rows]
    lines = []
    before = (tmp_path / automix.MIX_FILE).read_text().count("\n")
    again = automix.mix_search(tmp_path, ranked, moved, out.order, [], CONFIG, lambda name, base: float("inf"),
                               lines.append)
    assert "popularity" not in first and automix.mix_bases(moved, out.order, [])[0]["model"] == "popularity"
    new = [r for r in again if r["params"]["base"] == "popularity"]
    assert len(new) == 2 * 5 and len(lines) == 10  # mf's and iALS's five weights with it, the only ones ranked
    assert (tmp_path / automix.MIX_FILE).read_text().count("\n") == before + 10
    # no room for a base's fit and its rankings: none is ranked, and the log says so
    lines.clear()
    assert automix.mix_search(tmp_path / "none", ranked, rows, out.order, [], CONFIG, lambda name, base: 0.0,
                           lines.append) == []
    assert lines and all(line.endswith("left out, for want of time") for line in lines)


def test_where_a_base_cannot_hold_every_part_the_weakest_part_is_left_out_first(tmp_path, monkeypatch):
    """Gowalla: a LightGCN trial of 0.08, its refit counted beside BSPM's, left BSPM's mix with iALS (0.215) out."""
    d, side, config = data(), SideGraphs(40, 60), TuneConfig(max_trials=1, holdouts=1)
    out = search(tmp_path / "first", d, side, "auto", CONFIG, config, Budget(None), models=["mf"])
    from graphrec.closedfit import valid_ranking

    ranked = valid_ranking(d, config.valid_users, CONFIG.seed)
    rows = [r for r in out.rows if r["model"] != "mix"]
    real_parts = automix.mix_parts

    def parts(folder, rows, config, trained=True):  # the trained part dear to refit and weak; iALS cheap and strong
        found = {p["model"]: p for p in real_parts(folder, rows, config, trained)}
        return [{**found["mf"], "value": 0.01, "refit_seconds": 1e6}, {**found["ials"], "value": 0.9}]

    monkeypatch.setattr(automix, "mix_parts", parts)
    (tmp_path / "first" / automix.MIX_FILE).unlink()  # the search's own mixes, ranked with room for everything
    lines = []
    mixes = automix.mix_search(tmp_path / "first", ranked, rows, out.order, [], CONFIG, lambda name, base: 1e5,
                               lines.append)
    assert mixes and {m["params"]["trained"].split(" #")[0] for m in mixes} == {"ials"}
    assert any(line.startswith("mix of mf #") and line.endswith("left out, for want of time") for line in lines)


def test_a_closed_form_model_starts_only_with_room_for_a_point_as_dear_as_any_so_far():
    rows = [{"model": "sgfcf", "state": "complete", "seconds": 46.0},
            {"model": "bspm", "state": "complete", "seconds": 57.0},
            {"model": "bspm", "state": "fail", "seconds": 300.0},
            {"model": "lightgcn", "state": "complete", "seconds": 500.0, "epochs": 5}]
    assert tunecost.entry_seconds(rows, 10.0) == 57.0  # closed-form, finished
    assert tunecost.entry_seconds([], 10.0) == 10.0


def test_the_mixes_use_the_room_the_trials_kept_for_them(tmp_path, monkeypatch):
    """Gowalla, 30 minutes: the trials kept room for the mixes, then the mixes counted their own reserve against
    themselves and were left out. Here the reserve is the whole budget once iALS has a point: every closed-form
    model after it goes unreached, and the mixes still run."""
    monkeypatch.setattr(tune, "mix_reserve", lambda rows, order, rechecks, trained=True:
                        1e12 if automix.best_ials(rows) else 0.0)
    lines = []
    out = search(tmp_path, data(), SideGraphs(40, 60), "auto", CONFIG, TuneConfig(budget_seconds=1e6, holdouts=1),
                 Budget(1e6, clock=lambda: 0.0, start=0.0), models=[], log=lines.append)
    after = tune.CLOSED_ORDER[tune.CLOSED_ORDER.index("ials") + 1:]
    assert set(after) <= set(out.not_reached) and "ials: 11 of its grid's 12 points left out, for want of time" in lines
    mixes = [r for r in out.rows if r["model"] == "mix"]
    assert mixes and {m["params"]["trained"] for m in mixes} == {"ials #0"}


def test_the_closed_form_grids_keep_room_for_the_dearest_mix_publish_beyond_the_best(tmp_path, monkeypatch):
    """Gowalla, 30 minutes in a fresh home: a mix of BSPM publishes BSPM's item rows (223 s) where the best, SGFCF,
    publishes its own (27 s); the grids had used that difference, and every mix was left out. Here a base's mix
    would take forever to publish: once iALS (a mix part) has a point, no closed-form model after it starts."""
    monkeypatch.setattr(tune, "mix_reserve", lambda rows, order, rechecks, trained=True:
                        1.0 if automix.best_ials(rows) else 0.0)
    monkeypatch.setattr(tune, "reserved_bases", lambda rows, order, rechecks, trained=True:
                        [r for r in rows if r["model"] == "popularity"])
    monkeypatch.setattr(tunecost.PublishCost, "seconds", lambda self, name, rows=(), base=None:
                        1e12 if name == "mix" and base == "popularity" else 0.0)
    lines = []
    out = search(tmp_path, data(), SideGraphs(40, 60), "auto", CONFIG, TuneConfig(budget_seconds=1e6, holdouts=1),
                 Budget(1e6, clock=lambda: 0.0, start=0.0), models=[], log=lines.append)
    after = tune.CLOSED_ORDER[tune.CLOSED_ORDER.index("ials") + 1:]
    assert set(after) <= set(out.not_reached) and "ials: 11 of its grid's 12 points left out, for want of time" in lines
    assert not set(tune.CLOSED_ORDER[:tune.CLOSED_ORDER.index("ials")]) & set(out.not_reached)


def test_auto_keeps_room_for_the_mixes_while_its_trials_run():
    rows = [{"model": "bspm", "number": 0, "state": "complete", "value": 0.30, "params": {}, "seconds": 14.0,
             "fit_seconds": 10.0},
            {"model": "mf", "number": 0, "state": "complete", "value": 0.28, "params": {}, "seconds": 100.0,
             "epochs": 10, "best_epoch": 8}]
    order = ["bspm", "mf"]
    # the filter fitted again, each part scored once and ranked at five weights (1.5 + 5 x 0.2 rankings of the
    # filter's), and the trained part trained again to its best epoch
    assert automix.mix_reserve(rows, order, []) == pytest.approx(1.3 * 10 + 2.5 * 4 + 1.3 * 10 * 8)
    assert automix.mix_reserve(rows[:1], order, []) == pytest.approx(1.3 * 10 + 2.5 * 4)
    assert automix.mix_reserve(rows[1:], order, []) == 0.0
    # with an iALS point: a part of BSPM's mixes, fitted twice (on the holdout and in the refit); a trained trial
    # keeps room for the closed-form choice's mixes only, and while the closed-form grids run (no trained part to
    # come) the iALS mixes of every base are kept
    ials = {"model": "ials", "number": 0, "state": "complete", "value": 0.29, "params": {}, "seconds": 6.0,
            "fit_seconds": 5.0}
    order = ["bspm", "ials", "mf"]
    assert automix.mix_reserve(rows + [ials], order, []) == pytest.approx(
        1.3 * 10 + 2 * 2.5 * 4 + 2.3 * 5 + 1.3 * 10 * 8)  # a trained trial keeps the closed-form choice's mixes
    assert automix.mix_reserve([rows[0], ials], order, [], trained=False) == pytest.approx(
        1.3 * 10 + 2.5 * 4 + 2.3 * 5)
    assert automix.mix_reserve([ials], order, [], trained=False) == 0.0  # iALS alone: nothing to mix it with
    # iALS's mixes with BSPM ranked (before the trained trials): a trained trial keeps room for its own part's mix
    mixed = {"model": "mix", "number": 0, "state": "complete", "value": 0.31, "seconds": 30.0, "fit_seconds": 15.0,
             "params": {"base": "bspm", "trained": "ials #0", "weight": 0.5}}
    assert automix.mix_reserve(rows + [ials, mixed], order, []) == pytest.approx(1.3 * 10 + 2.5 * 4 + 1.3 * 10 * 8)
    assert automix.mix_reserve([rows[0], ials, mixed], order, [], trained=False) == 0.0
