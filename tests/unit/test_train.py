import json
import math
import platform
from dataclasses import replace

import pytest
import torch

from graphrec.errors import ConfigError
from graphrec.evaluate import evaluate
from graphrec.models import build, load_model
from graphrec.recdata import RecData
from graphrec.train import TrainConfig, fit, keep_freed_memory, loss_text
from tests.unit.conftest import random_pairs


def data() -> RecData:
    pairs = random_pairs(20, 30, 160, seed=5)
    pairs = pairs[:, torch.randperm(pairs.size(1), generator=torch.Generator().manual_seed(0))]
    return RecData.from_pairs(20, 30, pairs[:, :120], None, pairs[:, 120:]).with_holdout(0.2, seed=0)


def model(d, seed=0):
    return build("lightgcn", d.n_users, d.n_items, graph=torch.stack(d.train.pairs()), seed=seed, dim=8)


class ScriptedEvaluate:
    """Spy on evaluate: records every call, returns scripted valid scores, real numbers for test."""

    def __init__(self, valid_scores):
        self.valid_scores = list(valid_scores)
        self.calls = []

    def __call__(self, scorer, data, split, **kwargs):
        self.calls.append((split, [t.clone() for t in scorer]))
        if split == "test":
            return evaluate(scorer, data, split, **kwargs)
        return {"recall@20": self.valid_scores.pop(0), "ndcg@20": 0.0, "n_users": 1.0}


def test_early_stopping_keeps_the_best_valid_epoch_and_touches_test_once_at_the_end():
    d = data()
    spy = ScriptedEvaluate([0.1, 0.3, 0.2, 0.25, 0.05, 0.9])
    config = TrainConfig(epochs=10, batch_size=32, lr=0.01, patience=3, progress=False)
    result = fit(model(d), d, config, evaluate_fn=spy)
    splits = [split for split, _ in spy.calls]
    assert splits == ["valid"] * 5 + ["test"]  # stopped after 3 evaluations without improvement
    assert result.best_epoch == 2 and result.best_valid["recall@20"] == 0.3
    assert result.epochs_run == 5 and result.stopped_early
    best_embeddings = spy.calls[1][1]
    assert all(torch.equal(a, b) for a, b in zip(spy.calls[-1][1], best_embeddings))  # test used the best weights
    assert set(result.test) >= {"recall@20", "ndcg@20", "coverage@20", "novelty@20"}


def test_min_epochs_holds_off_early_stopping_through_an_early_dip():
    d = data()
    # the dip after epoch 1 would stop a patience-3 run at epoch 4; min_epochs 6 keeps it going until the climb
    spy = ScriptedEvaluate([0.3, 0.1, 0.15, 0.2, 0.25, 0.32, 0.35, 0.2, 0.2, 0.2, 0.2, 0.2])
    config = TrainConfig(epochs=12, batch_size=32, lr=0.01, patience=3, min_epochs=6, progress=False)
    result = fit(model(d), d, config, evaluate_fn=spy)
    assert result.best_epoch == 7 and result.best_valid["recall@20"] == 0.35
    assert result.epochs_run == 10 and result.stopped_early  # 3 bad evaluations after the best, then stop



