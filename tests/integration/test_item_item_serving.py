"""Closed-form models with no embeddings served from the graph (issue 35): ItemKNN's neighbour lists stored whole
give its exact ranking through Cypher; a truncated model's stored rows (EASE^R, each item's top 8) summed in Cypher
equal the same sum in memory; a new interaction changes the next answer; ``tune --model auto`` publishes a
closed-form winner and ``recommend`` answers with it."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch

from graphrec import recommend as rec
from graphrec.errors import GraphrecError
from graphrec.foldin import fold_in
from graphrec.ingest import ingest
from graphrec.itemgraph import neighbours
from graphrec.publish import publish
from graphrec.runs import list_runs
from graphrec.train import TrainConfig
from graphrec.workflow import DataConfig, evaluate_served, train_run
from loaders.records import Dataset, Interaction
from tests.integration.cli_helpers import run_cli
from tests.integration.serving_data import load_graph, seen

K = 10


def trained(graph, runs_dir, name: str, hparams: dict):
    # fitted on every stored train edge (no holdout carved), the edges summed with walk_splits=['train']
    run, _ = train_run(graph, runs_dir, name, hparams, TrainConfig(seed=1), DataConfig(validation=False))
    assert run.meta["embeddings"] == "none"
    return run


def in_memory_top_k(scores: torch.Tensor, item_ids: list[str], masked: set[str], k: int) -> list[int]:
    order = sorted((j for j in range(len(scores)) if item_ids[j] not in masked and scores[j] > 0),
                   key=lambda j: (-float(scores[j]), item_ids[j]))
    return order[:k]


def assert_served_equals(graph, run, scores_of, users, train: dict[str, set[str]]):
    """The served top-K is the in-memory top-K: the same scores best first, and each served item's own score is its
    in-memory score (so only items tied within float error may trade places)."""
    ids = run.ids()
    for user in users:
        scores = scores_of(ids.index["user"][user])
        order = in_memory_top_k(scores, ids.ids["item"], train[user], K)
        for path in ("index", "exact"):
            rows = rec.recommend(graph, user, K, path=path, seen_splits=["train"], walk_splits=["train"], run=run.id)
            assert [r["score"] for r in rows] == pytest.approx([float(scores[j]) for j in order], rel=1e-5), user
            assert all(r["score"] == pytest.approx(float(scores[ids.index["item"][r["item"]]]), rel=1e-5)
                       and r["item"] not in train[user] for r in rows), user
            ties = sum(1 for a, b in zip(order, order[1:]) if math.isclose(scores[a], scores[b], rel_tol=1e-6))
            if not ties:
                assert [r["item"] for r in rows] == [ids.ids["item"][j] for j in order], user


@pytest.fixture(scope="module")
def graph_and_data(session_graph):
    session_graph.clear()
    dataset, _ = load_graph(session_graph)
    return session_graph, dataset


def test_itemknn_with_every_neighbour_stored_is_served_exactly(graph_and_data, tmp_path):
    graph, dataset = graph_and_data
    run = trained(graph, tmp_path, "itemknn", {"k": 12})
    report = publish(graph, run, similar=12)  # s >= k: S whole in the graph
    assert report.item_item == "stored" and report.similar > 0 and report.index == "" and report.users == 0
    model = run.model()
    assert_served_equals(graph, run, lambda u: model.score(torch.tensor([u]))[0].double(), run.ids().ids["user"][:25],
                         seen(dataset, ("train",)))
    similar = rec.similar(graph, "i3", 5, run=run.id)  # its largest entries of item i3's row
    row = model.item_rows(torch.tensor([run.ids().index["item"]["i3"]]))[0]
    assert [r["score"] for r in similar] == pytest.approx(sorted(row.tolist(), reverse=True)[:5], rel=1e-6)
    with pytest.raises(GraphrecError, match="no embeddings to fold in"):
        fold_in(graph, run)
    result = evaluate_served(graph, tmp_path, run.id, k=K)  # graphrec evaluate --served: the whole model
    assert result["users"] == len(seen(dataset, ("test",))) and result["served"]["recall@10"] > 0
    # the same scores (checked above); on this small binary graph many tie at the cut, and the two break ties apart
    assert result["served"] == pytest.approx(result["offline"], abs=0.05)


def test_a_truncated_models_stored_rows_sum_as_in_memory(graph_and_data, tmp_path):
    graph, dataset = graph_and_data
    train = seen(dataset, ("train",))
    run = trained(graph, tmp_path, "ease", {"reg": 20.0})
    s = 8
    report = publish(graph, run, similar=s)
    model, ids = run.model(), run.ids()
    stored = torch.zeros(model.n_items, model.n_items, dtype=torch.float64)
    for start, values, indices in neighbours(model, s):
        for n in range(values.size(0)):
            keep = values[n] > 0
            stored[start + n, indices[n, keep]] = values[n, keep].double()
    assert report.similar == int((stored > 0).sum())
    train_pairs, _ = run.graphs()
    history = torch.zeros(model.n_users, model.n_items, dtype=torch.float64)
    history[train_pairs[0], train_pairs[1]] = 1.0
    assert_served_equals(graph, run, lambda u: history[u] @ stored, ids.ids["user"][:25], train)
    full = model.score(torch.arange(25))  # what truncation keeps of the exact top-10, on these users
    shares = []
    for u in range(25):
        exact = set(in_memory_top_k(full[u].double(), ids.ids["item"], train[ids.ids["user"][u]], K))
        served = set(in_memory_top_k(history[u] @ stored, ids.ids["item"], train[ids.ids["user"][u]], K))
        shares.append(len(exact & served) / K)
    assert sum(shares) / len(shares) > 0.3


def test_sgfcfs_low_pass_embeddings_and_stored_rows_give_its_scores(graph_and_data, tmp_path):
    """SGFCF's per-user normalisation is folded into its user embeddings, so with every row of its item–item matrix
    stored the graph's answer is the model's own ranking and scores."""
    graph, dataset = graph_and_data
    run, _ = train_run(graph, tmp_path, "sgfcf", {"k": 16, "eps": 0.34, "beta": 0.8, "gamma": 1.0},
                       TrainConfig(seed=1), DataConfig(validation=False))
    assert run.meta["embeddings"] == "low-pass part"
    report = publish(graph, run, similar=149)  # every other item: S whole in the graph
    assert report.item_item == "stored" and report.similar > 0 and report.users > 0
    # each part timed apart (a search learns its publish cost from them): the low-pass embeddings, forming S's rows
    # and writing them
    assert set(report.seconds) == {"embeddings", "rows", "item_item"} and min(report.seconds.values()) > 0
    model = run.model()
    assert_served_equals(graph, run, lambda u: model.score(torch.tensor([u]))[0].double(), run.ids().ids["user"][:25],
                         seen(dataset, ("train",)))


@pytest.mark.parametrize("part, config", [("mf", {"epochs": 5, "batch_size": 64, "lr": 0.05}), ("ials", None)])
def test_a_filter_mixed_with_a_trained_model_is_served_as_in_memory(graph_and_data, tmp_path, part, config):
    """FilterMix: the base's rows scaled, and its low-pass pair beside the trained pair (MF trained by epochs, or
    iALS fitted in closed form), give the mix's scores (before the next test adds an interaction to the graph)."""
    graph, dataset = graph_and_data
    hparams = {"base": "sgfcf", "base_hp": {"k": 16}, "trained": part, "trained_hp": {"dim": 8},
               "trained_config": config, "weight": 0.4}
    run, _ = train_run(graph, tmp_path, "mix", hparams, TrainConfig(seed=1), DataConfig(validation=False))
    assert run.meta["embeddings"] == "low-pass part" and run.meta["params"]["trained"] == part
    report = publish(graph, run, similar=149)  # every other item: S whole in the graph
    assert report.item_item == "stored" and report.users > 0
    model = run.model()
    assert model.is_fitted and model.hparams() == {**hparams, "trained_hp": {"dim": 8}}
    assert_served_equals(graph, run, lambda u: model.score(torch.tensor([u]))[0].double(), run.ids().ids["user"][:25],
                         seen(dataset, ("train",)))


