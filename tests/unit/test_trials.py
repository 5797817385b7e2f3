import pytest

from graphrec import trials
from graphrec.models import MODELS, hparam_names
from graphrec.models.space import Range
from graphrec.recdata import RecData
from graphrec.sidegraphs import SideGraphs
from graphrec.train import TrainConfig
from graphrec.trials import open_study
from tests.unit.conftest import random_pairs


def data() -> RecData:
    pairs = random_pairs(40, 60, 700, seed=5)
    return RecData.from_pairs(40, 60, pairs[:, :550], None, pairs[:, 550:]).with_holdout(0.2, seed=0)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_search_space_names_constructor_arguments_with_usable_values(name):
    space = trials.space_of(name)
    assert set(space) - {"lr"} <= set(hparam_names(MODELS[name]))
    for key, spec in space.items():
        assert isinstance(spec, Range) or (isinstance(spec, tuple) and spec), (name, key)
    if not MODELS[name].closed_form:
        assert "lr" in space and set(trials.defaults(name)) == set(space)


def test_pruning_stops_a_bad_trial_early(tmp_path, monkeypatch):
    """Trials climb to 0.5 over 30 epochs; a third stays at 0.1 and is stopped at the end of the warm-up (epoch 5 of 30)."""

    def scripted_fit(model, data, config, callback=None, **kwargs):
        level = 0.1 if config.lr < 1e-3 else 0.5
        for epoch in range(1, config.epochs + 1):
            callback({"epoch": epoch, "seconds": 0.0, "valid": {config.metric: level * min(1.0, epoch / 5)}})

    monkeypatch.setattr(trials, "fit", scripted_fit)
    d, side = data(), SideGraphs(40, 60)
    config = TrainConfig(epochs=30, batch_size=64, progress=False)
    study = open_study(tmp_path, "mf", 0, startup_trials=2, warmup_epochs=5)
    for lr in (2e-3, 3e-3, 1e-4):  # after the defaults, queued first
        study.enqueue_trial({"lr": lr, "reg": 1e-4})
    results = [trials.run_trial(study, "mf", d, side, config, 0, None) for _ in range(4)]
    assert [t.state.name for t in results] == ["COMPLETE", "COMPLETE", "COMPLETE", "PRUNED"]
    bad = results[-1]
    assert bad.params["lr"] == 1e-4 and bad.user_attrs["epochs"] == 5 and bad.user_attrs["stopped"] == "pruned"
    assert results[1].user_attrs["epochs"] == 30


def test_a_trial_stops_inside_an_epoch_that_outlasts_its_share(tmp_path):
    d, side = data(), SideGraphs(40, 60)
    study = open_study(tmp_path, "lightgcn", 0)
    slow = TrainConfig(epochs=3, batch_size=1, seed=0, progress=False)  # hundreds of steps an epoch
    trial = trials.run_trial(study, "lightgcn", d, side, slow, 0, 1e-9)
    assert trial.state.name == "FAIL" and trial.user_attrs["stopped"] == "no epoch ended within its time share"
    assert trial.user_attrs["epochs"] == 0  # the first step past the deadline ended it, not the end of an epoch


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_default_lies_in_its_search_space(name):
    """The first trial of a model is its defaults: a default outside the declared values could not be proposed."""
    defaults = trials.defaults(name) if not MODELS[name].closed_form else {}
    for key, value in defaults.items():
        spec = trials.space_of(name)[key]
        assert (spec.low <= value <= spec.high) if isinstance(spec, Range) else value in spec, (name, key, value)
