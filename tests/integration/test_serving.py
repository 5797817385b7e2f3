"""Serving from the real server: the Cypher paths against the model's own ranking and evaluation, filters,
explanations. One graph with two published runs for the whole module (these tests only read)."""

from __future__ import annotations

import math

import pytest

from graphrec import recommend as rec
from graphrec.publish import published_runs, publish, serving, switch
from tests.integration.serving_data import load_graph, model_top_k, random_run, seen

K = 10


@pytest.fixture(scope="module")
def served(session_graph, tmp_path_factory):
    graph = session_graph
    graph.clear()
    dataset, maps = load_graph(graph)
    runs_dir = tmp_path_factory.mktemp("runs")
    run_a = random_run(runs_dir, maps, seed=1)
    run_b = random_run(runs_dir, maps, seed=2)
    publish(graph, run_a)
    publish(graph, run_b, serve=False)
    return graph, dataset, maps, run_a, run_b


def test_publish_records_the_run_and_serves_it(served):
    graph, dataset, maps, run_a, run_b = served
    runs = {r["id"]: r for r in published_runs(graph)}
    assert set(runs) == {run_a.id, run_b.id}
    assert runs[run_a.id]["serving"] and not runs[run_b.id]["serving"]
    assert runs[run_a.id]["status"] == "ready" and runs[run_a.id]["dim"] == 16
    assert runs[run_a.id]["users"] == len(maps.ids["user"]) and runs[run_a.id]["items"] == len(maps.ids["item"])
    assert serving(graph)["id"] == run_a.id
    node = graph.read("publish.get_run", id=run_a.id)[0]["run"]
    assert node["model"] == "random" and '"seed": 1' in node["params"] and "recall@20" in node["metrics"]
    user = graph.query("MATCH (u:User {id: 'u1'}) RETURN u AS u")[0]["u"]
    assert len(user[node["user_property"]]) == 16
    item = graph.query("MATCH (i:Item {id: 'i1'}) RETURN i AS i")[0]["i"]
    assert len(item[node["item_property"]]) == 16 and len(item[node["mips_property"]]) == 17


def test_exact_path_equals_the_models_top_k(served):
    graph, dataset, maps, run_a, _ = served
    everything = seen(dataset)
    for user in maps.ids["user"]:
        rows = rec.recommend(graph, user, K, path="exact")
        expected = model_top_k(run_a, user, K, everything[user])
        assert [r["item"] for r in rows] == [e[0] for e in expected], user
        assert all(math.isclose(r["score"], e[1], rel_tol=1e-5, abs_tol=1e-5) for r, e in zip(rows, expected))
        assert {r["run"] for r in rows} == {run_a.id}


def test_index_path_recovers_at_least_95_percent_of_the_exact_top_k(served):
    graph, dataset, maps, run_a, _ = served
    everything = seen(dataset)
    found = total = 0
    for user in maps.ids["user"]:
        expected = {e[0] for e in model_top_k(run_a, user, K, everything[user])}
        got = [r["item"] for r in rec.recommend(graph, user, K, path="index")]
        found += len(expected & set(got))
        total += len(expected)
    assert found / total >= 0.95, found / total


def _naive_metrics(ranked: dict[str, list[str]], test: dict[str, set[str]], k: int) -> tuple[float, float]:
    """Recall@k = hits / |test|, NDCG@k with IDCG over min(|test|, k), averaged over users with test items."""
    recall = ndcg = 0.0
    users = [u for u in test if test[u]]
    for u in users:
        hits = [1.0 if item in test[u] else 0.0 for item in ranked[u][:k]]
        recall += sum(hits) / len(test[u])
        dcg = sum(h / math.log2(p + 2) for p, h in enumerate(hits))
        idcg = sum(1.0 / math.log2(p + 2) for p in range(min(len(test[u]), k)))
        ndcg += dcg / idcg
    return recall / len(users), ndcg / len(users)


def test_metrics_from_the_cypher_path_equal_the_in_memory_evaluation(served):
    """Full ranking with the training items masked, through recommend.for_user for every test user."""
    graph, dataset, maps, run_a, _ = served
    train, test = seen(dataset, ("train",)), seen(dataset, ("test",))
    from_cypher = {u: [r["item"] for r in rec.recommend(graph, u, K, path="exact", seen_splits=["train"])]
                   for u in test}
    in_memory = {u: [e[0] for e in model_top_k(run_a, u, K, train.get(u, set()))] for u in test}
    cy, mem = _naive_metrics(from_cypher, test, K), _naive_metrics(in_memory, test, K)
    assert cy == pytest.approx(mem, abs=1e-9)
    assert mem[0] > 0  # the comparison is not vacuous