def test_a_new_interaction_changes_the_next_answer(graph_and_data, tmp_path):
    graph, dataset = graph_and_data
    run = trained(graph, tmp_path, "itemknn", {"k": 12})
    publish(graph, run, similar=12)
    user = "u11"
    item = next(f"i{j}" for j in range(150) if f"i{j}" not in seen(dataset)[user])
    lists = {r["j"]: r["s"] for r in graph.query(
        "MATCH (:Item {id: $item})-[s:GRAPHREC_SIMILAR {run: $run}]->(j) RETURN j.id AS j, s.score AS s",
        {"item": item, "run": run.id})}
    assert lists
    before = {r["item"]: r["score"] for r in rec.recommend(graph, user, 150)}
    graph.query("MATCH (u:User {id: $user}), (x:Item {id: $item}) CREATE (u)-[:INTERACTED {split: 'train'}]->(x)",
                {"user": user, "item": item}, write=True)
    after = {r["item"]: r["score"] for r in rec.recommend(graph, user, 150)}
    assert item not in after  # seen now
    for j, s in lists.items():
        if j not in seen(dataset)[user]:
            assert after[j] == pytest.approx(before.get(j, 0.0) + s, rel=1e-6)
    graph.query("MATCH (:User {id: $user})-[r:INTERACTED]->(:Item {id: $item}) DELETE r",
                {"user": user, "item": item}, write=True)