def test_a_time_budget_stops_before_an_epoch_that_could_overrun_validates_the_last_and_resumes_with_more(
        tmp_path, monkeypatch):
    import graphrec.train as train

    real = train.train_epoch
    minutes = iter([10.0, 12.0, 11.0, 10.0, 10.0, 10.0, 10.0])  # "seconds" each epoch reports

    def timed(*args, **kwargs):
        loss, _ = real(*args, **kwargs)
        return loss, next(minutes)

    monkeypatch.setattr(train, "train_epoch", timed)
    d = data()
    spy = ScriptedEvaluate([0.1, 0.3, 0.2, 0.4, 0.5])
    config = TrainConfig(epochs=100, batch_size=32, lr=0.01, eval_every=5, budget_seconds=40, progress=False)
    result = fit(model(d), d, config, run_dir=tmp_path, evaluate_fn=spy)
    # after 3 epochs (33 s) a 4th could take 1.1 x 12 s and end past 40 s: stop, and validate that last epoch
    assert result.epochs_run == 3 and result.budget_spent and not result.stopped_early
    assert [split for split, _ in spy.calls] == ["valid", "test"] and result.best_epoch == 3
    assert result.seconds_train == 33.0
    # resumed with a larger budget (like more epochs), it goes on from epoch 3 until that budget is spent
    resumed = fit(model(d), d, replace(config, budget_seconds=60), run_dir=tmp_path, evaluate_fn=spy)
    assert resumed.epochs_run == 5 and resumed.seconds_train == 53.0 and resumed.budget_spent  # 53 + 13.2 > 60
    # with the same budget again it trains nothing more
    again = fit(model(d), d, replace(config, budget_seconds=60), run_dir=tmp_path, evaluate_fn=spy)
    assert again.epochs_run == 5


def test_eval_every_0_trains_a_fixed_number_of_epochs_without_a_valid_split_and_resumes(tmp_path):
    pairs = random_pairs(20, 30, 160, seed=5)
    d = RecData.from_pairs(20, 30, pairs[:, :120], None, pairs[:, 120:])  # train + test, no valid
    with pytest.raises(ConfigError, match="no valid split"):
        fit(model(d), d, TrainConfig(epochs=2, batch_size=32, progress=False))
    config = TrainConfig(epochs=5, batch_size=32, lr=0.01, eval_every=0, patience=None, progress=False)
    spy = ScriptedEvaluate([])
    straight = model(d)
    result = fit(straight, d, config, run_dir=tmp_path / "straight", evaluate_fn=spy)
    assert [split for split, _ in spy.calls] == ["test"]  # never validated, tested once
    assert result.epochs_run == 5 and result.best_epoch == 5 and not result.stopped_early
    with torch.no_grad():  # the test saw the last epoch's weights, which the model keeps
        assert all(torch.equal(a, b) for a, b in zip(spy.calls[0][1], straight()))
    assert "valid" not in json.loads((tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()[-1])
    assert (tmp_path / "straight" / "curves.png").stat().st_size > 0
    from graphrec.train import plot_history

    fig = plot_history(result.history, tmp_path / "again.png")  # the loss alone; the other panel says why
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts == ["no validation:\n5 epochs, the last one kept"] and fig.axes[0].lines
    # interrupted after 2 epochs, then resumed: the same weights as the straight run
    halves = model(d)
    fit(halves, d, replace(config, epochs=2), run_dir=tmp_path / "halves")
    fit(halves, d, config, run_dir=tmp_path / "halves")
    assert all(torch.equal(a, b) for a, b in zip(halves.state_dict().values(), straight.state_dict().values()))
    with pytest.raises(ConfigError, match="eval_every"):
        fit(model(d), d, replace(config, eval_every=-1))

def test_interrupted_run_resumes_to_the_same_result(tmp_path):
    d = data()
    config = TrainConfig(epochs=6, batch_size=32, lr=0.01, patience=None, progress=False, checkpoint_every=1)
    straight = model(d)
    full = fit(straight, d, config, run_dir=tmp_path / "straight")

    class Interrupt(Exception):
        pass

    def stop_after_three(record):
        if record["epoch"] == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        fit(model(d), d, config, run_dir=tmp_path / "resumed", callback=stop_after_three)
    resumed_model = model(d, seed=123)  # weights come from the checkpoint, not from this init
    resumed = fit(resumed_model, d, config, run_dir=tmp_path / "resumed")

    assert resumed.best_epoch == full.best_epoch and resumed.test == full.test
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in full.history]
    assert all(torch.equal(a, b) for a, b in zip(resumed_model.state_dict().values(), straight.state_dict().values()))
    lines = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == list(range(1, 7))
    assert (tmp_path / "resumed" / "curves.png").stat().st_size > 0
    loaded = load_model(tmp_path / "resumed" / "best.pt", graph=torch.stack(d.train.pairs()))
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), straight.state_dict().values()))