def test_a_named_run_is_served_without_switching(served):
    graph, dataset, maps, _, run_b = served
    rows = rec.recommend(graph, "u3", K, path="exact", run=run_b.id)
    assert [r["item"] for r in rows] == [e[0] for e in model_top_k(run_b, "u3", K, seen(dataset)["u3"])]


def test_filters_by_kg_entity_and_excluded_items(served):
    graph, dataset, maps, run_a, _ = served
    top = [r["item"] for r in rec.recommend(graph, "u5", K, path="exact")]
    rows = rec.recommend(graph, "u5", K, path="exact", exclude=top[:3])
    assert not set(top[:3]) & {r["item"] for r in rows}
    assert [r["item"] for r in rows][:K - 3] == top[3:]
    jazz = {r["item"] for r in rec.recommend(graph, "u5", K, path="exact", entities=["Jazz"])}
    expected = [e[0] for e in model_top_k(run_a, "u5", 1000, seen(dataset)["u5"]) if int(e[0][1:]) % 4 == 1][:K]
    assert jazz == set(expected)
    assert {r["item"] for r in rec.recommend(graph, "u5", K, path="exact", entities=["genre:Jazz"])} == jazz


def test_explanations_are_real_paths(served):
    graph, dataset, maps, _, _ = served
    rows = rec.recommend(graph, "u0", K)
    why = rec.explain(graph, "u0", [r["item"] for r in rows], limit=5)
    liked = seen(dataset)["u0"]
    friends = {"u1"}
    assert set(why) == {r["item"] for r in rows}
    n_kg = 0
    for item, paths in why.items():
        genre = f"genre:{['Rock', 'Jazz', 'Folk', 'Metal'][int(item[1:]) % 4]}"
        for p in paths["via_kg"]:
            n_kg += 1
            assert p["liked"] in liked and p["entity"] == genre and p["relation"] == "has_genre"
        for f in paths["via_friends"]:
            assert f in friends and item in seen(dataset)[f]
    assert n_kg > 0


def test_similar_items_rank_by_cosine(served):
    graph, dataset, maps, run_a, _ = served
    emb = run_a.embeddings()["item"].double()
    unit = emb / emb.norm(dim=1, keepdim=True)
    j = maps.index["item"]["i7"]
    sims = (unit @ unit[j]).tolist()
    expected = sorted((s, maps.ids["item"][n]) for n, s in enumerate(sims) if n != j)[::-1][:5]
    rows = rec.similar(graph, "i7", 5)
    assert [r["item"] for r in rows] == [e[1] for e in expected]
    assert all(math.isclose(r["score"], e[0], abs_tol=1e-5) for r, e in zip(rows, expected))


def test_hostile_and_unknown_ids_are_inert(served):
    graph, dataset, maps, run_a, _ = served
    counts = graph.query("MATCH (n) RETURN count(n) AS n")[0]["n"]
    for hostile in ["x' OR 1=1 //", "\"}) MATCH (n) DETACH DELETE n //", "u1}) RETURN 1 UNION MATCH (n) RETURN n //"]:
        with pytest.raises(rec.NotFoundError, match="unknown user"):
            rec.recommend(graph, hostile, K)
        with pytest.raises(rec.NotFoundError, match="unknown item"):
            rec.similar(graph, hostile, K)
    assert graph.query("MATCH (n) RETURN count(n) AS n")[0]["n"] == counts
    quoted = "O'Brien \"quoted\""
    rows = rec.recommend(graph, quoted, K, path="exact")
    assert [r["item"] for r in rows] == [e[0] for e in model_top_k(run_a, quoted, K, seen(dataset)[quoted])]


def test_switching_back_and_forth_while_queries_run(served):
    """Every answer comes whole from one run (its rows, scores and run id agree with that run's own top-k)."""
    import threading

    graph, dataset, maps, run_a, run_b = served
    expected = {r.id: [e[0] for e in model_top_k(r, "u2", K, seen(dataset)["u2"])] for r in (run_a, run_b)}
    assert expected[run_a.id] != expected[run_b.id]
    answers, stop = [], threading.Event()

    def reader():
        while not stop.is_set():
            rows = rec.recommend(graph, "u2", K, path="exact")
            answers.append(({r["run"] for r in rows}, [r["item"] for r in rows]))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for n in range(12):
            switch(graph, (run_b if n % 2 == 0 else run_a).id)
    finally:
        stop.set()
        thread.join()
    assert answers
    for runs, items in answers:
        assert len(runs) == 1 and items == expected[runs.pop()]
    switch(graph, run_b.id)
    assert serving(graph)["id"] == run_b.id
    assert [r["item"] for r in rec.recommend(graph, "u2", K, path="exact")] == expected[run_b.id]
    switch(graph, run_a.id)  # back to the older run
    assert [r["item"] for r in rec.recommend(graph, "u2", K, path="index")] == expected[run_a.id]
