"""Write-back and serving that change the graph: cold start, drop, errors, and the CLI commands end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

from graphrec import recommend as rec
from graphrec.cli import cli
from graphrec.errors import GraphrecError, NotFoundError
from graphrec.publish import drop, published_runs, publish, serving, switch
from graphrec.runs import Run, save_run
from tests.conftest import REPO_ROOT
from tests.integration.serving_data import load_graph, model_top_k, random_run, seen


def test_nothing_served_yet_says_so(graph, tmp_path):
    load_graph(graph)
    with pytest.raises(NotFoundError, match="no run is being served"):
        rec.recommend(graph, "u1", 5)
    with pytest.raises(NotFoundError, match="not published"):
        switch(graph, "nope")


def test_cold_start_user_and_item_from_graph_neighbours(graph, tmp_path):
    dataset, maps = load_graph(graph)
    run = random_run(tmp_path, maps, seed=4)
    publish(graph, run)
    # A new user and a new item arrive after training: graph neighbours, no embedding.
    graph.query("CREATE (:User {id: 'newbie'})", write=True)
    graph.query("MATCH (n:User {id: 'newbie'}), (i:Item) WHERE i.id IN ['i1', 'i2', 'i3'] "
                "CREATE (n)-[:INTERACTED {split: 'train'}]->(i)", write=True)
    rows = rec.recommend(graph, "newbie", 5, path="exact")
    assert rows[0]["basis"] == "items" and rows[0]["neighbours"] == 3
    emb, index = run.embeddings(), maps.index["item"]
    mean = torch.stack([emb["item"][index[i]] for i in ("i1", "i2", "i3")]).double().mean(0)
    scores = emb["item"].double() @ mean
    order = [maps.ids["item"][j] for j in scores.argsort(descending=True).tolist() if maps.ids["item"][j] not in
             ("i1", "i2", "i3")]
    assert [r["item"] for r in rows] == order[:5]

    graph.query("CREATE (:User {id: 'friendly'})", write=True)
    graph.query("MATCH (a:User {id: 'friendly'}), (b:User {id: 'u1'}) CREATE (a)-[:FOLLOWS]->(b)", write=True)
    assert rec.recommend(graph, "friendly", 5)[0]["basis"] == "friends"

    graph.query("MATCH (g:Entity {id: 'genre:Rock'}) CREATE (:Item {id: 'brand-new'})-[:HAS_GENRE {relation: "
                "'has_genre'}]->(g)", write=True)
    similar = rec.similar(graph, "brand-new", 5)
    assert similar[0]["basis"] == "kg items" and similar[0]["neighbours"] == len(
        [i for i in maps.ids["item"] if int(i[1:]) % 4 == 0])

    graph.query("CREATE (:User {id: 'loner'})", write=True)
    with pytest.raises(NotFoundError, match="no interactions or friends"):
        rec.recommend(graph, "loner", 5)


def test_drop_removes_an_unserved_run_and_refuses_the_served_one(graph, tmp_path):
    dataset, maps = load_graph(graph)
    a, b = random_run(tmp_path, maps, seed=5), random_run(tmp_path, maps, seed=6)
    publish(graph, a)
    publish(graph, b)  # b is served now
    with pytest.raises(GraphrecError, match="being served"):
        drop(graph, b.id)
    drop(graph, a.id)
    assert [r["id"] for r in published_runs(graph)] == [b.id]
    node = graph.query("MATCH (i:Item {id: 'i1'}) RETURN keys(i) AS keys")[0]["keys"]
    assert not [key for key in node if key.endswith(a.id.replace("-", "_"))]
    with pytest.raises(NotFoundError):
        switch(graph, a.id)
    assert rec.recommend(graph, "u1", 3)[0]["run"] == b.id


def test_republishing_a_run_is_harmless(graph, tmp_path):
    dataset, maps = load_graph(graph)
    run = random_run(tmp_path, maps, seed=7)
    publish(graph, run)
    first = rec.recommend(graph, "u4", 5)
    report = publish(graph, run)
    assert report.users == len(maps.ids["user"]) and rec.recommend(graph, "u4", 5) == first
    assert len(published_runs(graph)) == 1


def test_a_run_for_another_graph_is_refused(graph, tmp_path):
    dataset, maps = load_graph(graph)
    run = random_run(tmp_path, maps, seed=8)
    graph.clear()
    with pytest.raises(GraphrecError, match="none of its"):
        publish(graph, run)


def _variant(run: Run, runs_dir, suffix: str, change) -> Run:
    """A copy of ``run`` under a new id with ``change(embeddings)`` applied."""
    emb = run.embeddings()
    change(emb)
    return save_run(runs_dir, {**run.meta, "id": f"{run.id}-{suffix}"}, run.ids(), emb)


def _snapshot(graph) -> dict:
    """What a refused publish must leave alone: nodes, relationships, property keys, runs and indexes."""
    counts = graph.query("MATCH (n) OPTIONAL MATCH (n)-[r]->() RETURN count(DISTINCT n) AS nodes, count(r) AS rels")[0]
    keys = graph.query("MATCH (n) UNWIND keys(n) AS key RETURN collect(DISTINCT key) AS keys")[0]["keys"]
    runs = graph.query("MATCH (r:ModelRun) RETURN r.id AS id, r.status AS status, r.serving AS serving ORDER BY id")
    indexes = graph.query("SHOW INDEXES YIELD name RETURN collect(name) AS names")[0]["names"]
    return {**counts, "keys": sorted(keys), "runs": runs, "indexes": sorted(indexes)}


def test_nan_infinite_or_zero_embeddings_are_refused_and_leave_the_graph_unchanged(graph, tmp_path):
    dataset, maps = load_graph(graph)
    good = random_run(tmp_path, maps, seed=10)
    publish(graph, good)
    before = _snapshot(graph)
    u, i = maps.index["user"], maps.index["item"]

    def nan_user(emb):
        emb["user"][u["u7"], 3] = float("nan")

    def inf_items(emb):
        emb["item"][i["i9"], 0] = float("inf")
        emb["item"][i["i4"], 0] = float("-inf")

    def zero_item(emb):
        emb["item"][i["i11"]] = 0.0

    for suffix, change, message in (
            ("nan", nan_user, "1 user embedding rows hold NaN or infinite values (first: user 'u7')"),
            ("inf", inf_items, "2 item embedding rows hold NaN or infinite values (first: item 'i4')"),
            ("zero", zero_item, "1 item embedding rows are zero vectors (first: item 'i11')")):
        bad = _variant(good, tmp_path, suffix, change)
        with pytest.raises(GraphrecError) as caught:
            publish(graph, bad)
        assert str(caught.value).startswith(f"run {bad.id}: {message}")
        assert _snapshot(graph) == before
    assert serving(graph)["id"] == good.id


def test_zero_user_rows_are_not_written_and_those_users_get_the_cold_start_answer(graph, tmp_path):
    dataset, maps = load_graph(graph)
    run = _variant(random_run(tmp_path, maps, seed=11), tmp_path, "z",
                   lambda emb: emb["user"][maps.index["user"]["u3"]].zero_())
    report = publish(graph, run)
    assert report.zero_users == 1 and report.users == len(maps.ids["user"]) - 1
    assert report.missing == {"user": 0, "item": 0}
    prop = graph.read("publish.get_run", id=run.id)[0]["run"]["user_property"]
    assert graph.query(f"MATCH (u:User {{id: 'u3'}}) RETURN u.{prop} AS v")[0]["v"] is None
    for path in ("index", "exact"):
        rows = rec.recommend(graph, "u3", 5, path=path)
        assert rows[0]["basis"] == "items" and rows[0]["neighbours"] == len(seen(dataset)["u3"])
    assert "basis" not in rec.recommend(graph, "u4", 5)[0]


def test_queries_do_not_fail_on_zero_or_nan_vectors_written_by_something_else(graph, tmp_path):
    """Neo4j's cosine throws on such vectors: the guarded statements skip them instead of failing."""
    dataset, maps = load_graph(graph)
    run = random_run(tmp_path, maps, seed=12)
    publish(graph, run)
    node = graph.read("publish.get_run", id=run.id)[0]["run"]
    emb, mips, user, dim = node["item_property"], node["mips_property"], node["user_property"], node["dim"]
    zeros, nan = [0.0] * dim, [float("nan")] + [0.0] * (dim - 1)
    graph.query(f"MATCH (i:Item {{id: 'i5'}}) SET i.{emb} = $z, i.{mips} = $z + [0.0]", {"z": zeros}, write=True)
    graph.query(f"MATCH (u:User {{id: 'u4'}}) SET u.{user} = $z", {"z": zeros}, write=True)
    graph.query(f"MATCH (u:User {{id: 'u6'}}) SET u.{user} = $v", {"v": nan}, write=True)
    graph.query(f"MATCH (t:Item {{id: 'i8'}}) SET t.{emb} = $z", {"z": zeros}, write=True)

    everything = seen(dataset)
    for path in ("exact", "index"):
        rows = rec.recommend(graph, "u1", 60, path=path)
        assert "i5" not in {r["item"] for r in rows} and len(rows) == 60
    assert [r["item"] for r in rec.recommend(graph, "u1", 5, path="exact")] == [
        e[0] for e in model_top_k(run, "u1", 5, everything["u1"] | {"i5"})]
    for who in ("u4", "u6"):   # a zero or NaN user vector: the cold-start answer, on both paths
        for path in ("exact", "index"):
            assert rec.recommend(graph, who, 5, path=path)[0]["basis"] == "items"
    similar = rec.similar(graph, "i7", 200)
    assert "i5" not in {r["item"] for r in similar} and "i8" not in {r["item"] for r in similar}
    assert rec.similar(graph, "i8", 5)[0]["basis"] == "kg items"   # its own vector is 0

    # Cold-start vectors that average out to 0: no answer, and no failure.
    a, b = "i20", "i21"
    graph.query(f"MATCH (a:Item {{id: $a}}), (b:Item {{id: $b}}) SET b.{emb} = [x IN a.{emb} | -x]",
                {"a": a, "b": b}, write=True)
    graph.query("CREATE (:Item {id: 'void-item'})-[:HAS_GENRE {relation: 'has_genre'}]->"
                "(:Entity {id: 'genre:Void', name: 'Void'})", write=True)
    graph.query("MATCH (g:Entity {id: 'genre:Void'}), (i:Item) WHERE i.id IN $ids "
                "CREATE (i)-[:HAS_GENRE {relation: 'has_genre'}]->(g)", {"ids": [a, b]}, write=True)
    graph.query("CREATE (u:User {id: 'void-user'}) WITH u MATCH (i:Item) WHERE i.id IN $ids "
                "CREATE (u)-[:INTERACTED {split: 'train'}]->(i)", {"ids": [a, b]}, write=True)
    with pytest.raises(NotFoundError):
        rec.similar(graph, "void-item", 5)
    with pytest.raises(NotFoundError):
        rec.recommend(graph, "void-user", 5)