def test_same_seed_same_run_and_a_changed_config_refuses_to_resume(tmp_path):
    d = data()
    config = TrainConfig(epochs=2, batch_size=32, lr=0.01, progress=False)
    a = fit(model(d), d, config, run_dir=tmp_path / "a")
    b = fit(model(d), d, config)
    assert a.history[-1]["loss"] == b.history[-1]["loss"] and a.test == b.test
    with pytest.raises(ConfigError, match="another training config"):
        fit(model(d), d, TrainConfig(epochs=3, batch_size=64, progress=False), run_dir=tmp_path / "a")


def test_a_checkpoint_refuses_to_resume_under_another_model_or_other_hyper_parameters(tmp_path):
    d = data()
    config = TrainConfig(epochs=2, batch_size=32, lr=0.01, progress=False)
    graph = torch.stack(d.train.pairs())
    fit(build("sgl", d.n_users, d.n_items, graph=graph, seed=0, dim=8, ssl_reg=0.005), d, config, run_dir=tmp_path / "r")
    longer = replace(config, epochs=3)
    # same shapes, so the weights would load silently: the recorded hyper-parameters are what catch it
    with pytest.raises(ConfigError, match="other hyper-parameters.*'ssl_reg': 0.005.*'ssl_reg': 0.1"):
        fit(build("sgl", d.n_users, d.n_items, graph=graph, seed=0, dim=8), d, longer, run_dir=tmp_path / "r")
    with pytest.raises(ConfigError, match="another model"):
        fit(model(d), d, longer, run_dir=tmp_path / "r")
    resumed = fit(build("sgl", d.n_users, d.n_items, graph=graph, seed=0, dim=8, ssl_reg=0.005), d, longer,
                  run_dir=tmp_path / "r")
    assert resumed.epochs_run == 3
    # a checkpoint written before models were recorded still resumes (nothing to check it against)
    ckpt = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)
    del ckpt["model_key"]
    torch.save(ckpt, tmp_path / "r" / "checkpoint.pt")
    assert fit(build("sgl", d.n_users, d.n_items, graph=graph, seed=0, dim=8), d, replace(config, epochs=4),
               run_dir=tmp_path / "r").epochs_run == 4


def test_fit_refuses_data_without_a_valid_split():
    d = RecData.from_pairs(3, 3, torch.tensor([[0, 1], [1, 2]]), None, torch.tensor([[2], [0]]))
    with pytest.raises(ConfigError, match="with_holdout"):
        fit(model(d), d, TrainConfig(progress=False))


def test_on_epoch_start_runs_once_per_epoch_seeded_and_leaves_the_batches_unchanged():
    from graphrec.train import make_optimizer, train_epoch

    class Hooked(type(model(data()))):
        def on_epoch_start(self, generator):
            self.draws.append(int(torch.randint(2**31, (1,), generator=generator)))

    def run(hooked: bool):
        d = data()
        m = model(d)
        if hooked:
            m.__class__, m.draws = Hooked, []
        seen = []
        original_loss = m.loss
        m.loss = lambda batch: (seen.append(batch.users.clone()), original_loss(batch))[1]
        optimizer = make_optimizer(m, 0.01)
        for epoch in range(3):
            train_epoch(m, optimizer, d, 32, torch.Generator().manual_seed(epoch))
        return m, seen

    first, batches = run(hooked=True)
    again, _ = run(hooked=True)
    plain, plain_batches = run(hooked=False)
    assert len(first.draws) == 3 and len(set(first.draws)) == 3 and first.draws == again.draws
    assert all(torch.equal(a, b) for a, b in zip(batches, plain_batches))
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), plain.state_dict().values()))


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the allocator setting is glibc's")
def test_training_asks_glibc_to_keep_freed_buffers():
    # Both thresholds are accepted by this glibc (mallopt returns 1); calling again is free (cached).
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True


