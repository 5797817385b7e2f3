"""The README's existing-graph example on the real server: Neo4j's recommendations-shaped movie graph built from
MovieLens 100K with plain Cypher (examples/movies), trained and served through examples/movies/graphrec.toml."""

from __future__ import annotations

import importlib.util
import tomllib

import pytest

from graphrec import recommend as rec
from graphrec.mapping import DEFAULT, from_spec
from graphrec.publish import publish
from graphrec.train import TrainConfig
from graphrec.workflow import evaluate_served, train_run
from tests.conftest import REPO_ROOT

ML100K = REPO_ROOT.parent / "shared" / "data" / "ml-100k"
EXAMPLE = REPO_ROOT / "examples" / "movies"


@pytest.fixture(scope="module")
def movies(session_graph, settings, tmp_path_factory):
    if not (ML100K / "u.data").is_file():
        pytest.skip(f"{ML100K} not present")
    graph = session_graph
    graph.clear()
    spec = importlib.util.spec_from_file_location("build_graph", EXAMPLE / "build_graph.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    assert builder.main(["--home", str(settings.home), str(ML100K)]) == 0
    mapping = from_spec(tomllib.loads((EXAMPLE / "graphrec.toml").read_text())["mapping"])
    graph.remap(mapping)
    runs_dir = tmp_path_factory.mktemp("runs")
    run, _ = train_run(graph, runs_dir, "lightgcn", {}, TrainConfig(epochs=12, batch_size=2048, lr=0.005, seed=3))
    publish(graph, run)
    yield graph, run, runs_dir
    graph.remap(DEFAULT)


def test_the_movie_graph_has_no_graphrec_schema_and_trains_through_the_mapping(movies):
    graph, run, _ = movies
    labels = {r["label"]: r["n"] for r in graph.query("MATCH (n) WHERE NOT n:ModelRun UNWIND labels(n) AS label "
                                                     "RETURN label, count(*) AS n")}
    assert labels == {"User": 943, "Movie": 1682, "Genre": 18}
    assert graph.query("MATCH ()-[r]->() RETURN collect(DISTINCT type(r)) AS t")[0]["t"] in (
        ["RATED", "IN_GENRE"], ["IN_GENRE", "RATED"])
    assert graph.query("MATCH (u:User) WHERE u.id IS NOT NULL RETURN count(u) AS n")[0]["n"] == 0
    counts = run.meta["counts"]
    liked = sum(int(line.split("\t")[2]) >= 4 for line in (ML100K / "u.data").read_text().splitlines())
    assert counts["train"] + counts["valid"] + counts["test"] == liked  # the mapping's filter: rating >= 4
    assert counts["kg"] == 2_891 and run.meta["split_origin"].startswith("time")


def test_user_1_gets_movie_titles_with_genre_explanations(movies):
    graph, _, _ = movies
    rows = rec.recommend(graph, "1", 5)
    assert len(rows) == 5 and all(r["name"] and "(" in r["name"] for r in rows)  # "Title (year)"
    why = rec.explain(graph, "1", [r["item"] for r in rows])
    paths = [p for w in why.values() for p in w["via_kg"]]
    assert paths and all(p["relation"] == "IN_GENRE" and p["liked_name"] for p in paths)


def test_the_served_cypher_path_equals_the_offline_evaluation(movies):
    graph, run, runs_dir = movies
    result = evaluate_served(graph, runs_dir, run.id, k=20)
    assert result["users"] >= 30 and result["offline"]["recall@20"] > 0
    for key, value in result["offline"].items():
        assert result["served"][key] == pytest.approx(value, abs=1e-9), key