def test_popularity_is_served_by_its_stored_per_item_score(graph_and_data, tmp_path):
    """Its embeddings are 1 per user and the item's training degree (0 for an item only in test: not written)."""
    graph, dataset = graph_and_data
    run, _ = train_run(graph, tmp_path, "popularity", {}, TrainConfig(seed=1), DataConfig(validation=False))
    degree = run.embeddings()["item"][:, 0]
    assert bool((degree == 0).any())  # items no training user has
    report = publish(graph, run)
    assert report.items == int((degree > 0).sum())
    ids = run.ids()
    user = ids.ids["user"][4]
    order = in_memory_top_k(degree.double(), ids.ids["item"], seen(dataset)[user], K)
    for path in ("index", "exact"):
        rows = rec.recommend(graph, user, K, path=path, run=run.id)
        assert [r["score"] for r in rows] == pytest.approx([float(degree[j]) for j in order], rel=1e-4)


def clustered_graph(graph) -> None:
    """Four groups of users, each interacting only with its group's 15 items: item–item models win, popularity loses."""
    gen = torch.Generator().manual_seed(5)
    rows = []
    for u in range(48):
        group = u % 4
        for i in torch.randperm(15, generator=gen)[:7].tolist():
            rows.append(Interaction(f"u{u}", f"i{group * 15 + i}"))
    graph.clear()
    ingest(graph, Dataset("clusters", interactions=rows))


def test_auto_publishes_a_closed_form_winner_and_recommend_answers(graph, settings):
    clustered_graph(graph)
    out = run_cli(settings, "tune", "--model", "auto", "--models", "mf", "--epochs", "1", "--trials", "1",
                  "--threads", "1").output
    assert "not published" not in out
    chosen = json.loads((sorted(settings.runs_dir.glob("*/run.json"), key=lambda p: p.stat().st_mtime)[-1])
                        .read_text())
    assert chosen["model"] in ("itemknn", "gfcf", "bspm", "chebycf", "sgfcf", "turbocf"), chosen["model"]
    assert f"published {chosen['id']} to the graph" in out
    rows = json.loads(run_cli(settings, "recommend", "--user", "u1", "-k", "5", "--json").output)
    assert len(rows) == 5 and all(r["run"] == chosen["id"] for r in rows)
    group = {f"i{15 + i}" for i in range(15)}  # u1's group
    assert all(r["item"] in group for r in rows)



def test_auto_serves_a_mix_where_it_wins_on_the_holdout(graph, settings, monkeypatch):
    from graphrec import tune

    clustered_graph(graph)
    real = tune.choose

    def mix_first(rows, order, rechecks=()):  # mf's mix at weight 0.5, wherever auto ranked one
        return next((r for r in rows if r["model"] == "mix" and r["hparams"]["weight"] == 0.5
                     and r["params"]["trained"].startswith("mf #")), None) or real(rows, order, rechecks)

    monkeypatch.setattr(tune, "choose", mix_first)
    out = run_cli(settings, "tune", "--model", "auto", "--models", "mf", "--epochs", "2", "--trials", "1",
                  "--threads", "1").output
    assert re.search(r"^mix of mf #0 and \w+ at weight 0.5: valid", out, re.M)
    assert re.search(r"^mix +\d+ complete", out, re.M) and "refitting the mix on train + valid: mf for" in out
    run = list_runs(settings.runs_dir)[-1]
    assert run.meta["model"] == "mix" and run.meta["tune"]["chosen"]["model"] == "mix"
    assert (run.path / "mixes.jsonl").is_file() and run.meta["params"]["trained_config"]["epochs"] >= 1
    assert f"published {run.id} to the graph" in out
    rows = json.loads(run_cli(settings, "recommend", "--user", "u1", "-k", "5", "--json").output)
    assert len(rows) == 5 and all(r["run"] == run.id for r in rows)