def test_the_sampler_is_part_of_the_run_config_and_old_checkpoints_resume_as_interaction(tmp_path):
    d = data()
    user = TrainConfig(epochs=2, batch_size=32, lr=0.01, progress=False, sampler="user")
    inter = TrainConfig(epochs=2, batch_size=32, lr=0.01, progress=False)
    assert fit(model(d), d, user).history[-1]["loss"] != fit(model(d), d, inter).history[-1]["loss"]
    fit(model(d), d, user, run_dir=tmp_path / "u")
    with pytest.raises(ConfigError, match="another training config"):
        fit(model(d), d, TrainConfig(epochs=3, batch_size=32, lr=0.01, progress=False), run_dir=tmp_path / "u")
    # a checkpoint written before the option existed has no "sampler" key: it was the interaction sampler
    fit(model(d), d, inter, run_dir=tmp_path / "old")
    ckpt = torch.load(tmp_path / "old" / "checkpoint.pt", weights_only=True)
    del ckpt["config"]["sampler"]
    torch.save(ckpt, tmp_path / "old" / "checkpoint.pt")
    resumed = fit(model(d), d, TrainConfig(epochs=3, batch_size=32, lr=0.01, progress=False), run_dir=tmp_path / "old")
    assert resumed.epochs_run == 3
    with pytest.raises(ConfigError, match="sampler"):
        fit(model(d), d, TrainConfig(progress=False, sampler="items"))


def test_the_weighted_sampler_trains_resumes_to_the_same_weights_and_refuses_unweighted_data(tmp_path):
    d = data()
    w = replace(d, train=replace(d.train, weights=torch.linspace(0.5, 3.0, d.train.nnz)))
    config = TrainConfig(epochs=4, batch_size=32, lr=0.01, patience=None, progress=False, sampler="weighted")
    straight = model(w)
    full = fit(straight, w, config, run_dir=tmp_path / "straight")
    halves = model(w)
    fit(halves, w, replace(config, epochs=2), run_dir=tmp_path / "halves")
    resumed = fit(halves, w, config, run_dir=tmp_path / "halves")
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in full.history]
    assert all(torch.equal(a, b) for a, b in zip(halves.state_dict().values(), straight.state_dict().values()))
    plain = fit(model(w), w, replace(config, sampler="interaction"))
    assert plain.history[-1]["loss"] != full.history[-1]["loss"]
    with pytest.raises(ConfigError, match="another training config"):  # same folder, other sampler
        fit(model(w), w, replace(config, sampler="interaction", epochs=5), run_dir=tmp_path / "halves")
    with pytest.raises(ConfigError, match="carry none"):  # before any epoch
        fit(model(d), d, config, run_dir=tmp_path / "unweighted")
    assert not (tmp_path / "unweighted").exists()


def test_each_epoch_logs_the_named_terms_of_a_multi_term_loss_and_they_add_up_to_the_loss(tmp_path):
    d = data()
    ncl = build("ncl", d.n_users, d.n_items, graph=torch.stack(d.train.pairs()), seed=0, dim=8, num_clusters=3,
                warm_up_epochs=1)
    config = TrainConfig(epochs=3, batch_size=32, lr=0.01, eval_every=1, patience=None, progress=False)
    fit(ncl, d, config, run_dir=tmp_path / "ncl")
    records = [json.loads(line) for line in (tmp_path / "ncl" / "metrics.jsonl").read_text().splitlines()]
    # the prototype term starts once warm-up (1 epoch) is over
    assert [list(r["loss_parts"]) for r in records] == [["bpr", "reg", "structural"]] + \
        [["bpr", "reg", "structural", "proto"]] * 2
    for r in records:
        assert sum(r["loss_parts"].values()) == pytest.approx(r["loss"], rel=1e-5)
        assert r["loss_parts"]["bpr"] == pytest.approx(math.log(2), abs=0.05)  # tiny xavier init: BPR near ln 2
    text = loss_text(records[0])
    assert text.startswith(f"loss {records[0]['loss']:.5f} (bpr ") and " + structural " in text
    assert (tmp_path / "ncl" / "curves.png").stat().st_size > 0
    # a single-term loss logs no parts
    fit(model(d), d, replace(config, epochs=1), run_dir=tmp_path / "lightgcn")
    record = json.loads((tmp_path / "lightgcn" / "metrics.jsonl").read_text())
    assert "loss_parts" not in record and loss_text(record) == f"loss {record['loss']:.5f}"


