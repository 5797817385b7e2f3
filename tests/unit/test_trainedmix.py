"""A graph filter mixed with a saved trained run (graphrec.trainedmix, TrainedScores in graphrec.models.hybrid)."""

from __future__ import annotations

import json

import pytest
import torch

from graphrec.errors import ConfigError, ModelError
from graphrec.evaluate import evaluate
from graphrec.idmaps import IdMaps
from graphrec.models import build, save_model
from graphrec.models.hybrid import Hybrid, TrainedScores
from graphrec.recdata import RecData
from graphrec.runs import save_graphs, save_run
from graphrec.sidegraphs import SideGraphs
from graphrec.train import TrainConfig
from graphrec.trainedmix import choose_weight, holdout_part, refit_and_test, refit_part, weighted_valid
from tests.unit.models.test_closed_form import N_ITEMS, N_USERS, standardised, tiny

FRACTION, SEED = 0.3, 1


def embeddings(seed: int, dim: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(N_USERS, dim, generator=gen), torch.randn(N_ITEMS, dim, generator=gen)


@pytest.mark.parametrize("weight", [0.0, 0.4, 1.0])
def test_a_filter_mixed_with_trained_scores_equals_the_dense_mix(weight):
    data, r = tiny()
    graph = torch.stack(data.train.pairs())
    user, item = embeddings(3)
    linkprop = build("linkprop", N_USERS, N_ITEMS, graph=graph).fit()
    mix = Hybrid(N_USERS, N_ITEMS, graph, first=linkprop, second=TrainedScores(N_USERS, N_ITEMS, graph, user, item,
                                                                               label="lightgcn run"), weight=weight)
    mix.fit()
    with torch.no_grad():
        got = mix.score(torch.arange(N_USERS)).double()
        first = linkprop.score(torch.arange(N_USERS)).double()
    ref = (1 - weight) * standardised(first, r) + weight * standardised((user @ item.t()).double(), r)
    assert torch.allclose(got, ref, atol=1e-4)
    assert mix.hparams()["second"] == "lightgcn run" and mix.hparams()["second_hp"] == {"label": "lightgcn run"}


def test_trained_scores_refuse_embeddings_of_other_sizes():
    data, _ = tiny()
    user, item = embeddings(0)
    with pytest.raises(ModelError, match="TrainedScores needs user"):
        TrainedScores(N_USERS, N_ITEMS, torch.stack(data.train.pairs()), user[:5], item)


def test_weighted_valid_equals_one_evaluation_per_weight():
    data, _ = tiny()
    held = data.with_holdout(FRACTION, SEED)
    graph = torch.stack(held.train.pairs())
    first = build("linkprop", N_USERS, N_ITEMS, graph=graph).fit()
    second = TrainedScores(N_USERS, N_ITEMS, graph, *embeddings(4))
    config = TrainConfig(ks=(5,), metric="recall@5")
    got = weighted_valid(first, second, held, [0.0, 0.5, 1.0], config, chunk_users=7)
    for w in (0.0, 0.5, 1.0):
        mix = Hybrid(N_USERS, N_ITEMS, graph, first=first, second=second, weight=w).fit()
        want = evaluate(mix.score, held, split="valid", ks=(5,))
        assert got[w]["n_users"] == want["n_users"]
        assert got[w]["recall@5"] == pytest.approx(want["recall@5"]) and \
            got[w]["ndcg@5"] == pytest.approx(want["ndcg@5"])


def saved_run(tmp_path, data: RecData, fraction=FRACTION, seed=SEED, record_valid=True) -> str:
    """A refitted LightGCN run folder as `graphrec train --refit` leaves it (untrained weights: only the files
    matter), its holdout carved by ``with_holdout(fraction, seed)`` of ``data``."""
    held = data.with_holdout(fraction, seed)
    run_dir = tmp_path / "runs" / "lightgcn-1"
    (run_dir / "holdout").mkdir(parents=True)
    holdout = build("lightgcn", N_USERS, N_ITEMS, graph=torch.stack(held.train.pairs()), seed=1, dim=8)
    save_model(holdout, run_dir / "holdout" / "best.pt")
    with torch.no_grad():
        valid = evaluate(holdout(), held, split="valid", ks=(5,))
    if not record_valid:
        valid["ndcg@5"] += 0.01
    (run_dir / "holdout" / "result.json").write_text(json.dumps({"best_epoch": 3, "best_valid": valid}))
    (run_dir / "data_config.json").write_text(json.dumps({"split": "auto", "ratios": [0.8, 0.1, 0.1],
                                                          "valid_fraction": fraction, "seed": seed,
                                                          "validation": True}))
    full = held.without_valid()
    refit = build("lightgcn", N_USERS, N_ITEMS, graph=torch.stack(full.train.pairs()), seed=2, dim=8)
    with torch.no_grad():
        user, item = refit()
    meta = {"id": "lightgcn-1", "model": "lightgcn", "embeddings": "scores",
            "counts": {"users": N_USERS, "items": N_ITEMS}, "refit": {"holdout_valid": valid}}
    ids = IdMaps({"user": [str(u) for u in range(N_USERS)], "item": [str(i) for i in range(N_ITEMS)]})
    save_run(tmp_path / "runs", meta, ids, {"user": user, "item": item})
    save_graphs(run_dir, torch.stack(full.train.pairs()), SideGraphs(N_USERS, N_ITEMS))
    return run_dir


def test_a_saved_run_on_the_same_holdout_is_mixed_and_tested_once(tmp_path):
    data, _ = tiny()
    held = data.with_holdout(FRACTION, SEED)
    run_dir = saved_run(tmp_path, data)
    part = holdout_part(run_dir, held, FRACTION, SEED, metric="recall@5")
    assert part.model == "lightgcn" and part.embeddings[0].shape == (N_USERS, 8)
    config = TrainConfig(ks=(5,), metric="recall@5", seed=0)
    chosen = choose_weight("linkprop", {}, part, held, weights=(0.0, 0.5, 1.0), config=config)
    assert chosen.weight == max((0.0, 0.5, 1.0), key=lambda w: chosen.valid[w]["recall@5"])
    alone = evaluate(part.embeddings, held, split="valid", ks=(5,))
    assert chosen.valid[1.0]["recall@5"] == pytest.approx(alone["recall@5"])
    test, _ = refit_and_test("linkprop", {}, refit_part(run_dir, held), held, chosen.weight, config)
    assert test["n_users"] == N_USERS


@pytest.mark.parametrize("change, message", [
    ({"seed": 2}, "carved its holdout with"),
    ({"fraction": 0.2}, "carved its holdout with"),
    ({"record_valid": False}, "validated on another holdout"),
])
def test_a_run_on_another_holdout_is_refused(tmp_path, change, message):
    data, _ = tiny()
    run_dir = saved_run(tmp_path, data, **change)
    with pytest.raises(ConfigError, match=message):
        holdout_part(run_dir, data.with_holdout(FRACTION, SEED), FRACTION, SEED, metric="recall@5")


def test_a_run_on_other_interactions_is_refused(tmp_path):
    data, r = tiny()
    run_dir = saved_run(tmp_path, data)
    other, _ = tiny(seed=1)
    with pytest.raises(ConfigError, match="validated on another holdout"):
        holdout_part(run_dir, other.with_holdout(FRACTION, SEED), FRACTION, SEED, metric="recall@5")
    r[0, torch.nonzero(r[0] == 0).reshape(-1)[0]] = 1.0  # one more training interaction
    one_more = RecData.from_pairs(N_USERS, N_ITEMS, torch.nonzero(r).t(), None, torch.stack(data.test.pairs()))
    with pytest.raises(ConfigError, match="trained on other interactions"):
        refit_part(run_dir, one_more.with_holdout(FRACTION, SEED))


def test_a_run_without_its_refit_is_refused(tmp_path):
    data, _ = tiny()
    run_dir = saved_run(tmp_path, data)
    meta = json.loads((run_dir / "run.json").read_text())
    del meta["refit"]
    (run_dir / "run.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="was not trained with --refit"):
        refit_part(run_dir, data.with_holdout(FRACTION, SEED))
    (run_dir / "run.json").unlink()
    with pytest.raises(ConfigError, match="no run.json yet"):
        refit_part(run_dir, data.with_holdout(FRACTION, SEED))
