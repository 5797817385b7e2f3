"""A graph filter served from the graph (issue 31): GF-CF's item–item part walked in Cypher at query time plus its
low-pass embeddings, equal to the in-memory model's scores, and fresh: an interaction added now counts in the very
next recommendation."""

from __future__ import annotations

import math

import pytest
import torch

from graphrec import recommend as rec
from graphrec.publish import publish
from graphrec.train import TrainConfig
from graphrec.workflow import DataConfig, train_run
from tests.integration.serving_data import load_graph, seen

K = 10


@pytest.fixture(scope="module")
def gfcf(session_graph, tmp_path_factory):
    graph = session_graph
    graph.clear()
    dataset, _ = load_graph(graph)
    # fitted on every stored train edge (no holdout carved), the edges the walk reads with walk_splits=['train']
    run, _ = train_run(graph, tmp_path_factory.mktemp("runs"), "gfcf", {"alpha": 0.3, "k": 16}, TrainConfig(seed=1),
                       DataConfig(validation=False))
    assert run.meta["embeddings"] == "low-pass part"
    report = publish(graph, run, similar=149)  # every other item: the stored lists are the whole of R̃ᵀR̃
    assert report.similar == graph.query("MATCH ()-[s:GRAPHREC_SIMILAR]->() RETURN count(s) AS n")[0]["n"] > 0
    return graph, dataset, run


def test_the_walk_path_equals_the_models_scores(gfcf):
    graph, dataset, run = gfcf
    model, ids = run.model(), run.ids()
    train = seen(dataset, ("train",))
    node = graph.read("publish.get_run", id=run.id)[0]["run"]
    assert (node["walk_user_power"], node["walk_item_power"]) == (1.0, 0.5)
    for user in ids.ids["user"][:25]:
        scores = model.score(torch.tensor([ids.index["user"][user]]))[0].double()
        masked = train.get(user, set())
        order = sorted((j for j in range(len(scores)) if ids.ids["item"][j] not in masked),
                       key=lambda j: (-float(scores[j]), ids.ids["item"][j]))[:K]
        rows = rec.recommend(graph, user, K, path="exact", seen_splits=["train"], walk_splits=["train"])
        assert [r["item"] for r in rows] == [ids.ids["item"][j] for j in order], user
        assert all(math.isclose(r["score"], float(scores[j]), rel_tol=1e-4, abs_tol=1e-5) for r, j in zip(rows, order))
        stored = rec.recommend(graph, user, K, seen_splits=["train"], walk_splits=["train"], fetch=150)
        assert [r["item"] for r in stored] == [r["item"] for r in rows], user
        assert [r["score"] for r in stored] == pytest.approx([r["score"] for r in rows], rel=1e-5)


def test_an_interaction_added_now_counts_in_the_next_recommendation(gfcf):
    graph, dataset, run = gfcf
    user, item = "u7", "i149"
    assert item not in seen(dataset)[user]
    stored_before = {r["item"]: r["score"] for r in rec.recommend(graph, user, 150, fetch=150)}  # stored neighbours
    lists = {r["j"]: r["s"] for r in graph.query(
        "MATCH (:Item {id: $item})-[s:GRAPHREC_SIMILAR]->(j) RETURN j.id AS j, s.score AS s", {"item": item})}
    graph.query("CREATE (w:User {id: 'newcomer'}), (n:Item {id: 'brand-new'}) WITH w, n "
                "MATCH (x:Item {id: $item}) CREATE (w)-[:INTERACTED]->(x), (w)-[:INTERACTED]->(n)",
                {"item": item}, write=True)
    before = {r["item"] for r in rec.recommend(graph, user, 200, path="exact")}
    assert "brand-new" not in before  # nothing links u7 to it yet
    graph.query("MATCH (u:User {id: $user}), (x:Item {id: $item}) CREATE (u)-[:INTERACTED]->(x)",
                {"user": user, "item": item}, write=True)
    stored = {r["item"]: r["score"] for r in rec.recommend(graph, user, 150, fetch=150)}
    assert item not in stored  # now seen, and every neighbour of it gains its stored score
    gained = [j for j in lists if j in stored_before and j in stored]
    assert len(gained) > 10
    assert all(stored[j] == pytest.approx(stored_before[j] + lists[j], rel=1e-5) for j in gained)
    after = {r["item"]: r["score"] for r in rec.recommend(graph, user, 200, path="exact")}
    assert item not in after  # now seen
    degree = graph.query("MATCH (x:Item {id: $item}) RETURN COUNT { (x)<-[:INTERACTED]-() } AS d", {"item": item})[0]["d"]
    # the one path u7 → i149 ← newcomer → brand-new: d_i149^-½ · d_newcomer^-1 · d_brand-new^-½, no embedding
    assert after["brand-new"] == pytest.approx(1 / (math.sqrt(degree) * 2 * 1), rel=1e-6)


def test_dropping_the_run_removes_its_stored_neighbours(gfcf):
    from graphrec.publish import drop, switch
    from tests.integration.serving_data import random_run

    graph, dataset, run = gfcf
    other = random_run(run.path.parent, run.ids(), seed=5)
    publish(graph, other)
    switch(graph, other.id)
    drop(graph, run.id)
    assert graph.query("MATCH ()-[s:GRAPHREC_SIMILAR]->() RETURN count(s) AS n")[0]["n"] == 0