def test_reduce_on_plateau_decays_after_each_stall_a_refit_replays_it_and_a_resume_keeps_the_decayed_lr(tmp_path):
    d = data()
    # validations: better, worse (decay), better, worse, worse (decay after the 2nd in a row with patience 2)...
    spy = ScriptedEvaluate([0.1, 0.05, 0.2, 0.15, 0.1, 0.3, 0.2])
    config = TrainConfig(epochs=7, batch_size=32, lr=0.01, patience=None, progress=False, lr_decay=0.1,
                         lr_decay_patience=1, min_lr=2e-5)
    result = fit(model(d), d, config, evaluate_fn=spy)
    lrs = [r["lr"] for r in result.history]
    decayed = {r["epoch"]: r["lr_decayed_to"] for r in result.history if "lr_decayed_to" in r}
    # patience 1: every validation that does not beat the best decays, floored at min_lr
    assert decayed == {2: pytest.approx(1e-3), 4: pytest.approx(1e-4), 5: pytest.approx(2e-5), 7: pytest.approx(2e-5)}
    assert lrs == pytest.approx([0.01, 0.01, 1e-3, 1e-3, 1e-4, 2e-5, 2e-5])
    spy = ScriptedEvaluate([0.1, 0.05, 0.2, 0.15, 0.1, 0.3, 0.2])
    patient = fit(model(d), d, replace(config, lr_decay_patience=2), evaluate_fn=spy)
    assert [r["epoch"] for r in patient.history if "lr_decayed_to" in r] == [5]  # two stalls in a row: 4 and 5

    # a run without validation replays the schedule: same losses as the validated run, epoch by epoch
    from graphrec.train import lr_decay_epochs
    assert lr_decay_epochs(result.history, up_to=6) == [2, 4, 5]
    spy = ScriptedEvaluate([0.1, 0.05, 0.2, 0.15, 0.1, 0.3])
    validated = fit(model(d), d, replace(config, epochs=6), evaluate_fn=spy)
    replay = TrainConfig(epochs=6, batch_size=32, lr=0.01, eval_every=0, patience=None, progress=False,
                         lr_decay=0.1, min_lr=2e-5, lr_decay_epochs=(2, 4, 5))
    replayed = fit(model(d), d, replay, run_dir=tmp_path / "replay")
    assert [r["loss"] for r in replayed.history] == [r["loss"] for r in validated.history]
    assert [r["lr"] for r in replayed.history] == [r["lr"] for r in validated.history]

    # interrupted after the decays, the resumed run goes on at the decayed lr (it travels in the optimizer state)
    halves = model(d)
    fit(halves, d, replace(replay, epochs=3), run_dir=tmp_path / "halves")
    resumed = fit(halves, d, replay, run_dir=tmp_path / "halves")
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in replayed.history]
    # the schedule is part of the run's config: another one refuses to resume
    with pytest.raises(ConfigError, match="another training config"):
        fit(model(d), d, replace(replay, lr_decay_epochs=(3,)), run_dir=tmp_path / "replay")
    # without any decay, the config key is the one older checkpoints carry
    from graphrec.train import _config_key
    assert "lr_decay" not in _config_key(TrainConfig()) and "lr_decay_epochs" not in _config_key(TrainConfig())