def _graphrec(settings, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    env.pop("NEO4J_URI", None)
    return subprocess.run([sys.executable, "-m", "graphrec.cli", "--home", str(settings.home), *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_cli_publish_runs_recommend_similar(graph, settings):
    dataset, maps = load_graph(graph)
    run = random_run(settings.runs_dir, maps, seed=9)
    runner = CliRunner()
    home = ["--home", str(settings.home)]
    result = runner.invoke(cli, [*home, "publish", run.id], env={"NEO4J_URI": ""})
    assert result.exit_code == 0, result.output
    assert "now serving" in result.output
    result = runner.invoke(cli, [*home, "runs", "list", "--json"], env={"NEO4J_URI": ""})
    assert json.loads(result.output)[0]["serving"] is True

    result = runner.invoke(cli, [*home, "recommend", "--user", "u1", "-k", "5", "--exact", "--explain", "--json"],
                           env={"NEO4J_URI": ""})
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["item"] for r in rows] == [e[0] for e in model_top_k(run, "u1", 5, seen(dataset)["u1"])]
    assert all("via_kg" in r and "via_friends" in r for r in rows)
    result = runner.invoke(cli, [*home, "recommend", "--user", "u1", "-k", "5", "--filter", "Jazz", "--explain"],
                           env={"NEO4J_URI": ""})
    assert result.exit_code == 0, result.output
    assert "also has_genre Jazz" in result.output
    result = runner.invoke(cli, [*home, "similar", "--item", "i3", "-k", "4", "--json"], env={"NEO4J_URI": ""})
    assert len(json.loads(result.output)) == 4

    # The real entry point: errors are one line on stderr and exit 1; hostile ids are only values.
    done = _graphrec(settings, "recommend", "--user", "x' OR 1=1 //")
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        "error: unknown user \"x' OR 1=1 //\": no (:User {id: \"x' OR 1=1 //\"}) in the graph"]
    done = _graphrec(settings, "runs", "switch", "no-such-run")
    assert done.returncode == 1 and "not published" in done.stderr