@pytest.mark.parametrize("bad, message", [
    (dict(lr_decay=1.5), "lr_decay must be in"),
    (dict(lr_decay=0.1, lr_decay_patience=0), "lr_decay_patience"),
    (dict(lr_decay_epochs=(3,), eval_every=0), "needs TrainConfig.lr_decay"),
    (dict(lr_decay=0.1, lr_decay_epochs=(3,)), "replays lr decays in a run without validation"),
    (dict(lr_decay=0.1, eval_every=0), "does not validate"),
])
def test_lr_decay_settings_are_checked(bad, message):
    with pytest.raises(ConfigError, match=message):  # where the config is built, before any model or data
        TrainConfig(epochs=1, batch_size=32, progress=False, **bad)


def test_holdout_then_refit_replays_the_holdout_schedule_on_train_and_valid_and_tests_once(tmp_path):
    from graphrec.train import holdout_then_refit, refit_config

    d = data()
    config = TrainConfig(epochs=8, batch_size=32, lr=0.01, eval_every=1, patience=2, lr_decay=0.5, progress=False)
    spy = ScriptedEvaluate([0.1, 0.3, 0.2, 0.4, 0.35, 0.3])  # best at 4; decays after 3 and 5; stops at 6
    done = holdout_then_refit(model, d, config, run_dir=tmp_path / "run", evaluate_fn=spy)
    assert [split for split, _ in spy.calls] == ["valid"] * 6 + ["test"]  # test once, on the refitted model only
    assert done.epochs == 4 and done.lr_decay_epochs == [3] and done.holdout.test == {}
    assert done.result.epochs_run == 4 and done.result.best_valid["recall@20"] == 0.4
    assert done.summary()["holdout_valid"]["recall@20"] == 0.4

    # the refit is exactly a run without validation on train + valid with the cut replayed
    full = d.without_valid()
    assert full.train.nnz == d.train.nnz + d.valid.nnz
    by_hand = fit(model(full), full, refit_config(config, 4, [3]))
    assert [r["loss"] for r in done.result.history] == [r["loss"] for r in by_hand.history]
    assert [r["lr"] for r in done.result.history] == pytest.approx([0.01, 0.01, 0.01, 0.005])
    assert done.result.test == by_hand.test

    # both halves checkpointed: a rerun resumes, trains nothing more and gives the same model
    again = holdout_then_refit(model, d, config, run_dir=tmp_path / "run",
                               evaluate_fn=ScriptedEvaluate([]))  # no validation left to run
    assert again.result.test == done.result.test and again.epochs == 4
    assert (tmp_path / "run" / "holdout" / "checkpoint.pt").is_file() and (tmp_path / "run" / "best.pt").is_file()


def test_holdout_then_refit_needs_validation():
    from graphrec.train import holdout_then_refit

    d = data()
    with pytest.raises(ConfigError, match="eval_every >= 1"):
        holdout_then_refit(model, d, TrainConfig(epochs=2, eval_every=0, progress=False))


@pytest.mark.parametrize("bad, message", [
    (dict(epochs=0), "epochs must be >= 1, got 0"),
    (dict(batch_size=2.5), "batch_size must be an integer"),
    (dict(eval_every=-1), r"eval_every must be >= 0 \(0: no validation\)"),
    (dict(lr=0), "lr must be > 0"),
    (dict(patience=0), "patience must be >= 1 or None"),
    (dict(sampler="uniform"), "sampler must be one of"),
    (dict(metric="recall@10"), r"metric 'recall@10' must be one of .* with K in ks=\(20,\)"),
    (dict(metric="auc@20"), "metric 'auc@20'"),
    (dict(budget_seconds=0), "budget_seconds must be > 0"),
])
def test_train_config_checks_itself_where_it_is_built(bad, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**bad)
